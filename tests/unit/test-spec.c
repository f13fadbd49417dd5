/*
 * test-spec.c: site specs (controller/spec.c). A full spec fills every field,
 * defaults apply, each rule is refused with its exact FILE:LINE:COL and
 * message, hostile values never get through, and the site.apply args decode
 * back to what the agent reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/tug.h"
#include "tests/unit/unit.h"

static char	err[512];

static int
parse(const char *yaml, struct site_spec *s)
{
	return spec_parse("site.yml", yaml, strlen(yaml), s, err, sizeof err);
}

/* After a failed parse the struct is empty and freeing it is harmless. */
static int
spec_empty(const struct site_spec *s)
{
	return s->hosts == NULL && s->domains == NULL && s->env == NULL &&
	    s->secrets == NULL && s->volumes == NULL &&
	    s->health_cmd == NULL && s->cap_drop == NULL && s->nhosts == 0 &&
	    s->nenv == 0 && s->site[0] == '\0';
}

/* The spec is refused with exactly this message. */
static void
bad_at(int line, const char *yaml, const char *want)
{
	struct site_spec	s;
	int			r = parse(yaml, &s);

	if (!unit_check(r == -1 && strcmp(err, want) == 0, __FILE__, line,
	    want))
		printf("#  got: %s\n", r == 0 ? "(accepted)" : err);
	unit_check(spec_empty(&s), __FILE__, line, "struct empty after error");
	spec_free(&s);
}
#define BAD(yaml, want)	bad_at(__LINE__, yaml, want)

static int
good_at(int line, const char *yaml, struct site_spec *s)
{
	int	r = parse(yaml, s);

	if (!unit_check(r == 0, __FILE__, line, "spec accepted"))
		printf("#  got: %s\n", err);
	return r;
}
#define GOOD(yaml, s)	good_at(__LINE__, yaml, s)

/* Four valid lines; tests add lines 5, 6, ... */
#define HEAD	"site: blog\nimage: registry.test/blog:42\nhosts: [web1]\n" \
		"port: 8080\n"
#define DOM	"domains: [blog.test]\n"

static const char full_spec[] =
    "# blog: every key there is\n"					/* 1 */
    "site: blog\n"
    "kind: container\n"
    "image: registry.test/blog:42\n"
    "hosts: [web1, web2]\n"						/* 5 */
    "domains:\n"
    "  - blog.example.test\n"
    "  - \"*.blog.example.test\"\n"
    "port: 8080\n"
    "env:\n"								/* 10 */
    "  RAILS_ENV: production\n"
    "  WORKERS: 4\n"
    "  DEBUG: false\n"
    "  EMPTY: \"\"\n"
    "  RATIO: 0.50\n"							/* 15 */
    "  MOTD: |\n"
    "    two\n"
    "    lines\n"
    "secrets: [DATABASE_URL, API_KEY]\n"
    "volumes: [\"blog-data:/data\", \"/srv/blog/up:/uploads:ro\"]\n"	/* 20 */
    "resources: {cpus: 0.5, memory: 256M}\n"
    "health:\n"
    "  path: /up?full=1\n"
    "  interval: 2s\n"
    "  timeout: 500ms\n"						/* 25 */
    "  retries: 10\n"
    "  start_period: 1m\n"
    "  cmd: [curl, -fsS, \"http://localhost:8080/up\"]\n"
    "deploy: {batch: 2, max_failures: 1, drain: 10s, keep: 5}\n"
    "tls: {cert: /etc/tug/blog/blog.crt, key: /etc/tug/blog/blog.key}\n"		/* 30 */
    "client_max_body_size: 10M\n"
    "restart: always\n"
    "read_only: true\n"
    "user: 1000:1000\n"
    "cap_drop: [NET_RAW, MKNOD]\n"					/* 35 */
    "stop_timeout: 30s\n";

static void
test_full(void)
{
	struct site_spec	s;

	if (GOOD(full_spec, &s) == -1)
		return;
	CHECK(strcmp(s.site, "blog") == 0);
	CHECK(s.kind == KIND_CONTAINER);
	CHECK(strcmp(s.image, "registry.test/blog:42") == 0);
	CHECK(s.root[0] == '\0');
	CHECK(s.nhosts == 2 && strcmp(s.hosts[0], "web1") == 0 &&
	    strcmp(s.hosts[1], "web2") == 0);
	CHECK(s.group[0] == '\0');
	CHECK(s.ndomains == 2 && strcmp(s.domains[0], "blog.example.test") == 0 &&
	    strcmp(s.domains[1], "*.blog.example.test") == 0);
	CHECK(s.port == 8080);
	CHECK(s.nenv == 6);
	CHECK(s.nenv == 6 && strcmp(s.env[0].key, "RAILS_ENV") == 0 &&
	    strcmp(s.env[0].val, "production") == 0);
	CHECK(s.nenv == 6 && strcmp(s.env[1].key, "WORKERS") == 0 &&
	    strcmp(s.env[1].val, "4") == 0);
	CHECK(s.nenv == 6 && strcmp(s.env[2].val, "false") == 0);
	CHECK(s.nenv == 6 && strcmp(s.env[3].key, "EMPTY") == 0 &&
	    strcmp(s.env[3].val, "") == 0);
	CHECK(s.nenv == 6 && strcmp(s.env[4].val, "0.50") == 0);
	CHECK(s.nenv == 6 && strcmp(s.env[5].val, "two\nlines\n") == 0);
	CHECK(s.nsecrets == 2 && strcmp(s.secrets[0], "DATABASE_URL") == 0 &&
	    strcmp(s.secrets[1], "API_KEY") == 0);
	CHECK(s.nvolumes == 2 && strcmp(s.volumes[0], "blog-data:/data") == 0 &&
	    strcmp(s.volumes[1], "/srv/blog/up:/uploads:ro") == 0);
	CHECK(s.cpus == 0.5);
	CHECK(s.memory == 256ULL << 20);
	CHECK(strcmp(s.health_path, "/up?full=1") == 0);
	CHECK(s.health_interval_ms == 2000);
	CHECK(s.health_timeout_ms == 500);
	CHECK(s.health_retries == 10);
	CHECK(s.health_start_ms == 60000);
	CHECK(s.nhealth_cmd == 3 && strcmp(s.health_cmd[0], "curl") == 0 &&
	    strcmp(s.health_cmd[2], "http://localhost:8080/up") == 0);
	CHECK(s.batch == 2 && s.max_failures == 1 && s.drain_ms == 10000 &&
	    s.keep == 5);
	CHECK(strcmp(s.tls_cert, "/etc/tug/blog/blog.crt") == 0 &&
	    strcmp(s.tls_key, "/etc/tug/blog/blog.key") == 0);
	CHECK(s.max_body == 10ULL << 20);
	CHECK(strcmp(s.restart, "always") == 0);
	CHECK(s.read_only == 1);
	CHECK(strcmp(s.user, "1000:1000") == 0);
	CHECK(s.ncap_drop == 2 && strcmp(s.cap_drop[0], "NET_RAW") == 0 &&
	    strcmp(s.cap_drop[1], "MKNOD") == 0);
	CHECK(s.stop_timeout_s == 30);
	spec_free(&s);
	CHECK(spec_empty(&s));
	spec_free(&s);		/* twice is harmless */
}

