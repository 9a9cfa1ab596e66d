/* The identity of a state directory: a random UUID created once, kept in `state.dir/identity`.
 * It outlives restarts and names this installation to the outside (Kafka's transactional.id),
 * so two forwarders with different state never fence each other while one forwarder always
 * resumes as itself. */
#ifndef DF_IDENT_H
#define DF_IDENT_H

#include "common.h"

#define IDENT_LEN 36 /* 8-4-4-4-12 lowercase hex */

/* Reads the identity of dir into out (IDENT_LEN + 1 bytes), creating it on first use.
 * DF_EIO, DF_ECORRUPT (a file that is not a UUID: never replaced silently), DF_ENOMEM. */
int ident_get(const char *dir, char *out, struct df_err *err);

#endif
