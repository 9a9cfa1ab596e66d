/*
 * Helpers shared by the fuzz harnesses: a scratch directory for the readers that only take
 * paths, and the invariant checks of CEF output (reference/formats.md §1.3-1.4), written
 * independently of src/evt_cef.c so that a bug there is not mirrored here.
 *
 * Every check ends in __builtin_trap() on a violation: libFuzzer and the replay runner then
 * stop with a crash that names the input.
 */
#ifndef DF_FUZZ_UTIL_H
#define DF_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_CHECK(x)                                                                              \
    do {                                                                                           \
        if (!(x))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

/* A private directory under $TMPDIR (or /tmp), created on first use and removed with its
 * files at exit. Never NULL: failing to create it traps, since no input could run. */
const char *fuzz_tmpdir(void);
/* Writes data to fuzz_tmpdir()/name, replacing it; traps on failure. Returns the path, which
 * stays valid until the next call. */
const char *fuzz_write_file(const char *name, const void *data, size_t size);
/* Removes fuzz_tmpdir()/name if it exists. */
void fuzz_remove_file(const char *name);

/* Traps unless s[0..n) is well-formed UTF-8 (RFC 3629) without C0/C1 controls, DEL,
 * U+2028 or U+2029. */
void fuzz_check_cef_text(const char *s, size_t n);
/* Checks one escaped CEF header field (`\\`, `\|` only; no raw `|`); returns the decoded
 * length in bytes. */
size_t fuzz_check_cef_header(const char *s, size_t n);
/* Checks one escaped extension value (`\\`, `\=`, `\n`, `\r` only; no raw `=`; not empty;
 * no trailing space); returns the decoded length in bytes. */
size_t fuzz_check_cef_value(const char *s, size_t n);
/* Checks a whole extension, `key=value` pairs separated by single spaces: keys alphanumeric
 * and distinct, each value as above and at most max_value decoded bytes. Returns the number
 * of pairs. */
size_t fuzz_check_cef_extension(const char *s, size_t n, size_t max_value);

#endif
