/*
 * smtp_parse.c - syntax of SMTP commands: paths, ESMTP parameters, domains
 *
 * Implements the ABNF of RFC 5321 4.1.2 (Path, Mailbox, Local-part,
 * Domain, address-literal, esmtp-param) and the
 * UTF-8 extensions of RFC 6531 3.3. The lenient mode (Postfix's
 * strict_rfc821_envelopes = no) also takes an address without angle
 * brackets, white space before the path, dots anywhere in an unquoted
 * local part and an unqualified address; it never takes an unquoted '@'
 * in a local part, control characters or malformed domains, so that no
 * address can mean one thing here and another at the next hop.
 *
 * The values of the ESMTP parameters (SIZE, BODY, RET, NOTIFY, ENVID,
 * ORCPT) are parsed here too, once: smtpd, sendmail's -N/-R/-V and
 * pickup all call these functions, so no two ways into the queue can
 * disagree on what a value means.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "mem.h"
#include "qfile.h"
#include "smtp_parse.h"

void smtp_path_init(struct smtp_path *p)
{
    memset(p, 0, sizeof(*p));
}

void smtp_path_free(struct smtp_path *p)
{
    str_free(&p->addr);
    str_free(&p->local);
    str_free(&p->domain);
    str_free(&p->raw);
    smtp_path_init(p);
}

void smtp_path_reset(struct smtp_path *p)
{
    str_reset(&p->addr);
    str_reset(&p->local);
    str_reset(&p->domain);
    str_reset(&p->raw);
    p->is_null = p->source_route = p->utf8 = p->unqualified = 0;
}

/* is_atext - RFC 5322 atext (ASCII part) */
static int is_atext(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int smtp_utf8_valid(const char *s, size_t n)
{
    return utf8_valid(s, n);
}

int smtp_valid_address_literal(const char *d, size_t n)
{
    char text[SMTP_DOMAIN_MAX + 1];
    unsigned char bin[16];

    if (n < 3 || n > SMTP_DOMAIN_MAX || d[0] != '[' || d[n - 1] != ']')
        return 0;
    memcpy(text, d + 1, n - 2);
    text[n - 2] = '\0';
    if (strlen(text) != n - 2)
        return 0;
    if (strncasecmp(text, "IPv6:", 5) == 0)
        return inet_pton(AF_INET6, text + 5, bin) == 1;
    if (inet_pton(AF_INET, text, bin) == 1)
        return 1;
    /* General-address-literal = Standardized-tag ":" 1*dcontent (RFC 5321 4.1.3). dcontent
     * allows '@', but we refuse it: the internal form splits an address at its last '@'
     * (addr_domain_at in lib/global/addr.c), and "a@[x:@victim.example]" would route there */
    const char *colon = strchr(text, ':');
    if (colon == NULL || colon == text || colon[1] == '\0')
        return 0;
    for (const char *p = text; p < colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return 0;
    for (const char *p = colon + 1; *p; p++)
        if (*p < 33 || *p > 126 || *p == '[' || *p == '\\' || *p == ']' || *p == '@')
            return 0;
    return 1;
}

int smtp_valid_domain(const char *d, size_t n, int utf8_ok)
{
    size_t label = 0;

    if (n == 0 || n > SMTP_DOMAIN_MAX)
        return 0;
    if (d[0] == '[')
        return smtp_valid_address_literal(d, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (c >= 0x80) {
            if (!utf8_ok)
                return 0;
        } else if (!isalnum(c) && c != '-' && c != '_') {
            return 0;
        } else if (c == '-' && label == 0) {
            return 0;
        }
        if (++label > 63)
            return 0;
    }
    if (label == 0 || d[n - 1] == '-')
        return 0;
    return utf8_ok ? smtp_utf8_valid(d, n) : 1;
}

/* parse_quoted - Quoted-string at *p into local (unquoted) and raw; 0 ok */
static int parse_quoted(const char **pp, struct str *local, struct str *raw, int utf8_ok)
{
    const char *p = *pp + 1;

    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c == '\\') {
            unsigned char n = (unsigned char)p[1];
            if (n >= 32 && n <= 126) {
                str_catc(local, n);
                p += 2;
                continue;
            }
            if (n >= 0x80 && utf8_ok) {
                str_catc(local, n);
                p += 2;
                continue;
            }
            return -1;
        }
        if ((c >= 32 && c <= 126) || (c >= 0x80 && utf8_ok)) {
            str_catc(local, c);
            p++;
            continue;
        }
        return -1; /* control character, NUL, or non-ASCII without SMTPUTF8 */
    }
    str_catn(raw, *pp, (size_t)(p + 1 - *pp));
    *pp = p + 1;
    return 0;
}

