/*
 * render-image.c: the text output of tug image push: each host's state,
 * then how much went over the wire and how long it took.
 */
#include <stdio.h>

#include "controller/cli/cli.h"

void
render_image_push(struct mv *v)
{
	size_t	n, i;
	char	ref[300], host[64], state[16], err[600];

	s_(v, "ref", ref, sizeof ref);
	mv_arr(v, "hosts", &n, 4096, 0);
	for (i = 0; i < n; i++) {
		struct mv	row;

		if (mv_arr_map(v, "hosts", i, &row) != 1)
			continue;
		printf("%s: %s", s_(&row, "host", host, sizeof host),
		    s_(&row, "state", state, sizeof state));
		if (mv_str(&row, "error", err, sizeof err, 0) == 1)
			printf(": %s", err);
		printf("\n");
	}
	printf("%s: %.1f MiB in %.1f s\n", ref,
	    (double)u_(v, "bytes") / (1 << 20),
	    (double)u_(v, "elapsed_ms") / 1000);
}
