/*
 * rbac.c: the one function that decides whether a user may do something
 * (DESIGN §5). Every request passes through it before anything runs.
 * Until grants exist (users and grants are a later issue), the rule is:
 * an admin may do everything, anyone else nothing.
 */
#include "controller/tug.h"

int
rbac_allowed(const char *user, const char *action, const char *scope)
{
	(void)action;
	(void)scope;
	return user_is_admin(user) == 1;
}
