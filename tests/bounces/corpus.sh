#!/usr/bin/env bash
# Recall and precision of the -bounces parser on tests/bounces/corpus:
# each sample is read with `mlm-ctl bounces parse` (the worker's own Lua
# code) and the addresses it calls failed (verdict failure, or policy for
# 5.7.x) are compared, case-insensitively, with the file `expected`
# (flufl.bounce's own test tables; see corpus/README). Prints the figures
# and every miss; fails below 97% recall or 97% precision, when a delay
# warning, an auto-reply or a non-bounce is called a failure, or when a
# delay warning is not read as a delay.
#
# Run alone:  tests/bounces/corpus.sh   (from the build dir, or with
# top_builddir set)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/mlm.sh"
tmp=$(mktemp -d /tmp/mlm-corpus.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
MLM_DIR=$tmp MLM_CONF=$tmp/mlm.conf
mlm_write_conf "$top_srcdir/lua/policy.lua"
corpus=$here/corpus

# failed addresses of one sample, one a line, lower case
failed_of() {
    "$CTL_BIN" -C "$MLM_CONF" bounces parse "$1" 2>"$tmp/err" | tee "$tmp/parse" |
        awk '/^address: / {a = $2} /^  verdict: (failure|policy)$/ {print tolower(a)}' |
        sort -u
}

tp=0 fp=0 fn=0 wrong_class=0 errors=0 delays=0 delays_seen=0
while read -r file kind addrs; do
    [ -n "$file" ] || continue
    got=$(failed_of "$corpus/$file") || true
    [ -s "$tmp/err" ] && { errors=$((errors + 1)); echo "error: $file: $(cat "$tmp/err")"; }
    want=""
    [ "$kind" = failed ] && want=$(tr ' ' '\n' <<<"$addrs" | tr 'A-Z' 'a-z' | sort -u)
    for a in $got; do
        if grep -qxF "$a" <<<"$want"; then
            tp=$((tp + 1))
        else
            fp=$((fp + 1))
            echo "false: $file: $a"
            [ "$kind" != failed ] && wrong_class=$((wrong_class + 1))
        fi
    done
    if [ "$kind" = delayed ]; then
        delays=$((delays + 1))
        grep -q "^verdict: delay" "$tmp/parse" && delays_seen=$((delays_seen + 1))
    fi
    for a in $want; do
        grep -qxF "$a" <<<"$got" || { fn=$((fn + 1)); echo "missed: $file: $a"; }
    done
done <"$corpus/expected"

recall=$(( (tp * 1000 / (tp + fn + (tp + fn == 0))) ))
precision=$(( (tp * 1000 / (tp + fp + (tp + fp == 0))) ))
printf 'recall %d/%d = %d.%d%%, precision %d/%d = %d.%d%%\n' \
    "$tp" "$((tp + fn))" $((recall / 10)) $((recall % 10)) \
    "$tp" "$((tp + fp))" $((precision / 10)) $((precision % 10))
t_check "recall >= 97% ($tp of $((tp + fn)))" test "$recall" -ge 970
t_check "precision >= 97% ($tp of $((tp + fp)))" test "$precision" -ge 970
t_check "no delay, auto-reply or non-bounce called a failure ($wrong_class)" test "$wrong_class" = 0
t_check "every sample parsed without an error ($errors)" test "$errors" = 0
t_check "every delay warning read as a delay ($delays_seen of $delays)" test "$delays_seen" = "$delays"
t_done
