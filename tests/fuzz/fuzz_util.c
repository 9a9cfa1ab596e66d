#include "fuzz_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[4096];
static char filepath[4096 + 256];

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;

    if (d != NULL) {
        /* Flat by construction: the harnesses only create files in it. */
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                (void) unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
    }
    (void) rmdir(tmpdir);
}

const char *fuzz_tmpdir(void)
{
    const char *base;
    int n;

    if (tmpdir[0] != '\0')
        return tmpdir;
    base = getenv("TMPDIR");
    n = snprintf(tmpdir, sizeof(tmpdir), "%s/dfw-fuzz-XXXXXX",
                 base != NULL && base[0] != '\0' ? base : "/tmp");
    FUZZ_CHECK(n > 0 && (size_t) n < sizeof(tmpdir));
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "fuzz: mkdtemp %s: %s\n", tmpdir, strerror(errno));
        __builtin_trap();
    }
    atexit(remove_tmpdir);
    return tmpdir;
}

static const char *path_of(const char *name)
{
    int n = snprintf(filepath, sizeof(filepath), "%s/%s", fuzz_tmpdir(), name);
    FUZZ_CHECK(n > 0 && (size_t) n < sizeof(filepath));
    return filepath;
}

const char *fuzz_write_file(const char *name, const void *data, size_t size)
{
    const char *path = path_of(name);
    const char *p = data;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    FUZZ_CHECK(fd >= 0);
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w < 0 && errno == EINTR)
            continue;
        FUZZ_CHECK(w > 0);
        p += w;
        size -= (size_t) w;
    }
    FUZZ_CHECK(close(fd) == 0);
    return path;
}

void fuzz_remove_file(const char *name)
{
    const char *path = path_of(name);
    FUZZ_CHECK(unlink(path) == 0 || errno == ENOENT);
}

void fuzz_check_cef_text(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *) text;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;

        if (c < 0x80) {
            FUZZ_CHECK(c >= 0x20 && c != 0x7F);
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0Fu;
        } else {
            FUZZ_CHECK(c >= 0xF0 && c <= 0xF4);
            len = 4;
            cp = c & 0x07u;
        }
        FUZZ_CHECK(n - i >= len);
        for (size_t k = 1; k < len; k++) {
            FUZZ_CHECK((s[i + k] & 0xC0) == 0x80);
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        /* shortest form, no surrogates, nothing past U+10FFFF */
        FUZZ_CHECK(!(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000));
        FUZZ_CHECK(!(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF);
        /* line breaks in Unicode terms: C1 controls, LS, PS */
        FUZZ_CHECK(!(cp >= 0x80 && cp <= 0x9F) && cp != 0x2028 && cp != 0x2029);
        i += len;
    }
}

size_t fuzz_check_cef_header(const char *s, size_t n)
{
    size_t decoded = 0;

    fuzz_check_cef_text(s, n);
    for (size_t i = 0; i < n; i++, decoded++) {
        FUZZ_CHECK(s[i] != '|');
        if (s[i] == '\\') {
            FUZZ_CHECK(i + 1 < n && (s[i + 1] == '\\' || s[i + 1] == '|'));
            i++;
        }
    }
    return decoded;
}

size_t fuzz_check_cef_value(const char *s, size_t n)
{
    size_t decoded = 0;

    FUZZ_CHECK(n > 0 && s[n - 1] != ' ');
    fuzz_check_cef_text(s, n);
    for (size_t i = 0; i < n; i++, decoded++) {
        FUZZ_CHECK(s[i] != '=');
        if (s[i] == '\\') {
            FUZZ_CHECK(i + 1 < n &&
                       (s[i + 1] == '\\' || s[i + 1] == '=' || s[i + 1] == 'n' || s[i + 1] == 'r'));
            i++;
        }
    }
    return decoded;
}

static int is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* The next '=' at or after i that is not part of an escape, or n. */
static size_t next_separator(const char *s, size_t n, size_t i)
{
    for (; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '=')
            return i;
    }
    return n;
}

size_t fuzz_check_cef_extension(const char *s, size_t n, size_t max_value)
{
    /* Each value runs to the space before the next unescaped '=' minus that key: values
     * cannot hold a raw '=', so that '=' always ends the next key. */
    struct {
        const char *p;
        size_t len;
    } keys[64];
    size_t nkeys = 0, i = 0;

    if (n == 0)
        return 0;
    while (i < n) {
        size_t eq = next_separator(s, n, i), vstart, vend, next, ks;

        FUZZ_CHECK(eq < n && eq > i);
        for (size_t k = i; k < eq; k++)
            FUZZ_CHECK(is_alnum(s[k]));
        FUZZ_CHECK(nkeys < sizeof(keys) / sizeof(keys[0]));
        for (size_t k = 0; k < nkeys; k++)
            FUZZ_CHECK(keys[k].len != eq - i || memcmp(keys[k].p, s + i, eq - i) != 0);
        keys[nkeys].p = s + i;
        keys[nkeys].len = eq - i;
        nkeys++;

        vstart = eq + 1;
        next = next_separator(s, n, vstart);
        if (next == n) {
            vend = n;
        } else {
            ks = next;
            while (ks > vstart && is_alnum(s[ks - 1]))
                ks--;
            FUZZ_CHECK(ks < next && ks > vstart + 1 && s[ks - 1] == ' ');
            vend = ks - 1;
        }
        FUZZ_CHECK(fuzz_check_cef_value(s + vstart, vend - vstart) <= max_value);
        i = vend == n ? n : vend + 1;
    }
    return nkeys;
}
