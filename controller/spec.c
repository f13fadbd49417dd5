/*
 * spec.c: site specs in YAML (docs/site-spec.md). libyaml's event stream is
 * built into a small tree that has no anchors, aliases, foreign tags,
 * duplicate keys or deep nesting; the tree is then checked key by key, from
 * the tables below, into a struct site_spec. The whole spec is valid before
 * spec_parse() returns 0. Every error names FILE:LINE:COL of the node at
 * fault, and every string from the file in it is escaped and cut short.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "controller/tug.h"

#define SPEC_DEPTH_MAX		16	/* nested lists and mappings */
#define SPEC_ITEMS_MAX		2048	/* items, or pairs, of one collection */
#define SPEC_NODES_MAX		32768	/* values in one spec */
#define DOMAINS_MAX		32
#define HOSTS_MAX		1024
#define ENV_MAX			256	/* env and secrets together */
#define ENV_VALUE_MAX		32768
#define SECRETS_MAX		256
#define VOLUMES_MAX		32
#define VOLUME_SPEC_MAX		2055	/* what the agent reads */
#define CAPS_MAX		64
#define HEALTH_CMD_MAX		32
#define HEALTH_CMD_ARG_MAX	1024
#define USER_MAX		64
#define BATCH_MAX		1024
#define KEEP_MAX		DEPLOY_KEEP_MAX
#define HOUR_MS			3600000ULL
#define MEMORY_MAX		(1ULL << 50)	/* 1048576G: more is a typo */
#define MAX_BODY_MAX		(1ULL << 40)	/* 1024G, as the agent allows */
#define MEMORY_MIN		(6ULL << 20)
#define ESC_MAX			72	/* bytes of a quoted string in a message */

enum ntype { N_SCALAR, N_SEQ, N_MAP };

/* One YAML node; a mapping holds key, value, key, value, ... */
struct node {
	enum ntype	 type;
	size_t		 line;		/* 1-based */
	size_t		 col;
	char		*val;		/* scalars: the text, NUL-free */
	size_t		 len;
	int		 null;		/* plain "", "~", "null" or !!null */
	struct node	**kids;
	size_t		 nkids;
	size_t		 akids;
	struct node	*parent;
};

/* One parse: where errors go and what is being filled. */
struct sp {
	char			 file[256];	/* escaped */
	char			*err;
	size_t			 errsz;
	struct site_spec	*s;
	size_t			 nnodes;
	const struct node	*top;
	const struct node	*hosts;		/* the key, when seen */
	const struct node	*group;
	const struct node	*secrets;	/* the list, when seen */
};

/* The event loop's position in the tree being built. */
struct tree {
	struct node	*root;
	struct node	*cur;		/* the open collection */
	int		 depth;
	int		 docs;
	int		 done;
};

