#!/usr/bin/env bash
# tests/install/package.sh - the Debian package, built, installed, used and
# purged on this machine.
#
#   1. copies the source tree (what git tracks or would track: no build
#      outputs) into a temp dir and builds it with dpkg-buildpackage -b;
#   2. installs the .deb with apt-get and checks what the package put in
#      place: programs, conffiles, man pages (man --warnings), units, the
#      mlm system user, /var/lib/mlm, /var/spool/mlm and /run/mlm;
#   3. "upgrades" to a repacked copy whose policy.lua differs, after the
#      administrator edited mlm.conf and policy.lua: both edits stay;
#   4. runs the installed /usr/sbin/mlm-multiplexor and /usr/sbin/mlmd (as
#      user mlm, the default paths of /etc/mlm/mlm.conf, only the sockets
#      moved to a temp dir) behind a private Postfix: creates a list with
#      /usr/bin/mlm-ctl, sends a post that is accepted and expanded and one
#      that is refused;
#   5. purges the package: nothing of it is left on disk or running.
#
# Exit 77 (skip) unless root with dpkg-buildpackage, debhelper and the
# private Postfix harness at hand, when an mlm package is installed already
# (the test never touches an administrator's mlm), or with
# MLM_PACKAGE_TEST=no (e.g. for a second pass of the suite on a sanitizer
# build, which this test would not use). Runs in about a minute and a half,
# most of it the build. KEEP_TMP=1 keeps the temp dir.
# Environment: top_srcdir (set by make check).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
PATH=$PATH:/usr/sbin:/sbin

skip() { echo "skip: $*"; exit 77; }
[ "${MLM_PACKAGE_TEST:-yes}" != no ] || skip "MLM_PACKAGE_TEST=no"
[ "$(id -u)" -eq 0 ] || skip "must run as root (installs a package)"
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage is not installed (dpkg-dev)"
command -v dh >/dev/null || skip "debhelper is not installed"
command -v apt-get >/dev/null || skip "apt-get is not available"
[ -f "$top_srcdir/debian/control" ] || skip "no debian/ in $top_srcdir"
st=$(dpkg-query -W -f='${db:Status-Status}' mlm 2>/dev/null)
case $st in
"" | not-installed) ;;
*) skip "an mlm package is on this machine ($st): not touching it" ;;
esac

# shellcheck source=../lib/postfix.sh
. "$top_srcdir/tests/lib/postfix.sh"
# shellcheck source=../lib/mlm.sh
. "$top_srcdir/tests/lib/mlm.sh"
pf_available || exit 77

# The installed programs, for mlm.sh's functions.
# shellcheck disable=SC2034
MLMD_BIN=/usr/sbin/mlmd
MUX_BIN=/usr/sbin/mlm-multiplexor
WORKER_BIN=/usr/lib/mlm/mlm-worker
CTL_BIN=/usr/bin/mlm-ctl

work=$(mktemp -d /tmp/mlm-package.XXXXXX)
installed=0
user_existed=0
getent passwd mlm >/dev/null && user_existed=1

