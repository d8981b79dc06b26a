#!/usr/bin/env bash
# tests/doc/man.sh - the documentation: manual pages that format without a
# warning, and that document what the code has.
#
#   * every page of doc/ formats with "man --warnings" (and groff -ww)
#     without a word on standard error;
#   * every key of common/config.c's key table is in mlm.conf(5) and in
#     examples/mlm.conf, and examples/mlm.conf with every line uncommented
#     is a valid configuration;
#   * every mlm-ctl command of the contract (the "mlm-ctl commands" block
#     of doc/ARCHITECTURE.md) and of ctl/mlm-ctl.c's command table is in
#     mlm-ctl(8);
#   * every list setting of db/db_lists.c is in mlm-lua(7) and in
#     mlm-ctl(8);
#   * every Lua function and field the bindings in lua/*.c register is in
#     mlm-lua(7);
#   * every example policy loads (mlm-ctl check), when mlm-ctl is built;
#   * doc/ARCHITECTURE.md's source map names every source file of the
#     programs, and doc/PROTOCOL.md every message type of common/proto.h
#     and every control verb of multiplexor/control.c.
#
# Everything read lives in the source or build tree. One "ok" or "FAIL"
# line per check; exit 0 only when all pass, 77 (skip) without man(1).
# Environment: top_srcdir, top_builddir (set by make check).
set -u
export LC_ALL=C.UTF-8 MANWIDTH=80

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

if ! command -v man >/dev/null 2>&1; then
    echo "skip: man(1) is not installed"
    exit 77
fi

