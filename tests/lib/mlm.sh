# tests/lib/mlm.sh - start and stop a private mlm (multiplexor + mlmd) for
# one test. Source it, then:
#
#   mlm_start POLICY_FILE [extra config lines...]
#       writes $MLM_DIR/mlm.conf, starts mlm-multiplexor and mlmd in the
#       foreground (logs in $MLM_DIR/*.log) and waits for their sockets.
#       Exports MLM_DIR, MLM_CONF, MLM_MILTER (unix:... socket for
#       miltertest and milter-client.py; milter_socket in the config).
#       The worker's DNS (dns_resolver) is a private unbound answering
#       NXDOMAIN for every name (tests/lib/dns.sh), so that a post's DMARC
#       check never reaches the real DNS; set MLM_DNS_RESOLVER first to
#       use another (a test's own zone).
#   mlm_start_inet a second mlmd on TCP for an MTA that needs it (Postfix):
#                  exports MLM_PORT and MLM_MILTER_INET (inet:PORT@127.0.0.1),
#                  unless MLM_PORT is set already
#   mlm_stop       stops both (SIGTERM, then SIGKILL) and removes MLM_DIR
#                  unless KEEP_TMP is set. Safe in an EXIT trap.
#   mlm_ctl ARGS   runs mlm-ctl -C $MLM_CONF
#   mlm_log        prints both daemons' logs
#   mlm_wait_until SECONDS COMMAND...
#                  runs COMMAND every 0.05 s until it succeeds; 1 when it
#                  has not after SECONDS of wall-clock time, however long
#                  COMMAND takes (a generous bound, not a delay)
#   mlm_children PID   the pids of PID's children, one a line (from /proc)
#
# The database backend: SQLite (a file in the test's directory), or with
# MLM_TEST_BACKEND=postgresql (make check-pg, tests/lib/pg-run.sh) a fresh
# database on the PostgreSQL server whose PG_SOCKDIR, PG_PORT and PG_BIN
# are exported, migrated with mlm-ctl db migrate.
#   mlm_db_new DIR   sets MLM_DB to a new database for a test whose files
#                    are in DIR: DIR/mlm.db, or a PostgreSQL URI
#                    (mlm_write_conf calls it; a test writing its own
#                    config puts "database = $MLM_DB" in it)
#   mlm_sql SQL      runs SQL (portable to both) on $MLM_DB and prints the
#                    rows as sqlite3 does: columns between |, NULL empty
#   mlm_sql_bytes STRING  STRING's bytes as an SQL blob literal (for a
#                    BLOB column: X'..' on SQLite, decode('..', 'hex'))
#   mlm_sql_hex EXPR the SQL for the upper-case hex of the blob EXPR
#   mlm_on_sqlite WHY   0 on SQLite; on PostgreSQL prints
#                    "# skipped on postgresql: WHY" and returns 1, for
#                    checks about SQLite itself
#
# Environment: top_builddir (set by make check), MLM_WRAPPER (e.g.
# "valgrind --error-exitcode=99 ..." put in front of each daemon).

: "${top_builddir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
MLMD_BIN=$top_builddir/mlmd/mlmd
MUX_BIN=${MUX_BIN:-$top_builddir/multiplexor/mlm-multiplexor}
WORKER_BIN=${WORKER_BIN:-$top_builddir/worker/mlm-worker}
CTL_BIN=$top_builddir/ctl/mlm-ctl

mlm_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

mlm_wait_socket() { # PATH [TIMEOUT_TENTHS]
    local i limit=${2:-100}
    [ -n "${MLM_WRAPPER:-}" ] && limit=$((limit * 6)) # valgrind is slow
    for ((i = 0; i < limit; i++)); do
        [ -S "$1" ] && return 0
        sleep 0.1
    done
    echo "mlm: socket $1 did not appear" >&2
    return 1
}

