/* Windowing: filter literals, the full-page coverage proof, the createdTime split. */
#include "coll.h"
#include "ts.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t T(const char *s)
{
    int64_t t = 0;
    CU_ASSERT_EQUAL(ts_parse(s, strlen(s), &t), DF_OK);
    return t;
}

/* A page {"value":[{"lastUpdateTime":…,"createdTime":…},…]} from n timestamps. */
static yajl_val page(const char *const *lut, const char *const *created, size_t n,
                     yajl_val *root)
{
    const char *path[] = {"value", NULL};
    char *json = malloc(200 * n + 32);
    size_t len = (size_t) sprintf(json, "{\"value\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t) sprintf(json + len, "%s{\"incidentId\":%zu,\"lastUpdateTime\":\"%s\","
                                "\"createdTime\":\"%s\"}", i ? "," : "", i + 1, lut[i],
                                created ? created[i] : lut[i]);
    sprintf(json + len, "]}");
    *root = yajl_tree_parse(json, NULL, 0);
    free(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(*root);
    return yajl_tree_get(*root, path, yajl_t_array);
}

static void test_filter_has_seven_digits(void)
{
    char f[160];
    coll_range_filter(f, sizeof(f), "lastUpdateTime", T("2024-05-01T00:00:00Z"),
                      T("2024-05-01T00:05:00.29Z"));
    CU_ASSERT_STRING_EQUAL(f, "lastUpdateTime ge 2024-05-01T00:00:00.0000000Z and "
                              "lastUpdateTime lt 2024-05-01T00:05:00.2900000Z");
    /* One tick apart: never rounded together. */
    coll_range_filter(f, sizeof(f), "createdTime", T("2020-09-06T14:46:57.0733333Z"),
                      T("2020-09-06T14:46:57.0733333Z") + 1);
    CU_ASSERT_STRING_EQUAL(f, "createdTime ge 2020-09-06T14:46:57.0733333Z and "
                              "createdTime lt 2020-09-06T14:46:57.0733334Z");
}

static void test_covers_top(void)
{
    static const char *const desc[] = {"2024-05-01T10:00:03Z", "2024-05-01T10:00:02.5Z",
                                       "2024-05-01T10:00:02.5Z", "2024-05-01T10:00:01Z"};
    static const char *const unordered[] = {"2024-05-01T10:00:02Z", "2024-05-01T10:00:03Z",
                                            "2024-05-01T10:00:01Z"};
    /* "…:57Z" sorts after "…:57.1Z" as a string but is earlier: compared as ticks. */
    static const char *const trap[] = {"2024-05-01T10:00:57.1Z", "2024-05-01T10:00:57Z"};
    int64_t a = T("2024-05-01T10:00:00Z"), hi = T("2024-05-01T10:00:04Z"), min = 0;
    yajl_val root, v;

    v = page(desc, NULL, 4, &root);
    CU_ASSERT_EQUAL(coll_page_covers_top(v, a, hi, &min), 1);
    CU_ASSERT_EQUAL(min, T("2024-05-01T10:00:01Z"));
    /* A time outside the window: the answer cannot be trusted to be the window's top. */
    CU_ASSERT_EQUAL(coll_page_covers_top(v, a, T("2024-05-01T10:00:03Z"), &min), 0);
    CU_ASSERT_EQUAL(coll_page_covers_top(v, T("2024-05-01T10:00:01.5Z"), hi, &min), 0);
    yajl_tree_free(root);

    v = page(unordered, NULL, 3, &root);
    CU_ASSERT_EQUAL(coll_page_covers_top(v, a, hi, &min), 0);
    yajl_tree_free(root);

    v = page(trap, NULL, 2, &root);
    CU_ASSERT_EQUAL(coll_page_covers_top(v, a, T("2024-05-01T10:01:00Z"), &min), 1);
    CU_ASSERT_EQUAL(min, T("2024-05-01T10:00:57Z"));
    yajl_tree_free(root);
}

static void test_created_split(void)
{
    static const char *const lut[] = {"2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z",
                                      "2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z",
                                      "2024-05-01T10:00:00Z"};
    static const char *const created[] = {"2024-04-01T00:00:00Z", "2024-04-20T00:00:00Z",
                                          "2024-04-03T00:00:00Z", "2024-04-30T00:00:00Z",
                                          "2024-04-10T00:00:00Z"};
    yajl_val root, v;
    int64_t lo = T("2023-01-01T00:00:00Z"), hi = T("2024-05-01T10:00:00Z") + 1;

    v = page(lut, created, 5, &root);
    /* The median createdTime, not the midpoint of a 16-month range. */
    CU_ASSERT_EQUAL(coll_created_split(v, lo, hi), T("2024-04-10T00:00:00Z"));
    /* A median outside (lo, hi) is useless: the midpoint then. */
    CU_ASSERT_EQUAL(coll_created_split(v, T("2024-04-10T00:00:00Z"), hi),
                    T("2024-04-10T00:00:00Z") + (hi - T("2024-04-10T00:00:00Z")) / 2);
    yajl_tree_free(root);
}

void unit_register(void)
{
    CU_pSuite s = CU_add_suite("coll windowing", NULL, NULL);
    CU_add_test(s, "filters carry 7 fractional digits", test_filter_has_seven_digits);
    CU_add_test(s, "a full page covers the window's top only when ordered", test_covers_top);
    CU_add_test(s, "full createdTime ranges split at the median", test_created_split);
}
