/* State directory identity: created once, stable, and never silently replaced. */
#include "ident.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_identity(void)
{
    char *dir = unit_tmpdir(), path[4200], a[IDENT_LEN + 1], b[IDENT_LEN + 1];
    struct df_err err = {0};
    FILE *f;

    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    CU_ASSERT_EQUAL(ident_get(dir, a, &err), DF_OK);
    CU_ASSERT_EQUAL(strlen(a), IDENT_LEN);
    CU_ASSERT_EQUAL(a[14], '4');    /* version 4 (random) */
    CU_ASSERT(strchr("89ab", a[19]) != NULL);
    CU_ASSERT_EQUAL(ident_get(dir, b, &err), DF_OK);
    CU_ASSERT_STRING_EQUAL(a, b);

    /* Another directory, another identity. */
    char *dir2 = unit_tmpdir();
    CU_ASSERT_EQUAL(ident_get(dir2, b, &err), DF_OK);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    unit_rmtree(dir2);
    free(dir2);

    /* A damaged file is reported, not replaced: the identity names us elsewhere. */
    snprintf(path, sizeof(path), "%s/identity", dir);
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("not-a-uuid\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(ident_get(dir, b, &err), DF_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "does not hold a UUID"));

    /* Without a trailing newline it is still read. */
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(a, f);
    fclose(f);
    CU_ASSERT_EQUAL(ident_get(dir, b, &err), DF_OK);
    CU_ASSERT_STRING_EQUAL(a, b);

    snprintf(path, sizeof(path), "%s/missing/dir", dir);
    CU_ASSERT_NOT_EQUAL(ident_get(path, b, &err), DF_OK);
    unit_rmtree(dir);
    free(dir);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("ident", NULL, NULL);
    CU_add_test(s, "identity", test_identity);
}