mlm_wait_port() { # PORT
    local i limit=100
    [ -n "${MLM_WRAPPER:-}" ] && limit=600
    for ((i = 0; i < limit; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "mlm: port $1 did not open" >&2
    return 1
}

mlm_backend() { echo "${MLM_TEST_BACKEND:-sqlite}"; }

mlm_db_new() { # DIR
    MLM_DB_DIR=$1
    if [ "$(mlm_backend)" != postgresql ]; then
        MLM_DB=$1/mlm.db
        return 0
    fi
    [ -n "${PG_SOCKDIR:-}" ] && [ -n "${PG_PORT:-}" ] && [ -n "${PG_BIN:-}" ] || {
        echo "mlm: MLM_TEST_BACKEND=postgresql needs a server (make check-pg)" >&2
        return 1
    }
    local name
    name=t_$(basename "$1" | tr -c 'A-Za-z0-9\n' _)_$$
    "$PG_BIN/createdb" -h "$PG_SOCKDIR" -p "$PG_PORT" -U mlm --encoding=SQL_ASCII \
        --locale=C --template=template0 "$name" || return 1
    MLM_DB="postgresql:///$name?host=$PG_SOCKDIR&port=$PG_PORT&user=mlm"
    printf 'database = %s\nuser =\n' "$MLM_DB" >"$1/migrate.conf"
    "$CTL_BIN" -C "$1/migrate.conf" db migrate >/dev/null || return 1
    rm -f "$1/migrate.conf"
    echo "# database on postgresql: $name" >&2
}

mlm_sql() { # SQL
    case $MLM_DB in
    postgresql://* | postgres://*)
        printf '%s\n' "$1" | PGCLIENTENCODING=SQL_ASCII \
            "${PG_BIN:+$PG_BIN/}psql" -d "$MLM_DB" -XAtq -v ON_ERROR_STOP=1 -f - ;;
    *) sqlite3 -cmd '.timeout 10000' "$MLM_DB" "$1" ;;
    esac
}

mlm_sql_bytes() { # STRING
    local hex
    hex=$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n')
    case $MLM_DB in
    postgresql://* | postgres://*) echo "decode('$hex', 'hex')" ;;
    *) echo "X'$hex'" ;;
    esac
}

mlm_sql_hex() { # EXPR
    case $MLM_DB in
    postgresql://* | postgres://*) echo "upper(encode($1, 'hex'))" ;;
    *) echo "hex($1)" ;;
    esac
}

mlm_on_sqlite() { # WHY
    [ "$(mlm_backend)" != postgresql ] && return 0
    echo "# skipped on postgresql: $1"
    return 1
}

mlm_write_conf() { # POLICY [extra lines...]
    local policy=$1 line own_db=
    shift
    for line in "$@"; do
        case $line in database\ =* | database=*) own_db=1 ;; esac
    done
    if [ -z "$own_db" ] && [ "${MLM_DB_DIR:-}" != "$MLM_DIR" ]; then
        mlm_db_new "$MLM_DIR" || return 1
    fi
    # No test reaches the machine's resolver: without a resolver of the
    # test's own, a private one answering NXDOMAIN for every name runs for
    # as long as the test's shell does.
    if [ -z "${MLM_DNS_RESOLVER:-}" ]; then
        . "$(dirname "${BASH_SOURCE[0]}")/dns.sh"
        dns_start "$MLM_DIR" || return 1
        MLM_DNS_RESOLVER=$DNS_RESOLVER
        local dns_pid=$DNS_PID shell_pid=$$
        (while kill -0 "$shell_pid" 2>/dev/null; do sleep 1; done
         kill "$dns_pid") >/dev/null 2>&1 </dev/null &
    fi
    {
        echo "milter_socket = unix:$MLM_DIR/milter.sock"
        echo "mx_socket = $MLM_DIR/mx.sock"
        echo "ctl_socket = $MLM_DIR/ctl.sock"
        echo "spool_dir = $MLM_DIR/spool"
        [ -n "$own_db" ] || echo "database = $MLM_DB"
        echo "secret_file = $MLM_DIR/secret"
        echo "policy = $policy"
        echo "lua_path = $top_srcdir/lua/lib"
        echo "worker_program = $WORKER_BIN"
        echo "user ="
        echo "workers_min = 2"
        echo "workers_max = 4"
        [ -n "${MLM_DNS_RESOLVER:-}" ] && echo "dns_resolver = $MLM_DNS_RESOLVER"
        for line in "$@"; do echo "$line"; done
    } >"$MLM_CONF"
}

mlm_start_mux() {
    rm -f "$MLM_DIR/mx.sock" "$MLM_DIR/ctl.sock" # a killed one leaves them
    # shellcheck disable=SC2086
    ${MLM_WRAPPER:-} "$MUX_BIN" -f -C "$MLM_CONF" >>"$MLM_DIR/mux.log" 2>&1 &
    MLM_MUX_PID=$!
    mlm_wait_socket "$MLM_DIR/mx.sock"
}

mlm_start_mlmd() {
    rm -f "$MLM_DIR/milter.sock"
    # shellcheck disable=SC2086
    ${MLM_WRAPPER:-} "$MLMD_BIN" -f ${MLMD_FLAGS:-} -C "$MLM_CONF" -p "$MLM_MILTER" \
        >>"$MLM_DIR/mlmd.log" 2>&1 &
    MLM_MLMD_PID=$!
    mlm_wait_socket "$MLM_DIR/milter.sock"
}

mlm_start() { # POLICY [extra config lines...]
    MLM_DIR=$(mktemp -d /tmp/mlm-test.XXXXXX)
    chmod 755 "$MLM_DIR"
    MLM_CONF=$MLM_DIR/mlm.conf
    MLM_MILTER=unix:$MLM_DIR/milter.sock
    export MLM_DIR MLM_CONF MLM_MILTER
    if [ -z "${MLM_DNS_RESOLVER:-}" ]; then
        . "$(dirname "${BASH_SOURCE[0]}")/dns.sh"
        dns_start "$MLM_DIR" || return 1
        MLM_DNS_RESOLVER=$DNS_RESOLVER
        MLM_DNS_OWN=1
    fi
    mlm_write_conf "$@" || return 1
    mlm_start_mux || { mlm_log; return 1; }
    mlm_start_mlmd || { mlm_log; return 1; }
}

