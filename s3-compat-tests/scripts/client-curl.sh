#!/usr/bin/env bash
# curl: a raw SigV4 upload and download with curl's --aws-sigv4, `Expect:
# 100-continue` (answered before the body is sent, or refused without reading it),
# and anonymous requests refused with 403 AccessDenied. See lib.sh for the environment.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_apt curl curl || exit 1
need_apt openssl openssl || exit 1
curl --version | head -n 1
bucket=curl-compat
# curl 7.x does not send x-amz-content-sha256, which S3 (AWS and folio) requires on
# header-signed requests; curl signs the x-amz-* headers it is given.
sigv4_with_body=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY")
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
sigv4=("${sigv4_with_body[@]}" -H "x-amz-content-sha256: $empty_sha256")

create_bucket() {
    local status
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${sigv4[@]}" -X PUT "$S3_ENDPOINT/$bucket")
    expect_eq "$status" 200 "CreateBucket status"
}

sigv4_upload_and_download() {
    random_file "$COMPAT_WORK/up" $((3 * 1024 * 1024 + 17))
    local status
    local sha
    sha=$(sha256_of "$COMPAT_WORK/up")
    status=$(curl -sS -o "$COMPAT_WORK/out" -D "$COMPAT_WORK/headers" -w '%{http_code}' "${sigv4_with_body[@]}" \
        -H "x-amz-content-sha256: $sha" -H 'Content-Type: application/x-folio-test' \
        -H 'x-amz-meta-origin: curl' -T "$COMPAT_WORK/up" "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    cat "$COMPAT_WORK/out"
    expect_eq "$status" 200 "PutObject status"
    local etag md5 headers
    etag=$(grep -i '^etag:' "$COMPAT_WORK/headers" | tr -d '\r' | cut -d' ' -f2)
    md5=$(md5_of "$COMPAT_WORK/up")
    expect_eq "$etag" "\"$md5\"" "ETag of the upload"

    status=$(curl -sS -o "$COMPAT_WORK/down" -D "$COMPAT_WORK/headers" -w '%{http_code}' "${sigv4[@]}" \
        "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    expect_eq "$status" 200 "GetObject status"
    cmp "$COMPAT_WORK/up" "$COMPAT_WORK/down"
    headers=$(tr -d '\r' <"$COMPAT_WORK/headers")
    expect_contains "$headers" "x-amz-meta-origin: curl" "user metadata"
    expect_contains "$headers" "content-type: application/x-folio-test" "Content-Type"

    # UNSIGNED-PAYLOAD: the body is not hashed into the signature.
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${sigv4_with_body[@]}" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$COMPAT_WORK/up" "$S3_ENDPOINT/$bucket/unsigned")
    expect_eq "$status" 200 "PutObject with UNSIGNED-PAYLOAD"
    curl -sS --fail -o "$COMPAT_WORK/down" "${sigv4[@]}" "$S3_ENDPOINT/$bucket/unsigned"
    cmp "$COMPAT_WORK/up" "$COMPAT_WORK/down"

    # A wrong body hash is refused.
    local x_sha
    x_sha=$(printf x | sha256sum | cut -d' ' -f1)
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${sigv4_with_body[@]}" \
        -H "x-amz-content-sha256: $x_sha" \
        --data-binary 'not x' -X PUT "$S3_ENDPOINT/$bucket/bad-hash")
    expect_eq "$status" 400 "PutObject with a wrong x-amz-content-sha256"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>XAmzContentSHA256Mismatch</Code>" "error code"
}

# status_lines FILE: the status lines of the responses in a `curl -v` log, in order
# ("HTTP/1.1 100 Continue", "HTTP/1.1 200 OK", ...).
status_lines() {
    tr -d '\r' <"$1" | sed -n 's/^< \(HTTP\/[0-9.]* [0-9][0-9][0-9].*\)$/\1/p'
}

expect_100_continue() {
    random_file "$COMPAT_WORK/continued" $((2 * 1024 * 1024))
    local sha status sent lines
    sha=$(sha256_of "$COMPAT_WORK/continued")
    # Signed and valid: the server asks for the body with 100 Continue, then stores it.
    # (--expect100-timeout is long so that curl waits for the server's answer rather
    # than sending the body after its 1 s default.)
    status=$(curl -sS -v -o "$COMPAT_WORK/out" -w '%{http_code}' --expect100-timeout 30 \
        "${sigv4_with_body[@]}" -H "x-amz-content-sha256: $sha" -H 'Expect: 100-continue' \
        -T "$COMPAT_WORK/continued" "$S3_ENDPOINT/$bucket/continued" 2>"$COMPAT_WORK/verbose")
    lines=$(status_lines "$COMPAT_WORK/verbose")
    echo "$lines"
    expect_eq "$status" 200 "PUT with Expect: 100-continue"
    expect_eq "$lines" "$(printf 'HTTP/1.1 100 Continue\nHTTP/1.1 200 OK')" \
        "responses to a PUT with Expect: 100-continue"
    curl -sS --fail -o "$COMPAT_WORK/down" "${sigv4[@]}" "$S3_ENDPOINT/$bucket/continued"
    cmp "$COMPAT_WORK/continued" "$COMPAT_WORK/down"

    # A wrong signature: the final 403 comes at once, no 100 Continue, and curl never
    # sends the body.
    status=$(curl -sS -v -o "$COMPAT_WORK/out" -w '%{http_code} %{size_upload}' --expect100-timeout 30 \
        --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:not-the-secret" \
        -H "x-amz-content-sha256: $sha" -H 'Expect: 100-continue' \
        -T "$COMPAT_WORK/continued" "$S3_ENDPOINT/$bucket/refused" 2>"$COMPAT_WORK/verbose")
    lines=$(status_lines "$COMPAT_WORK/verbose")
    echo "$lines"
    sent=${status#* }
    status=${status%% *}
    expect_eq "$status" 403 "PUT with a wrong signature and Expect: 100-continue"
    expect_eq "$lines" "HTTP/1.1 403 Forbidden" "responses to it"
    expect_eq "$sent" 0 "body bytes curl sent before the 403"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>SignatureDoesNotMatch</Code>" "error code"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -I "$S3_ENDPOINT/$bucket/refused")
    expect_eq "$status" 404 "the refused PUT stored nothing"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -X DELETE "$S3_ENDPOINT/$bucket/continued")
    expect_eq "$status" 204 "DeleteObject"
}

sigv4_list() {
    local status
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${sigv4[@]}" \
        "$S3_ENDPOINT/$bucket?list-type=2&prefix=dir%2F")
    expect_eq "$status" 200 "ListObjectsV2 status"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Key>dir/raw key+1</Key>" "the listed key"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<KeyCount>1</KeyCount>" "KeyCount"
}

conditional_get() {
    local status lm
    curl -sS --fail -o /dev/null -D "$COMPAT_WORK/headers" "${sigv4[@]}" -I "$S3_ENDPOINT/$bucket/dir/raw%20key+1"
    lm=$(grep -i '^last-modified:' "$COMPAT_WORK/headers" | tr -d '\r' | cut -d' ' -f2-)
    [ -n "$lm" ] || fail "no Last-Modified"
    local before="Mon, 01 Jan 2001 00:00:00 GMT" after="Fri, 01 Jan 2100 00:00:00 GMT"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -H "If-Modified-Since: $lm" \
        "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    expect_eq "$status" 304 "If-Modified-Since: Last-Modified"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -H "If-Modified-Since: $before" \
        "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    expect_eq "$status" 200 "If-Modified-Since: 2001"
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${sigv4[@]}" -H "If-Unmodified-Since: $before" \
        "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    expect_eq "$status" 412 "If-Unmodified-Since: 2001"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>PreconditionFailed</Code>" "error code"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -H "If-Unmodified-Since: $after" \
        "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    expect_eq "$status" 200 "If-Unmodified-Since: 2100"
}

content_md5() {
    local status sha good_md5 other_md5
    printf 'checked body' >"$COMPAT_WORK/md5body"
    sha=$(sha256_of "$COMPAT_WORK/md5body")
    good_md5=$(openssl md5 -binary "$COMPAT_WORK/md5body" | base64)
    other_md5=$(printf other | openssl md5 -binary | base64)
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${sigv4_with_body[@]}" \
        -H "x-amz-content-sha256: $sha" -H "Content-MD5: $good_md5" \
        -T "$COMPAT_WORK/md5body" "$S3_ENDPOINT/$bucket/md5-good")
    expect_eq "$status" 200 "PUT with the right Content-MD5"
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${sigv4_with_body[@]}" \
        -H "x-amz-content-sha256: $sha" -H "Content-MD5: $other_md5" \
        -T "$COMPAT_WORK/md5body" "$S3_ENDPOINT/$bucket/md5-bad")
    expect_eq "$status" 400 "PUT with a wrong Content-MD5"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>BadDigest</Code>" "error code"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -I "$S3_ENDPOINT/$bucket/md5-bad")
    expect_eq "$status" 404 "the refused object"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -X DELETE "$S3_ENDPOINT/$bucket/md5-good")
    expect_eq "$status" 204 "DeleteObject"
}

virtual_host_style() {
    # BUCKET.$S3_ROOT_DOMAIN:PORT, connected to the loopback server; curl signs that Host.
    local port=${S3_HOSTPORT##*:} status sha
    local base="http://$bucket.$S3_ROOT_DOMAIN:$port"
    local connect=(--connect-to "$bucket.$S3_ROOT_DOMAIN:$port:$S3_HOSTPORT")
    printf 'virtual host' >"$COMPAT_WORK/vh"
    sha=$(sha256_of "$COMPAT_WORK/vh")
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${connect[@]}" "${sigv4_with_body[@]}" \
        -H "x-amz-content-sha256: $sha" \
        -T "$COMPAT_WORK/vh" "$base/vh/key")
    cat "$COMPAT_WORK/out"
    expect_eq "$status" 200 "virtual-host PUT"
    # Path-style sees the same object.
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${sigv4[@]}" "$S3_ENDPOINT/$bucket/vh/key")
    expect_eq "$status" 200 "path-style GET of it"
    expect_eq "$(cat "$COMPAT_WORK/out")" "virtual host" "its body"
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${connect[@]}" "${sigv4[@]}" \
        "$base/?list-type=2&prefix=vh%2F")
    expect_eq "$status" 200 "virtual-host ListObjectsV2"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Key>vh/key</Key>" "listed key"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${connect[@]}" "${sigv4[@]}" -X DELETE "$base/vh/key")
    expect_eq "$status" 204 "virtual-host DELETE"
}

restricted_key() {
    # A key made through the admin API with read permission on the bucket only.
    local admin=(-sS -H "Authorization: Bearer $FOLIO_COMPAT_ADMIN_TOKEN" -H 'Content-Type: application/json')
    curl "${admin[@]}" --fail -o "$COMPAT_WORK/key.json" -X POST -d '{"name": "compat reader"}' "$ADMIN_ENDPOINT/v1/keys"
    local id secret
    id=$(sed -n 's/.*"access_key_id" *: *"\([^"]*\)".*/\1/p' "$COMPAT_WORK/key.json")
    secret=$(sed -n 's/.*"secret" *: *"\([^"]*\)".*/\1/p' "$COMPAT_WORK/key.json")
    [ -n "$id" ] && [ -n "$secret" ] || fail "no key in $(cat "$COMPAT_WORK/key.json")"
    local reader=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$id:$secret")
    local status w_sha
    # No permission yet: refused.
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${reader[@]}" \
        -H "x-amz-content-sha256: $empty_sha256" "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    expect_eq "$status" 403 "GET with a key without permissions"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>AccessDenied</Code>" "error code"
    curl "${admin[@]}" -o /dev/null -f -X POST -d "{\"bucket\": \"$bucket\", \"read\": true}" \
        "$ADMIN_ENDPOINT/v1/keys/$id/allow"
    status=$(curl -sS -o "$COMPAT_WORK/down" -w '%{http_code}' "${reader[@]}" \
        -H "x-amz-content-sha256: $empty_sha256" "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    expect_eq "$status" 200 "GET with read permission"
    cmp "$COMPAT_WORK/up" "$COMPAT_WORK/down"
    w_sha=$(printf w | sha256sum | cut -d' ' -f1)
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' "${reader[@]}" \
        -H "x-amz-content-sha256: $w_sha" --data-binary w -X PUT \
        "$S3_ENDPOINT/$bucket/written-by-reader")
    expect_eq "$status" 403 "PUT with read permission only"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>AccessDenied</Code>" "error code"
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -I "$S3_ENDPOINT/$bucket/written-by-reader")
    expect_eq "$status" 404 "the refused PUT stored nothing"
    curl "${admin[@]}" -o /dev/null -f -X DELETE "$ADMIN_ENDPOINT/v1/keys/$id"
}

anonymous_is_refused() {
    local status url
    for url in "$S3_ENDPOINT/$bucket/dir/raw%20key+1" "$S3_ENDPOINT/$bucket" "$S3_ENDPOINT/"; do
        status=$(curl -sS -o "$COMPAT_WORK/out" -D "$COMPAT_WORK/headers" -w '%{http_code}' "$url")
        expect_eq "$status" 403 "anonymous GET $url"
        expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>AccessDenied</Code>" "anonymous GET $url body"
        grep -qi '^x-amz-request-id:' "$COMPAT_WORK/headers" || fail "no x-amz-request-id"
    done
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' --data-binary hello -X PUT \
        "$S3_ENDPOINT/$bucket/anonymous")
    expect_eq "$status" 403 "anonymous PUT"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>AccessDenied</Code>" "anonymous PUT body"
    # ... and wrote nothing.
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -I "$S3_ENDPOINT/$bucket/anonymous")
    expect_eq "$status" 404 "HEAD of the refused anonymous PUT"
}

