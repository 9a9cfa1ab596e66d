#include "common.h"

#include <stdarg.h>
#include <stdio.h>

int df_err_set(struct df_err *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        /* A cut message is still a useful message; the return value is not needed. */
        (void) vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *df_strerror(int code)
{
    switch (code) {
    case DF_OK: return "ok";
    case DF_EINVAL: return "invalid input";
    case DF_ENOMEM: return "out of memory or buffer limit";
    case DF_EIO: return "I/O error";
    case DF_EPARSE: return "parse error";
    case DF_EHTTP: return "API error";
    case DF_ERETRY: return "transient error";
    case DF_EAUTH: return "authentication failed";
    case DF_ENOTFOUND: return "not found";
    case DF_ECONFIG: return "configuration error";
    case DF_ECORRUPT: return "state corrupt";
    case DF_ESTOP: return "stopped";
    case DF_EFULL: return "journal full";
    default: return "unknown error";
    }
}
