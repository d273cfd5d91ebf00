/*
 * stream.h - buffered I/O on descriptors with deadlines and optional TLS
 *
 * Every read or write operation has its own deadline (the stream timeout,
 * in seconds, from the start of the call). Lines are read with a hard
 * length limit: an overlong line is consumed through its newline and
 * reported as STREAM_TOOLONG, never split into two lines. TLS slots in
 * underneath at any moment (STARTTLS): buffered plaintext input is
 * discarded at the switch, so nothing pipelined before the handshake can
 * be mistaken for protected input (RFC 3207 4.2, RFC 2595 3.1).
 *
 * Errors are sticky: once a stream has failed, every later call fails the
 * same way. The descriptors are non-blocking underneath.
 */
#ifndef PETREL_STREAM_H
#define PETREL_STREAM_H

#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/types.h>

#include "str.h"

#define STREAM_OK 0
#define STREAM_EOF (-1)
#define STREAM_TIMEOUT (-2)
#define STREAM_ERR (-3)
#define STREAM_TOOLONG (-4)

struct stream;

/* stream_new - a stream reading rfd and writing wfd (often the same socket) */
struct stream *stream_new(int rfd, int wfd, int timeout);
/* stream_free - free the stream; close_fds also closes the descriptors */
void stream_free(struct stream *s, int close_fds);
void stream_set_timeout(struct stream *s, int timeout);
/* stream_set_stress - fd becomes readable while the server is overloaded (master's stress
 * signal, lib/global/server.h); meanwhile every operation, including one already waiting, ends
 * stress_timeout seconds after its start at the latest. fd -1 turns this off. */
void stream_set_stress(struct stream *s, int fd, int stress_timeout);
/* stream_stressed - the stress descriptor is readable now */
int stream_stressed(const struct stream *s);
/* stream_start_deadline - one deadline for a request made of many operations (a whole
 * DATA transfer): timeout seconds from now (the stress timeout when shorter and the server
 * is overloaded), pushed back by n / min_rate seconds whenever n bytes are read (min_rate
 * 0: not pushed back); until stream_stop_deadline. Each operation keeps its own timeout. */
void stream_start_deadline(struct stream *s, int timeout, int min_rate);
void stream_stop_deadline(struct stream *s);
int stream_rfd(const struct stream *s);
/* stream_error - the sticky error (STREAM_OK when none) */
int stream_error(const struct stream *s);
/* stream_strerror - text for a STREAM_ code */
const char *stream_strerror(int code);

/* stream_getline - the next line, newline included when present, in line.
 * STREAM_OK; STREAM_TOOLONG (line holds the first limit bytes, the rest up to
 * and including the newline was consumed); STREAM_EOF (nothing read);
 * STREAM_TIMEOUT; STREAM_ERR. A final line without newline is returned as is. */
int stream_getline(struct stream *s, struct str *line, size_t limit);
/* stream_getline_part - append at most limit bytes of the current line to out;
 * returns 1 when the newline was reached, 0 when limit was hit first or the
 * input ended without one, or a negative STREAM_ code when nothing was read */
int stream_getline_part(struct stream *s, struct str *out, size_t limit);
/* stream_read - read exactly n bytes; returns n, fewer at EOF, or a STREAM_ code */
ssize_t stream_read(struct stream *s, void *buf, size_t n);
/* stream_read_some - read 1..n bytes; a STREAM_ code on EOF/timeout/error */
ssize_t stream_read_some(struct stream *s, void *buf, size_t n);
/* stream_pending - input buffered and ready without blocking */
size_t stream_pending(struct stream *s);
/* stream_wait_input - 1 when input (or EOF) is ready within timeout_ms, 0 on timeout, <0 on
 * error; timeout_ms 0 looks without waiting */
int stream_wait_input(struct stream *s, int timeout_ms);

int stream_write(struct stream *s, const void *p, size_t n);
int stream_puts(struct stream *s, const char *text);
int stream_printf(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* stream_flush - write out everything buffered */
int stream_flush(struct stream *s);
/* stream_unflushed - bytes waiting in the output buffer */
size_t stream_unflushed(const struct stream *s);

/* stream_starttls - handshake as server (server=1) or client; discards buffered
 * input and returns how many bytes were discarded, or a STREAM_ code with err set */
long stream_starttls(struct stream *s, SSL_CTX *ctx, int server, const char *sni, struct str *err);
SSL *stream_ssl(const struct stream *s);

uint64_t stream_bytes_in(const struct stream *s);
uint64_t stream_bytes_out(const struct stream *s);

#endif