static int
fail(struct sp *p, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int
nfail(struct sp *p, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
vfail(struct sp *p, size_t line, size_t col, const char *fmt, va_list ap)
{
	char	msg[512];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (p->err != NULL && p->errsz > 0)
		snprintf(p->err, p->errsz, "%s:%zu:%zu: %s", p->file, line, col,
		    msg);
	return -1;
}

static int
fail(struct sp *p, size_t line, size_t col, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vfail(p, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

static int
nfail(struct sp *p, const struct node *n, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vfail(p, n->line, n->col, fmt, ap);
	va_end(ap);
	return -1;
}

/* A scalar's text, escaped and cut to fit a message. */
static const char *
esc(char dst[ESC_MAX], const struct node *n)
{
	return log_escape(dst, ESC_MAX, n->val, n->len);
}

/* "a list", "a mapping", "null" or the quoted value: what was found. */
static const char *
what(char dst[ESC_MAX + 2], const struct node *n)
{
	char	e[ESC_MAX];

	if (n->type == N_SEQ)
		return "a list";
	if (n->type == N_MAP)
		return "a mapping";
	if (n->null)
		return "null";
	snprintf(dst, ESC_MAX + 2, "'%s'", esc(e, n));
	return dst;
}

/*
 * Building the tree from libyaml's events.
 */

static struct node *
node_new(enum ntype type, const yaml_mark_t *m)
{
	struct node	*n = xcalloc(1, sizeof *n);

	n->type = type;
	n->line = m->line + 1;
	n->col = m->column + 1;
	return n;
}

static void
node_free(struct node *n)
{
	size_t	i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->val);
	free(n);
}

/* The tags a scalar may carry: YAML's core schema, nothing that builds. */
static int
core_scalar_tag(const char *tag)
{
	static const char	*ok[] = {
		"tag:yaml.org,2002:str", "tag:yaml.org,2002:int",
		"tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
		"tag:yaml.org,2002:null",
	};
	size_t			 i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strcmp(tag, ok[i]) == 0)
			return 1;
	return 0;
}

static int
is_null_text(const char *s)
{
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct node	*x = *(struct node * const *)a;
	const struct node	*y = *(struct node * const *)b;
	size_t			 n = x->len < y->len ? x->len : y->len;
	int			 c;

	if ((c = memcmp(x->val, y->val, n)) != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->col < y->col ? -1 : x->col > y->col;
}

static int
before(const struct node *a, const struct node *b)
{
	return a->line < b->line || (a->line == b->line && a->col < b->col);
}

/*
 * A mapping is closed: report its first repeated key in file order. Sorted
 * by text then position, each run of equal keys starts with the original
 * and its second entry is the first repeat.
 */
static int
check_dup_keys(struct sp *p, const struct node *map)
{
	struct node		**k;
	const struct node	 *dup = NULL, *first = NULL;
	size_t			  i, n = map->nkids / 2;
	char			  e[ESC_MAX];
	int			  r = 0;

	if (n < 2)
		return 0;
	k = xcalloc(n, sizeof *k);
	for (i = 0; i < n; i++)
		k[i] = map->kids[2 * i];
	qsort(k, n, sizeof *k, key_cmp);
	for (i = 1; i < n; i++) {
		if (k[i]->len != k[i - 1]->len ||
		    memcmp(k[i]->val, k[i - 1]->val, k[i]->len) != 0)
			continue;
		if (i >= 2 && k[i - 2]->len == k[i]->len &&
		    memcmp(k[i - 2]->val, k[i]->val, k[i]->len) == 0)
			continue;	/* a third one: not the first repeat */
		if (dup == NULL || before(k[i], dup)) {
			dup = k[i];
			first = k[i - 1];
		}
	}
	if (dup != NULL)
		r = nfail(p, dup, "duplicate key '%s' (first at line %zu)",
		    esc(e, dup), first->line);
	free(k);
	return r;
}

static int
attach(struct sp *p, struct tree *t, struct node *n)
{
	struct node	*c = t->cur;
	size_t		 max;

	if (c == NULL) {
		t->root = n;
		return 0;
	}
	max = c->type == N_MAP ? 2 * SPEC_ITEMS_MAX : SPEC_ITEMS_MAX;
	if (c->nkids >= max)
		return nfail(p, n, "more than %d items in one %s",
		    SPEC_ITEMS_MAX, c->type == N_MAP ? "mapping" : "list");
	if (c->nkids == c->akids) {
		c->akids = c->akids == 0 ? 8 : 2 * c->akids;
		c->kids = xrealloc(c->kids, c->akids * sizeof *c->kids);
	}
	c->kids[c->nkids++] = n;
	n->parent = c;
	return 0;
}

static int
event(struct sp *p, struct tree *t, const yaml_event_t *ev)
{
	const yaml_mark_t	*m = &ev->start_mark;
	const char		*anchor, *tag;
	struct node		*n;
	enum ntype		 type;
	char			 e[ESC_MAX];
	size_t			 line = m->line + 1, col = m->column + 1;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		t->done = 1;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (t->docs++ > 0)
			return fail(p, line, col,
			    "only one YAML document is allowed");
		return 0;
	case YAML_ALIAS_EVENT:
		return fail(p, line, col, "aliases are not allowed");
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (t->cur->type == N_MAP && check_dup_keys(p, t->cur) == -1)
			return -1;
		t->cur = t->cur->parent;
		t->depth--;
		return 0;
	case YAML_SCALAR_EVENT:
		anchor = (const char *)ev->data.scalar.anchor;
		tag = (const char *)ev->data.scalar.tag;
		type = N_SCALAR;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = (const char *)ev->data.sequence_start.anchor;
		tag = (const char *)ev->data.sequence_start.tag;
		type = N_SEQ;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = (const char *)ev->data.mapping_start.anchor;
		tag = (const char *)ev->data.mapping_start.tag;
		type = N_MAP;
		break;
	default:
		return 0;
	}
	if (anchor != NULL)
		return fail(p, line, col, "anchors are not allowed");
	if (tag != NULL && (type != N_SCALAR || !core_scalar_tag(tag)))
		return fail(p, line, col, "tag '%s' is not allowed",
		    log_escape(e, sizeof e, tag, strlen(tag)));
	if (++p->nnodes > SPEC_NODES_MAX)
		return fail(p, line, col, "more than %d values in one spec",
		    SPEC_NODES_MAX);
	if (t->cur != NULL && t->cur->type == N_MAP &&
	    t->cur->nkids % 2 == 0 && type != N_SCALAR)
		return fail(p, line, col, "a key must be a plain string");
	if (type != N_SCALAR && t->depth >= SPEC_DEPTH_MAX)
		return fail(p, line, col, "nested deeper than %d levels",
		    SPEC_DEPTH_MAX);
	if (type == N_SCALAR &&
	    memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
		return fail(p, line, col, "NUL bytes are not allowed");

	n = node_new(type, m);
	if (type == N_SCALAR) {
		n->len = ev->data.scalar.length;
		n->val = xmalloc(n->len + 1);
		memcpy(n->val, ev->data.scalar.value, n->len);
		n->val[n->len] = '\0';
		if (tag != NULL)
			n->null = strcmp(tag, "tag:yaml.org,2002:null") == 0;
		else
			n->null = ev->data.scalar.style ==
			    YAML_PLAIN_SCALAR_STYLE && is_null_text(n->val);
	}
	if (attach(p, t, n) == -1) {
		node_free(n);
		return -1;
	}
	if (type != N_SCALAR) {
		t->cur = n;
		t->depth++;
	}
	return 0;
}

/* 1-based line and column (in characters) of a byte offset. */
static void
offset_pos(const char *text, size_t len, size_t off, size_t *line,
    size_t *col)
{
	size_t	i;

	*line = *col = 1;
	if (off > len)
		off = len;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80)
			(*col)++;
	}
}

static int
syntax_error(struct sp *p, const yaml_parser_t *yp, const char *text,
    size_t len)
{
	const char	*problem = yp->problem != NULL ? yp->problem :
			    "invalid YAML";
	size_t		 line, col;

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		return fail(p, 1, 1, "out of memory parsing YAML");
	case YAML_READER_ERROR:
		offset_pos(text, len, yp->problem_offset, &line, &col);
		if (yp->problem_value != -1)
			return fail(p, line, col, "%s (#x%X)", problem,
			    (unsigned)yp->problem_value);
		return fail(p, line, col, "%s", problem);
	default:
		line = yp->problem_mark.line + 1;
		col = yp->problem_mark.column + 1;
		if (yp->context != NULL)
			return fail(p, line, col, "%s (%s at %zu:%zu)", problem,
			    yp->context, yp->context_mark.line + 1,
			    yp->context_mark.column + 1);
		return fail(p, line, col, "%s", problem);
	}
}

static int
build(struct sp *p, const char *text, size_t len, struct node **out)
{
	yaml_parser_t	yp;
	yaml_event_t	ev;
	struct tree	t;
	int		r = 0;

	*out = NULL;
	memset(&t, 0, sizeof t);
	if (!yaml_parser_initialize(&yp))
		return fail(p, 1, 1, "out of memory parsing YAML");
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	while (!t.done) {
		if (!yaml_parser_parse(&yp, &ev)) {
			r = syntax_error(p, &yp, text, len);
			break;
		}
		r = event(p, &t, &ev);
		yaml_event_delete(&ev);
		if (r == -1)
			break;
	}
	yaml_parser_delete(&yp);
	if (r == -1) {
		node_free(t.root);
		return -1;
	}
	*out = t.root;
	return 0;
}

/*
 * Reading values. Each takes the name of the key as users write it
 * ("health.interval"), which messages quote.
 */

static int
want_scalar(struct sp *p, const char *name, const struct node *v)
{
	char	w[ESC_MAX + 2];

	if (v->type != N_SCALAR)
		return nfail(p, v, "'%s' must be a single value, not %s", name,
		    what(w, v));
	if (v->null)
		return nfail(p, v, "'%s' has no value", name);
	return 0;
}

/* A scalar that passes check(); copied into dst when dst is not NULL. */
static int
want_valid(struct sp *p, const char *name, const char *label,
    const struct node *v, const char *(*check)(const char *), char *dst,
    size_t dstsz)
{
	const char	*why;
	char		 e[ESC_MAX];

	if (want_scalar(p, name, v) == -1)
		return -1;
	if ((why = check(v->val)) != NULL)
		return nfail(p, v, "invalid %s '%s': %s", label, esc(e, v), why);
	if (dst != NULL) {
		if (v->len >= dstsz)
			return nfail(p, v, "invalid %s '%s': longer than %zu "
			    "bytes", label, esc(e, v), dstsz - 1);
		memcpy(dst, v->val, v->len + 1);
	}
	return 0;
}

/* A list of 0 ... max single values. */
static int
want_list(struct sp *p, const char *name, const struct node *v, size_t max)
{
	char	w[ESC_MAX + 2];
	size_t	i;

	if (v->type != N_SEQ)
		return nfail(p, v, "'%s' must be a list, not %s", name,
		    what(w, v));
	if (v->nkids > max)
		return nfail(p, v->kids[max], "'%s' has more than %zu items",
		    name, max);
	for (i = 0; i < v->nkids; i++) {
		if (v->kids[i]->type != N_SCALAR)
			return nfail(p, v->kids[i], "items of '%s' must be "
			    "single values, not %s", name, what(w, v->kids[i]));
		if (v->kids[i]->null)
			return nfail(p, v->kids[i], "an item of '%s' is empty",
			    name);
	}
	return 0;
}