/* parse_dot_string - Dot-string at *p (stops at '@', '>', space or end); 0 ok */
static int parse_dot_string(const char **pp, struct str *local, int strict, int utf8_ok)
{
    const char *p = *pp;

    while (*p && *p != '@' && *p != '>' && *p != ' ') {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (strict && (p == *pp || p[-1] == '.' || p[1] == '@' || p[1] == '>'))
                return -1;
        } else if (!(is_atext(c) || (c >= 0x80 && utf8_ok))) {
            return -1;
        }
        p++;
    }
    if (p == *pp)
        return -1;
    str_catn(local, *pp, (size_t)(p - *pp));
    *pp = p;
    return 0;
}

/* parse_route - skip an A-d-l ("@a,@b:") after '<'; 0 ok */
static int parse_route(const char **pp, int utf8_ok)
{
    const char *p = *pp;

    while (*p == '@') {
        const char *start = ++p;
        while (*p && *p != ',' && *p != ':' && *p != '>')
            p++;
        if (!smtp_valid_domain(start, (size_t)(p - start), utf8_ok))
            return -1;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != ':')
            return -1;
        *pp = p + 1;
        return 0;
    }
    return -1;
}

/* has_8bit - any byte >= 0x80 */
static int has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

int smtp_parse_path(const char **text, int flags, struct smtp_path *out, const char **why)
{
    const char *p = *text, *start;
    int strict = (flags & SMTP_PATH_STRICT) != 0;
    int bracket;
    size_t dlen;

    smtp_path_reset(out);
    if (!strict)
        while (*p == ' ')
            p++;
    start = p;
    bracket = *p == '<';
    if (!bracket && strict) {
        *why = "missing <";
        return SMTP_PATH_SYNTAX;
    }
    if (bracket) {
        p++;
        if (*p == '>') {
            if (!(flags & SMTP_PATH_NULL_OK)) {
                *why = "empty address";
                return SMTP_PATH_SYNTAX;
            }
            out->is_null = 1;
            *text = p + 1;
            return SMTP_PATH_OK;
        }
        if (*p == '@') {
            if (parse_route(&p, 1) < 0) {
                *why = "bad source route";
                return SMTP_PATH_SYNTAX;
            }
            out->source_route = 1;
        }
    }
    const char *lstart = p;
    if (*p == '"') {
        if (parse_quoted(&p, &out->local, &out->raw, 1) < 0) {
            *why = "bad quoted local part";
            return SMTP_PATH_SYNTAX;
        }
    } else {
        if (parse_dot_string(&p, &out->local, strict, 1) < 0) {
            *why = "bad local part";
            return SMTP_PATH_SYNTAX;
        }
        str_cat(&out->raw, out->local.s);
    }
    if (out->local.len == 0) {
        *why = "empty local part";
        return SMTP_PATH_SYNTAX;
    }
    if ((size_t)(p - lstart) > SMTP_LOCAL_MAX) {
        *why = "local part too long";
        return SMTP_PATH_TOOLONG;
    }
    if (*p == '@') {
        const char *dstart = ++p;
        if (*p == '[') {
            while (*p && *p != ']')
                p++;
            if (*p == ']')
                p++;
        } else {
            while (*p && *p != '>' && *p != ' ')
                p++;
        }
        dlen = (size_t)(p - dstart);
        if (dlen > SMTP_DOMAIN_MAX) {
            *why = "domain too long";
            return SMTP_PATH_TOOLONG;
        }
        /* "user@example.com." names the same domain; strict RFC 5321 has no trailing dot */
        if (!strict && dlen > 1 && dstart[0] != '[' && dstart[dlen - 1] == '.' &&
            dstart[dlen - 2] != '.')
            dlen--;
        if (!smtp_valid_domain(dstart, dlen, 1)) {
            *why = "bad domain";
            return SMTP_PATH_SYNTAX;
        }
        str_catn(&out->domain, dstart, dlen);
        str_catc(&out->raw, '@');
        str_catn(&out->raw, dstart, dlen);
    } else if (strict && strcasecmp(out->local.s, "postmaster") != 0) {
        *why = "missing domain";
        return SMTP_PATH_SYNTAX;
    }
    if (bracket) {
        if (*p != '>') {
            *why = "missing >";
            return SMTP_PATH_SYNTAX;
        }
        p++;
    } else if (*p != '\0' && *p != ' ') {
        *why = "bad address";
        return SMTP_PATH_SYNTAX;
    }
    if ((size_t)(p - start) > SMTP_PATH_MAX) {
        *why = "path too long";
        return SMTP_PATH_TOOLONG;
    }
    /* RFC 6531 3.4: UTF-8 in an address only after the SMTPUTF8 parameter */
    out->utf8 = has_8bit(out->raw.s, out->raw.len);
    if (out->utf8 && !(flags & SMTP_PATH_UTF8_OK)) {
        *why = "non-ASCII address without SMTPUTF8";
        return SMTP_PATH_UTF8;
    }
    if (out->utf8 && !smtp_utf8_valid(out->raw.s, out->raw.len)) {
        *why = "malformed UTF-8";
        return SMTP_PATH_SYNTAX;
    }
    str_cpyn(&out->addr, out->local.s, out->local.len);
    if (out->domain.len) {
        str_catc(&out->addr, '@');
        str_catn(&out->addr, out->domain.s, out->domain.len);
    }
    *text = p;
    return SMTP_PATH_OK;
}

