/*
 * agent.h: the private header of tug-agent, grouped by file as in tmux.h.
 * The agent speaks frames on stdin/stdout, runs each request as a job on
 * its own thread, and drives the local Docker engine through its socket.
 */
#ifndef TUG_AGENT_H
#define TUG_AGENT_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/validate.h"
#include "proto/proto.h"

/*
 * Job slots: streams (logs) can never take the ones of control ops (ping,
 * deploys, stops), and one site's streams cannot take every stream slot.
 */
#define AGENT_CONTROL_MAX	16	/* control ops at once */
#define AGENT_STREAMS_MAX	12	/* log streams at once */
#define AGENT_STREAMS_SITE_MAX	4	/* log streams of one site */
#define AGENT_DATAQ_MAX		2	/* DATA frames queued per job */
#define AGENT_BIND_ROOTS_MAX	8
#define CONTROLLER_ID_LEN	32	/* lowercase hex digits */

struct job;
struct journal;

/* One entry of the op table: agent.c dispatches on name. */
struct op {
	const char	*name;
	int		 flags;
#define OP_DATA		0x1		/* takes DATA frames */
#define OP_STREAM	0x2		/* a stream: a slot of its own kind */
	/* Parse and validate args on the reader thread; -1 refuses (ERROR). */
	int		(*check)(struct job *);
	/* Do the work on the job's thread; ends with job_ok() or job_fail(). */
	void		(*run)(struct job *);
	void		(*free)(struct job *);	/* release what check() made */
};

struct dataq {
	struct msg	 items[AGENT_DATAQ_MAX];
	int		 head;
	int		 count;
	int		 eof;		/* the eof DATA is in the queue */
};

struct job {
	uint64_t		 id;
	const struct op		*op;
	char			 site[SITE_NAME_MAX + 1];	/* of a stream */
	struct msg		 req;
	struct mv		 args;
	char			 err[MSG_ERRLEN];
	void			*priv;		/* op state from check() */
	volatile int		 cancelled;
	int			 done;		/* result sent */
	struct dataq		 q;
	uint64_t		 data_seq;	/* next DATA seq expected */
	int			 eof_seen;	/* a DATA with eof arrived */
	int			 readers;	/* reader waiting on the queue */
	pthread_t		 thread;
	struct job		*next;
};

struct agent {
	struct conn		 conn;
	pthread_mutex_t		 wlock;		/* one writer at a time */
	pthread_mutex_t		 lock;		/* jobs, queues */
	pthread_cond_t		 cond;
	struct job		*jobs;
	int			 njobs;
	int			 nstreams;	/* of njobs, OP_STREAM ones */
	uint64_t		 finished[32];	/* recently ended ids */
	int			 nfinished;
	int			 dead;		/* output broken */
	char			 state_dir[PATH_MAX_TUG];
	char			 docker_sock[PATH_MAX_TUG];
	char			 bind_roots[AGENT_BIND_ROOTS_MAX][PATH_MAX_TUG];
	int			 nbind_roots;
	/* The controller this state dir belongs to, set by HELLO. */
	char			 controller[CONTROLLER_ID_LEN + 1];
};

extern struct agent	 agent;

