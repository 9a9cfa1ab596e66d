/* Command line (SPEC §6): argument parsing and the subcommands. */
#ifndef DF_CLI_H
#define DF_CLI_H

/* Runs the command line; returns the process exit code (0 ok, 1 runtime, 2 usage/config). */
int cli_main(int argc, char **argv);

#endif
