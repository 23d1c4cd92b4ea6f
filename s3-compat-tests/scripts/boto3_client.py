"""boto3 scenarios against folio, one per command-line argument; run by client-boto3.sh.

Each scenario raises (and so exits non-zero) on the first mismatch. The endpoint and
credentials come from the environment that run-clients.sh sets. Every client and
transfer makes one attempt per request (no botocore retries, no s3transfer download
retries), so an intermittent server error fails the scenario instead of being hidden.
"""

import hashlib
import os
import subprocess
import sys
import urllib.parse

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["S3_ENDPOINT"]
WORK = os.environ["COMPAT_WORK"]
BUCKET = "boto3-compat"
MIB = 1024 * 1024
# One attempt per request. (botocore's `max_attempts` here counts retries, so 1 would
# still allow one; `total_max_attempts` counts the first attempt too.)
NO_RETRIES = {"total_max_attempts": 1, "mode": "standard"}


def config(**extra):
    return Config(s3={"addressing_style": "path"}, retries=NO_RETRIES, **extra)


def client(**extra):
    return boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1", config=config(**extra))


def bucket_resource():
    return boto3.resource(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1", config=config()
    ).Bucket(BUCKET)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def write_random(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def error_code(err):
    return err.response.get("Error", {}).get("Code")


def curl(*args):
    """Runs curl; returns (HTTP status, body bytes)."""
    out = os.path.join(WORK, "curl.out")
    status = subprocess.run(
        ["curl", "-sS", "-o", out, "-w", "%{http_code}", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    with open(out, "rb") as f:
        return int(status), f.read()


def create_bucket():
    s3 = client()
    s3.create_bucket(Bucket=BUCKET)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    expect(BUCKET in names, f"{BUCKET} not in {names}")


def transfer_manager():
    s3 = client()
    src = os.path.join(WORK, "big")
    down = os.path.join(WORK, "big.down")
    write_random(src, 23 * MIB + 5)
    transfer = TransferConfig(
        multipart_threshold=8 * MIB,
        multipart_chunksize=5 * MIB,
        max_concurrency=4,
        num_download_attempts=1,
    )
    s3.upload_file(src, BUCKET, "tm/big.bin", Config=transfer)
    head = s3.head_object(Bucket=BUCKET, Key="tm/big.bin")
    expect(head["ContentLength"] == 23 * MIB + 5, head["ContentLength"])
    expect(head["ETag"].endswith('-5"'), f"a 5-part multipart ETag, got {head['ETag']}")
    # download_file splits the download into concurrent ranged GETs.
    s3.download_file(BUCKET, "tm/big.bin", down, Config=transfer)
    expect(sha256_of(src) == sha256_of(down), "downloaded bytes differ")
    # Below the threshold: one PutObject, with the checksum current boto3 adds.
    small = os.path.join(WORK, "small")
    write_random(small, 1000)
    s3.upload_file(small, BUCKET, "tm/small.bin", ExtraArgs={"Metadata": {"k": "v"}})
    s3.download_file(
        BUCKET, "tm/small.bin", down, Config=TransferConfig(num_download_attempts=1)
    )
    expect(sha256_of(small) == sha256_of(down), "small download differs")
    head = s3.head_object(Bucket=BUCKET, Key="tm/small.bin")
    expect(head["Metadata"] == {"k": "v"}, head["Metadata"])
    obj = s3.get_object(Bucket=BUCKET, Key="tm/small.bin", Range="bytes=100-199")
    with open(small, "rb") as f:
        expect(obj["Body"].read() == f.read()[100:200], "ranged get_object")


def checksums():
    """The checksum algorithms boto3 has without awscrt (CRC32C and CRC64NVME need
    botocore[crt]; the Rust suite covers those), sent on PUT and returned on GET."""
    import base64
    import zlib

    s3 = client()
    data = os.urandom(100_000)
    expected = {
        "CRC32": base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode(),
        "SHA1": base64.b64encode(hashlib.sha1(data).digest()).decode(),
        "SHA256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }
    for algorithm, value in expected.items():
        key = f"checksum/{algorithm}"
        put = s3.put_object(Bucket=BUCKET, Key=key, Body=data, ChecksumAlgorithm=algorithm)
        sent = put.get(f"Checksum{algorithm}")
        expect(sent, f"{algorithm}: no checksum in the PutObject answer: {put}")
        expect(sent == value, f"{algorithm}: {sent} != {value}")
        got = s3.get_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        expect(got["Body"].read() == data, f"{algorithm}: body")
        expect(got.get(f"Checksum{algorithm}") == sent, f"{algorithm}: GET returned {got}")
        head = s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        expect(head.get(f"Checksum{algorithm}") == sent, f"{algorithm}: HEAD returned {head}")
    # A wrong checksum is refused (BadDigest) and stores nothing.
    other = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    try:
        s3.put_object(Bucket=BUCKET, Key="checksum/bad", Body=data, ChecksumSHA256=other)
        raise AssertionError("a wrong x-amz-checksum-sha256 was accepted")
    except ClientError as err:
        expect(error_code(err) == "BadDigest", err.response)
    try:
        s3.head_object(Bucket=BUCKET, Key="checksum/bad")
        raise AssertionError("the refused object exists")
    except ClientError as err:
        expect(err.response["ResponseMetadata"]["HTTPStatusCode"] == 404, err.response)


def presign_with(s3, key, expect_v2):
    body = os.path.join(WORK, "presigned")
    write_random(body, 70_000)
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300
    )
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300
    )
    query = urllib.parse.parse_qs(urllib.parse.urlparse(put_url).query)
    is_v2 = "Signature" in query and "AWSAccessKeyId" in query
    is_v4 = "X-Amz-Signature" in query
    print(f"presigned URL uses {'SigV2' if is_v2 else 'SigV4' if is_v4 else '?'}: {put_url}")
    if expect_v2 is not None:
        expect(is_v2 == expect_v2 and is_v4 != expect_v2, f"signature version of {put_url}")
    status, text = curl("-X", "PUT", "-T", body, put_url)
    expect(status == 200, f"presigned PUT: {status} {text!r}")
    down = os.path.join(WORK, "presigned.down")
    status, data = curl(get_url)
    expect(status == 200, f"presigned GET: {status} {data!r}")
    with open(body, "rb") as f:
        expect(data == f.read(), "presigned GET returned other bytes")
    # The object is what was PUT, seen through the API too.
    got = client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with open(body, "rb") as f:
        expect(got == f.read(), "object differs from the presigned PUT body")
    # A URL for another key, or with a changed signature, is refused.
    status, data = curl(get_url.replace(urllib.parse.quote(key), "other-key"))
    expect(status == 403, f"tampered presigned GET: {status}")
    expect(b"<Code>SignatureDoesNotMatch</Code>" in data, data)
    del down


def presigned_default():
    """boto3's default presigning for us-east-1: SigV2 (query AWSAccessKeyId, Signature),
    as of the botocore that client-boto3.sh pins."""
    s3 = client()
    presign_with(s3, "presigned/default", expect_v2=True)


def presigned_sigv2():
    presign_with(client(signature_version="s3"), "presigned/v2", expect_v2=True)


def presigned_sigv4():
    presign_with(client(signature_version="s3v4"), "presigned/v4", expect_v2=False)


def batch_delete():
    s3 = client()
    keys = [f"batch/{i:03d}" for i in range(30)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    doomed = keys[:25] + ["batch/never-existed"]
    out = s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in doomed]}
    )
    deleted = sorted(d["Key"] for d in out.get("Deleted", []))
    expect(deleted == sorted(doomed), f"Deleted: {deleted}")
    expect(not out.get("Errors"), out.get("Errors"))
    out = s3.delete_objects(
        Bucket=BUCKET,
        Delete={"Objects": [{"Key": keys[25]}], "Quiet": True},
    )
    expect(not out.get("Deleted") and not out.get("Errors"), f"quiet delete: {out}")
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="batch/")["Contents"]]
    expect(left == keys[26:], f"left after batch delete: {left}")
    # The resource API's batch action.
    bucket_resource().objects.filter(Prefix="batch/").delete()
    expect(
        s3.list_objects_v2(Bucket=BUCKET, Prefix="batch/")["KeyCount"] == 0,
        "batch/ not empty after objects.filter().delete()",
    )


