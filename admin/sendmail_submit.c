/*
 * sendmail_submit.c - the addresses given to sendmail
 *
 * Addresses given to sendmail (arguments, -f, To:/Cc:/Bcc: with -t) are
 * RFC 5322 address lists: "Name <user@example.com>, other (comment)" and
 * groups work as well as a bare addr-spec. Each addr-spec is checked with
 * the RFC 5321 syntax rules that pickup applies (lib/global/smtp_parse.c) and
 * kept in that external form (quotes kept) for the maildrop file, so that
 * a typo is reported at once with EX_NOUSER rather than found in corrupt/.
 * The message itself goes to petrel-drop through lib/global/submit.h.
 */
#include <stdlib.h>
#include <string.h>

#include "maildrop.h"
#include "mem.h"
#include "smtp_parse.h"

#include "sendmail.h"

/* external - the external form of an addr-spec (RFC 5321 syntax, quotes kept); -1 when
 * malformed */
static int external(const char *spec, size_t n, struct str *out)
{
    struct smtp_path p;
    struct str text = STR_INIT;
    const char *t, *why;
    int r;

    str_reset(out);
    smtp_path_init(&p);
    str_cat(&text, "<");
    str_catn(&text, spec, n);
    str_cat(&text, ">");
    t = text.s;
    r = smtp_parse_path(&t, SMTP_PATH_UTF8_OK, &p, &why);
    if (r == SMTP_PATH_OK && *t != '\0')
        r = SMTP_PATH_SYNTAX;
    if (r == SMTP_PATH_OK)
        str_cpy(out, p.raw.s);
    smtp_path_free(&p);
    str_free(&text);
    return r == SMTP_PATH_OK && maildrop_printable(out->s, out->len) ? 0 : -1;
}

/* element - one element of an address list (comments already removed): "addr-spec" or
 * "phrase <addr-spec>"; its external form; -1 when malformed, 0 when empty, 1 ok */
static int element(const char *p, size_t n, struct str *out)
{
    const char *lt = NULL, *gt = NULL;
    int quote = 0;

    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && quote && i + 1 < n)
            i++;
        else if (p[i] == '"')
            quote = !quote;
        else if (!quote && p[i] == '<' && lt == NULL)
            lt = p + i;
        else if (!quote && p[i] == '>' && lt && gt == NULL)
            gt = p + i;
    }
    if (lt) { /* name-addr: the angle-addr must end the element */
        if (gt == NULL || gt != p + n - 1)
            return -1;
        p = lt + 1;
        n = (size_t)(gt - lt - 1);
    }
    return external(p, n, out) < 0 ? -1 : 1;
}
void sm_rcpts_add(struct sm_rcpts *l, const char *addr, const char *orcpt, int notify)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].addr, addr) == 0 && strcmp(l->v[i].orcpt, orcpt ? orcpt : "") == 0 &&
            l->v[i].notify == notify)
            return;
    l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
    l->v[l->n].addr = xstrdup(addr);
    l->v[l->n].orcpt = xstrdup(orcpt ? orcpt : "");
    l->v[l->n].notify = notify;
    l->n++;
}

void sm_rcpts_free(struct sm_rcpts *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].addr);
        free(l->v[i].orcpt);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int sm_parse_list(const char *text, size_t n, int notify, struct sm_rcpts *out, struct str *bad)
{
    struct str cur = STR_INIT, ext = STR_INIT;
    int quote = 0, comment = 0, angle = 0, rc = 0;

    /* split at top-level commas (and group ':' / ';'), dropping comments (RFC 5322 3.4) */
    for (size_t i = 0; i <= n && rc == 0; i++) {
        char c = i < n ? text[i] : ',';
        if (comment) {
            if (c == '\\' && i + 1 < n)
                i++;
            else if (c == '(')
                comment++;
            else if (c == ')')
                comment--;
            continue;
        }
        if (quote) {
            str_catc(&cur, c);
            if (c == '\\' && i + 1 < n)
                str_catc(&cur, text[++i]);
            else if (c == '"')
                quote = 0;
            continue;
        }
        if (c == '(') {
            comment = 1;
        } else if (c == '"') {
            quote = 1;
            str_catc(&cur, c);
        } else if (c == ':' && !angle) {
            str_reset(&cur); /* a group's display name */
        } else if ((c == ',' || c == ';') && !angle) {
            int r = element(cur.s ? cur.s : "", cur.len, &ext);
            if (r < 0) {
                str_catn(bad, cur.s, cur.len);
                rc = -1;
            } else if (r > 0) {
                sm_rcpts_add(out, ext.s, NULL, notify);
            }
            str_reset(&cur);
        } else {
            if (c == '<')
                angle = 1;
            else if (c == '>')
                angle = 0;
            str_catc(&cur, c == '\r' || c == '\n' ? ' ' : c);
        }
    }
    if (rc == 0 && (quote || comment || angle)) {
        str_catn(bad, text, n);
        rc = -1;
    }
    str_free(&cur);
    str_free(&ext);
    return rc;
}

int sm_parse_sender(const char *text, struct str *out)
{
    struct sm_rcpts l = {NULL, 0};
    struct str bad = STR_INIT;
    int rc = -1;

    str_reset(out);
    if (*text == '\0' || strcmp(text, "<>") == 0)
        return 0;
    if (sm_parse_list(text, strlen(text), 0, &l, &bad) == 0 && l.n == 1) {
        str_cpy(out, l.v[0].addr);
        rc = 0;
    }
    sm_rcpts_free(&l);
    str_free(&bad);
    return rc;
}
