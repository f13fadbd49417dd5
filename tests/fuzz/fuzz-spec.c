/*
 * fuzz-spec.c: libFuzzer target over the site spec parser. Any bytes go to
 * spec_parse(); an accepted spec is encoded as site.apply args and the frame
 * finished and decoded, as tugd would send it. Nothing may crash, leak, read out of
 * bounds or leave an error that is not "FILE:LINE:COL: ...".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/tug.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
void	fuzz_verdict(const uint8_t *, size_t, char *, size_t);

/* For the corpus replay: what the parser says of the input. */
void
fuzz_verdict(const uint8_t *data, size_t size, char *out, size_t outsz)
{
	struct site_spec	s;
	char			err[512];

	if (spec_parse("fuzz.yml", (const char *)data, size, &s, err,
	    sizeof err) == -1)
		snprintf(out, outsz, "refused: %s", err);
	else
		snprintf(out, outsz, "accepted: site %s", s.site);
	spec_free(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct site_spec	 s;
	struct enc		 e;
	struct buf		 f = BUF_INIT;
	struct msg		 m;
	char			 err[512];
	uint32_t		 len;
	uint8_t			 flags;

	if (spec_parse("fuzz.yml", (const char *)data, size, &s, err,
	    sizeof err) == -1) {
		if (strncmp(err, "fuzz.yml:", 9) != 0 ||
		    strchr(err, '\n') != NULL)
			abort();
		spec_free(&s);
		return 0;
	}
	if (s.site[0] == '\0' || s.ndomains == 0 ||
	    (s.kind == KIND_CONTAINER && (s.port == 0 || s.image[0] == '\0')))
		abort();
	enc_begin(&e, MSG_REQUEST, 1);
	enc_kstr(&e, "op", "site.apply");
	enc_kmap(&e, "args");
	spec_apply_args(&s, 1, NULL, s.env, s.nenv, NULL, 0, &e);
	enc_close(&e);
	if (enc_finish(&e, 1, &f, err) == -1)
		abort();	/* a spec fits in a frame */
	if (frame_header((const uint8_t *)f.ptr, &len, &flags, err) == -1 ||
	    msg_decode(&m, flags, f.ptr + FRAME_HDR, len, err) == -1)
		abort();
	msg_release(&m);
	buf_release(&f);
	enc_release(&e);
	spec_free(&s);
	return 0;
}
