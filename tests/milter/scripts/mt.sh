# mt.sh - run miltertest scripts and milter-client.py from a tests/milter
# test. Source it after tests/lib/mlm.sh:
#
#   mt_run SCRIPT.lua [miltertest args...]
#       runs scripts/SCRIPT.lua against $MLM_MILTER; each "CHECK ok - ..."
#       or "CHECK FAIL - ..." line it prints becomes a t_ok or t_fail, and
#       one more check says whether the script ran to its end. The whole
#       output stays in $MT_OUT.
#   mt_client STEP...
#       runs milter-client.py against $MLM_MILTER (see that file), output
#       on stdout.
#   mt_log_has REGEX   true when a daemon or worker log line matches.
#
# MILTERTEST may name the miltertest program; without it the test is
# skipped (exit 77, automake's SKIP).

MT_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${MILTERTEST:=miltertest}"

if ! command -v "$MILTERTEST" >/dev/null 2>&1; then
    echo "SKIP: miltertest ($MILTERTEST) not found"
    exit 77
fi

mt_run() { # SCRIPT [miltertest args...]
    local script=$1 rc line
    shift
    MT_OUT=$("$MILTERTEST" -D MILTER="$MLM_MILTER" \
        -D LIB="$MT_SCRIPTS/common.lua" "$@" -s "$MT_SCRIPTS/$script" 2>&1)
    rc=$?
    while IFS= read -r line; do
        case $line in
        "CHECK ok - "*) t_ok "${line#CHECK ok - }" ;;
        "CHECK FAIL - "*) t_fail "${line#CHECK FAIL - }" ;;
        esac
    done <<<"$MT_OUT"
    if grep -q '^DONE ' <<<"$MT_OUT" && [ "$rc" -eq 0 ] ||
        grep -q '^DONE .* [1-9][0-9]* failed$' <<<"$MT_OUT"; then
        t_ok "$script ran to its end"
    else
        t_fail "$script ran to its end (miltertest exit $rc)"
        grep -v '^CHECK ' <<<"$MT_OUT" | sed 's/^/#   /'
    fi
}

mt_client() { # STEP...
    python3 "$MT_SCRIPTS/milter-client.py" "$MLM_MILTER" "$@"
}

mt_log_has() { # EXTENDED-REGEX
    cat "$MLM_DIR"/*.log 2>/dev/null | grep -Eq -- "$1"
}

# The reply mlmd gives when it has no decision (failure_action tempfail).
# shellcheck disable=SC2034 # used by the tests that source this file
MT_FAILURE="451 4.3.0 Temporary failure in mailing list processing, try again later"
