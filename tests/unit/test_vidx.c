/* Version index: newer-only semantics, persistence up to the committed length, rollback of an
 * uncommitted tail, compaction with pruning, corruption detection. */
#include "vidx.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(struct vidx *v, enum vidx_kind k, const char *id, int64_t t)
{
    struct df_err err = {0};
    CU_ASSERT_EQUAL(vidx_put(v, k, id, strlen(id), t, &err), DF_OK);
}

static int64_t get(struct vidx *v, enum vidx_kind k, const char *id)
{
    int64_t t = -1;
    if (!vidx_get(v, k, id, strlen(id), &t))
        return -1;
    return t;
}

static void test_persist_and_rollback(void)
{
    char *dir = unit_tmpdir();
    struct vidx *v = NULL;
    struct df_err err = {0};
    uint64_t committed;
    char id[64];

    CU_ASSERT_EQUAL_FATAL(vidx_open(&v, dir, "contoso", 0, 0, &err), DF_OK);
    CU_ASSERT_EQUAL(get(v, VIDX_INCIDENT, "924565"), -1);
    put(v, VIDX_INCIDENT, "924565", 100);
    put(v, VIDX_ALERT, "924565", 7); /* same id, other kind: separate entry */
    put(v, VIDX_INCIDENT, "924565", 200);
    for (int i = 0; i < 5000; i++) { /* forces the table to grow */
        snprintf(id, sizeof(id), "da637349914833441527_%d", i);
        put(v, VIDX_ALERT, id, i);
    }
    CU_ASSERT_EQUAL(get(v, VIDX_INCIDENT, "924565"), 200);
    CU_ASSERT_EQUAL(get(v, VIDX_ALERT, "924565"), 7);
    CU_ASSERT_EQUAL(vidx_count(v), 5002);
    CU_ASSERT_EQUAL_FATAL(vidx_sync(v, &err), DF_OK);
    committed = vidx_len(v);
    put(v, VIDX_INCIDENT, "924565", 300); /* never committed */
    put(v, VIDX_INCIDENT, "1", 1);
    CU_ASSERT_EQUAL_FATAL(vidx_sync(v, &err), DF_OK);
    vidx_close(v);

    CU_ASSERT_EQUAL_FATAL(vidx_open(&v, dir, "contoso", 0, committed, &err), DF_OK);
    CU_ASSERT_EQUAL(get(v, VIDX_INCIDENT, "924565"), 200);
    CU_ASSERT_EQUAL(get(v, VIDX_INCIDENT, "1"), -1);
    CU_ASSERT_EQUAL(get(v, VIDX_ALERT, "da637349914833441527_4999"), 4999);
    CU_ASSERT_EQUAL(vidx_count(v), 5002);
    CU_ASSERT_EQUAL(vidx_len(v), committed);
    vidx_close(v);

    /* A checkpoint claiming more than the file holds is corruption, said as such. */
    CU_ASSERT_EQUAL(vidx_open(&v, dir, "contoso", 0, committed + 10, &err), DF_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "checkpoint"));
    unit_rmtree(dir);
    free(dir);
}

static void test_ids_with_odd_bytes(void)
{
    char *dir = unit_tmpdir();
    struct vidx *v = NULL;
    struct df_err err = {0};
    const char odd[] = "a b:c\nd 12:x";
    uint64_t len;

    CU_ASSERT_EQUAL_FATAL(vidx_open(&v, dir, "t", 0, 0, &err), DF_OK);
    put(v, VIDX_ALERT, odd, 42);
    put(v, VIDX_ALERT, "plain", 43);
    CU_ASSERT_EQUAL_FATAL(vidx_sync(v, &err), DF_OK);
    len = vidx_len(v);
    vidx_close(v);
    CU_ASSERT_EQUAL_FATAL(vidx_open(&v, dir, "t", 0, len, &err), DF_OK);
    CU_ASSERT_EQUAL(get(v, VIDX_ALERT, odd), 42);
    CU_ASSERT_EQUAL(get(v, VIDX_ALERT, "plain"), 43);
    vidx_close(v);
    unit_rmtree(dir);
    free(dir);
}

static void test_compaction_prunes(void)
{
    char *dir = unit_tmpdir();
    struct vidx *v = NULL;
    struct df_err err = {0};
    char id[32];
    uint64_t len;

    CU_ASSERT_EQUAL_FATAL(vidx_open(&v, dir, "t", 0, 0, &err), DF_OK);
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 100; i++) {
            snprintf(id, sizeof(id), "%d", i);
            put(v, VIDX_INCIDENT, id, round * 1000 + i);
        }
    CU_ASSERT_EQUAL_FATAL(vidx_sync(v, &err), DF_OK);
    /* Entries below 4050 are past retention: incidents 0..49 of the last round go. */
    CU_ASSERT_EQUAL_FATAL(vidx_compact(v, 4050, &err), DF_OK);
    CU_ASSERT_EQUAL(vidx_gen(v), 1);
    CU_ASSERT_EQUAL(vidx_count(v), 50);
    CU_ASSERT_EQUAL(get(v, VIDX_INCIDENT, "10"), -1);
    CU_ASSERT_EQUAL(get(v, VIDX_INCIDENT, "99"), 4099);
    put(v, VIDX_INCIDENT, "7", 5007);
    CU_ASSERT_EQUAL_FATAL(vidx_sync(v, &err), DF_OK);
    CU_ASSERT_EQUAL(vidx_drop_old(v, &err), DF_OK);
    len = vidx_len(v);
    vidx_close(v);
    CU_ASSERT_EQUAL_FATAL(vidx_open(&v, dir, "t", 1, len, &err), DF_OK);
    CU_ASSERT_EQUAL(vidx_count(v), 51);
    CU_ASSERT_EQUAL(get(v, VIDX_INCIDENT, "7"), 5007);
    CU_ASSERT_EQUAL(get(v, VIDX_INCIDENT, "50"), 4050);
    vidx_close(v);
    unit_rmtree(dir);
    free(dir);
}

static void test_garbage_is_corrupt(void)
{
    char *dir = unit_tmpdir();
    char path[600];
    struct vidx *v = NULL;
    struct df_err err = {0};
    FILE *f;

    snprintf(path, sizeof(path), "%s/vidx-t-0.log", dir);
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("I 5 3:abc\nZ nonsense\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(vidx_open(&v, dir, "t", 0, 21, &err), DF_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "corrupt"));
    unit_rmtree(dir);
    free(dir);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("vidx", NULL, NULL);
    CU_add_test(s, "persist and roll back to the committed length", test_persist_and_rollback);
    CU_add_test(s, "ids with spaces, colons and newlines", test_ids_with_odd_bytes);
    CU_add_test(s, "compaction prunes old versions", test_compaction_prunes);
    CU_add_test(s, "garbage below the committed length is corrupt", test_garbage_is_corrupt);
}
