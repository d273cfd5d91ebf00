/*
 * imap_body.c - IMAP views of a parsed message: ENVELOPE, BODYSTRUCTURE, sections
 *
 * See imap_body.h. Formats follow RFC 3501 7.4.2 and the grammar of
 * section 9; where the RFC leaves a choice (a multipart without body
 * parts, the case of default values, a missing domain) the choice is
 * Dovecot's, which clients are used to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "imap_body.h"
#include "imap_write.h"
#include "mem.h"
#include "mime.h"

/* RFC 3501 needs at least one part in a multipart: Dovecot's stand-in for none */
#define EMPTY_BODY "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)"
#define EMPTY_BODY_EXT \
    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)"
#define EMPTY_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

/* ENVELOPE ------------------------------------------------------------------ */

enum {
    E_DATE,
    E_SUBJECT,
    E_FROM,
    E_SENDER,
    E_REPLY_TO,
    E_TO,
    E_CC,
    E_BCC,
    E_IN_REPLY_TO,
    E_MESSAGE_ID,
    E_COUNT
};
static const char *const env_fields[E_COUNT] = {"Date",        "Subject",   "From", "Sender",
                                                "Reply-To",    "To",        "Cc",   "Bcc",
                                                "In-Reply-To", "Message-ID"};

/* write_addresses - "(" 1*address ")" or NIL; returns the number of addresses */
static size_t write_addresses(const char *v, size_t n, struct str *out)
{
    struct mime_addrlist l = {NULL, 0, 0};

    if (v != NULL)
        mime_parse_addresses(v, n, &l);
    if (l.n == 0) {
        str_cat(out, "NIL");
        return 0;
    }
    str_catc(out, '(');
    for (size_t i = 0; i < l.n; i++) {
        const struct mime_addr *a = &l.v[i];
        str_catc(out, '(');
        imap_append_cnstring(out, a->name);
        str_catc(out, ' ');
        imap_append_cnstring(out, a->route);
        str_catc(out, ' ');
        imap_append_cnstring(out, a->mailbox);
        str_catc(out, ' ');
        imap_append_cnstring(out, a->host);
        str_catc(out, ')');
    }
    str_catc(out, ')');
    size_t count = l.n;
    mime_addrlist_free(&l);
    return count;
}

void imap_envelope(const struct mime_message *m, const struct mime_part *msg, struct str *out)
{
    struct str val[E_COUNT];
    int have[E_COUNT] = {0};
    struct mime_field f;
    size_t pos = 0;

    for (int i = 0; i < E_COUNT; i++)
        str_init(&val[i]);
    while (mime_field_next(m->data, &msg->hdr, &pos, &f)) {
        for (int i = 0; i < E_COUNT; i++) {
            if (!have[i] && strlen(env_fields[i]) == f.name_len &&
                strncasecmp(f.name, env_fields[i], f.name_len) == 0) {
                mime_unfold(f.value, f.value_len, &val[i]);
                have[i] = 1;
            }
        }
    }
    str_catc(out, '(');
    imap_append_nstring(out, have[E_DATE] ? str_c(&val[E_DATE]) : NULL, val[E_DATE].len);
    str_catc(out, ' ');
    imap_append_nstring(out, have[E_SUBJECT] ? str_c(&val[E_SUBJECT]) : NULL, val[E_SUBJECT].len);
    str_catc(out, ' ');
    size_t from_at = out->len;
    write_addresses(have[E_FROM] ? str_c(&val[E_FROM]) : NULL, val[E_FROM].len, out);
    struct str from = STR_INIT;
    str_catn(&from, out->s + from_at, out->len - from_at);
    /* RFC 3501 7.4.2: an absent or empty Sender or Reply-To is the From */
    for (int i = E_SENDER; i <= E_REPLY_TO; i++) {
        str_catc(out, ' ');
        size_t at = out->len;
        if (write_addresses(have[i] ? str_c(&val[i]) : NULL, val[i].len, out) == 0) {
            str_truncate(out, at);
            str_catn(out, from.s, from.len);
        }
    }
    str_free(&from);
    for (int i = E_TO; i <= E_BCC; i++) {
        str_catc(out, ' ');
        write_addresses(have[i] ? str_c(&val[i]) : NULL, val[i].len, out);
    }
    str_catc(out, ' ');
    imap_append_nstring(out, have[E_IN_REPLY_TO] ? str_c(&val[E_IN_REPLY_TO]) : NULL,
                        val[E_IN_REPLY_TO].len);
    str_catc(out, ' ');
    imap_append_nstring(out, have[E_MESSAGE_ID] ? str_c(&val[E_MESSAGE_ID]) : NULL,
                        val[E_MESSAGE_ID].len);
    str_catc(out, ')');
    for (int i = 0; i < E_COUNT; i++)
        str_free(&val[i]);
}

