/*
 * fuzz_config.c - the mlm.conf parser (common/mlmconf.h) on arbitrary
 * text. An admin writes that file, not a remote client, but every program
 * reads it at start-up and mlm-ctl check reads whatever it is given.
 * Properties: a loaded configuration is complete and passes the parser's
 * own checks; a refused one says why, naming the file.
 */
#include "mlmconf.h"
#include "fuzz_check.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mlm_config cfg;
    char why[600];
    config_defaults(&cfg);
    why[0] = '\0';
    int rc = config_load_buffer(&cfg, (const char *)data, size, "fuzz.conf",
                                why, sizeof why);
    if (rc == 0) {
        FUZZ_CHECK(cfg.milter_socket && cfg.mx_socket && cfg.ctl_socket &&
                       cfg.spool_dir && cfg.database && cfg.policy &&
                       cfg.lua_path && cfg.worker_program && cfg.sendmail &&
                       cfg.user,
                   "loaded configuration with a NULL string");
        FUZZ_CHECK(cfg.workers_min >= 1 && cfg.workers_max >= cfg.workers_min,
                   "workers_min %d, workers_max %d", cfg.workers_min,
                   cfg.workers_max);
        FUZZ_CHECK(cfg.worker_max_requests >= 0 &&
                       cfg.worker_idle_timeout >= 0 &&
                       cfg.request_timeout >= 0 && cfg.decision_timeout >= 0 &&
                       cfg.queue_max >= 0 && cfg.queue_timeout >= 0 &&
                       cfg.lua_instruction_limit >= 0 &&
                       cfg.lua_memory_limit >= 0,
                   "a negative number was loaded");
        FUZZ_CHECK(cfg.failure_action == FAILURE_TEMPFAIL ||
                       cfg.failure_action == FAILURE_ACCEPT,
                   "failure_action %d", (int)cfg.failure_action);
    } else {
        FUZZ_CHECK(rc == -1, "config_load_buffer returned %d", rc);
        FUZZ_CHECK(strncmp(why, "fuzz.conf", 9) == 0,
                   "error does not name the file: '%s'", why);
    }
    config_free(&cfg);
    return 0;
}
