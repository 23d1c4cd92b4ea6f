#!/usr/bin/env bash
# rclone: copy, check, sync (deleting on the remote), lsf, with an rclone config for a
# generic S3 provider ("Other") and multipart uploads of the bigger files. Every
# transfer is checked with `rclone check` (sizes and MD5s) and by comparing the files.
# rclone lists with ListObjectsV2 (`list_version = 2`; provider Other would pick v1),
# which the lsf step checks in the requests it sends. Each request is tried once
# (--retries 1 --low-level-retries 1), so an intermittent error fails the step.
# See lib.sh for the environment.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_apt rclone rclone || exit 1
rclone version | head -n 1
conf=$COMPAT_WORK/rclone.conf
cat >"$conf" <<CONF
[folio]
type = s3
provider = Other
access_key_id = $AWS_ACCESS_KEY_ID
secret_access_key = $AWS_SECRET_ACCESS_KEY
endpoint = $S3_ENDPOINT
region = us-east-1
force_path_style = true
upload_cutoff = 5Mi
chunk_size = 5Mi
list_version = 2
CONF
# rclone's AWS SDK cannot use AWS_CA_BUNDLE with its own HTTP transport, and the
# endpoint is plain HTTP anyway.
rc() {
    env -u AWS_CA_BUNDLE rclone --config "$conf" --retries 1 --low-level-retries 1 "$@"
}
remote=folio:rclone-compat

make_tree() {
    local dir=$1 i
    mkdir -p "$dir/x/y" "$dir/z"
    for ((i = 0; i < 40; i++)); do
        head -c $((i * 101 + 3)) /dev/urandom >"$dir/x/f$i"
    done
    for ((i = 0; i < 10; i++)); do
        head -c $((i * 1000)) /dev/urandom >"$dir/x/y/g$i"
    done
    # Above the 5 MiB upload cutoff: multipart, 3 parts.
    random_file "$dir/z/big" $((12 * 1024 * 1024 + 1))
    printf 'spaces and +' >"$dir/z/name with spaces+plus"
}

copy_and_check() {
    make_tree "$COMPAT_WORK/src"
    rc mkdir "$remote"
    rc copy "$COMPAT_WORK/src" "$remote/tree"
    rc check "$COMPAT_WORK/src" "$remote/tree"
    rc copy "$remote/tree" "$COMPAT_WORK/back"
    diff -r "$COMPAT_WORK/src" "$COMPAT_WORK/back"
    # A changed remote object is noticed by check.
    printf 'changed' | rc rcat "$remote/tree/x/f1"
    expect_failure "rclone check of a changed object" "Failed to check: 1 differences found" \
        rc check "$COMPAT_WORK/src" "$remote/tree"
    expect_contains "$failure_output" "x/f1: sizes differ" "the difference rclone check found"
    rc copyto "$COMPAT_WORK/src/x/f1" "$remote/tree/x/f1"
    rc check "$COMPAT_WORK/src" "$remote/tree"
}

sync_delete() {
    # Delete, change and add files locally; sync must mirror all three.
    rm -f "$COMPAT_WORK/src/x/f3" "$COMPAT_WORK/src/x/f4" "$COMPAT_WORK/src/x/y/g9"
    printf 'new contents' >"$COMPAT_WORK/src/x/f5"
    printf 'added' >"$COMPAT_WORK/src/x/added"
    rc sync --delete-during "$COMPAT_WORK/src" "$remote/tree"
    rc check "$COMPAT_WORK/src" "$remote/tree"
    local listed wanted
    listed=$(rc lsf -R --files-only "$remote/tree" | sort)
    wanted=$(cd "$COMPAT_WORK/src" && find . -type f | sed 's|^\./||' | sort)
    expect_eq "$listed" "$wanted" "objects after sync"
    rm -rf "$COMPAT_WORK/back"
    rc sync "$remote/tree" "$COMPAT_WORK/back"
    diff -r "$COMPAT_WORK/src" "$COMPAT_WORK/back"
}

lsf() {
    local out md5
    # --dump headers shows the requests on stderr: the listing is a ListObjectsV2.
    out=$(rc lsf --dump headers "$remote/tree" 2>"$COMPAT_WORK/dump")
    expect_eq "$out" "$(printf 'x/\nz/')" "lsf of the top level"
    grep -q ' GET /rclone-compat?.*list-type=2' "$COMPAT_WORK/dump" \
        || fail "lsf did not list with ListObjectsV2 (list-type=2): $(grep ' GET ' "$COMPAT_WORK/dump")"
    out=$(rc lsf --format ps --separator ' ' "$remote/tree/z")
    expect_contains "$out" "big $((12 * 1024 * 1024 + 1))" "lsf size of the multipart object"
    expect_contains "$out" "name with spaces+plus 12" "lsf of an odd name"
    out=$(rc lsf --format ph --hash MD5 --separator ' ' "$remote/tree/z")
    # The multipart object's MD5 comes from the metadata rclone stores with it.
    md5=$(md5_of "$COMPAT_WORK/src/z/big")
    expect_contains "$out" "big $md5" "MD5 of the multipart object"
    out=$(rc lsf "folio:")
    expect_contains "$out" "rclone-compat/" "lsf of the buckets"
}

purge() {
    local out
    rc purge "$remote"
    out=$(rc lsf "folio:")
    expect_not_contains "$out" "rclone-compat/" "buckets listed after purge"
    # rclone reports NoSuchBucket as "directory not found".
    expect_failure "lsf of the purged bucket" "directory not found" rc lsf "$remote"
}

step copy-check copy_and_check
step sync-delete sync_delete
step lsf lsf
step purge purge
finish