/* The first item of a list that repeats an earlier one, or NULL. */
static const struct node *
list_dup(const struct node *v)
{
	size_t	i, j;

	for (i = 1; i < v->nkids; i++)
		for (j = 0; j < i; j++)
			if (strcmp(v->kids[i]->val, v->kids[j]->val) == 0)
				return v->kids[i];
	return NULL;
}

static char **
list_dup_strv(const struct node *v)
{
	char	**sv = xcalloc(v->nkids + 1, sizeof *sv);
	size_t	  i;

	for (i = 0; i < v->nkids; i++)
		sv[i] = xstrdup(v->kids[i]->val);
	return sv;
}

static int
want_map(struct sp *p, const char *name, const struct node *v)
{
	char	w[ESC_MAX + 2];

	if (v->type != N_MAP)
		return nfail(p, v, "'%s' must be a mapping, not %s", name,
		    what(w, v));
	return 0;
}

/* Plain decimal: digits, no sign, no leading zero. NULL or why not. */
static const char *
parse_uint(const char *s, uint64_t *out)
{
	uint64_t	v = 0;
	const char	*q;

	if (*s == '\0')
		return "expected a number";
	for (q = s; *q != '\0'; q++)
		if (*q < '0' || *q > '9')
			return "expected a plain decimal number";
	if (s[0] == '0' && s[1] != '\0')
		return "leading zeros are not allowed";
	for (q = s; *q != '\0'; q++) {
		if (v > (UINT64_MAX - 9) / 10)
			return "too large";
		v = v * 10 + (uint64_t)(*q - '0');
	}
	*out = v;
	return NULL;
}

static int
want_uint(struct sp *p, const char *name, const struct node *v,
    uint64_t min, uint64_t max, uint64_t *out)
{
	const char	*why;
	char		 e[ESC_MAX];
	uint64_t	 u = 0;

	if (want_scalar(p, name, v) == -1)
		return -1;
	if ((why = parse_uint(v->val, &u)) != NULL)
		return nfail(p, v, "invalid %s '%s': %s", name, esc(e, v), why);
	if (u < min || u > max)
		return nfail(p, v, "invalid %s '%s': must be between %llu and "
		    "%llu", name, esc(e, v), (unsigned long long)min,
		    (unsigned long long)max);
	*out = u;
	return 0;
}

static int
want_unsigned(struct sp *p, const char *name, const struct node *v,
    unsigned min, unsigned max, unsigned *out)
{
	uint64_t	u;

	if (want_uint(p, name, v, min, max, &u) == -1)
		return -1;
	*out = (unsigned)u;
	return 0;
}

/* "500ms", "10s", "2m", "1h" between min and max ms. */
static int
want_duration(struct sp *p, const char *name, const struct node *v,
    uint64_t min, uint64_t max, uint64_t *out)
{
	char		e[ESC_MAX];
	uint64_t	ms;

	if (want_scalar(p, name, v) == -1)
		return -1;
	if (parse_duration(v->val, &ms) == -1)
		return nfail(p, v, "invalid %s '%s': expected a duration such "
		    "as 500ms, 10s, 2m or 1h", name, esc(e, v));
	if (ms < min || ms > max) {
		if (min == 0)
			return nfail(p, v, "invalid %s '%s': must be at most "
			    "1h", name, esc(e, v));
		return nfail(p, v, "invalid %s '%s': must be between %llums "
		    "and 1h", name, esc(e, v), (unsigned long long)min);
	}
	*out = ms;
	return 0;
}

/* Bytes, or a number with K, M or G (powers of 1024), up to max. */
static int
want_size(struct sp *p, const char *name, const struct node *v,
    uint64_t max, uint64_t *out)
{
	char		 e[ESC_MAX], digits[32];
	const char	*why;
	uint64_t	 u = 0, mul = 1;
	size_t		 n = v->len;

	if (want_scalar(p, name, v) == -1)
		return -1;
	if (n > 0) {
		switch (v->val[n - 1]) {
		case 'K': case 'k': mul = 1ULL << 10; n--; break;
		case 'M': case 'm': mul = 1ULL << 20; n--; break;
		case 'G': case 'g': mul = 1ULL << 30; n--; break;
		}
	}
	if (n == 0 || n >= sizeof digits)
		return nfail(p, v, "invalid %s '%s': expected bytes or a size "
		    "such as 512K, 256M or 2G", name, esc(e, v));
	memcpy(digits, v->val, n);
	digits[n] = '\0';
	if ((why = parse_uint(digits, &u)) != NULL)
		return nfail(p, v, "invalid %s '%s': expected bytes or a size "
		    "such as 512K, 256M or 2G", name, esc(e, v));
	if (u > max / mul)
		return nfail(p, v, "invalid %s '%s': larger than %lluG",
		    name, esc(e, v), (unsigned long long)(max >> 30));
	*out = u * mul;
	return 0;
}

static int
want_bool(struct sp *p, const char *name, const struct node *v, int *out)
{
	static const char	*yaml11[] = {
		"yes", "no", "on", "off", "y", "n", "true", "false",
	};
	char			 e[ESC_MAX];
	size_t			 i;

	if (want_scalar(p, name, v) == -1)
		return -1;
	if (strcmp(v->val, "true") == 0 || strcmp(v->val, "false") == 0) {
		*out = v->val[0] == 't';
		return 0;
	}
	for (i = 0; i < sizeof yaml11 / sizeof yaml11[0]; i++)
		if (strcasecmp(v->val, yaml11[i]) == 0)
			return nfail(p, v, "invalid %s '%s': write true or "
			    "false (yes, no, on and off are not booleans here)",
			    name, esc(e, v));
	return nfail(p, v, "invalid %s '%s': expected true or false", name,
	    esc(e, v));
}

/*
 * A mapping read through a table of its keys. A field says which kinds of
 * site it applies to; fn reads the value.
 */
#define K_CONTAINER	0x1
#define K_STATIC	0x2
#define K_ANY		(K_CONTAINER | K_STATIC)

struct field {
	const char	*name;
	int		 kinds;
	int		(*fn)(struct sp *, const struct node *key,
			    const struct node *val);
};

static const struct field *
field_find(const struct field *tab, size_t n, const struct node *key)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strlen(tab[i].name) == key->len &&
		    memcmp(tab[i].name, key->val, key->len) == 0)
			return &tab[i];
	return NULL;
}

/* The field of tab nearest to key, within 2 edits, or NULL. */
static const char *
nearest_field(const struct field *tab, size_t n, const char *key)
{
	const char	*best = NULL;
	size_t		 i;
	int		 d, bestd = 3;

	for (i = 0; i < n; i++)
		if ((d = word_distance(key, tab[i].name)) < bestd) {
			bestd = d;
			best = tab[i].name;
		}
	return best;
}

