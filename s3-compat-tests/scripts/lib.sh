# Shared helpers for the client scripts; sourced, not run.
#
# The driver (run-clients.sh) exports:
#   S3_ENDPOINT            http://127.0.0.1:PORT of the folio under test
#   S3_HOSTPORT            127.0.0.1:PORT
#   S3_ROOT_DOMAIN         the server's --root-domain for virtual-host-style requests
#   ADMIN_ENDPOINT         http://127.0.0.1:PORT of its admin API
#   FOLIO_COMPAT_ADMIN_TOKEN  the admin API's bearer token
#   AWS_ACCESS_KEY_ID      its root access key
#   AWS_SECRET_ACCESS_KEY  its root secret
#   AWS_DEFAULT_REGION     us-east-1
#   COMPAT_WORK            a scratch directory for this client, removed afterwards
#   COMPAT_CACHE           a tool cache inside the clone (the boto3 virtualenv)
#   COMPAT_TMP             the run's temporary directory
#   COMPAT_RESULTS         the file each step appends "client/step pass|fail" to
#
# A client script runs its scenario as named steps. `step NAME FUNCTION` runs
# FUNCTION in a subshell with `set -e -o pipefail` and `inherit_errexit`, so the first
# failing command or assertion fails the step, also inside a command substitution; its
# output is shown only when it fails.
#
# The exit status of a command is lost when its output is used as an argument
# (`expect_eq "$(cmd | wc -l)" 0`) or when it is tested (`if cmd; then fail; fi`):
# a check like that passes when the command fails. So steps assign output first
# (`out=$(cmd)`, which fails the step when cmd fails), then compare, and check an
# expected failure with `expect_failure`, which also asserts the error it reports.

set -u
CLIENT=${CLIENT:?set CLIENT before sourcing lib.sh}
failures=0

step() {
    local name=$1
    shift
    local log="$COMPAT_WORK/step-$name.log"
    local started=$SECONDS
    (
        set -e -o pipefail
        shopt -s inherit_errexit
        "$@"
    ) >"$log" 2>&1
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        printf '  ok    %s/%s (%ss)\n' "$CLIENT" "$name" "$((SECONDS - started))"
        echo "$CLIENT/$name pass" >>"$COMPAT_RESULTS"
    else
        printf '  FAIL  %s/%s (exit %s); last lines of its output:\n' "$CLIENT" "$name" "$rc"
        tail -n 30 "$log" | sed 's/^/        /'
        echo "$CLIENT/$name fail" >>"$COMPAT_RESULTS"
        failures=$((failures + 1))
    fi
}

# The exit status of a client script: non-zero when a step failed.
finish() {
    [ "$failures" -eq 0 ]
}

# fail MESSAGE: fails the current step.
fail() {
    echo "assertion failed: $*" >&2
    exit 1
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

# expect_contains HAYSTACK NEEDLE WHAT: an empty NEEDLE (say, from a command that
# failed inside a substitution) fails rather than matching everything.
expect_contains() {
    [ -n "$2" ] || fail "$3: nothing to look for"
    case "$1" in
    *"$2"*) ;;
    *) fail "$3: '$2' not found in: $1" ;;
    esac
}

# expect_not_contains HAYSTACK NEEDLE WHAT
expect_not_contains() {
    [ -n "$2" ] || fail "$3: nothing to look for"
    case "$1" in
    *"$2"*) fail "$3: '$2' found in: $1" ;;
    *) ;;
    esac
}

# expect_failure WHAT NEEDLE COMMAND...: runs COMMAND, which must fail and print
# NEEDLE (an error code or status, such as NoSuchKey or 404) on stdout or stderr, so
# that an unrelated failure (a refused connection, a 500, a typo) does not pass. Its
# output is left in $failure_output for further checks.
failure_output=
expect_failure() {
    local what=$1 needle=$2 rc=0
    shift 2
    failure_output=$("$@" 2>&1) || rc=$?
    echo "$failure_output"
    [ "$rc" -ne 0 ] || fail "$what: succeeded, but should have failed with '$needle'"
    expect_contains "$failure_output" "$needle" "$what (exit $rc)"
}

# need_apt COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is missing.
need_apt() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 (for $1) with apt-get"
    [ "$(id -u)" -eq 0 ] || { echo "$1 is missing and we are not root to install $2" >&2; return 1; }
    if [ ! -e "$COMPAT_TMP/apt-updated" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        touch "$COMPAT_TMP/apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null || return 1
    command -v "$1" >/dev/null 2>&1
}

# random_file PATH SIZE_BYTES: a file of pseudo-random bytes.
random_file() {
    head -c "$2" /dev/urandom >"$1"
}

# md5_of PATH
md5_of() {
    md5sum "$1" | cut -d' ' -f1
}

# sha256_of PATH: its SHA-256 in hex.
sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

# count_lines TEXT: the number of lines in TEXT (0 for an empty one).
count_lines() {
    if [ -z "$1" ]; then echo 0; else printf '%s\n' "$1" | wc -l; fi
}
