/*
 * zygote.h - mlm-worker's fork server mode (-Z), see zygote.c.
 */
#ifndef MLM_ZYGOTE_H
#define MLM_ZYGOTE_H

/*
 * Serve fork requests on fd 0 until the multiplexor closes it. Returns 0 in
 * each forked worker (its own socket now on fd 0; carry on as a worker),
 * and -1 in the zygote when the multiplexor is gone (exit then).
 */
int zygote_serve(void);

/*
 * In a worker, its policy loaded: back to the priority the zygote started
 * with, from the lowest it forked it at. Nothing in an executed worker.
 */
void zygote_worker_loaded(void);

#endif
