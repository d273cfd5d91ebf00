/*
 * imap_parse.c - the IMAP grammar's basic rules over a read command
 *
 * One function per rule of RFC 3501 section 9 (atoms, strings, literals,
 * numbers, mailbox names, sequence sets, flags, dates), plus modified
 * UTF-7 (RFC 3501 5.1.3). The cursor walks the command text; a literal's
 * data is not in the text but in the command's literal table, reached
 * when the cursor passes the "{n}" CRLF that announced it.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "imap_parse.h"
#include "mem.h"

/* the final line end of the command: the cursor never passes it */
static size_t text_end(const struct imap_cmd *c)
{
    size_t n = c->text.len;

    if (n > 0 && c->text.s[n - 1] == '\n')
        n--;
    if (n > 0 && c->text.s[n - 1] == '\r')
        n--;
    return n;
}

void imap_parser_init(struct imap_parser *p, const struct imap_cmd *cmd, unsigned depth_max)
{
    memset(p, 0, sizeof(*p));
    p->cmd = cmd;
    p->depth_max = depth_max ? depth_max : 32;
    str_init(&p->reason);
}

void imap_parser_free(struct imap_parser *p)
{
    str_free(&p->reason);
}

int imap_perror(struct imap_parser *p, const char *fmt, ...)
{
    va_list ap;

    if (p->error)
        return -1;
    p->error = IMAP_PERR_SYNTAX;
    va_start(ap, fmt);
    str_vprintf(&p->reason, fmt, ap);
    va_end(ap);
    return -1;
}

int imap_peek(const struct imap_parser *p)
{
    if (p->pos >= text_end(p->cmd))
        return -1;
    return (unsigned char)p->cmd->text.s[p->pos];
}

int imap_at_end(const struct imap_parser *p)
{
    return p->pos >= text_end(p->cmd);
}

int imap_p_end(struct imap_parser *p)
{
    if (!imap_at_end(p))
        return imap_perror(p, "unexpected text at the end of the command");
    return 0;
}

int imap_p_char(struct imap_parser *p, int c)
{
    if (imap_peek(p) != c)
        return imap_perror(p, "expected '%c'", c);
    p->pos++;
    return 0;
}

int imap_p_sp(struct imap_parser *p)
{
    if (imap_peek(p) != ' ')
        return imap_perror(p, imap_at_end(p) ? "missing arguments" : "expected a space");
    p->pos++;
    return 0;
}

/* is_atom_char - ATOM-CHAR: any CHAR except atom-specials */
static int is_atom_char(int c)
{
    return c > 32 && c < 127 && strchr("(){%*\"\\]", c) == NULL;
}

/* take_run - the longest run of bytes accepted by ok (with ']' when allow_bracket) */
static size_t take_run(struct imap_parser *p, int allow_bracket, int allow_wild, struct str *out)
{
    size_t start = p->pos, end = text_end(p->cmd);
    const char *s = p->cmd->text.s;

    while (p->pos < end) {
        int c = (unsigned char)s[p->pos];
        if (!(is_atom_char(c) || (allow_bracket && c == ']') ||
              (allow_wild && (c == '%' || c == '*'))))
            break;
        p->pos++;
    }
    if (out)
        str_cpyn(out, s + start, p->pos - start);
    return p->pos - start;
}

int imap_p_tag(struct imap_parser *p, struct str *out)
{
    size_t start = p->pos;

    if (take_run(p, 1, 0, out) == 0)
        return imap_perror(p, "missing tag");
    if (memchr(p->cmd->text.s + start, '+', p->pos - start) != NULL)
        return imap_perror(p, "'+' is not allowed in a tag");
    return 0;
}

int imap_p_atom(struct imap_parser *p, struct str *out)
{
    if (take_run(p, 0, 0, out) == 0)
        return imap_perror(p, imap_at_end(p) ? "missing arguments" : "expected an atom");
    return 0;
}

/* quoted - quoted = DQUOTE *QUOTED-CHAR DQUOTE (8-bit bytes tolerated) */
static int quoted(struct imap_parser *p, struct str *out)
{
    size_t end = text_end(p->cmd);
    const char *s = p->cmd->text.s;

    str_reset(out);
    p->pos++;
    while (p->pos < end && s[p->pos] != '"') {
        char c = s[p->pos];
        if (c == '\\') {
            if (p->pos + 1 >= end || (s[p->pos + 1] != '"' && s[p->pos + 1] != '\\'))
                return imap_perror(p, "bad escape in a quoted string");
            c = s[++p->pos];
        } else if (c == '\r' || c == '\n' || c == '\0') {
            return imap_perror(p, "line end in a quoted string");
        }
        str_catc(out, c);
        p->pos++;
    }
    if (p->pos >= end)
        return imap_perror(p, "unterminated quoted string");
    p->pos++;
    return 0;
}

