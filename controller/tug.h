/*
 * tug.h: the private header of the controller binaries, tugd and tug,
 * grouped by file as in tmux.h. tugd owns the SQLite state, the SSH key and
 * one session per host; tug is a thin client that sends one request.
 */
#ifndef TUG_TUG_H
#define TUG_TUG_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/validate.h"
#include "proto/proto.h"

struct req;		/* request.h: one request, whatever carried it */

#define HOST_NAME_MAX_TUG	63
#define GROUP_NAME_MAX		40
#define SSH_USER_MAX		32
#define FINGERPRINT_MAX		128
#define HOST_GROUPS_MAX		16
#define USER_NAME_MAX		32
#define SCOPE_MAX		72	/* "host:" and a host name */

/* paths.c: where tugd keeps its state and listens. */
struct paths {
	char	home[PATH_MAX_TUG];	/* state dir: db, key, agent cache */
	char	sock[PATH_MAX_TUG];
	char	db[PATH_MAX_TUG];
	char	key[PATH_MAX_TUG];	/* tugd's own SSH private key */
	char	log[PATH_MAX_TUG];
	int	client;			/* set by tug before paths_init */
	int	system;			/* the system service's socket */
};
#define TUG_ACCOUNT		"tug"	/* the system service's account */
#define TUG_SYSTEM_HOME		"/var/lib/tug"
#define TUG_SYSTEM_SOCK		"/run/tug/tugd.sock"
extern struct paths	 paths;	/* this process's */
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
int	 db_open(const char *path, char *err, size_t errsz);	/* no migration */
void	 db_close(void);
void	 db_lock(void);
void	 db_unlock(void);
int	 db_exec(const char *sql);
int	 db_schema_version(void);
/*
 * Statements with bound parameters, one character of types a parameter:
 * 't' text (const char *, NULL binds NULL), 'i' int64_t (cast an int),
 * 'b' blob (const void *, size_t). db_run, db_row and db_rows take
 * db_lock; db_prepare and the _locked ones are for a caller that holds it
 * (across a transaction). Errors are logged with the SQL.
 */
sqlite3_stmt *db_prepare(const char *sql, const char *types, ...);
const char *db_col(sqlite3_stmt *, int);	/* text, "" for NULL */
void	 db_copy(sqlite3_stmt *, int, char *dst, size_t dstsz);
void	 db_int64(sqlite3_stmt *, void *);	/* row fn: column 0 */
int	 db_run(const char *sql, const char *types, ...);	/* changes, -1 */
int	 db_run_locked(const char *sql, const char *types, ...);
int	 db_row(const char *sql, void (*)(sqlite3_stmt *, void *), void *,
	    const char *types, ...);		/* 1, 0 no row, -1 */
int	 db_row_locked(const char *sql, void (*)(sqlite3_stmt *, void *),
	    void *, const char *types, ...);
int	 db_delete_scoped(const char *sql, const char *kind, const char *name);
int	 db_rows(const char *sql, size_t elemsz,
	    void (*)(sqlite3_stmt *, void *), void (*release)(void *),
	    void *out, size_t *n, const char *types, ...);	/* 0, -1 */

/* acme.c: the controller's ACME settings, in meta. */
struct site_spec;
#define ACME_CA_DEFAULT	"https://acme-v02.api.letsencrypt.org/directory"
struct acme_conf {
	char		 ca[512];
	char		 email[256];		/* "": not set */
	char		*trust_root;		/* PEM, or NULL; owned */
};
void	 acme_load(struct acme_conf *);
void	 acme_conf_free(struct acme_conf *);
int	 acme_store(const struct acme_conf *);	/* 0, -1 */
/* Copy them into s (acme_ca, acme_email, acme_root) for its deploys. */
void	 acme_fill(struct site_spec *s);
struct cert_args {
	const char		*site;
	const struct acme_conf	*ac;	/* NULL: site.status's args only */
	uint64_t		 days;	/* renew what ends sooner; 0: now */
};
void	 acme_cert_args(struct enc *, void *cert_args);
/* The "acme" map of the agent's ops: ca, email, trust_root. */
void	 acme_encode(struct enc *, const struct acme_conf *);
/* The hosts with settings of their own, as maps {host, setting}. */
void	 acme_hosts_encode(struct enc *);

