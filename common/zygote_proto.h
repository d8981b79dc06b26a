/*
 * zygote_proto.h - the fork server's channel: mlm-multiplexor
 * (multiplexor/zygote.c) <-> mlm-worker -Z (worker/zygote.c), on a stream
 * socketpair that is the fork server's fd 0. Both sides include this
 * header; nothing else defines the format (doc/PROTOCOL.md).
 *
 * Every message is ZY_MSG_LEN bytes, all big-endian:
 *
 *     [0]     version   ZYGOTE_PROTO_VERSION; a mismatch is refused
 *     [1]     type      enum zy_type
 *     [2..3]  reserved  0
 *     [4..7]  ticket    the multiplexor's worker id from ZY_FORK, echoed
 *                       in its answer; 0 in ZY_READY
 *     [8..11] value     ZY_READY: the fork server's pid; ZY_FORK: 0;
 *                       ZY_FORKED: the worker's pid; ZY_FORK_FAILED: errno
 *
 * ZY_FORK carries the worker's socket as SCM_RIGHTS. The fork server says
 * ZY_READY once, first; then one answer per ZY_FORK, in their order.
 */
#ifndef MLM_ZYGOTE_PROTO_H
#define MLM_ZYGOTE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define ZYGOTE_PROTO_VERSION 1
#define ZY_MSG_LEN 12

enum zy_type {
    ZY_READY = 1,     /* fork server -> mux: ready for requests */
    ZY_FORK,          /* mux -> fork server: fork a worker on this socket */
    ZY_FORKED,        /* fork server -> mux: the worker runs, its pid */
    ZY_FORK_FAILED,   /* fork server -> mux: no worker, the fork's errno */
};

struct zy_msg {
    enum zy_type type;
    uint32_t ticket;
    uint32_t value;
};

void zy_encode(uint8_t out[ZY_MSG_LEN], enum zy_type type, uint32_t ticket,
               uint32_t value);
/*
 * Exactly ZY_MSG_LEN bytes (len) into m: the version, a known type,
 * reserved 0, and the value the type allows (a pid 1 .. INT32_MAX in
 * ZY_READY and ZY_FORKED, 0 in ZY_FORK, ticket 0 in ZY_READY). Whether
 * the type may come from that peer is the caller's check. 0, or -1 with
 * why.
 */
int zy_decode(struct zy_msg *m, const uint8_t *data, size_t len, char *why,
              size_t whylen);

#endif
