/* Journal: append/read across segments, recovery by truncation to the committed end,
 * corruption detection, release of delivered segments. */
#include "jrnl.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void make_entry(struct jrnl_entry *e, int i, char *json, char *cef)
{
    memset(e, 0, sizeof(*e));
    e->type = i % 3 ? EVT_ALERT : EVT_INCIDENT;
    snprintf(e->event_id, sizeof(e->event_id), "%032x", i);
    e->tenant = "contoso";
    e->tenant_len = 7;
    e->incident_id = "924565";
    e->incident_id_len = 6;
    sprintf(json, "{\"n\":%d,\"pad\":\"%0*d\"}", i, 50 + i % 200, 0);
    sprintf(cef, "CEF:0|x|y|1|sig|n %d|5|cs6=%d", i, i);
    e->json = json;
    e->json_len = strlen(json);
    e->cef = cef;
    e->cef_len = strlen(cef);
}

static int read_all(struct jrnl *j, uint64_t from, uint64_t limit, int *first)
{
    struct jrnl_reader *r = NULL;
    struct jrnl_entry e;
    struct df_err err = {0};
    uint64_t next;
    int n = 0, rc;

    CU_ASSERT_EQUAL_FATAL(jrnl_reader_open(&r, j, from, &err), DF_OK);
    while ((rc = jrnl_read(r, limit, &e, &next, &err)) == 1) {
        int k = atoi(e.json + 5);
        if (n == 0 && first)
            *first = k;
        char want[64];
        snprintf(want, sizeof(want), "%032x", k);
        CU_ASSERT_STRING_EQUAL(e.event_id, want);
        CU_ASSERT_EQUAL(e.tenant_len, 7);
        CU_ASSERT_NSTRING_EQUAL(e.tenant, "contoso", 7);
        CU_ASSERT_PTR_NOT_NULL(e.cef);
        n++;
    }
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(jrnl_reader_pos(r), limit);
    jrnl_reader_close(r);
    return n;
}

