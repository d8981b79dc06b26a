# shellcheck shell=bash
#
# tests/lib/postfix.sh - a private, throw-away Postfix instance on 127.0.0.1
# for end-to-end tests, delivering everything to an smtp-sink that writes one
# file per delivered SMTP transaction.
#
# Usage (from a bash test script):
#
#   . "$(dirname "$0")/../lib/postfix.sh"
#   pf_available || exit 77                 # not root / postfix missing: skip
#   PF_MILTER=inet:127.0.0.1:8890 pf_setup  # optional milter
#   pf_trap                                 # pf_stop on EXIT, INT, TERM
#   pf_start
#   pf_send --from a@example.org --to list@lists.example || true
#   pf_replied '^250 '                      # grep the server's replies
#   pf_wait_deliveries 1
#   f=$(pf_sink_files | head -n1); pf_rcpts "$f"; pf_sender "$f"
#
# Must run as root (Postfix's master refuses anything else). Never touches
# /etc/postfix or the system instance: everything lives in one mktemp -d
# directory, removed by pf_stop unless KEEP_TMP is set.
#
# Environment read by pf_setup (all optional):
#   PF_RELAY_DOMAINS  relay_domains (default "lists.example example.org")
#   PF_MILTER         smtpd_milters value, e.g. unix:/path/milter.sock or
#                     inet:127.0.0.1:8890 (adds the milter_* settings)
#   PF_MILTER_DEFAULT_ACTION  milter_default_action (default tempfail)
#   PF_HOSTNAME       myhostname (default mta.mlm.test)
#   PF_MAIN_EXTRA     extra main.cf settings ("key = value", one a line),
#                     applied last (postconf -e), overriding the defaults
#   KEEP_TMP          if non-empty, pf_stop keeps the temp dir (and says where)
#   PF_VERBOSE        if non-empty, pf_send echoes its transcript to stderr
#
# Variables set and exported by pf_setup:
#   PF_DIR     the temp dir (everything below lives in it)
#   PF_CONF    Postfix config_directory ($PF_DIR/etc: main.cf, master.cf)
#   PF_QUEUE   queue_directory ($PF_DIR/queue)
#   PF_LOG     maillog_file ($PF_DIR/maillog)
#   PF_PORT    smtpd port on 127.0.0.1
#   SINK_DIR   where smtp-sink writes one file per delivered transaction
#   SINK_PORT  smtp-sink port on 127.0.0.1
# Set by pf_start: SINK_PID, PF_MASTER_PID.
# Set by pf_send (globals): PF_SEND_LOG (transcript file), PF_SEND_OUT
# (transcript text), PF_SEND_RC (swaks exit code).

if [ -n "${PF_LIB_LOADED:-}" ]; then
    return 0
fi
PF_LIB_LOADED=1

case ":$PATH:" in
*:/usr/sbin:*) ;;
*) PATH=$PATH:/usr/sbin ;;
esac

PF_SEND_N=0
PF_SEND_LOG=
PF_SEND_OUT=
PF_SEND_RC=

pf__err() { printf 'postfix.sh: %s\n' "$*" >&2; }

# pf_available - 0 if this machine can run the harness (root, postfix,
# smtp-sink, swaks); otherwise prints why and returns 1 (tests: exit 77).
pf_available() {
    local c
    if [ "$(id -u)" != 0 ]; then
        pf__err "must run as root (private Postfix instance)"
        return 1
    fi
    for c in postfix postconf postqueue smtp-sink swaks; do
        if ! command -v "$c" >/dev/null 2>&1; then
            pf__err "missing program: $c"
            return 1
        fi
    done
    if ! id postfix >/dev/null 2>&1; then
        pf__err "no 'postfix' user"
        return 1
    fi
    return 0
}

# --- ports -----------------------------------------------------------------

