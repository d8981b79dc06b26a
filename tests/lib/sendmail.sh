# shellcheck shell=bash
#
# tests/lib/sendmail.sh - a private, throw-away Sendmail on 127.0.0.1 for
# end-to-end tests, the counterpart of tests/lib/postfix.sh: Debian's
# sendmail-bin and sendmail-cf packages unpacked (never installed: that
# would remove Postfix) into a temp dir, a sendmail.cf built with m4 from
# their cf files and examples/sendmail.mc.snippet, delivering everything to
# an smtp-sink that writes one file per delivered SMTP transaction.
#
# Usage (from a bash test script):
#
#   . "$(dirname "$0")/../lib/sendmail.sh"
#   sm_available || exit 77                  # not root / packages missing
#   SM_MILTER=unix:/path/milter.sock sm_setup    # optional milter
#   sm_trap                                  # sm_stop on EXIT, INT, TERM
#   sm_start
#   sm_send --from a@example.org --to list@lists.example || true
#   sm_replied '^250 '                       # grep the server's replies
#   sm_wait_deliveries 1
#   f=$(sm_sink_files | head -n1); sm_rcpts "$f"; sm_sender "$f"
#
# mlm's own mail through Sendmail's submission program (sm_mlm_sendmail):
#   sm_setup; mlm_start POLICY "$(sm_mlm_sendmail)"
#   sm_set_milter "$MLM_MILTER"; sm_start
#
# The binary runs through $SM_DIR/bin/sendmail (the unpacked libraries,
# and a host name of its own when the machine's is not qualified: Sendmail
# sleeps a minute at start otherwise). sm_queue, sm_queue_count,
# sm_wait_queue_empty and sm_flush read and run both queues.
#
# The packages: sm_fetch downloads them (apt-get download) into SM_DEBS
# (default /var/cache/mlm-tests/sendmail; .ci/run calls it); sm_available
# fails, and the tests skip, when they are not there.
#
# Everything lives in one mktemp -d directory, removed by sm_stop unless
# KEEP_TMP is set. Must run as root (Sendmail binds, reads its queue and
# changes user as root). Sendmail logs to syslog only; a test machine often
# has none, so its verdicts are read from the replies, the queue (sm_queue)
# and the sink.
#
# Environment read by sm_setup (all optional):
#   SM_MILTER         the milter socket in Sendmail's syntax, e.g.
#                     unix:/path/milter.sock or inet:8890@127.0.0.1; it
#                     replaces the socket of examples/sendmail.mc.snippet,
#                     which supplies everything else about the milter
#   SM_RELAY_DOMAINS  domains accepted for relaying (default
#                     "lists.example example.org"); the first replaces the
#                     snippet's list domain
#   SM_MC_EXTRA       extra sendmail.mc lines, applied last
#   SM_SUBMIT_MODE    DeliveryMode of the submission program (submit.cf):
#                     i (interactive, Debian's and the msp feature's
#                     default), b (background) or q (queue only)
#   SM_HOSTNAME       the MTA's name (default mta.mlm.test)
#   KEEP_TMP          if non-empty, sm_stop keeps the temp dir
#   SM_VERBOSE        if non-empty, sm_send echoes its transcript to stderr
#
# Variables set and exported by sm_setup:
#   SM_DIR        the temp dir (everything below lives in it)
#   SM_ROOT       where the packages are unpacked
#   SM_BIN        the sendmail binary (its setgid bit dropped: it runs as
#                 root here, and the loader must honour LD_LIBRARY_PATH)
#   SM_CF         the MTA's sendmail.cf (built from $SM_DIR/etc/sendmail.mc)
#   SM_SUBMIT_CF  the submission program's submit.cf (Debian's MSP: relays
#                 every message over SMTP to this MTA, so through the milter)
#   SM_QUEUE      the MTA's queue directory; SM_CLIENT_QUEUE the MSP's
#   SM_PORT       the MTA's SMTP port on 127.0.0.1
#   SINK_DIR, SINK_PORT  as in postfix.sh (the sink helpers are shared)
# Set by sm_start: SINK_PID, SM_PID.
# Set by sm_send (globals): SM_SEND_LOG, SM_SEND_OUT, SM_SEND_RC.

if [ -n "${SM_LIB_LOADED:-}" ]; then
    return 0
