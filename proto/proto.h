/*
 * proto.h: the whole tug wire protocol, shared by tug, tugd and tug-agent.
 * docs/protocol.md is the prose version of this file; change both together
 * and bump PROTO_VERSION whenever a message changes.
 *
 *   frame   = length:u32 big-endian | flags:u8 | payload[length]
 *   flags   = bit0: payload is zlib-deflated; other bits must be zero
 *   payload = msgpack array [type:uint, id:uint, body:map]
 *
 * Body maps have string keys. A frame decodes completely or it is an error.
 */
#ifndef TUG_PROTO_H
#define TUG_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define PROTO_VERSION		2
#define TUG_VERSION		"0.1.0"
#define AGENT_SENTINEL		"TUG-AGENT 1 READY\n"

#define FRAME_HDR		5
#define FRAME_MAX		(1u << 20)	/* payload on the wire */
#define FRAME_INFLATE_MAX	(1u << 20)	/* payload after inflating */
#define FRAME_ZLIB		0x01
#define FRAME_FLAGS_KNOWN	FRAME_ZLIB

#define MSG_KEY_MAX		256	/* bytes in a map key (env keys: 255) */
#define MSG_MAP_MAX		4096	/* entries in any one map */
#define MSG_ARRAY_MAX		65536	/* elements in any one array */
#define MSG_DEPTH_MAX		8	/* nesting of maps and arrays in a body */
#define MSG_ERRLEN		256

/*
 * Message types. The schema of each body:
 *
 * HELLO    {proto:uint, version:str, role:"agent"|"controller"|"cli",
 *           caps:[str], facts?:map,          first frame each way, id 0;
 *           controller?:str}                 the controller's id (32 hex),
 *                                            required towards an agent
 * ERROR    {code:str, message:str}           a frame or request refused; id
 *                                            is the request's, or 0
 * PING     {}                                answered by PONG, same id
 * PONG     {}
 * REQUEST  {op:str, args:map}                starts job <id>
 * EVENT    {kind:str, ...}                   progress|log|data of job <id>
 * RESULT   {ok:true, value:any} | {ok:false, error:{code:str, message:str}}
 *                                            ends job <id>
 * CANCEL   {}                                asks job <id> to stop
 * DATA     {seq:uint, bytes:bin, eof:bool}   bulk input for job <id>
 *
 * A request ends with exactly one frame carrying its id: ERROR when it was
 * refused before anything ran (malformed, unknown op, invalid args, busy),
 * RESULT when it ran (ok or not).
 */
enum msg_type {
	MSG_HELLO = 1,
	MSG_ERROR,
	MSG_PING,
	MSG_PONG,
	MSG_REQUEST,
	MSG_EVENT,
	MSG_RESULT,
	MSG_CANCEL,
	MSG_DATA,
	MSG_TYPE_MAX = MSG_DATA
};

/* Error codes, as the strings on the wire. Append only. */
#define E_BAD_FRAME	"bad_frame"	/* framing broken; the peer closes */
#define E_TOO_LARGE	"too_large"	/* over a cap */
#define E_BAD_MESSAGE	"bad_message"	/* frame ok, payload malformed */
#define E_NOT_READY	"not_ready"	/* anything before HELLO */
#define E_VERSION	"version"	/* incompatible protocol */
#define E_UNKNOWN_OP	"unknown_op"
#define E_BAD_ARGS	"bad_args"
#define E_BUSY		"busy"
#define E_DUPLICATE_ID	"duplicate_id"
#define E_NOT_FOUND	"not_found"
#define E_DOCKER	"docker"
#define E_HEALTH	"health"
#define E_CANCELLED	"cancelled"
#define E_TIMEOUT	"timeout"
#define E_IO		"io"
#define E_INTERNAL	"internal"
#define E_PROXY		"proxy"		/* the proxy refused or did not switch */
#define E_BAD_ARCHIVE	"bad_archive"	/* a tar stream was refused */
#define E_WRONG_CONTROLLER "wrong_controller" /* host has another controller */
#define E_NOT_OWNER	"not_owner"	/* a Docker object of another owner */

const char	*msg_type_name(unsigned int);	/* "?" when unknown */

/*
 * Decoding. A struct msg owns its memory; release it with msg_release().
 * Accessors go through a struct mv, a view of one map, and return
 * 1 (present and valid), 0 (absent and not required) or -1 (error, with a
 * message such as "args.site: expected a string" in the shared err buffer).
 */
struct msg {
	unsigned int	 type;
	uint64_t	 id;
	size_t		 size;		/* payload bytes after inflating */
	void		*priv;		/* msgpack_unpacked + inflated copy */
	const void	*body;		/* msgpack_object of type map */
};

struct mv {
	const void	*obj;		/* msgpack_object map */
	char		*err;		/* MSG_ERRLEN bytes */
	char		 path[64];	/* prefix for error messages */
};

#define MV_REQ	0x1		/* absence is an error */

/* Parse a header: 0 ok, -1 err filled (length over cap, unknown flags). */
int	 frame_header(const uint8_t hdr[FRAME_HDR], uint32_t *len,
	    uint8_t *flags, char *err);
/* Decode one payload: 0 ok (m owns it), -1 err filled (m empty). */
int	 msg_decode(struct msg *, uint8_t flags, const void *payload,
	    size_t len, char *err);
void	 msg_release(struct msg *);
void	 msg_body(const struct msg *, struct mv *, char *err, const char *path);