/* renew.c: tugd's certificate renewal thread. */
struct renew_state {
	char		 site[SITE_NAME_MAX + 1];
	char		 host[HOST_NAME_MAX_TUG + 1];
	time_t		 tried_at;	/* 0: not yet */
	time_t		 next_at;
	time_t		 renewed_at;
	int		 ok;
	int		 fails;		/* in a row */
	char		 error[512];
};
void	 renew_start(void);
/* An environment variable of tugd's, as a number in [min, max], else def. */
uint64_t env_u64(const char *name, uint64_t def, uint64_t min, uint64_t max);

/* drift.c: what serves on each host, from the agents' watch, and heal. */
struct drift_state {
	char		 site[SITE_NAME_MAX + 1];
	char		 host[HOST_NAME_MAX_TUG + 1];
	int64_t		 release;
	char		 state[16];	/* ok, down, vanished, unhealthy, ... */
	char		 why[160];
	time_t		 since;
	unsigned	 heals;		/* tries since it last served */
	char		 heal_error[256];
	int		 gave_up;
	int		 healing;
	uint64_t	 heal_at;	/* clock_ms of the next try, 0 none */
};
void	 drift_start(void);
/* Every host's record of site (a copy, caller frees): how many. */
size_t	 drift_of_site(const char *site, struct drift_state **);
void	 drift_encode(struct enc *, const struct drift_state *);
/* The last scheduled renewal of site on host: 1 and out, 0 none yet. */
int	 renew_state_get(const char *site, const char *host,
	    struct renew_state *out);

/* schema.c: the tables, moved forward by migrations. */
#define CONTROLLER_ID_LEN	32	/* hex */
int	 schema_migrate(char *err, size_t errsz);
const char *controller_id(void);	/* labels tug.controller on hosts */

/* db-host.c: host records, as stored */
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
void	 hosts_free(struct host_rec *, size_t n);	/* and the array */
int	 hosts_of_group(const char *group, char ***names, size_t *n);
int	 host_in_group(const char *host, const char *group);	/* 1, 0, -1 */
#define HOST_SELECT_MAX		4096
struct host_sel {
	char		**names;
	size_t		  n;
	int		  named;		/* args.hosts, not a group */
	char		  group[GROUP_NAME_MAX + 1];
};
int	 host_select(struct mv *args, struct host_sel *, char *err,
	    size_t errsz);	/* 0; -1 bad args, -2 not found, -3 db */
void	 host_sel_free(struct host_sel *);
void	 free_names(char **, size_t);	/* and the array */
int	 user_count(void);
int	 user_add(const char *name, int admin);
int	 user_is_admin(const char *name);	/* 1, 0 (no such user: 0) */
/* Rows tugd has changed so far: what it read stands while this does. */
int64_t	 db_changes(void);

/* audit.c: the hash-chained, append-only audit log. */
#define AUDIT_GENESIS	"0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_ROW_COLS	"id, at, user, peer, op, target, args, allowed, " \
	"result, prev_hash, hash"
#define AUDIT_SEQ_SQL	"SELECT seq FROM sqlite_sequence WHERE name = 'audit'"
struct audit_row {
	int64_t		 id;
	int64_t		 at;		/* ms since the epoch */
	const char	*user;
	const char	*peer;
	const char	*op;
	const char	*target;
	const char	*args;
	int		 allowed;
	const char	*result;
	const char	*prev;		/* the previous row's hash */
};
/* A row read with AUDIT_ROW_COLS (strings point into the statement). */
void	 audit_row_from(sqlite3_stmt *, struct audit_row *);
/* The documented encoding's sha256 (docs/cli.md, tug audit). */
void	 audit_row_hash(const struct audit_row *, char out[65]);
int	 audit_add(const char *user, const char *peer, const char *op,
	    const char *target, const char *args_json, int allowed,
	    const char *result);
int	 audit_chain_existing(void);		/* migration 4's step */
void	 spec_audit_args(struct mv *args, struct buf *out);

/* authkeys.c: remote users' public keys and tugd's authorized_keys. */
#define KEY_BODY_MAX		8192		/* base64 of the key blob */
#define KEY_COMMENT_MAX		200
struct ssh_pubkey {
	char		type[48];
	char		body[KEY_BODY_MAX + 1];
	char		comment[KEY_COMMENT_MAX + 1];
	char		fingerprint[64];	/* SHA256:..., as ssh-keygen -l */
};
int	 pubkey_parse(const char *text, size_t len, struct ssh_pubkey *,
	    char *err, size_t errsz);
