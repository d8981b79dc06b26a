/*
 * clock.h - the one monotonic clock of every mlm program (CLOCK_MONOTONIC):
 * for deadlines and ages, never for dates.
 */
#ifndef MLM_CLOCK_H
#define MLM_CLOCK_H

#include <stdint.h>

int64_t now_ms(void);
int64_t now_us(void);

#endif
