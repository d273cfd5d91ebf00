/*
 * mime.c - the RFC 5322 / MIME parser: the part tree and its regions
 *
 * One forward pass over the message, line by line. A cursor (position
 * plus the count of LFs and bare LFs before it) moves only forward, so
 * the virtual size and line count of every region come from two cursor
 * snapshots, without a second pass over the bytes. Multipart boundaries
 * of every enclosing level are looked for on every line (innermost
 * first): a boundary of an outer level ends all inner parts at once,
 * which is how a missing close delimiter is survived (RFC 2046 5.1.1
 * requires the delimiters of nested multiparts to differ, so this cannot
 * steal a line that belongs to an inner part of a valid message).
 */
#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "mime.h"
#include "mime_impl.h"

#define POOL_BLOCK 8192

struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct mime_pool {
    struct pool_block *head;
};

struct mime_pool *mime_pool_new(void)
{
    return xcalloc(1, sizeof(struct mime_pool));
}

void mime_pool_free(struct mime_pool *pool)
{
    if (pool == NULL)
        return;
    for (struct pool_block *b = pool->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(pool);
}

void *mime_pool_alloc(struct mime_pool *pool, size_t n)
{
    size_t a = alignof(max_align_t);
    n = (n + a - 1) / a * a;
    struct pool_block *b = pool->head;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > POOL_BLOCK / 2 ? n : POOL_BLOCK;
        struct pool_block *nb = xmalloc(sizeof(*nb) + cap);
        nb->used = 0;
        nb->cap = cap;
        if (b != NULL && n > POOL_BLOCK / 2) {
            /* a big one-off: keep filling the current block afterwards */
            nb->next = b->next;
            b->next = nb;
            b = nb;
        } else {
            nb->next = b;
            pool->head = b = nb;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *mime_pool_strndup(struct mime_pool *pool, const char *s, size_t n)
{
    char *p = mime_pool_alloc(pool, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* the parser ---------------------------------------------------------------- */

struct boundary {
    const char *s;
    size_t len;
};

struct cursor {
    size_t pos;  /* start of the next line */
    size_t lf;   /* LFs before pos */
    size_t bare; /* LFs without CR before pos */
};

/* why a part ended: at a boundary line (level in the stack) or at the end (-1) */
struct stop {
    int level;
    int close;
};

struct parser {
    struct mime_message *m;
    const char *d;
    size_t n;
    unsigned max_depth, max_parts;
    struct boundary *stack;
    unsigned nb;
    struct cursor cur;
};

/* line_peek - the line at the cursor: where its content ends (CR LF excluded) and
 * where the next line starts */
static void line_peek(const struct parser *ps, size_t *cend, size_t *next)
{
    const char *start = ps->d + ps->cur.pos;
    const char *nl = memchr(start, '\n', ps->n - ps->cur.pos);

    if (nl == NULL) {
        *cend = *next = ps->n;
        return;
    }
    *next = (size_t)(nl - ps->d) + 1;
    *cend = (size_t)(nl - ps->d);
    if (*cend > ps->cur.pos && ps->d[*cend - 1] == '\r')
        (*cend)--;
}

/* line_advance - move the cursor to the next line */
static void line_advance(struct parser *ps, size_t next)
{
    if (next > ps->cur.pos && ps->d[next - 1] == '\n') {
        ps->cur.lf++;
        if (next < 2 || next - 1 == ps->cur.pos || ps->d[next - 2] != '\r')
            ps->cur.bare++;
    }
    ps->cur.pos = next;
}

/* boundary_match - the stack level whose delimiter the line [pos, cend) is, or -1
 * (RFC 2046 5.1.1: "--" boundary, then "--" for the close delimiter, or transport
 * padding) */
static int boundary_match(const struct parser *ps, size_t pos, size_t cend, int *close)
{
    const char *d = ps->d;

    if (ps->nb == 0 || cend - pos < 3 || d[pos] != '-' || d[pos + 1] != '-')
        return -1;
    for (unsigned i = ps->nb; i-- > 0;) {
        const struct boundary *b = &ps->stack[i];
        if (cend - pos - 2 < b->len || memcmp(d + pos + 2, b->s, b->len) != 0)
            continue;
        size_t q = pos + 2 + b->len;
        if (q + 2 <= cend && d[q] == '-' && d[q + 1] == '-') {
            *close = 1;
            return (int)i;
        }
        while (q < cend && (d[q] == ' ' || d[q] == '\t'))
            q++;
        if (q == cend) {
            *close = 0;
            return (int)i;
        }
    }
    return -1;
}

/* scan_to_boundary - advance to the next delimiter line of any level (not consumed)
 * or to the end */
static void scan_to_boundary(struct parser *ps, struct stop *st)
{
    size_t cend, next;

    st->level = -1;
    st->close = 0;
    if (ps->nb == 0) {
        /* nothing can end the part but the end: count the lines in one sweep */
        while (ps->cur.pos < ps->n) {
            line_peek(ps, &cend, &next);
            line_advance(ps, next);
        }
        return;
    }
    while (ps->cur.pos < ps->n) {
        line_peek(ps, &cend, &next);
        int lvl = boundary_match(ps, ps->cur.pos, cend, &st->close);
        if (lvl >= 0) {
            st->level = lvl;
            return;
        }
        line_advance(ps, next);
    }
}

/* region_set - r spans from cursor snapshot a to the cursor; with before_eol, the line
 * end just before the cursor (it belongs to a boundary, RFC 2046 5.1.1) is left out */
static void region_set(const struct parser *ps, struct mime_region *r, const struct cursor *a,
                       int before_eol)
{
    size_t end = ps->cur.pos, lf = ps->cur.lf, bare = ps->cur.bare;

    if (before_eol && end > a->pos && ps->d[end - 1] == '\n') {
        int crlf = end - 1 > a->pos && ps->d[end - 2] == '\r';
        end -= crlf ? 2 : 1;
        lf--;
        if (!crlf)
            bare--;
    }
    r->off = a->pos;
    r->size = end - a->pos;
    r->vsize = r->size + (bare - a->bare);
    r->lines = (lf - a->lf) + (r->size > 0 && ps->d[end - 1] != '\n');
}

static struct mime_part *new_part(struct parser *ps, struct mime_part *parent)
{
    struct mime_part *p = mime_pool_alloc(ps->m->pool, sizeof(*p));

    p->parent = parent;
    p->depth = parent ? parent->depth + 1 : 0;
    ps->m->nparts++;
    if (parent != NULL) {
        if (parent->last_child)
            parent->last_child->next = p;
        else
            parent->children = p;
        parent->last_child = p;
        parent->nchildren++;
    }
    return p;
}

/* field_is - whether a field's name is name (case-insensitive) */
static int field_is(const struct mime_field *f, const char *name)
{
    return strlen(name) == f->name_len && strncasecmp(f->name, name, f->name_len) == 0;
}

/* first_token - the first word of an unfolded value (Content-Transfer-Encoding) */
static const char *first_token(struct mime_pool *pool, const char *v, size_t n)
{
    size_t pos = 0;
    const char *tok;
    size_t len = mime_token(v, n, &pos, &tok);

    return len ? mime_pool_strndup(pool, tok, len) : NULL;
}

static enum mime_enc encoding_of(const char *e)
{
    if (e == NULL || strcasecmp(e, "7bit") == 0)
        return MIME_ENC_7BIT;
    if (strcasecmp(e, "8bit") == 0)
        return MIME_ENC_8BIT;
    if (strcasecmp(e, "binary") == 0)
        return MIME_ENC_BINARY;
    if (strcasecmp(e, "quoted-printable") == 0)
        return MIME_ENC_QP;
    if (strcasecmp(e, "base64") == 0)
        return MIME_ENC_BASE64;
    return MIME_ENC_OTHER;
}

/* content_field - store one Content-* field (the first of each name wins) */
static void content_field(struct mime_pool *pool, struct mime_part *p, const struct mime_field *f,
                          struct str *v)
{
    str_reset(v);
    mime_unfold(f->value, f->value_len, v);
    if (field_is(f, "Content-Type")) {
        if (p->type == NULL && mime_content_type(pool, v->s ? v->s : "", v->len, &p->type,
                                                 &p->subtype, &p->params, &p->nparams) < 0)
            p->type = ""; /* unusable: marks "seen" until the default is set */
    } else if (field_is(f, "Content-Transfer-Encoding")) {
        if (p->encoding == NULL)
            p->encoding = first_token(pool, str_c(v), v->len);
    } else if (field_is(f, "Content-ID")) {
        if (p->id == NULL)
            p->id = mime_pool_strndup(pool, str_c(v), v->len);
    } else if (field_is(f, "Content-Description")) {
        if (p->description == NULL)
            p->description = mime_pool_strndup(pool, str_c(v), v->len);
    } else if (field_is(f, "Content-MD5")) {
        if (p->md5 == NULL)
            p->md5 = mime_pool_strndup(pool, str_c(v), v->len);
    } else if (field_is(f, "Content-Language")) {
        if (p->language == NULL)
            p->language = mime_pool_strndup(pool, str_c(v), v->len);
    } else if (field_is(f, "Content-Location")) {
        if (p->location == NULL)
            p->location = mime_pool_strndup(pool, str_c(v), v->len);
    } else if (field_is(f, "Content-Disposition")) {
        size_t pos = 0;
        const char *tok;
        size_t len = mime_token(str_c(v), v->len, &pos, &tok);
        if (p->disposition == NULL && len > 0) {
            p->disposition = mime_pool_strndup(pool, tok, len);
            mime_parse_params(pool, str_c(v), v->len, pos, &p->dparams, &p->ndparams);
        }
    }
}

/* content_fields - the Content-* fields of p's header, with RFC 2045/2046 defaults */
static void content_fields(struct parser *ps, struct mime_part *p)
{
    struct mime_field f;
    struct str v = STR_INIT;
    size_t pos = 0;

    while (mime_field_next(ps->d, &p->hdr, &pos, &f))
        if (f.name_len > 8 && strncasecmp(f.name, "Content-", 8) == 0)
            content_field(ps->m->pool, p, &f, &v);
    str_free(&v);
    if (p->type == NULL || *p->type == '\0') {
        /* RFC 2046 5.1.5: parts of a digest default to message/rfc822 */
        const struct mime_part *parent = p->parent;
        p->flags |= MIME_PART_DEFAULT_TYPE;
        p->params = NULL;
        p->nparams = 0;
        if (parent && (parent->flags & MIME_PART_MULTIPART) &&
            strcasecmp(parent->subtype, "digest") == 0) {
            p->type = "MESSAGE";
            p->subtype = "RFC822";
        } else {
            /* RFC 2045 5.2 */
            p->type = "TEXT";
            p->subtype = "PLAIN";
            p->params = mime_pool_alloc(ps->m->pool, sizeof(struct mime_param));
            p->params[0].name = "CHARSET";
            p->params[0].value = "US-ASCII";
            p->nparams = 1;
        }
    }
    p->enc = encoding_of(p->encoding);
}

static void parse_entity(struct parser *ps, struct mime_part *part, struct stop *st);

/* parse_multipart - the body parts of a multipart whose body starts at the cursor */
static void parse_multipart(struct parser *ps, struct mime_part *part, const char *bnd,
                            struct stop *st)
{
    unsigned level = ps->nb;
    size_t cend, next;

    ps->stack[ps->nb].s = bnd;
    ps->stack[ps->nb].len = strlen(bnd);
    ps->nb++;
    scan_to_boundary(ps, st); /* the preamble */
    while (st->level == (int)level) {
        line_peek(ps, &cend, &next);
        line_advance(ps, next);
        if (st->close) {
            ps->nb = level;
            scan_to_boundary(ps, st); /* the epilogue */
            return;
        }
        if (ps->m->nparts >= ps->max_parts) {
            ps->m->flags |= MIME_MSG_LIMITED;
            scan_to_boundary(ps, st);
            continue;
        }
        parse_entity(ps, new_part(ps, part), st);
    }
    part->flags |= MIME_PART_NO_END;
    ps->nb = level;
}

/* parse_entity - header and body of one entity starting at the cursor; on return the
 * cursor is at the delimiter line that ended it (st->level >= 0) or at the end */
static void parse_entity(struct parser *ps, struct mime_part *part, struct stop *st)
{
    struct cursor start = ps->cur;
    size_t cend, next;
    int blank = 0;

    st->level = -1;
    st->close = 0;
    while (ps->cur.pos < ps->n) {
        line_peek(ps, &cend, &next);
        if (cend == ps->cur.pos && next > cend) {
            line_advance(ps, next);
            blank = 1;
            break;
        }
        int lvl = boundary_match(ps, ps->cur.pos, cend, &st->close);
        if (lvl >= 0) {
            st->level = lvl;
            break;
        }
        line_advance(ps, next);
    }
    region_set(ps, &part->hdr, &start, 0);
    if (!blank)
        part->flags |= MIME_PART_NOBLANK;
    content_fields(ps, part);

    struct cursor body = ps->cur;
    int container = part->depth < ps->max_depth;
    if (!blank) {
        /* the header ran into a delimiter or the end: the body is empty */
    } else if (container && strcasecmp(part->type, "multipart") == 0) {
        const char *bnd = mime_param_get(part->params, part->nparams, "boundary");
        size_t blen = bnd ? strlen(bnd) : 0;
        if (blen > 0 && blen <= 200) {
            part->flags |= MIME_PART_MULTIPART;
            parse_multipart(ps, part, bnd, st);
        } else {
            part->flags |= MIME_PART_BAD_BOUNDARY;
            scan_to_boundary(ps, st);
        }
    } else if (container && mime_is_type(part, "message", "rfc822") &&
               ps->m->nparts < ps->max_parts) {
        /* parsed whatever its transfer encoding claims (RFC 2046 5.2.1 allows only
         * identity encodings), so that BODYSTRUCTURE always has its envelope */
        struct mime_part *msg = new_part(ps, part);
        part->flags |= MIME_PART_RFC822;
        msg->flags |= MIME_PART_MESSAGE;
        parse_entity(ps, msg, st);
    } else {
        if (!container || ps->m->nparts >= ps->max_parts)
            if (strcasecmp(part->type, "multipart") == 0 || strcasecmp(part->type, "message") == 0)
                ps->m->flags |= MIME_MSG_LIMITED;
        scan_to_boundary(ps, st);
    }
    region_set(ps, &part->body, &body, st->level >= 0);
}

struct mime_message *mime_parse(const void *data, size_t size, const struct mime_limits *lim)
{
    struct mime_message *m = xcalloc(1, sizeof(*m));
    struct parser ps;
    struct stop st;

    m->data = data ? data : "";
    m->size = data ? size : 0;
    m->pool = mime_pool_new();
    memset(&ps, 0, sizeof(ps));
    ps.m = m;
    ps.d = m->data;
    ps.n = m->size;
    ps.max_depth = lim && lim->max_depth ? lim->max_depth : MIME_DEFAULT_DEPTH;
    ps.max_parts = lim && lim->max_parts ? lim->max_parts : MIME_DEFAULT_PARTS;
    ps.stack = xcalloc(ps.max_depth + 1, sizeof(struct boundary));
    m->root = new_part(&ps, NULL);
    m->root->flags |= MIME_PART_MESSAGE;
    parse_entity(&ps, m->root, &st);
    free(ps.stack);
    return m;
}

/* header_end - the length of the top-level header, its blank line included (the whole
 * input when there is none); reads only as far as that */
static size_t header_end(const char *d, size_t n)
{
    const char *p = d, *end = d + n;

    if (n > 0 && d[0] == '\n')
        return 1;
    if (n > 1 && d[0] == '\r' && d[1] == '\n')
        return 2;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        p++;
        if (p < end && *p == '\n')
            return (size_t)(p + 1 - d);
        if (end - p > 1 && p[0] == '\r' && p[1] == '\n')
            return (size_t)(p + 2 - d);
    }
    return n;
}

/* read_all - read the size bytes of fd into buf; the count read (less only if the file
 * shrank), -1 on errors */
static ssize_t read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* open_map - read or map fd and parse all of it, or only its top-level header. A file of
 * up to MIME_READ_MAX bytes is read into memory: for small files one copy costs less
 * than a mapping's page faults and unmapping (its TLB flush); bigger ones are mapped. */
static struct mime_message *open_map(int fd, int header_only, const struct mime_limits *lim,
                                     struct str *err)
{
    struct stat sb;
    void *map = NULL;
    size_t size;
    int heap = 0;

    if (fstat(fd, &sb) < 0) {
        str_printf(err, "fstat: %s", strerror(errno));
        return NULL;
    }
    size = (size_t)sb.st_size;
    if (size > 0 && size <= MIME_READ_MAX) {
        ssize_t n;
        map = xmalloc(size);
        if ((n = read_all(fd, map, size)) < 0) {
            str_printf(err, "read: %s", strerror(errno));
            free(map);
            return NULL;
        }
        size = (size_t)n;
        heap = 1;
    } else if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            str_printf(err, "mmap: %s", strerror(errno));
            return NULL;
        }
        if (!header_only)
            (void)madvise(map, size, MADV_SEQUENTIAL);
    }
    struct mime_message *m =
        mime_parse(map, header_only && map ? header_end(map, size) : size, lim);
    m->map = map;
    m->map_size = size;
    m->map_heap = heap;
    return m;
}

struct mime_message *mime_open_fd(int fd, const struct mime_limits *lim, struct str *err)
{
    return open_map(fd, 0, lim, err);
}

struct mime_message *mime_open_fd_header(int fd, const struct mime_limits *lim, struct str *err)
{
    return open_map(fd, 1, lim, err);
}

struct mime_message *mime_open_file(const char *path, const struct mime_limits *lim,
                                    struct str *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        str_printf(err, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct mime_message *m = mime_open_fd(fd, lim, err);
    close(fd);
    return m;
}

void mime_free(struct mime_message *m)
{
    if (m == NULL)
        return;
    if (m->map_heap)
        free(m->map);
    else if (m->map)
        munmap(m->map, m->map_size);
    mime_pool_free(m->pool);
    free(m);
}

int mime_is_type(const struct mime_part *p, const char *type, const char *subtype)
{
    return strcasecmp(p->type, type) == 0 &&
           (subtype == NULL || strcasecmp(p->subtype, subtype) == 0);
}

/* header fields ------------------------------------------------------------- */

int mime_field_next(const char *data, const struct mime_region *hdr, size_t *pos,
                    struct mime_field *f)
{
    const char *d = data + hdr->off;
    size_t n = hdr->size;

    while (*pos < n) {
        size_t start = *pos;
        const char *nl = memchr(d + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - d) + 1 : n;
        /* continuation lines: white space after a line end */
        while (end < n && (d[end] == ' ' || d[end] == '\t')) {
            nl = memchr(d + end, '\n', n - end);
            end = nl ? (size_t)(nl - d) + 1 : n;
        }
        *pos = end;
        if (d[start] == ' ' || d[start] == '\t' || d[start] == '\r' || d[start] == '\n')
            continue; /* a stray continuation or the blank line */
        const char *colon = memchr(d + start, ':', end - start);
        if (colon == NULL)
            continue;
        size_t name_end = (size_t)(colon - d);
        /* RFC 5322 obs-optional: white space before the colon */
        while (name_end > start && (d[name_end - 1] == ' ' || d[name_end - 1] == '\t'))
            name_end--;
        int ok = name_end > start;
        for (size_t i = start; i < name_end && ok; i++)
            if ((unsigned char)d[i] <= 32 || (unsigned char)d[i] >= 127)
                ok = 0;
        if (!ok)
            continue;
        size_t vend = end;
        if (vend > start && d[vend - 1] == '\n')
            vend--;
        if (vend > start && d[vend - 1] == '\r')
            vend--;
        f->name = d + start;
        f->name_len = name_end - start;
        f->value = colon + 1;
        f->value_len = vend - (size_t)(colon + 1 - d);
        f->off = hdr->off + start;
        f->size = end - start;
        return 1;
    }
    return 0;
}

int mime_header_get(const struct mime_message *m, const struct mime_part *p, const char *name,
                    struct str *out)
{
    struct mime_field f;
    size_t pos = 0;

    while (mime_field_next(m->data, &p->hdr, &pos, &f)) {
        if (field_is(&f, name)) {
            mime_unfold(f.value, f.value_len, out);
            return 1;
        }
    }
    return 0;
}

void mime_unfold(const char *v, size_t n, struct str *out)
{
    size_t start = out->len;

    while (n > 0 && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
        v++, n--;
    str_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\0')
            continue;
        if (v[i] == '\r' && i + 1 < n && v[i + 1] == '\n')
            continue;
        if (v[i] == '\n')
            continue;
        str_catc(out, v[i]);
    }
    while (out->len > start && (out->s[out->len - 1] == ' ' || out->s[out->len - 1] == '\t' ||
                                out->s[out->len - 1] == '\r'))
        out->len--;
    str_truncate(out, out->len);
}

/* virtual form ------------------------------------------------------------- */

/* count_lf - the LFs among the n bytes at p (16 at a time where SSE2 is there: a
 * message's lines are short, so a memchr per line costs more than this) */
static size_t count_lf(const char *p, size_t n)
{
    size_t k = 0;
    size_t i = 0;

#if defined(__SSE2__) && defined(__x86_64__)
    const __m128i lf = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    while (n - i >= 16) {
        /* up to 255 rounds into byte counters (a match is -1), then summed into k */
        __m128i acc = zero;
        size_t rounds = (n - i) / 16 > 255 ? 255 : (n - i) / 16;
        for (size_t r = 0; r < rounds; r++, i += 16)
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), lf));
        __m128i sum = _mm_sad_epu8(acc, zero);
        k += (size_t)_mm_cvtsi128_si64(sum) +
             (size_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
    }
#endif
    for (; i < n; i++)
        k += p[i] == '\n';
    return k;
}

size_t mime_vsize(const char *p, size_t n)
{
    size_t v = n;
    const char *e = p + n, *q = p;

    if (n == 0)
        return 0;
    if (memchr(p, '\r', n) == NULL) /* no CR (the usual stored form): every LF is bare */
        return n + count_lf(p, n);
    while ((q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
        if (q == p || q[-1] != '\r')
            v++;
        q++;
    }
    return v;
}

/* emit - pass on the part of [p, p+n) that lies inside the window of the virtual form */
struct window {
    size_t vpos, skip, max;
    void (*write)(void *ctx, const void *p, size_t n);
    void *ctx;
};

static void emit(struct window *w, const char *p, size_t n)
{
    if (w->vpos + n <= w->skip) {
        w->vpos += n;
        return;
    }
    if (w->vpos < w->skip) {
        size_t cut = w->skip - w->vpos;
        p += cut;
        n -= cut;
        w->vpos += cut;
    }
    if (n > w->max)
        n = w->max;
    if (n > 0)
        w->write(w->ctx, p, n);
    w->vpos += n;
    w->max -= n;
}

void mime_write_crlf(const char *p, size_t n, size_t skip, size_t max,
                     void (*write)(void *ctx, const void *p, size_t n), void *ctx)
{
    struct window w = {0, skip, max, write, ctx};
    const char *q = p, *end = p + n, *nul = NULL;
    char buf[32768];
    size_t bl = 0;

    /* runs up to the next LF or NUL go into buf, which is passed on when full:
     * one write per 32 KiB instead of two per line */
    while (q < end && w.max > 0) {
        if (nul == NULL || nul < q) /* NULs are rare: look for the next one once */
            nul = memchr(q, '\0', (size_t)(end - q));
        if (nul == NULL)
            nul = end;
        const char *lf = memchr(q, '\n', (size_t)(end - q));
        const char *stop = lf && lf < nul ? lf : nul;
        size_t run = (size_t)(stop - q);
        if (bl + run + 2 > sizeof(buf)) {
            emit(&w, buf, bl);
            bl = 0;
            if (run + 2 > sizeof(buf)) { /* a very long line: straight through */
                emit(&w, q, run);
                run = 0;
                q = stop;
            }
        }
        memcpy(buf + bl, q, run);
        bl += run;
        if (stop == end)
            break;
        if (*stop == '\0')
            buf[bl++] = (char)0x80;
        else if (stop > p && stop[-1] == '\r') /* CRLF already */
            buf[bl++] = '\n';
        else {
            buf[bl++] = '\r';
            buf[bl++] = '\n';
        }
        q = stop + 1;
    }
    if (bl > 0)
        emit(&w, buf, bl);
}
