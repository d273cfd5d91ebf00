/*
 * imap_grammar.c - the composite IMAP rules: FETCH attributes and SEARCH keys
 *
 * FETCH (RFC 3501 6.4.5, 9 fetch-att, section-spec) becomes a bit set plus
 * a list of body sections; SEARCH (RFC 3501 6.4.4, 9 search-key) becomes a
 * tree whose string keys are already case-folded for matching. Nesting of
 * parentheses, NOT and OR is bounded by the parser's depth limit.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "imap_parse.h"
#include "mem.h"

/* FETCH ----------------------------------------------------------------------- */

void imap_fetch_init(struct imap_fetch *f)
{
    memset(f, 0, sizeof(*f));
}

void imap_fetch_free(struct imap_fetch *f)
{
    for (size_t i = 0; i < f->nbodies; i++)
        imap_section_free(&f->bodies[i].section);
    free(f->bodies);
    memset(f, 0, sizeof(*f));
}

int imap_fetch_sets_seen(const struct imap_fetch *f)
{
    if (f->items & (IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_TEXT))
        return 1;
    for (size_t i = 0; i < f->nbodies; i++)
        if (!f->bodies[i].peek)
            return 1;
    return 0;
}

/* word - letters, digits and dots at the cursor (an item name such as BODY.PEEK) */
static size_t word(struct imap_parser *p, char *buf, size_t size)
{
    size_t n = 0;
    int c;

    while ((c = imap_peek(p)) != -1 && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                        (c >= '0' && c <= '9') || c == '.')) {
        if (n + 1 < size)
            buf[n] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
        n++;
        p->pos++;
    }
    buf[n < size ? n : size - 1] = '\0';
    return n;
}

/* header_list - "(" header-fld-name *(SP header-fld-name) ")" */
static int header_list(struct imap_parser *p, struct strlist *out)
{
    struct str name = STR_INIT;

    if (imap_p_char(p, '(') < 0)
        return -1;
    for (;;) {
        if (imap_p_astring(p, &name) < 0)
            break;
        /* RFC 5322 field names are printable ASCII without colon */
        for (size_t i = 0; i < name.len; i++)
            if ((unsigned char)name.s[i] <= 32 || (unsigned char)name.s[i] >= 127 ||
                name.s[i] == ':') {
                imap_perror(p, "invalid header field name");
                goto fail;
            }
        strlist_add(out, name.s);
        if (imap_peek(p) == ')') {
            p->pos++;
            str_free(&name);
            return 0;
        }
        if (imap_p_sp(p) < 0)
            break;
    }
fail:
    str_free(&name);
    return -1;
}

int imap_p_section(struct imap_parser *p, struct imap_section *out)
{
    char w[32];

    if (imap_p_char(p, '[') < 0)
        return -1;
    /* section-part = nz-number *("." nz-number), then "." before a section-text */
    int dot = 0;
    while (imap_peek(p) >= '0' && imap_peek(p) <= '9') {
        uint32_t n;
        if (out->nparts == IMAP_SECTION_MAX_PARTS)
            return imap_perror(p, "section nested too deep");
        if (imap_p_nz_number(p, &n) < 0)
            return -1;
        out->parts[out->nparts++] = n;
        dot = imap_peek(p) == '.';
        if (!dot)
            break;
        p->pos++;
    }
    size_t len = imap_peek(p) >= 'A' ? word(p, w, sizeof(w)) : 0;
    if (len == 0) {
        if (dot)
            return imap_perror(p, "invalid section");
    } else if (out->nparts > 0 && !dot) {
        return imap_perror(p, "invalid section");
    } else if (strcmp(w, "HEADER") == 0) {
        out->text = IMAP_SECT_HEADER;
    } else if (strcmp(w, "TEXT") == 0) {
        out->text = IMAP_SECT_TEXT;
    } else if (strcmp(w, "MIME") == 0 && out->nparts > 0) {
        out->text = IMAP_SECT_MIME;
    } else if (strcmp(w, "HEADER.FIELDS") == 0 || strcmp(w, "HEADER.FIELDS.NOT") == 0) {
        out->text = w[13] ? IMAP_SECT_HEADER_FIELDS_NOT : IMAP_SECT_HEADER_FIELDS;
        if (imap_p_sp(p) < 0 || header_list(p, &out->fields) < 0)
            return -1;
    } else {
        return imap_perror(p, "invalid section");
    }
    return imap_p_char(p, ']');
}