static void
test_defaults(void)
{
	struct site_spec	s;

	if (GOOD("site: blog\nimage: blog:1\ngroup: web\n"
	    "domains: [blog.test]\nport: 80\n", &s) == -1)
		return;
	CHECK(s.kind == KIND_CONTAINER);
	CHECK(strcmp(s.group, "web") == 0 && s.nhosts == 0 && s.hosts == NULL);
	CHECK(s.nenv == 0 && s.nsecrets == 0 && s.nvolumes == 0);
	CHECK(s.cpus == 0 && s.memory == 0);
	CHECK(strcmp(s.health_path, "/") == 0);
	CHECK(s.health_interval_ms == 1000 && s.health_timeout_ms == 3000);
	CHECK(s.health_retries == 30 && s.health_start_ms == 0);
	CHECK(s.nhealth_cmd == 0);
	CHECK(s.batch == 1 && s.max_failures == 0 && s.drain_ms == 0 &&
	    s.keep == 3);
	CHECK(s.tls_cert[0] == '\0' && s.tls_key[0] == '\0');
	CHECK(s.max_body == 0);
	CHECK(strcmp(s.restart, "unless-stopped") == 0);
	CHECK(s.read_only == 0 && s.user[0] == '\0' && s.ncap_drop == 0);
	CHECK(s.stop_timeout_s == 10);
	spec_free(&s);

	/* Partial sections keep the other defaults. */
	if (GOOD(HEAD DOM "tls: off\n", &s) == -1)
		return;
	CHECK(strcmp(s.tls_mode, "off") == 0 && !s.hsts);
	spec_free(&s);
	if (GOOD(HEAD DOM "tls: {hsts: true}\n", &s) == -1)
		return;
	CHECK(s.tls_mode[0] == '\0' && s.hsts && s.tls_cert[0] == '\0');
	spec_free(&s);
	if (GOOD(HEAD DOM "health: {path: /up}\ndeploy: {drain: 5s}\n"
	    "restart: no\nread_only: false\nclient_max_body_size: 0\n"
	    "tls: {}\n", &s) == -1)
		return;
	CHECK(strcmp(s.health_path, "/up") == 0 && s.health_retries == 30 &&
	    s.health_interval_ms == 1000);
	CHECK(s.drain_ms == 5000 && s.batch == 1 && s.keep == 3);
	CHECK(strcmp(s.restart, "no") == 0);	/* a string, not a boolean */
	CHECK(s.read_only == 0 && s.max_body == 0 && s.tls_cert[0] == '\0');
	spec_free(&s);

	/* Quoting and core tags do not change what a value means. */
	if (GOOD("site: 'blog'\nimage: \"blog:1\"\nhosts: [\"web1\"]\n"
	    "domains: [blog.test]\nport: '8080'\n"
	    "env: {A: !!str 1, B: !!int 2}\nread_only: !!bool true\n", &s) == -1)
		return;
	CHECK(s.port == 8080 && s.read_only == 1);
	CHECK(s.nenv == 2 && strcmp(s.env[0].val, "1") == 0 &&
	    strcmp(s.env[1].val, "2") == 0);
	spec_free(&s);

	/* Sizes: plain bytes, K, M, G, lowercase too. */
	if (GOOD(HEAD DOM "resources: {memory: 6291456, cpus: 2}\n"
	    "client_max_body_size: 1g\n", &s) == -1)
		return;
	CHECK(s.memory == 6291456 && s.cpus == 2.0 &&
	    s.max_body == 1ULL << 30);
	spec_free(&s);
	if (GOOD(HEAD DOM "resources: {memory: 1G, cpus: 0.01}\n"
	    "client_max_body_size: 512k\nstop_timeout: 0s\n", &s) == -1)
		return;
	CHECK(s.memory == 1ULL << 30 && s.cpus == 0.01 &&
	    s.max_body == 512 << 10 && s.stop_timeout_s == 0);
	spec_free(&s);
	if (GOOD(HEAD DOM "stop_timeout: 2m\nresources: {cpus: 1024}\n",
	    &s) == -1)
		return;
	CHECK(s.stop_timeout_s == 120 && s.cpus == 1024);
	spec_free(&s);
	if (GOOD(HEAD DOM "client_max_body_size: 1024G\n"
	    "resources: {memory: 1048576G}\n", &s) == -1)
		return;
	CHECK(s.max_body == 1ULL << 40 && s.memory == 1ULL << 50);
	spec_free(&s);
}

static void
test_static(void)
{
	struct site_spec	s;

	if (GOOD("site: docs\nkind: static\nroot: ./public\ngroup: web\n"
	    "domains: [docs.test]\ndeploy: {keep: 10}\n"
	    "tls: {cert: /etc/tug/docs/docs.crt, key: /etc/tug/docs/docs.key}\n"
	    "client_max_body_size: 1M\n", &s) == -1)
		return;
	CHECK(s.kind == KIND_STATIC);
	CHECK(strcmp(s.root, "./public") == 0);	/* kept as written */
	CHECK(s.image[0] == '\0' && s.port == 0);
	CHECK(strcmp(s.group, "web") == 0 && s.keep == 10);
	CHECK(s.max_body == 1 << 20);
	spec_free(&s);
	/* The kind may come after the keys it decides about. */
	if (GOOD("site: docs\nroot: /srv/docs site\nhosts: [a]\n"
	    "domains: [docs.test]\nkind: static\n", &s) == -1)
		return;
	CHECK(s.kind == KIND_STATIC && strcmp(s.root, "/srv/docs site") == 0);
	spec_free(&s);

	BAD("site: docs\nkind: static\nroot: ./public\ngroup: web\n"
	    "domains: [docs.test]\nport: 80\n",
	    "site.yml:6:1: key 'port' does not apply to static sites");
	BAD("site: docs\nkind: static\nroot: ./public\ngroup: web\n"
	    "domains: [docs.test]\nimage: blog:1\n",
	    "site.yml:6:1: key 'image' does not apply to static sites");
	BAD("site: docs\nkind: static\nroot: ./public\ngroup: web\n"
	    "domains: [docs.test]\nhealth: {path: /}\n",
	    "site.yml:6:1: key 'health' does not apply to static sites");
	BAD("site: docs\nkind: static\ngroup: web\ndomains: [docs.test]\n",
	    "site.yml:1:1: missing key 'root'");
	BAD("site: docs\nkind: static\nroot: \"pub\\nlic\"\ngroup: web\n"
	    "domains: [docs.test]\n",
	    "site.yml:3:7: invalid root 'pub\\nlic': control characters "
	    "(newlines, tabs, ...) are not allowed");
	BAD("site: docs\nkind: static\nroot: ''\ngroup: web\n"
	    "domains: [docs.test]\n",
	    "site.yml:3:7: invalid root '': empty");
	BAD(HEAD DOM "root: ./public\n",
	    "site.yml:6:1: key 'root' applies only to static sites "
	    "(kind: static)");
	BAD(HEAD DOM "kind: Static\n",
	    "site.yml:6:7: invalid kind 'Static': must be container or static");
}