int	 authkeys_path(char *dst, size_t dstsz);
int	 authkeys_sync(char *err, size_t errsz);

/* db-user.c: users, their keys and grants. */
struct user_rec {
	int64_t		id;
	char		name[USER_NAME_MAX + 1];
	int		admin;			/* the flag (not grants) */
	int64_t		created_at;
	int		nkeys;
	int		ngrants;
};
struct grant_rec {
	char		action[16];
	char		scope[SCOPE_MAX + 1];
	char		who[64];
	int64_t		created_at;
};
struct key_rec {
	char		 user[USER_NAME_MAX + 1];
	struct ssh_pubkey key;
	int64_t		 created_at;
};
int	 users_load(struct user_rec **, size_t *);
int	 user_load(const char *name, struct user_rec *);	/* 1, 0, -1 */
int	 user_remove(const char *name);		/* 1, 0, -2 last admin, -1 */
int	 grant_add(const char *user, const char *action, const char *scope,
	    const char *who);			/* 1 added, 0 held, -1 */
int	 grant_remove(const char *user, const char *action,
	    const char *scope);		/* 1, 0 not held, -2 last admin, -1 */
int	 grants_load(const char *user, struct grant_rec **, size_t *);
int	 user_key_add(const char *user, const struct ssh_pubkey *,
	    char *owner, size_t);		/* 1, 0 someone's already, -1 */
int	 user_key_remove(const char *user, const char *fingerprint);
int	 user_keys_load(const char *user, struct key_rec **, size_t *);

/* db-site.c: sites, releases, deployments, locks. */
struct site_rec {
	int64_t		 id;
	char		 name[SITE_NAME_MAX + 1];
	char		 kind[16];
	char		 file[256];
	char		*spec;			/* YAML text; owned */
	char		 spec_hash[65];
	int64_t		 current;		/* serving release, 0 none */
	int64_t		 updated_at;
	char		 image[IMAGE_REF_MAX + 1];	/* deploy --image's, or "" */
};
struct release_rec {
	int64_t		 id;
	int64_t		 number;
	char		 image[IMAGE_REF_MAX + 1];
	char		*spec;			/* owned */
	char		 spec_hash[65];
	char		 who[64];
	int64_t		 created_at;
	int64_t		 finished_at;
	char		 status[16];		/* deploying|done|failed */
	int64_t		 rollback_of;
};
int	 site_load(const char *name, struct site_rec *);	/* 1, 0, -1 */
int	 site_upsert(const char *name, const char *kind, const char *file,
	    const char *spec, const char *hash);	/* 1 created, 0 updated */
int	 site_delete(const char *name);
int	 sites_load(struct site_rec **, size_t *);
void	 site_rec_free(struct site_rec *);
int	 site_set_current(int64_t site_id, int64_t number);
int	 site_set_image(int64_t site_id, const char *image);	/* "": the spec's */
int64_t	 release_create(int64_t site_id, const char *image, const char *spec,
	    const char *hash, const char *who, int64_t rollback_of,
	    int64_t *number);			/* its id, -1 on error */
int	 release_finish(int64_t id, const char *status);
int	 release_load(int64_t site_id, int64_t number, struct release_rec *);
int	 legacy_volumes_load(int64_t site_id, char ***, size_t *);
int	 release_images_kept(int64_t site_id, int64_t before, unsigned keep,
	    char ***images, size_t *n);
/* The hosts that took the current release of some container site. */
int	 serving_hosts(char ***hosts, size_t *n);
int	 releases_load(int64_t site_id, int64_t limit, struct release_rec **,
	    size_t *);
void	 release_rec_free(struct release_rec *);
/* One host's part in a release, as deploy --follow reads it. */
struct deploy_rec {
	int64_t		 id;
	char		 host[HOST_NAME_MAX_TUG + 1];
	char		 state[16];		/* running|done|failed|skipped */
	int64_t		 started_at;
	int64_t		 finished_at;
	char		 error[1024];
};
int	 deployments_load(int64_t release_id, struct deploy_rec **, size_t *);
int	 release_newest(int64_t site_id, struct release_rec *);	/* 1, 0, -1 */
int64_t	 deployment_start(int64_t release_id, const char *host);
int	 deployment_finish(int64_t id, const char *state, int64_t port,
	    const char *error);