# pf__port_used PORT - 0 if any local TCP socket (any state) uses PORT.
pf__port_used() {
    local hex f
    hex=$(printf '%04X' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        if awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h { found = 1 }
                             END { exit !found }' "$f"; then
            return 0
        fi
    done
    # Without /proc, fall back to a connect probe.
    if [ ! -r /proc/net/tcp ]; then
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    fi
    return 1
}

# pf__port_listened PORT - 0 if any local socket listens on PORT (any
# address, IPv4 or IPv6): binding 127.0.0.1:PORT would then likely fail.
pf__port_listened() {
    local hex f
    hex=$(printf '%04X' "$1")
    for f in /proc/net/tcp /proc/net/tcp6; do
        [ -r "$f" ] || continue
        if awk -v h=":$hex" 'NR > 1 && substr($2, length($2) - 4) == h &&
                             $4 == "0A" { found = 1 } END { exit !found }' "$f"; then
            return 0
        fi
    done
    if [ ! -r /proc/net/tcp ]; then
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    fi
    return 1
}

# pf__listening PORT - 0 if something listens on 127.0.0.1:PORT (or *:PORT).
pf__listening() {
    local hex
    hex=$(printf '%04X' "$1")
    if [ -r /proc/net/tcp ]; then
        awk -v a="0100007F:$hex" -v b="00000000:$hex" \
            'NR > 1 && ($2 == a || $2 == b) && $4 == "0A" { found = 1 }
             END { exit !found }' /proc/net/tcp
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# pf__listening_by PORT PID - 0 if process PID owns a socket listening on
# 127.0.0.1:PORT (or *:PORT). Needs /proc; without it, pf__listening.
pf__listening_by() {
    local hex inode fd l
    if [ ! -r /proc/net/tcp ] || [ ! -d "/proc/$2/fd" ]; then
        pf__listening "$1"
        return
    fi
    hex=$(printf '%04X' "$1")
    # shellcheck disable=SC2013 # one inode number a line
    for inode in $(awk -v a="0100007F:$hex" -v b="00000000:$hex" \
        'NR > 1 && ($2 == a || $2 == b) && $4 == "0A" { print $10 }' /proc/net/tcp); do
        for fd in /proc/"$2"/fd/*; do
            l=$(readlink "$fd" 2>/dev/null) || continue
            [ "$l" = "socket:[$inode]" ] && return 0
        done
    done
    return 1
}

# pf__free_port [EXCLUDE...] - print a currently unused port below the
# kernel's ephemeral range (so outgoing connections never steal it), chosen
# at random so parallel instances rarely collide; pf_start retries anyway.
pf__free_port() {
    local lo=20000 hi=32767 eph p i x ok
    if read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
        [ "$eph" -gt 12000 ] 2>/dev/null; then
        hi=$((eph - 1))
        [ "$lo" -lt "$hi" ] || lo=10000
    fi
    for ((i = 0; i < 500; i++)); do
        p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
        ok=1
        for x in "$@"; do [ "$x" = "$p" ] && ok=0; done
        [ "$ok" = 1 ] || continue
        pf__port_used "$p" && continue
        echo "$p"
        return 0
    done
    pf__err "no free TCP port found"
    return 1
}

# --- setup -----------------------------------------------------------------

pf__master_cf_source() {
    local f
    for f in /usr/share/postfix/master.cf.dist /etc/postfix/master.cf.proto \
        /etc/postfix/master.cf; do
        if [ -r "$f" ]; then
            echo "$f"
            return 0
        fi
    done
    return 1
}

# pf__cool - backdate main.cf/master.cf. Postfix refuses to read a "hot"
# config file (modified in the current second: it might be half-written) and
# retries every 0.3 s until it is 2 s old, so every postconf or daemon start
# right after an edit would stall for up to 2 s.
pf__cool() {
    local t
    printf -v t '%(%s)T' -1
    touch -c -d "@$((t - 10))" "$PF_CONF/main.cf" "$PF_CONF/master.cf"
}

# pf__postconf ARGS... - postconf -c PF_CONF ARGS, then pf__cool.
pf__postconf() {
    postconf -c "$PF_CONF" "$@" || return 1
    pf__cool
}

# pf__write_config - write main.cf and master.cf (at pf_setup).
pf__write_config() {
    local src svc pc
    pc=(pf__postconf)

    cat >"$PF_CONF/main.cf" <<EOF
# Generated by tests/lib/postfix.sh: private test instance. Everything not
# set here is the compiled-in default (postconf -d).
compatibility_level = 3.6
config_directory = $PF_CONF
queue_directory = $PF_QUEUE
data_directory = $PF_DIR/data
mail_owner = postfix
myhostname = ${PF_HOSTNAME:-mta.mlm.test}
mydomain = mlm.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtputf8_enable = no
biff = no
append_dot_mydomain = no

# Logging to a file through postlogd (master.cf "postlog"), no syslog.
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_DIR
syslog_name = postfix-test

# Relay: only these domains are accepted from clients, even from
# mynetworks; everything (relay domains, any other domain reached by list
# expansion, bounces) goes to smtp-sink.
relay_domains = ${PF_RELAY_DOMAINS-lists.example example.org}
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
relay_recipient_maps =
transport_maps =
relayhost = [127.0.0.1]:$SINK_PORT
relay_transport = smtp:[127.0.0.1]:$SINK_PORT
default_transport = smtp:[127.0.0.1]:$SINK_PORT
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_authorized_xclient_hosts = 127.0.0.0/8
default_destination_recipient_limit = 1000
smtp_connect_timeout = 5s

# Fast: no artificial delays, retry quickly.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
delay_warning_time = 0h
in_flow_delay = 0s
smtpd_error_sleep_time = 0s
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 1000
default_destination_rate_delay = 0s
EOF
    if [ -n "${PF_MILTER:-}" ]; then
        cat >>"$PF_CONF/main.cf" <<EOF

# Milter
smtpd_milters = $PF_MILTER
milter_protocol = 6
milter_default_action = ${PF_MILTER_DEFAULT_ACTION:-tempfail}
milter_connect_timeout = 10s
milter_command_timeout = 45s
milter_content_timeout = 120s
EOF
    fi
    pf__cool
    if [ -n "${PF_MAIN_EXTRA:-}" ]; then
        local -a extra=()
        local line
        while IFS= read -r line; do
            case $line in '' | '#'*) continue ;; esac
            extra+=("$line")
        done <<<"$PF_MAIN_EXTRA"
        if [ "${#extra[@]}" -gt 0 ]; then
            "${pc[@]}" -e "${extra[@]}" || return 1
        fi
    fi

    src=$(pf__master_cf_source) || {
        pf__err "no master.cf template found (/usr/share/postfix/master.cf.dist)"
        return 1
    }
    cp "$src" "$PF_CONF/master.cf" || return 1
    pf__cool
    # Drop every inet listener of the template, add ours on 127.0.0.1.
    for svc in $("${pc[@]}" -M 2>/dev/null | awk '$2 == "inet" { print $1 }'); do
        "${pc[@]}" -MX "$svc/inet" || return 1
    done
    PF_SMTPD_SERVICE=127.0.0.1:$PF_PORT
    "${pc[@]}" -M "$PF_SMTPD_SERVICE/inet=$PF_SMTPD_SERVICE inet n - n - - smtpd" ||
        return 1
    # postlogd is needed for maillog_file.
    if ! "${pc[@]}" -M postlog/unix-dgram >/dev/null 2>&1 ||
        [ -z "$("${pc[@]}" -M postlog/unix-dgram 2>/dev/null)" ]; then
        "${pc[@]}" -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd" ||
            return 1
    fi
    # No chroot: a chroot would need copies of /etc files in the queue dir.
    "${pc[@]}" -F '*/*/chroot = n' || return 1
}

# pf__new_pf_port - move smtpd to another free port (keeps other edits).
pf__new_pf_port() {
    local p
    p=$(pf__free_port "$PF_PORT" "$SINK_PORT") || return 1
    pf__postconf -F "$PF_SMTPD_SERVICE/inet/service = 127.0.0.1:$p" || return 1
    PF_PORT=$p
    PF_SMTPD_SERVICE=127.0.0.1:$p
}

# pf__new_sink_port - move smtp-sink to another free port (keeps other edits).
pf__new_sink_port() {
    local p n v
    local -a set=()
    p=$(pf__free_port "$PF_PORT" "$SINK_PORT") || return 1
    for n in relayhost relay_transport default_transport; do
        v=$(postconf -c "$PF_CONF" -h "$n") || return 1
        set+=("$n = ${v//"]:$SINK_PORT"/"]:$p"}")
    done
    pf__postconf -e "${set[@]}" || return 1
    SINK_PORT=$p
}