static void
test_required(void)
{
	BAD("image: blog:1\nhosts: [web1]\ndomains: [blog.test]\nport: 80\n",
	    "site.yml:1:1: missing key 'site'");
	BAD("# a comment first\n\n  image: blog:1\n  site: blog\n",
	    "site.yml:3:3: missing key 'hosts' or 'group'");
	BAD("site: blog\nhosts: [web1]\ndomains: [blog.test]\nport: 80\n",
	    "site.yml:1:1: missing key 'image'");
	BAD("site: blog\nimage: blog:1\ndomains: [blog.test]\nport: 80\n",
	    "site.yml:1:1: missing key 'hosts' or 'group'");
	BAD(HEAD, "site.yml:1:1: missing key 'domains'");
	BAD("site: blog\nimage: blog:1\nhosts: [web1]\ndomains: [blog.test]\n",
	    "site.yml:1:1: missing key 'port'");
	BAD(HEAD DOM "group: web\n",
	    "site.yml:6:1: give either 'hosts' or 'group', not both");
	BAD("site: blog\ngroup: web\nhosts: [a]\n",
	    "site.yml:3:1: give either 'hosts' or 'group', not both");
	BAD("", "site.yml:1:1: the spec is empty");
	BAD("# nothing\n", "site.yml:1:1: the spec is empty");
	BAD("- site\n- blog\n",
	    "site.yml:1:1: the spec must be a mapping of keys, not a list");
	BAD("blog\n",
	    "site.yml:1:1: the spec must be a mapping of keys, not 'blog'");
	BAD(HEAD DOM "---\nsite: other\n",
	    "site.yml:6:1: only one YAML document is allowed");
}

static void
test_keys(void)
{
	BAD("site: blog\nimgae: blog:1\n", "site.yml:2:1: unknown key 'imgae'; did you mean 'image'?");
	BAD(HEAD DOM "health:\n  path: /up\n  intervl: 1s\n",
	    "site.yml:8:3: unknown key 'intervl' in 'health'; did you mean "
	    "'interval'?");
	BAD(HEAD DOM "deploy: {batch: 1, canary: 1}\n",
	    "site.yml:6:20: unknown key 'canary' in 'deploy'");
	BAD(HEAD DOM "resources: {disk: 1G}\n",
	    "site.yml:6:13: unknown key 'disk' in 'resources'");
	BAD(HEAD DOM "tls: {crt: /a}\n",
	    "site.yml:6:7: unknown key 'crt' in 'tls'; did you mean 'cert'?");
	BAD(HEAD DOM "\"im\\tage\": x\n",
	    "site.yml:6:1: unknown key 'im\\tage'; did you mean 'image'?");
	BAD(HEAD DOM "? [a, b]\n: c\n",
	    "site.yml:6:3: a key must be a plain string");
	BAD(HEAD DOM "{a: 1}: c\n",
	    "site.yml:6:1: a key must be a plain string");
	/* Duplicates, at any level, report the second with the first line. */
	BAD(HEAD DOM "image: other:2\n",
	    "site.yml:6:1: duplicate key 'image' (first at line 2)");
	BAD(HEAD DOM "env:\n  A: 1\n  B: 2\n  A: 3\n",
	    "site.yml:9:3: duplicate key 'A' (first at line 7)");
	BAD(HEAD DOM "health: {path: /a, retries: 3, path: /b, retries: 4}\n",
	    "site.yml:6:32: duplicate key 'path' (first at line 6)");
	BAD(HEAD DOM "env: {B: 1, A: 1, B: 2, A: 2}\n",
	    "site.yml:6:19: duplicate key 'B' (first at line 6)");
	/* Type of each value. */
	BAD(HEAD "domains: blog.test\n",
	    "site.yml:5:10: 'domains' must be a list, not 'blog.test'");
	BAD(HEAD "domains:\n",
	    "site.yml:5:9: 'domains' must be a list, not null");
	BAD(HEAD "domains: []\n",
	    "site.yml:5:10: 'domains' must list at least one domain");
	BAD(HEAD "domains: [[a.test]]\n",
	    "site.yml:5:11: items of 'domains' must be single values, not "
	    "a list");
	BAD(HEAD "domains: [a.test, ~]\n",
	    "site.yml:5:19: an item of 'domains' is empty");
	BAD("site: [blog]\n",
	    "site.yml:1:7: 'site' must be a single value, not a list");
	BAD("site:\n  name: blog\n",
	    "site.yml:2:3: 'site' must be a single value, not a mapping");
	BAD("site: ~\n", "site.yml:1:7: 'site' has no value");
	BAD(HEAD DOM "env: [A=1]\n",
	    "site.yml:6:6: 'env' must be a mapping, not a list");
	BAD(HEAD DOM "health: /up\n",
	    "site.yml:6:9: 'health' must be a mapping, not '/up'");
	BAD(HEAD DOM "resources:\n",
	    "site.yml:6:11: 'resources' must be a mapping, not null");
}