def list_delimiter_pagination():
    s3 = client()
    keys = []
    for d in ["a", "b", "c", "d"]:
        for i in range(4):
            keys.append(f"tree/{d}/{i}.txt")
    keys += [f"tree/top-{i}" for i in range(5)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    for op, page_param in [("list_objects_v2", "ContinuationToken"), ("list_objects", "Marker")]:
        pages = s3.get_paginator(op).paginate(
            Bucket=BUCKET, Prefix="tree/", Delimiter="/", PaginationConfig={"PageSize": 3}
        )
        prefixes, contents, n_pages = [], [], 0
        for page in pages:
            n_pages += 1
            expect(n_pages < 50, "pagination does not end")
            expect(
                len(page.get("CommonPrefixes", [])) + len(page.get("Contents", [])) <= 3,
                f"{op}: more than MaxKeys entries in a page",
            )
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            contents += [c["Key"] for c in page.get("Contents", [])]
        expect(
            prefixes == ["tree/a/", "tree/b/", "tree/c/", "tree/d/"], f"{op} prefixes: {prefixes}"
        )
        expect(contents == [f"tree/top-{i}" for i in range(5)], f"{op} keys: {contents}")
        expect(n_pages == 3, f"{op}: {n_pages} pages of 3 for 9 entries")
        del page_param
    # Without a delimiter, every key, in order, over pages of 7.
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix="tree/", PaginationConfig={"PageSize": 7}
    ):
        got += [c["Key"] for c in page.get("Contents", [])]
    expect(got == sorted(keys), f"flat listing: {got}")
    # botocore sends encoding-type=url on every listing and decodes the answer unless
    # the caller asked for it explicitly, when it hands back the encoded keys.
    s3.put_object(Bucket=BUCKET, Key="tree/odd key+&=%.txt", Body=b"y")
    out = s3.list_objects_v2(Bucket=BUCKET, Prefix="tree/o")
    expect([c["Key"] for c in out["Contents"]] == ["tree/odd key+&=%.txt"], out["Contents"])
    out = s3.list_objects_v2(Bucket=BUCKET, Prefix="tree/o", EncodingType="url")
    expect([c["Key"] for c in out["Contents"]] == ["tree/odd%20key%2B%26%3D%25.txt"], out)
    out = s3.list_objects_v2(Bucket=BUCKET, Prefix="tree/", StartAfter="tree/d/3.txt", Delimiter="/")
    expect([c["Key"] for c in out["Contents"]][:1] == ["tree/odd key+&=%.txt"], out)


def cleanup():
    s3 = client()
    bucket_resource().objects.all().delete()
    s3.delete_bucket(Bucket=BUCKET)
    try:
        s3.head_bucket(Bucket=BUCKET)
        raise AssertionError("bucket still exists")
    except ClientError as err:
        expect(err.response["ResponseMetadata"]["HTTPStatusCode"] == 404, err.response)


SCENARIOS = {
    f.__name__.replace("_", "-"): f
    for f in [
        create_bucket,
        transfer_manager,
        checksums,
        presigned_default,
        presigned_sigv2,
        presigned_sigv4,
        batch_delete,
        list_delimiter_pagination,
        cleanup,
    ]
}

if __name__ == "__main__":
    if sys.argv[1:] == ["--version"]:
        print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}")
    else:
        for name in sys.argv[1:]:
            SCENARIOS[name]()