/* Per-site leases: 1 taken, 0 held by someone else (who, since), -1. */
int	 lock_take(const char *name, const char *holder, int64_t ttl_s,
	    char *who, size_t whosz, int64_t *since);
int	 lock_drop(const char *name, const char *holder);
int	 locks_clear(void);
int	 releases_interrupted(void);	/* at start-up: how many, -1 */

/* secret.c: AES-256-GCM with a key file of mode 0600; ad binds the row. */
int	 secret_seal(const char *ad, const void *, size_t, struct buf *out);
int	 secret_open(const char *ad, const void *, size_t, struct buf *out);

/* db-env.c: a site's env values; secrets sealed. */
struct env_rec {
	char		key[ENV_KEY_MAX + 1];
	struct buf	value;		/* plain, or sealed when secret */
	int		secret;
};
int	 env_load(int64_t site_id, struct env_rec **, size_t *);
void	 env_recs_free(struct env_rec *, size_t);
int	 env_put(int64_t site_id, const char *key, const void *, size_t,
	    int secret);
int	 env_del(int64_t site_id, const char *key);	/* rows removed */

/* rbac.c: the one place that decides. */
extern const char *const rbac_actions[];	/* NULL-terminated */
const char *check_user_name(const char *);
const char *check_action(const char *);
const char *check_scope(const char *);
int	 action_implies(const char *held, const char *wanted);
int	 site_group(const char *site, char *group, size_t);	/* 1, 0, -1 */
int	 rbac_allowed(const char *user, const char *action, const char *scope);
/* Does a grant (or login) on scope g cover scope s (a site's: in sgroup)? */
int	 scope_covers(const char *g, const char *s, const char *sgroup);
int	 rbac_allowed_spec(const char *user, const char *action,
	    const char *site, const char *group);
int	 rbac_allowed_somewhere(const char *user, const char *action);

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
	int		 expected;	/* pinned is --hostkey of a first add */
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

/*
 * System mode: run the agent's system-setup (or system-undo) of kind (nginx
 * or caddy; admin: Caddy's socket, else NULL) through sudo -n for h's SSH
 * user; its output, with the JSON answer, in out, or -1 with sc->err.
 */
int	 bootstrap_system(struct sshc *, const struct host_rec *h,
	    const char *kind, const char *binary, const char *config,
	    const char *admin, int install_deps, int undo, struct buf *out,
	    void (*progress)(void *, const char *, const char *), void *arg);

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
/* Frame bytes received for it, as they came off the channel. */
uint64_t hreq_wire_bytes(struct hreq *);
/* Write a byte to fd (non-blocking) once it ends; at once if it has. */
void	 hreq_notify(struct hreq *, int fd);
/* CANCEL it on the agent (its RESULT still follows), or never send it. */
void	 hreq_cancel(struct hreq *);
/*
 * Bulk input for a started request: queued as DATA frames (seq from 0) once
 * its REQUEST went out; waits while more than a few MiB wait for the host.
 * -1 when the request ended (failed) or the host is gone.
 */
int	 hreq_data(struct hreq *, const void *, size_t, int eof,
	    uint64_t deadline);
int	 hreq_done(struct hreq *);
/* Wait until it ends or deadline (clock_ms); the final frame in *m. */
int	 hreq_wait(struct hreq *, uint64_t deadline, struct msg *m, char *err);
void	 hreq_free(struct hreq *);
/* A snapshot of what is known of a host. */
struct host_info {
	enum host_state	 state;
	char		 error[512];
	struct json_t	*facts;		/* the agent's HELLO facts (a reference,
					   jansson's json_t), or NULL */
	uint64_t	 connected_ms;
};
void	 host_info(struct host *, struct host_info *);
void	 host_info_free(struct host_info *);
void	 host_kick(struct host *);	/* connect now, skip backoff */