/* BODYSTRUCTURE ------------------------------------------------------------- */

/* write_params - body-fld-param: "(" name SP value ... ")" or NIL */
static void write_params(const struct mime_param *v, unsigned n, struct str *out)
{
    if (n == 0) {
        str_cat(out, "NIL");
        return;
    }
    str_catc(out, '(');
    for (unsigned i = 0; i < n; i++) {
        if (i)
            str_catc(out, ' ');
        imap_append_cstring(out, v[i].name);
        str_catc(out, ' ');
        imap_append_cstring(out, v[i].value);
    }
    str_catc(out, ')');
}

/* write_language - body-fld-lang: the Content-Language tags as a list */
static void write_language(const char *v, struct str *out)
{
    struct strlist tags = STRLIST_INIT;

    if (v != NULL) {
        size_t n = strlen(v), pos = 0;
        while (pos < n) {
            while (pos < n && (v[pos] == ',' || v[pos] == ' ' || v[pos] == '\t'))
                pos++;
            if (pos < n && v[pos] == '(') { /* a comment */
                int depth = 0;
                while (pos < n) {
                    if (v[pos] == '(')
                        depth++;
                    else if (v[pos] == ')' && --depth == 0) {
                        pos++;
                        break;
                    }
                    pos++;
                }
                continue;
            }
            size_t start = pos;
            while (pos < n && v[pos] != ',' && v[pos] != ' ' && v[pos] != '\t' && v[pos] != '(')
                pos++;
            if (pos > start)
                strlist_addn(&tags, v + start, pos - start);
        }
    }
    if (tags.n == 0) {
        str_cat(out, "NIL");
    } else {
        str_catc(out, '(');
        for (size_t i = 0; i < tags.n; i++) {
            if (i)
                str_catc(out, ' ');
            imap_append_cstring(out, tags.v[i]);
        }
        str_catc(out, ')');
    }
    strlist_free(&tags);
}

/* write_ext_common - body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void write_ext_common(const struct mime_part *p, struct str *out)
{
    if (p->disposition == NULL) {
        str_cat(out, "NIL");
    } else {
        str_catc(out, '(');
        imap_append_cstring(out, p->disposition);
        str_catc(out, ' ');
        write_params(p->dparams, p->ndparams, out);
        str_catc(out, ')');
    }
    str_catc(out, ' ');
    write_language(p->language, out);
    str_catc(out, ' ');
    imap_append_cnstring(out, p->location);
}

static void write_body(const struct mime_message *m, const struct mime_part *p, int ext,
                       struct str *out);

/* write_multipart - body-type-mpart */
static void write_multipart(const struct mime_message *m, const struct mime_part *p, int ext,
                            struct str *out)
{
    str_catc(out, '(');
    for (const struct mime_part *c = p->children; c; c = c->next)
        write_body(m, c, ext, out);
    if (p->children == NULL)
        str_cat(out, ext ? EMPTY_BODY_EXT : EMPTY_BODY);
    str_catc(out, ' ');
    imap_append_cstring(out, p->subtype);
    if (ext) {
        str_catc(out, ' ');
        write_params(p->params, p->nparams, out);
        str_catc(out, ' ');
        write_ext_common(p, out);
    }
    str_catc(out, ')');
}

