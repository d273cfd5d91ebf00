/*
 * mime_addr.c - RFC 5322 address lists and dates
 *
 * Address lists (RFC 5322 3.4) are read the way IMAP's ENVELOPE wants
 * them (RFC 3501 7.4.2): display name, source route, local part and
 * domain per mailbox, with groups as a start entry (host NIL, mailbox =
 * the group name) and an end entry (all NIL). The obsolete syntax of RFC
 * 5322 4.4 (routes, empty list elements, phrases with dots) is accepted,
 * a comment serves as the name of a bare addr-spec ("joe@x (Joe)"), and
 * junk is skipped up to the next comma. Only host NIL may mean a group,
 * so a mailbox without domain gets "MISSING_DOMAIN" (and one without
 * local part "MISSING_MAILBOX"), as Dovecot does.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mem.h"
#include "mime.h"

#define MISSING_MAILBOX "MISSING_MAILBOX"
#define MISSING_DOMAIN "MISSING_DOMAIN"

struct ap {
    const char *v;
    size_t n, pos;
    struct str comment; /* the first comment of the current address */
};

/* is_special - RFC 5322 specials, white space and controls end an atom */
static int is_special(unsigned char c)
{
    return c <= 32 || c == 127 || strchr("()<>[]:;@\\,.\"", c) != NULL;
}

/* comment - read a (nested) comment at a->pos; its text goes to a->comment when that
 * is still empty */
static void comment(struct ap *a)
{
    int depth = 0, keep = a->comment.len == 0;
    size_t start = a->pos;

    while (a->pos < a->n) {
        char c = a->v[a->pos];
        if (c == '\\' && a->pos + 1 < a->n) {
            if (keep && depth > 0)
                str_catc(&a->comment, a->v[a->pos + 1]);
            a->pos += 2;
            continue;
        }
        a->pos++;
        if (c == '(') {
            if (depth++ == 0)
                continue;
        } else if (c == ')') {
            if (--depth == 0)
                break;
        }
        if (keep)
            str_catc(&a->comment, c == '\t' || c == '\r' || c == '\n' ? ' ' : c);
    }
    if (a->pos == start)
        a->pos++;
}

static void cfws(struct ap *a)
{
    while (a->pos < a->n) {
        char c = a->v[a->pos];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            a->pos++;
        else if (c == '(')
            comment(a);
        else
            break;
    }
}

/* quoted - a quoted-string at a->pos, unescaped */
static void quoted(struct ap *a, struct str *out)
{
    a->pos++;
    while (a->pos < a->n && a->v[a->pos] != '"') {
        char c = a->v[a->pos];
        if (c == '\\' && a->pos + 1 < a->n)
            c = a->v[++a->pos];
        if (c != '\r' && c != '\n')
            str_catc(out, c == '\t' ? ' ' : c);
        a->pos++;
    }
    if (a->pos < a->n)
        a->pos++;
}

/* words - read words and dots: the phrase form (words separated by one space) and
 * the local-part form (no spaces); returns how many were read */
static int words(struct ap *a, struct str *phrase, struct str *local)
{
    int count = 0;

    for (;;) {
        cfws(a);
        if (a->pos >= a->n)
            break;
        unsigned char c = (unsigned char)a->v[a->pos];
        if (c == '.') {
            str_catc(phrase, '.');
            str_catc(local, '.');
            a->pos++;
            count++;
            continue;
        }
        if (c != '"' && is_special(c))
            break;
        if (count > 0 && phrase->len > 0)
            str_catc(phrase, ' ');
        if (c == '"') {
            struct str q = STR_INIT;
            quoted(a, &q);
            str_catn(phrase, str_c(&q), q.len);
            str_catn(local, str_c(&q), q.len);
            str_free(&q);
        } else {
            size_t start = a->pos;
            while (a->pos < a->n && !is_special((unsigned char)a->v[a->pos]))
                a->pos++;
            str_catn(phrase, a->v + start, a->pos - start);
            str_catn(local, a->v + start, a->pos - start);
        }
        count++;
    }
    return count;
}

/* domain - atoms, dots and domain literals after '@' */
static void domain(struct ap *a, struct str *out)
{
    for (;;) {
        cfws(a);
        if (a->pos >= a->n)
            return;
        unsigned char c = (unsigned char)a->v[a->pos];
        if (c == '[') {
            size_t start = a->pos;
            while (a->pos < a->n && a->v[a->pos] != ']')
                a->pos += a->v[a->pos] == '\\' && a->pos + 1 < a->n ? 2 : 1;
            if (a->pos < a->n)
                a->pos++;
            for (size_t i = start; i < a->pos; i++)
                if (a->v[i] != ' ' && a->v[i] != '\t' && a->v[i] != '\r' && a->v[i] != '\n')
                    str_catc(out, a->v[i]);
        } else if (c == '.') {
            str_catc(out, '.');
            a->pos++;
        } else if (!is_special(c)) {
            size_t start = a->pos;
            while (a->pos < a->n && !is_special((unsigned char)a->v[a->pos]))
                a->pos++;
            str_catn(out, a->v + start, a->pos - start);
        } else {
            return;
        }
    }
}

