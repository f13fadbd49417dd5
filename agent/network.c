/*
 * network.c: each site's own Docker network, tug-<site>: a user-defined
 * bridge, so Docker keeps the containers of different sites apart. Its
 * subnet comes from a pool of the agent's own (10.213.0.0/16 in /27s by
 * default), because Docker's default pools hold about 30 networks per
 * engine; allocations are serialised by <state>/network.lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define NET_TRIES	64	/* "Pool overlaps" answers before giving up */

struct cidr {
	uint32_t	base;		/* host order */
	int		bits;
};

static uint32_t
cidr_mask(int bits)
{
	return bits == 0 ? 0 : 0xffffffffu << (32 - bits);
}

static int
cidr_overlap(const struct cidr *a, const struct cidr *b)
{
	uint32_t	m = cidr_mask(a->bits < b->bits ? a->bits : b->bits);

	return (a->base & m) == (b->base & m);
}

/* "A.B.C.D/N" with 0 <= N <= 32: 0, or -1 (host bits are allowed here). */
static int
cidr_parse(const char *s, struct cidr *c)
{
	char		 addr[INET_ADDRSTRLEN], *end;
	const char	*slash = strchr(s, '/');
	struct in_addr	 in;
	long		 bits;

	if (slash == NULL || (size_t)(slash - s) >= sizeof addr)
		return -1;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1 || slash[1] < '0' ||
	    slash[1] > '9')
		return -1;
	bits = strtol(slash + 1, &end, 10);
	if (*end != '\0' || bits < 0 || bits > 32 || end - slash > 3)
		return -1;
	c->base = ntohl(in.s_addr);
	c->bits = (int)bits;
	return 0;
}

static void
cidr_format(const struct cidr *c, char *dst, size_t dstsz)
{
	struct in_addr	in;
	char		a[INET_ADDRSTRLEN];

	in.s_addr = htonl(c->base);
	inet_ntop(AF_INET, &in, a, sizeof a);
	snprintf(dst, dstsz, "%s/%d", a, c->bits);
}

const char *
net_pool_check(const char *s, char *canon, size_t canonsz)
{
	struct cidr	c;

	if (cidr_parse(s, &c) == -1)
		return "expected an IPv4 network such as 10.213.0.0/16";
	if (c.bits < NET_POOL_BITS_MIN || c.bits > NET_POOL_BITS_MAX)
		return "the prefix must be from /8 to /24 (the pool is cut "
		    "into /27 subnets)";
	if ((c.base & ~cidr_mask(c.bits)) != 0)
		return "host bits are set: give the network address";
	cidr_format(&c, canon, canonsz);
	return NULL;
}

/* The allocation lock (polled, given up on cancel): fd, or -1. */
static int
net_lock(volatile int *cancel)
{
	char	path[PATH_MAX_TUG + 32];

	snprintf(path, sizeof path, "%s/network.lock", agent.state_dir);
	return fs_lock_wait(path, cancel, 20);
}

/* A list of subnets in use that grows. */
struct used {
	struct cidr	*v;
	size_t		 n, alloc;
};

static void
used_add(struct used *u, const struct cidr *c)
{
	if (u->n == u->alloc) {
		u->alloc = u->alloc ? u->alloc * 2 : 64;
		u->v = xrealloc(u->v, u->alloc * sizeof *u->v);
	}
	u->v[u->n++] = *c;
}

static int
used_has(const struct used *u, const struct cidr *c)
{
	size_t	i;

	for (i = 0; i < u->n; i++)
		if (cidr_overlap(&u->v[i], c))
			return 1;
	return 0;
}

/* Every IPv4 subnet of every network on the engine: 0, or -1 with err. */
static int
used_networks(struct job *j, struct used *u, char *err)
{
	struct dcall	 c;
	json_t		*arr, *it, *cfg, *sub;
	struct cidr	 cd;
	size_t		 i, k;

	dcall_init(&c, "GET", "/networks");
	c.cancel = &j->cancelled;
	if ((arr = docker_json(&c)) == NULL || !json_is_array(arr)) {
		snprintf(err, MSG_ERRLEN, "cannot list networks: %s",
		    arr == NULL ? c.err : "not a list");
		json_decref(arr);
		dcall_release(&c);
		return -1;
	}
	dcall_release(&c);
	json_array_foreach(arr, i, it) {
		cfg = json_object_get(json_object_get(it, "IPAM"), "Config");
		json_array_foreach(cfg, k, sub)
			if (cidr_parse(json_string_value(json_object_get(sub,
			    "Subnet")) ?: "", &cd) == 0)
				used_add(u, &cd);
	}
	json_decref(arr);
	return 0;
}