/* write_body - body: body-type-1part or body-type-mpart */
static void write_body(const struct mime_message *m, const struct mime_part *p, int ext,
                       struct str *out)
{
    if (p->flags & MIME_PART_MULTIPART) {
        write_multipart(m, p, ext, out);
        return;
    }
    str_catc(out, '(');
    imap_append_cstring(out, p->type);
    str_catc(out, ' ');
    imap_append_cstring(out, p->subtype);
    str_catc(out, ' ');
    write_params(p->params, p->nparams, out);
    str_catc(out, ' ');
    imap_append_cnstring(out, p->id);
    str_catc(out, ' ');
    imap_append_cnstring(out, p->description);
    str_catc(out, ' ');
    imap_append_cstring(out, p->encoding ? p->encoding : "7BIT");
    str_catc(out, ' ');
    str_catu(out, p->body.vsize);
    if (mime_is_type(p, "message", "rfc822")) {
        /* body-type-msg: envelope, body and lines of the encapsulated message */
        str_catc(out, ' ');
        if (p->flags & MIME_PART_RFC822) {
            imap_envelope(m, p->children, out);
            str_catc(out, ' ');
            write_body(m, p->children, ext, out);
        } else {
            /* not parsed (nesting or part limit): an empty stand-in keeps the syntax */
            str_cat(out, EMPTY_ENVELOPE " ");
            str_cat(out, ext ? EMPTY_BODY_EXT : EMPTY_BODY);
        }
        str_catc(out, ' ');
        str_catu(out, p->body.lines);
    } else if (strcasecmp(p->type, "text") == 0) {
        str_catc(out, ' ');
        str_catu(out, p->body.lines);
    }
    if (ext) {
        str_catc(out, ' ');
        imap_append_cnstring(out, p->md5);
        str_catc(out, ' ');
        write_ext_common(p, out);
    }
    str_catc(out, ')');
}

void imap_bodystructure(const struct mime_message *m, const struct mime_part *p, int extended,
                        struct str *out)
{
    write_body(m, p, extended, out);
}

size_t imap_message_size(const struct mime_message *m)
{
    return m->root->hdr.vsize + m->root->body.vsize;
}

/* sections ------------------------------------------------------------------ */

void imap_section_init(struct imap_section *s)
{
    memset(s, 0, sizeof(*s));
    strlist_init(&s->fields);
}

void imap_section_free(struct imap_section *s)
{
    strlist_free(&s->fields);
}

void imap_section_name(const struct imap_section *s, struct str *out)
{
    static const char *const names[] = {"",     "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
                                        "TEXT", "MIME"};

    for (unsigned i = 0; i < s->nparts; i++)
        str_printf(out, "%s%u", i ? "." : "", s->parts[i]);
    if (s->text != IMAP_SECT_NONE)
        str_printf(out, "%s%s", s->nparts ? "." : "", names[s->text]);
    if (s->text == IMAP_SECT_HEADER_FIELDS || s->text == IMAP_SECT_HEADER_FIELDS_NOT) {
        str_cat(out, " (");
        for (size_t i = 0; i < s->fields.n; i++) {
            struct str up = STR_INIT;
            str_cpy(&up, s->fields.v[i]);
            for (size_t k = 0; k < up.len; k++)
                if (up.s[k] >= 'a' && up.s[k] <= 'z')
                    up.s[k] -= 32;
            if (i)
                str_catc(out, ' ');
            imap_append_astring(out, up.s, up.len);
            str_free(&up);
        }
        str_catc(out, ')');
    }
}

/* imap_section_part - the part named by the numbers of s (NULL when none), and whether
 * the numbers stopped at a message node */