# pf_setup - create the temp dir and the configuration (does not start).
pf_setup() {
    local base
    if [ -n "${PF_DIR:-}" ] && [ -d "$PF_DIR" ]; then
        pf__err "pf_setup: already set up in $PF_DIR (call pf_stop first)"
        return 1
    fi
    pf_available || return 1
    base=${TMPDIR:-/tmp}
    case $base in *[[:space:]]*) base=/tmp ;; esac
    PF_DIR=$(mktemp -d "$base/mlm-pf.XXXXXX") || return 1
    chmod 755 "$PF_DIR"
    # The postfix user must be able to reach the queue: check the path.
    if command -v runuser >/dev/null 2>&1 &&
        ! runuser -u postfix -- test -x "$PF_DIR" 2>/dev/null; then
        pf__err "$base is not traversable by user postfix, using /tmp"
        rmdir "$PF_DIR"
        PF_DIR=$(mktemp -d /tmp/mlm-pf.XXXXXX) || return 1
        chmod 755 "$PF_DIR"
    fi
    PF_CONF=$PF_DIR/etc
    PF_QUEUE=$PF_DIR/queue
    PF_LOG=$PF_DIR/maillog
    SINK_DIR=$PF_DIR/sink
    mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DIR/data" "$SINK_DIR" || return 1
    chown postfix "$PF_DIR/data" "$SINK_DIR" || return 1
    chmod 755 "$PF_CONF" "$PF_QUEUE" "$SINK_DIR"
    chmod 700 "$PF_DIR/data"
    PF_PORT=$(pf__free_port) || return 1
    SINK_PORT=$(pf__free_port "$PF_PORT") || return 1
    SINK_PID=
    PF_MASTER_PID=
    export PF_DIR PF_CONF PF_QUEUE PF_LOG PF_PORT SINK_DIR SINK_PORT
    pf__write_config
}