/* The host's own routes (its LANs): a subnet there would shadow them. */
static void
used_routes(struct used *u)
{
	struct buf	 b = BUF_INIT;
	char		*line, *save = NULL, ifc[32];
	unsigned	 dst, gw, flags, mask;
	struct cidr	 c;

	if (fs_read_file("/proc/net/route", &b, 1 << 20) == -1) {
		buf_release(&b);
		return;
	}
	for (line = strtok_r(b.ptr, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%31s %x %x %x %*s %*s %*s %x", ifc, &dst, &gw,
		    &flags, &mask) != 5 || mask == 0)
			continue;
		c.base = ntohl(dst);
		mask = ntohl(mask);
		for (c.bits = 0; c.bits < 32 && (mask & (1u << (31 - c.bits)));
		    c.bits++)
			;
		used_add(u, &c);
	}
	buf_release(&b);
}

/*
 * GET /networks/<name>: 1 and ours (id set), 0 none, -1 answered with
 * not_owner or docker.
 */
static int
net_inspect(struct job *j, const char *site, const char *name, char *id,
    size_t idsz, char *subnet, size_t subsz)
{
	struct dcall	 c;
	json_t		*r, *labels;
	char		 who[256];

	dcall_init(&c, "GET", "/networks/%s", name);
	c.cancel = &j->cancelled;
	if ((r = docker_json(&c)) == NULL) {
		dcall_release(&c);
		if (c.status == 404)
			return 0;
		return job_failed(j, E_DOCKER, "cannot inspect network '%s': "
		    "%s", name, c.err);
	}
	dcall_release(&c);
	labels = json_object_get(r, "Labels");
	if (!owner_labels_ours(labels, site) ||
	    strcmp(json_string_value(json_object_get(r, "Name")) ?: "",
	    name) != 0) {
		owner_describe(labels, who, sizeof who);
		json_decref(r);
		return job_failed(j, E_NOT_OWNER, "network '%s' exists but is "
		    "not site '%s''s: %s", name, site, who);
	}
	snprintf(id, idsz, "%s", json_string_value(json_object_get(r, "Id"))
	    ?: "");
	snprintf(subnet, subsz, "%s", json_string_value(json_object_get(
	    json_array_get(json_object_get(json_object_get(r, "IPAM"),
	    "Config"), 0), "Subnet")) ?: "");
	json_decref(r);
	return 1;
}

/* POST /networks/create: 1 made, 0 the subnet overlaps, -1 with err. */
static int
net_create(struct job *j, const char *site, const char *name,
    const char *subnet, char *err)
{
	struct dcall	 c;
	json_t		*body;
	char		*text;
	int		 r = 1;

	body = json_pack("{s:s, s:b, s:s, s:o, s:{s:s, s:[{s:s}]}}", "Name",
	    name, "CheckDuplicate", 1, "Driver", "bridge", "Labels",
	    owner_labels(site), "IPAM", "Driver", "default", "Config",
	    "Subnet", subnet);
	if (body == NULL || (text = json_dumps(body, JSON_COMPACT)) == NULL) {
		json_decref(body);
		return snprintf(err, MSG_ERRLEN, "out of memory"), -1;
	}
	json_decref(body);
	dcall_init(&c, "POST", "/networks/create");
	c.body = text;
	c.bodylen = strlen(text);
	c.cancel = &j->cancelled;
	if (docker_ok(&c) == -1) {
		if (c.status != 0 && strstr(c.err, "overlaps") != NULL)
			r = 0;
		else {
			snprintf(err, MSG_ERRLEN, "cannot create network '%s' "
			    "(%s): %s", name, subnet, c.err);
			r = c.status == 409 ? 2 : -1;
		}
	}
	free(text);
	dcall_release(&c);
	return r;
}

