#!/usr/bin/env bash
# Runs real S3 clients (aws CLI, boto3, rclone, s3cmd, curl) against a real
# `folio standalone`.
#
#   s3-compat-tests/scripts/run-clients.sh PATH/TO/folio [CLIENT...]
#
# It builds nothing: give it the `folio` binary (CI uses target/debug/folio, which
# `cargo test --workspace` builds). It starts `folio standalone` on free loopback
# ports with a temporary data directory, runs each client-CLIENT.sh script (all of
# them by default) against it, stops it, and ends with one line "N passed, M failed"
# counting the scripts' steps. It exits non-zero when anything failed, and also when
# the server's log shows a panic (even one the server survived).
#
# Each script installs the tools it lacks (apt-get for the aws CLI, rclone, s3cmd and
# curl; pip into a virtualenv under the cache for the pinned boto3), and the clients
# are told not to retry (AWS_MAX_ATTEMPTS=1; rclone --retries 1 --low-level-retries
# 1; s3cmd, which cannot be told, fails a command that retried), so an intermittent
# error fails the run instead of being retried away.
#
# Environment:
#   FOLIO_COMPAT_CACHE    tool cache (the boto3 virtualenv) [default: <clone>/target/s3-compat-cache]
#   FOLIO_COMPAT_RESULTS  also copy the step results ("client/step pass|fail") here
#   FOLIO_COMPAT_KEEP=1   keep the temporary directory (server log, scratch files)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 PATH/TO/folio [CLIENT...]" >&2; exit 2; }
folio=$(realpath "$1")
shift
[ -x "$folio" ] || { echo "$folio is not an executable" >&2; exit 2; }
if [ $# -gt 0 ]; then clients=("$@"); else clients=(curl awscli boto3 rclone s3cmd); fi

# Bounds: the server's start (as the Rust harness's), each client script (the slowest,
# awscli, takes about 40 s on a 2-core machine once installed), and the server's stop.
start_timeout_s=120
client_timeout_s=300
stop_timeout_s=15

tmp=$(mktemp -d "${TMPDIR:-/tmp}/folio-compat.XXXXXX")
export COMPAT_TMP=$tmp
export COMPAT_CACHE=${FOLIO_COMPAT_CACHE:-$repo/target/s3-compat-cache}
export COMPAT_RESULTS=$tmp/results
mkdir -p "$COMPAT_CACHE"
: >"$COMPAT_RESULTS"

server_pid=
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null
    local i
    for ((i = 0; i < stop_timeout_s * 10; i++)); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$server_pid" 2>/dev/null; then
        echo "folio did not stop within ${stop_timeout_s}s: SIGKILL" >&2
        kill -KILL "$server_pid" 2>/dev/null
    fi
    wait "$server_pid" 2>/dev/null
    server_pid=
}
cleanup() {
    stop_server
    if [ "${FOLIO_COMPAT_KEEP:-0}" = 1 ]; then
        echo "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export AWS_ACCESS_KEY_ID=FOLIOCOMPATROOTKEY
export AWS_SECRET_ACCESS_KEY=folio-compat-root-secret-0123456789abcdef
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
# Keep the clients away from any configuration of the machine they run on.
export AWS_CONFIG_FILE=$tmp/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$tmp/aws-credentials
export AWS_EC2_METADATA_DISABLED=true
# One attempt per request for the aws CLI and boto3 (botocore): a retried 5xx or
# dropped connection would hide a server bug.
export AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

# Virtual-host-style requests name buckets as BUCKET.$S3_ROOT_DOMAIN; clients reach
# it with curl --connect-to, so nothing needs to resolve. Path-style works as well.
export S3_ROOT_DOMAIN=s3.folio.test
export FOLIO_COMPAT_ADMIN_TOKEN=folio-compat-admin-token-0123456789
FOLIO_ROOT_ACCESS_KEY=$AWS_ACCESS_KEY_ID \
    FOLIO_ROOT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
    FOLIO_ADMIN_TOKEN=$FOLIO_COMPAT_ADMIN_TOKEN \
    FOLIO_LOG=${FOLIO_LOG:-warn} \
    "$folio" standalone --data-dir "$tmp/data" \
    --s3-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --bookie-port-base 0 \
    --root-domain "$S3_ROOT_DOMAIN" >"$tmp/folio.log" 2>&1 &
server_pid=$!

ready=
for ((i = 0; i < start_timeout_s * 10; i++)); do
    # (The log may not exist yet in the first tenth of a second.)
    ready=$(grep -m1 -o 'S3 on http://[0-9.]*:[0-9]*' "$tmp/folio.log" 2>/dev/null || true)
    [ -n "$ready" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "folio standalone did not start; its log:" >&2
    cat "$tmp/folio.log" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
export S3_HOSTPORT=${ready#S3 on http://}
export S3_ENDPOINT=http://$S3_HOSTPORT
admin=$(grep -m1 -o 'admin on http://[0-9.]*:[0-9]*' "$tmp/folio.log" || true)
export ADMIN_ENDPOINT=${admin#admin on }
echo "folio standalone on $S3_ENDPOINT ($folio)"

for client in "${clients[@]}"; do
    script=$here/client-$client.sh
    echo "== $client"
    if [ ! -x "$script" ]; then
        echo "  FAIL  no such client script: $script"
        echo "$client/script fail" >>"$COMPAT_RESULTS"
        continue
    fi
    export COMPAT_WORK=$tmp/work-$client
    mkdir -p "$COMPAT_WORK"
    before=$(wc -l <"$COMPAT_RESULTS")
    timeout --kill-after=10 "$client_timeout_s" env CLIENT="$client" "$script"
    rc=$?
    after=$(wc -l <"$COMPAT_RESULTS")
    if [ "$rc" -ne 0 ] && ! tail -n "+$((before + 1))" "$COMPAT_RESULTS" | grep -q ' fail$'; then
        # Exited early (setup failed, or timed out) without a failing step.
        echo "  FAIL  $client: script exited with status $rc after $((after - before)) steps"
        echo "$client/script fail" >>"$COMPAT_RESULTS"
    fi
    rm -rf "$COMPAT_WORK"
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "  FAIL  folio exited during $client; its log:"
        tail -n 50 "$tmp/folio.log"
        echo "folio/alive fail" >>"$COMPAT_RESULTS"
        break
    fi
done

stop_server
if grep -qiE 'panicked|ERROR' "$tmp/folio.log"; then
    echo "folio logged errors:"
    grep -iE 'panicked|ERROR' "$tmp/folio.log" | head -n 20
fi
# A panic in a request task does not stop the server, and the client may even have
# retried around it; it is a bug all the same.
if grep -q 'panicked' "$tmp/folio.log"; then
    echo "  FAIL  folio panicked during the run (see its log above)"
    echo "folio/no-panic fail" >>"$COMPAT_RESULTS"
fi
[ -n "${FOLIO_COMPAT_RESULTS:-}" ] && cp "$COMPAT_RESULTS" "$FOLIO_COMPAT_RESULTS"
passed=$(grep -c ' pass$' "$COMPAT_RESULTS")
failed=$(grep -c ' fail$' "$COMPAT_RESULTS")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
