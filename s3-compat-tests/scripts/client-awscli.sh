#!/usr/bin/env bash
# aws CLI: mb, cp of a 100 MiB file both ways (multipart), sync of 200 small files,
# ls, rm --recursive, and s3api head-object / metadata / ranges, each checked against
# the bytes sent. See lib.sh for the environment.
#
# Debian 12's awscli package is aws-cli v2 (2.9.x), which predates the default CRC
# checksums of aws-cli 2.23+; the aws-sdk-s3 suite covers those. Set AWS_CLI to run
# another aws binary.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ -z "${AWS_CLI:-}" ]; then
    if [ -x /usr/bin/aws ]; then
        AWS_CLI=/usr/bin/aws
    else
        need_apt aws awscli || exit 1
        AWS_CLI=$(command -v aws)
    fi
fi
"$AWS_CLI" --version
need_apt curl curl || exit 1
bucket=awscli-compat
awsc() {
    AWS_PAGER='' "$AWS_CLI" --endpoint-url "$S3_ENDPOINT" "$@"
}

make_bucket() {
    awsc s3 mb "s3://$bucket"
    awsc s3api head-bucket --bucket "$bucket"
    local location
    location=$(awsc s3api get-bucket-location --bucket "$bucket" --output text)
    expect_eq "$location" None "LocationConstraint"
}

cp_100mib_both_ways() {
    random_file "$COMPAT_WORK/big" $((100 * 1024 * 1024))
    awsc s3 cp --only-show-errors "$COMPAT_WORK/big" "s3://$bucket/big/file.bin"
    # The CLI's default 8 MiB parts: 13 parts, a multipart ETag.
    local etag length
    etag=$(awsc s3api head-object --bucket "$bucket" --key big/file.bin --query ETag --output text)
    case "$etag" in
    *-13\") ;;
    *) fail "expected a 13-part multipart ETag, got $etag" ;;
    esac
    length=$(awsc s3api head-object --bucket "$bucket" --key big/file.bin --query ContentLength --output text)
    expect_eq "$length" $((100 * 1024 * 1024)) "ContentLength"
    awsc s3 cp --only-show-errors "s3://$bucket/big/file.bin" "$COMPAT_WORK/big.down"
    cmp "$COMPAT_WORK/big" "$COMPAT_WORK/big.down"
    rm -f "$COMPAT_WORK/big.down"
}

sync_200_files() {
    mkdir -p "$COMPAT_WORK/tree/a/b" "$COMPAT_WORK/tree/c"
    local i d listed out
    for ((i = 0; i < 200; i++)); do
        case $((i % 3)) in
        0) d=tree ;;
        1) d=tree/a/b ;;
        *) d=tree/c ;;
        esac
        head -c $((i * 37 + 1)) /dev/urandom >"$COMPAT_WORK/$d/file-$i.txt"
    done
    awsc s3 sync --only-show-errors "$COMPAT_WORK/tree" "s3://$bucket/tree"
    listed=$(awsc s3 ls --recursive "s3://$bucket/tree/")
    expect_eq "$(count_lines "$listed")" 200 "objects listed after sync"
    # A second sync has nothing to do: it succeeds and prints nothing.
    out=$(awsc s3 sync "$COMPAT_WORK/tree" "s3://$bucket/tree")
    expect_eq "$out" "" "output of a no-op sync"
    awsc s3 sync --only-show-errors "s3://$bucket/tree" "$COMPAT_WORK/tree.down"
    diff -r "$COMPAT_WORK/tree" "$COMPAT_WORK/tree.down"
}

ls_bucket() {
    local out
    out=$(awsc s3 ls "s3://$bucket/")
    expect_contains "$out" "PRE big/" "ls shows the big/ prefix"
    expect_contains "$out" "PRE tree/" "ls shows the tree/ prefix"
    out=$(awsc s3 ls "s3://$bucket/tree/a/b/")
    expect_contains "$out" "file-1.txt" "ls of a sub-prefix"
    out=$(awsc s3 ls)
    expect_contains "$out" "$bucket" "ls of the buckets"
}

