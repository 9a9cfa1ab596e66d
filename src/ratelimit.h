/*
 * Client-side quota (SPEC §3, reference/api.md §13): two token buckets, one per quota window
 * (minute, hour), refilled continuously from the monotonic clock. Every API call takes one token
 * from both; token-endpoint calls do not count. Not thread-safe: one limiter per client.
 */
#ifndef DF_RATELIMIT_H
#define DF_RATELIMIT_H

#include "common.h"

#include <signal.h>
#include <stdint.h>

struct rl_bucket {
    int enabled;        /* 0: quota of 0 in the configuration = no limit for this window */
    double tokens;      /* may be fractional; a call needs a whole one */
    double burst;       /* capacity */
    double rate_per_ms; /* refill */
    int64_t last_ms;    /* time of the last refill */
};

struct rl_limiter {
    struct rl_bucket minute;
    struct rl_bucket hour;
};

/* Sets both buckets up for the given quotas (0 = unlimited), full, as of now_ms. */
void rl_init(struct rl_limiter *l, uint32_t per_minute, uint32_t per_hour, int64_t now_ms);
/* Takes one token from each bucket if both have one and returns 0; otherwise takes nothing and
 * returns the milliseconds to wait before both will have one (> 0). Pure: the clock is passed
 * in, so tests drive it. */
int64_t rl_take_at(struct rl_limiter *l, int64_t now_ms);
/* Blocks until a token is taken (DF_OK) or *stop becomes non-zero (DF_ESTOP). stop may be NULL. */
int rl_take(struct rl_limiter *l, const df_flag *stop);

/* Sleeps ms milliseconds in slices of at most 200 ms, checking *stop between slices (stop may
 * be NULL). Returns DF_OK, or DF_ESTOP as soon as a stop is seen. */
int rl_sleep_ms(int64_t ms, const df_flag *stop);
/* Monotonic clock in milliseconds (unaffected by changes to the host's wall clock). */
int64_t rl_now_ms(void);

#endif
