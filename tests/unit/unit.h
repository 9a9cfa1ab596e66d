/* Shared CUnit runner: each test_<module>.c defines unit_register() adding its suites. */
#ifndef DF_UNIT_H
#define DF_UNIT_H

#include <CUnit/CUnit.h>

void unit_register(void);
/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL on failure. */
char *unit_read_file(const char *path, size_t *len);
/* A fresh empty directory under $TMPDIR (malloc'd path); the caller removes it. */
char *unit_tmpdir(void);
void unit_rmtree(const char *path);

#endif
