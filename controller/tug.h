/*
 * tug.h: the private header of the controller binaries, tugd and tug,
 * grouped by file as in tmux.h. tugd owns the SQLite state, the SSH key and
 * one session per host; tug is a thin client that sends one request.
 */
#ifndef TUG_TUG_H
#define TUG_TUG_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/validate.h"
#include "proto/proto.h"

#define HOST_NAME_MAX_TUG	63
#define GROUP_NAME_MAX		40
#define SSH_USER_MAX		32
#define FINGERPRINT_MAX		128
#define HOST_GROUPS_MAX		16

/* paths.c: where tugd keeps its state and listens. */
struct paths {
	char	home[PATH_MAX_TUG];	/* state dir: db, key, agent cache */
	char	sock[PATH_MAX_TUG];
	char	db[PATH_MAX_TUG];
	char	key[PATH_MAX_TUG];	/* tugd's own SSH private key */
	char	log[PATH_MAX_TUG];
};
int	 paths_init(struct paths *, const char *home, const char *sock);
const char *check_host_name(const char *);
const char *check_group_name(const char *);
const char *check_ssh_user(const char *);
const char *check_address(const char *);

/* db.c */
struct db {
	sqlite3		*h;
	pthread_mutex_t	 lock;
};
extern struct db	 db;
int	 db_open(const char *path, char *err, size_t errsz);
void	 db_close(void);
void	 db_lock(void);
void	 db_unlock(void);
int	 db_exec(const char *sql);
int	 db_schema_version(void);

/* host records, as stored */
struct host_rec {
	int64_t		id;
	char		name[HOST_NAME_MAX_TUG + 1];
	char		addr[256];
	unsigned	port;
	char		user[SSH_USER_MAX + 1];
	char		key_path[PATH_MAX_TUG];
	char		hostkey[FINGERPRINT_MAX];
	char		groups[HOST_GROUPS_MAX][GROUP_NAME_MAX + 1];
	int		ngroups;
	char		agent_hash[65];	/* of the agent last installed */
	int64_t		last_seen;
	char		*facts;		/* JSON text or NULL; owned */
};
int	 hosts_load(struct host_rec **, size_t *n);	/* all, by name */
int	 host_load(const char *name, struct host_rec *);	/* 1, 0, -1 */
int	 host_insert(const struct host_rec *);
int	 host_delete(const char *name);
int	 host_seen(const char *name, const char *facts_json,
	    const char *agent_hash);
void	 host_rec_free(struct host_rec *);
int	 user_count(void);
int	 user_add(const char *name, int admin);
int	 user_is_admin(const char *name);	/* 1, 0 (no such user: 0) */
int	 audit_add(const char *user, const char *op, const char *target,
	    const char *args_json, int allowed, const char *result);

/* rbac.c: the one place that decides. */
int	 rbac_allowed(const char *user, const char *action, const char *scope);

/* ssh.c: one libssh session to one host. */
struct sshc {
	void		*session;	/* ssh_session */
	void		*channel;	/* ssh_channel of the agent */
	int		 fd;
	char		 fingerprint[FINGERPRINT_MAX];
	char		 err[512];
};
struct ssh_target {
	const char	*name;
	const char	*addr;
	unsigned	 port;
	const char	*user;
	const char	*key_path;	/* NULL or "": tugd's key, then agent */
	const char	*pinned;	/* "" when not pinned yet */
	int		 accept_new;	/* pin whatever is presented */
	int		 timeout_s;
};
int	 sshc_connect(struct sshc *, const struct ssh_target *);
/* Run a command; its stdout (capped) in out, stderr in errout; exit code. */
int	 sshc_run(struct sshc *, const char *cmd, const void *in, size_t inlen,
	    struct buf *out, struct buf *errout, int timeout_s);
int	 sshc_exec(struct sshc *, const char *cmd);	/* opens sc->channel */
void	 sshc_close(struct sshc *);
int	 ssh_key_ensure(const char *path, char *pub, size_t pubsz, char *err,
	    size_t errsz);

/* bootstrap.c */
struct agent_bin {
	char		 path[PATH_MAX_TUG];
	char		 sha256[65];
	char		*data;
	size_t		 len;
};
extern struct agent_bin	 agent_bin;
int	 agent_bin_load(const char *path, char *err, size_t errsz);
void	 agent_remote_path(char *dst, size_t dstsz);
/* Install this build's agent if missing, check it runs; facts JSON in facts. */
int	 bootstrap(struct sshc *, const char *host, int install_deps,
	    struct buf *facts, void (*progress)(void *, const char *,
	    const char *), void *arg);

/* fleet.c: one thread, session and agent channel per host. */
enum host_state { H_IDLE, H_CONNECTING, H_UP, H_DOWN };
struct host;
struct hreq;
typedef void (*hreq_event_cb)(void *arg, struct host *, struct msg *);

void	 fleet_init(int max_handshakes);
void	 fleet_shutdown(void);
int	 fleet_add(const struct host_rec *);
void	 fleet_remove(const char *name);
struct host *fleet_get(const char *name);	/* referenced; host_unref() */
void	 host_unref(struct host *);
const char *host_name(const struct host *);
/* Start a request; it is sent once the host is connected. */
typedef void (*hreq_args_fn)(struct enc *, void *);
struct hreq *hreq_start(struct host *, const char *op, hreq_args_fn, void *aarg,
	    hreq_event_cb, void *arg);
uint64_t hreq_rtt_ms(const struct hreq *);	/* sent to answered */
/* Wait until it ends or deadline (clock_ms); the final frame in *m. */
int	 hreq_wait(struct hreq *, uint64_t deadline, struct msg *m, char *err);
void	 hreq_free(struct hreq *);
/* A snapshot of what is known of a host. */
struct host_info {
	enum host_state	 state;
	char		 error[512];
	char		*facts;		/* JSON of the agent's HELLO facts */
	uint64_t	 connected_ms;
};
void	 host_info(struct host *, struct host_info *);
void	 host_info_free(struct host_info *);
void	 host_kick(struct host *);	/* connect now, skip backoff */

/* tugd.c: the client connection a request came in on. */
struct client {
	struct conn	 conn;
	uid_t		 uid;
	pid_t		 pid;
	char		 user[64];	/* who the request acts as */
	uint64_t	 id;		/* the request's id */
	int		 done;
	pthread_mutex_t	 wlock;
};
void	 client_progress(struct client *, const char *host, const char *step,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 client_result_begin(struct client *, struct enc *);
void	 client_ok(struct client *, struct enc *);
void	 client_fail(struct client *, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
extern struct paths	 paths;

/* cmd-*.c: the server side of each op. */
struct sop {
	const char	*name;
	const char	*action;	/* what rbac_allowed() is asked */
	void		(*fn)(struct client *, struct mv *args);
};
void	 cmd_init(struct client *, struct mv *);
void	 cmd_status(struct client *, struct mv *);
void	 cmd_host_add(struct client *, struct mv *);
void	 cmd_host_list(struct client *, struct mv *);
void	 cmd_host_rm(struct client *, struct mv *);
void	 cmd_host_check(struct client *, struct mv *);
void	 cmd_host_bootstrap(struct client *, struct mv *);
void	 cmd_key_show(struct client *, struct mv *);

#endif