static void
test_values(void)
{
	BAD("site: Blog\n",
	    "site.yml:1:7: invalid site name 'Blog': must start with a "
	    "lowercase letter");
	BAD("site: blog\nimage: \"blog; rm -rf /\"\n",
	    "site.yml:2:8: invalid image reference 'blog; rm -rf /': path "
	    "component must start and end with a letter or digit");
	BAD("site: blog\nhosts: [web1, Web2]\n",
	    "site.yml:2:15: invalid host name 'Web2': only lowercase letters, "
	    "digits and '-' allowed");
	BAD("site: blog\nhosts: [web1, web2, web1]\n",
	    "site.yml:2:21: duplicate host 'web1'");
	BAD("site: blog\nhosts: []\n",
	    "site.yml:2:8: 'hosts' must list at least one host");
	BAD("site: blog\ngroup: Web\n",
	    "site.yml:2:8: invalid group name 'Web': must start with a "
	    "lowercase letter");
	BAD(HEAD "domains:\n  - blog.test\n  - blog.test\n",
	    "site.yml:7:5: duplicate domain 'blog.test'");

	/* Ports and integers: plain decimal only. */
	BAD("site: blog\nport: 0\n",
	    "site.yml:2:7: invalid port '0': must be between 1 and 65535");
	BAD("site: blog\nport: 65536\n",
	    "site.yml:2:7: invalid port '65536': must be between 1 and 65535");
	BAD("site: blog\nport: 0x1F90\n",
	    "site.yml:2:7: invalid port '0x1F90': expected a plain decimal "
	    "number");
	BAD("site: blog\nport: 08080\n",
	    "site.yml:2:7: invalid port '08080': leading zeros are not allowed");
	BAD("site: blog\nport: -1\n",
	    "site.yml:2:7: invalid port '-1': expected a plain decimal number");
	BAD("site: blog\nport: 80.0\n",
	    "site.yml:2:7: invalid port '80.0': expected a plain decimal number");
	BAD("site: blog\nport: 99999999999999999999999\n",
	    "site.yml:2:7: invalid port '99999999999999999999999': too large");

	/* Booleans: true and false only. */
	BAD(HEAD DOM "read_only: yes\n",
	    "site.yml:6:12: invalid read_only 'yes': write true or false "
	    "(yes, no, on and off are not booleans here)");
	BAD(HEAD DOM "read_only: On\n",
	    "site.yml:6:12: invalid read_only 'On': write true or false "
	    "(yes, no, on and off are not booleans here)");
	BAD(HEAD DOM "read_only: True\n",
	    "site.yml:6:12: invalid read_only 'True': write true or false "
	    "(yes, no, on and off are not booleans here)");
	BAD(HEAD DOM "read_only: 1\n",
	    "site.yml:6:12: invalid read_only '1': expected true or false");

	/* env and secrets */
	BAD(HEAD DOM "env:\n  A-B: x\n",
	    "site.yml:7:3: invalid env key 'A-B': only letters, digits and '_' "
	    "allowed");
	BAD(HEAD DOM "env: {A: [1, 2]}\n",
	    "site.yml:6:10: 'env.A' must be a single value, not a list");
	BAD(HEAD DOM "env: {A: }\n",
	    "site.yml:6:10: 'env.A' has no value (write A: \"\" for an empty "
	    "string)");
	BAD(HEAD DOM "env:\n  A: null\n",
	    "site.yml:7:6: 'env.A' has no value (write A: \"\" for an empty "
	    "string)");
	BAD(HEAD DOM "secrets: [DB, 1X]\n",
	    "site.yml:6:15: invalid secret name '1X': must start with a letter "
	    "or '_'");
	BAD(HEAD DOM "secrets: [DB, DB]\n",
	    "site.yml:6:15: duplicate secret 'DB'");
	BAD(HEAD DOM "env: {DB: x}\nsecrets: [A, DB]\n",
	    "site.yml:7:14: 'DB' is in both 'env' and 'secrets'");
	BAD(HEAD DOM "secrets: DB\n",
	    "site.yml:6:10: 'secrets' must be a list, not 'DB'");

	/* volumes */
	BAD(HEAD DOM "volumes: [\"x:/data\"]\n",
	    "site.yml:6:11: invalid volume 'x:/data': must be at least 2 "
	    "characters");
	BAD(HEAD DOM "volumes:\n  - data:/data\n  - /srv/../etc:/etc\n",
	    "site.yml:8:5: invalid volume '/srv/../etc:/etc': '..' component "
	    "not allowed");
	BAD(HEAD DOM "volumes: [\"a1:/data\", \"/srv/x:/data:ro\"]\n",
	    "site.yml:6:23: invalid volume '/srv/x:/data:ro': '/data' is "
	    "already mounted");
	BAD(HEAD DOM "volumes: [\"vol:/\"]\n",
	    "site.yml:6:11: invalid volume 'vol:/': cannot mount over '/'");

	/* resources */
	BAD(HEAD DOM "resources: {cpus: 0.001}\n",
	    "site.yml:6:19: invalid resources.cpus '0.001': must be between "
	    "0.01 and 1024");
	BAD(HEAD DOM "resources: {cpus: 1025}\n",
	    "site.yml:6:19: invalid resources.cpus '1025': must be between "
	    "0.01 and 1024");
	BAD(HEAD DOM "resources: {cpus: 1e3}\n",
	    "site.yml:6:19: invalid resources.cpus '1e3': expected a number "
	    "such as 0.5 or 2");
	BAD(HEAD DOM "resources: {cpus: .5}\n",
	    "site.yml:6:19: invalid resources.cpus '.5': expected a number "
	    "such as 0.5 or 2");
	BAD(HEAD DOM "resources: {cpus: 0}\n",
	    "site.yml:6:19: invalid resources.cpus '0': must be between 0.01 "
	    "and 1024");
	BAD(HEAD DOM "resources: {memory: 5M}\n",
	    "site.yml:6:21: invalid resources.memory '5M': must be at least 6M");
	BAD(HEAD DOM "resources: {memory: 256MB}\n",
	    "site.yml:6:21: invalid resources.memory '256MB': expected bytes or "
	    "a size such as 512K, 256M or 2G");
	BAD(HEAD DOM "resources: {memory: 2T}\n",
	    "site.yml:6:21: invalid resources.memory '2T': expected bytes or a "
	    "size such as 512K, 256M or 2G");
	BAD(HEAD DOM "resources: {memory: 99999999999G}\n",
	    "site.yml:6:21: invalid resources.memory '99999999999G': larger "
	    "than 1048576G");

	/* health */
	BAD(HEAD DOM "health: {path: up}\n",
	    "site.yml:6:16: invalid health.path 'up': must start with '/'");
	BAD(HEAD DOM "health: {path: \"/up now\"}\n",
	    "site.yml:6:16: invalid health.path '/up now': only letters, "
	    "digits and / . _ ~ - ? = & % + allowed");
	BAD(HEAD DOM "health: {interval: 1}\n",
	    "site.yml:6:20: invalid health.interval '1': expected a duration "
	    "such as 500ms, 10s, 2m or 1h");
	BAD(HEAD DOM "health: {timeout: 50ms}\n",
	    "site.yml:6:19: invalid health.timeout '50ms': must be between "
	    "100ms and 1h");
	BAD(HEAD DOM "health: {start_period: 2h}\n",
	    "site.yml:6:24: invalid health.start_period '2h': must be at most "
	    "1h");
	BAD(HEAD DOM "health: {retries: 0}\n",
	    "site.yml:6:19: invalid health.retries '0': must be between 1 and "
	    "10000");
	BAD(HEAD DOM "health: {cmd: curl -f http://localhost/}\n",
	    "site.yml:6:15: 'health.cmd' must be a list of arguments (no shell "
	    "runs it), e.g. [curl, -fsS, http://localhost/up]");

	/* deploy */
	BAD(HEAD DOM "deploy: {batch: 0}\n",
	    "site.yml:6:17: invalid deploy.batch '0': must be between 1 and "
	    "1024");
	BAD(HEAD DOM "deploy: {keep: 0}\n",
	    "site.yml:6:16: invalid deploy.keep '0': must be between 1 and 100");
	BAD(HEAD DOM "deploy: {max_failures: -1}\n",
	    "site.yml:6:24: invalid deploy.max_failures '-1': expected a plain "
	    "decimal number");
	BAD(HEAD DOM "deploy: {drain: 10}\n",
	    "site.yml:6:17: invalid deploy.drain '10': expected a duration "
	    "such as 500ms, 10s, 2m or 1h");

	/* tls, sizes, restart, user, capabilities, stop_timeout */
	BAD(HEAD DOM "tls: on\n",
	    "site.yml:6:6: invalid tls 'on': auto, off, or {cert: FILE, key: "
	    "FILE}");
	BAD(HEAD DOM "tls: [auto]\n",
	    "site.yml:6:6: 'tls' must be a mapping, not a list");
	BAD(HEAD DOM "tls: {cert: /etc/tug/blog/c.pem, key: /etc/tug/blog/k.pem, "
	    "hsts: true}\n",
	    "site.yml:6:6: tls.hsts goes with automatic certificates, not with "
	    "tls.cert");
	BAD(HEAD DOM "tls: {hsts: maybe}\n",
	    "site.yml:6:13: invalid tls.hsts 'maybe': expected true or false");
	BAD(HEAD DOM "tls: {cert: /etc/tug/a.crt}\n",
	    "site.yml:6:6: missing key 'key' in 'tls': give cert and key "
	    "together");
	BAD(HEAD DOM "tls:\n  key: /etc/tug/a.key\n",
	    "site.yml:7:3: missing key 'cert' in 'tls': give cert and key "
	    "together");
	BAD(HEAD DOM "tls: {cert: a.crt, key: /k}\n",
	    "site.yml:6:13: invalid tls.cert path 'a.crt': must be absolute");
	BAD(HEAD DOM "tls: {cert: /a.crt, key: /etc/../k}\n",
	    "site.yml:6:26: invalid tls.key path '/etc/../k': '..' component "
	    "not allowed");
	/* a site serves only its own certificate (tenancy) */
	BAD(HEAD DOM "tls: {cert: /etc/tug/shop/c.pem, key: /etc/tug/shop/k.pem}\n",
	    "site.yml:1:1: tls.cert and tls.key must be files in a directory "
	    "named after the site (e.g. /etc/tug/tls/blog/cert.pem): a site "
	    "serves only its own certificate");
	BAD(HEAD DOM "tls: {cert: /etc/tug/blog/c.pem, key: /etc/tug/k.pem}\n",
	    "site.yml:1:1: tls.cert and tls.key must be files in a directory "
	    "named after the site (e.g. /etc/tug/tls/blog/cert.pem): a site "
	    "serves only its own certificate");
	BAD(HEAD DOM "tls: {cert: /etc/tug/xblog/c.pem, key: /etc/tug/xblog/k.pem}\n",
	    "site.yml:1:1: tls.cert and tls.key must be files in a directory "
	    "named after the site (e.g. /etc/tug/tls/blog/cert.pem): a site "
	    "serves only its own certificate");
	BAD(HEAD "domains: [blog.test, tug-probe.blog.test]\n",
	    "site.yml:5:22: domain 'tug-probe.blog.test' is reserved: tug "
	    "confirms proxy switches with the name tug-probe.DOMAIN");
	BAD(HEAD DOM "client_max_body_size: 10X\n",
	    "site.yml:6:23: invalid client_max_body_size '10X': expected bytes "
	    "or a size such as 512K, 256M or 2G");
	BAD(HEAD DOM "client_max_body_size: 1025G\n",
	    "site.yml:6:23: invalid client_max_body_size '1025G': larger than "
	    "1024G");
	BAD(HEAD DOM "restart: sometimes\n",
	    "site.yml:6:10: invalid restart 'sometimes': must be no, always, "
	    "unless-stopped or on-failure");
	BAD(HEAD DOM "user: \"root;id\"\n",
	    "site.yml:6:7: invalid user 'root;id': only lowercase letters, "
	    "digits, '_' and '-' allowed");
	BAD(HEAD DOM "user: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
	    "site.yml:6:7: invalid user 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb': longer than 64 bytes");
	BAD(HEAD DOM "cap_drop: [NET_RAW, net_admin]\n",
	    "site.yml:6:21: invalid capability 'net_admin': only uppercase "
	    "letters and '_' allowed");
	BAD(HEAD DOM "cap_drop: [NET_RAW, NET_RAW]\n",
	    "site.yml:6:21: duplicate capability 'NET_RAW'");
	BAD(HEAD DOM "stop_timeout: 1500ms\n",
	    "site.yml:6:15: invalid stop_timeout '1500ms': must be whole "
	    "seconds");
	BAD(HEAD DOM "stop_timeout: 61m\n",
	    "site.yml:6:15: invalid stop_timeout '61m': must be at most 1h");
	BAD(HEAD DOM "stop_timeout: 10\n",
	    "site.yml:6:15: invalid stop_timeout '10': expected a duration "
	    "such as 500ms, 10s, 2m or 1h");
}