static const struct mime_part *imap_section_part(const struct mime_message *m,
                                                 const struct imap_section *s, int *at_message)
{
    const struct mime_part *node = m->root;
    int at_msg = 1;

    for (unsigned i = 0; i < s->nparts; i++) {
        unsigned num = s->parts[i];
        /* a message/rfc822 part reached by number: descend into its message */
        if ((node->flags & MIME_PART_RFC822) && !at_msg) {
            node = node->children;
            at_msg = 1;
        }
        if (node->flags & MIME_PART_MULTIPART) {
            const struct mime_part *c = node->children;
            for (unsigned k = 1; c && k < num; k++)
                c = c->next;
            if (c == NULL || num == 0)
                return NULL;
            node = c;
            at_msg = 0;
        } else if (at_msg && num == 1) {
            at_msg = 0; /* part 1 of a non-multipart message: its body */
        } else {
            return NULL;
        }
    }
    if (at_message)
        *at_message = at_msg;
    return node;
}

/* field_listed - whether a field name is in the HEADER.FIELDS list */
static int field_listed(const struct imap_section *s, const struct mime_field *f)
{
    for (size_t i = 0; i < s->fields.n; i++)
        if (strlen(s->fields.v[i]) == f->name_len &&
            strncasecmp(s->fields.v[i], f->name, f->name_len) == 0)
            return 1;
    return 0;
}

static void str_write(void *ctx, const void *p, size_t n)
{
    str_catn(ctx, p, n);
}

/* header_subset - HEADER.FIELDS / HEADER.FIELDS.NOT: the chosen fields and the blank line */
static void header_subset(const struct mime_message *m, const struct mime_part *msg,
                          const struct imap_section *s, struct imap_body_data *out)
{
    struct mime_field f;
    size_t pos = 0;
    int want = s->text == IMAP_SECT_HEADER_FIELDS;

    out->built = 1;
    while (mime_field_next(m->data, &msg->hdr, &pos, &f)) {
        if (field_listed(s, &f) != want)
            continue;
        mime_write_crlf(m->data + f.off, f.size, 0, SIZE_MAX, str_write, &out->buf);
        if (f.size == 0 || m->data[f.off + f.size - 1] != '\n')
            str_cat(&out->buf, "\r\n");
    }
    /* RFC 3501 6.4.5: the blank line is always included, unless the message has none */
    if (!(msg->flags & MIME_PART_NOBLANK))
        str_cat(&out->buf, "\r\n");
    out->size = out->vsize = out->buf.len;
}

static void set_region(struct imap_body_data *out, const struct mime_region *r)
{
    out->off = r->off;
    out->size = r->size;
    out->vsize = r->vsize;
}

int imap_section_get(const struct mime_message *m, const struct imap_section *s,
                     struct imap_body_data *out)
{
    int at_msg;
    const struct mime_part *node = imap_section_part(m, s, &at_msg);

    memset(out, 0, sizeof(*out));
    str_init(&out->buf);
    if (node == NULL)
        return -1;
    if (s->text == IMAP_SECT_NONE) {
        if (s->nparts == 0) {
            out->off = 0;
            out->size = m->size;
            out->vsize = imap_message_size(m);
        } else {
            set_region(out, &node->body);
        }
        return 0;
    }
    if (s->text == IMAP_SECT_MIME) {
        if (s->nparts == 0)
            return -1;
        set_region(out, &node->hdr);
        return 0;
    }
    /* HEADER, HEADER.FIELDS[.NOT], TEXT: of the message, or of a message/rfc822 part */
    const struct mime_part *msg = node;
    if (s->nparts > 0) {
        if (!(node->flags & MIME_PART_RFC822) || at_msg)
            return -1;
        msg = node->children;
    }
    if (s->text == IMAP_SECT_HEADER)
        set_region(out, &msg->hdr);
    else if (s->text == IMAP_SECT_TEXT)
        set_region(out, &msg->body);
    else
        header_subset(m, msg, s, out);
    return 0;
}

void imap_body_data_free(struct imap_body_data *d)
{
    str_free(&d->buf);
}