# --- start / stop ----------------------------------------------------------

# pf__run_tty CMD... - run CMD with stderr on a pseudo-terminal when
# possible: Postfix's postfix/postfix-script/postlog only print errors to
# stderr when it is a terminal; otherwise they go to syslog/maillog only.
pf__run_tty() {
    local out=$1 rc
    shift
    if command -v script >/dev/null 2>&1; then
        script -qec "$(printf '%q ' "$@")" /dev/null </dev/null >"$out" 2>&1
        rc=$?
        # pty output has CR LF line ends
        sed -i 's/\r$//' "$out" 2>/dev/null || true
    else
        "$@" </dev/null >"$out" 2>&1
        rc=$?
    fi
    return $rc
}

# pf__start_sink [LOGDIR] - start smtp-sink on SINK_PORT, wait until it
# listens; it logs to LOGDIR/sink.log (default: Postfix's folder).
pf__start_sink() {
    local i
    smtp-sink -u postfix -h sink.mlm.test -4 -m 1000 \
        -d "$SINK_DIR/%M." "127.0.0.1:$SINK_PORT" 1024 \
        </dev/null >>"${1:-$PF_DIR}/sink.log" 2>&1 &
    SINK_PID=$!
    export SINK_PID
    for ((i = 0; i < 500; i++)); do
        pf__gone "$SINK_PID" && break
        pf__listening_by "$SINK_PORT" "$SINK_PID" && return 0
        sleep 0.02
    done
    kill -KILL "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
    SINK_PID=
    return 1
}

# pf_start - start smtp-sink and Postfix; wait until both accept connections.
# Call it from the test's main shell (not in $(...) or a subshell): smtp-sink
# is a background job of that shell and SINK_PID must stay known.
pf_start() {
    local attempt out i rc crc
    if [ -z "${PF_DIR:-}" ] || [ ! -d "$PF_DIR" ]; then
        pf_setup || return 1
    fi
    if ! pf__gone "${PF_MASTER_PID:-}" || ! pf__gone "${SINK_PID:-}"; then
        pf__err "pf_start: already running (pf_restart restarts)"
        return 1
    fi
    out=$PF_DIR/postfix-start.out
    for ((attempt = 1; ; attempt++)); do
        if ! pf__port_listened "$SINK_PORT"; then
            pf__start_sink && break
        fi
        if [ "$attempt" -ge 5 ]; then
            pf__err "smtp-sink failed to start on 127.0.0.1:$SINK_PORT:"
            cat "$PF_DIR/sink.log" >&2
            return 1
        fi
        # Port taken meanwhile (e.g. by a parallel test): pick another.
        pf__new_sink_port || return 1
    done

    for ((attempt = 1; ; attempt++)); do
        if [ "$attempt" -lt 5 ] && pf__port_listened "$PF_PORT"; then
            pf__new_pf_port || return 1
            continue
        fi
        # "postfix start" runs "master -w", which returns only after the
        # master has bound its listeners (or failed).
        pf__run_tty "$out" postfix -c "$PF_CONF" start
        rc=$?
        [ "$rc" = 0 ] && break
        pf__run_tty "$PF_DIR/postfix-check.out" postfix -c "$PF_CONF" check
        crc=$?
        if [ "$attempt" -lt 5 ] && [ "$crc" = 0 ]; then
            # The configuration is fine, so most likely the master could
            # not bind PF_PORT (taken by a parallel test since we looked):
            # the master cannot log that anywhere, because postlogd is not
            # running yet. Retry on another port.
            pf__new_pf_port || return 1
            continue
        fi
        pf__err "postfix start failed (exit $rc):"
        cat "$out" >&2
        pf__err "postfix check (exit $crc) says:"
        cat "$PF_DIR/postfix-check.out" >&2
        pf__err "note: errors of the master itself (e.g. bind failures) are" \
            "logged nowhere: postlogd is not running yet"
        if [ -s "$PF_LOG" ]; then
            pf__err "maillog:"
            tail -n 20 "$PF_LOG" >&2
        fi
        return 1
    done
    PF_MASTER_PID=$(sed -n '1{s/[^0-9]//g;p;q}' "$PF_QUEUE/pid/master.pid" 2>/dev/null)
    export PF_MASTER_PID
    for ((i = 0; i < 100; i++)); do
        pf__listening_by "$PF_PORT" "${PF_MASTER_PID:-0}" && return 0
        sleep 0.1
    done
    pf__err "postfix does not listen on 127.0.0.1:$PF_PORT"
    pf_log | tail -n 20 >&2
    return 1
}