static int
walk_map(struct sp *p, const char *name, const struct node *map,
    const struct field *tab, size_t ntab)
{
	const struct field	*f;
	const struct node	*k, *v;
	size_t			 i;
	char			 e[ESC_MAX];
	int			 kind;

	kind = p->s->kind == KIND_STATIC ? K_STATIC : K_CONTAINER;
	for (i = 0; i + 1 < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		if ((f = field_find(tab, ntab, k)) == NULL) {
			const char	*near = nearest_field(tab, ntab, esc(e, k));
			char		 dym[64] = "";

			if (near != NULL)
				snprintf(dym, sizeof dym, "; did you mean '%s'?",
				    near);
			if (name == NULL)
				return nfail(p, k, "unknown key '%s'%s",
				    esc(e, k), dym);
			return nfail(p, k, "unknown key '%s' in '%s'%s",
			    esc(e, k), name, dym);
		}
		if ((f->kinds & kind) == 0) {
			if (kind == K_STATIC)
				return nfail(p, k, "key '%s' does not apply "
				    "to static sites", f->name);
			return nfail(p, k, "key '%s' applies only to static "
			    "sites (kind: static)", f->name);
		}
		if (f->fn(p, k, v) == -1)
			return -1;
	}
	return 0;
}

/*
 * The keys of a spec.
 */

static int
f_site(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_valid(p, "site", "site name", v, check_site_name,
	    p->s->site, sizeof p->s->site);
}

static int
f_kind(struct sp *p, const struct node *k, const struct node *v)
{
	char	e[ESC_MAX];

	(void)k;
	if (want_scalar(p, "kind", v) == -1)
		return -1;
	if (strcmp(v->val, "container") == 0)
		p->s->kind = KIND_CONTAINER;
	else if (strcmp(v->val, "static") == 0)
		p->s->kind = KIND_STATIC;
	else
		return nfail(p, v, "invalid kind '%s': must be container or "
		    "static", esc(e, v));
	return 0;
}

static int
f_image(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_valid(p, "image", "image reference", v, check_image_ref,
	    p->s->image, sizeof p->s->image);
}

/* A directory on the controller, kept as written (relative or not). */
static const char *
check_root(const char *s)
{
	size_t	i;

	if (*s == '\0')
		return "empty";
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "control characters (newlines, tabs, ...) are "
			    "not allowed";
	if (i >= PATH_MAX_TUG)
		return "too long";
	return NULL;
}

static int
f_root(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_valid(p, "root", "root", v, check_root, p->s->root,
	    sizeof p->s->root);
}

static int
f_hosts(struct sp *p, const struct node *k, const struct node *v)
{
	const struct node	*d;
	size_t			 i;

	if (p->group != NULL)
		return nfail(p, k, "give either 'hosts' or 'group', not both");
	p->hosts = k;
	if (want_list(p, "hosts", v, HOSTS_MAX) == -1)
		return -1;
	if (v->nkids == 0)
		return nfail(p, v, "'hosts' must list at least one host");
	for (i = 0; i < v->nkids; i++)
		if (want_valid(p, "hosts", "host name", v->kids[i],
		    check_host_name, NULL, 0) == -1)
			return -1;
	if ((d = list_dup(v)) != NULL) {
		char	e[ESC_MAX];

		return nfail(p, d, "duplicate host '%s'", esc(e, d));
	}
	p->s->hosts = list_dup_strv(v);
	p->s->nhosts = v->nkids;
	return 0;
}

static int
f_group(struct sp *p, const struct node *k, const struct node *v)
{
	if (p->hosts != NULL)
		return nfail(p, k, "give either 'hosts' or 'group', not both");
	p->group = k;
	return want_valid(p, "group", "group name", v, check_group_name,
	    p->s->group, sizeof p->s->group);
}

/* Is path a file directly in a directory called site? */
static int
in_site_dir(const char *path, const char *site)
{
	const char	*slash = strrchr(path, '/'), *dir;
	size_t		 n = strlen(site);

	if (slash == NULL || slash == path)
		return 0;
	for (dir = slash - 1; dir > path && dir[-1] != '/'; dir--)
		;
	return (size_t)(slash - dir) == n && strncmp(dir, site, n) == 0;
}

static int
f_domains(struct sp *p, const struct node *k, const struct node *v)
{
	const struct node	*d;
	size_t			 i;
	char			 e[ESC_MAX];

	(void)k;
	if (want_list(p, "domains", v, DOMAINS_MAX) == -1)
		return -1;
	if (v->nkids == 0)
		return nfail(p, v, "'domains' must list at least one domain");
	for (i = 0; i < v->nkids; i++)
		if (want_valid(p, "domains", "domain", v->kids[i],
		    check_domain, NULL, 0) == -1)
			return -1;
	if ((d = list_dup(v)) != NULL)
		return nfail(p, d, "duplicate domain '%s'", esc(e, d));
	for (i = 0; i < v->nkids; i++)
		if (strncasecmp(v->kids[i]->val, PROBE_LABEL ".",
		    sizeof PROBE_LABEL) == 0)
			return nfail(p, v->kids[i], "domain '%s' is reserved: "
			    "tug confirms proxy switches with the name "
			    PROBE_LABEL ".DOMAIN", esc(e, v->kids[i]));
	p->s->domains = list_dup_strv(v);
	p->s->ndomains = v->nkids;
	return 0;
}

static int
f_port(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_unsigned(p, "port", v, 1, 65535, &p->s->port);
}

static int
f_env(struct sp *p, const struct node *k, const struct node *v)
{
	const struct node	*ek, *ev;
	struct site_spec	*s = p->s;
	size_t			 i, n;
	char			 name[ENV_KEY_MAX + 8], w[ESC_MAX + 2];

	(void)k;
	if (want_map(p, "env", v) == -1)
		return -1;
	n = v->nkids / 2;
	if (n > ENV_MAX)
		return nfail(p, v->kids[2 * ENV_MAX], "'env' has more than %d "
		    "variables", ENV_MAX);
	for (i = 0; i < n; i++) {
		ek = v->kids[2 * i];
		ev = v->kids[2 * i + 1];
		if (want_valid(p, "env", "env key", ek, check_env_key, NULL,
		    0) == -1)
			return -1;
		snprintf(name, sizeof name, "env.%s", ek->val);
		if (ev->type != N_SCALAR)
			return nfail(p, ev, "'%s' must be a single value, not "
			    "%s", name, what(w, ev));
		if (ev->null)
			return nfail(p, ev, "'%s' has no value (write "
			    "%s: \"\" for an empty string)", name, ek->val);
		if (ev->len > ENV_VALUE_MAX)
			return nfail(p, ev, "'%s' is longer than %d bytes",
			    name, ENV_VALUE_MAX);
	}
	s->env = xcalloc(n + 1, sizeof *s->env);
	for (i = 0; i < n; i++) {
		s->env[i].key = xstrdup(v->kids[2 * i]->val);
		s->env[i].val = xstrdup(v->kids[2 * i + 1]->val);
	}
	s->nenv = n;
	return 0;
}