void imap_body_write(const struct mime_message *m, const struct imap_body_data *d, int partial,
                     uint64_t start, uint64_t length,
                     void (*write)(void *ctx, const void *p, size_t n), void *ctx)
{
    uint64_t from = partial ? start : 0;
    uint64_t count = d->vsize > from ? d->vsize - from : 0;
    char head[48];

    if (partial && length < count)
        count = length;
    if (count == 0) {
        write(ctx, "\"\"", 2);
        return;
    }
    int hl = snprintf(head, sizeof(head), "{%llu}\r\n", (unsigned long long)count);
    write(ctx, head, (size_t)hl);
    if (d->built) /* already CRLF: the conversion only turns NULs into 0x80 */
        mime_write_crlf(d->buf.s, d->buf.len, (size_t)from, (size_t)count, write, ctx);
    else
        mime_write_crlf(m->data + d->off, d->size, (size_t)from, (size_t)count, write, ctx);
}

/* SEARCH helpers ------------------------------------------------------------ */

void imap_search_fold(const char *key, size_t n, struct str *folded)
{
    utf8_fold(key, n, folded);
}

/* The search document: pieces of folded UTF-8 text in one buffer -------------------- */

void imap_search_doc_init(struct imap_search_doc *d)
{
    memset(d, 0, sizeof(*d));
}

void imap_search_doc_reset(struct imap_search_doc *d)
{
    str_reset(&d->header.text);
    str_reset(&d->body.text);
    d->header.n = d->body.n = 0;
    d->header.made = d->body.made = 0;
}

void imap_search_doc_free(struct imap_search_doc *d)
{
    str_free(&d->header.text);
    str_free(&d->body.text);
    str_free(&d->scratch);
    str_free(&d->scratch2);
    free(d->header.v);
    free(d->body.v);
    memset(d, 0, sizeof(*d));
}

/* piece_add - the text folded since start is one piece (value: where a field's value starts) */
static void piece_add(struct imap_search_pieces *ps, size_t start, size_t value, const char *name,
                      size_t name_len)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->v = xreallocarray(ps->v, ps->cap, sizeof(*ps->v));
    }
    ps->v[ps->n++] = (struct imap_search_piece){start, value, ps->text.len, name, name_len};
}

/* add_fields - each field of a header region as the piece "name: value", the value unfolded
 * and RFC 2047-decoded; utf8_fold goes code point by code point, so folding the name and the
 * value apart gives the fold of the whole line */
static void add_fields(const struct mime_message *m, const struct mime_part *msg,
                       struct imap_search_doc *d, struct imap_search_pieces *ps)
{
    struct mime_field f;
    size_t pos = 0;

    while (mime_field_next(m->data, &msg->hdr, &pos, &f)) {
        size_t start = ps->text.len;
        str_reset(&d->scratch);
        str_reset(&d->scratch2);
        mime_unfold(f.value, f.value_len, &d->scratch);
        mime_decode_header(str_c(&d->scratch), d->scratch.len, &d->scratch2);
        utf8_fold(f.name, f.name_len, &ps->text);
        str_cat(&ps->text, ": ");
        size_t value = ps->text.len;
        utf8_fold(d->scratch2.s ? d->scratch2.s : "", d->scratch2.len, &ps->text);
        piece_add(ps, start, value, f.name, f.name_len);
    }
}

/* add_body - the pieces of the parts below p: the text of each text part, and the header
 * fields and parts of each attached message (RFC 3501 6.4.4 BODY: "the body of the message") */
static void add_body(const struct mime_message *m, const struct mime_part *p,
                     struct imap_search_doc *d)
{
    if (p->flags & MIME_PART_MULTIPART) {
        for (const struct mime_part *c = p->children; c; c = c->next)
            add_body(m, c, d);
        return;
    }
    if (p->flags & MIME_PART_RFC822) {
        add_fields(m, p->children, d, &d->body);
        add_body(m, p->children, d);
        return;
    }
    if (strcasecmp(p->type, "text") != 0)
        return;
    size_t start = d->body.text.len;
    str_reset(&d->scratch);
    mime_part_text(m, p, &d->scratch);
    utf8_fold(d->scratch.s ? d->scratch.s : "", d->scratch.len, &d->body.text);
    piece_add(&d->body, start, start, NULL, 0);
}

