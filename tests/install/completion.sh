#!/usr/bin/env bash
# tests/install/completion.sh - the bash completion of mlm-ctl
# (completion/mlm-ctl): sources it and checks COMPREPLY for command lines,
# simulated with COMP_WORDS and COMP_CWORD as bash sets them.
#
# List addresses come from a stub mlm-ctl (so no database is needed); the
# list settings come from the built mlm-ctl's "help list set" when it is
# built, and the script's own copy of them must match db/db_lists.c. The
# commands and options come from the command table: the script's built-in
# copy (the stub gives none) must be the built mlm-ctl's "help --complete",
# every row of it must complete as it says, and a table the stub gives
# (STUB_TABLE) is read at completion time.
# Environment: top_srcdir, top_builddir (set by make check).
set -u
export LC_ALL=C
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

tmp=$(mktemp -d /tmp/mlm-completion.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=/dev/null
. "$top_builddir/completion/mlm-ctl" || exit 1

failures=0
checks=0
ok() { checks=$((checks + 1)); echo "ok - $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL - $*"; }

# A stub mlm-ctl: "lists" prints two lists (and records the -C it got),
# "help list set" prints what the real one would, when it is built.
real_ctl=$top_builddir/ctl/mlm-ctl
cat >"$tmp/mlm-ctl" <<EOF
#!/bin/sh
if [ "\$1" = -C ]; then echo "\$2" >"$tmp/config-seen"; shift 2; fi
case "\$*" in
lists) printf '%s\n' 'dev@lists.example  3  members' 'ops@lists.example  0  announce'
    [ -n "\${STUB_EVIL:-}" ] && printf '%s\n' "\$STUB_EVIL  0  members" ;;
"templates dev@lists.example") printf '%s\n' 'help  shipped  the answer to help' 'welcome  own  to a new member' ;;
"help list set") [ -x "$real_ctl" ] && exec "$real_ctl" help list set ;;
"help --complete") [ -n "\${STUB_TABLE:-}" ] && printf '%s\n' "\$STUB_TABLE" ;;
esac
exit 0
EOF
chmod +x "$tmp/mlm-ctl"

