/* The daemon: state directory, collector, journal, outputs and the checkpoint, in one loop. */
#ifndef DF_RUN_H
#define DF_RUN_H

#include "cfg.h"

#include <signal.h>

struct run_options {
    int once;                               /* catch up, deliver everything, return */
    const df_flag *stop;      /* SIGTERM/SIGINT */
    df_flag *reopen;          /* SIGHUP: set by the handler, cleared here */
};

/* Returns 0 on a clean stop (or --once success), DF_E* otherwise (already logged). */
int run_forwarder(const struct cfg *cfg, const struct run_options *opts);

/* Prints the checkpoint of cfg's state directory as JSON on stdout (`state show`). */
int run_state_show(const struct cfg *cfg, struct df_err *err);

#endif
