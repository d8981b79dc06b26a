/*
 * zygote_proto.c - the fork server's messages (see zygote_proto.h).
 */
#include "zygote_proto.h"

#include <stdio.h>
#include <string.h>

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

void zy_encode(uint8_t out[ZY_MSG_LEN], enum zy_type type, uint32_t ticket,
               uint32_t value)
{
    out[0] = ZYGOTE_PROTO_VERSION;
    out[1] = (uint8_t)type;
    out[2] = out[3] = 0;
    put_u32(out + 4, ticket);
    put_u32(out + 8, value);
}

int zy_decode(struct zy_msg *m, const uint8_t *data, size_t len, char *why,
              size_t whylen)
{
    memset(m, 0, sizeof *m);
    if (len != ZY_MSG_LEN) {
        snprintf(why, whylen, "fork server message of %zu bytes, not %d",
                 len, ZY_MSG_LEN);
        return -1;
    }
    if (data[0] != ZYGOTE_PROTO_VERSION) {
        snprintf(why, whylen,
                 "fork server protocol version mismatch: peer speaks %u, we "
                 "speak %u",
                 data[0], ZYGOTE_PROTO_VERSION);
        return -1;
    }
    uint8_t type = data[1];
    uint32_t ticket = get_u32(data + 4), value = get_u32(data + 8);
    int pid_ok = value > 0 && value <= INT32_MAX;
    int ok = data[2] == 0 && data[3] == 0;
    switch (type) {
    case ZY_READY: ok = ok && ticket == 0 && pid_ok; break;
    case ZY_FORK: ok = ok && value == 0; break;
    case ZY_FORKED: ok = ok && pid_ok; break;
    case ZY_FORK_FAILED: break;
    default: ok = 0;
    }
    if (!ok) {
        snprintf(why, whylen,
                 "malformed fork server message (type %u, ticket %u, value "
                 "%u)",
                 type, ticket, value);
        return -1;
    }
    m->type = type;
    m->ticket = ticket;
    m->value = value;
    return 0;
}
