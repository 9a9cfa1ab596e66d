/*
 * Size-capped dynamic buffer (libcurl's dynbuf habit): the maximum is fixed at creation and an
 * append that would pass it fails with DF_ENOMEM, so no caller can grow a buffer without bound.
 * Unlike curl's, a failed append keeps the content: callers decide whether to truncate.
 */
#ifndef DF_DBUF_H
#define DF_DBUF_H

#include <stddef.h>

struct dbuf {
    char *p;      /* always NUL-terminated when non-NULL */
    size_t len;
    size_t alloc;
    size_t max;   /* maximum len */
};

void dbuf_init(struct dbuf *b, size_t max);
int dbuf_append(struct dbuf *b, const void *data, size_t n);
int dbuf_putc(struct dbuf *b, char c);
int dbuf_puts(struct dbuf *b, const char *s);
int dbuf_printf(struct dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dbuf_reset(struct dbuf *b);   /* empties, keeps the allocation */
void dbuf_free(struct dbuf *b);
/* Hands the content to the caller (who frees it) and leaves b empty. */
char *dbuf_take(struct dbuf *b);

#endif