/* Nothing that would change a proxy config gets through, whatever the form. */
static void
test_hostile(void)
{
	static const char	*domains[] = {
		"\"a.test; location / {\\u2026}\"",
		"\"a{{x}}.test\"",
		"\"a`id`.test\"",
		"\"a b.test\"",
		"\"a.test\\nserver { }\"",
		"\"a.test\\u0000.b\"",
		"\"$host.test\"",
		"\"A.TEST\"",
		"\"*.*.test\"",
		"'a.test\"'",
	};
	struct site_spec	 s;
	char			 yaml[1024], big[400];
	size_t			 i;

	for (i = 0; i < sizeof domains / sizeof domains[0]; i++) {
		snprintf(yaml, sizeof yaml, HEAD "domains: [ok.test, %s]\n",
		    domains[i]);
		CHECK(parse(yaml, &s) == -1 &&
		    strncmp(err, "site.yml:5:20: ", 15) == 0);
		CHECK(strchr(err, '\n') == NULL && spec_empty(&s));
		spec_free(&s);
	}
	BAD(HEAD "domains: [\"a.test; location / {\\u2026}\"]\n",
	    "site.yml:5:11: invalid domain 'a.test; location / {\\xe2\\x80\\xa6}'"
	    ": only lowercase letters, digits, '-' and '.' allowed");
	BAD(HEAD "domains:\n  - a{{x}}.test\n",
	    "site.yml:6:5: invalid domain 'a{{x}}.test': only lowercase "
	    "letters, digits, '-' and '.' allowed");
	BAD(HEAD "domains: [\"a`id`.test\"]\n",
	    "site.yml:5:11: invalid domain 'a`id`.test': only lowercase "
	    "letters, digits, '-' and '.' allowed");
	BAD(HEAD "domains: [a b.test]\n",
	    "site.yml:5:11: invalid domain 'a b.test': only lowercase "
	    "letters, digits, '-' and '.' allowed");
	BAD(HEAD "domains: [\"a.test\\u0000.b\"]\n",
	    "site.yml:5:11: NUL bytes are not allowed");

	/* 300 characters: refused, and the message stays short. */
	memset(big, 'a', 300);
	big[300] = '\0';
	snprintf(yaml, sizeof yaml, HEAD "domains: [%s]\n", big);
	CHECK(parse(yaml, &s) == -1);
	CHECK(strncmp(err, "site.yml:5:11: invalid domain 'aaaa", 35) == 0 &&
	    strstr(err, "...': longer than 253 characters") != NULL);
	CHECK(strlen(err) < 160);
	spec_free(&s);

	/* A hostile file name is escaped too. */
	CHECK(spec_parse("a\nb.yml", "x: 1\n", 5, &s, err, sizeof err) == -1 &&
	    strcmp(err, "a\\nb.yml:1:1: unknown key 'x'") == 0);
	spec_free(&s);
	/* A short error buffer is cut, never overrun. */
	memset(big, 'Z', sizeof big);
	CHECK(spec_parse("site.yml", "x: 1\n", 5, &s, big, 10) == -1 &&
	    strcmp(big, "site.yml:") == 0 && big[10] == 'Z');
	spec_free(&s);
}