static int
f_secrets(struct sp *p, const struct node *k, const struct node *v)
{
	const struct node	*d;
	size_t			 i;
	char			 e[ESC_MAX];

	(void)k;
	if (want_list(p, "secrets", v, SECRETS_MAX) == -1)
		return -1;
	for (i = 0; i < v->nkids; i++)
		if (want_valid(p, "secrets", "secret name", v->kids[i],
		    check_env_key, NULL, 0) == -1)
			return -1;
	if ((d = list_dup(v)) != NULL)
		return nfail(p, d, "duplicate secret '%s'", esc(e, d));
	p->secrets = v;
	p->s->secrets = list_dup_strv(v);
	p->s->nsecrets = v->nkids;
	return 0;
}

static int
f_volumes(struct sp *p, const struct node *k, const struct node *v)
{
	struct volume_spec	*vs;
	const char		*why;
	size_t			 i, j;
	char			 e[ESC_MAX], e2[ESC_MAX];
	int			 r = 0;

	(void)k;
	if (want_list(p, "volumes", v, VOLUMES_MAX) == -1)
		return -1;
	vs = xcalloc(v->nkids + 1, sizeof *vs);
	for (i = 0; i < v->nkids && r == 0; i++) {
		const struct node *it = v->kids[i];

		if (it->len > VOLUME_SPEC_MAX) {
			r = nfail(p, it, "invalid volume '%s': longer than %d "
			    "bytes", esc(e, it), VOLUME_SPEC_MAX);
			break;
		}
		if ((why = parse_volume_spec(it->val, &vs[i])) != NULL) {
			r = nfail(p, it, "invalid volume '%s': %s", esc(e, it),
			    why);
			break;
		}
		for (j = 0; j < i; j++)
			if (strcmp(vs[j].target, vs[i].target) == 0) {
				r = nfail(p, it, "invalid volume '%s': '%s' is "
				    "already mounted", esc(e, it),
				    log_escape(e2, sizeof e2, vs[i].target,
				    strlen(vs[i].target)));
				break;
			}
	}
	free(vs);
	if (r == -1)
		return -1;
	p->s->volumes = list_dup_strv(v);
	p->s->nvolumes = v->nkids;
	return 0;
}

/* cpus: digits with an optional fraction, 0.01 ... 1024. */
static int
r_cpus(struct sp *p, const struct node *k, const struct node *v)
{
	const char	*q;
	char		 e[ESC_MAX];
	double		 ip = 0, fp = 0, scale = 1;
	int		 dot = 0, nd = 0;

	(void)k;
	if (want_scalar(p, "resources.cpus", v) == -1)
		return -1;
	for (q = v->val; *q != '\0'; q++) {
		if (*q == '.' && !dot && nd > 0) {
			dot = 1;
			nd = 0;
			continue;
		}
		if (*q < '0' || *q > '9' || ++nd > 8)
			break;
		if (dot) {
			fp = fp * 10 + (*q - '0');
			scale *= 10;
		} else
			ip = ip * 10 + (*q - '0');
	}
	if (*q != '\0' || nd == 0)
		return nfail(p, v, "invalid resources.cpus '%s': expected a "
		    "number such as 0.5 or 2", esc(e, v));
	ip += fp / scale;
	if (ip < 0.01 || ip > 1024)
		return nfail(p, v, "invalid resources.cpus '%s': must be "
		    "between 0.01 and 1024", esc(e, v));
	p->s->cpus = ip;
	return 0;
}

static int
r_memory(struct sp *p, const struct node *k, const struct node *v)
{
	char	e[ESC_MAX];

	(void)k;
	if (want_size(p, "resources.memory", v, MEMORY_MAX,
	    &p->s->memory) == -1)
		return -1;
	if (p->s->memory < MEMORY_MIN)
		return nfail(p, v, "invalid resources.memory '%s': must be at "
		    "least 6M", esc(e, v));
	return 0;
}

static int
r_pids(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_uint(p, "resources.pids", v, PIDS_MIN, PIDS_MAX,
	    &p->s->pids);
}

static const struct field resource_fields[] = {
	{ "cpus", K_ANY, r_cpus },
	{ "memory", K_ANY, r_memory },
	{ "pids", K_ANY, r_pids },
};

static int
f_resources(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	if (want_map(p, "resources", v) == -1)
		return -1;
	return walk_map(p, "resources", v, resource_fields,
	    sizeof resource_fields / sizeof resource_fields[0]);
}

/* What the agent probes: '/' then URL characters only. */
static const char *
check_health_path(const char *s)
{
	size_t	i;

	if (s[0] != '/')
		return "must start with '/'";
	if (strlen(s) > 255)
		return "longer than 255 bytes";
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("/._~-?=&%+", c) != NULL))
			return "only letters, digits and / . _ ~ - ? = & % + "
			    "allowed";
	}
	return NULL;
}

static int
h_path(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_valid(p, "health.path", "health.path", v,
	    check_health_path, p->s->health_path, sizeof p->s->health_path);
}

static int
h_interval(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_duration(p, "health.interval", v, 100, HOUR_MS,
	    &p->s->health_interval_ms);
}

static int
h_timeout(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_duration(p, "health.timeout", v, 100, HOUR_MS,
	    &p->s->health_timeout_ms);
}

static int
h_retries(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_uint(p, "health.retries", v, 1, 10000,
	    &p->s->health_retries);
}

static int
h_start_period(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_duration(p, "health.start_period", v, 0, HOUR_MS,
	    &p->s->health_start_ms);
}

static int
h_cmd(struct sp *p, const struct node *k, const struct node *v)
{
	size_t	i;

	(void)k;
	if (v->type == N_SCALAR && !v->null)
		return nfail(p, v, "'health.cmd' must be a list of arguments "
		    "(no shell runs it), e.g. [curl, -fsS, http://localhost/up]");
	if (want_list(p, "health.cmd", v, HEALTH_CMD_MAX) == -1)
		return -1;
	for (i = 0; i < v->nkids; i++)
		if (v->kids[i]->len > HEALTH_CMD_ARG_MAX)
			return nfail(p, v->kids[i], "an item of 'health.cmd' "
			    "is longer than %d bytes", HEALTH_CMD_ARG_MAX);
	p->s->health_cmd = list_dup_strv(v);
	p->s->nhealth_cmd = v->nkids;
	return 0;
}

static const struct field health_fields[] = {
	{ "path", K_ANY, h_path },
	{ "interval", K_ANY, h_interval },
	{ "timeout", K_ANY, h_timeout },
	{ "retries", K_ANY, h_retries },
	{ "start_period", K_ANY, h_start_period },
	{ "cmd", K_ANY, h_cmd },
};

static int
f_health(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	if (want_map(p, "health", v) == -1)
		return -1;
	return walk_map(p, "health", v, health_fields,
	    sizeof health_fields / sizeof health_fields[0]);
}

static int
d_batch(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_unsigned(p, "deploy.batch", v, 1, BATCH_MAX,
	    &p->s->batch);
}

