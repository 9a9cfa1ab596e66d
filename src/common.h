/* Shared status codes, error reporting and defensive macros for every module. */
#ifndef DF_COMMON_H
#define DF_COMMON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A stop or reopen request: set from signal handlers (lock-free atomics are async-signal-safe)
 * and read by every thread. */
typedef atomic_int df_flag;

/* Status codes: 0 is success, failures are negative. df_strerror() names them. */
enum {
    DF_OK = 0,
    DF_EINVAL = -1,   /* bad argument or bad input data */
    DF_ENOMEM = -2,   /* allocation failed or a capped buffer is full */
    DF_EIO = -3,      /* file system or socket error */
    DF_EPARSE = -4,   /* malformed JSON, timestamp, YAML ... */
    DF_EHTTP = -5,    /* permanent HTTP/API error (4xx other than 401/429) */
    DF_ERETRY = -6,   /* transient: 5xx, timeout, reset, truncated body, 429 */
    DF_EAUTH = -7,    /* token could not be obtained or was refused */
    DF_ENOTFOUND = -8,
    DF_ECONFIG = -9,  /* configuration invalid */
    DF_ECORRUPT = -10, /* on-disk state does not match the checkpoint */
    DF_ESTOP = -11,   /* interrupted by a stop request */
    DF_EFULL = -12,   /* journal reached state.max_journal_bytes */
};

/* Error detail handed back to the caller; the caller decides whether to log it. */
struct df_err {
    int code;
    char msg[2048]; /* room for several check-config problems */
};

/* Records code and a printf-style message in err (err may be NULL); returns code. */
int df_err_set(struct df_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *df_strerror(int code);

/*
 * ALWAYS(x) / NEVER(x) wrap conditions believed impossible (SQLite's habit): they abort in
 * debug builds so tests catch the surprise, and degrade to a plain, self-healing branch in
 * release builds.
 */
#ifdef NDEBUG
#define ALWAYS(x) (x)
#define NEVER(x) (x)
#else
#include <assert.h>
#define ALWAYS(x) ((x) ? 1 : (assert(0 && #x), 0))
#define NEVER(x) ((x) ? (assert(0 && #x), 1) : 0)
#endif

#define DF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