/* doc_header, doc_body - make the pieces once per message */
static const struct imap_search_pieces *doc_header(const struct mime_message *m,
                                                   struct imap_search_doc *d)
{
    if (!d->header.made) {
        add_fields(m, m->root, d, &d->header);
        d->header.made = 1;
        d->builds++;
    }
    return &d->header;
}

static const struct imap_search_pieces *doc_body(const struct mime_message *m,
                                                 struct imap_search_doc *d)
{
    if (!d->body.made) {
        add_body(m, m->root, d);
        d->body.made = 1;
        d->builds++;
    }
    return &d->body;
}

/* pieces_match - a piece (from its value on when value is set; only fields named name when
 * name is not NULL) contains the folded key; an empty key matches when there is such a piece */
static int pieces_match(const struct imap_search_pieces *ps, const char *name, int value,
                        const struct str *key)
{
    size_t nl = name ? strlen(name) : 0;

    for (size_t i = 0; i < ps->n; i++) {
        const struct imap_search_piece *pc = &ps->v[i];
        if (name && !(pc->name && pc->name_len == nl && strncasecmp(pc->name, name, nl) == 0))
            continue;
        size_t from = value ? pc->value : pc->start;
        if (key->len == 0 || (pc->end - from >= key->len &&
                              memmem(ps->text.s + from, pc->end - from, key->s, key->len)))
            return 1;
    }
    return 0;
}

int imap_search_doc_header(const struct mime_message *m, struct imap_search_doc *d,
                           const char *name, const struct str *key)
{
    return pieces_match(doc_header(m, d), name, name != NULL, key);
}

int imap_search_doc_body(const struct mime_message *m, struct imap_search_doc *d,
                         const struct str *key)
{
    if (key->len == 0)
        return 1;
    return pieces_match(doc_body(m, d), NULL, 0, key);
}

int imap_search_doc_text(const struct mime_message *m, struct imap_search_doc *d,
                         const struct str *key)
{
    return imap_search_doc_header(m, d, NULL, key) || imap_search_doc_body(m, d, key);
}

/* the one-key forms: a document for one question */

int imap_search_header(const struct mime_message *m, const char *name, const struct str *key)
{
    struct imap_search_doc d;

    imap_search_doc_init(&d);
    int r = imap_search_doc_header(m, &d, name, key);
    imap_search_doc_free(&d);
    return r;
}

int imap_search_body(const struct mime_message *m, const struct str *key)
{
    struct imap_search_doc d;

    imap_search_doc_init(&d);
    int r = imap_search_doc_body(m, &d, key);
    imap_search_doc_free(&d);
    return r;
}

int imap_search_text(const struct mime_message *m, const struct str *key)
{
    struct imap_search_doc d;

    imap_search_doc_init(&d);
    int r = imap_search_doc_text(m, &d, key);
    imap_search_doc_free(&d);
    return r;
}

/* the fields of the search summary: entry tag, field name */
static const struct {
    char tag;
    const char *name;
} summary_fields[] = {
    {'s', "Subject"}, {'f', "From"}, {'t', "To"}, {'c', "Cc"}, {'b', "Bcc"},
};