static void
test_yaml(void)
{
	struct site_spec	s;

	/* Syntax errors carry libyaml's position, made 1-based. */
	BAD("site: blog\n  image: x\n",
	    "site.yml:2:8: mapping values are not allowed in this context");
	BAD("site: blog\nhosts: [web1, web2\ndomains: [a.test]\n",
	    "site.yml:3:8: did not find expected ',' or ']' (while parsing a "
	    "flow sequence at 2:8)");
	BAD("site: \"blog\n",
	    "site.yml:2:1: found unexpected end of stream (while scanning a "
	    "quoted scalar at 1:7)");
	BAD("site: blog\n\tport: 1\n",
	    "site.yml:2:1: found a tab character that violates indentation "
	    "(while scanning a plain scalar at 1:7)");
	/* A byte libyaml's reader refuses is placed by its offset. */
	BAD("site: blog\nimage: a\x01" "b\n",
	    "site.yml:2:9: control characters are not allowed (#x1)");
	BAD("site: blog\nimage: \xff\n",
	    "site.yml:2:8: invalid leading UTF-8 octet (#xFF)");

	/* Anchors, aliases and tags other than the core scalars. */
	BAD("site: blog\nimage: *img\n",
	    "site.yml:2:8: aliases are not allowed");
	BAD("site: &s blog\n", "site.yml:1:7: anchors are not allowed");
	BAD("a: &x [1, 2]\nb: *x\n", "site.yml:1:4: anchors are not allowed");
	BAD("site: !custom blog\n",
	    "site.yml:1:7: tag '!custom' is not allowed");
	BAD(HEAD DOM "env: !!map {A: b}\n",
	    "site.yml:6:6: tag 'tag:yaml.org,2002:map' is not allowed");
	BAD(HEAD DOM "env: {A: !!binary aGk=}\n",
	    "site.yml:6:10: tag 'tag:yaml.org,2002:binary' is not allowed");
	BAD(HEAD DOM "port: !!python/object:os.system x\n",
	    "site.yml:6:7: tag 'tag:yaml.org,2002:python/object:os.system' is "
	    "not allowed");
	BAD("site: !!null blog\n", "site.yml:1:7: 'site' has no value");

	/* Flow and block styles mean the same; comments are ignored. */
	if (GOOD("{site: blog, image: 'blog:1', hosts: [a], "
	    "domains: [b.test], port: 80}  # all on one line\n", &s) == 0) {
		CHECK(strcmp(s.site, "blog") == 0 && s.port == 80);
		spec_free(&s);
	}
	if (GOOD("---\n" HEAD DOM "...\n", &s) == 0)
		spec_free(&s);
	if (GOOD("%YAML 1.1\n---\n" HEAD DOM, &s) == 0)
		spec_free(&s);
}

static void
test_caps(void)
{
	struct site_spec	 s;
	struct buf		 b = BUF_INIT;
	int			 i;
	char			 want[128];

	/* Nesting: the 17th level is refused where it opens. */
	BAD("site: blog\nx: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]\n",
	    "site.yml:2:19: nested deeper than 16 levels");
	BAD("site: blog\nx: [[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]\n",
	    "site.yml:2:1: unknown key 'x'");	/* 16 levels: parsed */

	/* The size cap, at the byte. */
	buf_init(&b, 0);
	buf_addstr(&b, HEAD DOM);
	while (b.len < SPEC_MAX_BYTES)
		buf_addch(&b, b.len % 64 == 63 ? '\n' : '#');
	b.ptr[SPEC_MAX_BYTES - 1] = '\n';
	CHECK(spec_parse("site.yml", b.ptr, b.len, &s, err, sizeof err) == 0);
	spec_free(&s);
	buf_addch(&b, '\n');
	CHECK(spec_parse("site.yml", b.ptr, b.len, &s, err, sizeof err) == -1 &&
	    strcmp(err, "site.yml:1:1: the spec is larger than 262144 bytes")
	    == 0);
	spec_free(&s);
	buf_release(&b);

	/* Lists: domains 32, hosts 1024, env 256, volumes 32, secrets 256. */
	buf_init(&b, 0);
	buf_addstr(&b, HEAD "domains:\n");
	for (i = 0; i < 33; i++)
		buf_addf(&b, "  - d%d.test\n", i);
	snprintf(want, sizeof want,
	    "site.yml:%d:5: 'domains' has more than 32 items", 6 + 32);
	BAD(b.ptr, want);
	buf_release(&b);

	buf_addstr(&b, "site: blog\nhosts:\n");
	for (i = 0; i < 1024; i++)
		buf_addf(&b, "- h%d\n", i);
	buf_addstr(&b, "image: blog:1\nport: 80\ndomains: [a.test]\n");
	CHECK(parse(b.ptr, &s) == 0 && s.nhosts == 1024 &&
	    strcmp(s.hosts[1023], "h1023") == 0);
	spec_free(&s);
	buf_release(&b);
	buf_addstr(&b, "site: blog\nhosts:\n");
	for (i = 0; i < 1025; i++)
		buf_addf(&b, "- h%d\n", i);
	snprintf(want, sizeof want,
	    "site.yml:%d:3: 'hosts' has more than 1024 items", 3 + 1024);
	BAD(b.ptr, want);
	buf_release(&b);

	buf_addstr(&b, HEAD DOM "env:\n");
	for (i = 0; i < 257; i++)
		buf_addf(&b, "  V%d: x\n", i);
	snprintf(want, sizeof want,
	    "site.yml:%d:3: 'env' has more than 256 variables", 7 + 256);
	BAD(b.ptr, want);
	buf_release(&b);

	buf_addstr(&b, HEAD DOM "volumes:\n");
	for (i = 0; i < 33; i++)
		buf_addf(&b, "  - v%d:/d%d\n", i, i);
	snprintf(want, sizeof want,
	    "site.yml:%d:5: 'volumes' has more than 32 items", 7 + 32);
	BAD(b.ptr, want);
	buf_release(&b);

	buf_addstr(&b, HEAD DOM "secrets:\n");
	for (i = 0; i < 257; i++)
		buf_addf(&b, "  - S%d\n", i);
	snprintf(want, sizeof want,
	    "site.yml:%d:5: 'secrets' has more than 256 items", 7 + 256);
	BAD(b.ptr, want);
	buf_release(&b);

	/* env and secrets share the agent's 256 variables. */
	buf_addstr(&b, HEAD DOM "env:\n");
	for (i = 0; i < 200; i++)
		buf_addf(&b, "  V%d: x\n", i);
	buf_addstr(&b, "secrets:\n");
	for (i = 0; i < 57; i++)
		buf_addf(&b, "  - S%d\n", i);
	snprintf(want, sizeof want, "site.yml:%d:3: 'env' and 'secrets' hold "
	    "more than 256 variables together", 7 + 200 + 1);
	BAD(b.ptr, want);
	buf_release(&b);

	/* An env value: 32768 bytes pass, one more does not. */
	buf_addstr(&b, HEAD DOM "env: {BIG: ");
	for (i = 0; i < 32768; i++)
		buf_addch(&b, 'v');
	buf_addstr(&b, "}\n");
	CHECK(parse(b.ptr, &s) == 0 && s.nenv == 1 &&
	    strlen(s.env[0].val) == 32768);
	spec_free(&s);
	b.ptr[b.len - 2] = 'v';
	buf_addstr(&b, "}\n");
	BAD(b.ptr, "site.yml:6:12: 'env.BIG' is longer than 32768 bytes");
	buf_release(&b);

	/* One collection's length is capped while it is built. */
	buf_addstr(&b, "x: [");
	for (i = 0; i < 2049; i++)
		buf_addstr(&b, "1,");
	buf_addstr(&b, "1]\n");
	BAD(b.ptr, "site.yml:1:4101: more than 2048 items in one list");
	buf_release(&b);
}

