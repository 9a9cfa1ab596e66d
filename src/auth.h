/*
 * OAuth2 client-credentials tokens from Entra ID (reference/api.md §15): the request form, the
 * parsing of answers and errors, and the cache with its renewal deadline. No I/O here: the API
 * client (api.c) sends the form with its own retries and hands the answer back.
 *
 * Secrets and tokens never reach a log line or a df_err message; every buffer that held one is
 * wiped before it is freed.
 */
#ifndef DF_AUTH_H
#define DF_AUTH_H

#include "common.h"
#include "dbuf.h"

#include <stdint.h>

struct auth_token {
    char *access_token;  /* NULL when none; wiped before it is freed */
    int64_t lifetime_s;  /* expires_in of the last answer */
    int64_t renew_at_ms; /* monotonic ms (rl_now_ms) from which the token is renewed */
};

void auth_token_init(struct auth_token *t);
/* Forgets the token (wiped); the next call fetches a new one. Used after a 401. */
void auth_token_clear(struct auth_token *t);
/* 1 when a token is cached and its renewal time has not come. */
int auth_token_usable(const struct auth_token *t, int64_t now_ms);

/* 1 when token_url is Entra's v1 endpoint (ends with "/oauth2/token"), which wants `resource`
 * instead of `scope`; every other URL (normally ".../oauth2/v2.0/token") is treated as v2. */
int auth_is_v1(const char *token_url);
/*
 * Builds the application/x-www-form-urlencoded body into form (which the caller wipes with
 * auth_wipe_dbuf and frees): grant_type, client_id, client_secret, and scope (v2) or resource =
 * scope without its "/.default" (v1). Every value is percent-encoded.
 */
int auth_form(struct dbuf *form, const char *token_url, const char *client_id,
              const char *client_secret, const char *scope, struct df_err *err);
/*
 * Reads a 2xx answer of the token endpoint: access_token, and expires_in as a number or a
 * numeric string (v1 sends strings). Renewal is due min(300 s, lifetime / 4) before expiry.
 * DF_EPARSE when the body is not JSON (truncated: the caller retries), DF_EAUTH when it is JSON
 * without a usable token. The body's copy of the token is not wiped here: the caller owns it.
 */
int auth_token_parse(struct auth_token *t, const char *body, int64_t now_ms, struct df_err *err);
/* Turns a non-2xx answer into DF_EAUTH with error, error_codes, trace_id and correlation_id
 * from the body (never error_description, never the request). */
int auth_error(long status, const char *body, struct df_err *err);
/* Writes "Authorization: Bearer <token>" into a fresh malloc'd string; the caller wipes it with
 * auth_wipe_str and frees it. DF_EINVAL when no token is cached, DF_ENOMEM. */
int auth_header(const struct auth_token *t, char **out);

void auth_wipe_str(char *s);
void auth_wipe_dbuf(struct dbuf *b);

#endif
