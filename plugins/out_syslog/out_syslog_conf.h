/* Syslog output options: the libcyaml table and the check that applies defaults. */
#ifndef DF_OUT_SYSLOG_CONF_H
#define DF_OUT_SYSLOG_CONF_H

#include "common.h"
#include "out_syslog.h"

#include <cyaml/cyaml.h>

extern const cyaml_schema_field_t out_syslog_conf_fields[];

/* Applies defaults (in one place, here) and checks values; messages are "KEY: problem". */
int out_syslog_conf_validate(void *opts, struct df_err *err);

#endif
