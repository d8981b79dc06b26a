/*
 * config_test.c - mlm.conf parsing: defaults, units, and errors that name
 * the file, the line and the key.
 */
#include "mlmconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures, checks;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        checks++;                                                              \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                        \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

static int load_text(struct mlm_config *cfg, const char *text, char *why,
                     size_t whylen)
{
    char path[] = "/tmp/mlm-config-test.XXXXXX";
    int fd = mkstemp(path);
    if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    config_defaults(cfg);
    int rc = config_load(cfg, path, 1, why, whylen);
    unlink(path);
    return rc;
}

int main(void)
{
    struct mlm_config cfg;
    char why[512];

    config_defaults(&cfg);
    CHECK(strcmp(cfg.milter_socket, "unix:/run/mlm/milter.sock") == 0,
          "default milter_socket");
    CHECK(cfg.workers_min == 2 && cfg.workers_max == 8, "default pool");
    CHECK(cfg.request_timeout == 30 && cfg.queue_max == 200 &&
              cfg.queue_timeout == 10 && cfg.worker_idle_timeout == 300,
          "default timeouts");
    CHECK(cfg.failure_action == FAILURE_TEMPFAIL, "default failure_action");
    CHECK(cfg.dsn_parameters == DSN_AUTO, "default dsn_parameters auto");
    config_free(&cfg);
    CHECK(load_text(&cfg, "dsn_parameters = yes\n", why, sizeof why) == 0 &&
              cfg.dsn_parameters == DSN_YES, "dsn_parameters yes: %s", why);
    config_free(&cfg);
    CHECK(load_text(&cfg, "dsn_parameters = no\n", why, sizeof why) == 0 &&
              cfg.dsn_parameters == DSN_NO, "dsn_parameters no: %s", why);
    config_free(&cfg);
    CHECK(load_text(&cfg, "dsn_parameters = maybe\n", why, sizeof why) == -1,
          "dsn_parameters maybe accepted");
    config_free(&cfg);

    CHECK(load_text(&cfg, "# comment\n\nworkers_min = 3 # trailing\n"
                          "request_timeout = 2m\nfailure_action = accept\n"
                          "lua_memory_limit = 64M\nuser =\n",
                    why, sizeof why) == 0,
          "good file refused: %s", why);
    CHECK(cfg.workers_min == 3, "workers_min");
    CHECK(cfg.request_timeout == 120, "2m is 120 s");
    CHECK(cfg.failure_action == FAILURE_ACCEPT, "failure_action accept");
    CHECK(cfg.lua_memory_limit == 64L * 1024 * 1024, "64M");
    CHECK(strcmp(cfg.user, "") == 0, "empty user");
    config_free(&cfg);

    CHECK(load_text(&cfg, "workers_min = 1\nbogus_key = 1\n", why,
                    sizeof why) == -1 &&
              strstr(why, ":2:") && strstr(why, "bogus_key"),
          "unknown key not named with its line: %s", why);
    config_free(&cfg);
    CHECK(load_text(&cfg, "failure_action = maybe\n", why, sizeof why) == -1 &&
              strstr(why, ":1:") && strstr(why, "failure_action"),
          "bad value not named: %s", why);
    config_free(&cfg);
    CHECK(load_text(&cfg, "queue_max = -4\n", why, sizeof why) == -1,
          "negative count accepted");
    config_free(&cfg);
    CHECK(load_text(&cfg, "request_timeout = 10x\n", why, sizeof why) == -1,
          "bad unit accepted");
    config_free(&cfg);
    CHECK(load_text(&cfg, "workers_min = 5\nworkers_max = 2\n", why,
                    sizeof why) == -1,
          "workers_min > workers_max accepted");
    config_free(&cfg);
    CHECK(load_text(&cfg, "just words\n", why, sizeof why) == -1 &&
              strstr(why, "key = value"),
          "line without = accepted: %s", why);
    config_free(&cfg);
    config_defaults(&cfg);
    CHECK(config_load(&cfg, "/nonexistent/mlm.conf", 1, why, sizeof why) ==
              -1,
          "missing explicit file accepted");
    CHECK(config_load(&cfg, "/nonexistent/mlm.conf", 0, why, sizeof why) == 0,
          "missing default file refused");
    config_free(&cfg);

    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