/* body_item - BODY[...] / BODY.PEEK[...] with an optional <start.length> */
static int body_item(struct imap_parser *p, struct imap_fetch *out, int peek)
{
    if (out->nbodies == IMAP_FETCH_MAX_BODIES)
        return imap_perror(p, "too many body sections in one FETCH");
    out->bodies = xreallocarray(out->bodies, out->nbodies + 1, sizeof(*out->bodies));
    struct imap_fetch_body *b = &out->bodies[out->nbodies++];
    memset(b, 0, sizeof(*b));
    imap_section_init(&b->section);
    b->peek = peek;
    if (imap_p_section(p, &b->section) < 0)
        return -1;
    if (imap_peek(p) == '<') {
        p->pos++;
        b->partial = 1;
        if (imap_p_number(p, &b->start) < 0 || imap_p_char(p, '.') < 0 ||
            imap_p_nz_number(p, &b->length) < 0 || imap_p_char(p, '>') < 0)
            return imap_perror(p, "invalid partial <start.length>");
    }
    return 0;
}

/* fetch_att - one fetch-att */
static int fetch_att(struct imap_parser *p, struct imap_fetch *out)
{
    static const struct {
        const char *name;
        unsigned items;
    } simple[] = {{"ENVELOPE", IMAP_FETCH_ENVELOPE},
                  {"FLAGS", IMAP_FETCH_FLAGS},
                  {"INTERNALDATE", IMAP_FETCH_INTERNALDATE},
                  {"RFC822", IMAP_FETCH_RFC822},
                  {"RFC822.HEADER", IMAP_FETCH_RFC822_HEADER},
                  {"RFC822.SIZE", IMAP_FETCH_RFC822_SIZE},
                  {"RFC822.TEXT", IMAP_FETCH_RFC822_TEXT},
                  {"BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE},
                  {"UID", IMAP_FETCH_UID}};
    char w[32];
    size_t len = word(p, w, sizeof(w));

    if (len == 0 || len >= sizeof(w))
        return imap_perror(p, "invalid fetch attribute");
    if (strcmp(w, "BODY") == 0 || strcmp(w, "BODY.PEEK") == 0) {
        if (imap_peek(p) == '[')
            return body_item(p, out, w[4] == '.');
        if (w[4] == '.')
            return imap_perror(p, "BODY.PEEK needs a section");
        out->items |= IMAP_FETCH_BODY;
        return 0;
    }
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
        if (strcmp(w, simple[i].name) == 0) {
            out->items |= simple[i].items;
            return 0;
        }
    }
    return imap_perror(p, "unknown fetch attribute %s", w);
}

int imap_p_fetch_atts(struct imap_parser *p, struct imap_fetch *out)
{
    static const unsigned fast =
        IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE;
    if (imap_peek(p) == '(') {
        p->pos++;
        for (;;) {
            if (fetch_att(p, out) < 0)
                return -1;
            if (imap_peek(p) == ')') {
                p->pos++;
                return 0;
            }
            if (imap_p_sp(p) < 0)
                return -1;
        }
    }
    /* the macros (RFC 3501 6.4.5) stand alone */
    size_t start = p->pos;
    char w[32];
    word(p, w, sizeof(w));
    int c = imap_peek(p);
    if (c == -1 || c == ' ') {
        if (strcmp(w, "ALL") == 0) {
            out->items |= fast | IMAP_FETCH_ENVELOPE;
            return 0;
        } else if (strcmp(w, "FAST") == 0) {
            out->items |= fast;
            return 0;
        } else if (strcmp(w, "FULL") == 0) {
            out->items |= fast | IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY;
            return 0;
        }
    }
    p->pos = start;
    return fetch_att(p, out);
}