static char *dup_or_null(const struct str *s)
{
    return s->len ? xstrndup(s->s, s->len) : NULL;
}

static void add(struct mime_addrlist *l, char *name, char *route, char *mailbox, char *host)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    l->v[l->n].name = name;
    l->v[l->n].route = route;
    l->v[l->n].mailbox = mailbox;
    l->v[l->n].host = host;
    l->n++;
}

/* add_mailbox - one mailbox, filling in what is missing */
static void add_mailbox(struct mime_addrlist *l, const struct str *name, const struct str *route,
                        const struct str *local, const struct str *dom)
{
    add(l, dup_or_null(name), dup_or_null(route),
        xstrdup(local->len ? str_c(local) : MISSING_MAILBOX),
        xstrdup(dom->len ? str_c(dom) : MISSING_DOMAIN));
}

/* skip_to_close - past the '>' of an angle address (junk before it is dropped) */
static void skip_to_close(struct ap *a)
{
    while (a->pos < a->n && a->v[a->pos] != '>' && a->v[a->pos] != ',')
        a->pos++;
    if (a->pos < a->n && a->v[a->pos] == '>')
        a->pos++;
}

/* angle - "<" [route ":"] addr-spec ">" at a->pos */
static void angle(struct ap *a, struct str *route, struct str *local, struct str *dom)
{
    struct str phrase = STR_INIT;

    a->pos++;
    cfws(a);
    /* RFC 5322 4.4 obs-route: "@a,@b:" */
    while (a->pos < a->n && (a->v[a->pos] == '@' || a->v[a->pos] == ',')) {
        if (a->v[a->pos] == ',') {
            a->pos++;
            cfws(a);
            continue;
        }
        a->pos++;
        if (route->len)
            str_catc(route, ',');
        str_catc(route, '@');
        domain(a, route);
        cfws(a);
    }
    if (route->len) {
        if (a->pos < a->n && a->v[a->pos] == ':')
            a->pos++;
        else {
            /* "<@host>": a domain without a local part, not a route */
            if (route->len > 1 && strchr(route->s, ',') == NULL)
                str_cpy(dom, route->s + 1);
            str_reset(route);
            str_free(&phrase);
            skip_to_close(a);
            return;
        }
    }
    words(a, &phrase, local);
    cfws(a);
    if (a->pos < a->n && a->v[a->pos] == '@') {
        a->pos++;
        domain(a, dom);
    }
    str_free(&phrase);
    skip_to_close(a);
}

/* clean_name - a display name for humans: no line breaks or tabs */
static void clean_name(struct str *s)
{
    for (size_t i = 0; i < s->len; i++)
        if (s->s[i] == '\r' || s->s[i] == '\n' || s->s[i] == '\t')
            s->s[i] = ' ';
}

void mime_parse_addresses(const char *v, size_t n, struct mime_addrlist *out)
{
    struct ap a = {v, n, 0, STR_INIT};
    struct str phrase = STR_INIT, local = STR_INIT, dom = STR_INIT, route = STR_INIT;
    int in_group = 0;

    while (a.pos < a.n) {
        size_t before = a.pos;
        str_reset(&a.comment);
        str_reset(&phrase);
        str_reset(&local);
        str_reset(&dom);
        str_reset(&route);
        int nw = words(&a, &phrase, &local);
        cfws(&a);
        char c = a.pos < a.n ? a.v[a.pos] : '\0';
        if (c == '<') {
            struct str l2 = STR_INIT;
            angle(&a, &route, &l2, &dom);
            if (nw == 0 && a.comment.len)
                str_cpyn(&phrase, a.comment.s, a.comment.len);
            clean_name(&phrase);
            add_mailbox(out, &phrase, &route, &l2, &dom);
            str_free(&l2);
        } else if (c == ':' && !in_group && nw > 0) {
            a.pos++;
            add(out, NULL, NULL, xstrndup(phrase.s, phrase.len), NULL);
            in_group = 1;
            continue;
        } else if (c == '@') {
            a.pos++;
            domain(&a, &dom);
            cfws(&a);
            clean_name(&a.comment);
            add_mailbox(out, &a.comment, &route, &local, &dom);
        } else if (nw > 0) {
            cfws(&a);
            clean_name(&a.comment);
            add_mailbox(out, &a.comment, &route, &local, &dom);
        }
        cfws(&a);
        if (a.pos >= a.n)
            break;
        c = a.v[a.pos];
        if (c == ';' && in_group) {
            add(out, NULL, NULL, NULL, NULL);
            in_group = 0;
            a.pos++;
        } else if (c == ',') {
            a.pos++;
        } else if (a.pos == before || c != '<') {
            /* junk: skip it up to the next comma */
            a.pos++;
            while (a.pos < a.n && a.v[a.pos] != ',' && a.v[a.pos] != ';')
                a.pos++;
        }
    }
    if (in_group)
        add(out, NULL, NULL, NULL, NULL);
    str_free(&a.comment);
    str_free(&phrase);
    str_free(&local);
    str_free(&dom);
    str_free(&route);
}