tmp=$(mktemp -d /tmp/mlm-man-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

ok() { checks=$((checks + 1)); echo "ok: $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $*"; }

pages="mlmd.8 mlm-multiplexor.8 mlm-worker.8 mlm-ctl.8 mlm.conf.5 mlm-lua.7"

# The page as built (doc/Makefile fills in the paths), else made here from
# its source with Debian's paths.
page_file() {
    local page=$1
    if [ -f "$top_builddir/doc/$page" ]; then
        echo "$top_builddir/doc/$page"
        return
    fi
    if [ -f "$top_builddir/doc/Makefile" ] &&
        make -s -C "$top_builddir/doc" "$page" >/dev/null 2>&1 &&
        [ -f "$top_builddir/doc/$page" ]; then
        echo "$top_builddir/doc/$page"
        return
    fi
    sed -e 's|@sysconfdir@|/etc|g' -e 's|@sbindir@|/usr/sbin|g' \
        -e 's|@bindir@|/usr/bin|g' -e 's|@pkgdatadir@|/usr/share/mlm|g' \
        -e 's|@pkglibexecdir@|/usr/lib/mlm|g' \
        -e 's|@docdir@|/usr/share/doc/mlm|g' -e 's|@VERSION@|0|g' \
        "$top_srcdir/doc/$page.in" >"$tmp/$page"
    echo "$tmp/$page"
}

# The page as text, every run of blanks and line breaks made one space
# (no hyphenation, no justification), for the content checks below.
page_text() {
    man --nh --nj -l "$(page_file "$1")" 2>/dev/null | tr -s ' \t\n' '   '
}

# --- 1. the pages format without warnings ----------------------------------

for page in $pages; do
    src=$top_srcdir/doc/$page.in
    if [ ! -f "$src" ]; then
        fail "$page: $src is missing"
        continue
    fi
    file=$(page_file "$page")
    errors=$(man --warnings -l "$file" 2>&1 >/dev/null)
    if [ -n "$errors" ]; then
        fail "$page: man --warnings says:"
        printf '%s\n' "$errors" | sed 's/^/    /'
    else
        ok "$page: man --warnings is silent"
    fi
    if command -v groff >/dev/null 2>&1; then
        errors=$(groff -man -ww -z "$file" 2>&1)
        if [ -n "$errors" ]; then
            fail "$page: groff -man -ww says:"
            printf '%s\n' "$errors" | sed 's/^/    /'
        else
            ok "$page: groff -man -ww is silent"
        fi
    fi
    if [ -z "$(page_text "$page")" ]; then
        fail "$page: formats to nothing"
    fi
done

# Is every word of a list in a text? $1: what, $2: the text, rest: words.
all_in() {
    local what=$1 text=$2 missing=()
    shift 2
    local word
    for word in "$@"; do
        case " $text " in
        *[!a-zA-Z0-9_-]"$word"[!a-zA-Z0-9_]*) ;;
        *) missing+=("$word") ;;
        esac
    done
    if [ $# -eq 0 ]; then
        fail "$what: found nothing to check (has the source changed?)"
    elif [ ${#missing[@]} -gt 0 ]; then
        fail "$what: missing ${missing[*]}"
    else
        ok "$what ($# checked)"
    fi
}

# --- 2. configuration keys -------------------------------------------------

mapfile -t keys < <(sed -n 's/^[[:space:]]*{"\([a-z_]*\)", KEY_.*/\1/p' \
    "$top_srcdir/common/config.c")
all_in "mlm.conf(5) documents every key of common/config.c" \
    "$(page_text mlm.conf.5)" "${keys[@]}"
all_in "examples/mlm.conf shows every key" \
    "$(tr -s ' \t\n' '   ' <"$top_srcdir/examples/mlm.conf")" "${keys[@]}"

# --- 3. mlm-ctl commands ---------------------------------------------------

ctl_text=$(page_text mlm-ctl.8)

# The command words of the contract's mlm-ctl block (the fenced block of
# the "mlm-ctl commands" section): "mlm-ctl list show|delete ADDRESS" gives
# "list show" and "list delete".
contract_commands() {
    awk '
    /^#/ && !inblock { insection = ($0 ~ /^#+ mlm-ctl commands/) }
    /^```/ { inblock = !inblock; next }
    insection && inblock && /^mlm-ctl / {
        n = split($0, segs, ";")
        for (s = 1; s <= n; s++) {
            seg = segs[s]
            sub(/^[ \t]*/, "", seg)
            if (seg !~ /^mlm-ctl /) continue
            sub(/[ \t][ \t]+.*/, "", seg)  # the description column
            m = split(seg, w, /[ \t]+/)
            words = 0
            for (i = 2; i <= m && i <= 3 && w[i] ~ /^[a-z][a-z|]*$/; i++)
                word[++words] = w[i]
            if (words == 0) continue
            split(word[1], a, "|")
            for (x in a) {
                if (words == 1) { print a[x]; continue }
                split(word[2], b, "|")
                for (y in b) print a[x] " " b[y]
            }
        }
    }' "$1" | sort -u
}

architecture=$top_srcdir/doc/ARCHITECTURE.md
cmds=()
[ -f "$architecture" ] && mapfile -t cmds < <(contract_commands "$architecture")
missing=()
for cmd in "${cmds[@]}"; do
    case " $ctl_text " in
    *" $cmd "* | *" $cmd,"* | *" $cmd."*) ;;
    *) missing+=("'$cmd'") ;;
    esac
done
if [ ${#cmds[@]} -eq 0 ]; then
    fail "mlm-ctl(8): no contract commands found in doc/ARCHITECTURE.md"
elif [ ${#missing[@]} -gt 0 ]; then
    fail "mlm-ctl(8) documents every contract command of doc/ARCHITECTURE.md: missing ${missing[*]}"
else
    ok "mlm-ctl(8) documents every contract command of doc/ARCHITECTURE.md (${#cmds[@]} checked)"
fi

mapfile -t table < <(sed -n \
    -e 's/^[[:space:]]*{"\([a-z]*\)", NULL, cmd_.*/\1/p' \
    -e 's/^[[:space:]]*{"\([a-z]*\)", "\([a-z]*\)", cmd_.*/\1 \2/p' \
    "$top_srcdir/ctl/mlm-ctl.c")
missing=()
for cmd in "${table[@]}"; do
    case " $ctl_text " in
    *" $cmd "*) ;;
    *) missing+=("'$cmd'") ;;
    esac
done
if [ ${#table[@]} -eq 0 ]; then
    fail "mlm-ctl(8): no command table found in ctl/mlm-ctl.c"
elif [ ${#missing[@]} -gt 0 ]; then
    fail "mlm-ctl(8) documents every command of ctl/mlm-ctl.c: missing ${missing[*]}"
else
    ok "mlm-ctl(8) documents every command of ctl/mlm-ctl.c (${#table[@]} checked)"
fi

# --- 4. list settings ------------------------------------------------------

mapfile -t settings < <(sed -n 's/^[[:space:]]*{"\([a-z_]*\)", SET_.*/\1/p' \
    "$top_srcdir/db/db_lists.c")
lua_text=$(page_text mlm-lua.7)
all_in "mlm-lua(7) documents every list setting of db/db_lists.c" \
    "$lua_text" "${settings[@]}"
all_in "mlm-ctl(8) documents every list setting of db/db_lists.c" \
    "$ctl_text" "${settings[@]}"

# --- 5. the Lua API --------------------------------------------------------

# Functions registered with luaL_Reg tables and lua_setfield, and the
# fields the __index functions answer.
mapfile -t api < <(cat "$top_srcdir"/lua/mlmlib.c "$top_srcdir"/lua/ctx.c \
    "$top_srcdir"/lua/message.c "$top_srcdir"/lua/lists.c \
    "$top_srcdir"/lua/sendmail.c | sed -n \
    -e 's/.*{"\([a-z_]*\)", l_[a-z_]*}.*/\1/p' \
    -e 's/.*strcmp(key, "\([a-z_]*\)").*/\1/p' \
    -e 's/.*lua_setfield(L, module_idx, "\([a-z_]*\)").*/\1/p' | sort -u)
all_in "mlm-lua(7) documents every Lua function and field of lua/*.c" \
    "$lua_text" "${api[@]}"

# --- 6. the developer documents --------------------------------------------

# Every source file of the programs and of their libraries, by its path
# from the top of the tree, is named in the source map.
sources=()
for f in "$top_srcdir"/common/*.[ch] "$top_srcdir"/mlmd/*.[ch] \
    "$top_srcdir"/multiplexor/*.[ch] "$top_srcdir"/ctl/*.[ch] \
    "$top_srcdir"/lua/*.[ch] "$top_srcdir"/lua/*.lua "$top_srcdir"/lua/lib/*.lua; do
    [ -f "$f" ] && sources+=("${f#"$top_srcdir"/}")
done
arch_text=$(tr -s ' \t\n' '   ' <"$architecture" 2>/dev/null)
missing=()
for f in "${sources[@]}"; do
    case " $arch_text " in
    *"\`$f\`"*) ;;
    *) missing+=("$f") ;;
    esac
done
if [ ${#sources[@]} -eq 0 ]; then
    fail "doc/ARCHITECTURE.md: found no source files to check"
elif [ ${#missing[@]} -gt 0 ]; then
    fail "doc/ARCHITECTURE.md's source map names every source file: missing ${missing[*]}"
else
    ok "doc/ARCHITECTURE.md's source map names every source file (${#sources[@]} checked)"
fi

# Every message type of the request protocol (MSG_HELLO is HELLO there),
# every control verb and stats format (the name tables of common/proto.c)
# and every message type of the fork server's channel.
mapfile -t msg_types < <(sed -n '/^enum mlm_msg_type/,/^};/s/^[[:space:]]*MSG_\([A-Z_]*\).*/\1/p' \
    "$top_srcdir/common/proto.h")
mapfile -t verbs < <(sed -n '/^static const char \*const ctl_verb_names/,/^};/s/.*= "\([a-z_]*\)".*/\1/p' \
    "$top_srcdir/common/proto.c")
mapfile -t formats < <(sed -n '/^static const char \*const stats_format_names/,/^};/s/.*= "\([a-z_]*\)".*/\1/p' \
    "$top_srcdir/common/proto.c")
mapfile -t zy_types < <(sed -n '/^enum zy_type/,/^};/s/^[[:space:]]*\(ZY_[A-Z_]*\).*/\1/p' \
    "$top_srcdir/common/zygote_proto.h")
protocol_text=$(tr -s ' \t\n' '   ' <"$top_srcdir/doc/PROTOCOL.md" 2>/dev/null)
all_in "doc/PROTOCOL.md names every message type of common/proto.h" \
    "$protocol_text" "${msg_types[@]}"
if [ ${#verbs[@]} -ge 3 ] && [ ${#formats[@]} -ge 3 ]; then
    all_in "doc/PROTOCOL.md names every control verb and stats format of common/proto.c" \
        "$protocol_text" "${verbs[@]}" "${formats[@]}"
else
    fail "found no control verbs or stats formats in common/proto.c"
fi
all_in "doc/PROTOCOL.md names every fork server message of common/zygote_proto.h" \
    "$protocol_text" "${zy_types[@]}"

# --- 7. the examples -------------------------------------------------------

ctl=$top_builddir/ctl/mlm-ctl
if [ -x "$ctl" ]; then
    conf=$tmp/mlm.conf
    {
        echo "lua_path = $top_srcdir/lua/lib"
        echo "database = $tmp/x.db"
        echo "user ="
        echo "sendmail = /bin/false"
    } >"$conf"
    for policy in "$top_srcdir"/examples/policies/*.lua; do
        name=examples/policies/$(basename "$policy")
        if out=$("$ctl" -C "$conf" check "$policy" 2>&1); then
            ok "$name loads ($(echo $out))"
        else
            fail "$name does not load: $out"
        fi
    done
    # Every key of the example, uncommented, is a valid configuration.
    sed -E 's/^#([a-z_]+ =)/\1/' "$top_srcdir/examples/mlm.conf" \
        >"$tmp/example.conf"
    printf 'database = %s\nuser =\n' "$tmp/y.db" >>"$tmp/example.conf"
    echo 'function filter_sender() end' >"$tmp/trivial.lua"
    if out=$("$ctl" -C "$tmp/example.conf" check "$tmp/trivial.lua" 2>&1); then
        ok "examples/mlm.conf with every key uncommented is valid"
    else
        fail "examples/mlm.conf with every key uncommented: $out"
    fi
else
    echo "skip: $ctl not built: example policies not loaded"
fi

echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