/* SEARCH ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum imap_skey_type type;
    char arg; /* 0 none, 's' astring, 'd' date, 'n' number, 'h' header, 'f' flag keyword,
               * 'u' seqset, 'N' NOT, 'O' OR */
} skeys[] = {
    {"ALL", IMAP_SK_ALL, 0},
    {"ANSWERED", IMAP_SK_ANSWERED, 0},
    {"BCC", IMAP_SK_BCC, 's'},
    {"BEFORE", IMAP_SK_BEFORE, 'd'},
    {"BODY", IMAP_SK_BODY, 's'},
    {"CC", IMAP_SK_CC, 's'},
    {"DELETED", IMAP_SK_DELETED, 0},
    {"DRAFT", IMAP_SK_DRAFT, 0},
    {"FLAGGED", IMAP_SK_FLAGGED, 0},
    {"FROM", IMAP_SK_FROM, 's'},
    {"HEADER", IMAP_SK_HEADER, 'h'},
    {"KEYWORD", IMAP_SK_KEYWORD, 'f'},
    {"LARGER", IMAP_SK_LARGER, 'n'},
    {"NEW", IMAP_SK_NEW, 0},
    {"NOT", IMAP_SK_NOT, 'N'},
    {"OLD", IMAP_SK_OLD, 0},
    {"ON", IMAP_SK_ON, 'd'},
    {"OR", IMAP_SK_OR, 'O'},
    {"RECENT", IMAP_SK_RECENT, 0},
    {"SEEN", IMAP_SK_SEEN, 0},
    {"SENTBEFORE", IMAP_SK_SENTBEFORE, 'd'},
    {"SENTON", IMAP_SK_SENTON, 'd'},
    {"SENTSINCE", IMAP_SK_SENTSINCE, 'd'},
    {"SINCE", IMAP_SK_SINCE, 'd'},
    {"SMALLER", IMAP_SK_SMALLER, 'n'},
    {"SUBJECT", IMAP_SK_SUBJECT, 's'},
    {"TEXT", IMAP_SK_TEXT, 's'},
    {"TO", IMAP_SK_TO, 's'},
    {"UID", IMAP_SK_UID, 'u'},
    {"UNANSWERED", IMAP_SK_UNANSWERED, 0},
    {"UNDELETED", IMAP_SK_UNDELETED, 0},
    {"UNDRAFT", IMAP_SK_UNDRAFT, 0},
    {"UNFLAGGED", IMAP_SK_UNFLAGGED, 0},
    {"UNKEYWORD", IMAP_SK_UNKEYWORD, 'f'},
    {"UNSEEN", IMAP_SK_UNSEEN, 0},
};

const char *imap_skey_name(enum imap_skey_type t)
{
    if (t == IMAP_SK_AND)
        return "(";
    if (t == IMAP_SK_SEQSET)
        return "sequence-set";
    for (size_t i = 0; i < sizeof(skeys) / sizeof(skeys[0]); i++)
        if (skeys[i].type == t)
            return skeys[i].name;
    return "?";
}

static struct imap_skey *skey_new(enum imap_skey_type t)
{
    struct imap_skey *k = xcalloc(1, sizeof(*k));
    k->type = t;
    str_init(&k->value);
    str_init(&k->folded);
    imap_seqset_init(&k->set);
    return k;
}

static void skey_add(struct imap_skey *parent, struct imap_skey *kid)
{
    parent->kids = xreallocarray(parent->kids, parent->nkids + 1, sizeof(*parent->kids));
    parent->kids[parent->nkids++] = kid;
}

void imap_skey_free(struct imap_skey *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->nkids; i++)
        imap_skey_free(k->kids[i]);
    free(k->kids);
    free(k->field);
    str_free(&k->value);
    str_free(&k->folded);
    imap_seqset_free(&k->set);
    free(k);
}

static int search_key(struct imap_parser *p, struct imap_skey **out);

/* key_string - an astring argument, kept as given and folded for matching */
static int key_string(struct imap_parser *p, struct imap_skey *k)
{
    if (imap_p_sp(p) < 0 || imap_p_astring(p, &k->value) < 0)
        return -1;
    struct str fixed = STR_INIT;
    utf8_repair(k->value.s ? k->value.s : "", k->value.len, &fixed);
    utf8_fold(fixed.s ? fixed.s : "", fixed.len, &k->folded);
    str_free(&fixed);
    return 0;
}