static int
d_max_failures(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_unsigned(p, "deploy.max_failures", v, 0, HOSTS_MAX,
	    &p->s->max_failures);
}

static int
d_drain(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_duration(p, "deploy.drain", v, 0, HOUR_MS,
	    &p->s->drain_ms);
}

static int
d_keep(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_unsigned(p, "deploy.keep", v, 1, KEEP_MAX, &p->s->keep);
}

static const struct field deploy_fields[] = {
	{ "batch", K_ANY, d_batch },
	{ "max_failures", K_ANY, d_max_failures },
	{ "drain", K_ANY, d_drain },
	{ "keep", K_ANY, d_keep },
};

static int
f_deploy(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	if (want_map(p, "deploy", v) == -1)
		return -1;
	return walk_map(p, "deploy", v, deploy_fields,
	    sizeof deploy_fields / sizeof deploy_fields[0]);
}

static int
t_cert(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_valid(p, "tls.cert", "tls.cert path", v, check_abs_path,
	    p->s->tls_cert, sizeof p->s->tls_cert);
}

static int
t_key(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_valid(p, "tls.key", "tls.key path", v, check_abs_path,
	    p->s->tls_key, sizeof p->s->tls_key);
}

static int
t_hsts(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_bool(p, "tls.hsts", v, &p->s->hsts);
}

static const struct field tls_fields[] = {
	{ "cert", K_ANY, t_cert },
	{ "key", K_ANY, t_key },
	{ "hsts", K_ANY, t_hsts },
};

/*
 * tls: auto (the default: a certificate from the ACME CA where the host's
 * proxy has TLS), off, or {cert, key} files on the hosts; {hsts: true}
 * adds Strict-Transport-Security to auto.
 */
static int
f_tls(struct sp *p, const struct node *k, const struct node *v)
{
	char	e[ESC_MAX];

	(void)k;
	if (v->type == N_SCALAR) {
		if (strcmp(v->val, "auto") != 0 && strcmp(v->val, "off") != 0)
			return nfail(p, v, "invalid tls '%s': auto, off, or "
			    "{cert: FILE, key: FILE}", esc(e, v));
		snprintf(p->s->tls_mode, sizeof p->s->tls_mode, "%s", v->val);
		return 0;
	}
	if (want_map(p, "tls", v) == -1)
		return -1;
	if (walk_map(p, "tls", v, tls_fields,
	    sizeof tls_fields / sizeof tls_fields[0]) == -1)
		return -1;
	if (p->s->tls_cert[0] != '\0') {
		if (p->s->hsts)
			return nfail(p, v, "tls.hsts goes with automatic "
			    "certificates, not with tls.cert");
		snprintf(p->s->tls_mode, sizeof p->s->tls_mode, "files");
	}
	if (p->s->tls_cert[0] != '\0' && p->s->tls_key[0] == '\0')
		return nfail(p, v, "missing key 'key' in 'tls': give cert and "
		    "key together");
	if (p->s->tls_key[0] != '\0' && p->s->tls_cert[0] == '\0')
		return nfail(p, v, "missing key 'cert' in 'tls': give cert and "
		    "key together");
	return 0;
}

static int
f_max_body(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_size(p, "client_max_body_size", v, MAX_BODY_MAX,
	    &p->s->max_body);
}

static int
f_restart(struct sp *p, const struct node *k, const struct node *v)
{
	static const char	*ok[] = {
		"no", "always", "unless-stopped", "on-failure",
	};
	size_t			 i;
	char			 e[ESC_MAX];

	(void)k;
	if (want_scalar(p, "restart", v) == -1)
		return -1;
	for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (strcmp(v->val, ok[i]) == 0) {
			snprintf(p->s->restart, sizeof p->s->restart, "%s",
			    ok[i]);
			return 0;
		}
	/* A plain `no` is the string "no" here: booleans are true|false. */
	return nfail(p, v, "invalid restart '%s': must be no, always, "
	    "unless-stopped or on-failure", esc(e, v));
}

static int
f_read_only(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_bool(p, "read_only", v, &p->s->read_only);
}

static int
f_heal(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_bool(p, "heal", v, &p->s->heal);
}

static const char *
check_user(const char *s)
{
	if (strlen(s) > USER_MAX)
		return "longer than 64 bytes";
	return check_user_spec(s);
}

static int
f_user(struct sp *p, const struct node *k, const struct node *v)
{
	(void)k;
	return want_valid(p, "user", "user", v, check_user, p->s->user,
	    sizeof p->s->user);
}

static int
f_cap_drop(struct sp *p, const struct node *k, const struct node *v)
{
	const struct node	*d;
	size_t			 i;
	char			 e[ESC_MAX];

	(void)k;
	if (want_list(p, "cap_drop", v, CAPS_MAX) == -1)
		return -1;
	for (i = 0; i < v->nkids; i++)
		if (want_valid(p, "cap_drop", "capability", v->kids[i],
		    check_capability, NULL, 0) == -1)
			return -1;
	if ((d = list_dup(v)) != NULL)
		return nfail(p, d, "duplicate capability '%s'", esc(e, d));
	p->s->cap_drop = list_dup_strv(v);
	p->s->ncap_drop = v->nkids;
	return 0;
}

static int
f_stop_timeout(struct sp *p, const struct node *k, const struct node *v)
{
	char		e[ESC_MAX];
	uint64_t	ms;

	(void)k;
	if (want_duration(p, "stop_timeout", v, 0, HOUR_MS, &ms) == -1)
		return -1;
	if (ms % 1000 != 0)
		return nfail(p, v, "invalid stop_timeout '%s': must be whole "
		    "seconds", esc(e, v));
	p->s->stop_timeout_s = ms / 1000;
	return 0;
}

static const struct field top_fields[] = {
	{ "site", K_ANY, f_site },
	{ "kind", K_ANY, f_kind },
	{ "image", K_CONTAINER, f_image },
	{ "root", K_STATIC, f_root },
	{ "hosts", K_ANY, f_hosts },
	{ "group", K_ANY, f_group },
	{ "domains", K_ANY, f_domains },
	{ "port", K_CONTAINER, f_port },
	{ "env", K_CONTAINER, f_env },
	{ "secrets", K_CONTAINER, f_secrets },
	{ "volumes", K_CONTAINER, f_volumes },
	{ "resources", K_CONTAINER, f_resources },
	{ "health", K_CONTAINER, f_health },
	{ "deploy", K_ANY, f_deploy },
	{ "tls", K_ANY, f_tls },
	{ "client_max_body_size", K_ANY, f_max_body },
	{ "restart", K_CONTAINER, f_restart },
	{ "read_only", K_CONTAINER, f_read_only },
	{ "heal", K_CONTAINER, f_heal },
	{ "user", K_CONTAINER, f_user },
	{ "cap_drop", K_CONTAINER, f_cap_drop },
	{ "stop_timeout", K_CONTAINER, f_stop_timeout },
};

