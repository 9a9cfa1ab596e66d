#include "auth.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

/* A token without expires_in is assumed to live this long: short enough to be renewed soon,
 * and a 401 renews it anyway (reference/api.md §15.3). */
#define DEFAULT_LIFETIME_S 300
/* Renewal margin cap: Entra tokens live ~3,599 s; renewing 5 minutes early leaves room for a
 * slow token endpoint and for clock-free (monotonic) bookkeeping error. */
#define MAX_MARGIN_MS (300 * 1000)

void auth_wipe_str(char *s)
{
    if (s != NULL)
        explicit_bzero(s, strlen(s));
}

void auth_wipe_dbuf(struct dbuf *b)
{
    if (b->p != NULL)
        explicit_bzero(b->p, b->alloc);
    b->len = 0;
}

void auth_token_init(struct auth_token *t)
{
    t->access_token = NULL;
    t->lifetime_s = 0;
    t->renew_at_ms = 0;
}

void auth_token_clear(struct auth_token *t)
{
    auth_wipe_str(t->access_token);
    free(t->access_token);
    auth_token_init(t);
}

int auth_token_usable(const struct auth_token *t, int64_t now_ms)
{
    return t->access_token != NULL && now_ms < t->renew_at_ms;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int auth_is_v1(const char *token_url)
{
    /* "/oauth2/v2.0/token" does not end with "/oauth2/token", so the test is unambiguous. */
    return ends_with(token_url, "/oauth2/token");
}

/* Appends "&name=<percent-encoded value>" (no '&' for the first field). The escaped copy of the
 * value (the secret, for one field) is wiped before curl frees it. */
static int put_field(struct dbuf *form, const char *name, const char *value, size_t value_len)
{
    int rc = DF_ENOMEM;
    char *esc = NULL;

    if (value_len > (size_t) INT32_MAX)
        return DF_EINVAL;
    /* The handle argument is ignored since libcurl 7.82; NULL keeps auth free of I/O state. */
    esc = curl_easy_escape(NULL, value, (int) value_len);
    if (esc == NULL)
        goto out;
    rc = dbuf_printf(form, "%s%s=%s", form->len > 0 ? "&" : "", name, esc);
out:
    if (esc != NULL) {
        auth_wipe_str(esc);
        curl_free(esc);
    }
    return rc;
}

int auth_form(struct dbuf *form, const char *token_url, const char *client_id,
              const char *client_secret, const char *scope, struct df_err *err)
{
    static const char default_suffix[] = "/.default";
    int rc;

    if (token_url == NULL || client_id == NULL || client_secret == NULL || scope == NULL) {
        rc = df_err_set(err, DF_EINVAL,
                        "token request needs token_url, client_id, "
                        "client_secret and scope");
        goto out;
    }
    rc = put_field(form, "grant_type", "client_credentials", strlen("client_credentials"));
    if (rc == DF_OK)
        rc = put_field(form, "client_id", client_id, strlen(client_id));
    if (rc == DF_OK)
        rc = put_field(form, "client_secret", client_secret, strlen(client_secret));
    if (rc == DF_OK && auth_is_v1(token_url)) {
        /* v1 has no scopes: it names the resource (the audience) itself. Without it Entra
         * issues a token for Graph's legacy audience and the API answers 401 (api.md §15.2). */
        size_t n = strlen(scope);
        if (ends_with(scope, default_suffix))
            n -= strlen(default_suffix);
        rc = put_field(form, "resource", scope, n);
    } else if (rc == DF_OK) {
        rc = put_field(form, "scope", scope, strlen(scope));
    }
    if (rc != DF_OK)
        rc = df_err_set(err, rc, "cannot build the token request: %s", df_strerror(rc));
out:
    return rc;
}

/* expires_in is a JSON number in v2 answers and a numeric string in v1 answers (fixtures
 * token-v1-*.json, token-v2-*.json). Returns -1 when absent or unusable. */
static int64_t number_or_string(yajl_val v)
{
    if (v == NULL)
        return -1;
    if (YAJL_IS_INTEGER(v))
        return YAJL_GET_INTEGER(v);
    if (YAJL_IS_DOUBLE(v)) {
        double d = YAJL_GET_DOUBLE(v);
        return d >= 0 && d < 1e12 ? (int64_t) d : -1;
    }
    if (YAJL_IS_STRING(v)) {
        const char *s = v->u.string;
        char *end;
        long long n;

        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0')
            return -1;
        return n;
    }
    return -1;
}

/* The token goes into an HTTP header: reject anything that could break or extend the header
 * line (CR, LF, spaces, controls). JWTs are base64url plus dots. */
static int token_chars_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
            return 0;
    return 1;
}