/* key_args - the arguments of a named key */
static int key_args(struct imap_parser *p, struct imap_skey *k, char arg)
{
    struct str a = STR_INIT;
    int r = 0;

    switch (arg) {
    case 's':
        r = key_string(p, k);
        break;
    case 'd':
        r = imap_p_sp(p) < 0 || imap_p_date(p, &k->days) < 0 ? -1 : 0;
        break;
    case 'n':
        r = imap_p_sp(p) < 0 || imap_p_number64(p, &k->number) < 0 ? -1 : 0;
        break;
    case 'h':
        if (imap_p_sp(p) < 0 || imap_p_astring(p, &a) < 0)
            r = -1;
        else {
            k->field = xstrndup(str_c(&a), a.len);
            r = key_string(p, k);
        }
        break;
    case 'f':
        r = imap_p_sp(p) < 0 || imap_p_atom(p, &k->value) < 0 ? -1 : 0;
        break;
    case 'u':
        r = imap_p_sp(p) < 0 || imap_p_seqset(p, &k->set) < 0 ? -1 : 0;
        break;
    case 'N':
    case 'O':
        for (int i = 0; i < (arg == 'O' ? 2 : 1) && r == 0; i++) {
            struct imap_skey *kid = NULL;
            r = imap_p_sp(p) < 0 || search_key(p, &kid) < 0 ? -1 : 0;
            if (kid)
                skey_add(k, kid);
        }
        break;
    }
    str_free(&a);
    return r;
}

/* search_key - one search-key (depth-limited) */
static int search_key(struct imap_parser *p, struct imap_skey **out)
{
    int c = imap_peek(p);
    int r = 0;

    if (++p->depth > p->depth_max) {
        p->depth--;
        return imap_perror(p, "search keys nested too deep");
    }
    if (c == '(') {
        struct imap_skey *k = *out = skey_new(IMAP_SK_AND);
        p->pos++;
        for (;;) {
            struct imap_skey *kid = NULL;
            r = search_key(p, &kid);
            if (kid)
                skey_add(k, kid);
            if (r < 0)
                break;
            if (imap_peek(p) == ')') {
                p->pos++;
                break;
            }
            if ((r = imap_p_sp(p)) < 0)
                break;
        }
    } else if (c == '*' || (c >= '0' && c <= '9')) {
        struct imap_skey *k = *out = skey_new(IMAP_SK_SEQSET);
        r = imap_p_seqset(p, &k->set);
    } else {
        char w[16];
        size_t len = word(p, w, sizeof(w));
        size_t i;
        for (i = 0; len && len < sizeof(w) && i < sizeof(skeys) / sizeof(skeys[0]); i++)
            if (strcmp(w, skeys[i].name) == 0)
                break;
        if (len == 0 || len >= sizeof(w) || i == sizeof(skeys) / sizeof(skeys[0])) {
            r = imap_perror(p, len ? "unknown search key" : "invalid search key");
        } else {
            *out = skey_new(skeys[i].type);
            r = key_args(p, *out, skeys[i].arg);
        }
    }
    p->depth--;
    return r;
}

int imap_p_search(struct imap_parser *p, struct imap_skey **out)
{
    struct imap_skey *top = skey_new(IMAP_SK_AND);
    size_t start = p->pos;
    char w[16];

    *out = top;
    /* [CHARSET SP astring SP] (RFC 3501 6.4.4) */
    if (word(p, w, sizeof(w)) == 7 && strcmp(w, "CHARSET") == 0 && imap_peek(p) == ' ') {
        struct str cs = STR_INIT;
        p->pos++;
        if (imap_p_astring(p, &cs) < 0 || imap_p_sp(p) < 0) {
            str_free(&cs);
            return -1;
        }
        int ok = strcasecmp(str_c(&cs), "UTF-8") == 0 || strcasecmp(str_c(&cs), "US-ASCII") == 0;
        str_free(&cs);
        if (!ok) {
            imap_perror(p, "unsupported charset");
            p->error = IMAP_PERR_BADCHARSET;
            return -1;
        }
    } else {
        p->pos = start;
    }
    for (;;) {
        struct imap_skey *k = NULL;
        int r = search_key(p, &k);
        if (k)
            skey_add(top, k);
        if (r < 0)
            return -1;
        if (imap_at_end(p))
            return 0;
        if (imap_p_sp(p) < 0)
            return -1;
    }
}