fi
SM_LIB_LOADED=1

# Ports, process checks and the smtp-sink file readers are postfix.sh's.
. "$(dirname "${BASH_SOURCE[0]}")/postfix.sh"

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
SM_DEBS=${SM_DEBS:-/var/cache/mlm-tests/sendmail}
SM_PACKAGES="sendmail-bin sendmail-cf libwrap0"
SM_SEND_N=0
SM_SEND_LOG=
SM_SEND_OUT=
SM_SEND_RC=

sm__err() { printf 'sendmail.sh: %s\n' "$*" >&2; }

# sm__deb NAME - print the newest cached .deb of package NAME.
sm__deb() {
    find "$SM_DEBS" -maxdepth 1 -name "${1}_*.deb" 2>/dev/null | sort -V | tail -n1
}

# sm_fetch - download the packages into SM_DEBS (apt-get download; needs
# the network and apt's lists). Returns apt-get's status.
sm_fetch() {
    mkdir -p "$SM_DEBS" || return 1
    chmod 755 "$SM_DEBS"
    # shellcheck disable=SC2086 # a list of package names
    (cd "$SM_DEBS" && apt-get download -q $SM_PACKAGES) 2>&1 |
        grep -v '^W: Download is performed unsandboxed'
    return "${PIPESTATUS[0]}"
}

# sm_available - 0 if this machine can run the harness (root, the cached
# packages, m4, dpkg-deb, smtp-sink, swaks); otherwise says why, returns 1.
sm_available() {
    local c p
    if [ "$(id -u)" != 0 ]; then
        sm__err "must run as root (private Sendmail instance)"
        return 1
    fi
    for c in m4 dpkg-deb smtp-sink swaks; do
        if ! command -v "$c" >/dev/null 2>&1; then
            sm__err "missing program: $c"
            return 1
        fi
    done
    for c in postfix mail; do
        if ! id "$c" >/dev/null 2>&1; then
            sm__err "no '$c' user (smtp-sink runs as postfix, the MSP as mail)"
            return 1
        fi
    done
    case $(hostname) in
    *.*) ;;
    *)
        if ! unshare -u true 2>/dev/null; then
            sm__err "host name $(hostname) is not qualified and unshare -u fails" \
                "(Sendmail would sleep a minute at each start)"
            return 1
        fi
        ;;
    esac
    for p in sendmail-bin sendmail-cf; do
        if [ -z "$(sm__deb "$p")" ]; then
            sm__err "no $p package in $SM_DEBS (tests/lib/sendmail.sh: sm_fetch)"
            return 1
        fi
    done
    return 0
}

# --- setup -----------------------------------------------------------------

# sm__unpack - unpack the packages into SM_ROOT, make the binary runnable.
sm__unpack() {
    local p deb
    for p in $SM_PACKAGES; do
        deb=$(sm__deb "$p")
        if [ -z "$deb" ]; then
            [ "$p" = libwrap0 ] && continue # only needed if not installed
            sm__err "no $p package in $SM_DEBS"
            return 1
        fi
        dpkg-deb -x "$deb" "$SM_ROOT" || return 1
    done
    SM_BIN=$SM_ROOT/usr/libexec/sendmail/sendmail
    # Run by root, a setgid binary would make the loader ignore
    # LD_LIBRARY_PATH (libwrap0 unpacked here), and gain nothing.
    chmod 0755 "$SM_BIN" || return 1
    SM_LIBS=$SM_ROOT/usr/lib/x86_64-linux-gnu:$SM_ROOT/lib/x86_64-linux-gnu
    SM_LIBS=$SM_LIBS:$(dirname "$(find "$SM_ROOT" -name 'libwrap.so.0' 2>/dev/null | head -n1)" 2>/dev/null)
    # One entry point for the daemon, the tests and mlm's "sendmail" key.
    # Sendmail qualifies the host's name before it reads its config, and
    # sleeps a minute when it cannot (a test machine called "vm"): run
    # it under a host name of its own, in a UTS namespace, unless the
    # machine's name is qualified already.
    cat >"$SM_DIR/bin/sendmail" <<EOF
#!/bin/sh
# The private Sendmail's binary with its unpacked libraries.
LD_LIBRARY_PATH=$SM_LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
case \$(hostname) in
*.*) exec $SM_BIN "\$@" ;;
*) exec unshare -u sh -c 'hostname ${SM_HOSTNAME:-mta.mlm.test} && exec "\$0" "\$@"' $SM_BIN "\$@" ;;
esac
EOF
    chmod 755 "$SM_DIR/bin/sendmail"
}