/* The same op on many hosts at once; the agents' progress goes to c. */
struct fan_result {
	char		 host[HOST_NAME_MAX_TUG + 1];
	int		 ok;		/* a RESULT with ok:true */
	struct msg	 m;		/* the final frame, if any */
	char		 err[512];	/* why not ok */
	uint64_t	 ms;
	uint64_t	 rtt_ms;	/* sent to answered, on the agent's link */
};
void	 fleet_run(struct req *, char **hosts, size_t n, const char *op,
	    hreq_args_fn, void *aarg, uint64_t timeout_ms,
	    struct fan_result *out);
/* The same, with the file at path streamed to every host as DATA. */
void	 fleet_run_file(struct req *, char **hosts, size_t n,
	    const char *op, hreq_args_fn, void *aarg, const char *path,
	    uint64_t timeout_ms, struct fan_result *out);
void	 fan_results_free(struct fan_result *, size_t n);
/* The failed hosts' errors, one a line, for a failure message. */
void	 fan_errors(const struct fan_result *, size_t n, struct buf *out);
int	 fan_not_found(const struct fan_result *);	/* E_NOT_FOUND */

/* local-docker.c: the controller's own Docker engine (for image push). */
/* The image id of ref, 1 found, 0 no such image, -1 error. */
int	 local_image_id(const char *ref, char *id, size_t idsz, char *err,
	    size_t errsz);
/* Stream `docker save ref` to fn; 0 or -1 with err. */
int	 local_image_save(const char *ref, int (*fn)(void *, const void *,
	    size_t), void *arg, char *err, size_t errsz);

/* client.c: the unix-socket transport; serves fd in a thread of its own. */
void	 client_start(int fd);

/* ops.c: the op table; authorises, runs and audits each request. */
#define OPS_RUNNING_MAX		128	/* requests running at once */
#define OPS_USER_MAX		16	/* ... of them for one user */
void	 ops_run(struct req *, struct mv *body, int may_act_as);
void	 ops_list(FILE *);		/* tugd --list-ops */
void	 ops_limits(void);		/* from the environment, or fatal */

/* spec.c: site specs in YAML (libyaml), parsed and validated whole. */
#define SPEC_MAX_BYTES	(256 * 1024)
#define PROBE_LABEL	"tug-probe"	/* reserved: the switch confirmation's */
enum site_kind { KIND_CONTAINER, KIND_STATIC };
struct kv {
	char	*key;
	char	*val;
};
struct site_spec {
	char		 site[SITE_NAME_MAX + 1];
	enum site_kind	 kind;
	char		 image[IMAGE_REF_MAX + 1];	/* container sites */
	char		 root[PATH_MAX_TUG];	/* static sites: a dir on the controller */
	char		**hosts;
	size_t		 nhosts;
	char		 group[GROUP_NAME_MAX + 1];	/* or hosts */
	char		**domains;
	size_t		 ndomains;
	unsigned	 port;			/* container port behind the proxy */
	struct kv	*env;
	size_t		 nenv;
	char		**secrets;		/* names of env values tugd holds */
	size_t		 nsecrets;
	char		**volumes;
	size_t		 nvolumes;
	double		 cpus;			/* 0: no limit */
	uint64_t	 memory;		/* bytes, 0: no limit */
	uint64_t	 pids;			/* processes, 0: no limit */
	char		 health_path[256];
	char		**health_cmd;
	size_t		 nhealth_cmd;
	uint64_t	 health_interval_ms;
	uint64_t	 health_timeout_ms;
	uint64_t	 health_retries;
	uint64_t	 health_start_ms;
	unsigned	 batch;			/* hosts at a time, >= 1 */
	unsigned	 max_failures;
	uint64_t	 drain_ms;
	unsigned	 keep;			/* releases kept for rollback */
	char		 tls_cert[PATH_MAX_TUG];	/* on the hosts */
	char		 tls_key[PATH_MAX_TUG];
	char		 tls_mode[8];		/* "", auto, off, files */
	int		 hsts;
	/* Not in the spec: the controller's ACME settings, by site_open. */
	char		 acme_ca[512];
	char		 acme_email[256];
	char		*acme_root;		/* PEM, or NULL; owned */
	uint64_t	 max_body;		/* client_max_body_size, 0: default */
	char		 restart[16];
	int		 read_only;
	int		 heal;		/* redeploy a serving release that drifted */
	char		 user[65];
	char		**cap_drop;
	size_t		 ncap_drop;
	uint64_t	 stop_timeout_s;
};
/* 0, or -1 with "FILE:LINE:COL: what" in err. */
int	 spec_parse(const char *file, const char *text, size_t len,
	    struct site_spec *, char *err, size_t errsz);