/* literal_head - "{" number ["+"] "}" CRLF at the cursor: the literal's table entry */
static const struct imap_literal *literal_head(struct imap_parser *p)
{
    const char *s = p->cmd->text.s;
    size_t i = p->pos + 1, len = p->cmd->text.len;

    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == p->pos + 1) {
        imap_perror(p, "bad literal");
        return NULL;
    }
    if (i < len && s[i] == '+')
        i++;
    if (i >= len || s[i] != '}') {
        imap_perror(p, "bad literal");
        return NULL;
    }
    i++;
    if (i < len && s[i] == '\r')
        i++;
    if (i >= len || s[i] != '\n' || p->lit >= p->cmd->nlits || p->cmd->lits[p->lit].at != i + 1) {
        imap_perror(p, "a literal must end its line");
        return NULL;
    }
    const struct imap_literal *lit = &p->cmd->lits[p->lit++];
    p->pos = i + 1;
    return lit;
}

int imap_p_literal_ref(struct imap_parser *p, const struct imap_literal **lit)
{
    if (imap_peek(p) != '{')
        return imap_perror(p, "expected a literal");
    *lit = literal_head(p);
    return *lit ? 0 : -1;
}

int imap_p_string(struct imap_parser *p, struct str *out)
{
    int c = imap_peek(p);

    if (c == '"')
        return quoted(p, out);
    if (c == '{') {
        const struct imap_literal *lit = literal_head(p);
        if (lit == NULL)
            return -1;
        if (lit->fd >= 0)
            return imap_perror(p, "literal too big here");
        if (memchr(lit->data.s ? lit->data.s : "", '\0', lit->size) != NULL)
            return imap_perror(p, "NUL in a literal");
        str_cpyn(out, lit->data.s ? lit->data.s : "", lit->size);
        return 0;
    }
    return imap_perror(p, imap_at_end(p) ? "missing arguments" : "expected a string");
}

int imap_p_astring(struct imap_parser *p, struct str *out)
{
    int c = imap_peek(p);

    if (c == '"' || c == '{')
        return imap_p_string(p, out);
    if (take_run(p, 1, 0, out) == 0)
        return imap_perror(p, imap_at_end(p) ? "missing arguments" : "expected a string");
    return 0;
}

int imap_p_nstring(struct imap_parser *p, struct str *out, int *is_nil)
{
    *is_nil = 0;
    if (imap_peek(p) == '"' || imap_peek(p) == '{')
        return imap_p_string(p, out);
    size_t start = p->pos;
    struct str a = STR_INIT;
    take_run(p, 0, 0, &a);
    int nil = a.len == 3 && strcasecmp(a.s, "NIL") == 0;
    str_free(&a);
    if (!nil) {
        p->pos = start;
        return imap_perror(p, "expected a string or NIL");
    }
    *is_nil = 1;
    str_reset(out);
    return 0;
}

int imap_p_number64(struct imap_parser *p, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = p->pos;
    int c;

    while ((c = imap_peek(p)) >= '0' && c <= '9') {
        if (v > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(c - '0')) / 10)
            return imap_perror(p, "number too big");
        v = v * 10 + (uint64_t)(c - '0');
        p->pos++;
    }
    if (p->pos == start)
        return imap_perror(p, "expected a number");
    *out = v;
    return 0;
}

int imap_p_number(struct imap_parser *p, uint32_t *out)
{
    uint64_t v;

    if (imap_p_number64(p, &v) < 0)
        return -1;
    if (v > UINT32_MAX)
        return imap_perror(p, "number too big");
    *out = (uint32_t)v;
    return 0;
}

int imap_p_nz_number(struct imap_parser *p, uint32_t *out)
{
    if (imap_peek(p) == '0')
        return imap_perror(p, "expected a non-zero number");
    return imap_p_number(p, out);
}

/* wire_name - INBOX in any case is INBOX (RFC 3501 5.1); anything else must be valid
 * modified UTF-7 (RFC 3501 5.1.3) and is kept in that form */
