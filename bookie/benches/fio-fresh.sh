#!/usr/bin/env bash
# usage: bookie/benches/fio-fresh.sh DIR   (DIR on the disk the bookie uses; needs 8 GiB free)
# fio at 64k and 1m like disk-limits.sh, but on a file larger than the run can write,
# so every write lands on new pages (as a journal's appends do) instead of looping
# over the page-cache pages of a 1 GiB file.
DIR=$1
for bs in 64k 1m; do
  fio --name=fresh-$bs --filename="$DIR/fio-fresh.dat" --size=8G --bs=$bs --rw=write \
      --ioengine=sync --fdatasync=1 --runtime=4 --time_based --output-format=json 2>/dev/null |
  python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
w, s = j["write"], j["sync"]["lat_ns"]["percentile"]
print("fresh fdatasync-each %4s: %8.1f MiB/s  written %.1f GiB  fdatasync p50 %.2f ms  cpu usr %.0f%% sys %.0f%%" % (sys.argv[1], w["bw"]/1024, w["io_bytes"]/2**30, s["50.000000"]/1e6, j["usr_cpu"], j["sys_cpu"]))' "$bs"
  rm -f "$DIR/fio-fresh.dat"
done
