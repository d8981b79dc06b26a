/*
 * dbq.h - one prepared statement of a database connection, whatever the
 * backend (SQLite or PostgreSQL): bind, step, read columns, reset.
 *
 * The shape is SQLite's, which the data layer was written against:
 * parameters are numbered from 1 (?1 in the statement text; the
 * PostgreSQL driver sends them as $1), columns from 0, and dbq_step
 * returns DBQ_ROW while there are rows, then DBQ_DONE. A statement from
 * db_stmt belongs to the connection and comes reset and unbound, never
 * to be freed; one from
 * db_prepare (a policy's own SQL) is freed with dbq_free.
 *
 * Lifetimes: text and blobs bound with dbq_bind_text and dbq_bind_blob
 * must stay valid until the statement is stepped (dbq_bind_text_copy
 * copies). A column's text is valid until the next dbq_step or dbq_reset
 * of its statement; a blob also only until the row's next dbq_blob of
 * another column (PostgreSQL unescapes one at a time). dbq_text returns
 * NULL for SQL NULL.
 */
#ifndef MLM_DBQ_H
#define MLM_DBQ_H

#include <stddef.h>
#include <stdint.h>

enum { DBQ_ERROR = -1, DBQ_DONE = 0, DBQ_ROW = 1 };

/* What a column of the current row holds (for values pushed to Lua). */
enum dbq_type { DBQ_NULL, DBQ_INTEGER, DBQ_FLOAT, DBQ_TEXT, DBQ_BLOB };

struct dbq;

/* What each backend's statement does; one table per driver. */
struct dbq_ops {
    void (*bind_int64)(struct dbq *q, int idx, int64_t value);
    void (*bind_double)(struct dbq *q, int idx, double value);
    void (*bind_text)(struct dbq *q, int idx, const char *text, size_t len,
                      int copy);
    void (*bind_blob)(struct dbq *q, int idx, const void *data, size_t len);
    void (*bind_null)(struct dbq *q, int idx);
    int (*step)(struct dbq *q);
    void (*reset)(struct dbq *q);
    void (*unbind)(struct dbq *q);
    int (*param_count)(struct dbq *q);
    int64_t (*column_int64)(struct dbq *q, int col);
    double (*column_double)(struct dbq *q, int col);
    const char *(*column_text)(struct dbq *q, int col);
    const void *(*column_blob)(struct dbq *q, int col, size_t *len);
    enum dbq_type (*column_type)(struct dbq *q, int col);
    int (*column_count)(struct dbq *q);
    const char *(*column_name)(struct dbq *q, int col);
    void (*free)(struct dbq *q);
};

/* The head of every backend's statement. */
struct dbq {
    const struct dbq_ops *ops;
};

static inline void dbq_bind_int64(struct dbq *q, int idx, int64_t value)
{
    q->ops->bind_int64(q, idx, value);
}

static inline void dbq_bind_double(struct dbq *q, int idx, double value)
{
    q->ops->bind_double(q, idx, value);
}

/* NUL-terminated text, valid until the step. */
void dbq_bind_text(struct dbq *q, int idx, const char *text);

/* Text that may not outlive this call: copied. */
void dbq_bind_text_copy(struct dbq *q, int idx, const char *text);

/* len bytes of text, copied (a Lua string may hold NULs). */
static inline void dbq_bind_text_len(struct dbq *q, int idx, const char *text,
                                     size_t len)
{
    q->ops->bind_text(q, idx, text, len, 1);
}

static inline void dbq_bind_blob(struct dbq *q, int idx, const void *data,
                                 size_t len)
{
    q->ops->bind_blob(q, idx, data, len);
}

static inline void dbq_bind_null(struct dbq *q, int idx)
{
    q->ops->bind_null(q, idx);
}

/* DBQ_ROW, DBQ_DONE or DBQ_ERROR (the message: db_errmsg). */
static inline int dbq_step(struct dbq *q) { return q->ops->step(q); }

/* Back to before the first step; the bindings are kept. */
static inline void dbq_reset(struct dbq *q) { q->ops->reset(q); }

/* Every parameter back to NULL. */
static inline void dbq_unbind(struct dbq *q) { q->ops->unbind(q); }

/* The largest parameter number of the statement. */
static inline int dbq_param_count(struct dbq *q)
{
    return q->ops->param_count(q);
}

static inline int64_t dbq_int64(struct dbq *q, int col)
{
    return q->ops->column_int64(q, col);
}

static inline int dbq_int(struct dbq *q, int col)
{
    return (int)q->ops->column_int64(q, col);
}

static inline double dbq_double(struct dbq *q, int col)
{
    return q->ops->column_double(q, col);
}

static inline const char *dbq_text(struct dbq *q, int col)
{
    return q->ops->column_text(q, col);
}

/* The bytes of a blob column and their number in *len. */
static inline const void *dbq_blob(struct dbq *q, int col, size_t *len)
{
    return q->ops->column_blob(q, col, len);
}

static inline enum dbq_type dbq_column_type(struct dbq *q, int col)
{
    return q->ops->column_type(q, col);
}

static inline int dbq_column_count(struct dbq *q)
{
    return q->ops->column_count(q);
}

static inline const char *dbq_column_name(struct dbq *q, int col)
{
    return q->ops->column_name(q, col);
}

/* Free a statement from db_prepare (never one from db_stmt). */
static inline void dbq_free(struct dbq *q)
{
    if (q)
        q->ops->free(q);
}

#endif