static int wire_name(struct imap_parser *p, const struct str *raw, struct str *out)
{
    struct str check = STR_INIT;
    int ok = imap_utf7_decode(str_c(raw), raw->len, &check) == 0;

    str_free(&check);
    if (!ok)
        return imap_perror(p, "mailbox name is not valid modified UTF-7");
    if (raw->len == 5 && strcasecmp(str_c(raw), "INBOX") == 0)
        str_cpy(out, "INBOX");
    else
        str_cpyn(out, str_c(raw), raw->len);
    return 0;
}

int imap_p_mailbox(struct imap_parser *p, struct str *out)
{
    struct str raw = STR_INIT;
    int r = imap_p_astring(p, &raw);

    if (r == 0)
        r = wire_name(p, &raw, out);
    str_free(&raw);
    return r;
}

int imap_p_list_mailbox(struct imap_parser *p, struct str *out)
{
    struct str raw = STR_INIT;
    int r = 0;

    if (imap_peek(p) == '"' || imap_peek(p) == '{')
        r = imap_p_string(p, &raw);
    else if (take_run(p, 1, 1, &raw) == 0)
        r = imap_perror(p, "expected a mailbox pattern");
    if (r == 0)
        r = wire_name(p, &raw, out);
    str_free(&raw);
    return r;
}

/* modified UTF-7 -------------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(int c)
{
    const char *q = c ? strchr(b64, c) : NULL;
    return q ? (int)(q - b64) : -1;
}

/* utf7_run - decode one "&...-" run (without the delimiters) as UTF-16BE */
static int utf7_run(const char *s, size_t n, struct str *out)
{
    unsigned bits = 0, nbits = 0, high = 0;
    size_t units = 0;

    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        bits = bits << 6 | (unsigned)v;
        nbits += 6;
        if (nbits < 16)
            continue;
        nbits -= 16;
        unsigned u = (bits >> nbits) & 0xFFFF;
        bits &= (1u << nbits) - 1;
        units++;
        if (high) {
            if (u < 0xDC00 || u > 0xDFFF)
                return -1;
            utf8_encode_one(0x10000 + ((high - 0xD800) << 10) + (u - 0xDC00), out);
            high = 0;
        } else if (u >= 0xD800 && u <= 0xDBFF) {
            high = u;
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
            return -1;
        } else if (u >= 0x20 && u <= 0x7E) {
            return -1; /* RFC 3501 5.1.3: printable ASCII must represent itself */
        } else {
            utf8_encode_one(u, out);
        }
    }
    /* leftover bits must be fewer than 6 and zero; a lone high surrogate is bad */
    if (high || nbits >= 6 || bits != 0 || units == 0)
        return -1;
    return 0;
}

int imap_utf7_decode(const char *in, size_t n, struct str *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c > 0x7E)
            return -1;
        if (c != '&') {
            str_catc(out, c);
            continue;
        }
        const char *dash = memchr(in + i + 1, '-', n - i - 1);
        if (dash == NULL)
            return -1;
        size_t len = (size_t)(dash - (in + i + 1));
        if (len == 0)
            str_catc(out, '&');
        else if (utf7_run(in + i + 1, len, out) < 0)
            return -1;
        i += len + 1;
    }
    return 0;
}

/* utf7_flush - write UTF-16 units collected for one run */
static void utf7_flush(const unsigned short *u, size_t n, struct str *out)
{
    unsigned bits = 0, nbits = 0;

    str_catc(out, '&');
    for (size_t i = 0; i < n; i++) {
        bits = bits << 16 | u[i];
        nbits += 16;
        while (nbits >= 6) {
            nbits -= 6;
            str_catc(out, b64[(bits >> nbits) & 0x3F]);
        }
        bits &= (1u << nbits) - 1;
    }
    if (nbits > 0)
        str_catc(out, b64[(bits << (6 - nbits)) & 0x3F]);
    str_catc(out, '-');
}

int imap_utf7_encode(const char *in, size_t n, struct str *out)
{
    unsigned short *units = xcalloc(n * 2 + 2, sizeof(*units));
    size_t nu = 0;
    int rc = 0;

    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x20 && c <= 0x7E) {
            if (nu) {
                utf7_flush(units, nu, out);
                nu = 0;
            }
            str_cat(out, c == '&' ? "&-" : (char[]){(char)c, 0});
            i++;
            continue;
        }
        unsigned cp;
        size_t k = utf8_decode_one((const unsigned char *)in + i, n - i, &cp);
        if (k == 0) {
            rc = -1;
            break;
        }
        i += k;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[nu++] = (unsigned short)(0xD800 + (cp >> 10));
            units[nu++] = (unsigned short)(0xDC00 + (cp & 0x3FF));
        } else {
            units[nu++] = (unsigned short)cp;
        }
    }
    if (rc == 0 && nu)
        utf7_flush(units, nu, out);
    free(units);
    return rc;
}

