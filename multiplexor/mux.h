/*
 * mux.h - mlm-multiplexor's state: workers, clients, the request queue and
 * statistics, all owned by the single event loop in main.c.
 *
 * A request travels: client (mlmd) -> queue -> idle worker -> reply ->
 * client. The multiplexor relays request and reply frames without decoding
 * them; it reads only the fixed payload header (stage, action) and stamps
 * the current policy's stage mask into the reply's flags byte, so mlmd
 * learns of a reload that changed the stages.
 */
#ifndef MLM_MUX_H
#define MLM_MUX_H

#include "mlmconf.h"
#include "proto.h"

#include <stdint.h>
#include <sys/types.h>

enum worker_state {
    W_STARTING,   /* forked, loading the policy */
    W_IDLE,
    W_BUSY,
    W_RETIRING,   /* finishing its last request, or told to leave */
    W_DEAD,       /* exited or killed; waiting to be reaped and freed */
};

struct client;

/* Fork requests the fork server may have in hand; more are executed. */
#define ZYGOTE_OWES_MAX 16

/* An fd's place in the event loop's epoll set (watch.c). */
struct watch {
    int on;                      /* in the set */
    uint32_t events;             /* EPOLLIN, EPOLLOUT as registered */
};

struct worker {
    int id;
    pid_t pid;
    int fd;
    enum worker_state state;
    unsigned generation;
    uint32_t stages;
    unsigned requests;
    int64_t started_ms;
    int64_t state_since_ms;
    int64_t request_since_ms;    /* when its current request was sent */
    int64_t kill_at_ms;          /* SIGKILL after SIGTERM, 0 when not due */
    int reload_probe;            /* started to check a new policy */
    int successor_id;            /* started to take over from this one */
    int replaces_id;             /* the worker this one takes over from */
    int pid_owed;                /* the fork server has yet to tell its pid */
    int pid_unknown;             /* nobody did (lost): counted when freed */
    int reaped;                  /* exited and collected: pid 0 for good */
    struct client *client;       /* the request being served */
    uint8_t stage;
    struct mlm_buf in;
    struct mlm_buf out;
    struct watch watch;
    struct worker *next;
};

enum client_kind { CLIENT_MLMD, CLIENT_CTL };

struct client {
    int fd;
    enum client_kind kind;
    uid_t uid;                   /* the peer (SO_PEERCRED), for ctl checks */
    struct mlm_buf in;
    struct mlm_buf out;
    struct mlm_buf request;      /* the frame waiting or being served */
    int pending;                 /* a request is queued or at a worker */
    uint8_t stage;
    int64_t queued_us;           /* when the request came, for latency */
    struct worker *worker;
    int closing;                 /* close once out is flushed */
    int reload_waiting;          /* ctl: answer when the reload ends */
    struct watch watch;
    struct client *queue_next;
    struct client *next;
};

struct mux {
    const struct mlm_config *cfg;
    const char *config_path;
    int explicit_config;
    int foreground;
    int debug;
    int mx_listen_fd;
    int ctl_listen_fd;
    uid_t own_uid;
    struct worker *workers;
    struct client *clients;
    struct client *queue_head, *queue_tail;
    int queue_len;
    unsigned generation;         /* the serving generation */
    unsigned last_generation;    /* the newest started, maybe a probe */
    uint32_t stages;             /* its policy's stage mask */
    int next_worker_id;
    int64_t next_start_ms;       /* pacing after failed starts */
    int start_failures;
    int zygote_fd;               /* the worker fork server, -1: none */
    pid_t zygote_pid;
    int zygote_ready;            /* its first word came */
    struct watch zygote_watch;
    struct zygote_ask {          /* workers whose pid it owes, oldest first */
        int worker_id;
        int64_t asked_ms;
    } zygote_owes[ZYGOTE_OWES_MAX];
    int zygote_owes_n;
    uint8_t zygote_in[64];       /* its messages (zygote_proto.h) */
    size_t zygote_in_len;
    pid_t zygote_reaped[ZYGOTE_OWES_MAX]; /* children reaped before their
                                             pid came: a ring */
    unsigned zygote_reaped_next;
    int64_t zygote_next_ms;      /* when to start it, -1: never */
    int zygote_failures;
    unsigned long long zygote_forks; /* workers it started */
    pid_t outbox_pid;            /* the outbox drainer running, or 0 */
    int64_t outbox_since_ms;     /* when it started */
    int outbox_killed;           /* it outlived its limit and was killed */
    int outbox_wanted;           /* a worker left mail: drain at once */
    int64_t outbox_check_ms;     /* when to look for mail waiting */
    int stopping;
    int64_t stop_deadline_ms;
    int64_t started_ms;
};