int auth_token_parse(struct auth_token *t, const char *body, int64_t now_ms, struct df_err *err)
{
    const char *token_path[] = {"access_token", NULL};
    const char *expires_path[] = {"expires_in", NULL};
    int rc;
    char ebuf[128];
    yajl_val root = NULL, tok, exp;
    char *copy = NULL;
    int64_t lifetime_s, lifetime_ms, margin_ms;

    root = yajl_tree_parse(body != NULL ? body : "", ebuf, sizeof(ebuf));
    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        rc = df_err_set(err, DF_EPARSE, "token endpoint answer is not a JSON object");
        goto out;
    }
    tok = yajl_tree_get(root, token_path, yajl_t_string);
    if (tok == NULL || !token_chars_ok(tok->u.string)) {
        rc = df_err_set(err, DF_EAUTH, "token endpoint answer has no usable access_token");
        goto out;
    }
    copy = strdup(tok->u.string);
    if (copy == NULL) {
        rc = df_err_set(err, DF_ENOMEM, "out of memory storing the token");
        goto out;
    }
    exp = yajl_tree_get(root, expires_path, yajl_t_any);
    lifetime_s = number_or_string(exp);
    if (lifetime_s <= 0)
        lifetime_s = DEFAULT_LIFETIME_S;
    lifetime_ms = lifetime_s * 1000;
    margin_ms = lifetime_ms / 4 < MAX_MARGIN_MS ? lifetime_ms / 4 : MAX_MARGIN_MS;
    auth_token_clear(t);
    t->access_token = copy;
    copy = NULL;
    t->lifetime_s = lifetime_s;
    t->renew_at_ms = now_ms + lifetime_ms - margin_ms;
    rc = DF_OK;
out:
    if (root != NULL) {
        /* yajl frees without wiping: clear the tree's copy of the token first. */
        tok = YAJL_IS_OBJECT(root) ? yajl_tree_get(root, token_path, yajl_t_string) : NULL;
        if (tok != NULL)
            auth_wipe_str(tok->u.string);
        yajl_tree_free(root);
    }
    auth_wipe_str(copy);
    free(copy);
    return rc;
}

/* Copies a string member into out as a printable token of at most cap-1 bytes, or "-". */
static void member_str(yajl_val root, const char *name, char *out, size_t cap)
{
    const char *path[] = {name, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    size_t i = 0;

    if (v != NULL)
        for (const char *s = v->u.string; *s != '\0' && i + 1 < cap; s++)
            out[i++] = (*s > 0x20 && *s < 0x7f) ? *s : '_';
    if (i == 0)
        out[i++] = '-';
    out[i] = '\0';
}

/* error_codes is an array of integers: rendered as "70011,50012" (at most cap-1 bytes). */
static void member_codes(yajl_val root, char *out, size_t cap)
{
    const char *path[] = {"error_codes", NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_array);
    size_t used = 0;

    out[0] = '\0';
    if (v != NULL) {
        for (size_t i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
            yajl_val e = YAJL_GET_ARRAY(v)->values[i];
            int n;
            if (!YAJL_IS_INTEGER(e))
                continue;
            n = snprintf(out + used, cap - used, "%s%lld", used > 0 ? "," : "",
                         (long long) YAJL_GET_INTEGER(e));
            if (n < 0 || (size_t) n >= cap - used) {
                out[used] = '\0'; /* drop a code that does not fit whole */
                break;
            }
            used += (size_t) n;
        }
    }
    if (used == 0)
        snprintf(out, cap, "-");
}

int auth_error(long status, const char *body, struct df_err *err)
{
    char ebuf[128], error[64], codes[96], trace[64], corr[64];
    yajl_val root = yajl_tree_parse(body != NULL ? body : "", ebuf, sizeof(ebuf));

    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        return df_err_set(err, DF_EAUTH,
                          "token endpoint refused the request: HTTP %ld "
                          "(body is not JSON)",
                          status);
    }
    /* error_description is left out on purpose: it is long, multi-line prose, and everything a
     * support case needs is in the four fields below. */
    member_str(root, "error", error, sizeof(error));
    member_codes(root, codes, sizeof(codes));
    member_str(root, "trace_id", trace, sizeof(trace));
    member_str(root, "correlation_id", corr, sizeof(corr));
    yajl_tree_free(root);
    return df_err_set(err, DF_EAUTH,
                      "token endpoint refused the request: HTTP %ld error=%s error_codes=%s "
                      "trace_id=%s correlation_id=%s",
                      status, error, codes, trace, corr);
}

int auth_header(const struct auth_token *t, char **out)
{
    static const char prefix[] = "Authorization: Bearer ";
    size_t n;
    char *h;

    *out = NULL;
    if (t->access_token == NULL)
        return DF_EINVAL;
    n = strlen(t->access_token);
    h = malloc(sizeof(prefix) + n);
    if (h == NULL)
        return DF_ENOMEM;
    memcpy(h, prefix, sizeof(prefix) - 1);
    memcpy(h + sizeof(prefix) - 1, t->access_token, n + 1);
    *out = h;
    return DF_OK;
}
