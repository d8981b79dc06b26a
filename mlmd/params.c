/*
 * params.c - mlmd's configuration, where every part of mlmd reads it:
 * main (mlmd.c) sets mlmd_cfg once before smfi_main, the callbacks, the
 * spool and the reply code below it read it. Defined here, at the bottom,
 * so that no part calls up into mlmd.c (Postfix keeps its parameters in
 * global/mail_params.c the same way).
 */
#include "mlmd.h"

const struct mlm_config *mlmd_cfg;