static int count_segments(const char *dir)
{
    char cmd[512];
    FILE *p;
    int n = -1;
    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '\\.seg$'", dir);
    p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

static void test_roundtrip_segments_and_recovery(void)
{
    char *dir = unit_tmpdir();
    struct jrnl *j = NULL;
    struct df_err err = {0};
    char json[512], cef[128];
    struct jrnl_entry e;
    uint64_t committed, end_all;
    int first = -1;

    CU_ASSERT_EQUAL_FATAL(jrnl_open(&j, dir, 0, 4096, &err), DF_OK);
    CU_ASSERT_EQUAL(jrnl_end(j), 0);
    for (int i = 0; i < 100; i++) {
        make_entry(&e, i, json, cef);
        CU_ASSERT_EQUAL_FATAL(jrnl_append(j, &e, &err), DF_OK);
    }
    CU_ASSERT_EQUAL_FATAL(jrnl_sync(j, &err), DF_OK);
    committed = jrnl_end(j);
    CU_ASSERT(count_segments(dir) > 3);
    CU_ASSERT_EQUAL(read_all(j, 0, committed, &first), 100);
    CU_ASSERT_EQUAL(first, 0);

    /* Uncommitted tail: written and even synced, but past the checkpoint's end. */
    for (int i = 100; i < 150; i++) {
        make_entry(&e, i, json, cef);
        CU_ASSERT_EQUAL_FATAL(jrnl_append(j, &e, &err), DF_OK);
    }
    CU_ASSERT_EQUAL_FATAL(jrnl_sync(j, &err), DF_OK);
    end_all = jrnl_end(j);
    CU_ASSERT(end_all > committed);
    jrnl_close(j);

    CU_ASSERT_EQUAL_FATAL(jrnl_open(&j, dir, committed, 4096, &err), DF_OK);
    CU_ASSERT_EQUAL(jrnl_end(j), committed);
    CU_ASSERT_EQUAL(read_all(j, 0, committed, NULL), 100);
    /* Appending after recovery continues cleanly at the committed end. */
    make_entry(&e, 100, json, cef);
    CU_ASSERT_EQUAL_FATAL(jrnl_append(j, &e, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(jrnl_sync(j, &err), DF_OK);
    CU_ASSERT_EQUAL(read_all(j, 0, jrnl_end(j), NULL), 101);

    /* Release: segments wholly before a position go; reading from there still works. */
    uint64_t mid = 0;
    {
        struct jrnl_reader *r = NULL;
        uint64_t next;
        CU_ASSERT_EQUAL_FATAL(jrnl_reader_open(&r, j, 0, &err), DF_OK);
        for (int i = 0; i < 60; i++)
            CU_ASSERT_EQUAL(jrnl_read(r, jrnl_end(j), &e, &next, &err), 1);
        mid = next;
        jrnl_reader_close(r);
    }
    int before = count_segments(dir);
    CU_ASSERT_EQUAL(jrnl_release(j, mid, &err), DF_OK);
    CU_ASSERT(count_segments(dir) < before);
    CU_ASSERT(jrnl_start(j) <= mid);
    CU_ASSERT_EQUAL(read_all(j, mid, jrnl_end(j), &first), 41);
    CU_ASSERT_EQUAL(first, 60);
    jrnl_close(j);
    unit_rmtree(dir);
    free(dir);
}

static void test_checkpoint_beyond_journal_is_corrupt(void)
{
    char *dir = unit_tmpdir();
    struct jrnl *j = NULL;
    struct df_err err = {0};
    char json[512], cef[128];
    struct jrnl_entry e;
    uint64_t end;

    CU_ASSERT_EQUAL_FATAL(jrnl_open(&j, dir, 0, 1 << 20, &err), DF_OK);
    make_entry(&e, 1, json, cef);
    CU_ASSERT_EQUAL_FATAL(jrnl_append(j, &e, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(jrnl_sync(j, &err), DF_OK);
    end = jrnl_end(j);
    jrnl_close(j);
    j = NULL;
    CU_ASSERT_EQUAL(jrnl_open(&j, dir, end + 100, 1 << 20, &err), DF_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "committed"));
    CU_ASSERT_PTR_NULL(j);
    unit_rmtree(dir);
    free(dir);
}

static void test_flipped_byte_fails_checksum(void)
{
    char *dir = unit_tmpdir();
    struct jrnl *j = NULL;
    struct jrnl_reader *r = NULL;
    struct df_err err = {0};
    char json[512], cef[128], path[600];
    struct jrnl_entry e;
    uint64_t end, next;
    FILE *f;

    CU_ASSERT_EQUAL_FATAL(jrnl_open(&j, dir, 0, 1 << 20, &err), DF_OK);
    make_entry(&e, 1, json, cef);
    CU_ASSERT_EQUAL_FATAL(jrnl_append(j, &e, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(jrnl_sync(j, &err), DF_OK);
    end = jrnl_end(j);
    snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
    f = fopen(path, "r+b");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 60, SEEK_SET);
    fputc('X', f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(jrnl_reader_open(&r, j, 0, &err), DF_OK);
    CU_ASSERT_EQUAL(jrnl_read(r, end, &e, &next, &err), DF_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "checksum"));
    jrnl_reader_close(r);
    jrnl_close(j);
    unit_rmtree(dir);
    free(dir);
}

static void test_limit_stops_before_partial_record(void)
{
    char *dir = unit_tmpdir();
    struct jrnl *j = NULL;
    struct jrnl_reader *r = NULL;
    struct df_err err = {0};
    char json[512], cef[128];
    struct jrnl_entry e;
    uint64_t one, next;

    CU_ASSERT_EQUAL_FATAL(jrnl_open(&j, dir, 0, 1 << 20, &err), DF_OK);
    make_entry(&e, 1, json, cef);
    CU_ASSERT_EQUAL_FATAL(jrnl_append(j, &e, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(jrnl_sync(j, &err), DF_OK);
    one = jrnl_end(j);
    make_entry(&e, 2, json, cef);
    CU_ASSERT_EQUAL_FATAL(jrnl_append(j, &e, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(jrnl_sync(j, &err), DF_OK);
    CU_ASSERT_EQUAL_FATAL(jrnl_reader_open(&r, j, 0, &err), DF_OK);
    CU_ASSERT_EQUAL(jrnl_read(r, jrnl_end(j) - 1, &e, &next, &err), 1);
    CU_ASSERT_EQUAL(next, one);
    CU_ASSERT_EQUAL(jrnl_read(r, jrnl_end(j) - 1, &e, &next, &err), 0);
    CU_ASSERT_EQUAL(jrnl_read(r, jrnl_end(j), &e, &next, &err), 1);
    jrnl_reader_close(r);
    jrnl_close(j);
    unit_rmtree(dir);
    free(dir);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("jrnl", NULL, NULL);
    CU_add_test(s, "roundtrip, segments, recovery, release", test_roundtrip_segments_and_recovery);
    CU_add_test(s, "checkpoint beyond the journal is corrupt", test_checkpoint_beyond_journal_is_corrupt);
    CU_add_test(s, "a flipped byte fails the checksum", test_flipped_byte_fails_checksum);
    CU_add_test(s, "the limit stops before a record", test_limit_stops_before_partial_record);
}