s3api_metadata_and_ranges() {
    printf '0123456789abcdefghijklmnopqrstuvwxyz' >"$COMPAT_WORK/small"
    awsc s3api put-object --bucket "$bucket" --key meta/obj --body "$COMPAT_WORK/small" \
        --content-type text/x-folio --cache-control max-age=60 --content-encoding identity \
        --expires 2030-01-02T03:04:05Z --content-language en \
        --content-disposition 'attachment; filename="x.txt"' --metadata color=blue,Shape=round >/dev/null
    local head
    head=$(awsc s3api head-object --bucket "$bucket" --key meta/obj --output json)
    echo "$head"
    expect_contains "$head" '"color": "blue"' "metadata color"
    expect_contains "$head" '"shape": "round"' "metadata keys come back lower-cased"
    expect_contains "$head" '"ContentType": "text/x-folio"' "ContentType"
    expect_contains "$head" '"CacheControl": "max-age=60"' "CacheControl"
    expect_contains "$head" '"ContentDisposition": "attachment; filename=\"x.txt\""' "ContentDisposition"
    expect_contains "$head" '"ContentEncoding": "identity"' "ContentEncoding"
    # aws-cli v2.9 parses Expires into a date; newer botocore keeps the header's string.
    case "$head" in
    *'"Expires": "2030-01-02T03:04:05+00:00"'* | *'"Expires": "Wed, 02 Jan 2030 03:04:05 GMT"'*) ;;
    *) fail "Expires missing or wrong" ;;
    esac
    expect_contains "$head" '"ContentLength": 36' "ContentLength"
    local md5
    md5=$(md5_of "$COMPAT_WORK/small")
    expect_contains "$head" "\"ETag\": \"\\\"$md5\\\"\"" "ETag"

    local range_out got
    range_out=$(awsc s3api get-object --bucket "$bucket" --key meta/obj --range bytes=10-15 "$COMPAT_WORK/range")
    got=$(cat "$COMPAT_WORK/range")
    expect_eq "$got" abcdef "bytes=10-15"
    expect_contains "$range_out" '"ContentRange": "bytes 10-15/36"' "ContentRange"
    awsc s3api get-object --bucket "$bucket" --key meta/obj --range bytes=-4 "$COMPAT_WORK/range" >/dev/null
    got=$(cat "$COMPAT_WORK/range")
    expect_eq "$got" wxyz "bytes=-4"
    awsc s3api get-object --bucket "$bucket" --key meta/obj --range bytes=30- "$COMPAT_WORK/range" >/dev/null
    got=$(cat "$COMPAT_WORK/range")
    expect_eq "$got" uvwxyz "bytes=30-"
    # A range of the 100 MiB multipart object that spans parts 1 and 2 (8 MiB each).
    awsc s3api get-object --bucket "$bucket" --key big/file.bin \
        --range bytes=$((8 * 1024 * 1024 - 100))-$((8 * 1024 * 1024 + 99)) "$COMPAT_WORK/range" >/dev/null
    cmp "$COMPAT_WORK/range" <(tail -c +$((8 * 1024 * 1024 - 100 + 1)) "$COMPAT_WORK/big" | head -c 200)
    # An unsatisfiable range is an error.
    expect_failure "unsatisfiable range" InvalidRange \
        awsc s3api get-object --bucket "$bucket" --key meta/obj --range bytes=100-200 "$COMPAT_WORK/range"
    # Copy with metadata replaced.
    awsc s3api copy-object --bucket "$bucket" --key meta/copy --copy-source "$bucket/meta/obj" \
        --metadata-directive REPLACE --metadata color=green --content-type text/plain >/dev/null
    head=$(awsc s3api head-object --bucket "$bucket" --key meta/copy --output json)
    expect_contains "$head" '"color": "green"' "replaced metadata"
    expect_contains "$head" '"ContentType": "text/plain"' "replaced ContentType"
    # A missing key is a 404 (HEAD answers carry no error code).
    expect_failure "head-object of a missing key" "(404)" \
        awsc s3api head-object --bucket "$bucket" --key meta/none
}