/* agent.c */
int	 agent_send(struct enc *, int deflate);
int	 job_failed(struct job *, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 job_fail(struct job *, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 job_result_begin(struct job *, struct enc *);
void	 job_ok(struct job *, struct enc *);
void	 job_progress(struct job *, const char *step, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Next DATA frame for this job: 1 got one (release it), 0 eof, -1 cancelled. */
int	 job_data(struct job *, struct msg *);
/* Sleep up to ms, waking early on cancel; -1 if cancelled. */
int	 job_sleep(struct job *, uint64_t ms);
struct journal;
/* What still serves after release failed did not: for its error. */
void	 keeps_serving(const struct journal *, uint64_t failed, char *dst,
	    size_t dstsz);
int	 job_check_name(struct job *, const char *key, char *dst, size_t dstsz);
int	 job_bad(struct job *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* agent-facts.c */
void	 facts_encode(struct enc *);
extern const struct op op_ping, op_facts;

/* agent-image.c */
#define PULL_USER_MAX		256
#define PULL_PASSWORD_MAX	4096
#define PULL_SERVER_MAX		255

/*
 * What a pull needs besides the reference: registry credentials (auth set)
 * or none. The password is a secret: pull_args_check() wipes it from the
 * request, image_pull() and pull_args_wipe() from here.
 */
struct pull_args {
	int		 auth;
	char		 username[PULL_USER_MAX + 1];
	char		 password[PULL_PASSWORD_MAX + 1];
	char		 server[PULL_SERVER_MAX + 1];	/* serveraddress sent */
};

/* What a pull brought. */
struct pull_result {
	char		 ref[IMAGE_REF_MAX + 16];	/* as pulled, tag added */
	char		 id[80];
	char		 digest[80];			/* "" if not reported */
	uint64_t	 layers;
	uint64_t	 bytes;				/* downloaded */
};

/*
 * Parse m's optional "auth" map for pulling ref (checked already); -1 with
 * j->err. Wipes the password in the request at once, whatever fails.
 */
int	 pull_args_check(struct job *, struct mv *m, const char *ref,
	    struct pull_args *);
/* Wipe a (may be NULL) and the password in the request: args[.key].auth. */
void	 pull_args_wipe(struct pull_args *, const struct mv *args,
	    const char *key);
/*
 * Pull ref with progress EVENTs (step "pull"), then wipe the password.
 * 0 and res, or -1 with an error code and a message in why (MSG_ERRLEN * 2).
 */
int	 image_pull(struct job *, const char *ref, struct pull_args *,
	    struct pull_result *res, const char **code, char *why);
extern const struct op op_image_load, op_image_list, op_image_inspect,
	    op_image_remove, op_image_pull;

/* image-keep.c: deploy.keep for images (see there). */
void	 image_brought(const char *id, const char *ref);
size_t	 image_keep(struct job *, const char *site, char **refs, size_t n,
	    struct enc *pruned);

/* watch.c */
extern const struct op op_watch;

/* agent-site.c */
extern const struct op op_site_apply, op_site_status, op_site_stop,
	    op_site_start, op_site_remove;

/* agent-static.c */
extern const struct op op_static_apply;
/* Release numbers of a static site's trees on disk, sorted; caller frees. */
int	 static_releases(const char *site, uint64_t **rels, size_t *n);
/* Delete <state>/static/<site>; the releases removed go to rels. */
int	 static_remove(const char *site, uint64_t **rels, size_t *n);

/* agent-logs.c */
extern const struct op op_logs;

/* network.c */
#define NET_POOL_DEFAULT	"10.213.0.0/16"
#define NET_POOL_MAX		18	/* "255.255.255.255/24" */
#define NET_POOL_BITS_MIN	8
#define NET_POOL_BITS_MAX	24
#define NET_SUBNET_BITS		27	/* each site's network: 32 addresses */
/* NULL and the pool in canonical form, or why "A.B.C.D/N" is refused. */
const char *net_pool_check(const char *, char *canon, size_t canonsz);
/*
 * The site's network tug-<site>, made now when it is not there, with a
 * subnet from pool ("": the default). 0 and its name and subnet, or -1
 * answered (not_owner when a network of that name is not the site's).
 */
int	 net_ensure(struct job *, const char *site, const char *pool,
	    char *name, size_t namesz, char *subnet, size_t subsz);
/* Remove the site's own network if it is there: 0 (removed set), -1 err. */
int	 net_remove(const char *site, int *removed, char *err);

/* volume.c */
#define VOLUMES_MAX		32	/* mounts; legacy volume names */
struct vol_list {
	char		 names[VOLUMES_MAX][VOLUME_NAME_MAX + 1];
	size_t		 n;
};
/* Read the array args[key] of volume names into l; -1 with j->err. */
int	 vol_legacy_check(struct job *, struct vol_list *l, const char *key);
int	 vol_listed(const struct vol_list *, const char *name);
/*
 * May site mount the named volume name? NULL: it is tug-<site>_NAME or
 * listed in legacy; else why not (written into why).
 */
const char *vol_check_name(const char *site, const char *name,
	    const struct vol_list *legacy, char *why, size_t whysz);
/*
 * Before a container mounts it: tug-<site>_NAME is made with the site's
 * labels, or must carry them; a legacy one must exist and be used by none
 * but the site's containers. 0, or -1 answered (not_owner, not_found,
 * docker).
 */
int	 vol_ensure(struct job *, const char *site, const char *name,
	    const struct vol_list *legacy);
/*
 * site.remove with volumes: every volume labelled with the site and this
 * controller, and each legacy one that passes vol_ensure's check; their
 * names go into e's open array. 0, or -1 with an error code and err.
 */
int	 vol_remove_site(const char *site, const struct vol_list *legacy,
	    struct enc *e, const char **code, char *err);

/* proc.c */
struct proc {
	char *const	*argv;		/* argv[0]: an absolute path */
	char *const	*envp;		/* NULL: a PATH only */
	int		 stdout_too;	/* keep stdout with stderr, else drop it */
	size_t		 max_out;	/* bytes of output kept */
	uint64_t	 timeout_ms;	/* then SIGKILL */
	volatile int	*cancel;	/* NULL, or SIGKILL once set */
	long		*childp;	/* NULL, or the child's pid */
	int		 umask;		/* the child's; 0 keeps the agent's */
};
/*
 * Run p (fork+execve, never a shell; stdin /dev/null) and keep its output
 * in out. Its exit status, or -1 with err when it could not run, was killed
 * or ran too long. A daemonising program is done when our child exits.
 */
int	 proc_run(const struct proc *p, struct buf *out, char *err,
	    size_t errsz);

/* system.c: `tug-agent system-setup|system-undo`, as root. */
int	 system_main(int argc, char **argv);

/* agent-proxy.c */
#define PROXY_DOMAINS_MAX	32
#define PROXY_ERRLEN		512
#define PROXY_MAX_BODY_DEFAULT	(100ULL << 20)
#define ACME_URL_MAX		512

#define TRAEFIK_NAME_MAX	63	/* an entrypoint or cert resolver name */
#define TRAEFIK_EPS_MAX		8	/* entrypoints of one router */

/* kind traefik (proxy-traefik.c): how Traefik is told of the sites. */
struct traefik_conf {
	char		 provider[8];		/* "file" or "docker" */
	char		 dir[PATH_MAX_TUG];	/* file: the dir Traefik watches */
	char		 eps[TRAEFIK_EPS_MAX][TRAEFIK_NAME_MAX + 1];
	size_t		 neps;
	char		 tls_eps[TRAEFIK_EPS_MAX][TRAEFIK_NAME_MAX + 1];
	size_t		 ntls_eps;
	char		 resolver[TRAEFIK_NAME_MAX + 1];	/* "": no TLS */
};

/* <state>/proxy.json: the proxy this host runs, written by proxy.setup. */
struct proxy_conf {
	char		 kind[16];
	uint64_t	 listen;
	uint64_t	 tls_listen;		/* 0: no TLS port */
	char		 address[16];		/* IPv4, canonical form */
	char		 binary[PATH_MAX_TUG];	/* the proxy's executable */
	char		 subnet_pool[NET_POOL_MAX + 1];	/* "": the default */
	/*
	 * System mode (DESIGN §6): the host's own proxy, on 80 and 443, made
	 * ready once by `tug-agent system-setup` as root. In agent mode mode
	 * is "agent" and the rest is empty.
	 */
	char		 mode[8];		/* "agent" or "system" */
	char		 config[PATH_MAX_TUG];	/* the host's nginx.conf */
	char		 dir[PATH_MAX_TUG];	/* our include dir in it */
	char		 pid_file[PATH_MAX_TUG];	/* the host's master */
	int		 ipv6;			/* listen on [::] too */
	struct traefik_conf traefik;		/* kind traefik only */
};

#define PROXY_SYSTEM(pc)	(strcmp((pc)->mode, "system") == 0)

/*
 * What one site asks of the proxy (the "proxy" args of site.apply and
 * static.apply): an upstream port, or for a static site a directory.
 */
struct proxy_site {
	char		 site[SITE_NAME_MAX + 1];
	uint64_t	 release;
	uint64_t	 port;			/* upstream on 127.0.0.1 */
	/* A static site: the tree to serve, relative to the state dir. */
	char		 root[64];		/* "static/<site>/<release>" */
	char		 index[256];		/* a plain file name */
	int		 any_status;		/* no index: any status confirms */
	char		 path[256];		/* asked to confirm a switch */
	char		 domains[PROXY_DOMAINS_MAX][DOMAIN_MAX + 1];
	size_t		 ndomains;
	char		 tls_cert[PATH_MAX_TUG];
	char		 tls_key[PATH_MAX_TUG];
	uint64_t	 max_body;		/* bytes, 0: no limit */
	/* Stopped: the proxy answers 503 itself; no upstream, no port. */
	int		 stopped;
	/*
	 * tls "auto": a certificate from the ACME CA below, on a proxy with
	 * a TLS port in system mode (else the site is plain HTTP); HTTP then
	 * redirects to HTTPS, and hsts adds Strict-Transport-Security.
	 */
	int		 tls_auto;
	int		 hsts;
	char		 acme_ca[ACME_URL_MAX];
	char		 acme_email[256];
	char		 acme_root[PATH_MAX_TUG];	/* "": the system's */
};

/* A certificate as acme_cert_info reads it. */
struct cert_info {
	char		 issuer[256];		/* its common name */
	char		 serial[80];		/* hex */
	int64_t		 not_before;		/* epoch seconds */
	int64_t		 not_after;
	char		 names[PROXY_DOMAINS_MAX][DOMAIN_MAX + 1];
	size_t		 nnames;
};

/* How a switch went, for events and results. */
struct proxy_timing {
	int		 changed;	/* config rewritten and reloaded */
	uint64_t	 test_ms;
	uint64_t	 reload_ms;
	uint64_t	 confirm_ms;
	/* No proxy the agent can ask (traefik): nothing was confirmed. */
	int		 unconfirmed;
};

/* What a backend reports about its proxy. */
struct proxy_state {
	int		 running;
	long		 pid;
	int		 started;		/* by this setup */
	int		 reloaded;		/* by this setup */
	char		 version[64];
	char		 prefix[PATH_MAX_TUG + 16];
};

/*
 * One backend per proxy kind (DESIGN §6 "Proxy backends"). The callers
 * hold the proxy lock for setup and the site_* functions, which return 0 or
 * -1 with a message in err (PROXY_ERRLEN bytes) that quotes the proxy's
 * own words when it has any.
 */
struct proxy_backend {
	const char	*kind;
	/* Lay out, configure and start or reload; fills conf->binary. */
	int		(*setup)(struct proxy_conf *, struct proxy_state *,
			    char *err);
	void		(*status)(const struct proxy_conf *,
			    struct proxy_state *);
	/* Site names with a config, sorted; caller frees each and the array. */
	int		(*sites)(const struct proxy_conf *, char ***names,
			    size_t *n);
	/* Point the site at its new upstream and confirm; undone on error. */
	int		(*site_switch)(const struct proxy_conf *,
			    const struct proxy_site *, struct proxy_timing *,
			    char *err);
	/* Drop the site's config; *done says whether there was one. */
	int		(*site_remove)(const struct proxy_conf *,
			    const char *site, int *done, char *err);
	/* Undo a switch that a killed agent left half-done. */
	int		(*site_restore)(const struct proxy_conf *,
			    const char *site, int *done, char *err);
	/*
	 * Optional (NULL: none), for a backend with settings of its own:
	 * read and check them from proxy.setup's args (on the reader thread;
	 * -1 answered), keep them in proxy.json (load: -1 when damaged), and
	 * say why it cannot serve a site (static, TLS files) before anything
	 * is made for it (NULL: it can).
	 */
	int		(*args)(struct job *, struct proxy_conf *);
	int		(*load)(json_t *, struct proxy_conf *);
	void		(*save)(const struct proxy_conf *, json_t *);
	const char	*(*refuse)(const struct proxy_conf *,
			    const struct proxy_site *);
	/*
	 * A new certificate for a serving tls-auto site, put in place and
	 * confirmed; NULL where the backend gets none itself.
	 */
	int		(*site_cert)(const struct proxy_conf *,
			    const struct proxy_site *, char *err);
	/*
	 * The proxy renews its certificates itself (Caddy): tugd's scheduled
	 * cert.renew (days > 0) leaves it alone; only a forced one asks.
	 */
	int		 renews_itself;
};

struct cert_renew {
	char		 site[SITE_NAME_MAX + 1];
	uint64_t	 days;		/* renew when fewer are left; 0: now */
	struct proxy_site acme;		/* acme_* from the request's "acme" */
	int		 has_acme;
};
/* One certificate as a map of a result (proxy.status, cert.renew). */
void	 cert_encode(struct enc *, const char *site, const struct cert_info *);

/*
 * Ask the proxy (GET path with Host: host, a new connection each time)
 * until its answer carries header: want with a status that status allows
 * (PROXY_ANY, PROXY_2XX3XX, or exactly that one), for up to ms. 0, or -1
 * with err (PROXY_ERRLEN) describing the last answer. The backends'
 * confirmation of every switch.
 */
#define PROXY_ANY	0
#define PROXY_2XX3XX	1
int	 proxy_confirm(const struct proxy_conf *, const char *host,
	    const char *path, const char *header, const char *want,
	    long status, uint64_t ms, char *err);
/* The same through the TLS port, by name (SNI), the certificate unchecked. */
int	 proxy_confirm_tls(const struct proxy_conf *, const char *host,
	    const char *path, const char *header, const char *want,
	    long status, uint64_t ms, char *err);
/* A Host header the site's first domain matches (*.x: tug-probe.x). */
void	 proxy_probe_host(const struct proxy_site *, char *dst, size_t);
/* Parse and validate site.apply's "proxy" map: 1 present, 0 absent, -1. */
int	 proxy_site_check(struct job *, struct proxy_site *);
/* A confirmation or health path: '/' and URL characters only; 0 or -1. */
int	 proxy_check_path(const char *);
/* A container site's proxy args as the journal keeps them, and back. */
json_t	*proxy_site_json(const struct proxy_site *);
int	 proxy_site_unjson(json_t *, const char *site, struct proxy_site *);
/* Undo the switch of a site.apply or static.apply killed half-way. */
void	 proxy_site_recover(struct job *, const struct proxy_conf *,
	    const struct journal *);
/* Read proxy.json: 1 and conf, 0 no proxy here, -1 err. */
int	 proxy_load(struct proxy_conf *, char *err);
/* The proxy that serving ps needs: 1 and conf, or -1 answered. */
int	 proxy_require(struct job *, const struct proxy_site *,
	    struct proxy_conf *);
/* The "proxy" map of an apply's result. */
void	 proxy_encode(struct enc *, const struct proxy_conf *,
	    const struct proxy_site *, const struct proxy_timing *);
int	 proxy_lock(volatile int *cancel);	/* fd or -1 */
void	 proxy_unlock(int);
const struct proxy_backend *proxy_backend(const char *kind);
/* Switch the proxy to ps under the proxy lock, report it; -1 with why. */
int	 proxy_switch(struct job *, const struct proxy_conf *,
	    const struct proxy_site *, uint64_t release, struct proxy_timing *,
	    char *why, size_t whysz);
extern const struct op op_proxy_setup, op_proxy_status, op_cert_renew;

/* acme.c */
/* Where the site's certificate and key live: ps->tls_cert, ps->tls_key. */
void	 acme_paths(struct proxy_site *ps);
/* proxy.acme of site.apply: 0 (absent or fine), -1 answered. */
int	 acme_check(struct job *, struct mv *proxy, struct proxy_site *ps);
/* 1: ps's certificate names its domains and has more than days left. */
int	 acme_usable(const struct proxy_site *ps, uint64_t renew_days);
/* Issue ps's certificate (lego, HTTP-01 from webroot); 0, or -1 + err. */
int	 acme_issue(const struct proxy_site *ps, const char *webroot,
	    volatile int *cancel, char *err);
int	 acme_cert_info(const char *path, struct cert_info *);	/* 0, -1 */
/* This host's own ACME settings over ps's: 1 used, 0 none, -1 damaged. */
int	 acme_host_override(struct proxy_site *ps);
extern const struct op op_acme_setup;
void	 acme_remove(const char *site);

/* acme-account.c: the host's own ACME account (for the host's Caddy). */
int	 acme_account_key(const char *ca, const char *email, const char *trust,
	    int check, struct buf *pem, char *err, size_t errsz); /* 0, -1 */

/* proxy-nginx.c */
extern const struct proxy_backend proxy_nginx;
/* The line of nginx's output that says what went wrong, escaped. */
void	 nginx_reason(const char *text, char *dst, size_t dstsz);
/*
 * Quit the agent's own nginx (agent mode) gracefully and drop its sites:
 * 1 with what was done in msg (PROXY_ERRLEN), 0 none ran.
 */
int	 nginx_retire_agent(char *msg);

/* proxy-caddy.c */
extern const struct proxy_backend proxy_caddy;

/* proxy-traefik.c */
extern const struct proxy_backend proxy_traefik;
/*
 * The labels that route ps to its container's port cport for a Traefik
 * watching Docker, to add to a new container's: a new object, empty when
 * this host's proxy is not such a Traefik; NULL when ps cannot be routed.
 */
json_t	*traefik_labels(const struct proxy_site *ps, uint64_t cport);

/* docker.c */
struct dcall {
	const char	*method;
	char		 path[1024];	/* after /vX.Y, with the query */
	const char	*body;		/* JSON, or NULL */
	size_t		 bodylen;
	const char	*ctype;		/* default application/json */
	/* One more request header line; a secret (curl's copy is wiped). */
	const char	*header;
	/* Streaming upload: curl read callback. */
	size_t		(*readfn)(char *, size_t, size_t, void *);
	void		*readarg;
	/* Streaming download; else the body is collected in resp (capped). */
	size_t		(*writefn)(char *, size_t, size_t, void *);
	void		*writearg;
	/*
	 * Called after each burst of input has been handed to writefn; returns
	 * -1, or the ms it is still willing to let input gather: the transfer
	 * then sleeps that long before it reads again (fewer, larger reads of a
	 * busy stream) and calls it again.
	 */
	int		(*burstfn)(void *);
	long		 timeout_ms;	/* 0: none (streams) */
	volatile int	*cancel;
	struct buf	 resp;
	long		 status;
	char		 err[MSG_ERRLEN];
};

int	 docker_init(void);
const char *docker_api_version(void);	/* negotiated, e.g. "1.41" */
int	 docker_ping(char *err);
void	 dcall_init(struct dcall *, const char *method, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 dcall_release(struct dcall *);
int	 docker_call(struct dcall *);	/* -1 transport; else see status */
/* A call whose answer must be 2xx JSON: returns it or NULL with err set. */
json_t	*docker_json(struct dcall *);
/* Like docker_json but any 2xx is fine and the body is ignored. */
int	 docker_ok(struct dcall *);
char	*docker_escape(const char *);	/* URL-escape; caller frees */
const char *docker_message(struct dcall *);	/* Docker's error text */

/* owner.c */
int	 owner_check_id(const char *);		/* 0: 32 lowercase hex */
/*
 * Record id as the state dir's controller, or check it against the one
 * recorded; sets agent.controller. -1 with an error code (io,
 * wrong_controller) and a message.
 */
int	 owner_claim(const char *id, const char **code, char *err,
	    size_t errsz);
/* Labels tug.site=site and tug.controller=ours (a new json object). */
json_t	*owner_labels(const char *site);
/* 1: the labels say this site and this controller exactly. */
int	 owner_labels_ours(json_t *labels, const char *site);
/* 1: a container of this site, ours or made before tug.controller. */
int	 owner_container_ours(json_t *labels, const char *site);
/* Whose an object with these labels is, for a refusal. */
void	 owner_describe(json_t *labels, char *dst, size_t dstsz);
/* The site's containers that are ours, any state; NULL with err. */
json_t	*owner_site_containers(struct job *, const char *site, char *err);

/* journal.c */
struct journal {
	char		site[SITE_NAME_MAX + 1];
	uint64_t	release;	/* being applied */
	uint64_t	current;	/* serving, 0 when none */
	char		step[32];
	char		container[128];
	char		kind[16];	/* "static", or "" for containers */
	uint64_t	updated_ms;
	/*
	 * The proxy args the serving release was switched to (ndomains 0:
	 * none), so that site.stop and site.start can switch it without
	 * them; stopped: site.stop put it on a 503 answer.
	 */
	struct proxy_site proxy;
	int		stopped;
};
int	 journal_read(const char *site, struct journal *);	/* 1, 0 none, -1 */
int	 journal_write(const struct journal *);
int	 journal_remove(const char *site);
int	 journal_lock(const char *site, volatile int *cancel); /* fd or -1 */
/* Lock and read a site's journal (fresh if none); fd, or -1 answered. */
int	 journal_begin(struct job *, const char *site, const char *kind,
	    struct journal *);
void	 journal_step(struct journal *, const char *step);
void	 agent_fault(const char *site, const char *point);	/* tests */
void	 journal_unlock(int fd);

#endif