/* sequence sets ------------------------------------------------------------- */

void imap_seqset_init(struct imap_seqset *s)
{
    memset(s, 0, sizeof(*s));
}

void imap_seqset_free(struct imap_seqset *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static void seqset_add(struct imap_seqset *s, uint32_t lo, uint32_t hi, unsigned star)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
    }
    s->v[s->n].lo = lo;
    s->v[s->n].hi = hi;
    s->v[s->n].star = star;
    s->n++;
}

/* seq_number - nz-number / "*"; *star set for "*" */
static int seq_number(struct imap_parser *p, uint32_t *out, int *star)
{
    *star = 0;
    if (imap_peek(p) == '*') {
        p->pos++;
        *out = IMAP_STAR;
        *star = 1;
        return 0;
    }
    if (imap_peek(p) < '0' || imap_peek(p) > '9')
        return imap_perror(p, "invalid message set");
    return imap_p_nz_number(p, out);
}

int imap_p_seqset(struct imap_parser *p, struct imap_seqset *out)
{
    for (;;) {
        uint32_t lo, hi;
        int star_lo, star_hi;
        if (seq_number(p, &lo, &star_lo) < 0)
            return -1;
        hi = lo;
        star_hi = star_lo;
        if (imap_peek(p) == ':') {
            p->pos++;
            if (seq_number(p, &hi, &star_hi) < 0)
                return -1;
        }
        seqset_add(out, lo, hi,
                   (star_lo ? IMAP_RANGE_STAR_LO : 0) | (star_hi ? IMAP_RANGE_STAR_HI : 0));
        if (imap_peek(p) != ',')
            break;
        p->pos++;
    }
    int c = imap_peek(p);
    if (c != -1 && c != ' ' && c != ')')
        return imap_perror(p, "invalid message set");
    return 0;
}

static int cmp_range(const void *a, const void *b)
{
    const struct imap_range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

uint32_t imap_seqset_max_number(const struct imap_seqset *s)
{
    uint32_t most = 0;

    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].star)
            continue;
        if (s->v[i].lo > most)
            most = s->v[i].lo;
        if (s->v[i].hi > most)
            most = s->v[i].hi;
    }
    return most;
}

void imap_seqset_resolve(struct imap_seqset *s, uint32_t max)
{
    for (size_t i = 0; i < s->n; i++) {
        struct imap_range *r = &s->v[i];
        if (r->star & IMAP_RANGE_STAR_LO)
            r->lo = max;
        if (r->star & IMAP_RANGE_STAR_HI)
            r->hi = max;
        r->star = 0;
        if (r->lo > r->hi) {
            uint32_t t = r->lo;
            r->lo = r->hi;
            r->hi = t;
        }
    }
    if (s->n > 1)
        qsort(s->v, s->n, sizeof(*s->v), cmp_range);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k > 0 && (s->v[i].lo <= s->v[k - 1].hi ||
                      (s->v[k - 1].hi != UINT32_MAX && s->v[i].lo == s->v[k - 1].hi + 1))) {
            if (s->v[i].hi > s->v[k - 1].hi)
                s->v[k - 1].hi = s->v[i].hi;
        } else {
            s->v[k++] = s->v[i];
        }
    }
    s->n = k;
}

