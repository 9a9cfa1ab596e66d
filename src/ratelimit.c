#include "ratelimit.h"

#include "common.h"

#include <errno.h>
#include <math.h>
#include <time.h>

/*
 * Quota arithmetic. The API allows Q calls in any window of length W (50 per minute and 1,500
 * per hour, reference/api.md §13; the service's windows are best assumed sliding). A token
 * bucket holding at most B tokens and refilled at r tokens per unit of time lets through at most
 * B + r·W calls in any window of length W: whatever it held when the window opened plus what
 * trickled in during it. To never exceed the quota we need B + r·W <= Q, so we split the quota
 * into a burst and a steady rate:
 *
 *     B = ceil(Q / 2),  r = (Q - B) / W       (minute bucket)
 *
 * With the defaults: 25 calls at once, then 25 per minute; any minute sees at most 50. The
 * bucket starts full, so a backfill starts at once. The rejected alternative, B = Q with
 * r = Q / W (the "obvious" bucket), admits 2Q - 1 calls in the first window and earns 429s.
 *
 * The hour bucket uses the same rule with a burst no larger than the minute bucket's, since a
 * bigger one could not be spent any faster, so nearly the whole hourly quota goes to the steady
 * rate: B = min(ceil(Q_h / 2), ceil(Q_m / 2)) = 25, r = 1,475 per hour, about 24.6 per minute,
 * which is the binding rate of a long backfill (1,500/h is 25/min, less than 50/min). Over a
 * long run the limiter spends (Q - B) / Q of each quota: 98% of the hourly one by default.
 *
 * Q = 1 leaves no room for a rate (B = 1, Q - B = 0); there we refill half a token per window:
 * a window then admits at most floor(1 + 0.5) = 1 call, and the bucket still drains.
 */

#define SLICE_MS 200

static void bucket_init(struct rl_bucket *b, uint32_t quota, uint32_t cap_quota, int64_t window_ms,
                        int64_t now_ms)
{
    uint32_t burst;
    double steady;

    b->enabled = quota > 0;
    if (!b->enabled) {
        b->tokens = b->burst = b->rate_per_ms = 0;
        b->last_ms = now_ms;
        return;
    }
    burst = quota / 2 + quota % 2;
    if (cap_quota > 0 && burst > cap_quota / 2 + cap_quota % 2)
        burst = cap_quota / 2 + cap_quota % 2;
    steady = (double) (quota - burst);
    if (steady < 0.5)
        steady = 0.5;
    b->burst = (double) burst;
    b->tokens = b->burst;
    b->rate_per_ms = steady / (double) window_ms;
    b->last_ms = now_ms;
}

void rl_init(struct rl_limiter *l, uint32_t per_minute, uint32_t per_hour, int64_t now_ms)
{
    bucket_init(&l->minute, per_minute, 0, 60 * 1000, now_ms);
    bucket_init(&l->hour, per_hour, per_minute, 3600 * 1000, now_ms);
}

static void refill(struct rl_bucket *b, int64_t now_ms)
{
    /* A clock that went backwards (only possible when tests drive it) refills nothing. */
    if (now_ms > b->last_ms) {
        b->tokens += (double) (now_ms - b->last_ms) * b->rate_per_ms;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
}

static int64_t wait_for_token(const struct rl_bucket *b)
{
    double ms;

    if (!b->enabled || b->tokens >= 1.0)
        return 0;
    ms = ceil((1.0 - b->tokens) / b->rate_per_ms);
    return ms < 1.0 ? 1 : (int64_t) ms;
}

int64_t rl_take_at(struct rl_limiter *l, int64_t now_ms)
{
    int64_t wm, wh;

    if (l->minute.enabled)
        refill(&l->minute, now_ms);
    if (l->hour.enabled)
        refill(&l->hour, now_ms);
    wm = wait_for_token(&l->minute);
    wh = wait_for_token(&l->hour);
    if (wm > 0 || wh > 0)
        return wm > wh ? wm : wh;
    /* Take from both only when both can give: a token taken from one bucket while the other
     * makes us wait would be lost, and the hour bucket would drift below what was spent. */
    if (l->minute.enabled)
        l->minute.tokens -= 1.0;
    if (l->hour.enabled)
        l->hour.tokens -= 1.0;
    return 0;
}

int rl_take(struct rl_limiter *l, const df_flag *stop)
{
    for (;;) {
        int64_t wait;
        int rc;

        if (stop != NULL && *stop)
            return DF_ESTOP;
        wait = rl_take_at(l, rl_now_ms());
        if (wait == 0)
            return DF_OK;
        rc = rl_sleep_ms(wait, stop);
        if (rc != DF_OK)
            return rc;
    }
}

int rl_sleep_ms(int64_t ms, const df_flag *stop)
{
    int64_t end = rl_now_ms() + ms;

    for (;;) {
        int64_t left;
        struct timespec ts;

        if (stop != NULL && *stop)
            return DF_ESTOP;
        left = end - rl_now_ms();
        if (left <= 0)
            return DF_OK;
        if (left > SLICE_MS)
            left = SLICE_MS;
        ts.tv_sec = (time_t) (left / 1000);
        ts.tv_nsec = (long) (left % 1000) * 1000000L;
        /* EINTR (a signal, typically the one that sets *stop) just ends this slice early; the
         * loop re-checks the flag and the deadline. Nothing else can fail with these values. */
        if (nanosleep(&ts, NULL) != 0 && NEVER(errno != EINTR))
            return DF_OK;
    }
}

int64_t rl_now_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail on Linux with a valid pointer; ALWAYS documents that. */
    if (!ALWAYS(clock_gettime(CLOCK_MONOTONIC, &ts) == 0))
        return 0;
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