static void
defaults(struct site_spec *s)
{
	s->kind = KIND_CONTAINER;
	snprintf(s->health_path, sizeof s->health_path, "/");
	s->health_interval_ms = 1000;
	s->health_timeout_ms = 3000;
	s->health_retries = 30;
	s->batch = 1;
	s->keep = 3;
	snprintf(s->restart, sizeof s->restart, "unless-stopped");
	s->stop_timeout_s = 10;
	s->heal = 1;
}

/* What the keys say together, once each is valid on its own. */
static int
check_whole(struct sp *p, const struct node *top)
{
	struct site_spec	*s = p->s;
	const struct node	*it;
	size_t			 i, j;
	char			 e[ESC_MAX];

	if (s->site[0] == '\0')
		return nfail(p, top, "missing key 'site'");
	if (s->kind == KIND_CONTAINER && s->image[0] == '\0')
		return nfail(p, top, "missing key 'image'");
	if (s->kind == KIND_STATIC && s->root[0] == '\0')
		return nfail(p, top, "missing key 'root'");
	if (p->hosts == NULL && p->group == NULL)
		return nfail(p, top, "missing key 'hosts' or 'group'");
	if (s->ndomains == 0)
		return nfail(p, top, "missing key 'domains'");
	if (s->kind == KIND_CONTAINER && s->port == 0)
		return nfail(p, top, "missing key 'port'");
	if (s->tls_cert[0] != '\0' && (!in_site_dir(s->tls_cert, s->site) ||
	    !in_site_dir(s->tls_key, s->site)))
		return nfail(p, top, "tls.cert and tls.key must be files in a "
		    "directory named after the site (e.g. /etc/tug/tls/%s/"
		    "cert.pem): a site serves only its own certificate",
		    s->site);
	if (p->secrets == NULL)
		return 0;
	for (i = 0; i < p->secrets->nkids; i++) {
		it = p->secrets->kids[i];
		for (j = 0; j < s->nenv; j++)
			if (strcmp(it->val, s->env[j].key) == 0)
				return nfail(p, it, "'%s' is in both 'env' and "
				    "'secrets'", esc(e, it));
	}
	if (s->nenv + s->nsecrets > ENV_MAX)
		return nfail(p, p->secrets, "'env' and 'secrets' hold more "
		    "than %d variables together", ENV_MAX);
	return 0;
}

static int
check_top(struct sp *p, const struct node *top)
{
	const struct field	*f;
	char			 w[ESC_MAX + 2];
	size_t			 i;

	if (top == NULL)
		return fail(p, 1, 1, "the spec is empty");
	if (top->type != N_MAP)
		return nfail(p, top, "the spec must be a mapping of keys, not "
		    "%s", what(w, top));
	p->top = top;
	/* The kind decides which keys apply: read it first. */
	for (i = 0; i + 1 < top->nkids; i += 2)
		if (strcmp(top->kids[i]->val, "kind") == 0 &&
		    f_kind(p, top->kids[i], top->kids[i + 1]) == -1)
			return -1;
	f = top_fields;
	if (walk_map(p, NULL, top, f, sizeof top_fields / sizeof *f) == -1)
		return -1;
	return check_whole(p, top);
}

int
spec_parse(const char *file, const char *text, size_t len,
    struct site_spec *s, char *err, size_t errsz)
{
	struct sp	 p;
	struct node	*root = NULL;
	int		 r;

	memset(s, 0, sizeof *s);
	defaults(s);
	memset(&p, 0, sizeof p);
	p.err = err;
	p.errsz = errsz;
	p.s = s;
	if (file == NULL)
		file = "-";
	log_escape(p.file, sizeof p.file, file, strlen(file));
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (text == NULL)
		text = "";

	if (len > SPEC_MAX_BYTES)
		r = fail(&p, 1, 1, "the spec is larger than %d bytes",
		    SPEC_MAX_BYTES);
	else if ((r = build(&p, text, len, &root)) == 0)
		r = check_top(&p, root);
	node_free(root);
	if (r == -1)
		spec_free(s);
	return r;
}

static void
strv_free(char **sv, size_t n)
{
	size_t	i;

	if (sv == NULL)
		return;
	for (i = 0; i < n; i++)
		free(sv[i]);
	free(sv);
}

void
spec_free(struct site_spec *s)
{
	size_t	i;

	if (s == NULL)
		return;
	free(s->acme_root);
	s->acme_root = NULL;
	strv_free(s->hosts, s->nhosts);
	strv_free(s->domains, s->ndomains);
	strv_free(s->secrets, s->nsecrets);
	strv_free(s->volumes, s->nvolumes);
	strv_free(s->health_cmd, s->nhealth_cmd);
	strv_free(s->cap_drop, s->ncap_drop);
	if (s->env != NULL) {
		for (i = 0; i < s->nenv; i++) {
			free(s->env[i].key);
			free(s->env[i].val);
		}
		free(s->env);
	}
	memset(s, 0, sizeof *s);
}

/* key: an array of sv[0..n). */
void
enc_strv(struct enc *e, const char *key, char **sv, size_t n)
{
	size_t	i;

	enc_karr(e, key);
	for (i = 0; i < n; i++)
		enc_str(e, sv[i]);
	enc_close(e);
}

/* Is name among v[0..n)? */
int
strv_has(char **v, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return 1;
	return 0;
}

/* A named volume of the spec as it is called on the hosts. */
void
spec_volume_name(const struct site_spec *s, const char *name, char **legacy,
    size_t nlegacy, char *dst, size_t dstsz)
{
	if (strv_has(legacy, nlegacy, name))
		snprintf(dst, dstsz, "%s", name);
	else
		snprintf(dst, dstsz, "tug-%s_%s", s->site, name);
}

/*
 * The spec's volumes as the agent gets them: a named volume is the site's
 * own, tug-SITE_NAME on the hosts, unless it is one of the names a site
 * made before kept (legacy, sent too so that the agent checks them).
 */
static void
spec_volumes(const struct site_spec *s, char **legacy, size_t nlegacy,
    struct enc *e)
{
	struct volume_spec	v;
	char			name[PATH_MAX_TUG], out[2 * PATH_MAX_TUG + 8];
	size_t			i, nl = 0;

	enc_karr(e, "volumes");
	for (i = 0; i < s->nvolumes; i++) {
		if (parse_volume_spec(s->volumes[i], &v) != NULL || v.bind) {
			enc_str(e, s->volumes[i]);
			continue;
		}
		spec_volume_name(s, v.source, legacy, nlegacy, name,
		    sizeof name);
		nl += strcmp(name, v.source) == 0;
		snprintf(out, sizeof out, "%s:%s%s", name, v.target,
		    v.readonly ? ":ro" : "");
		enc_str(e, out);
	}
	enc_close(e);
	if (nl == 0)
		return;
	enc_karr(e, "legacy_volumes");
	for (i = 0; i < s->nvolumes; i++)
		if (parse_volume_spec(s->volumes[i], &v) == NULL && !v.bind &&
		    strv_has(legacy, nlegacy, v.source))
			enc_str(e, v.source);
	enc_close(e);
}

/*
 * The args of site.apply (docs/protocol.md §6.5), in a fixed order: the
 * agent hashes them to know whether a running container has this spec.
 * image and env are the release's, resolved by the caller; a NULL image
 * means the spec's.
 */