# comp LINE - complete LINE (the cursor at its end; a trailing blank starts
# a new word) with the stub, split into words as bash does with the default
# COMP_WORDBREAKS ("=" a word of its own); prints COMPREPLY sorted, one line.
comp() {
    local line=$1 w
    local -a split
    # shellcheck disable=SC2206 # word splitting is the point
    split=($line)
    COMP_WORDS=()
    for w in "${split[@]}"; do
        while [[ $w == *=* ]]; do
            [ -n "${w%%=*}" ] && COMP_WORDS+=("${w%%=*}")
            COMP_WORDS+=("=")
            w=${w#*=}
        done
        [ -n "$w" ] && COMP_WORDS+=("$w")
    done
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_WORDS[0]=$tmp/mlm-ctl
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _mlm_ctl
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

# expect LINE WANTED - COMPREPLY for LINE is exactly WANTED (sorted words).
expect() {
    local got
    got=$(comp "$1")
    if [ "$got" = "$2" ]; then ok "'$1' -> $2"; else fail "'$1': got '$got', want '$2'"; fi
}
# expect_has LINE WORD... - COMPREPLY for LINE holds each WORD.
expect_has() {
    local line=$1 got w
    shift
    got=" $(comp "$line") "
    for w in "$@"; do
        if [[ $got == *" $w "* ]]; then ok "'$line' offers $w"; else fail "'$line' lacks $w (got:$got)"; fi
    done
}

t=$(complete -p mlm-ctl 2>/dev/null)
if [ "$t" = "complete -F _mlm_ctl mlm-ctl" ]; then ok "registered for mlm-ctl"; else fail "complete -p mlm-ctl: '$t'"; fi

expect "mlm-ctl " "bounces check db dns held help list lists log member members reload requests stats status template templates try"
expect "mlm-ctl li" "list lists"
expect "mlm-ctl st" "stats status"
expect "mlm-ctl -" "-C -V -h"
expect "mlm-ctl -C /etc/mlm/mlm.conf me" "member members"
expect "mlm-ctl list " "create delete set show"
expect "mlm-ctl member " "add import remove set"
expect "mlm-ctl stats --" "--help --json --prometheus"
expect "mlm-ctl list create x@lists.example --posting " "announce members moderated open"
expect "mlm-ctl list create x@lists.example --posting=mo" "moderated"
expect "mlm-ctl list create x@lists.example --posting=" "announce members moderated open"
expect "mlm-ctl list create x@lists.example --posting=open --" "--help --owner --posting --prefix"
expect "mlm-ctl list create x@lists.example --" "--help --owner --posting --prefix"
expect "mlm-ctl member add dev@lists.example a@example.org --role " "member moderator owner"
expect "mlm-ctl held dev@lists.example --state " "approved discarded pending rejected"

# List addresses from "mlm-ctl lists", with the command line's -C.
expect "mlm-ctl members " "dev@lists.example ops@lists.example"
# A list name is data from the database (the daemons' user writes it):
# completing it as root must not run what it holds.
export STUB_EVIL='$(:>'"$tmp"'/ran-dollar)`:>'"$tmp"'/ran-backquote`@lists.example'
comp "mlm-ctl members " >/dev/null
unset STUB_EVIL
if [ ! -e "$tmp/ran-dollar" ] && [ ! -e "$tmp/ran-backquote" ]; then
    ok "a list name holding \$(...) and \`...\` is offered, never run"
else
    fail "completing a list name ran the command it holds"
fi
expect "mlm-ctl list show d" "dev@lists.example"
expect "mlm-ctl member add " "dev@lists.example ops@lists.example"
expect "mlm-ctl member add dev@lists.example " ""
expect "mlm-ctl held " "approve dev@lists.example discard notify ops@lists.example reject show"
rm -f "$tmp/config-seen"
expect "mlm-ctl -C /tmp/other.conf bounces o" "ops@lists.example"
t=$(cat "$tmp/config-seen" 2>/dev/null)
if [ "$t" = /tmp/other.conf ]; then ok "-C FILE passed to mlm-ctl lists"; else fail "-C FILE not passed on (got '$t')"; fi
expect "mlm-ctl bounces p" "parse"
expect "mlm-ctl bounces dev@lists.example --m" "--members"
expect "mlm-ctl bounces parse --j" "--json"

# List settings and their values.
expect_has "mlm-ctl list set dev@lists.example " posting nonmember_action \
    subject_prefix footer max_message_size early_reject hold_mode emergency
expect "mlm-ctl list set dev@lists.example non" "nonmember_action"
expect "mlm-ctl list set dev@lists.example nonmember_action " "accept discard hold reject"
expect "mlm-ctl list set dev@lists.example hold_mode " "defer queue"
expect "mlm-ctl list set dev@lists.example footer " ""
expect "mlm-ctl member set dev@lists.example a@example.org " "delivery moderated name not-me-too"
expect "mlm-ctl member set dev@lists.example a@example.org delivery " "disabled enabled"
expect "mlm-ctl help " "bounces check db dns held list lists log member members reload requests stats status template templates try"
expect "mlm-ctl help held " "approve discard notify reject show"
expect "mlm-ctl help requests " "approve reject"
expect "mlm-ctl dns " "check dkim-record"
expect "mlm-ctl db " "copy migrate"
expect "mlm-ctl help dns " "check dkim-record"
expect "mlm-ctl requests " "approve dev@lists.example ops@lists.example reject"
expect "mlm-ctl requests dev@lists.example --" "--help --json --state"
expect "mlm-ctl requests approve 3 --" "--by --help"
expect "mlm-ctl template " "reset set show"
expect "mlm-ctl help template " "reset set show"
expect "mlm-ctl templates " "dev@lists.example ops@lists.example"
expect "mlm-ctl template set " "dev@lists.example ops@lists.example"
expect "mlm-ctl template show dev@lists.example " "help welcome"
expect "mlm-ctl template show dev@lists.example w" "welcome"
expect "mlm-ctl template show dev@lists.example welcome --" "--help --shipped"
expect "mlm-ctl list set dev@lists.example subscription_policy " "confirm confirm_then_moderate moderate open"

# Files: check takes a .lua policy, try a message.
mkdir "$tmp/files"
touch "$tmp/files/policy.lua" "$tmp/files/post.eml"
expect "mlm-ctl check $tmp/files/" "$tmp/files/policy.lua"
expect "mlm-ctl try --from a@example.org $tmp/files/p" "$tmp/files/policy.lua $tmp/files/post.eml"
touch "$tmp/files/mlm.private"
expect "mlm-ctl dns dkim-record mlm lists.example $tmp/files/m" "$tmp/files/mlm.private"
expect "mlm-ctl dns dkim-record mlm " ""

# The script's copy of the settings is db/db_lists.c's list.
src=$top_srcdir/db/db_lists.c
# shellcheck disable=SC2154 # set by completion/mlm-ctl
if [ -f "$src" ]; then
    want=$(awk '/list_settings\[\] = \{/ { on = 1; next } on && /\{NULL/ { exit }
                on && match($0, /\{"[a-z_]+", SET_[A-Z]+, "[^"]*", (NULL|"[^"]*")/) {
                    s = substr($0, RSTART + 1, RLENGTH - 1); gsub(/"/, "", s)
                    split(s, f, /, */); print f[1], (f[4] == "NULL" ? "-" : f[4]) }' "$src")
    if [ -n "$want" ] && [ "$want" = "$_mlm_ctl_static_settings" ]; then
        ok "built-in settings match db/db_lists.c"
    else
        fail "built-in settings differ from db/db_lists.c:"
        diff <(echo "$want") <(echo "$_mlm_ctl_static_settings")
    fi
fi
# ... and "help list set" as parsed, when mlm-ctl is built.
if [ -x "$real_ctl" ]; then
    _mlm_ctl_prog=$real_ctl
    _mlm_ctl_cfg=()
    got=$(_mlm_ctl_settings)
    if [ "$got" = "$_mlm_ctl_static_settings" ]; then
        ok "mlm-ctl help list set parses to the same settings"
    else
        fail "mlm-ctl help list set parses differently:"
        diff <(echo "$got") <(echo "$_mlm_ctl_static_settings")
    fi
fi

# The built-in command table is the built mlm-ctl's.
if [ -x "$real_ctl" ]; then
    table=$("$real_ctl" help --complete)
    if [ -n "$table" ] && [ "$table" = "$(awk -F '\t' 'NF == 3' <<<"$_mlm_ctl_static_table")" ]; then
        ok "the built-in command table is mlm-ctl help --complete"
    else
        fail "the built-in command table differs from mlm-ctl help --complete:"
        diff <(echo "$table") <(echo "$_mlm_ctl_static_table")
    fi
else
    table=$(awk -F '\t' 'NF == 3' <<<"$_mlm_ctl_static_table")
fi
# Every row of the table completes as the table says: its first word among
# the commands, its second among its group's, its options (and --help)
# after it, and the fixed values of each option.
rows=0 bad=0
tab_check() { # LINE WANTED
    local got
    got=$(comp "$1")
    [ "$got" = "$2" ] && return 0
    bad=$((bad + 1))
    echo "# '$1': got '$got', want '$2'"
}
words_of() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
all_cmds=$( (cut -f1 <<<"$table" | cut -d' ' -f1; echo help) | words_of)
tab_check "mlm-ctl " "$all_cmds"
while IFS= read -r row; do
    words=$(cut -f1 <<<"$row") argnames=$(cut -f2 <<<"$row") options=$(cut -f3 <<<"$row")
    rows=$((rows + 1))
    first=${words%% *}
    if [ "$words" != "$first" ]; then
        grep -q " ${words#* } " <<<" $(comp "mlm-ctl $first ") " ||
            { bad=$((bad + 1)); echo "# 'mlm-ctl $first ' lacks ${words#* }"; }
    fi
    # past the arguments, so the cursor is on an option
    line="mlm-ctl $words"
    for a in $argnames; do line+=" x"; done
    tab_check "$line --" "$( (sed 's/=[^ ]*//g' <<<"$options"; echo --help) | words_of)"
    for o in $options; do
        case $o in
        *=*"|"*) tab_check "$line ${o%%=*} " "$(tr '|' ' ' <<<"${o#*=}" | words_of)" ;;
        esac
    done
done <<<"$table"
if [ "$rows" -gt 20 ] && [ "$bad" -eq 0 ]; then
    ok "all $rows rows of the command table complete as it says"
else
    fail "$bad completions of $rows table rows differ from the table"
fi
# A table mlm-ctl gives at completion time wins over the built-in copy.
STUB_TABLE=$(printf '%s\n%s\t%s\t%s' "$table" frob LIST '--zap --level=low|high')
export STUB_TABLE
expect "mlm-ctl fr" "frob"
expect "mlm-ctl frob dev@lists.example --" "--help --level --zap"
expect "mlm-ctl frob dev@lists.example --level " "high low"
expect "mlm-ctl frob " "dev@lists.example ops@lists.example"
unset STUB_TABLE

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
