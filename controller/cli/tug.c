/*
 * tug.c: main() of tug, the command-line client: the global options, --ssh,
 * finding the command in the table (cmd.c) and running it (request.c).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "controller/cli/cli.h"

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "home", required_argument, NULL, 'H' },
		{ "socket", required_argument, NULL, 'S' },
		{ "as", required_argument, NULL, 'a' },
		{ "ssh", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd	*c;
	const char		*home = NULL, *sock = NULL, *as = NULL;
	char			*store = NULL;
	int			 ch, used, ssh = 0, r;

	log_init("tug", 0);
	while ((ch = getopt_long(argc, argv, "+qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j': json_out = 1; break;
		case 'q': quiet = 1; break;
		case 'H': home = optarg; break;
		case 'S': sock = optarg; break;
		case 'a': as = optarg; break;
		case 's': ssh = 1; break;
		case 'h': usage_all(stdout); return 0;
		case 'V':
			printf("tug %s (protocol %d)\n", TUG_VERSION,
			    PROTO_VERSION);
			return 0;
		default: usage_all(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (ssh && argc > 0) {
		fprintf(stderr, "tug: --ssh takes the command from "
		    "SSH_ORIGINAL_COMMAND, not from arguments\n");
		return 2;
	}
	if (ssh && (r = ssh_command(as, &argc, &argv, &store)) != -1) {
		free(store);
		return r;
	}
	if (argc == 0) {
		usage_all(stderr);
		return 2;
	}
	if (strcmp(argv[0], "help") == 0)
		return help(argc - 1, argv + 1);
	if (strcmp(argv[0], "__man") == 0)
		return man_page();
	if (strcmp(argv[0], "__complete") == 0)
		return complete(argc - 1, argv + 1);
	if (strcmp(argv[0], "completion") == 0)
		return completion(argc - 1, argv + 1);
	if (strcmp(argv[0], "version") == 0 && argc == 1) {
		printf("tug %s (protocol %d)\n", TUG_VERSION, PROTO_VERSION);
		return 0;
	}
	if ((c = find_cmd(argc, argv, &used)) == NULL) {
		unknown_cmd(stderr, argc, argv);
		return 2;
	}
	paths.client = 1;
	if (paths_init(&paths, home, sock) == -1) {
		fprintf(stderr, "tug: state directory or socket path unusable\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	r = run(c, argc - used, argv + used, as);
	free(store);
	return r;
}