/* Decode a frame made by enc_finish(). */
static int
decode(const struct buf *f, struct msg *m)
{
	uint32_t	len;
	uint8_t		flags;

	if (f->len < FRAME_HDR ||
	    frame_header((const uint8_t *)f->ptr, &len, &flags, err) == -1 ||
	    len != f->len - FRAME_HDR)
		return -1;
	return msg_decode(m, flags, f->ptr + FRAME_HDR, len, err);
}

static char	**apply_legacy;		/* volume names kept, for the next frame */
static size_t	  apply_nlegacy;

static int
apply_frame(const struct site_spec *s, const char *image,
    const struct kv *env, size_t nenv, struct buf *f)
{
	struct enc	e;

	enc_begin(&e, MSG_REQUEST, 9);
	enc_kstr(&e, "op", "site.apply");
	enc_kmap(&e, "args");
	spec_apply_args(s, 7, image, env, nenv, apply_legacy, apply_nlegacy,
	    &e);
	enc_close(&e);
	return enc_finish(&e, 0, f, err);
}

/* Keys of a JSON text appear in this order. */
static int
in_order(const char *json, const char *const *keys, size_t n)
{
	const char	*at = json, *q;
	char		 k[64];
	size_t		 i;

	for (i = 0; i < n; i++) {
		snprintf(k, sizeof k, "\"%s\":", keys[i]);
		if ((q = strstr(at, k)) == NULL)
			return 0;
		at = q + strlen(k);
	}
	return 1;
}

