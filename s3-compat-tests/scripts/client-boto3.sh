#!/usr/bin/env bash
# boto3: upload_file/download_file through the transfer manager, presigned PUT and GET
# URLs used with curl (boto3's default presigning, which is SigV2 for us-east-1, and
# SigV4 explicitly), batch delete, and listings with a delimiter and pagination. The
# scenarios are in boto3_client.py. boto3 and botocore are installed from PyPI, at the
# exact versions below, into a virtualenv in the tool cache: presigned-default tests
# botocore's default presigning, which botocore may change. Their other dependencies
# are not pinned. See lib.sh for the environment.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

need_apt curl curl || exit 1
need_apt python3 python3-venv || exit 1
boto3_version=1.44.8
botocore_version=1.44.8
venv=$COMPAT_CACHE/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "
import boto3, botocore, sys
sys.exit(boto3.__version__ != '$boto3_version' or botocore.__version__ != '$botocore_version')" 2>/dev/null; then
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 needs python3-venv (ensurepip) to make virtualenvs.
        rm -rf "$venv"
        command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ] || exit 1
        [ -e "$COMPAT_TMP/apt-updated" ] || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && touch "$COMPAT_TMP/apt-updated"; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null || exit 1
        python3 -m venv "$venv" || exit 1
    fi
    "$venv/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
        "boto3==$boto3_version" "botocore==$botocore_version" || exit 1
fi
py() {
    "$venv/bin/python" "$(dirname "$0")/boto3_client.py" "$@"
}
py --version

for scenario in create-bucket transfer-manager checksums presigned-default presigned-sigv2 presigned-sigv4 \
    batch-delete list-delimiter-pagination cleanup; do
    step "$scenario" py "$scenario"
done
finish
