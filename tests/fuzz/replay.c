/*
 * replay.c: runs a fuzz target over every file of its corpus without
 * libFuzzer, so that `make test` replays the corpus under plain gcc and
 * under the sanitizers. One "ok" line per file.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/fs.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
main(int argc, char **argv)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[4096];
	int		 n = 0, bad = 0;

	if (argc != 2 || (d = opendir(argv[1])) == NULL) {
		fprintf(stderr, "usage: replay CORPUS-DIR\n");
		return 2;
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
		buf_release(&b);
		printf("ok %d - replay %s\n", ++n, de->d_name);
	}
	closedir(d);
	if (n == 0) {
		printf("not ok 1 - empty corpus %s\n", argv[1]);
		return 1;
	}
	return bad != 0;
}