void mime_addrlist_free(struct mime_addrlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].route);
        free(l->v[i].mailbox);
        free(l->v[i].host);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* dates (RFC 5322 3.3, 4.3) ---------------------------------------------------- */

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};

struct dscan {
    const char *s;
    size_t n, pos;
};

/* skip_sep - white space, comments, commas and dashes between date items */
static void skip_sep(struct dscan *d)
{
    while (d->pos < d->n) {
        char c = d->s[d->pos];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == '-') {
            d->pos++;
        } else if (c == '(') {
            int depth = 0;
            while (d->pos < d->n) {
                c = d->s[d->pos++];
                if (c == '(')
                    depth++;
                else if (c == ')' && --depth == 0)
                    break;
            }
        } else {
            break;
        }
    }
}

static int number(struct dscan *d, int maxdigits, int *out)
{
    int v = 0, k = 0;

    while (d->pos < d->n && d->s[d->pos] >= '0' && d->s[d->pos] <= '9' && k < maxdigits) {
        v = v * 10 + (d->s[d->pos++] - '0');
        k++;
    }
    *out = v;
    return k;
}

static size_t alpha(struct dscan *d, const char **w)
{
    size_t start = d->pos;

    while (d->pos < d->n && ((d->s[d->pos] | 0x20) >= 'a' && (d->s[d->pos] | 0x20) <= 'z'))
        d->pos++;
    *w = d->s + start;
    return d->pos - start;
}

/* zone - the offset in minutes of a zone ("+0200", "EST", "UT", military letters) */
static int zone(struct dscan *d)
{
    static const struct {
        const char *name;
        int off;
    } names[] = {{"ut", 0},        {"gmt", 0},       {"utc", 0},       {"z", 0},
                 {"est", -5 * 60}, {"edt", -4 * 60}, {"cst", -6 * 60}, {"cdt", -5 * 60},
                 {"mst", -7 * 60}, {"mdt", -6 * 60}, {"pst", -8 * 60}, {"pdt", -7 * 60}};
    const char *w;
    int v, sign;

    if (d->pos < d->n && (d->s[d->pos] == '+' || d->s[d->pos] == '-')) {
        sign = d->s[d->pos++] == '-' ? -1 : 1;
        if (number(d, 4, &v) != 4 || v % 100 > 59)
            return 0;
        return sign * (v / 100 * 60 + v % 100);
    }
    size_t len = alpha(d, &w);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == len && strncasecmp(w, names[i].name, len) == 0)
            return names[i].off;
    return 0; /* military and unknown zones: RFC 5322 4.3 says treat as -0000 */
}

int mime_parse_date(const char *s, size_t n, time_t *t, int *tz_minutes)
{
    struct dscan d = {s, n, 0};
    const char *w;
    int day, mon = -1, year, hh, mm, ss = 0;
    size_t len;

    skip_sep(&d);
    len = alpha(&d, &w);
    if (len > 0) /* day-of-week, which we do not check */
        skip_sep(&d);
    if (number(&d, 2, &day) == 0 || day < 1 || day > 31)
        return -1;
    skip_sep(&d);
    len = alpha(&d, &w);
    for (int i = 0; i < 12 && len >= 3; i++)
        if (strncasecmp(w, months[i], 3) == 0)
            mon = i;
    if (mon < 0)
        return -1;
    skip_sep(&d);
    int yd = number(&d, 4, &year);
    if (yd == 0)
        return -1;
    if (yd <= 2) /* RFC 5322 4.3 */
        year += year < 50 ? 2000 : 1900;
    else if (yd == 3)
        year += 1900;
    skip_sep(&d);
    if (number(&d, 2, &hh) == 0 || d.pos >= n || s[d.pos] != ':')
        return -1;
    d.pos++;
    if (number(&d, 2, &mm) == 0)
        return -1;
    if (d.pos < n && s[d.pos] == ':') {
        d.pos++;
        number(&d, 2, &ss);
    }
    if (hh > 23 || mm > 59 || ss > 60)
        return -1;
    while (d.pos < n &&
           (s[d.pos] == ' ' || s[d.pos] == '\t' || s[d.pos] == '\r' || s[d.pos] == '\n'))
        d.pos++;
    int tz = zone(&d);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss == 60 ? 59 : ss;
    time_t utc = timegm(&tm);
    if (utc == (time_t)-1)
        return -1;
    *t = utc - (time_t)tz * 60;
    if (tz_minutes)
        *tz_minutes = tz;
    return 0;
}