/* watch.c: the epoll set; an fd leaves it (watch_forget) before close */
struct epoll_event;
void watch_open(void);
int watch_sync(struct watch *wt, int fd, uint32_t events, uint64_t tag);
void watch_forget(struct watch *wt, int fd);
int watch_wait(struct epoll_event *events, int max, int timeout_ms);

/* pool.c */
struct worker *worker_start(struct mux *mx, unsigned generation, int probe);
void worker_readable(struct mux *mx, struct worker *w);
void worker_flush(struct mux *mx, struct worker *w);
void worker_lost(struct mux *mx, struct worker *w, const char *why);
void workers_reap(struct mux *mx, int children_exited);
void pool_tick(struct mux *mx, int64_t now);
void pool_dispatch(struct mux *mx);
int workers_count(struct mux *mx, int state);  /* -1: all alive */
struct worker *worker_find(struct mux *mx, int id);
/* The pid a worker told itself (READY, LOAD_ERROR), unless known. */
void worker_pid_told(struct worker *w, pid_t pid);
/* The pause after the nth failure in a row: first_ms doubled, up to max_ms. */
int64_t backoff_ms(int failures, int64_t first_ms, int64_t max_ms);
void pool_reload(struct mux *mx, struct client *requester);
void pool_stop(struct mux *mx);
const char *worker_state_name(enum worker_state s);

/* Fork and exec mlm-worker (with -Z: the fork server) on a new socketpair.
 * The pid, and *sock the multiplexor's end; -1 on failure. */
pid_t worker_spawn(struct mux *mx, int zygote, int *sock);
int pair_open(int sv[2]);

/* zygote.c: the worker fork server */
void zygote_nice_allow(void);     /* as root, before privileges go */
void zygote_init(struct mux *mx);
void zygote_tick(struct mux *mx, int64_t now);
/* Ask it for worker worker_id: 0 and *sock (its pid comes later, see
 * zygote_readable), or -1: exec it. */
int zygote_spawn(struct mux *mx, int worker_id, int *sock);
void zygote_readable(struct mux *mx);
/* A child that no worker has as its pid: maybe one whose pid is owed. */
void zygote_reaped_unknown(struct mux *mx, pid_t pid);
int zygote_exited(struct mux *mx, pid_t pid);         /* 1: it was */
void zygote_restart(struct mux *mx);
void zygote_stop(struct mux *mx);

/* outbox.c: the outbox drainer (mlm-worker -O) */
void outbox_kick(struct mux *mx);       /* a worker left mail in it */
void outbox_tick(struct mux *mx, int64_t now);
int outbox_exited(struct mux *mx, pid_t pid, int status); /* 1: it was */

/* clients.c */
void client_accept(struct mux *mx, int listen_fd, enum client_kind kind);
void client_readable(struct mux *mx, struct client *c);
void client_flush(struct mux *mx, struct client *c);
void client_send(struct mux *mx, struct client *c, const struct mlm_buf *b);
void client_fail(struct mux *mx, struct client *c, const char *why);
void client_reply(struct mux *mx, struct client *c, const uint8_t *frame,
                  size_t len);
struct client *queue_pop(struct mux *mx);
void queue_tick(struct mux *mx, int64_t now);
void clients_reap(struct mux *mx);

/* control.c */
void control_command(struct mux *mx, struct client *c, const uint8_t *payload,
                     size_t len);
void control_answer(struct mux *mx, struct client *c, int ok,
                     const char *text);

/* stats.c */

void stats_record(enum mlm_stage stage, enum mlm_action action,
                  int64_t latency_us, int64_t now_ms);
void stats_worker_started(void);
void stats_worker_exited(void);
/* Render statistics in a format (text for one out of range). */
char *stats_render(struct mux *mx, enum mlm_stats_format format, int64_t now);

/* Non-blocking write of as much of b as the socket takes. -1 on error. */
int fd_flush(int fd, struct mlm_buf *b);
/* Read what is there into b. 0 ok, -1 EOF or error. */
int fd_fill(int fd, struct mlm_buf *b);

#endif