void smtp_params_free(struct smtp_params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].key);
        free(p->v[i].value);
    }
    p->n = 0;
}

int smtp_parse_params(const char *text, struct smtp_params *out, const char **why)
{
    const char *p = text;

    out->n = 0;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return 0;
        const char *k = p;
        if (!isalnum((unsigned char)*p)) {
            *why = "bad parameter keyword";
            goto bad;
        }
        while (isalnum((unsigned char)*p) || *p == '-')
            p++;
        size_t klen = (size_t)(p - k);
        const char *v = NULL;
        size_t vlen = 0;
        if (*p == '=') {
            v = ++p;
            while (*p && *p != ' ') {
                unsigned char c = (unsigned char)*p;
                if (c == '=' || (c < 33 && c != 0) || c == 127) {
                    *why = "bad parameter value";
                    goto bad;
                }
                p++;
            }
            vlen = (size_t)(p - v);
            if (vlen == 0) {
                *why = "empty parameter value";
                goto bad;
            }
        } else if (*p != ' ' && *p != '\0') {
            *why = "bad parameter keyword";
            goto bad;
        }
        for (size_t i = 0; i < out->n; i++)
            if (strlen(out->v[i].key) == klen && strncasecmp(out->v[i].key, k, klen) == 0) {
                *why = "duplicate parameter";
                goto bad;
            }
        if (out->n == SMTP_PARAMS_MAX) {
            *why = "too many parameters";
            goto bad;
        }
        out->v[out->n].key = xstrndup(k, klen);
        out->v[out->n].value = v ? xstrndup(v, vlen) : NULL;
        out->n++;
    }
bad:
    smtp_params_free(out);
    return -1;
}

#define ENVID_MAX 100 /* RFC 3461 4.4 */
#define ORCPT_MAX 500 /* RFC 3461 4.2 */

int smtp_parse_size(const char *v, unsigned long long *out)
{
    /* 1ULL << 62 keeps every later sum in a long long; larger sizes are refused anyway */
    return v == NULL || parse_ulong(v, 1ULL << 62, out) < 0 ? -1 : 0;
}

int smtp_parse_body(const char *v)
{
    if (v == NULL)
        return -1;
    if (strcasecmp(v, "7BIT") == 0)
        return SMTP_BODY_7BIT;
    if (strcasecmp(v, "8BITMIME") == 0)
        return SMTP_BODY_8BITMIME;
    if (strcasecmp(v, "BINARYMIME") == 0)
        return SMTP_BODY_BINARYMIME;
    return -1;
}

int smtp_parse_ret(const char *v)
{
    if (v && strcasecmp(v, "FULL") == 0)
        return SMTP_RET_FULL;
    if (v && strcasecmp(v, "HDRS") == 0)
        return SMTP_RET_HDRS;
    return -1;
}

const char *smtp_ret_name(int ret)
{
    return ret == SMTP_RET_FULL ? "FULL" : ret == SMTP_RET_HDRS ? "HDRS" : "";
}

/* the NOTIFY keywords (RFC 3461 4.1), in the order they are written */
static const struct {
    const char *word;
    int bit;
} notify_words[] = {{"NEVER", QNOTIFY_NEVER},
                    {"SUCCESS", QNOTIFY_SUCCESS},
                    {"FAILURE", QNOTIFY_FAILURE},
                    {"DELAY", QNOTIFY_DELAY}};