static void
test_apply_args(void)
{
	static const char *const order[] = {
		"site", "release", "image", "port", "env", "volumes", "restart",
		"cpus", "memory", "stop_timeout", "drain_ms", "health", "path",
		"interval_ms", "timeout_ms", "retries", "start_period_ms", "cmd",
		"read_only", "user", "cap_drop", "proxy", "domains", "tls_cert",
		"tls_key", "max_body",
	};
	struct site_spec	 s;
	struct kv		 env[2] = {
		{ "RAILS_ENV", "production" }, { "DATABASE_URL", "postgres://db" },
	};
	struct buf		 f = BUF_INIT, f2 = BUF_INIT, j = BUF_INIT;
	struct msg		 m;
	struct mv		 v, a, h, px, ev;
	char			 str[256], key[64], *val;
	uint64_t		 u;
	double			 d;
	int			 bo;
	size_t			 n;

	if (GOOD(full_spec, &s) == -1)
		return;
	CHECK(apply_frame(&s, "registry.test/blog@sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    env, 2, &f) == 0);
	CHECK(decode(&f, &m) == 0 && m.type == MSG_REQUEST && m.id == 9);
	msg_body(&m, &v, err, "");
	CHECK(mv_map(&v, "args", &a, MV_REQ) == 1);
	CHECK(mv_str(&a, "site", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "blog") == 0);
	CHECK(mv_u64(&a, "release", &u, MV_REQ) == 1 && u == 7);
	CHECK(mv_str(&a, "image", str, sizeof str, MV_REQ) == 1 &&
	    strncmp(str, "registry.test/blog@sha256:0123", 30) == 0);
	CHECK(mv_u64(&a, "port", &u, MV_REQ) == 1 && u == 8080);
	/* env is the caller's, not the spec's */
	CHECK(mv_map(&a, "env", &ev, MV_REQ) == 1 && mv_count(&ev) == 2);
	CHECK(mv_entry_str(&ev, 1, key, sizeof key, &val, 64) == 1 &&
	    strcmp(key, "DATABASE_URL") == 0 &&
	    strcmp(val, "postgres://db") == 0);
	free(val);
	CHECK(mv_arr(&a, "volumes", &n, 32, MV_REQ) == 1 && n == 2);
	CHECK(mv_arr_str(&a, "volumes", 1, str, sizeof str) == 1 &&
	    strcmp(str, "/srv/blog/up:/uploads:ro") == 0);
	/* a named volume is the site's own on the hosts */
	CHECK(mv_arr_str(&a, "volumes", 0, str, sizeof str) == 1 &&
	    strcmp(str, "tug-blog_blog-data:/data") == 0);
	CHECK(!mv_present(&a, "legacy_volumes"));
	CHECK(mv_str(&a, "restart", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "always") == 0);
	CHECK(mv_num(&a, "cpus", &d, MV_REQ) == 1 && d == 0.5);
	CHECK(mv_u64(&a, "memory", &u, MV_REQ) == 1 && u == 256ULL << 20);
	CHECK(mv_u64(&a, "stop_timeout", &u, MV_REQ) == 1 && u == 30);
	CHECK(mv_u64(&a, "drain_ms", &u, MV_REQ) == 1 && u == 10000);
	CHECK(mv_map(&a, "health", &h, MV_REQ) == 1);
	CHECK(mv_str(&h, "path", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "/up?full=1") == 0);
	CHECK(mv_u64(&h, "interval_ms", &u, MV_REQ) == 1 && u == 2000);
	CHECK(mv_u64(&h, "timeout_ms", &u, MV_REQ) == 1 && u == 500);
	CHECK(mv_u64(&h, "retries", &u, MV_REQ) == 1 && u == 10);
	CHECK(mv_u64(&h, "start_period_ms", &u, MV_REQ) == 1 && u == 60000);
	CHECK(mv_arr(&h, "cmd", &n, 32, MV_REQ) == 1 && n == 3);
	CHECK(mv_arr_str(&h, "cmd", 1, str, sizeof str) == 1 &&
	    strcmp(str, "-fsS") == 0);
	CHECK(mv_bool(&a, "read_only", &bo, MV_REQ) == 1 && bo == 1);
	CHECK(mv_str(&a, "user", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "1000:1000") == 0);
	CHECK(mv_arr(&a, "cap_drop", &n, 64, MV_REQ) == 1 && n == 2);
	CHECK(mv_arr_str(&a, "cap_drop", 0, str, sizeof str) == 1 &&
	    strcmp(str, "NET_RAW") == 0);
	CHECK(mv_map(&a, "proxy", &px, MV_REQ) == 1);
	CHECK(mv_arr(&px, "domains", &n, 32, MV_REQ) == 1 && n == 2);
	CHECK(mv_arr_str(&px, "domains", 1, str, sizeof str) == 1 &&
	    strcmp(str, "*.blog.example.test") == 0);
	CHECK(mv_str(&px, "tls_cert", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "/etc/tug/blog/blog.crt") == 0);
	CHECK(mv_str(&px, "tls_key", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "/etc/tug/blog/blog.key") == 0);
	CHECK(mv_u64(&px, "max_body", &u, MV_REQ) == 1 && u == 10ULL << 20);
	/* Nothing else: the agent hashes every key. */
	CHECK(mv_count(&a) == 16);
	CHECK(mv_count(&h) == 6 && mv_count(&px) == 4);
	CHECK(!mv_present(&a, "secrets") && !mv_present(&a, "domains") &&
	    !mv_present(&a, "no_new_privileges"));
	CHECK(mv_json(&v, "args", &j) == 0 &&
	    in_order(j.ptr, order, sizeof order / sizeof order[0]));
	buf_release(&j);
	msg_release(&m);
	/* The same spec encodes to the same bytes. */
	CHECK(apply_frame(&s, "registry.test/blog@sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    env, 2, &f2) == 0 && f.len == f2.len &&
	    memcmp(f.ptr, f2.ptr, f.len) == 0);
	buf_release(&f);
	buf_release(&f2);
	spec_free(&s);

	/* A minimal spec leaves the optional keys out. */
	if (GOOD(HEAD DOM, &s) == -1)
		return;
	CHECK(apply_frame(&s, NULL, NULL, 0, &f) == 0);
	CHECK(decode(&f, &m) == 0);
	msg_body(&m, &v, err, "");
	CHECK(mv_map(&v, "args", &a, MV_REQ) == 1);
	CHECK(mv_str(&a, "image", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "registry.test/blog:42") == 0);	/* NULL: the spec's */
	CHECK(mv_map(&a, "env", &ev, MV_REQ) == 1 && mv_count(&ev) == 0);
	CHECK(mv_arr(&a, "volumes", &n, 32, MV_REQ) == 1 && n == 0);
	CHECK(mv_str(&a, "restart", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "unless-stopped") == 0);
	CHECK(!mv_present(&a, "cpus") && !mv_present(&a, "memory") &&
	    !mv_present(&a, "user") && !mv_present(&a, "cap_drop"));
	CHECK(mv_u64(&a, "stop_timeout", &u, MV_REQ) == 1 && u == 10);
	CHECK(mv_u64(&a, "drain_ms", &u, MV_REQ) == 1 && u == 0);
	CHECK(mv_map(&a, "health", &h, MV_REQ) == 1 && mv_count(&h) == 5 &&
	    !mv_present(&h, "cmd"));
	CHECK(mv_str(&h, "path", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "/") == 0);
	CHECK(mv_u64(&h, "retries", &u, MV_REQ) == 1 && u == 30);
	CHECK(mv_bool(&a, "read_only", &bo, MV_REQ) == 1 && bo == 0);
	/* tls auto by default; no ACME settings in a bare spec. */
	CHECK(mv_map(&a, "proxy", &px, MV_REQ) == 1 && mv_count(&px) == 2 &&
	    !mv_present(&px, "tls_cert") && !mv_present(&px, "max_body") &&
	    !mv_present(&px, "acme"));
	CHECK(mv_str(&px, "tls", str, sizeof str, MV_REQ) == 1 &&
	    strcmp(str, "auto") == 0);
	CHECK(mv_arr(&px, "domains", &n, 32, MV_REQ) == 1 && n == 1);
	CHECK(mv_count(&a) == 12);
	msg_release(&m);
	buf_release(&f);
	spec_free(&s);

	/* A volume a site made before volumes were its own keeps its name. */
	{
		char	*legacy[] = { "old-data" };

		if (GOOD(HEAD DOM "volumes: [\"old-data:/a\", \"new:/b:ro\"]\n",
		    &s) == -1)
			return;
		apply_legacy = legacy;
		apply_nlegacy = 1;
		CHECK(apply_frame(&s, NULL, NULL, 0, &f) == 0);
		apply_legacy = NULL;
		apply_nlegacy = 0;
		CHECK(decode(&f, &m) == 0);
		msg_body(&m, &v, err, "");
		CHECK(mv_map(&v, "args", &a, MV_REQ) == 1);
		CHECK(mv_arr_str(&a, "volumes", 0, str, sizeof str) == 1 &&
		    strcmp(str, "old-data:/a") == 0);
		CHECK(mv_arr_str(&a, "volumes", 1, str, sizeof str) == 1 &&
		    strcmp(str, "tug-blog_new:/b:ro") == 0);
		CHECK(mv_arr(&a, "legacy_volumes", &n, 32, MV_REQ) == 1 &&
		    n == 1 && mv_arr_str(&a, "legacy_volumes", 0, str,
		    sizeof str) == 1 && strcmp(str, "old-data") == 0);
		msg_release(&m);
		buf_release(&f);
		spec_free(&s);
	}
}

int
main(void)
{
	test_full();
	test_defaults();
	test_static();
	test_required();
	test_keys();
	test_values();
	test_hostile();
	test_yaml();
	test_caps();
	test_apply_args();
	return unit_done();
}
