/*
 * validate.h: the strict grammars for everything a user names. Each check
 * returns NULL when the string is valid, else a static reason that completes
 * "invalid site name 'x': <reason>".
 */
#ifndef TUG_VALIDATE_H
#define TUG_VALIDATE_H

#include <stddef.h>

#define SITE_NAME_MAX	40
#define DOMAIN_MAX	253
#define ENV_KEY_MAX	255
#define IMAGE_REF_MAX	255
#define VOLUME_NAME_MAX	64
#define PATH_MAX_TUG	1024
#define PIDS_MIN	16	/* resources.pids: fewer starts nothing */
#define PIDS_MAX	4194304	/* the kernel's pid_max */
#define DEPLOY_KEEP_MAX	100	/* deploy.keep: releases (and images) kept */

const char	*check_site_name(const char *);
const char	*check_domain(const char *);	/* RFC 1123, optional "*." */
const char	*check_env_key(const char *);
const char	*check_image_ref(const char *);	/* [host[:port]/]path[:tag][@digest] */
const char	*check_abs_path(const char *);	/* absolute, clean, no "..", no odd bytes */
const char	*check_volume_name(const char *);
const char	*check_user_spec(const char *);	/* name|uid[:group|gid] */
const char	*check_capability(const char *);
const char	*check_file_name(const char *);	/* one plain component */
const char	*check_email(const char *);	/* local@domain, plain */
const char	*check_url(const char *);	/* http(s)://, plain characters */
int		 path_is_under(const char *path, const char *root);
int		 word_distance(const char *, const char *);	/* edits */

/*
 * A volume spec is "NAME:/container/path[:ro]" (a named volume) or
 * "/host/path:/container/path[:ro]" (a bind mount, which the caller must
 * check against its allowed roots). Parsed into caller-sized buffers.
 */
struct volume_spec {
	char	source[PATH_MAX_TUG];
	char	target[PATH_MAX_TUG];
	int	bind;
	int	readonly;
};
const char	*parse_volume_spec(const char *, struct volume_spec *);

#endif
