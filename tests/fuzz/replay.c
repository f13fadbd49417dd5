/*
 * replay.c: runs a fuzz target over every file of its corpus without
 * libFuzzer, so that `make test` replays the corpus under plain gcc and
 * under the sanitizers; and checks each file's verdict (the target's
 * fuzz_verdict: "accepted: ..." or "refused: ERROR") against the corpus's
 * expectations, a file of lines "NAME<TAB>EXPECTED":
 *
 *	accepted		any acceptance
 *	accepted: 3 files	exactly this one
 *	refused: TEXT		a refusal whose error holds TEXT
 *
 * A corpus file without an expectation, or an expectation without its
 * file, is a failure too. One "ok" line per file.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fs.h"

#define EXPECT_MAX	512

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
void	fuzz_verdict(const uint8_t *, size_t, char *, size_t);

struct expect {
	char	name[256];
	char	want[400];
	int	seen;
};

static int
expect_load(const char *path, struct expect *ex, size_t *n)
{
	struct buf	 b = BUF_INIT;
	char		*line, *save = NULL, *tab;

	*n = 0;
	if (fs_read_file(path, &b, 1 << 20) == -1) {
		printf("not ok 1 - cannot read %s\n", path);
		return -1;
	}
	if (b.len == 0)
		return 0;
	for (line = strtok_r(b.ptr, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if ((tab = strchr(line, '\t')) == NULL || *n == EXPECT_MAX) {
			printf("not ok 1 - %s: bad line '%s'\n", path, line);
			buf_release(&b);
			return -1;
		}
		*tab = '\0';
		snprintf(ex[*n].name, sizeof ex[*n].name, "%s", line);
		snprintf(ex[*n].want, sizeof ex[*n].want, "%s", tab + 1);
		ex[(*n)++].seen = 0;
	}
	buf_release(&b);
	return 0;
}

static int
verdict_ok(const char *want, const char *got)
{
	if (strcmp(want, "accepted") == 0)
		return strncmp(got, "accepted", 8) == 0;
	if (strncmp(want, "refused: ", 9) == 0)
		return strncmp(got, "refused: ", 9) == 0 &&
		    strstr(got + 9, want + 9) != NULL;
	return strcmp(want, got) == 0;
}

int
main(int argc, char **argv)
{
	static struct expect	 ex[EXPECT_MAX];
	DIR			*d;
	struct dirent		*de;
	char			 path[4096], got[1024];
	size_t			 nex = 0, i;
	int			 n = 0, bad = 0;

	if (argc != 3 || (d = opendir(argv[1])) == NULL) {
		fprintf(stderr, "usage: replay CORPUS-DIR EXPECTATIONS\n");
		return 2;
	}
	if (expect_load(argv[2], ex, &nex) == -1) {
		closedir(d);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		struct buf	b = BUF_INIT;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
		if (fs_read_file(path, &b, 16 << 20) == -1) {
			printf("not ok %d - read %s\n", ++n, de->d_name);
			bad++;
			continue;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)b.ptr, b.len);
		fuzz_verdict((const uint8_t *)b.ptr, b.len, got, sizeof got);
		buf_release(&b);
		for (i = 0; i < nex && strcmp(ex[i].name, de->d_name); i++)
			;
		if (i == nex) {
			printf("not ok %d - %s has no expected verdict in %s "
			    "(it gives '%s')\n", ++n, de->d_name, argv[2], got);
			bad++;
		} else if (ex[i].seen++, !verdict_ok(ex[i].want, got)) {
			printf("not ok %d - %s: expected '%s', got '%s'\n", ++n,
			    de->d_name, ex[i].want, got);
			bad++;
		} else
			printf("ok %d - %s: %s\n", ++n, de->d_name, got);
	}
	closedir(d);
	for (i = 0; i < nex; i++)
		if (!ex[i].seen) {
			printf("not ok %d - %s expects %s, which is not in "
			    "the corpus\n", ++n, argv[2], ex[i].name);
			bad++;
		}
	if (n == 0) {
		printf("not ok 1 - empty corpus %s\n", argv[1]);
		return 1;
	}
	return bad != 0;
}
