/*
 * unit.h: a tiny TAP-style harness for the C unit tests: each check prints
 * "ok N - what" or "not ok N - what", and unit_done() returns the exit code.
 */
#ifndef TUG_UNIT_H
#define TUG_UNIT_H

int	unit_check(int cond, const char *file, int line, const char *what);
int	unit_done(void);

#define CHECK(cond) unit_check(!!(cond), __FILE__, __LINE__, #cond)

#endif
