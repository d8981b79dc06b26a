# tests/lib/postgres.sh - a private PostgreSQL server for one test: its
# own cluster in a temp dir, listening only on a unix socket there (no TCP
# port), trust authentication for the role mlm. Source it, then:
#
#   pg_start            initdb + pg_ctl start; exports PG_DIR, PG_SOCKDIR,
#                       PG_PORT (the socket's number), PG_BIN
#   pg_createdb NAME    a database as mlm needs it (SQL_ASCII, collation C);
#                       prints its URI for mlm.conf's database key
#   pg_psql NAME SQL    runs SQL in database NAME, prints the rows
#   pg_stop             stops the server (fast); pg_start_again restarts it
#   pg_cleanup          stops it and removes PG_DIR (unless KEEP_TMP)
#
# PG_SERVER_OPTIONS: the server's settings (postgres -c ...), by default
# "-c fsync=off" (a test's data need not survive a crash); a benchmark
# sets the ones it measures with.
#
# PostgreSQL refuses to run as root: when the test is root, the server
# runs as the user postgres (Debian's package makes it) or nobody.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_OWNER" -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    [ -x "$PG_BIN/initdb" ] || { echo "postgres: no initdb in '$PG_BIN'" >&2; return 1; }
    PG_DIR=$(mktemp -d /tmp/mlm-pg.XXXXXX)
    PG_SOCKDIR=$PG_DIR/sock
    PG_PORT=$(( (RANDOM % 20000) + 30000 ))
    mkdir -p "$PG_SOCKDIR"
    PG_OWNER=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
        PG_OWNER=postgres
        id postgres >/dev/null 2>&1 || PG_OWNER=nobody
        chown -R "$PG_OWNER" "$PG_DIR"
    fi
    chmod 755 "$PG_DIR" "$PG_SOCKDIR"
    export PG_DIR PG_SOCKDIR PG_PORT PG_BIN PG_OWNER
    pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U mlm --auth=trust \
        --encoding=SQL_ASCII --locale=C >"$PG_DIR/initdb.log" 2>&1 ||
        { cat "$PG_DIR/initdb.log" >&2; return 1; }
    pg_start_again
}

pg_start_again() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
        -o "-k $PG_SOCKDIR -p $PG_PORT -c listen_addresses= ${PG_SERVER_OPTIONS--c fsync=off}" \
        start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
}

pg_createdb() { # NAME
    "$PG_BIN/createdb" -h "$PG_SOCKDIR" -p "$PG_PORT" -U mlm \
        --encoding=SQL_ASCII --locale=C --template=template0 "$1" || return 1
    echo "postgresql:///$1?host=$PG_SOCKDIR&port=$PG_PORT&user=mlm"
}

pg_psql() { # NAME SQL
    "$PG_BIN/psql" -h "$PG_SOCKDIR" -p "$PG_PORT" -U mlm -d "$1" -XAtq \
        -v ON_ERROR_STOP=1 -c "$2"
}

pg_stop() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
}

pg_cleanup() {
    [ -n "${PG_DIR:-}" ] || return 0
    pg_stop
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$PG_DIR"
}

# pg_policy_test NAME POLICY [CONFIG-LINE...]: what a test of one policy on
# a private server needs, set up or the test exits: $tmp (a directory,
# removed at exit with the server, after the function pg_test_cleanup if
# the test defines one), a migrated database mlm, $tmp/conf naming it and
# POLICY (and the lines given), ctl (mlm-ctl with that file) and
# $tmp/post.eml (a plain post from a@example.net to dev@example.org).
pg_policy_test() {
    local name=$1 policy=$2
    shift 2
    tmp=$(mktemp -d "/tmp/mlm-pg$name.XXXXXX")
    chmod 755 "$tmp"
    trap pg_policy_test_exit EXIT
    pg_start || exit 1
    local uri
    uri=$(pg_createdb mlm) || exit 1
    {
        printf 'database = %s\nuser =\npolicy = %s\nlua_path = %s\nsecret_file = %s\n' \
            "$uri" "$policy" "$top_srcdir/lua/lib" "$tmp/secret"
        local line
        for line in "$@"; do echo "$line"; done
    } >"$tmp/conf"
    "$CTL_BIN" -C "$tmp/conf" db migrate >/dev/null || exit 1
    printf 'From: a@example.net\nTo: dev@example.org\nSubject: %s\n\nHi.\n' \
        "$name" >"$tmp/post.eml"
    ctl() { "$CTL_BIN" -C "$tmp/conf" "$@"; }
}
# pg_writers_race: after pg_policy_test with a policy that counts the rows
# of site_cap (who TEXT NOT NULL: a NULL insert is a refused one) and
# inserts one when there are none (and says "X-Cap: N"),
# two requests at once: both run, and between them they add one row,
# which only the writers' lock gives. Sets pg_race_caps to their X-Cap
# lines, sorted.
pg_writers_race() {
    pg_psql mlm "CREATE TABLE site_cap (who TEXT NOT NULL)"
    local pa pb
    race_try() { ctl try --from "$1" --to dev@example.org "$tmp/post.eml" >"$tmp/$2.out" 2>&1; }
    race_try a@example.net a &
    pa=$!
    race_try b@example.net b &
    pb=$!
    wait $pa
    wait $pb
    pg_race_caps=$(grep -h '^X-Cap' "$tmp/a.out" "$tmp/b.out" | sort | tr '\n' ' ')
    t_check "both requests ran ($pg_race_caps)" \
        test "$(grep -h '^X-Cap' "$tmp/a.out" "$tmp/b.out" | wc -l)" = 2
    t_check "one row between them ($(pg_psql mlm 'SELECT count(*) FROM site_cap'))" \
        test "$(pg_psql mlm 'SELECT count(*) FROM site_cap')" = 1
}
pg_policy_test_exit() {
    local st=$?
    declare -F pg_test_cleanup >/dev/null && pg_test_cleanup
    pg_cleanup
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
    exit "$st"
}
