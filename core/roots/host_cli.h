/*
 * host_cli.h - the command line shared by onex-host and onex-host-dev.
 * Each composition root passes its profile: its name, its wiring table,
 * and whether it is the production or the development host.
 */
#ifndef ONEX_HOST_CLI_H
#define ONEX_HOST_CLI_H

#include "wiring.h"

struct onex_host_cli_profile {
	const char *binary;
	const char *summary; /* one line for --help */
	const struct onex_wiring *wiring;
	int production; /* contracts enabling `local` are refused */
	int dev;	/* refuses ENVIRONMENT=prod, warns at start */
};

/* Exit codes: 0 ok, 1 contract or usage error, 2 runtime failure. */
enum { ONEX_EXIT_OK = 0, ONEX_EXIT_CONTRACT = 1, ONEX_EXIT_RUNTIME = 2 };

int onex_host_cli_main(int argc, char **argv, const struct onex_host_cli_profile *profile);

#endif