# sm__check - 0 if the unpacked binary runs and reads the built sendmail.cf
# (a missing library, a config it refuses). Sendmail sleeps a minute after
# some fatal errors: bounded by timeout.
sm__check() {
    local out
    out=$(timeout 20 "$SM_DIR/bin/sendmail" -C "$SM_CF" -d0.1 -bt </dev/null 2>&1)
    if ! grep -q '^Version 8\.' <<<"$out" || grep -qi 'cannot open\|unsafe\|error' <<<"$out"; then
        sm__err "the unpacked sendmail does not run with $SM_CF:"
        head -n 20 <<<"$out" >&2
        return 1
    fi
}

# sm__snippet - examples/sendmail.mc.snippet with this instance's milter
# socket and list domain.
sm__snippet() {
    local sock=${SM_MILTER:-} dom
    read -r dom _ <<<"${SM_RELAY_DOMAINS-lists.example example.org}"
    if [ -z "$sock" ]; then
        # no milter: everything of the snippet but the filter itself
        sed -e '/^INPUT_MAIL_FILTER(/d' \
            -e "s/lists\.example\.org/$dom/g" "$top_srcdir/examples/sendmail.mc.snippet"
        return
    fi
    sed -e "s|S=unix:/run/mlm/milter\.sock|S=$sock|" \
        -e "s/lists\.example\.org/$dom/g" "$top_srcdir/examples/sendmail.mc.snippet"
}

