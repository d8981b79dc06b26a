/*
 * sqlscan.h - the parts of an SQL text that hold no SQL words (quoted
 * strings and names, dollar-quoted bodies, comments), and the forms of
 * statement a policy's own SQL may take.
 */
#ifndef MLM_SQLSCAN_H
#define MLM_SQLSCAN_H

#include <stddef.h>

/*
 * The length of the quoted string ('' and E'' with its backslash
 * escapes), quoted name (""), dollar-quoted body ($tag$...$tag$) or
 * comment (-- to the end of the line, block comments nested as
 * PostgreSQL nests them) that starts at p inside sql, to its end or to
 * the end of the text when it has none; 0 when none starts at p.
 */
size_t sql_opaque_len(const char *sql, const char *p);

/*
 * Whether word (upper case letters) is a word of sql outside its quotes
 * and comments, in any case.
 */
int sql_has_word(const char *sql, const char *word);

/*
 * Whether sql is a statement a policy may run (mlm.db): one statement,
 * whose first word after spaces and comments is SELECT, INSERT, UPDATE,
 * DELETE, REPLACE or WITH, or a CREATE (UNIQUE, TEMP), ALTER or DROP of a
 * TABLE or INDEX (a policy's own); nothing but spaces, comments and ; after its
 * first ; outside quotes; and no set_config, advisory or dblink anywhere
 * in the text, nor a U& escape. 0, or -1 with why. The same on both backends;
 * each backend's parser also takes one statement only.
 */
int sql_policy_check(const char *sql, char *why, size_t whylen);

#endif