int	 mv_present(const struct mv *, const char *key);
int	 mv_str(struct mv *, const char *key, char *dst, size_t dstsz, int);
int	 mv_strdup(struct mv *, const char *key, char **out, size_t max, int);
int	 mv_bin(struct mv *, const char *key, const void **p, size_t *len,
	    size_t max, int);
int	 mv_u64(struct mv *, const char *key, uint64_t *, int);
int	 mv_i64(struct mv *, const char *key, int64_t *, int);
int	 mv_num(struct mv *, const char *key, double *, int);
int	 mv_bool(struct mv *, const char *key, int *, int);
int	 mv_map(struct mv *, const char *key, struct mv *out, int);
/* Arrays: mv_arr gives the count; items are read by index. */
int	 mv_arr(struct mv *, const char *key, size_t *n, size_t maxn, int);
int	 mv_arr_str(struct mv *, const char *key, size_t i, char *dst,
	    size_t dstsz);
int	 mv_arr_strdup(struct mv *, const char *key, size_t i, char **out,
	    size_t max);
int	 mv_arr_bin(struct mv *, const char *key, size_t i, const void **p,
	    size_t *len);		/* bin or str item, borrowed */
int	 mv_arr_map(struct mv *, const char *key, size_t i, struct mv *out);
/* Maps of string to string (env, labels): entry i as NUL-free strings. */
size_t	 mv_count(const struct mv *);
int	 mv_entry_str(struct mv *, size_t i, char *key, size_t keysz,
	    char **val, size_t valmax);
int	 mv_error(struct mv *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Render a decoded value as JSON (for tools, --json and traces). */
int	 msg_to_json(const struct msg *, struct buf *);
int	 msg_body_json(const struct msg *, struct buf *);
int	 mv_json(const struct mv *, const char *key, struct buf *);	/* "null" if absent */

/*
 * Encoding. enc_begin() starts [type, id, {...}] and leaves the body map
 * open; keys and values are appended in pairs; maps and arrays nest with
 * *_open/_close (their counts are patched in on close). enc_finish() closes
 * the body and produces a complete frame in out, deflated when asked and
 * when that makes it smaller. Errors (cap exceeded, unbalanced nesting) are
 * sticky and reported by enc_finish().
 */
struct enc {
	struct buf	 b;
	int		 err;
	int		 depth;
	size_t		 at[MSG_DEPTH_MAX + 2];
	uint32_t	 count[MSG_DEPTH_MAX + 2];
	uint8_t		 ismap[MSG_DEPTH_MAX + 2];
};

void	 enc_begin(struct enc *, unsigned int type, uint64_t id);
void	 enc_release(struct enc *);
void	 enc_str(struct enc *, const char *);
void	 enc_strn(struct enc *, const void *, size_t);
void	 enc_bin(struct enc *, const void *, size_t);
void	 enc_u64(struct enc *, uint64_t);
void	 enc_i64(struct enc *, int64_t);
void	 enc_double(struct enc *, double);
void	 enc_bool(struct enc *, int);
void	 enc_nil(struct enc *);
void	 enc_map_open(struct enc *);
void	 enc_arr_open(struct enc *);
void	 enc_close(struct enc *);
/* Copy a decoded value (e.g. request args) into the message. */
void	 enc_obj(struct enc *, const void *msgpack_object);
size_t	 enc_size(const struct enc *);
int	 enc_finish(struct enc *, int deflate, struct buf *out, char *err);

/* Shorthands for one key and its value. */
void	 enc_kstr(struct enc *, const char *k, const char *v);
void	 enc_ku64(struct enc *, const char *k, uint64_t v);
void	 enc_ki64(struct enc *, const char *k, int64_t v);
void	 enc_kbool(struct enc *, const char *k, int v);
void	 enc_kmap(struct enc *, const char *k);
void	 enc_karr(struct enc *, const char *k);

/* Whole messages that every peer sends. */
int	 frame_error(struct buf *out, uint64_t id, const char *code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int	 frame_empty(struct buf *out, unsigned int type, uint64_t id);

/*
 * Streams of frames over a pair of file descriptors. conn_read() blocks for
 * one frame: 1 a message, 0 clean EOF at a frame boundary, -1 the stream is
 * broken (truncated, over the cap, bad flags, I/O error: the caller answers
 * ERROR and closes), -2 the frame was whole but its payload was malformed
 * (the caller answers ERROR and may go on). err says what happened.
 */
struct conn {
	int		 rfd;
	int		 wfd;
	const char	*name;		/* for TUG_TRACE_FRAMES */
	int		 trace;
	uint64_t	 bytes_in;
	uint64_t	 bytes_out;
};

void	 conn_init(struct conn *, int rfd, int wfd, const char *name);
int	 conn_read(struct conn *, struct msg *, char *err);
int	 conn_write(struct conn *, const struct buf *frame);
/*
 * Parse one frame from the front of a stream buffer (for transports that
 * are not plain fds, like an SSH channel): 1 m filled and its bytes
 * consumed, 0 more bytes needed, -1 the stream is broken, -2 the frame was
 * whole but its payload malformed (consumed).
 */
int	 frame_parse(struct buf *in, struct msg *, char *err);
/* Read a sentinel line (at most maxbytes of noise before it): 0 or -1. */
int	 conn_skip_to_sentinel(struct conn *, const char *line,
	    size_t maxbytes, int timeout_ms, char *err);

#endif
