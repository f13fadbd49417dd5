/*
 * ssh-command.c: tug as a user's forced command (tug --as USER --ssh): the
 * command comes from SSH_ORIGINAL_COMMAND, split into words without a shell;
 * whatever a shell would have treated specially is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "controller/cli/cli.h"

#define SSH_CMD_MAX	8192
#define SSH_WORDS_MAX	256

/*
 * Split SSH_ORIGINAL_COMMAND into words without a shell: blanks separate
 * words, '...' and "..." quote, and whatever a shell would have treated
 * specially is refused rather than taken literally or interpreted. The
 * words point into *store (the caller frees it). 0, or -1 with err.
 */
static int
ssh_words(const char *s, char **store, char **words, int *n, char *err,
    size_t errsz)
{
	char		*w, q = 0;
	const char	*p;
	int		 inword = 0;

	*n = 0;
	if (strlen(s) > SSH_CMD_MAX) {
		snprintf(err, errsz, "the command is longer than %d bytes",
		    SSH_CMD_MAX);
		return -1;
	}
	*store = w = xmalloc(strlen(s) + 1);
	for (p = s; *p != '\0'; p++) {
		unsigned char	ch = (unsigned char)*p;

		if (ch < 0x20 && ch != '\t') {
			snprintf(err, errsz, "control character 0x%02x in the "
			    "command", ch);
			return -1;
		}
		if (q != 0 && ch != (unsigned char)q) {
			if (q == '"' && strchr("$`\\!", ch) != NULL) {
				snprintf(err, errsz, "refusing '%c' inside "
				    "double quotes: tug runs no shell (use "
				    "single quotes)", ch);
				return -1;
			}
			*w++ = (char)ch;
			continue;
		}
		if (q != 0) {		/* the closing quote */
			q = 0;
			continue;
		}
		if (ch == ' ' || ch == '\t') {
			if (inword)
				*w++ = '\0';
			inword = 0;
			continue;
		}
		if (!inword) {
			if (*n == SSH_WORDS_MAX) {
				snprintf(err, errsz, "more than %d words",
				    SSH_WORDS_MAX);
				return -1;
			}
			words[(*n)++] = w;
			inword = 1;
		}
		if (ch == '\'' || ch == '"') {
			q = (char)ch;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-_./:=,@+%^", ch) !=
		    NULL)) {
			snprintf(err, errsz, ch < 0x80 ? "refusing '%c' in the "
			    "command: tug runs no shell (quote it if it is "
			    "meant literally)" : "refusing byte 0x%02x outside "
			    "quotes", ch);
			return -1;
		}
		*w++ = (char)ch;
	}
	if (q != 0) {
		snprintf(err, errsz, "unbalanced %c quote in the command", q);
		return -1;
	}
	*w = '\0';
	return 0;
}

/*
 * The forced command of a user's key: tug --as USER --ssh. The command
 * comes from SSH_ORIGINAL_COMMAND; before it only --json, -q and --help.
 * argv and argc are replaced; 0, or an exit status.
 */
int
ssh_command(const char *as, int *argcp, char ***argvp, char **store)
{
	static char	*words[SSH_WORDS_MAX + 1];
	const char	*cmd = getenv("SSH_ORIGINAL_COMMAND");
	char		 err[256];
	int		 n, i;

	if (as == NULL) {
		fprintf(stderr, "tug: --ssh needs --as USER\n");
		return 2;
	}
	if (cmd == NULL || *cmd == '\0') {
		fprintf(stderr, "tug: you are %s on this controller; give a "
		    "command, e.g. 'ssh ... site list' ('ssh ... --help' lists "
		    "them)\n", as);
		return 2;
	}
	if (ssh_words(cmd, store, words, &n, err, sizeof err) == -1) {
		fprintf(stderr, "tug: %s\n", err);
		return 2;
	}
	for (i = 0; i < n && words[i][0] == '-'; i++) {
		if (strcmp(words[i], "--json") == 0)
			json_out = 1;
		else if (strcmp(words[i], "-q") == 0)
			quiet = 1;
		else if (strcmp(words[i], "--help") == 0) {
			usage_all(stdout);
			return 0;
		} else {
			fprintf(stderr, "tug: over SSH only --json, -q and "
			    "--help may come before the command\n");
			return 2;
		}
	}
	words[n] = NULL;
	*argcp = n - i;
	*argvp = words + i;
	ssh_mode = 1;
	return -1;
}
