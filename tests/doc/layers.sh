#!/usr/bin/env bash
# tests/doc/layers.sh - the files of each program's folder call each other
# one way only: drawn as a graph (file A -> file B when A's object uses a
# symbol B's object defines), a folder's files have no cycle, so they can
# be drawn as layers (doc/ARCHITECTURE.md, "Source map").
#
# The graph comes from the built objects (nm): what the linker sees, not
# what a header promises. Folders: every top-level folder of the build
# tree with object files, but tests/. One "ok" or "FAIL" line per folder,
# a FAIL naming the files of one cycle and the symbols that bind them.
# Exit 0 only when no folder has a cycle but the known ones below, 77
# (skip) without nm, tsort or objects. Environment: top_builddir (set by
# make check).
set -u
export LC_ALL=C

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"

for tool in nm tsort; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "skip: $tool is not installed"
        exit 77
    fi
done

# Cycles not yet cut, as the files in them: a folder passes while its
# cycles stay within these files; a file that joins fails. Shrink the list
# as they are cut, never grow it.
declare -A known=()

tmp=$(mktemp -d /tmp/mlm-layers-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

ok() { checks=$((checks + 1)); echo "ok: $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $*"; }

# The source file an object was built from: automake names an object of a
# target with its own flags TARGET-FILE.o (libmlmlua_a-ctx.o, mlm_ctl-out.o).
source_of() {
    local o=${1##*/}
    o=${o%.o}
    echo "${o#*-}.c"
}

# Print "user definer symbol" for each symbol one object of the folder
# uses and another defines.
folder_edges() {
    local dir=$1 o src
    : >"$tmp/defs"
    : >"$tmp/uses"
    for o in "$dir"/*.o; do
        src=$(source_of "$o")
        nm --defined-only -g "$o" 2>/dev/null |
            awk -v f="$src" 'NF == 3 { print $3, f }' >>"$tmp/defs"
        nm -u "$o" 2>/dev/null |
            awk -v f="$src" '{ print $NF, f }' >>"$tmp/uses"
    done
    sort -u "$tmp/defs" >"$tmp/defs.s"
    sort -u "$tmp/uses" >"$tmp/uses.s"
    # symbol user + symbol definer -> user definer symbol
    join "$tmp/uses.s" "$tmp/defs.s" |
        awk '$2 != $3 { print $2, $3, $1 }' | sort -u
}

found=0
for dir in "$top_builddir"/*/; do
    dir=${dir%/}
    name=${dir##*/}
    [ "$name" = tests ] && continue
    ls "$dir"/*.o >/dev/null 2>&1 || continue
    found=1
    folder_edges "$dir" >"$tmp/edges"
    # tsort names the files of each cycle it meets on standard error.
    awk '{ print $1, $2 }' "$tmp/edges" | sort -u |
        tsort >/dev/null 2>"$tmp/loops"
    if ! grep -q . "$tmp/loops"; then
        ok "$name: $(awk '{ print $1, $2 }' "$tmp/edges" | sort -u |
            wc -l) calls between files, no cycle"
        continue
    fi
    cycle=$(grep -v 'input contains a loop' "$tmp/loops" |
        sed 's/^tsort: //' | sort -u | tr '\n' ' ')
    allowed=" ${known[$name]:-} "
    extra=""
    for f in $cycle; do
        case $allowed in *" $f "*) ;; *) extra="$extra $f" ;; esac
    done
    if [ -z "$extra" ]; then
        ok "$name: no cycle but the known one among ${known[$name]}"
        continue
    fi
    fail "$name: the files call each other in a circle: $cycle"
    # the calls between the files of the cycle, for whoever cuts it
    for f in $cycle; do
        for g in $cycle; do
            syms=$(awk -v a="$f" -v b="$g" '$1 == a && $2 == b { print $3 }' \
                "$tmp/edges" | sort -u | head -5 | tr '\n' ' ')
            [ -n "$syms" ] && echo "    $f -> $g: $syms"
        done
    done
done

if [ "$found" -eq 0 ]; then
    echo "skip: no object files under $top_builddir"
    exit 77
fi
echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
