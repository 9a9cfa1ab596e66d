/*
 * timewarp: an LD_PRELOAD shim that makes the monotonic clock run TIMEWARP_SCALE times faster
 * and every sleep TIMEWARP_SCALE times shorter, for the benchmarks only.
 *
 * Why: the API allows 50 calls a minute and 1,500 an hour, so a 100k-incident backfill is
 * quota-bound for about 40 minutes. Preloaded into both the forwarder and the emulator, the shim
 * shrinks every quota window, token lifetime, Retry-After and backoff by the same factor on both
 * sides, so the forwarder's limiter meets the emulator's sliding windows exactly as it would at
 * the default quotas, only sooner. Scaling the quota counts instead would not do: the limiter's
 * burst (half a window's quota) would grow with them, which is a different schedule.
 *
 * Only the monotonic family of clocks is scaled; CLOCK_REALTIME (the API's Date header,
 * timestamps, log lines) stays real, so data and positions are unaffected. Real CPU time does
 * not shrink: work looks TIMEWARP_SCALE times slower in warped time, which the benchmark notes.
 * Waits whose deadline the kernel computes from a warped absolute time (futex/semaphore waits
 * with a timeout) are not translated; neither program relies on them.
 *
 * Build: a shared module (bench/CMakeLists.txt). Use: LD_PRELOAD=libtimewarp.so
 * TIMEWARP_SCALE=40 program…
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*gettime_fn)(clockid_t, struct timespec *);
typedef int (*nanosleep_fn)(const struct timespec *, struct timespec *);
typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);

static double scale = 1.0;
static gettime_fn real_gettime;
static nanosleep_fn real_nanosleep;
static clock_nanosleep_fn real_clock_nanosleep;

/* Each warped clock keeps its own origin: warped = origin + (real - origin) * scale. */
static const clockid_t warped_ids[] = {CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW,
                                       CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME};
#define N_WARPED (sizeof(warped_ids) / sizeof(warped_ids[0]))
static int64_t origin_ns[N_WARPED];

static int64_t to_ns(const struct timespec *ts)
{
    return (int64_t) ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static struct timespec from_ns(int64_t ns)
{
    struct timespec ts;
    if (ns < 0)
        ns = 0;
    ts.tv_sec = (time_t) (ns / 1000000000LL);
    ts.tv_nsec = (long) (ns % 1000000000LL);
    return ts;
}

static int warped_index(clockid_t id)
{
    for (size_t i = 0; i < N_WARPED; i++)
        if (warped_ids[i] == id)
            return (int) i;
    return -1;
}

__attribute__((constructor)) static void timewarp_init(void)
{
    const char *s = getenv("TIMEWARP_SCALE");
    struct timespec ts;

    real_gettime = (gettime_fn) dlsym(RTLD_NEXT, "clock_gettime");
    real_nanosleep = (nanosleep_fn) dlsym(RTLD_NEXT, "nanosleep");
    real_clock_nanosleep = (clock_nanosleep_fn) dlsym(RTLD_NEXT, "clock_nanosleep");
    if (s != NULL && atof(s) > 0)
        scale = atof(s);
    for (size_t i = 0; i < N_WARPED; i++)
        origin_ns[i] = real_gettime(warped_ids[i], &ts) == 0 ? to_ns(&ts) : 0;
}

/* Another library's constructor may call in before ours has run. */
static void ensure_init(void)
{
    if (real_gettime == NULL)
        timewarp_init();
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc, i = warped_index(id);

    ensure_init();
    rc = real_gettime(id, ts);

    if (rc == 0 && i >= 0)
        *ts = from_ns(origin_ns[i] + (int64_t) ((double) (to_ns(ts) - origin_ns[i]) * scale));
    return rc;
}

static struct timespec shrink(const struct timespec *req)
{
    return from_ns((int64_t) ((double) to_ns(req) / scale));
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
    struct timespec r = shrink(req);
    int rc;

    ensure_init();
    rc = real_nanosleep(&r, rem);

    if (rc != 0 && rem != NULL && errno == EINTR)
        *rem = from_ns((int64_t) ((double) to_ns(rem) * scale));
    return rc;
}

int clock_nanosleep(clockid_t id, int flags, const struct timespec *req, struct timespec *rem)
{
    struct timespec r;
    int i = warped_index(id);

    ensure_init();
    if (flags & TIMER_ABSTIME) {
        /* A warped deadline back to the real clock the kernel sleeps on. */
        if (i < 0)
            return real_clock_nanosleep(id, flags, req, rem);
        r = from_ns(origin_ns[i] + (int64_t) ((double) (to_ns(req) - origin_ns[i]) / scale));
        return real_clock_nanosleep(id, flags, &r, rem);
    }
    r = shrink(req);
    return real_clock_nanosleep(id, flags, &r, rem);
}

int usleep(useconds_t us)
{
    struct timespec req = from_ns((int64_t) us * 1000);
    return nanosleep(&req, NULL);
}

unsigned int sleep(unsigned int s)
{
    struct timespec req = from_ns((int64_t) s * 1000000000LL);
    return nanosleep(&req, NULL) == 0 ? 0 : s;
}
