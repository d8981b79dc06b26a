/*
 * validate.c - the checks that keep a policy's output safe for the MTA.
 *
 * The worker applies them when a policy asks for a reply or a change (so
 * the policy gets a Lua error naming its line), and mlmd applies them again
 * before it touches the MTA: nothing with CR, LF or another control
 * character reaches a header, an address or an SMTP reply.
 */
#include "proto.h"

#include <stdio.h>
#include <string.h>

#define HEADER_NAME_MAX 200
#define HEADER_VALUE_MAX 16384
/* An address handed to the MTA: any length a line may hold (the data
 * layer stores at most DB_ADDRESS_MAX, db.h). */
#define ENVELOPE_ADDRESS_MAX 998
#define REPLY_TEXT_MAX 450

static int has_control(const char *s, int allow_tab)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && !(allow_tab && *p == '\t')) || *p == 0x7f)
            return 1;
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* A 3-digit reply code; klass '4' or '5' demands that first digit. */
int smtp_code_valid(const char *code, char klass)
{
    if (code == NULL || strlen(code) != 3 || !is_digit(code[1]) ||
        !is_digit(code[2]))
        return 0;
    if (klass)
        return code[0] == klass;
    return code[0] == '2' || code[0] == '4' || code[0] == '5';
}

/* An RFC 3463 code class.subject.detail, each 1 to 3 digits. */
int smtp_dsn_valid(const char *dsn, char klass)
{
    if (dsn == NULL || !(dsn[0] == '2' || dsn[0] == '4' || dsn[0] == '5'))
        return 0;
    if (klass && dsn[0] != klass)
        return 0;
    const char *p = dsn + 1;
    for (int part = 0; part < 2; part++) {
        if (*p++ != '.')
            return 0;
        int digits = 0;
        while (is_digit(*p) && digits < 4)
            p++, digits++;
        if (digits < 1 || digits > 3)
            return 0;
    }
    return *p == '\0';
}

/* RFC 5322 field name: printable US-ASCII except colon. */
int header_name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > HEADER_NAME_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 33 || *p > 126 || *p == ':')
            return 0;
    return 1;
}

/* A value as a policy gives it: no CR, LF or other control character (mlm
 * folds it itself, header_fold). */
int header_value_valid(const char *value)
{
    return value && strlen(value) <= HEADER_VALUE_MAX &&
           !has_control(value, 1);
}

/*
 * A header value as the worker hands it to mlmd (header_fold): like
 * header_value_valid, but each LF must be a fold: followed by a space or
 * tab and then some text. Line lengths are the worker's to keep (Postfix
 * cuts a longer line itself). The limit on length does not count folds.
 */
int header_value_folded_valid(const char *value)
{
    if (value == NULL)
        return 0;
    size_t folds = 0, len = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++, len++) {
        if (*p == '\n') {
            const unsigned char *q = p + 1;
            if (*q != ' ' && *q != '\t')
                return 0;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == '\0' || *q == '\n')
                return 0; /* a line of blanks only */
            folds++;
            continue;
        }
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    }
    return len - folds <= HEADER_VALUE_MAX;
}

/*
 * An envelope address as mlmd hands it to the MTA inside <...>. One pass:
 * it runs for every recipient of every post, in the worker and in mlmd.
 */
int address_valid(const char *addr)
{
    /* 1 for the bytes an address may not hold; NUL ends the loop */
    static const unsigned char refused[256] = {
        [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
        [0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1,
        [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1,
        [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
        [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1,
        [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1,
        [0x1f] = 1, [0x7f] = 1, ['<'] = 1, ['>'] = 1};
    if (addr == NULL)
        return 0;
    const unsigned char *p = (const unsigned char *)addr;
    while (*p && !refused[*p])
        p++;
    return *p == '\0' && (size_t)(p - (const unsigned char *)addr) <= ENVELOPE_ADDRESS_MAX;
}

int reply_text_valid(const char *text)
{
    return text && strlen(text) <= REPLY_TEXT_MAX && !has_control(text, 0);
}

/* The whole reply, as mlmd checks it before applying anything. */
int reply_validate(const struct mlm_reply *rep, char *why, size_t whylen)
{
    char klass = rep->action == ACT_REJECT     ? '5'
                 : rep->action == ACT_TEMPFAIL ? '4'
                                               : 0;
    if (rep->code && !smtp_code_valid(rep->code, klass))
        return snprintf(why, whylen, "bad reply code"), -1;
    if (rep->dsn && !smtp_dsn_valid(rep->dsn, klass))
        return snprintf(why, whylen, "bad enhanced status code"), -1;
    if (rep->text && !reply_text_valid(rep->text))
        return snprintf(why, whylen, "bad reply text"), -1;
    for (uint32_t i = 0; i < rep->nchanges; i++) {
        const struct mlm_change *c = &rep->changes[i];
        int ok = 1;
        switch (c->kind) {
        case CHG_ADD_HEADER:
        case CHG_CHANGE_HEADER:
            ok = header_name_valid(c->name) &&
                 header_value_folded_valid(c->value);
            break;
        case CHG_DELETE_HEADER:
            ok = header_name_valid(c->name);
            break;
        case CHG_ADD_RCPT:
        case CHG_DELETE_RCPT:
        case CHG_CHANGE_SENDER:
            ok = address_valid(c->value);
            break;
        case CHG_REPLACE_BODY:
            ok = c->value && *c->value == '/' && !has_control(c->value, 0);
            break;
        case CHG_QUARANTINE:
            ok = reply_text_valid(c->value);
            break;
        }
        if (!ok)
            return snprintf(why, whylen, "change %u is not safe to apply", i),
                   -1;
    }
    return 0;
}
