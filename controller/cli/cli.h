/*
 * cli.h: the private header of tug, the command-line client, grouped by
 * file as in tmux.h. tug finds the command in a table, turns its arguments
 * into one REQUEST for tugd (starting tugd first if none listens, as tmux
 * starts its server), prints the progress events as they come and renders
 * the result as text or, with --json, as JSON. Exit status: 0 done,
 * 1 failed or refused, 2 usage, 3 tugd unreachable.
 */
#ifndef TUG_CLI_H
#define TUG_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "controller/tug.h"

/* render.c: the options every file reads (main sets them) */
extern int	 json_out;	/* --json */
extern int	 quiet;		/* -q */
extern int	 ssh_mode;	/* run by sshd as a user's forced command */

/* cmd.c: the command table */
enum ftype { F_BOOL, F_STR, F_LIST, F_U64, F_CSV, F_STDIN, F_FILE };

struct cli_flag {
	const char	*name;		/* --name */
	const char	*key;		/* in args */
	enum ftype	 type;
	const char	*help;
	int		 letter;	/* -x as well, or 0 */
};

struct cli_cmd {
	const char	*words;
	const char	*op;
	const char	*usage;
	const char	*help;
	int		 minargs;
	int		 maxargs;	/* -1: any number */
	const char	*pos[3];	/* arg keys; a last "*key" takes the rest */
	struct cli_flag	 flags[16];
	void		(*render)(struct mv *);
	int		 mode;
#define CMD_STREAM	0x1	/* log lines are the output; Ctrl-C cancels */
#define CMD_CONFIRM	0x2	/* destructive: asks on a terminal, or --yes */
#define CMD_ROLLOUT	0x4	/* a rollout: Ctrl-C leaves it running */
};

extern int	 assume_yes;	/* --yes */
extern int	 detach;	/* --detach */
extern const char *cmd_args[3];	/* the first positional arguments */

const struct cli_cmd *find_cmd(int argc, char **argv, int *used);
void	 usage_all(FILE *);
void	 usage_cmd(FILE *, const struct cli_cmd *);
void	 usage_line(FILE *, const struct cli_cmd *);
void	 unknown_cmd(FILE *, int argc, char **argv);
int	 help(int argc, char **argv);		/* tug help [COMMAND] */
int	 complete(int argc, char **argv);	/* tug __complete */
int	 man_page(void);			/* tug __man: tug(1) */
int	 completion(int argc, char **argv);	/* tug completion bash|zsh */
int	 build_args(const struct cli_cmd *, int argc, char **argv,
	    struct enc *);
const char *cmd_op(const struct cli_cmd *, int argc, char **argv);
/* After build_args: 0 go on, or the exit status (not confirmed). */
int	 confirm(const struct cli_cmd *, int argc, char **argv);

/* connect.c */
/* A connected fd, or -1 (the reason printed); init: a new tugd is expected. */
int	 open_tugd(int init);

/* request.c */
/* Build the REQUEST, send it, read to its end; returns tug's exit status. */
int	 run(const struct cli_cmd *, int argc, char **argv, const char *as);

/* ssh-command.c */
/* -1: argv is now SSH_ORIGINAL_COMMAND's words; else an exit status. */
int	 ssh_command(const char *as, int *argcp, char ***argvp, char **store);

/* render.c */
/* A table: rows of cells, each column as wide as its widest cell. */
struct table {
	char	*cell[256][10];
	int	 rows, cols;
};
void	 print_json(struct mv *, const char *key);
/* A key's string ("-" if it has none) or number (0 if it has none). */
const char *s_(struct mv *, const char *key, char *dst, size_t n);
uint64_t u_(struct mv *, const char *key);
void	 table_add(struct table *, ...);	/* cells, then NULL */
void	 table_print(struct table *);		/* and frees the cells */
void	 human_bytes(char *dst, size_t n, uint64_t v);

/* render-host.c */
void	 render_init(struct mv *);
void	 render_status(struct mv *);
void	 render_key(struct mv *);
void	 render_host_add(struct mv *);
void	 render_host_list(struct mv *);
void	 render_host_check(struct mv *);
void	 render_host_bootstrap(struct mv *);
void	 render_host_rm(struct mv *);

/* render-site.c */
void	 render_site_apply(struct mv *);
void	 render_site_list(struct mv *);
void	 render_site_status(struct mv *);
void	 render_site_show(struct mv *);
void	 render_site_rm(struct mv *);
void	 render_deploy(struct mv *);
void	 render_releases(struct mv *);
void	 render_power(struct mv *);
void	 render_restart(struct mv *);
void	 render_env_list(struct mv *);
void	 render_env_set(struct mv *);

/* render-image.c */
void	 render_image_push(struct mv *);

/* render-logs.c */
extern int	 stdout_broken;	/* nobody reads our lines any more */
int	 render_log_event(struct mv *);	/* 1: log lines, printed */
void	 render_logs(struct mv *);

/* render-user.c */
void	 render_registry(struct mv *);
void	 render_acme(struct mv *);
void	 render_cert(struct mv *);
/* A host's certificate in words: issuer, names, expiry. */
void	 render_cert_line(const char *host, struct mv *cert);
void	 render_user(struct mv *);
void	 render_user_list(struct mv *);
void	 render_user_show(struct mv *);
void	 render_user_key(struct mv *);
void	 render_grant(struct mv *);
void	 render_audit(struct mv *);
void	 render_audit_verify(struct mv *);

#endif