upload_part_copy() {
    # A new object from two ranges of the 100 MiB one, copied server-side.
    local id part1 part2 part1_md5 uploads
    id=$(awsc s3api create-multipart-upload --bucket "$bucket" --key copied --query UploadId --output text)
    part1=$(awsc s3api upload-part-copy --bucket "$bucket" --key copied --upload-id "$id" --part-number 1 \
        --copy-source "$bucket/big/file.bin" --copy-source-range bytes=0-5242879 \
        --query CopyPartResult.ETag --output text)
    part2=$(awsc s3api upload-part-copy --bucket "$bucket" --key copied --upload-id "$id" --part-number 2 \
        --copy-source "$bucket/big/file.bin" --copy-source-range bytes=10485760-10486859 \
        --query CopyPartResult.ETag --output text)
    part1_md5=$(head -c 5242880 "$COMPAT_WORK/big" | md5sum | cut -d' ' -f1)
    expect_eq "$part1" "\"$part1_md5\"" "ETag of copied part 1"
    awsc s3api list-parts --bucket "$bucket" --key copied --upload-id "$id" --query 'Parts[].Size' --output text \
        | tr -s '\t ' ' ' >"$COMPAT_WORK/sizes"
    expect_eq "$(cat "$COMPAT_WORK/sizes")" "5242880 1100" "ListParts sizes"
    awsc s3api complete-multipart-upload --bucket "$bucket" --key copied --upload-id "$id" \
        --multipart-upload "{\"Parts\":[{\"PartNumber\":1,\"ETag\":$part1},{\"PartNumber\":2,\"ETag\":$part2}]}" >/dev/null
    awsc s3 cp --only-show-errors "s3://$bucket/copied" "$COMPAT_WORK/copied"
    cmp "$COMPAT_WORK/copied" <(head -c 5242880 "$COMPAT_WORK/big"; tail -c +10485761 "$COMPAT_WORK/big" | head -c 1100)
    # An upload left open is listed, then aborted.
    id=$(awsc s3api create-multipart-upload --bucket "$bucket" --key open --query UploadId --output text)
    uploads=$(awsc s3api list-multipart-uploads --bucket "$bucket" --query 'Uploads[].Key' --output text)
    expect_contains "$uploads" open "ListMultipartUploads"
    awsc s3api abort-multipart-upload --bucket "$bucket" --key open --upload-id "$id"
    uploads=$(awsc s3api list-multipart-uploads --bucket "$bucket" --query 'length(Uploads || `[]`)' --output text)
    expect_eq "$uploads" 0 "uploads after the abort"
}

cp_mv_between_keys_and_stdin() {
    # A server-side copy of the 100 MiB object: the CLI does a multipart copy
    # (UploadPartCopy) above its 8 MiB threshold.
    awsc s3 cp --only-show-errors "s3://$bucket/big/file.bin" "s3://$bucket/big/copy.bin"
    awsc s3 mv --only-show-errors "s3://$bucket/big/copy.bin" "s3://$bucket/big/moved.bin"
    awsc s3 cp --only-show-errors "s3://$bucket/big/moved.bin" "$COMPAT_WORK/moved"
    cmp "$COMPAT_WORK/big" "$COMPAT_WORK/moved"
    rm -f "$COMPAT_WORK/moved"
    expect_failure "head-object of the source of mv" "(404)" \
        awsc s3api head-object --bucket "$bucket" --key big/copy.bin
    # An upload of unknown size from stdin (multipart, 8 MiB parts).
    head -c $((9 * 1024 * 1024)) "$COMPAT_WORK/big" | awsc s3 cp --only-show-errors - "s3://$bucket/stdin.bin"
    awsc s3 cp --only-show-errors "s3://$bucket/stdin.bin" - | cmp - <(head -c $((9 * 1024 * 1024)) "$COMPAT_WORK/big")
    # A presigned GET made by the CLI, used with curl.
    local url body
    url=$(awsc s3 presign "s3://$bucket/meta/obj" --expires-in 300)
    body=$(curl -sS --fail "$url")
    expect_eq "$body" 0123456789abcdefghijklmnopqrstuvwxyz "body of a presigned GET"
}

rm_recursive() {
    local count
    awsc s3 rm --only-show-errors --recursive "s3://$bucket/"
    count=$(awsc s3api list-objects-v2 --bucket "$bucket" --no-paginate --query KeyCount --output text)
    expect_eq "$count" 0 "KeyCount after rm"
    awsc s3 rb "s3://$bucket"
    expect_failure "head-bucket after rb" "(404)" awsc s3api head-bucket --bucket "$bucket"
    expect_failure "list-objects-v2 after rb" NoSuchBucket awsc s3api list-objects-v2 --bucket "$bucket"
}

step mb make_bucket
step cp-100MiB-multipart cp_100mib_both_ways
step sync-200-files sync_200_files
step ls ls_bucket
step s3api-metadata-ranges s3api_metadata_and_ranges
step s3api-upload-part-copy upload_part_copy
step cp-mv-s3-to-s3-stdin-presign cp_mv_between_keys_and_stdin
step rm-recursive rm_recursive
finish