int imap_seqset_contains(const struct imap_seqset *s, uint32_t n)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (n < s->v[mid].lo)
            hi = mid;
        else if (n > s->v[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

void imap_seqset_format(const struct imap_seqset *s, struct str *out)
{
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            str_catc(out, ',');
        if (s->v[i].lo == s->v[i].hi)
            str_printf(out, "%u", s->v[i].lo);
        else
            str_printf(out, "%u:%u", s->v[i].lo, s->v[i].hi);
    }
}

/* flags ------------------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bit;
} sysflags[] = {{"\\Answered", IMAP_FLAG_ANSWERED}, {"\\Flagged", IMAP_FLAG_FLAGGED},
                {"\\Deleted", IMAP_FLAG_DELETED},   {"\\Seen", IMAP_FLAG_SEEN},
                {"\\Draft", IMAP_FLAG_DRAFT},       {"\\Recent", IMAP_FLAG_RECENT}};

void imap_flags_init(struct imap_flags *f)
{
    f->sys = 0;
    strlist_init(&f->keywords);
}

void imap_flags_free(struct imap_flags *f)
{
    strlist_free(&f->keywords);
}

/* flag - one flag into out */
static int flag(struct imap_parser *p, struct imap_flags *out)
{
    struct str a = STR_INIT;
    int system = imap_peek(p) == '\\';

    if (system)
        p->pos++;
    if (imap_p_atom(p, &a) < 0) {
        str_free(&a);
        return -1;
    }
    if (system) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++)
            if (strcasecmp(sysflags[i].name + 1, a.s) == 0)
                bit = sysflags[i].bit;
        if (bit == 0 || bit == IMAP_FLAG_RECENT) {
            imap_perror(p, "invalid system flag \\%s", a.s);
            str_free(&a);
            return -1;
        }
        out->sys |= bit;
    } else if (strlist_find(&out->keywords, a.s, 1) < 0) {
        strlist_add(&out->keywords, a.s);
    }
    str_free(&a);
    return 0;
}

int imap_p_flag_list(struct imap_parser *p, struct imap_flags *out)
{
    if (imap_p_char(p, '(') < 0)
        return -1;
    if (imap_peek(p) == ')') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (flag(p, out) < 0)
            return -1;
        if (imap_peek(p) == ')') {
            p->pos++;
            return 0;
        }
        if (imap_p_sp(p) < 0)
            return -1;
    }
}

void imap_flags_format(unsigned sys, const struct strlist *keywords, struct str *out)
{
    size_t start = out->len;

    for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
        if (sys & sysflags[i].bit) {
            if (out->len > start)
                str_catc(out, ' ');
            str_cat(out, sysflags[i].name);
        }
    }
    for (size_t i = 0; keywords && i < keywords->n; i++) {
        if (out->len > start)
            str_catc(out, ' ');
        str_cat(out, keywords->v[i]);
    }
}

/* STORE (RFC 3501 6.4.6) ------------------------------------------------------ */

int imap_p_store(struct imap_parser *p, struct imap_store *out)
{
    struct str a = STR_INIT;
    const char *s;

    out->mode = IMAP_STORE_REPLACE;
    out->silent = 0;
    imap_flags_init(&out->flags);
    if (imap_peek(p) == '+' || imap_peek(p) == '-') {
        out->mode = imap_peek(p) == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
        p->pos++;
    }
    if (imap_p_atom(p, &a) < 0)
        goto fail;
    s = str_c(&a);
    if (strcasecmp(s, "FLAGS.SILENT") == 0)
        out->silent = 1;
    else if (strcasecmp(s, "FLAGS") != 0) {
        imap_perror(p, "expected FLAGS, +FLAGS or -FLAGS");
        goto fail;
    }
    if (imap_p_sp(p) < 0)
        goto fail;
    if (imap_peek(p) == '(') {
        if (imap_p_flag_list(p, &out->flags) < 0)
            goto fail;
    } else {
        for (;;) {
            if (flag(p, &out->flags) < 0)
                goto fail;
            if (imap_peek(p) != ' ')
                break;
            p->pos++;
        }
    }
    str_free(&a);
    return 0;
fail:
    str_free(&a);
    return -1;
}

void imap_store_free(struct imap_store *s)
{
    imap_flags_free(&s->flags);
}

/* dates ------------------------------------------------------------------- */

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* digits - exactly (or, with lenient, up to) n digits */
static int digits(struct imap_parser *p, int n, int lenient, int *out)
{
    int v = 0, k = 0;

    while (k < n && imap_peek(p) >= '0' && imap_peek(p) <= '9') {
        v = v * 10 + (imap_peek(p) - '0');
        p->pos++;
        k++;
    }
    if (k == 0 || (!lenient && k != n))
        return imap_perror(p, "invalid date");
    *out = v;
    return 0;
}

