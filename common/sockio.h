/*
 * sockio.h - unix sockets and whole-frame I/O with deadlines.
 *
 * Every wait has a deadline (a CLOCK_MONOTONIC time in milliseconds); a
 * blocking read with no end is a bug. Used by mlmd, mlm-ctl and the worker;
 * the multiplexor has its own non-blocking event loop but shares
 * frame_complete() from proto.h.
 */
#ifndef MLM_SOCKIO_H
#define MLM_SOCKIO_H

#include "clock.h"
#include "privileges.h"
#include "proto.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Connected stream socket to a unix path, close-on-exec; -1 with why. */
int unix_connect(const char *path, char *why, size_t whylen);

/* Listening socket at path (an old socket file is replaced), chmod mode. */
int unix_listen(const char *path, mode_t mode, char *why, size_t whylen);

/* Write all of buf before the deadline. 0 or -1 with why. */
int frame_write(int fd, const struct mlm_buf *buf, int64_t deadline,
                char *why, size_t whylen);

/* A deadline that never comes: frame_read then blocks in recv. */
#define DEADLINE_NONE INT64_MAX

/*
 * Read one whole frame into in (reset first). On success *payload and
 * *payload_len point into in. 0, or -1 with why (timeout, EOF, bad length,
 * bytes after the frame: the peer must wait for an answer before it sends
 * again).
 */
int frame_read(int fd, struct mlm_buf *in, int64_t deadline,
               const uint8_t **payload, size_t *payload_len, char *why,
               size_t whylen);

#endif