void
spec_apply_args(const struct site_spec *s, uint64_t release,
    const char *image, const struct kv *env, size_t nenv, char **legacy,
    size_t nlegacy, struct enc *e)
{
	size_t	i;

	enc_kstr(e, "site", s->site);
	enc_ku64(e, "release", release);
	enc_kstr(e, "image", image != NULL ? image : s->image);
	enc_ku64(e, "port", s->port);
	enc_kmap(e, "env");
	for (i = 0; i < nenv; i++)
		enc_kstr(e, env[i].key, env[i].val != NULL ? env[i].val : "");
	enc_close(e);
	spec_volumes(s, legacy, nlegacy, e);
	enc_kstr(e, "restart", s->restart[0] != '\0' ? s->restart :
	    "unless-stopped");
	if (s->cpus > 0) {
		enc_str(e, "cpus");
		enc_double(e, s->cpus);
	}
	if (s->memory != 0)
		enc_ku64(e, "memory", s->memory);
	if (s->pids != 0)
		enc_ku64(e, "pids", s->pids);
	enc_ku64(e, "stop_timeout", s->stop_timeout_s);
	enc_ku64(e, "drain_ms", s->drain_ms);

	spec_health_args(s, e);
	enc_kbool(e, "read_only", s->read_only);
	if (s->user[0] != '\0')
		enc_kstr(e, "user", s->user);
	if (s->ncap_drop > 0)
		enc_strv(e, "cap_drop", s->cap_drop, s->ncap_drop);

	spec_proxy_args(s, e);
}

/* The proxy map of site.apply and static.apply. */
/* The health check as the agent takes it (site.apply, site.start). */
void
spec_health_args(const struct site_spec *s, struct enc *e)
{
	enc_kmap(e, "health");
	enc_kstr(e, "path", s->health_path[0] != '\0' ? s->health_path : "/");
	enc_ku64(e, "interval_ms", s->health_interval_ms);
	enc_ku64(e, "timeout_ms", s->health_timeout_ms);
	enc_ku64(e, "retries", s->health_retries);
	enc_ku64(e, "start_period_ms", s->health_start_ms);
	if (s->nhealth_cmd > 0)
		enc_strv(e, "cmd", s->health_cmd, s->nhealth_cmd);
	enc_close(e);
}

void
spec_proxy_args(const struct site_spec *s, struct enc *e)
{
	enc_kmap(e, "proxy");
	enc_strv(e, "domains", s->domains, s->ndomains);
	if (s->tls_cert[0] != '\0') {
		enc_kstr(e, "tls_cert", s->tls_cert);
		enc_kstr(e, "tls_key", s->tls_key);
	} else if (strcmp(s->tls_mode, "off") == 0)
		enc_kstr(e, "tls", "off");
	else {
		enc_kstr(e, "tls", "auto");
		if (s->hsts)
			enc_kbool(e, "hsts", 1);
		/* The controller's ACME settings (site_open), when made. */
		if (s->acme_email[0] != '\0') {
			enc_kmap(e, "acme");
			enc_kstr(e, "ca", s->acme_ca);
			enc_kstr(e, "email", s->acme_email);
			if (s->acme_root != NULL)
				enc_kstr(e, "trust_root", s->acme_root);
			enc_close(e);
		}
	}
	if (s->max_body != 0)
		enc_ku64(e, "max_body", s->max_body);
	enc_close(e);
}

/* Does spec s lack kv, or hold another value for its key? */
static int
env_changed(const struct site_spec *s, const struct kv *kv)
{
	size_t	i;

	for (i = 0; i < s->nenv; i++)
		if (strcmp(s->env[i].key, kv->key) == 0)
			return strcmp(s->env[i].val, kv->val) != 0;
	return 1;
}

/* A spec as comparable lines: what dry-run diffs and status shows. */
void
spec_lines(const struct site_spec *s, struct buf *b, int masked,
    const struct site_spec *prev)
{
	size_t	i;

	buf_addf(b, "kind: %s\n", s->kind == KIND_STATIC ? "static" :
	    "container");
	if (s->kind == KIND_CONTAINER)
		buf_addf(b, "image: %s\nport: %u\n", s->image, s->port);
	else
		buf_addf(b, "root: %s\n", s->root);
	if (s->group[0] != '\0')
		buf_addf(b, "group: %s\n", s->group);
	for (i = 0; i < s->nhosts; i++)
		buf_addf(b, "host: %s\n", s->hosts[i]);
	for (i = 0; i < s->ndomains; i++)
		buf_addf(b, "domain: %s\n", s->domains[i]);
	for (i = 0; i < s->nenv; i++)
		if (!masked)
			buf_addf(b, "env %s: %s\n", s->env[i].key, s->env[i].val);
		else
			buf_addf(b, "env %s: ********%s\n", s->env[i].key,
			    prev != NULL && env_changed(prev, &s->env[i]) ?
			    " (changed)" : "");
	for (i = 0; i < s->nsecrets; i++)
		buf_addf(b, "secret: %s\n", s->secrets[i]);
	for (i = 0; i < s->nvolumes; i++)
		buf_addf(b, "volume: %s\n", s->volumes[i]);
	if (s->cpus > 0)
		buf_addf(b, "cpus: %g\n", s->cpus);
	if (s->memory > 0)
		buf_addf(b, "memory: %llu\n", (unsigned long long)s->memory);
	if (s->pids > 0)
		buf_addf(b, "pids: %llu\n", (unsigned long long)s->pids);
	buf_addf(b, "health: %s every %llu ms, timeout %llu ms, %llu "
	    "retries\n", s->health_path[0] ? s->health_path : "/",
	    (unsigned long long)s->health_interval_ms,
	    (unsigned long long)s->health_timeout_ms,
	    (unsigned long long)s->health_retries);
	buf_addf(b, "deploy: batch %u, max_failures %u, drain %llu ms, "
	    "keep %u\n", s->batch, s->max_failures,
	    (unsigned long long)s->drain_ms, s->keep);
	if (s->tls_cert[0] != '\0')
		buf_addf(b, "tls: %s %s\n", s->tls_cert, s->tls_key);
	if (s->max_body > 0)
		buf_addf(b, "client_max_body_size: %llu\n",
		    (unsigned long long)s->max_body);
	buf_addf(b, "restart: %s\n", s->restart);
	if (s->read_only)
		buf_addf(b, "read_only: true\n");
	if (s->user[0] != '\0')
		buf_addf(b, "user: %s\n", s->user);
	for (i = 0; i < s->ncap_drop; i++)
		buf_addf(b, "cap_drop: %s\n", s->cap_drop[i]);
}

int
has_line(const char *text, const char *line, size_t len)
{
	const char	*p, *nl;

	/* line is not cut at its end: compare a line of text at a time. */
	for (p = text; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if ((size_t)(nl - p) == len && memcmp(p, line, len) == 0)
			return 1;
		if (*nl == '\0')
			break;
	}
	return 0;
}