purge() {
    dpkg --purge mlm >>"$work/purge.log" 2>&1
}
cleanup() {
    local rc=$?
    pf_stop
    mlm_stop >/dev/null || true
    if [ "$installed" = 1 ]; then
        purge || true
    fi
    if [ "$user_existed" = 0 ] && getent passwd mlm >/dev/null; then
        userdel mlm 2>/dev/null
        groupdel mlm 2>/dev/null
    fi
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
started=$SECONDS
elapsed() { echo "# $((SECONDS - started)) s: $*"; }

# --- 1. build ------------------------------------------------------------------
src=$work/mlm
mkdir -p "$src"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
    # Tracked and untracked files, not what .gitignore names (build outputs).
    (cd "$top_srcdir" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -xf - -C "$src"
else
    # Not a git checkout: GNU tar reads the .gitignore files itself.
    tar -C "$top_srcdir" --exclude-vcs --exclude-vcs-ignores \
        --exclude=autom4te.cache --exclude=.deps -cf - . | tar -xf - -C "$src"
    mkdir -p "$src/m4"
fi
(cd "$src" && dpkg-checkbuilddeps) >"$work/builddeps.log" 2>&1 || {
    t_fail "build dependencies missing: $(cat "$work/builddeps.log")"
    t_done
    exit 1
}
version=$(cd "$src" && dpkg-parsechangelog -S Version)
upstream=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$src/configure.ac")
t_check "debian/changelog's version ($version) is configure.ac's ($upstream)" \
    test "${version%-*}" = "$upstream"

# Under make check, MAKEFLAGS carries the command line's variables (TESTS=
# this test, say) into every make of the package build: drop it.
if (cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
    DEB_BUILD_OPTIONS="parallel=$(nproc 2>/dev/null || echo 2)" \
    dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    t_ok "dpkg-buildpackage -us -uc -b"
else
    t_fail "dpkg-buildpackage failed:"
    tail -n 40 "$work/build.log"
    t_done
    exit 1
fi
deb=$(find "$work" -maxdepth 1 -name 'mlm_*.deb' | head -n1)
[ -n "$deb" ] || { t_fail "no mlm_*.deb built"; t_done; exit 1; }
grep -E '^(dpkg-shlibdeps|dh_[a-z]+): warning' "$work/build.log" &&
    t_fail "warnings while packaging (above)"
elapsed "built $(basename "$deb")"

# --- 2. install ----------------------------------------------------------------
installed=1
if apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 "$deb" >"$work/install.log" 2>&1; then
    t_ok "apt-get install ./$(basename "$deb")"
else
    t_fail "apt-get install failed:"
    tail -n 30 "$work/install.log"
    t_done
    exit 1
fi
t_check "dpkg says installed" \
    test "$(dpkg-query -W -f='${db:Status-Status}' mlm)" = installed
dpkg -L mlm >"$work/files" 2>/dev/null

for f in /usr/sbin/mlmd /usr/sbin/mlm-multiplexor /usr/bin/mlm-ctl \
    /usr/lib/mlm/mlm-worker; do
    t_check "$f is an executable" test -x "$f"
done
for f in /usr/share/mlm/lua/mlm_lists.lua /usr/share/mlm/lua/mlm_bounce.lua \
    /usr/share/mlm/lua/mlm_bounce_text.lua /usr/share/mlm/lua/mlm_bounce_digest.lua \
    /usr/share/mlm/lua/mlm_bounce_probe.lua /usr/share/mlm/lua/mlm_moderation.lua \
    /usr/share/mlm/lua/mlm_requests.lua /usr/share/mlm/lua/mlm_dmarc.lua \
    /usr/share/mlm/lua/mlm_list_bounces.lua /usr/share/mlm/lua/mlm_list_request.lua \
    /usr/share/mlm/lua/mlm_text.lua /usr/share/mlm/lua/mlm_list_common.lua \
    /usr/share/mlm/lua/mlm_templates.lua /usr/share/mlm/lua/mlm_owner_commands.lua \
    /etc/mlm/mlm.conf /etc/mlm/policy.lua \
    /usr/lib/tmpfiles.d/mlm.conf /usr/lib/sysusers.d/mlm.conf \
    /usr/share/bash-completion/completions/mlm-ctl \
    /usr/share/doc/mlm/examples/postfix-main.cf.snippet \
    /usr/share/doc/mlm/examples/opendkim.conf; do
    t_check "$f installed" test -f "$f"
done
conffiles=$(dpkg-query -W -f='${Conffiles}\n' mlm | awk 'NF { print $1 }' | sort | tr '\n' ' ')
t_check "conffiles are /etc/mlm/mlm.conf and policy.lua (got: $conffiles)" \
    test "$conffiles" = "/etc/mlm/mlm.conf /etc/mlm/policy.lua "
for u in mlm-multiplexor.service mlmd.service; do
    unit=$(grep -E "/systemd/system/$u\$" "$work/files" | head -n1)
    t_check "unit $u installed" test -n "$unit" -a -f "$unit"
    t_check "$u: ExecStart is the installed program" \
        grep -Eq '^ExecStart=/usr/sbin/(mlmd|mlm-multiplexor) -f$' "$unit"
    t_check "$u enabled" test -L "/etc/systemd/system/multi-user.target.wants/$u"
done

# The user and the directories.
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd mlm)
t_check "user mlm exists" test -n "${uid:-}"
t_check "mlm is a system user (uid $uid)" test "${uid:-1000}" -lt 1000
t_check "mlm's shell is nologin ($shell)" test "$shell" = /usr/sbin/nologin
t_check "mlm's home is /var/lib/mlm ($home)" test "$home" = /var/lib/mlm
t_check "group mlm is mlm's group" test "$(getent group mlm | cut -d: -f3)" = "$gid"
t_check "/var/lib/mlm is mlm:mlm 0750 ($(stat -c '%U:%G %a' /var/lib/mlm 2>&1))" \
    test "$(stat -c '%U:%G %a' /var/lib/mlm 2>/dev/null)" = "mlm:mlm 750"
t_check "/var/spool/mlm is mlm:mlm 0700 ($(stat -c '%U:%G %a' /var/spool/mlm 2>&1))" \
    test "$(stat -c '%U:%G %a' /var/spool/mlm 2>/dev/null)" = "mlm:mlm 700"
t_check "tmpfiles.d has /run/mlm" grep -Eq '^d +/run/mlm +0750 +root +mlm' /usr/lib/tmpfiles.d/mlm.conf
if command -v systemd-tmpfiles >/dev/null; then
    t_check "/run/mlm is root:mlm 0750 ($(stat -c '%U:%G %a' /run/mlm 2>&1))" \
        test "$(stat -c '%U:%G %a' /run/mlm 2>/dev/null)" = "root:mlm 750"
fi
if [ -d /run/systemd/system ]; then
    # systemd runs here: the package started its units.
    t_check "systemd started mlm-multiplexor and mlmd" \
        systemctl is-active -q mlm-multiplexor.service mlmd.service
fi

# Help, version, man pages, the shipped policy.
# help: exit 0, on standard output
for c in "/usr/bin/mlm-ctl --help" "/usr/bin/mlm-ctl -h" "/usr/sbin/mlmd -h" \
    "/usr/sbin/mlmd --help" "/usr/sbin/mlm-multiplexor -h" \
    "/usr/sbin/mlm-multiplexor --help"; do
    p=${c%% *}
    out=$($c 2>/dev/null)
    rc=$?
    t_check "$c exits 0 (rc $rc)" test "$rc" = 0
    t_check "$c prints its usage" grep -q "^usage: ${p##*/} " <<<"$out"
done
for p in /usr/sbin/mlmd /usr/sbin/mlm-multiplexor; do
    out=$("$p" -h 2>&1)
    t_check "$p -h names /etc/mlm/mlm.conf" grep -q '(default /etc/mlm/mlm.conf)' <<<"$out"
    t_check "$p -V says $upstream" grep -qw "$upstream" <<<"$("$p" -V 2>&1)"
done
t_check "mlm-ctl -V says $upstream" grep -qw "$upstream" <<<"$(/usr/bin/mlm-ctl -V 2>&1)"
out=$(/usr/bin/mlm-ctl check /etc/mlm/policy.lua 2>&1)
rc=$?
t_check "mlm-ctl check /etc/mlm/policy.lua with /etc/mlm/mlm.conf (rc $rc)" test "$rc" = 0
[ "$rc" = 0 ] || echo "$out"
for page in man8/mlmd.8 man8/mlm-multiplexor.8 man8/mlm-worker.8 man8/mlm-ctl.8 \
    man5/mlm.conf.5 man7/mlm-lua.7; do
    f=$(find /usr/share/man/"${page%/*}" -name "${page#*/}*" 2>/dev/null | head -n1)
    if [ -z "$f" ]; then
        t_fail "man page $page not installed"
        continue
    fi
    warn=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
    t_check "man --warnings -l $f: ${warn:-no warnings}" test -z "$warn"
    t_check "$f has no unfilled @placeholder@" \
        bash -c "! zcat -f '$f' | grep -Eq '@[a-z_]+@'"
done
t_check "man finds mlm.conf(5)" test "$(man -w 5 mlm.conf 2>/dev/null)" = /usr/share/man/man5/mlm.conf.5.gz
t_check "mlm-worker(8) names /usr/lib/mlm/mlm-worker" \
    bash -c "zcat -f /usr/share/man/man8/mlm-worker.8* | grep -Eq '/usr/lib/mlm/mlm(\\\\)?-worker'"
t_check "the completion loads" \
    bash -c '. /usr/share/bash-completion/completions/mlm-ctl && complete -p mlm-ctl >/dev/null'
elapsed "installed and checked"

# --- 3. the administrator's files survive an upgrade ---------------------------
echo "# edited by the administrator" >>/etc/mlm/mlm.conf
echo "-- edited by the administrator" >>/etc/mlm/policy.lua
rm -rf "$work/v2"
dpkg-deb -R "$deb" "$work/v2"
sed -i "s/^Version: .*/Version: ${version}+test1/" "$work/v2/DEBIAN/control"
echo "-- changed in the new version" >>"$work/v2/etc/mlm/policy.lua"
(cd "$work/v2" && md5sum etc/mlm/policy.lua) >"$work/md5"
sed -i "/ etc\/mlm\/policy.lua\$/d" "$work/v2/DEBIAN/md5sums"
cat "$work/md5" >>"$work/v2/DEBIAN/md5sums"
dpkg-deb -b "$work/v2" "$work/mlm-v2.deb" >/dev/null
if dpkg -i --force-confdef --force-confold "$work/mlm-v2.deb" >"$work/upgrade.log" 2>&1; then
    t_ok "upgrade to ${version}+test1"
else
    t_fail "upgrade failed:"
    tail -n 20 "$work/upgrade.log"
fi
t_check "upgrade kept the administrator's mlm.conf" grep -q 'edited by the administrator' /etc/mlm/mlm.conf
t_check "upgrade kept the administrator's policy.lua" grep -q 'edited by the administrator' /etc/mlm/policy.lua
t_check "... and put the new one beside it (policy.lua.dpkg-dist)" \
    grep -q 'changed in the new version' /etc/mlm/policy.lua.dpkg-dist
rm -f /etc/mlm/policy.lua.dpkg-dist
t_check "upgrade left /var/lib/mlm alone" test "$(stat -c '%U:%G %a' /var/lib/mlm 2>/dev/null)" = "mlm:mlm 750"

# --- 4. the installed daemons behind a private Postfix -----------------------
MLM_DIR=$work/run
mkdir -p "$MLM_DIR"
chmod 755 "$work" "$MLM_DIR"
MLM_CONF=$MLM_DIR/mlm.conf
MLM_PORT=$(mlm_free_port)
MLM_MILTER_INET=inet:$MLM_PORT@127.0.0.1
export MLM_DIR MLM_CONF MLM_PORT MLM_MILTER_INET
{
    cat /etc/mlm/mlm.conf
    echo "# the test's changes: sockets in a temp dir, a small pool"
    echo "milter_socket = $MLM_MILTER_INET"
    echo "mx_socket = $MLM_DIR/mx.sock"
    echo "ctl_socket = $MLM_DIR/ctl.sock"
    echo "user = mlm"
    echo "workers_min = 2"
    echo "workers_max = 4"
} >"$MLM_CONF"
chmod 644 "$MLM_CONF"
if ! mlm_start_mux || ! mlm_start_inet; then
    t_fail "the installed daemons did not start"
    mlm_log
    t_done
    exit 1
fi
t_ok "installed mlm-multiplexor and mlmd started"
mux_has_child() { [ -n "$(mlm_children "$MLM_MUX_PID")" ]; }
mlm_wait_until 10 mux_has_child
# A child of the multiplexor (without procps: from /proc/PID/stat).
worker=
for f in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$f" || continue
    read -r _ ppid _ <<<"${line##*) }"
    if [ "$ppid" = "$MLM_MUX_PID" ]; then
        worker=${f#/proc/}
        worker=${worker%/stat}
        break
    fi
done
t_check "the multiplexor has a worker" test -n "$worker"
for p in "$MLM_MUX_PID:/usr/sbin/mlm-multiplexor" "$MLM_MLMD_INET_PID:/usr/sbin/mlmd" \
    "$worker:/usr/lib/mlm/mlm-worker"; do
    pid=${p%%:*} exe=${p#*:}
    t_check "$exe (pid $pid) runs" test "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe"
    t_check "$exe runs as mlm, not root" \
        test "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status" 2>/dev/null)" = "$uid $uid $uid $uid"
done
out=$(mlm_ctl status 2>&1)
t_check "mlm-ctl status shows the worker" grep -Eq "\\b$worker\\b.*(idle|busy)" <<<"$out"

PF_MILTER="inet:127.0.0.1:$MLM_PORT" pf_setup || { t_fail "pf_setup"; t_done; exit 1; }
pf_start || { t_fail "pf_start"; t_done; exit 1; }

L=demo@lists.example
ctl() { # DESCRIPTION ARGS...: an mlm-ctl command that must succeed
    local what=$1 out
    shift
    if out=$(mlm_ctl "$@" 2>&1); then t_ok "$what"; else t_fail "$what: $out"; fi
}
ctl "mlm-ctl list create" list create $L --owner owner@example.org --prefix "[demo]"
ctl "mlm-ctl member add alice" member add $L alice@example.org
ctl "mlm-ctl member add bob" member add $L bob@example.org
t_check "the database belongs to mlm" test "$(stat -c %U /var/lib/mlm/mlm.db)" = mlm
t_check "mlm-ctl lists shows the list" grep -q "^$L " <<<"$(mlm_ctl lists)"

pf_send --from alice@example.org --to $L --header "Subject: hello" --body "first post"
t_check "member post accepted (250)" pf_replied '^250 .*queued'
# smtp-sink writes one file a transaction: Postfix sends one, to both.
if pf_wait_deliveries 1 30 && pf_wait_queue_empty 30; then
    rcpts=$(for f in $(pf_sink_files); do pf_rcpts "$f"; done | sort | tr '\n' ' ')
    t_check "expanded to the members (got: $rcpts)" \
        test "$rcpts" = "alice@example.org bob@example.org "
    f=$(pf_sink_files | head -n1)
    t_check "envelope sender demo-bounces@" test "$(pf_sender "$f")" = "demo-bounces@lists.example"
    t_check "subject prefixed" test "$(pf_header "$f" Subject)" = "[demo] hello"
    t_check "List-Id" test "$(pf_header "$f" List-Id)" = "<demo.lists.example>"
else
    t_fail "the post was not delivered"
    mlm_log
fi
pf_send --from stranger@example.net --to $L --header "Subject: spam" --body "x"
t_check "non-member post refused (550 5.7.1)" pf_replied '^550 5\.7\.1 '
pf_send --from alice@example.org --to nosuch@lists.example
t_check "unknown list refused (550 5.1.1)" pf_replied '^550 5\.1\.1 '
t_check "mlmd logged one line per decision" \
    grep -Eq 'action=reject.*(550|5\.7\.1)' "$MLM_DIR/mlmd-inet.log"
pf_stop
mlm_stop || t_fail "mlm_stop found problems"
t_check "/var/spool/mlm holds no message (mlmd's files gone, the outbox empty)" \
    test -z "$(find /var/spool/mlm -mindepth 1 ! -type d)"
elapsed "smoke test done"

# --- 5. purge ------------------------------------------------------------------
if purge; then t_ok "dpkg --purge mlm"; else
    t_fail "dpkg --purge mlm failed:"
    tail -n 20 "$work/purge.log"
fi
installed=0
t_check "dpkg knows no mlm" \
    test "$(dpkg-query -W -f='${db:Status-Status}' mlm 2>/dev/null)" != installed
left=$(while read -r f; do
    if { [ -f "$f" ] || [ -L "$f" ]; } && [ ! -d "$f" ]; then echo "$f"; fi
done <"$work/files")
t_check "no file of the package is left: ${left:-none}" test -z "$left"
for d in /etc/mlm /var/lib/mlm /var/spool/mlm /run/mlm; do
    t_check "$d is gone" test ! -e "$d"
done
t_check "no unit symlink is left" \
    test -z "$(find /etc/systemd/system -name 'mlm*' 2>/dev/null)"
running=
for e in /proc/[0-9]*/exe; do
    x=$(readlink "$e" 2>/dev/null) || continue
    case $x in
    /usr/sbin/mlmd* | /usr/sbin/mlm-multiplexor* | /usr/lib/mlm/* | /usr/bin/mlm-ctl*)
        running="$running ${e#/proc/}:$x"
        ;;
    esac
done
t_check "no process of the package runs:${running:- none}" test -z "$running"
elapsed "purged"
t_done