int
net_ensure(struct job *j, const char *site, const char *pool_text,
    char *name, size_t namesz, char *subnet, size_t subsz)
{
	struct used	 u = { NULL, 0, 0 };
	struct cidr	 pool, cand;
	char		 id[80], err[MSG_ERRLEN], canon[32];
	uint64_t	 k, count;
	int		 lock = -1, r, tries = 0;

	snprintf(name, namesz, "tug-%s", site);
	if ((r = net_inspect(j, site, name, id, sizeof id, subnet,
	    subsz)) != 0)
		return r == 1 ? 0 : -1;
	if (net_pool_check(pool_text[0] != '\0' ? pool_text :
	    NET_POOL_DEFAULT, canon, sizeof canon) != NULL ||
	    cidr_parse(canon, &pool) == -1)
		return job_failed(j, E_INTERNAL, "bad subnet pool '%s'",
		    pool_text);
	if ((lock = net_lock(&j->cancelled)) == -1)
		return job_failed(j, E_IO, "cannot lock the networks: %s",
		    strerror(errno));
	/* Another job may have made it while this one waited. */
	if ((r = net_inspect(j, site, name, id, sizeof id, subnet,
	    subsz)) != 0) {
		r = r == 1 ? 0 : -1;
		goto out;
	}
	if (used_networks(j, &u, err) == -1) {
		r = job_failed(j, E_DOCKER, "%s", err);
		goto out;
	}
	used_routes(&u);
	count = 1ULL << (NET_SUBNET_BITS - pool.bits);
	for (k = 0; k < count; k++) {
		cand.base = pool.base + (uint32_t)(k << (32 - NET_SUBNET_BITS));
		cand.bits = NET_SUBNET_BITS;
		if (used_has(&u, &cand))
			continue;
		cidr_format(&cand, subnet, subsz);
		if ((r = net_create(j, site, name, subnet, err)) == 1) {
			job_progress(j, "network", "created network %s on %s",
			    name, subnet);
			r = 0;
			goto out;
		}
		if (r == 2) {
			/* Made meanwhile by another agent: is it ours? */
			if ((r = net_inspect(j, site, name, id, sizeof id,
			    subnet, subsz)) == 0)
				r = job_failed(j, E_DOCKER, "%s", err);
			else
				r = r == 1 ? 0 : -1;
			goto out;
		}
		if (r == -1) {
			r = job_failed(j, E_DOCKER, "%s", err);
			goto out;
		}
		/* Taken since the list, by an engine user we cannot see. */
		used_add(&u, &cand);
		if (++tries == NET_TRIES)
			break;
	}
	r = job_failed(j, E_DOCKER, "no free /%d left in the subnet pool %s "
	    "for network '%s' (each is another network's or under a route "
	    "of this host): remove unused networks, or give the host another "
	    "pool (proxy.setup subnet_pool)", NET_SUBNET_BITS, canon, name);
out:
	free(u.v);
	if (lock != -1)
		close(lock);
	return r;
}

int
net_remove(const char *site, int *removed, char *err)
{
	struct dcall	 c;
	json_t		*r;
	char		 name[SITE_NAME_MAX + 8];
	int		 ret = 0;

	*removed = 0;
	snprintf(name, sizeof name, "tug-%s", site);
	dcall_init(&c, "GET", "/networks/%s", name);
	if ((r = docker_json(&c)) == NULL) {
		dcall_release(&c);
		if (c.status == 404)
			return 0;
		return snprintf(err, MSG_ERRLEN, "cannot inspect network "
		    "'%s': %s", name, c.err), -1;
	}
	dcall_release(&c);
	/* Another's network of that name is not this site's to remove. */
	if (!owner_labels_ours(json_object_get(r, "Labels"), site)) {
		json_decref(r);
		return 0;
	}
	dcall_init(&c, "DELETE", "/networks/%s",
	    json_string_value(json_object_get(r, "Id")) ?: name);
	json_decref(r);
	if (docker_call(&c) == -1) {
		snprintf(err, MSG_ERRLEN, "%s", c.err);
		ret = -1;
	} else if (c.status == 204)
		*removed = 1;
	else if (c.status != 404) {
		snprintf(err, MSG_ERRLEN, "cannot remove network '%s': %s",
		    name, docker_message(&c));
		ret = -1;
	}
	dcall_release(&c);
	return ret;
}