/* date_text - date-day "-" date-month "-" date-year */
static int date_text(struct imap_parser *p, int fixed_day, int *y, int *m, int *d)
{
    if (fixed_day && imap_peek(p) == ' ')
        p->pos++; /* date-day-fixed = (SP DIGIT) / 2DIGIT */
    if (digits(p, 2, 1, d) < 0 || imap_p_char(p, '-') < 0)
        return imap_perror(p, "invalid date");
    const char *s = p->cmd->text.s + p->pos;
    *m = 0;
    if (p->pos + 3 <= text_end(p->cmd))
        for (int i = 0; i < 12; i++)
            if (strncasecmp(s, month_names[i], 3) == 0)
                *m = i + 1;
    if (*m == 0)
        return imap_perror(p, "invalid month in date");
    p->pos += 3;
    if (imap_p_char(p, '-') < 0 || digits(p, 4, 0, y) < 0)
        return imap_perror(p, "invalid date");
    if (*d < 1 || *d > days_in_month(*y, *m))
        return imap_perror(p, "invalid day in date");
    return 0;
}

int imap_p_date(struct imap_parser *p, long *days)
{
    int y, m, d, q = imap_peek(p) == '"';

    if (q)
        p->pos++;
    if (date_text(p, 0, &y, &m, &d) < 0)
        return -1;
    if (q && imap_p_char(p, '"') < 0)
        return -1;
    *days = days_from_civil(y, (unsigned)m, (unsigned)d);
    return 0;
}

int imap_p_date_time(struct imap_parser *p, time_t *t, int *tz_minutes)
{
    int y, m, d, hh, mm, ss, zone;

    if (imap_p_char(p, '"') < 0 || date_text(p, 1, &y, &m, &d) < 0 || imap_p_sp(p) < 0 ||
        digits(p, 2, 0, &hh) < 0 || imap_p_char(p, ':') < 0 || digits(p, 2, 0, &mm) < 0 ||
        imap_p_char(p, ':') < 0 || digits(p, 2, 0, &ss) < 0 || imap_p_sp(p) < 0)
        return imap_perror(p, "invalid date-time");
    int sign = imap_peek(p);
    if (sign != '+' && sign != '-')
        return imap_perror(p, "invalid zone in date-time");
    p->pos++;
    if (digits(p, 4, 0, &zone) < 0 || imap_p_char(p, '"') < 0)
        return imap_perror(p, "invalid date-time");
    if (hh > 23 || mm > 59 || ss > 60 || zone % 100 > 59)
        return imap_perror(p, "invalid time in date-time");
    int tz = (zone / 100 * 60 + zone % 100) * (sign == '-' ? -1 : 1);
    long days = days_from_civil(y, (unsigned)m, (unsigned)d);
    *t = (time_t)days * 86400 + hh * 3600 + mm * 60 + (ss == 60 ? 59 : ss) - (time_t)tz * 60;
    if (tz_minutes)
        *tz_minutes = tz;
    return 0;
}

void imap_format_date_time(time_t t, int tz_minutes, struct str *out)
{
    time_t local = t + (time_t)tz_minutes * 60;
    struct tm tm;

    gmtime_r(&local, &tm);
    int a = tz_minutes < 0 ? -tz_minutes : tz_minutes;
    if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 || a >= 100 * 60) {
        str_printf(out, "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d", tm.tm_mday,
                   month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   tz_minutes < 0 ? '-' : '+', a / 60, a % 60);
        return;
    }
    /* "dd-Mon-yyyy hh:mm:ss +hhmm" without printf: a FETCH of INTERNALDATE formats one each */
    int y = tm.tm_year + 1900, h = a / 60, mi = a % 60;
    char b[26] = {(char)('0' + tm.tm_mday / 10),
                  (char)('0' + tm.tm_mday % 10),
                  '-',
                  month_names[tm.tm_mon][0],
                  month_names[tm.tm_mon][1],
                  month_names[tm.tm_mon][2],
                  '-',
                  (char)('0' + y / 1000),
                  (char)('0' + y / 100 % 10),
                  (char)('0' + y / 10 % 10),
                  (char)('0' + y % 10),
                  ' ',
                  (char)('0' + tm.tm_hour / 10),
                  (char)('0' + tm.tm_hour % 10),
                  ':',
                  (char)('0' + tm.tm_min / 10),
                  (char)('0' + tm.tm_min % 10),
                  ':',
                  (char)('0' + tm.tm_sec / 10),
                  (char)('0' + tm.tm_sec % 10),
                  ' ',
                  tz_minutes < 0 ? '-' : '+',
                  (char)('0' + h / 10),
                  (char)('0' + h % 10),
                  (char)('0' + mi / 10),
                  (char)('0' + mi % 10)};
    str_catn(out, b, sizeof(b));
}