void	 spec_free(struct site_spec *);
/* A spec as comparable lines, "key: value" (env masked); has_line: is
 * line (len bytes, not cut at its end) one of text's lines. */
void	 spec_lines(const struct site_spec *, struct buf *, int masked,
	    const struct site_spec *prev);
int	 has_line(const char *text, const char *line, size_t len);
/* The args of the agent's site.apply for one release, with env final. */
void	 spec_apply_args(const struct site_spec *, uint64_t release,
	    const char *image, const struct kv *env, size_t nenv,
	    char **legacy, size_t nlegacy, struct enc *);
int	 strv_has(char **, size_t, const char *);	/* is it among them */
void	 enc_strv(struct enc *, const char *key, char **, size_t);
void	 spec_volume_name(const struct site_spec *, const char *name,
	    char **legacy, size_t nlegacy, char *dst, size_t);
void	 spec_proxy_args(const struct site_spec *, struct enc *);
void	 spec_health_args(const struct site_spec *, struct enc *);

/* site.c: a site as ops and rollouts see it; -1: answered the request. */
int	 site_open(struct req *, struct mv *args, struct site_rec *,
	    struct site_spec *);
void	 site_cert_copy(struct enc *, struct mv *agent_result);
int	 site_targets(struct req *, const struct site_spec *, char ***,
	    size_t *);
int	 site_hosts(const struct site_spec *, char ***, size_t *);	/* 0, -1 */
/* Does a domain of the spec clash with another site's? 1 (msg), 0, -1. */
int	 site_domain_clash(const struct site_spec *, char *msg, size_t);
/* Take the site's lease for this request (holder in who), or answer. */
int	 site_lease(struct req *, const char *site, char *who, size_t);
/* The env a release runs with: the spec's, then tug env set's. */
int	 site_env(struct req *, int64_t site_id, const struct site_spec *,
	    struct kv **, size_t *);
void	 site_env_ad(char *, size_t, const char *site, const char *key);
void	 kv_free(struct kv *, size_t);

/* rollout.c: the one engine that moves a site, under its lease. */
struct rollout_plan {
	const struct site_spec	*spec;		/* the release's */
	const char		*spec_text;
	const char		*image;		/* NULL: the spec's; static:
						   its root, packed now */
	int64_t			 rollback_of;	/* 0: a new release */
	int			 set_image;	/* once serving: the site's image */
	const char		*step;		/* progress once leased */
	const char		*note;
	const char		*heal_host;	/* the serving release again,
						   on this host only */
};
void	 rollout_release(struct req *, struct site_rec *,
	    const struct rollout_plan *);
/* What a release of image and spec text changes from release from. */
void	 release_changes(const struct release_rec *from, const char *image,
	    const char *spec_text, const char *file, struct buf *out);
void	 tugd_fault(const char *point);	/* tests: TUG_FAULT=tugd:POINT */
/* Agent ops on every host of a site under its lease; remove: forget it. */
void	 rollout_hosts(struct req *, struct mv *args, const char *const *ops,
	    int remove);

/* cmd-env.c */
void	 env_audit_args(struct mv *args, struct buf *out);

/*
 * cmd-*.c: the server side of each op. Each declares the action it needs
 * and where tugd finds the scope(s) to ask rbac_allowed() about; every
 * scope found must be allowed.
 */