wrong_secret_is_refused() {
    local status
    status=$(curl -sS -o "$COMPAT_WORK/out" -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$AWS_ACCESS_KEY_ID:not-the-secret" -H "x-amz-content-sha256: $empty_sha256" "$S3_ENDPOINT/$bucket/dir/raw%20key+1")
    expect_eq "$status" 403 "GET with a wrong secret"
    expect_contains "$(cat "$COMPAT_WORK/out")" "<Code>SignatureDoesNotMatch</Code>" "error code"
}

delete_all() {
    local status
    for key in "dir/raw%20key+1" unsigned; do
        status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -X DELETE "$S3_ENDPOINT/$bucket/$key")
        expect_eq "$status" 204 "DeleteObject"
    done
    status=$(curl -sS -o /dev/null -w '%{http_code}' "${sigv4[@]}" -X DELETE "$S3_ENDPOINT/$bucket")
    expect_eq "$status" 204 "DeleteBucket"
}

step create-bucket create_bucket
step sigv4-upload-download sigv4_upload_and_download
step expect-100-continue expect_100_continue
step sigv4-list sigv4_list
step conditional-get-dates conditional_get
step content-md5 content_md5
step virtual-host-style virtual_host_style
step restricted-key-permissions restricted_key
step anonymous-403-AccessDenied anonymous_is_refused
step wrong-secret-403 wrong_secret_is_refused
step delete delete_all
finish