# pf__pgrp_alive PGID - 0 if a live (non-zombie) process is in group PGID.
pf__pgrp_alive() {
    local f line st pgrp
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        read -r st _ pgrp _ <<<"${line##*) }"
        if [ "$pgrp" = "$1" ] && [ "$st" != Z ] && [ "$st" != X ]; then
            return 0
        fi
    done
    return 1
}

# pf__gone PID - 0 if PID is empty, gone or a zombie.
pf__gone() {
    local line st
    [ -n "${1:-}" ] || return 0
    read -r line 2>/dev/null <"/proc/$1/stat" || return 0
    read -r st _ <<<"${line##*) }"
    [ "$st" = Z ] || [ "$st" = X ]
}

# pf__halt - stop Postfix and smtp-sink, keep the files.
pf__halt() {
    local i pid
    pid=${PF_MASTER_PID:-}
    if [ -z "$pid" ] && [ -n "${PF_QUEUE:-}" ] && [ -r "$PF_QUEUE/pid/master.pid" ]; then
        pid=$(sed -n '1{s/[^0-9]//g;p;q}' "$PF_QUEUE/pid/master.pid")
    fi
    # Same as "postfix stop" (SIGTERM to the master, which terminates its
    # process group) but polling every 0.1 s instead of sleeping 1 s.
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 200; i++)); do
            pf__pgrp_alive "$pid" || break
            sleep 0.05
        done
        if pf__pgrp_alive "$pid"; then
            # "postfix abort" equivalent
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    elif [ -n "${PF_CONF:-}" ] && [ -f "$PF_CONF/main.cf" ] &&
        postfix -c "$PF_CONF" status >/dev/null 2>&1; then
        postfix -c "$PF_CONF" stop >/dev/null 2>&1 ||
            postfix -c "$PF_CONF" abort >/dev/null 2>&1
    fi
    PF_MASTER_PID=
    pf__end "${SINK_PID:-}"
    SINK_PID=
    return 0
}