enum sop_scope {
	SC_NONE,	/* nothing to authorise (action NULL: init, status) */
	SC_GLOBAL,	/* global */
	SC_ANY,		/* the action on some scope; the op shows only what
			   the user may (lists) */
	SC_SELF,	/* args.name: the caller needs nothing, others global */
	SC_SITE,	/* site:args.site */
	SC_SPEC,	/* site: named inside args.text (a spec), judged as
			   stored and as the spec would make it */
	SC_HOST,	/* host:args.name */
	SC_HOSTS,	/* host: each of args.hosts, else group:args.group,
			   else global */
	SC_PUSH,	/* site:args.site, else host: each of args.hosts */
};
struct sop {
	const char	*name;
	const char	*action;	/* what rbac_allowed() is asked */
	enum sop_scope	 scope;		/* ... about which scope */
	void		(*fn)(struct req *, struct mv *args);
	/* What the audit log records of the args (default: all of them). */
	void		(*audit)(struct mv *args, struct buf *out);
};
void	 cmd_init(struct req *, struct mv *);
void	 cmd_status(struct req *, struct mv *);
void	 cmd_host_add(struct req *, struct mv *);
void	 cmd_host_list(struct req *, struct mv *);
void	 cmd_host_rm(struct req *, struct mv *);
void	 cmd_host_check(struct req *, struct mv *);
void	 cmd_host_bootstrap(struct req *, struct mv *);
void	 cmd_key_show(struct req *, struct mv *);
void	 cmd_site_apply(struct req *, struct mv *);
void	 cmd_site_list(struct req *, struct mv *);
void	 cmd_site_status(struct req *, struct mv *);
void	 cmd_site_rm(struct req *, struct mv *);
void	 cmd_deploy(struct req *, struct mv *);
void	 cmd_rollback(struct req *, struct mv *);
void	 cmd_releases(struct req *, struct mv *);
void	 cmd_deploy_follow(struct req *, struct mv *);
void	 cmd_site_start(struct req *, struct mv *);
void	 cmd_site_stop(struct req *, struct mv *);
void	 cmd_site_restart(struct req *, struct mv *);
void	 cmd_env_set(struct req *, struct mv *);
void	 cmd_env_unset(struct req *, struct mv *);
void	 cmd_env_list(struct req *, struct mv *);
void	 cmd_image_push(struct req *, struct mv *);
void	 cmd_logs(struct req *, struct mv *);
void	 cmd_registry_login(struct req *, struct mv *);
void	 cmd_registry_logout(struct req *, struct mv *);
void	 cmd_registry_list(struct req *, struct mv *);
void	 cmd_acme_set(struct req *, struct mv *);
void	 cmd_acme_show(struct req *, struct mv *);
void	 cmd_cert_list(struct req *, struct mv *);
void	 cmd_cert_renew(struct req *, struct mv *);
void	 cmd_user_add(struct req *, struct mv *);
void	 cmd_user_list(struct req *, struct mv *);
void	 cmd_user_show(struct req *, struct mv *);
void	 cmd_user_rm(struct req *, struct mv *);
void	 cmd_user_key_add(struct req *, struct mv *);
void	 cmd_user_key_rm(struct req *, struct mv *);
void	 cmd_grant(struct req *, struct mv *);
void	 cmd_revoke(struct req *, struct mv *);
void	 cmd_audit_list(struct req *, struct mv *);
void	 cmd_audit_verify(struct req *, struct mv *);

/* static.c: a static site's tree packed into one .tar.gz. */
struct static_pack_stats {
	uint64_t	files;		/* files and directories */
	uint64_t	bytes;		/* file contents */
	uint64_t	packed;		/* archive bytes */
};
int	 static_pack(const char *root, const char *out, char hash[65],
	    struct static_pack_stats *, char *err, size_t errsz);

/* rollout-static.c: static sites' archives and their rollout. */
void	 static_archive(const char *site, int64_t tree, char *, size_t);
int	 static_prepare(struct req *, const struct site_rec *,
	    const struct site_spec *, char *image, size_t);	/* -1: answered */
int64_t	 static_tree(int64_t site_id, int64_t number);
void	 static_batch(struct req *, const struct site_spec *, int64_t tree,
	    int reuse, char **hosts, size_t n, uint64_t timeout_ms,
	    struct fan_result *);
void	 static_prune(const char *site, unsigned keep, int64_t serving);
void	 static_forget(const char *site);

/* registry.c: logins held by tugd, sent only inside a pull. */
#define REGISTRY_SERVER_MAX	259	/* host (253) ':' port (5) */
const char *check_registry_server(const char *);
int	 registry_of(const char *ref, char *server, size_t);
int	 registry_auth(const char *server, const char *site,
	    const char *group, char *user, size_t, struct buf *password,
	    char *scope, size_t);	/* 1 found, 0 none, 2 not for it, -1 */
void	 registry_audit_args(struct mv *args, struct buf *out);
void	 registry_ad(char *, size_t, const char *server);

#endif
