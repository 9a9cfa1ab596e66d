/*
 * The configuration loader (src/cfg.c). cfg_load only takes a path (it reads the file itself,
 * and relative paths in the file such as client_secret_file resolve against its directory),
 * so the input is written to config.yaml in a private temporary directory for each run.
 *
 * Checked: the result is DF_OK with a usable configuration or DF_ECONFIG with a message that
 * starts with the file name (never a crash, a leak or another code); a loaded configuration
 * has at least one output, each with a name and a plugin.
 */
#include "cfg.h"
#include "common.h"
#include "fuzz_util.h"

#include <stdio.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    /* A secret file named /dev/stdin must not wait for a terminal. */
    if (freopen("/dev/null", "r", stdin) == NULL)
        __builtin_trap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("config.yaml", data, size);
    struct cfg *cfg = NULL;
    struct df_err err = {0};
    int rc = cfg_load(path, &cfg, &err);

    if (rc == DF_OK) {
        FUZZ_CHECK(cfg != NULL && cfg->n_outputs >= 1 && cfg->outputs != NULL);
        for (size_t i = 0; i < cfg->n_outputs; i++)
            FUZZ_CHECK(cfg->outputs[i].name != NULL && cfg->outputs[i].plugin != NULL);
        cfg_free(cfg);
    } else {
        FUZZ_CHECK(rc == DF_ECONFIG && cfg == NULL && err.code == DF_ECONFIG);
        FUZZ_CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    }
    return 0;
}
