#include "unit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *unit_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t) n + 1);
    if (buf == NULL)
        goto out;
    if (fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = (size_t) n;
out:
    fclose(f);
    return buf;
}

char *unit_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    char *dir;

    snprintf(tmpl, sizeof(tmpl), "%s/dfw-unit-XXXXXX", base ? base : "/tmp");
    dir = mkdtemp(tmpl);
    return dir ? strdup(dir) : NULL;
}

void unit_rmtree(const char *path)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", path);
}

int main(void)
{
    unsigned failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    unit_register();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    /* CU_basic_run_tests() returns success even when assertions fail, and
     * CU_cleanup_registry() resets the count: read it in between. */
    failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures != 0 ? 1 : 0;
}