# sm__common_mc - the settings the MTA and the MSP share: no DNS, no probe
# of the interfaces, private paths, no load-average throttles (the test
# machine is busy), quick retries. Sendmail refuses files and sockets below
# a world-writable directory, and every test directory is below /tmp:
# DontBlameSendmail=TrustStickyBit accepts /tmp (sticky).
sm__common_mc() {
    cat <<EOF
include(\`$SM_CFDIR/m4/cf.m4')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`${SM_HOSTNAME:-mta.mlm.test}')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confSERVICE_SWITCH_FILE', \`$SM_DIR/etc/service.switch')dnl
define(\`confHOSTS_FILE', \`$SM_DIR/etc/hosts')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`confTO_IDENT', \`0')dnl
define(\`confTO_CONNECT', \`5s')dnl
define(\`confQUEUE_LA', \`1000')dnl
define(\`confREFUSE_LA', \`1000')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confMIN_QUEUE_AGE', \`0')dnl
define(\`confHELP_FILE', \`')dnl
define(\`confCW_FILE', \`$SM_DIR/etc/local-host-names')dnl
define(\`confDEAD_LETTER_DROP', \`$SM_DIR/dead.letter')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`confEBINDIR', \`$SM_ROOT/usr/libexec/sendmail')dnl
define(\`confDONT_BLAME_SENDMAIL', \`GroupWritableDirPathSafe,TrustStickyBit')dnl
define(\`PROCMAIL_MAILER_PATH', \`/bin/false')dnl
define(\`LOCAL_MAILER_PATH', \`/bin/false')dnl
EOF
}

# sm__write_config - write the .mc files and build the .cf files with m4.
sm__write_config() {
    local s
    printf 'hosts files\naliases files\n' >"$SM_DIR/etc/service.switch"
    printf '127.0.0.1 localhost %s\n' "${SM_HOSTNAME:-mta.mlm.test}" >"$SM_DIR/etc/hosts"
    : >"$SM_DIR/etc/local-host-names"
    sm__snippet >"$SM_DIR/etc/mlm.mc" || return 1

    # The MTA: the snippet's milter and relay domain; every address,
    # local ones included, relayed to smtp-sink, up to 1000 recipients a
    # transaction (as postfix.sh); the queue run every second so that a
    # deferred message is retried at once.
    {
        echo 'divert(-1)dnl'
        sm__common_mc
        cat <<EOF
define(\`QUEUE_DIR', \`$SM_QUEUE')dnl
define(\`STATUS_FILE', \`$SM_DIR/sendmail.st')dnl
define(\`confPID_FILE', \`$SM_DIR/sendmail.pid')dnl
undefine(\`ALIAS_FILE')dnl
define(\`confPRIVACY_FLAGS', \`authwarnings')dnl
define(\`confTO_QUEUERETURN', \`1h')dnl
define(\`confTO_QUEUEWARN', \`1h')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
define(\`SMART_HOST', \`[127.0.0.1]')dnl
define(\`MAIL_HUB', \`[127.0.0.1]')dnl
define(\`LOCAL_RELAY', \`[127.0.0.1]')dnl
define(\`SMTP_MAILER_MAXRCPTS', \`1000')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`accept_unqualified_senders')dnl
DAEMON_OPTIONS(\`Name=MTA, Family=inet, Addr=127.0.0.1, Port=$SM_PORT')dnl
EOF
        for s in ${SM_RELAY_DOMAINS-lists.example example.org}; do
            printf 'RELAY_DOMAIN(`%s'"'"')dnl\n' "$s"
        done
        echo "include(\`$SM_DIR/etc/mlm.mc')dnl"
        printf '%s\n' "${SM_MC_EXTRA:-}"
        echo 'MAILER(`local'"'"')dnl'
        echo 'MAILER(`smtp'"'"')dnl'
    } >"$SM_DIR/etc/sendmail.mc"

    # The MSP (Debian's submit.mc): the command-line submission program
    # hands every message over SMTP to this MTA, so mlm's own mail passes
    # the milter as on a Debian host. It refuses to run as root; Debian's
    # smmsp user is not created when the packages are only unpacked, so
    # it runs as mail, which owns its queue.
    {
        echo 'divert(-1)dnl'
        sm__common_mc
        cat <<EOF
define(\`MSP_QUEUE_DIR', \`$SM_CLIENT_QUEUE')dnl
define(\`STATUS_FILE', \`$SM_DIR/sm-client.st')dnl
define(\`confPID_FILE', \`$SM_DIR/sm-client.pid')dnl
define(\`confRUN_AS_USER', \`mail:mail')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SM_PORT')dnl
FEATURE(\`msp', \`[127.0.0.1]')dnl
define(\`confDELIVERY_MODE', \`${SM_SUBMIT_MODE:-i}')dnl
EOF
    } >"$SM_DIR/etc/submit.mc"

    if ! m4 "$SM_DIR/etc/sendmail.mc" >"$SM_CF" 2>"$SM_DIR/m4.err" ||
        ! m4 "$SM_DIR/etc/submit.mc" >"$SM_SUBMIT_CF" 2>>"$SM_DIR/m4.err"; then
        sm__err "m4 failed:"
        cat "$SM_DIR/m4.err" >&2
        return 1
    fi
    if [ -s "$SM_DIR/m4.err" ]; then
        sm__err "m4 warnings:"
        cat "$SM_DIR/m4.err" >&2
    fi
    chmod 644 "$SM_CF" "$SM_SUBMIT_CF"
}

# sm_setup - unpack, create the temp dir and the configuration.
sm_setup() {
    if [ -n "${SM_DIR:-}" ] && [ -d "$SM_DIR" ]; then
        sm__err "sm_setup: already set up in $SM_DIR (call sm_stop first)"
        return 1
    fi
    sm_available || return 1
    SM_DIR=$(mktemp -d /tmp/mlm-sm.XXXXXX) || return 1
    chmod 755 "$SM_DIR"
    SM_ROOT=$SM_DIR/root
    SM_CFDIR=$SM_ROOT/usr/share/sendmail/cf
    SM_CF=$SM_DIR/etc/sendmail.cf
    SM_SUBMIT_CF=$SM_DIR/etc/submit.cf
    SM_QUEUE=$SM_DIR/mqueue
    SM_CLIENT_QUEUE=$SM_DIR/clientmqueue
    SINK_DIR=$SM_DIR/sink
    mkdir -p "$SM_ROOT" "$SM_DIR/etc" "$SM_DIR/bin" "$SM_QUEUE" \
        "$SM_CLIENT_QUEUE" "$SINK_DIR" || return 1
    chmod 700 "$SM_QUEUE"
    chmod 770 "$SM_CLIENT_QUEUE"
    chown mail:mail "$SM_CLIENT_QUEUE" || return 1
    chown postfix "$SINK_DIR" || return 1
    sm__unpack || return 1
    SM_PORT=$(pf__free_port) || return 1
    SINK_PORT=$(pf__free_port "$SM_PORT") || return 1
    SINK_PID=
    SM_PID=
    export SM_DIR SM_ROOT SM_BIN SM_CF SM_SUBMIT_CF SM_QUEUE SM_CLIENT_QUEUE \
        SM_PORT SINK_DIR SINK_PORT
    sm__write_config || return 1
    sm__check
}

# --- start / stop ----------------------------------------------------------

# sm__start_sink - start smtp-sink on SINK_PORT (postfix.sh's), logging
# in Sendmail's folder.
sm__start_sink() { pf__start_sink "$SM_DIR"; }

# sm__reconfigure - new ports after a collision: rebuild the .cf files.
sm__reconfigure() {
    SM_PORT=$(pf__free_port "$SM_PORT" "$SINK_PORT") || return 1
    SINK_PORT=$(pf__free_port "$SM_PORT" "$SINK_PORT") || return 1
    sm__write_config
}

# sm_start - start smtp-sink and the Sendmail daemon (in the foreground
# mode -bD, a background job of this shell, with a queue run every
# second); wait until both accept connections. Call it from the test's
# main shell, not in $(...).
sm_start() {
    local attempt i
    if [ -z "${SM_DIR:-}" ] || [ ! -d "$SM_DIR" ]; then
        sm_setup || return 1
    fi
    if ! pf__gone "${SM_PID:-}" || ! pf__gone "${SINK_PID:-}"; then
        sm__err "sm_start: already running"
        return 1
    fi
    for ((attempt = 1; attempt <= 5; attempt++)); do
        if pf__port_listened "$SINK_PORT" || pf__port_listened "$SM_PORT"; then
            sm__reconfigure || return 1
            continue
        fi
        sm__start_sink || { sm__reconfigure || return 1; continue; }
        "$SM_DIR/bin/sendmail" -C "$SM_CF" -bD -q1s -L sm-mta-test \
            </dev/null >>"$SM_DIR/sendmail.out" 2>&1 &
        SM_PID=$!
        export SM_PID
        for ((i = 0; i < 200; i++)); do
            pf__gone "$SM_PID" && break
            pf__listening_by "$SM_PORT" "$SM_PID" && return 0
            sleep 0.05
        done
        sm__halt
        if [ "$attempt" -lt 5 ] && ! grep -q 'readcf\|cannot open\|unsafe' "$SM_DIR/sendmail.out"; then
            sm__reconfigure || return 1 # most likely a port taken meanwhile
            continue
        fi
        break
    done
    sm__err "sendmail does not listen on 127.0.0.1:$SM_PORT:"
    cat "$SM_DIR/sendmail.out" >&2
    return 1
}

# sm__halt - stop Sendmail and smtp-sink, keep the files. The daemon's
# children (deliveries, the queue runner) are its process group's:
# SIGTERM to the daemon ends them too.
sm__halt() {
    pf__end "${SM_PID:-}"
    pf__end "${SINK_PID:-}"
    SM_PID= SINK_PID=
    return 0
}

# sm_stop - stop everything and remove SM_DIR (unless KEEP_TMP is set).
# Idempotent, always returns 0; fit for an EXIT trap.
sm_stop() {
    [ -n "${SM_DIR:-}" ] || return 0
    sm__halt
    if [ -d "$SM_DIR" ]; then
        if [ -n "${KEEP_TMP:-}" ]; then
            sm__err "kept $SM_DIR (queue: $SM_QUEUE, sink: $SINK_DIR)"
        else
            rm -rf "$SM_DIR"
        fi
    fi
    SM_DIR=
    return 0
}

# sm_trap - install sm_stop on EXIT, and make INT/TERM exit (running it).
sm_trap() {
    trap sm_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# --- sending ---------------------------------------------------------------

# sm_send SWAKS-ARGS... - run swaks against the instance; as pf_send.
sm_send() {
    SM_SEND_N=$((SM_SEND_N + 1))
    SM_SEND_LOG="$SM_DIR/swaks.$SM_SEND_N.log"
    swaks --server 127.0.0.1 --port "$SM_PORT" --helo client.mlm.test \
        --timeout 150 "$@" </dev/null >"$SM_SEND_LOG" 2>&1
    SM_SEND_RC=$?
    # shellcheck disable=SC2034 # for the caller
    SM_SEND_OUT=$(cat "$SM_SEND_LOG")
    if [ -n "${SM_VERBOSE:-}" ]; then
        cat "$SM_SEND_LOG" >&2
    fi
    return "$SM_SEND_RC"
}

# sm_replied ERE [LOG] - 0 if a server reply of the last sm_send (or of LOG)
# matches ERE.
sm_replied() {
    pf_replied "$1" "${2:-$SM_SEND_LOG}"
}

# sm_submit_command - print the command line for mlm's "sendmail" key: the
# private Sendmail's own submission program (sendmail -C submit.cf), which
# hands each message to this MTA over SMTP as Debian's does. -i as in
# mlm's default; mlm adds -f SENDER and the recipients.
sm_submit_command() {
    printf '%s -C %s -i\n' "$SM_DIR/bin/sendmail" "$SM_SUBMIT_CF"
}

# sm_mlm_sendmail - print mlm.conf's "sendmail" line for sm_submit_command:
# mlm's own mail (notices, replies, approved posts) then goes through
# Sendmail's submission program to this MTA and through mlmd again, as on
# a Debian host. The MTA needs mlm's milter socket and mlm this line, so:
#   sm_setup; mlm_start POLICY "$(sm_mlm_sendmail)"
#   sm_set_milter "$MLM_MILTER"; sm_start
sm_mlm_sendmail() {
    printf 'sendmail = %s\n' "$(sm_submit_command)"
}

# sm_set_milter SPEC - point the MTA at a milter (Sendmail's syntax, as
# SM_MILTER) after sm_setup, before sm_start.
sm_set_milter() {
    SM_MILTER=$1
    sm__write_config
}

# sm_submit ARGS... - run the submission program (message on stdin).
sm_submit() {
    "$SM_DIR/bin/sendmail" -C "$SM_SUBMIT_CF" "$@"
}

# --- queue -------------------------------------------------------------

# sm_queue - print the MTA's queue (mailq), then the MSP's.
sm_queue() {
    "$SM_DIR/bin/sendmail" -C "$SM_CF" -bp 2>&1
    "$SM_DIR/bin/sendmail" -C "$SM_SUBMIT_CF" -bp 2>&1
}

# sm_queue_count - number of messages in both queues (their qf files).
sm_queue_count() {
    find "$SM_QUEUE" "$SM_CLIENT_QUEUE" -type f -name 'qf*' 2>/dev/null | wc -l
}

# sm_flush - run both queues now.
sm_flush() {
    "$SM_DIR/bin/sendmail" -C "$SM_CF" -q >/dev/null 2>&1
    "$SM_DIR/bin/sendmail" -C "$SM_SUBMIT_CF" -q >/dev/null 2>&1
}

# sm_wait_queue_empty [TIMEOUT] - wait until both queues are empty.
sm_wait_queue_empty() {
    local t=${1:-30} i
    for ((i = 0; i < t * 10; i++)); do
        [ "$(sm_queue_count)" -eq 0 ] && return 0
        sleep 0.1
    done
    sm__err "queue not empty after ${t}s:"
    sm_queue >&2
    return 1
}

# --- deliveries (smtp-sink files, read as in postfix.sh) ----------------

sm_sink_files() { pf_sink_files; }
sm_deliveries() { pf_deliveries; }
sm_sink_clear() { pf_sink_clear; }
sm_rcpts() { pf_rcpts "$@"; }
sm_sender() { pf_sender "$@"; }
sm_message() { pf_message "$@"; }
sm_header() { pf_header "$@"; }

# sm_wait_deliveries N [TIMEOUT] - wait until at least N complete delivery
# files exist in SINK_DIR (default timeout 30 s).
sm_wait_deliveries() {
    local n=$1 t=${2:-30} i c
    for ((i = 0; i < t * 10; i++)); do
        c=$(pf_deliveries)
        [ "$c" -ge "$n" ] && return 0
        sleep 0.1
    done
    sm__err "only $c of $n deliveries after ${t}s; queue:"
    sm_queue >&2
    return 1
}
