/* Checkpoint: atomic write/load round trip, first start, corrupt files named. */
#include "ckpt.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_file(const char *dir, const char *text)
{
    char path[600];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, CKPT_FILE);
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static void test_roundtrip(void)
{
    char *dir = unit_tmpdir();
    struct ckpt c, d;
    struct df_err err = {0};
    struct ckpt_tenant *t;
    struct ckpt_output *o;

    CU_ASSERT_EQUAL_FATAL(ckpt_load(dir, &c, &err), DF_OK); /* first start: empty */
    CU_ASSERT_EQUAL(c.n_tenants, 0);
    c.journal_end = 123456789012ULL;
    t = ckpt_tenant(&c, "contoso");
    t->has_position = 1;
    t->position = 16371891234567891LL; /* keeps all 7 fractional digits */
    t->vidx_gen = 3;
    t->vidx_len = 99;
    t->has_window = 1;
    t->window_start = 16371891234567891LL - 3000;
    t->window_next_end = 16371891234567891LL + 7;
    t->window_end = 16371891234567891LL + 10000;
    CU_ASSERT_PTR_NOT_NULL(ckpt_tenant(&c, "fabrikam"));
    o = ckpt_output(&c, "archive");
    o->journal_pos = 1000;
    o->committed_len = 5555;
    CU_ASSERT_PTR_EQUAL(ckpt_output(&c, "archive"), o);
    CU_ASSERT_EQUAL_FATAL(ckpt_write(dir, &c, &err), DF_OK);

    CU_ASSERT_EQUAL_FATAL(ckpt_load(dir, &d, &err), DF_OK);
    CU_ASSERT_EQUAL(d.journal_end, 123456789012ULL);
    CU_ASSERT_EQUAL_FATAL(d.n_tenants, 2);
    CU_ASSERT_STRING_EQUAL(d.tenants[0].name, "contoso");
    CU_ASSERT_EQUAL(d.tenants[0].has_position, 1);
    CU_ASSERT_EQUAL(d.tenants[0].position, 16371891234567891LL);
    CU_ASSERT_EQUAL(d.tenants[0].vidx_gen, 3);
    CU_ASSERT_EQUAL(d.tenants[0].vidx_len, 99);
    CU_ASSERT_EQUAL(d.tenants[0].has_window, 1);
    CU_ASSERT_EQUAL(d.tenants[0].window_start, 16371891234567891LL - 3000);
    CU_ASSERT_EQUAL(d.tenants[0].window_next_end, 16371891234567891LL + 7);
    CU_ASSERT_EQUAL(d.tenants[0].window_end, 16371891234567891LL + 10000);
    CU_ASSERT_EQUAL(d.tenants[1].has_position, 0);
    CU_ASSERT_EQUAL(d.tenants[1].has_window, 0);
    CU_ASSERT_EQUAL_FATAL(d.n_outputs, 1);
    CU_ASSERT_EQUAL(d.outputs[0].journal_pos, 1000);
    CU_ASSERT_EQUAL(d.outputs[0].committed_len, 5555);
    ckpt_free(&c);
    ckpt_free(&d);
    unit_rmtree(dir);
    free(dir);
}

static void expect_corrupt(const char *text, const char *needle)
{
    char *dir = unit_tmpdir();
    struct ckpt c;
    struct df_err err = {0};

    write_file(dir, text);
    CU_ASSERT_EQUAL(ckpt_load(dir, &c, &err), DF_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, CKPT_FILE));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, needle));
    if (strstr(err.msg, needle) == NULL)
        fprintf(stderr, "message was: %s\n", err.msg);
    unit_rmtree(dir);
    free(dir);
}

static void test_corrupt(void)
{
    expect_corrupt("", "not valid JSON");
    expect_corrupt("{\"format\":1,\"journal\":{\"end\":5},\"tenants\":{},\"outp", "not valid JSON");
    expect_corrupt("[]", "not a checkpoint");
    expect_corrupt("{\"format\":99,\"journal\":{\"end\":5},\"tenants\":{},\"outputs\":{}}",
                   "unsupported format");
    expect_corrupt("{\"format\":1,\"tenants\":{},\"outputs\":{}}", "missing");
    expect_corrupt("{\"format\":1,\"journal\":{\"end\":5},\"tenants\":{\"a\":{\"position\":"
                   "\"yesterday\",\"vidx_generation\":0,\"vidx_length\":0}},\"outputs\":{}}",
                   "position");
    /* An output cannot have delivered past the journal's end. */
    expect_corrupt("{\"format\":1,\"journal\":{\"end\":5},\"tenants\":{},\"outputs\":{\"o\":"
                   "{\"journal_position\":6,\"committed_length\":0}}}", "output");
    /* A window whose parts are out of order. */
    expect_corrupt("{\"format\":1,\"journal\":{\"end\":5},\"tenants\":{\"a\":{\"window\":"
                   "{\"start\":\"2024-01-02T00:00:00Z\",\"next_end\":\"2024-01-01T00:00:00Z\","
                   "\"end\":\"2024-01-03T00:00:00Z\"},\"vidx_generation\":0,\"vidx_length\":0}},"
                   "\"outputs\":{}}", "window");
    expect_corrupt("{\"format\":1,\"journal\":{\"end\":-5},\"tenants\":{},\"outputs\":{}}",
                   "missing");
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("ckpt", NULL, NULL);
    CU_add_test(s, "write and load round trip", test_roundtrip);
    CU_add_test(s, "corrupt checkpoints are named", test_corrupt);
}