#define NOTIFY_WORDS (sizeof(notify_words) / sizeof(notify_words[0]))

/* notify_keyword - the QNOTIFY_ bit of one list element (n bytes at p), 0 if none */
static int notify_keyword(const char *p, size_t n)
{
    for (size_t i = 0; i < NOTIFY_WORDS; i++)
        if (strlen(notify_words[i].word) == n && strncasecmp(p, notify_words[i].word, n) == 0)
            return notify_words[i].bit;
    return 0;
}

int smtp_parse_notify(const char *v)
{
    int bits = 0, items = 0;

    if (v == NULL)
        return -1;
    /* RFC 3461 4.1: notify-esmtp-value = "NEVER" / 1#notify-list-element, in RFC 822's
     * ABNF, whose # rule (RFC 822 2.7) permits null elements that do not count:
     * "SUCCESS,,FAILURE" and ",SUCCESS" are two and one elements (Postfix takes them
     * too); at least one element must be there. NEVER is no list element: alone only. */
    int commas = 0;
    for (const char *p = v;; p++) {
        size_t n = strcspn(p, ",");
        if (n > 0) {
            int bit = notify_keyword(p, n);
            if (bit == 0)
                return -1;
            bits |= bit;
            items++;
        }
        p += n;
        if (*p == '\0')
            break;
        commas++;
    }
    if (items == 0)
        return -1;
    if ((bits & QNOTIFY_NEVER) && (items != 1 || commas != 0)) /* "MUST appear by itself" */
        return -1;
    return bits;
}

void smtp_format_notify(int bits, struct str *out)
{
    const char *sep = "";

    if (bits & QNOTIFY_NEVER)
        bits = QNOTIFY_NEVER; /* it stands alone */
    for (size_t i = 0; i < NOTIFY_WORDS; i++)
        if (bits & notify_words[i].bit) {
            str_cat(out, sep);
            str_cat(out, notify_words[i].word);
            sep = ",";
        }
}

int smtp_parse_envid(const char *v, struct str *out)
{
    str_reset(out);
    if (v == NULL || strlen(v) > ENVID_MAX || smtp_xtext_decode(v, out) < 0 || out->len == 0)
        return -1;
    /* RFC 3461 4.4: printable (graphic and white space) US-ASCII before encoding */
    for (size_t i = 0; i < out->len; i++)
        if (out->s[i] < 32 || out->s[i] > 126)
            return -1;
    return 0;
}

int smtp_envid_valid(const char *decoded)
{
    struct str x = STR_INIT, dec = STR_INIT;
    int r;

    smtp_xtext_encode(decoded, strlen(decoded), &x);
    r = smtp_parse_envid(str_c(&x), &dec) == 0;
    str_free(&x);
    str_free(&dec);
    return r;
}

int smtp_parse_orcpt(const char *v, struct str *out)
{
    const char *semi = v ? strchr(v, ';') : NULL;

    str_reset(out);
    /* RFC 3461 4.2: orcpt-parameter = "ORCPT=" original-recipient-address, addr-type ";"
     * xtext, addr-type an atom (we take letters, digits and '-', as the registered types are) */
    if (semi == NULL || semi == v || strlen(v) > ORCPT_MAX || semi[1] == '\0')
        return -1;
    for (const char *q = v; q < semi; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '-'))
            return -1;
    str_cpyn(out, v, (size_t)(semi - v));
    str_catc(out, ';');
    if (smtp_xtext_decode(semi + 1, out) < 0 || memchr(out->s, '\0', out->len) != NULL ||
        !smtp_utf8_valid(out->s, out->len))
        return -1;
    for (size_t i = 0; i < out->len; i++)
        if ((unsigned char)out->s[i] < 32 || out->s[i] == 127)
            return -1;
    return 0;
}

void smtp_format_orcpt(const char *decoded, struct str *out)
{
    const char *semi = strchr(decoded, ';');

    if (semi == NULL)
        return;
    str_catn(out, decoded, (size_t)(semi + 1 - decoded));
    smtp_xtext_encode(semi + 1, strlen(semi + 1), out);
}

int smtp_orcpt_valid(const char *decoded)
{
    struct str x = STR_INIT, dec = STR_INIT;
    int r;

    smtp_format_orcpt(decoded, &x);
    r = smtp_parse_orcpt(str_c(&x), &dec) == 0;
    str_free(&x);
    str_free(&dec);
    return r;
}
