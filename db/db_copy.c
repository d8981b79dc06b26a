/*
 * db_copy.c - every row of one mlm database into another, empty one,
 * whatever their backends (mlm-ctl db copy): lists, settings, patterns,
 * members, held posts, requests, tokens, bounces, replies, the change log,
 * templates and meta, with their ids. One transaction on the destination;
 * the counts of both are compared after it. The secret marks and tokens
 * are made with moves too (db_secret_carry).
 */
#include "dbi.h"

#include <stdio.h>
#include <string.h>

/*
 * In an order that satisfies the foreign keys; ids kept where they are.
 * The secret's row of meta is not copied: it goes only where it is used
 * (db_secret_carry), never into a SQLite file, which keeps its own.
 */
static const struct {
    const char *name;
    int has_id;         /* an id column the database numbers */
    const char *rows;   /* which rows */
} tables[] = {
    {"lists", 1, "true"},    {"settings", 0, "true"},
    {"patterns", 0, "true"}, {"members", 0, "true"},
    {"bounces", 1, "true"},  {"held", 1, "true"},
    {"meta", 0, "key <> 'secret'"},
    {"tokens", 0, "true"},   {"replies", 0, "true"},
    {"bounce_unrecognised", 1, "true"},
    {"requests", 1, "true"}, {"changes", 1, "true"},
    {"templates", 0, "true"},
};

#define NTABLES (sizeof tables / sizeof tables[0])
#define COLUMNS_MAX 32

/* The number of rows of table; -1 with why. */
static int64_t table_count(struct db *db, const char *table,
                           const char *rows, char *why, size_t whylen)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", table,
             rows);
    struct dbq *q = db_prepare(db, sql, why, whylen);
    if (q == NULL)
        return -1;
    int64_t n = dbq_step(q) == DBQ_ROW ? dbq_int64(q, 0) : -1;
    if (n < 0)
        db_fail(db, table, why, whylen);
    dbq_free(q);
    return n;
}

/* An INSERT of row's columns into table, prepared on dst. */
static struct dbq *insert_for(struct db *dst, const char *table,
                              struct dbq *row, char *why, size_t whylen)
{
    char sql[1024], values[256];
    int n = dbq_column_count(row);
    if (n < 1 || n > COLUMNS_MAX) {
        snprintf(why, whylen, "%s: %d columns", table, n);
        return NULL;
    }
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s (", table);
    size_t vlen = 0;
    for (int i = 0; i < n && len < sizeof sql; i++) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%s",
                                i ? ", " : "", dbq_column_name(row, i));
        vlen += (size_t)snprintf(values + vlen, sizeof values - vlen,
                                 "%s?%d", i ? ", " : "", i + 1);
    }
    if (len < sizeof sql)
        snprintf(sql + len, sizeof sql - len, ") VALUES (%s)", values);
    return db_prepare(dst, sql, why, whylen);
}

static void bind_column(struct dbq *ins, int idx, struct dbq *row, int col)
{
    size_t len;
    const void *bytes;
    switch (dbq_column_type(row, col)) {
    case DBQ_NULL: dbq_bind_null(ins, idx); break;
    case DBQ_INTEGER: dbq_bind_int64(ins, idx, dbq_int64(row, col)); break;
    case DBQ_FLOAT: dbq_bind_double(ins, idx, dbq_double(row, col)); break;
    case DBQ_BLOB:
        bytes = dbq_blob(row, col, &len);
        dbq_bind_blob(ins, idx, bytes, len);
        break;
    default:
        bytes = dbq_blob(row, col, &len);
        dbq_bind_text_len(ins, idx, bytes ? bytes : "", len);
    }
}

/* Every row of table from src into dst; the number, or -1 with why. */
static int64_t table_copy(struct db *src, struct db *dst, const char *table,
                          const char *rows, char *why, size_t whylen)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE %s", table, rows);
    struct dbq *row = db_prepare(src, sql, why, whylen);
    if (row == NULL)
        return -1;
    struct dbq *ins = NULL;
    int64_t copied = 0;
    int rc;
    while ((rc = dbq_step(row)) == DBQ_ROW) {
        if (ins == NULL && (ins = insert_for(dst, table, row, why,
                                             whylen)) == NULL)
            break;
        dbq_reset(ins);
        for (int i = 0; i < dbq_column_count(row); i++)
            bind_column(ins, i + 1, row, i);
        if (dbq_step(ins) == DBQ_ERROR) {
            db_fail(dst, table, why, whylen);
            break;
        }
        copied++;
    }
    if (rc == DBQ_ERROR)
        db_fail(src, table, why, whylen);
    int ok = rc == DBQ_DONE;
    dbq_free(ins);
    dbq_free(row);
    return ok ? copied : -1;
}

/* PostgreSQL numbers new rows after the ids copied in. */
static int ids_follow(struct db *dst, const char *table, char *why,
                      size_t whylen)
{
    if (strcmp(db_backend(dst), "postgresql") != 0)
        return 0;
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT setval(pg_get_serial_sequence('%s', "
             "'id'), COALESCE(max(id), 0) + 1, false) FROM %s", table, table);
    struct dbq *q = db_prepare(dst, sql, why, whylen);
    if (q == NULL)
        return -1;
    int rc = dbq_step(q);
    if (rc == DBQ_ERROR)
        db_fail(dst, table, why, whylen);
    dbq_free(q);
    return rc == DBQ_ERROR ? -1 : 0;
}

int db_copy(struct db *src, struct db *dst, const char *secret_file,
            void (*report)(const char *table, int64_t rows, void *arg),
            void *arg, char *why, size_t whylen)
{
    for (size_t i = 0; i < NTABLES; i++) {
        int64_t n = table_count(dst, tables[i].name, tables[i].rows, why,
                                whylen);
        if (n != 0) {
            if (n > 0)
                snprintf(why, whylen, "the destination is not empty: "
                         "table %s has %lld rows", tables[i].name,
                         (long long)n);
            return -1;
        }
    }
    if (db_begin(dst, why, whylen) == -1)
        return -1;
    for (size_t i = 0; i < NTABLES; i++) {
        if (table_copy(src, dst, tables[i].name, tables[i].rows, why,
                       whylen) < 0 ||
            (tables[i].has_id &&
             ids_follow(dst, tables[i].name, why, whylen) == -1)) {
            db_rollback(dst);
            return -1;
        }
    }
    if (db_commit(dst, why, whylen) == -1) {
        db_rollback(dst);
        return -1;
    }
    for (size_t i = 0; i < NTABLES; i++) {
        int64_t a = table_count(src, tables[i].name, tables[i].rows, why,
                                whylen);
        int64_t b = table_count(dst, tables[i].name, tables[i].rows, why,
                                whylen);
        if (a < 0 || b < 0)
            return -1;
        if (a != b) {
            snprintf(why, whylen, "table %s: %lld rows in the source, %lld "
                     "copied", tables[i].name, (long long)a, (long long)b);
            return -1;
        }
        if (report)
            report(tables[i].name, b, arg);
    }
    return db_secret_carry(src, secret_file, dst, why, whylen);
}
