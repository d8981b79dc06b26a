/*
 * sqlscan.c - the opaque parts of an SQL text, and what a policy's SQL
 * may be (sqlscan.h).
 */
#include "sqlscan.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A character of an unquoted identifier: PostgreSQL allows $ after the
   first, and takes every byte past ASCII for a letter. */
static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$' ||
           (unsigned char)c >= 0x80;
}

/*
 * The length of a dollar-quote's opening tag at p ($$, $name$), or 0;
 * a $ inside an identifier (a$b) opens none.
 */
static size_t dollar_tag(const char *sql, const char *p)
{
    if (*p != '$' || (p > sql && ident_char(p[-1])))
        return 0;
    size_t n = 1;
    if (isalpha((unsigned char)p[n]) || p[n] == '_' ||
        (unsigned char)p[n] >= 0x80)
        while (ident_char(p[n]) && p[n] != '$')
            n++;
    return p[n] == '$' ? n + 1 : 0;
}

size_t sql_opaque_len(const char *sql, const char *p)
{
    size_t tag = dollar_tag(sql, p);
    if (tag) {
        const char *end;
        for (end = p + tag; *end && strncmp(end, p, tag) != 0; end++)
            ;
        return *end ? (size_t)(end + tag - p) : strlen(p);
    }
    if (*p == '\'' || *p == '"') {
        /* E'...' strings take backslash escapes */
        int escapes = *p == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
                      (p - 1 == sql || !ident_char(p[-2]));
        const char *q = p + 1;
        while (*q && *q != *p) {
            if (escapes && *q == '\\' && q[1])
                q++;
            q++;
        }
        return (size_t)(q - p) + (*q ? 1 : 0);
    }
    if (p[0] == '-' && p[1] == '-')
        return strcspn(p, "\n");
    if (p[0] == '/' && p[1] == '*') {
        const char *q = p + 2;
        int depth = 1;
        while (*q && depth > 0) {
            if (q[0] == '/' && q[1] == '*') {
                depth++;
                q += 2;
            } else if (q[0] == '*' && q[1] == '/') {
                depth--;
                q += 2;
            } else {
                q++;
            }
        }
        return (size_t)(q - p);
    }
    return 0;
}

/*
 * Past spaces and comments from p; NULL when a block comment holds
 * another (PostgreSQL nests them, SQLite does not: the two would read
 * different statements).
 */
static const char *skip_space(const char *sql, const char *p)
{
    for (;;) {
        p += strspn(p, " \t\r\n\f");
        if (!(p[0] == '-' && p[1] == '-') && !(p[0] == '/' && p[1] == '*'))
            return p;
        size_t n = sql_opaque_len(sql, p);
        if (p[0] == '/')
            for (size_t i = 2; i + 1 < n; i++)
                if (p[i] == '/' && p[i + 1] == '*')
                    return NULL;
        p += n;
    }
}

/* The word at p (letters only) in upper case into out; its length. */
static size_t word_at(const char *p, char *out, size_t outlen)
{
    size_t n = 0;
    while (isalpha((unsigned char)p[n]) || p[n] == '_') {
        if (n + 1 < outlen)
            out[n] = (char)toupper((unsigned char)p[n]);
        n++;
    }
    out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

int sql_has_word(const char *sql, const char *word)
{
    char found[32];
    for (const char *p = sql; *p;) {
        size_t skip = sql_opaque_len(sql, p);
        if (skip) {
            p += skip;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            size_t n = word_at(p, found, sizeof found);
            if ((p == sql || !isalnum((unsigned char)p[-1])) &&
                !isdigit((unsigned char)p[n]) && strcmp(found, word) == 0)
                return 1;
            p += n;
        } else {
            p++;
        }
    }
    return 0;
}

/*
 * Whether the statement starting at p (its first word in word) is of a
 * form a policy may run: a query or a change of rows, or the creation,
 * change or removal of a table or index of the policy's own. Never a
 * statement about the session or the transaction (SET, BEGIN, PREPARE,
 * LISTEN, COPY, PRAGMA, ATTACH ...): the driver owns those.
 */
static int allowed_form(const char *sql, const char *p, const char *word,
                        size_t n)
{
    static const char *const rows[] = {"SELECT", "INSERT", "UPDATE",
                                       "DELETE", "WITH", "REPLACE", NULL};
    for (int i = 0; rows[i]; i++)
        if (strcmp(word, rows[i]) == 0)
            return 1;
    int create = strcmp(word, "CREATE") == 0;
    if (!create && strcmp(word, "DROP") != 0 && strcmp(word, "ALTER") != 0)
        return 0;
    char next[16];
    const char *q = skip_space(sql, p + n);
    size_t m = q ? word_at(q, next, sizeof next) : 0;
    /* CREATE UNIQUE INDEX, CREATE TEMP[ORARY] TABLE */
    while (create && m && (strcmp(next, "UNIQUE") == 0 ||
                           strcmp(next, "TEMP") == 0 ||
                           strcmp(next, "TEMPORARY") == 0)) {
        q = skip_space(sql, q + m);
        m = q ? word_at(q, next, sizeof next) : 0;
    }
    if (m == 0)
        return 0;
    if (strcmp(next, "TABLE") == 0)
        return 1;
    return strcmp(next, "INDEX") == 0 && strcmp(word, "ALTER") != 0;
}

/*
 * Functions that change the session or reach outside it, refused by name
 * anywhere in the text (quoted or not, whatever the case), and
 * PostgreSQL's U& escapes, which could spell one otherwise.
 */
static const char *refused_text(const char *sql)
{
    static const char *const names[] = {"set_config", "advisory", "dblink",
                                        "u&\"", "u&'", NULL};
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(names[i]);
        for (const char *p = sql; *p; p++)
            if (strncasecmp(p, names[i], n) == 0)
                return names[i];
    }
    return NULL;
}

int sql_policy_check(const char *sql, char *why, size_t whylen)
{
    const char *name = refused_text(sql);
    if (name != NULL) {
        snprintf(why, whylen, "database: a policy's SQL may not use %s "
                 "(it changes the session the driver owns)", name);
        return -1;
    }
    const char *p = skip_space(sql, sql);
    if (p == NULL) {
        snprintf(why, whylen, "database: a policy's SQL: no comment inside "
                 "a comment");
        return -1;
    }
    char word[16];
    size_t n = word_at(p, word, sizeof word);
    if (n == 0 || !allowed_form(sql, p, word, n)) {
        snprintf(why, whylen, "database: a policy's SQL is one SELECT, "
                 "INSERT, UPDATE, DELETE, REPLACE or WITH statement, or "
                 "CREATE, ALTER or DROP of a TABLE or INDEX, not %s",
                 n ? word : "that");
        return -1;
    }
    /* the first ; outside quotes and comments ends the statement */
    while (*p && *p != ';') {
        size_t skip = sql_opaque_len(sql, p);
        p += skip ? skip : 1;
    }
    while (*p == ';') {
        p = skip_space(sql, p + 1);
        if (p == NULL || (*p != '\0' && *p != ';')) {
            snprintf(why, whylen, "database: a policy's SQL is one "
                     "statement at a time");
            return -1;
        }
    }
    return 0;
}