# A second mlmd on TCP for Postfix (Postfix in its chroot-less private
# instance reaches the milter over loopback, as a real setup often does).
mlm_start_inet() {
    if [ -z "${MLM_PORT:-}" ]; then
        MLM_PORT=$(mlm_free_port)
        MLM_MILTER_INET=inet:$MLM_PORT@127.0.0.1
        export MLM_PORT MLM_MILTER_INET
    fi
    ${MLM_WRAPPER:-} "$MLMD_BIN" -f -C "$MLM_CONF" -p "$MLM_MILTER_INET" \
        >>"$MLM_DIR/mlmd-inet.log" 2>&1 &
    MLM_MLMD_INET_PID=$!
    mlm_wait_port "$MLM_PORT"
}

mlm_kill() { # PID
    [ -n "${1:-}" ] || return 0
    kill "$1" 2>/dev/null || return 0
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# Sanitizer and valgrind reports in the daemons' logs make a test fail.
MLM_REPORT_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|==[0-9]+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free)|definitely lost: [1-9]|blocks are definitely lost'

mlm_stop() {
    local rc=0 f
    mlm_kill "${MLM_MLMD_PID:-}"
    mlm_kill "${MLM_MLMD_INET_PID:-}"
    mlm_kill "${MLM_MUX_PID:-}"
    MLM_MLMD_PID= MLM_MLMD_INET_PID= MLM_MUX_PID=
    if [ -n "${MLM_DNS_OWN:-}" ]; then
        dns_stop
        MLM_DNS_OWN= MLM_DNS_RESOLVER=
    fi
    if [ -n "${MLM_DIR:-}" ] && [ -d "$MLM_DIR" ]; then
        for f in "$MLM_DIR"/*.log; do
            [ -f "$f" ] || continue
            if grep -Eq "$MLM_REPORT_RE" "$f"; then
                echo "FAIL - memory error report in $(basename "$f"):"
                grep -E -A12 "$MLM_REPORT_RE" "$f" | head -60
                rc=1
            fi
        done
        # mlmd's files go with their transactions; the outbox (mail a
        # policy sent) is the multiplexor's and may hold what is not sent
        f=$(find "$MLM_DIR/spool" -mindepth 1 -maxdepth 1 ! -name outbox 2>/dev/null)
        if [ -n "$f" ]; then
            echo "FAIL - spool not empty after the test: $f"
            rc=1
        fi
        if [ -z "${KEEP_TMP:-}" ]; then rm -rf "$MLM_DIR"; fi
    fi
    return $rc
}

mlm_ctl() { "$CTL_BIN" -C "$MLM_CONF" "$@"; }

mlm_wait_until() { # SECONDS COMMAND...
    local limit=$1
    shift
    [ -n "${MLM_WRAPPER:-}" ] && limit=$((limit * 6)) # valgrind is slow
    # by the clock, not by attempts: a COMMAND may take a second itself
    local end=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$end" ]; do
        "$@" && return 0
        sleep 0.05
    done
    "$@"
}

mlm_children() { # PID
    local f line ppid
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        read -r _ ppid _ <<<"${line##*) }"
        [ "$ppid" = "$1" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
    done
    return 0
}

# Wait until the outbox is empty: all mail the policy sent from a worker
# has been handed to sendmail (the drainer removes a file from cur/ once
# sendmail took it). 1 after 30 s.
mlm_outbox_wait() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ -z "$(ls -A "$MLM_DIR/spool/outbox/new" "$MLM_DIR/spool/outbox/cur" 2>/dev/null | grep -v -e '^$' -e ':$')" ] && return 0
        sleep 0.1
    done
    echo "# the outbox still holds: $(ls "$MLM_DIR/spool/outbox/new" "$MLM_DIR/spool/outbox/cur")"
    return 1
}

mlm_log() {
    local f
    for f in "$MLM_DIR"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $f"
        tail -n 60 "$f"
    done
}

# Test bookkeeping: t_ok/t_fail print one line each; t_done exits 0 or 1.
T_FAILED=0
T_COUNT=0
t_ok() { T_COUNT=$((T_COUNT + 1)); echo "ok - $*"; }
t_fail() { T_COUNT=$((T_COUNT + 1)); T_FAILED=$((T_FAILED + 1)); echo "FAIL - $*"; }
t_check() { # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then t_ok "$what"; else t_fail "$what"; fi
}
t_done() {
    echo "$T_COUNT checks, $T_FAILED failed"
    [ "$T_FAILED" -eq 0 ]
}