# pf__end PID - SIGTERM, up to 5 s to go, then SIGKILL; reaped when it is
# the shell's child. Nothing when PID is empty.
pf__end() {
    local i
    [ -n "${1:-}" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        pf__gone "$1" && break
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# pf_restart - stop and start again with the same directory (e.g. after
# pf_postconf); deliveries already in SINK_DIR stay.
pf_restart() {
    pf__halt
    pf_start
}

# pf_stop - stop everything and remove PF_DIR (unless KEEP_TMP is set).
# Idempotent, always returns 0; fit for "trap pf_stop EXIT" (bash keeps the
# script's exit status when an EXIT trap returns normally).
pf_stop() {
    [ -n "${PF_DIR:-}" ] || return 0
    pf__halt
    if [ -d "$PF_DIR" ]; then
        if [ -n "${KEEP_TMP:-}" ]; then
            pf__err "kept $PF_DIR (maillog: $PF_LOG, sink: $SINK_DIR)"
        else
            rm -rf "$PF_DIR"
        fi
    fi
    PF_DIR=
    return 0
}

# pf_trap - install pf_stop on EXIT, and make INT/TERM exit (running it).
pf_trap() {
    trap pf_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# --- configuration while running ---------------------------------------

# pf_postconf 'key = value'... - edit main.cf (postconf -e). Takes effect at
# the next pf_reload (or pf_restart, which is synchronous).
pf_postconf() {
    pf__postconf -e "$@"
}

# pf_reload - "postfix reload" (asynchronous: idle processes finish first).
pf_reload() {
    postfix -c "$PF_CONF" reload >/dev/null 2>&1
}

# --- sending ---------------------------------------------------------------

# pf_send SWAKS-ARGS... - run swaks against the instance. Returns swaks'
# exit code (0 = accepted; 23/24 = RCPT refused, 25 = DATA refused, 26 =
# refused after the message ...). The transcript is in $PF_SEND_LOG and
# $PF_SEND_OUT; server reply lines start with "<-" or "<**".
pf_send() {
    PF_SEND_N=$((PF_SEND_N + 1))
    PF_SEND_LOG="$PF_DIR/swaks.$PF_SEND_N.log"
    swaks --server 127.0.0.1 --port "$PF_PORT" --helo client.mlm.test \
        --timeout 150 "$@" </dev/null >"$PF_SEND_LOG" 2>&1
    PF_SEND_RC=$?
    # shellcheck disable=SC2034 # for the caller
    PF_SEND_OUT=$(cat "$PF_SEND_LOG")
    if [ -n "${PF_VERBOSE:-}" ]; then
        cat "$PF_SEND_LOG" >&2
    fi
    return "$PF_SEND_RC"
}

# pf_replied ERE [LOG] - 0 if a server reply line of the last pf_send (or of
# LOG) matches the extended regexp ERE, e.g. pf_replied '^550 5\.1\.1 '.
pf_replied() {
    sed -n 's/^<[-~*]* *//p' "${2:-$PF_SEND_LOG}" | grep -Eq -- "$1"
}

# pf_sendmail_script DIR - write DIR/sendmail, a stand-in for mlm's
# "sendmail" setting: "sendmail [-i] -f SENDER RCPT..." submits stdin by
# SMTP to the private Postfix on the port in DIR/port (the test writes it
# once pf_start chose the port), so that mail mlm sends passes the milter
# and reaches smtp-sink as through Postfix's sendmail with
# non_smtpd_milters. swaks' transcripts go to DIR/swaks.log.
pf_sendmail_script() {
    cat >"$1/sendmail" <<EOF
#!/bin/sh
from=
while [ \$# -gt 0 ]; do
    case \$1 in
    -i) shift ;;
    -f) from=\$2; shift 2 ;;
    *) break ;;
    esac
done
to=\$(echo "\$@" | tr ' ' ',')
msg=\$(mktemp "$1/in.XXXXXX")
cat >"\$msg"
exec swaks --server 127.0.0.1 --port "\$(cat "$1/port")" \\
    --helo localhost --from "\$from" --to "\$to" \\
    --data "\$msg" >>"$1/swaks.log" 2>&1
EOF
    chmod +x "$1/sendmail"
}

# --- queue and log -----------------------------------------------------

# pf_flush - attempt delivery of all deferred mail now.
pf_flush() {
    postqueue -c "$PF_CONF" -f
}

# pf_queue - print the queue (postqueue -p).
pf_queue() {
    postqueue -c "$PF_CONF" -p
}

# pf_queue_count - number of messages in the queue (any state).
pf_queue_count() {
    find "$PF_QUEUE/maildrop" "$PF_QUEUE/incoming" "$PF_QUEUE/active" \
        "$PF_QUEUE/deferred" "$PF_QUEUE/hold" "$PF_QUEUE/corrupt" \
        -type f 2>/dev/null | wc -l
}

# pf_wait_queue_empty [TIMEOUT] - wait until the queue holds no message.
pf_wait_queue_empty() {
    local t=${1:-30} i
    # Mail an mlm policy sent waits in mlm's outbox before it reaches the
    # queue: that comes first (tests/lib/mlm.sh).
    if [ -n "${MLM_DIR:-}" ] && declare -F mlm_outbox_wait >/dev/null; then
        mlm_outbox_wait || return 1
    fi
    for ((i = 0; i < t * 10; i++)); do
        [ "$(pf_queue_count)" -eq 0 ] && return 0
        sleep 0.1
    done
    pf__err "queue not empty after ${t}s:"
    pf_queue >&2
    return 1
}

# pf_log - print the maillog.
pf_log() {
    [ -f "$PF_LOG" ] && cat "$PF_LOG"
    return 0
}

# pf_wait_log ERE [TIMEOUT] - wait until the maillog matches ERE.
pf_wait_log() {
    local t=${2:-30} i
    for ((i = 0; i < t * 10; i++)); do
        grep -Eq -- "$1" "$PF_LOG" 2>/dev/null && return 0
        sleep 0.1
    done
    pf__err "maillog never matched /$1/ within ${t}s"
    return 1
}

# --- deliveries ------------------------------------------------------------

# pf_sink_files - print the complete delivery files, oldest first. A file is
# complete when smtp-sink no longer holds it open (it creates the file at
# MAIL FROM and closes it at the final ".").
pf_sink_files() {
    local f open='' fd
    local -a files=()
    [ -d "$SINK_DIR" ] || return 0
    while IFS= read -r f; do
        files+=("$f")
    done < <(find "$SINK_DIR" -type f -printf '%T@ %p\n' 2>/dev/null | sort -n | cut -d' ' -f2-)
    [ "${#files[@]}" -gt 0 ] || return 0
    # List files first, then look at the open descriptors: a listed file
    # that is no longer open has been closed, i.e. is complete.
    if [ -n "${SINK_PID:-}" ] && [ -d "/proc/$SINK_PID/fd" ]; then
        for fd in /proc/"$SINK_PID"/fd/*; do
            f=$(readlink "$fd" 2>/dev/null) || continue
            case $f in "$SINK_DIR"/*) open="$open"$'\n'"$f" ;; esac
        done
    fi
    for f in "${files[@]}"; do
        case $open$'\n' in *$'\n'"$f"$'\n'*) continue ;; esac
        [ -f "$f" ] && printf '%s\n' "$f"
    done
    return 0
}

# pf_deliveries - number of complete delivery files.
pf_deliveries() {
    pf_sink_files | wc -l
}

# pf_wait_deliveries N [TIMEOUT] - wait until at least N complete delivery
# files exist in SINK_DIR (default timeout 30 s).
pf_wait_deliveries() {
    local n=$1 t=${2:-30} i c
    for ((i = 0; i < t * 10; i++)); do
        c=$(pf_deliveries)
        [ "$c" -ge "$n" ] && return 0
        sleep 0.1
    done
    pf__err "only $c of $n deliveries after ${t}s; queue:"
    pf_queue >&2
    pf__err "maillog (tail):"
    pf_log | tail -n 20 >&2
    return 1
}

# pf_sink_clear - remove all delivery files (between test cases).
pf_sink_clear() {
    find "$SINK_DIR" -mindepth 1 -delete 2>/dev/null
    return 0
}

# pf_rcpts FILE - envelope recipients of a delivery file, one a line.
pf_rcpts() {
    awk '/^Received: / { exit }
         sub(/^X-Rcpt-Args: /, "") { a = $1; gsub(/^<|>$/, "", a); print a }' "$1"
}

# pf_sender FILE - envelope sender of a delivery file (empty line for <>).
pf_sender() {
    awk '/^Received: / { exit }
         sub(/^X-Mail-Args: /, "") { a = $1; gsub(/^<|>$/, "", a); print a; exit }' "$1"
}

# pf_message FILE - the delivered message itself (without smtp-sink's
# X-Client/X-Mail/X-Rcpt lines and its 3-line Received: header).
pf_message() {
    awk 'done { print; next }
         skip > 0 { skip--; if (skip == 0) done = 1; next }
         /^Received: / && !seen { seen = 1; skip = 2; next }' "$1"
}

# pf_header FILE NAME - values of header NAME (case-insensitive) in the
# delivered message, one a line, folded lines joined.
pf_header() {
    pf_message "$1" | awk -v n="$2" '
        BEGIN { n = tolower(n) }
        /^$/ { exit }
        /^[ \t]/ { if (cur) val = val $0; next }
        { if (cur) print val; cur = 0
          i = index($0, ":")
          if (i > 0 && tolower(substr($0, 1, i - 1)) == n) {
              cur = 1; val = substr($0, i + 1); sub(/^[ \t]+/, "", val) } }
        END { if (cur) print val }'
}
