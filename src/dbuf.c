#include "dbuf.h"

#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dbuf_init(struct dbuf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

static int reserve(struct dbuf *b, size_t extra)
{
    size_t need, alloc;
    char *p;

    if (extra > b->max - b->len)
        return DF_ENOMEM;
    need = b->len + extra + 1;
    if (need <= b->alloc)
        return DF_OK;
    alloc = b->alloc ? b->alloc : 256;
    while (alloc < need)
        alloc *= 2;
    if (alloc > b->max + 1)
        alloc = b->max + 1;
    p = realloc(b->p, alloc);
    if (p == NULL)
        return DF_ENOMEM;
    b->p = p;
    b->alloc = alloc;
    return DF_OK;
}

int dbuf_append(struct dbuf *b, const void *data, size_t n)
{
    int rc = reserve(b, n);
    if (rc != DF_OK)
        return rc;
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return DF_OK;
}

int dbuf_putc(struct dbuf *b, char c)
{
    return dbuf_append(b, &c, 1);
}

int dbuf_puts(struct dbuf *b, const char *s)
{
    return dbuf_append(b, s, strlen(s));
}

int dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return DF_EINVAL;
    rc = reserve(b, (size_t) n);
    if (rc != DF_OK)
        return rc;
    va_start(ap, fmt);
    (void) vsnprintf(b->p + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
    return DF_OK;
}

void dbuf_reset(struct dbuf *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

void dbuf_free(struct dbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->alloc = 0;
}

char *dbuf_take(struct dbuf *b)
{
    char *p = b->p;
    b->p = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}