/* summary_entry - one entry: tag, decimal length, ':', bytes */
static void summary_entry(struct str *out, char tag, const char *p, size_t n)
{
    char head[32];
    size_t i = sizeof(head), v = n;

    head[--i] = ':';
    do
        head[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    head[--i] = tag;
    str_catn(out, head + i, sizeof(head) - i);
    str_catn(out, p, n);
}

void imap_search_summary(const struct mime_message *m, struct str *out)
{
    struct mime_field f;
    size_t pos = 0;
    struct str raw = STR_INIT, dec = STR_INIT, folded = STR_INIT;
    long day;

    str_catc(out, IMAP_SUMMARY_VERSION);
    while (mime_field_next(m->data, &m->root->hdr, &pos, &f)) {
        for (size_t i = 0; i < sizeof(summary_fields) / sizeof(summary_fields[0]); i++) {
            if (strlen(summary_fields[i].name) != f.name_len ||
                strncasecmp(summary_fields[i].name, f.name, f.name_len) != 0)
                continue;
            /* exactly what header_match compares: unfolded, decoded, folded */
            str_reset(&raw);
            str_reset(&dec);
            str_reset(&folded);
            mime_unfold(f.value, f.value_len, &raw);
            mime_decode_header(str_c(&raw), raw.len, &dec);
            utf8_fold(str_c(&dec), dec.len, &folded);
            summary_entry(out, summary_fields[i].tag, folded.s ? folded.s : "", folded.len);
            break;
        }
    }
    if (imap_sent_day(m, &day) == 0) {
        char num[32];
        int n = snprintf(num, sizeof(num), "%ld", day);
        summary_entry(out, 'd', num, (size_t)n);
    }
    str_free(&raw);
    str_free(&dec);
    str_free(&folded);
}

/* summary_next - the next entry of a summary at *pos: 1, 0 at the end, -1 malformed */
static int summary_next(const char *p, size_t n, size_t *pos, char *tag, const char **v, size_t *vn)
{
    size_t i = *pos, len = 0;

    if (i >= n)
        return 0;
    *tag = p[i++];
    if (i >= n || p[i] < '0' || p[i] > '9')
        return -1;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        if (len > n)
            return -1;
        len = len * 10 + (size_t)(p[i++] - '0');
    }
    if (i >= n || p[i++] != ':' || len > n - i)
        return -1;
    *v = p + i;
    *vn = len;
    *pos = i + len;
    return 1;
}

int imap_search_summary_covers(const char *name)
{
    for (size_t i = 0; i < sizeof(summary_fields) / sizeof(summary_fields[0]); i++)
        if (strcasecmp(name, summary_fields[i].name) == 0)
            return 1;
    return 0;
}

int imap_search_summary_header(const char *p, size_t n, const char *name, const struct str *key)
{
    char want = 0, tag;
    const char *v;
    size_t vn, pos = 1;
    int r, found = 0;

    for (size_t i = 0; i < sizeof(summary_fields) / sizeof(summary_fields[0]); i++)
        if (name && strcasecmp(name, summary_fields[i].name) == 0)
            want = summary_fields[i].tag;
    if (want == 0 || n == 0 || p[0] != IMAP_SUMMARY_VERSION)
        return -1;
    while ((r = summary_next(p, n, &pos, &tag, &v, &vn)) == 1)
        if (!found && tag == want)
            found = key->len == 0 || (vn >= key->len && memmem(v, vn, key->s, key->len) != NULL);
    return r < 0 ? -1 : found;
}

int imap_search_summary_day(const char *p, size_t n, long *days)
{
    char tag;
    const char *v;
    size_t vn, pos = 1;
    int r, have = 0;

    if (n == 0 || p[0] != IMAP_SUMMARY_VERSION)
        return -2;
    while ((r = summary_next(p, n, &pos, &tag, &v, &vn)) == 1) {
        if (tag != 'd' || have)
            continue;
        char num[32], *end;
        if (vn == 0 || vn >= sizeof(num))
            return -2;
        memcpy(num, v, vn);
        num[vn] = '\0';
        *days = strtol(num, &end, 10);
        if (*end != '\0')
            return -2;
        have = 1;
    }
    if (r < 0)
        return -2;
    return have ? 0 : -1;
}

int imap_sent_day(const struct mime_message *m, long *days)
{
    struct str v = STR_INIT;
    time_t t;
    int tz, r = -1;

    if (mime_header_get(m, m->root, "Date", &v) &&
        mime_parse_date(str_c(&v), v.len, &t, &tz) == 0) {
        long long local = (long long)t + (long long)tz * 60;
        *days = (long)(local >= 0 ? local / 86400 : -((-local + 86399) / 86400));
        r = 0;
    }
    str_free(&v);
    return r;
}
