/*
 * attr.h - the internal request/response protocol (ARCHITECTURE.md 3)
 *
 * A message is a list of "name=value" lines ending with an empty line.
 * Names are [A-Za-z0-9_.-]; values may hold any byte: '%', CR, LF, NUL
 * and other control bytes are sent as %XX. Readable with socat. Every
 * attribute and the whole message have a size limit on reading.
 */
#ifndef PETREL_ATTR_H
#define PETREL_ATTR_H

#include <stddef.h>

#include "str.h"
#include "stream.h"

struct attr_item {
    char *name;
    char *value; /* NUL-terminated; may contain NULs (see vlen) */
    size_t vlen;
};

struct attr_list {
    struct attr_item *items;
    size_t n, cap;
};

#define ATTR_LIST_INIT \
    {                  \
        NULL, 0, 0     \
    }

void attr_init(struct attr_list *l);
void attr_free(struct attr_list *l);
void attr_reset(struct attr_list *l);
void attr_add(struct attr_list *l, const char *name, const char *value);
void attr_addn(struct attr_list *l, const char *name, const void *value, size_t vlen);
void attr_addf(struct attr_list *l, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void attr_add_int(struct attr_list *l, const char *name, long long v);
/* attr_get - the first value of name, or NULL */
const char *attr_get(const struct attr_list *l, const char *name);
/* attr_get_int - the first value of name as an integer; -1 when missing or bad */
int attr_get_int(const struct attr_list *l, const char *name, long long *out);

/* attr_encode - the wire form, empty line included, appended to out */
void attr_encode(const struct attr_list *l, struct str *out);
/* attr_decode_line - parse one "name=value" line (without newline) into l; -1 if malformed */
int attr_decode_line(struct attr_list *l, const char *line, size_t len);
/* attr_write - send l on s and flush */
int attr_write(struct stream *s, const struct attr_list *l);
/* attr_read - read one message. STREAM_OK; STREAM_EOF (clean end before any
 * attribute); STREAM_ERR with err set for malformed or oversized input. */
int attr_read(struct stream *s, struct attr_list *l, size_t attr_limit, size_t total_limit,
              struct str *err);

#endif
