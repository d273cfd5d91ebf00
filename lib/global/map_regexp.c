/*
 * map_regexp.c - regexp: tables (POSIX extended regular expressions)
 *
 * The file holds "/pattern/flags result" and "!/pattern/flags result"
 * lines, tried in order; the first match wins. Any punctuation character
 * may delimit the pattern; a backslash quotes it inside. Flags toggle
 * Postfix's defaults: 'i' case-insensitive (on), 'x' extended syntax (on),
 * 'm' multi-line. $1..$9 and ${n} in a result are replaced by the
 * matched sub-expressions ($$ is a '$'). Lines with errors are logged and
 * skipped; so are patterns that would make regcomp() build a huge automaton
 * (stacked repetition operators, nested bounds whose product passes 1000). The file is read again
 * when it changes. Its logical lines come from linereader.h as for every other table source; a file
 * with a NUL byte makes the table unavailable (a temporary failure) until it is fixed.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "fileio.h"
#include "linereader.h"
#include "log.h"
#include "map_impl.h"
#include "mem.h"

struct rx_rule {
    regex_t re;
    int negate;
    char *result;
    int line;
};

struct rx_map {
    struct rx_rule *rules;
    size_t n;
    struct stat st;
    int loaded;
};

static void rx_free_rules(struct rx_map *x)
{
    for (size_t i = 0; i < x->n; i++) {
        regfree(&x->rules[i].re);
        free(x->rules[i].result);
    }
    free(x->rules);
    x->rules = NULL;
    x->n = 0;
}

#define RX_WORK_MAX 1000 /* product of nested repetition bounds a pattern may ask for */

/* bound_at - the upper bound of a duplication operator at p ('*', '+', '?' or "{n,m}"):
 * 0 when p holds none; *len gets its length */
static long bound_at(const char *p, size_t *len)
{
    *len = 1;
    if (*p == '*' || *p == '+')
        return 2;
    if (*p == '?')
        return 1;
    if (*p != '{' || !isdigit((unsigned char)p[1]))
        return 0;
    char *end;
    long lo = strtol(p + 1, &end, 10), hi = lo; /* LONG_MAX on overflow: "too large" */
    if (*end == ',')
        hi = isdigit((unsigned char)end[1]) ? strtol(end + 1, &end, 10)
                                            : (lo < LONG_MAX ? lo + 1 : lo);
    while (*end && *end != '}')
        end++;
    *len = (size_t)(end - p) + (*end == '}');
    return hi > lo ? hi : lo;
}

/* pattern_too_costly - refuse what makes the C library's regcomp() build a huge
 * automaton: a duplication operator right after another (undefined in POSIX 9.4.6)
 * and nested repetition bounds whose product passes RX_WORK_MAX (each bound copies
 * the sub-expression); a table is a file, but a table line must not take a daemon
 * down */
static const char *pattern_too_costly(const char *p)
{
    long work[64]; /* per open group: the largest product inside it */
    int depth = 0, after_dup = 0;
    work[0] = 1;
    while (*p) {
        size_t len;
        long b = bound_at(p, &len);
        if (b > 0) {
            if (after_dup)
                return "a repetition operator follows another";
            after_dup = 1;
            p += len;
            continue;
        }
        after_dup = 0;
        if (*p == '\\' && p[1]) {
            p += 2;
        } else if (*p == '[') { /* a bracket expression: ']' first is literal */
            p += (p[1] == '^') ? 2 : 1;
            if (*p == ']')
                p++;
            while (*p && *p != ']')
                p++;
            if (*p)
                p++;
        } else if (*p == '(') {
            if (++depth >= 64)
                return "groups nested too deeply";
            work[depth] = 1;
            p++;
        } else if (*p == ')' && depth > 0) {
            long g = work[depth--];
            p++;
            b = bound_at(p, &len);
            if (b > RX_WORK_MAX || (b > 1 && g * b > RX_WORK_MAX))
                return "nested repetition bounds too large";
            if (b > 1)
                g *= b;
            if (g > work[depth])
                work[depth] = g;
            if (b > 0) {
                after_dup = 1;
                p += len;
            }
        } else {
            p++;
            b = bound_at(p, &len);
            if (b > RX_WORK_MAX)
                return "repetition bound too large";
            if (b > work[depth])
                work[depth] = b;
            if (b > 0) {
                after_dup = 1;
                p += len;
            }
        }
    }
    return NULL;
}
/* rx_parse_line - compile one logical line; -1 (logged) when malformed */
static int rx_parse_line(struct map *m, struct rx_map *x, char *p, int line)
{
    struct str pat = STR_INIT;
    int negate = 0, cflags = REG_EXTENDED | REG_ICASE, r;
    char delim;
    struct rx_rule rule;

    if (*p == '!') {
        negate = 1;
        p++;
    }
    delim = *p;
    if (delim == '\0' || isalnum((unsigned char)delim) || isspace((unsigned char)delim)) {
        log_warn("%s, line %d: expected /pattern/", m->name, line);
        return -1;
    }
    for (p++; *p && *p != delim; p++) {
        if (*p == '\\' && p[1] == delim)
            p++;
        str_catc(&pat, *p);
    }
    if (*p != delim) {
        log_warn("%s, line %d: missing closing '%c'", m->name, line, delim);
        str_free(&pat);
        return -1;
    }
    for (p++; *p && !isspace((unsigned char)*p); p++) {
        switch (*p) {
        case 'i':
            cflags ^= REG_ICASE;
            break;
        case 'x':
            cflags ^= REG_EXTENDED;
            break;
        case 'm':
            cflags ^= REG_NEWLINE;
            break;
        default:
            log_warn("%s, line %d: unknown flag '%c'", m->name, line, *p);
            str_free(&pat);
            return -1;
        }
    }
    const char *costly = pattern_too_costly(str_c(&pat));
    if (costly != NULL) {
        log_warn("%s, line %d: bad regular expression: %s", m->name, line, costly);
        str_free(&pat);
        return -1;
    }
    memset(&rule, 0, sizeof(rule));
    if ((r = regcomp(&rule.re, str_c(&pat), cflags)) != 0) {
        char buf[256];
        regerror(r, &rule.re, buf, sizeof(buf));
        log_warn("%s, line %d: bad regular expression: %s", m->name, line, buf);
        str_free(&pat);
        return -1;
    }
    str_free(&pat);
    rule.negate = negate;
    rule.result = xstrdup(trim(p));
    rule.line = line;
    x->rules = xreallocarray(x->rules, x->n + 1, sizeof(rule));
    x->rules[x->n++] = rule;
    return 0;
}

/* rx_load - (re)read the file when it changed; -1 with m->error when unreadable */
static int rx_load(struct map *m, struct rx_map *x)
{
    struct stat st;
    struct str text = STR_INIT, logical = STR_INIT;
    struct linereader r;
    int fd, line, kind;

    if (stat(m->name, &st) < 0) {
        str_printf(&m->error, "open %s: %s", m->name, strerror(errno));
        return -1;
    }
    if (x->loaded && st.st_ino == x->st.st_ino && st.st_mtim.tv_sec == x->st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == x->st.st_mtim.tv_nsec && st.st_size == x->st.st_size)
        return 0;
    if ((fd = open(m->name, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        str_printf(&m->error, "open %s: %s", m->name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* st is now the file read (its owner: map_owner), not the one stat() saw */
    if (fileio_read_fd(fd, CFG_TEXT_LIMIT, &text) < 0) {
        str_printf(&m->error, "read %s: %s", m->name,
                   errno == EFBIG ? "file too large" : strerror(errno));
        close(fd);
        str_free(&text);
        return -1;
    }
    close(fd);
    if (linereader_has_nul(str_c(&text), text.len)) {
        /* as main.cf, master.cf and postmap sources: the whole file is refused */
        str_printf(&m->error, "%s: file contains a NUL byte", m->name);
        str_free(&text);
        return -1;
    }
    rx_free_rules(x);
    linereader_init(&r, str_c(&text));
    while ((kind = linereader_next(&r, &logical, &line)) != LINEREADER_END) {
        if (kind == LINEREADER_ORPHAN)
            log_warn("%s, line %d: continuation line without a preceding line", m->name, line);
        else
            rx_parse_line(m, x, logical.s, line);
    }
    str_free(&text);
    str_free(&logical);
    x->st = st;
    x->loaded = 1;
    return 0;
}

int map_regexp_owner(const struct map *m, uid_t *uid, gid_t *gid)
{
    const struct rx_map *x = m->data;

    if (!x->loaded)
        return -1;
    *uid = x->st.st_uid;
    *gid = x->st.st_gid;
    return 0;
}

int map_regexp_open(struct map *m, struct str *err)
{
    if (m->name[0] != '/') {
        str_printf(err, "table %s: the file name must be absolute", m->spec);
        return -1;
    }
    m->data = xcalloc(1, sizeof(struct rx_map));
    return 0;
}

/* substitute - expand $n references of result with the match */
static void substitute(const char *result, const char *key, const regmatch_t *pm, struct str *out)
{
    str_reset(out);
    for (const char *p = result; *p; p++) {
        int n = -1;
        if (*p == '$' && p[1] == '$') {
            str_catc(out, '$');
            p++;
            continue;
        }
        if (*p == '$' && isdigit((unsigned char)p[1])) {
            n = p[1] - '0';
            p++;
        } else if (*p == '$' && p[1] == '{' && isdigit((unsigned char)p[2]) && p[3] == '}') {
            n = p[2] - '0';
            p += 3;
        }
        if (n < 0) {
            str_catc(out, *p);
            continue;
        }
        if (n < 10 && pm[n].rm_so >= 0)
            str_catn(out, key + pm[n].rm_so, (size_t)(pm[n].rm_eo - pm[n].rm_so));
    }
}

int map_regexp_lookup(struct map *m, const char *key, struct str *value)
{
    struct rx_map *x = m->data;
    regmatch_t pm[10];

    if (rx_load(m, x) < 0) {
        log_warn("%s is unavailable: %s", m->spec, str_c(&m->error));
        return MAP_ERROR;
    }
    for (size_t i = 0; i < x->n; i++) {
        int hit = regexec(&x->rules[i].re, key, 10, pm, 0) == 0;
        if (x->rules[i].negate) {
            if (hit)
                continue;
            str_cpy(value, x->rules[i].result);
            return MAP_FOUND;
        }
        if (hit) {
            substitute(x->rules[i].result, key, pm, value);
            return MAP_FOUND;
        }
    }
    return MAP_NOTFOUND;
}

void map_regexp_close(struct map *m)
{
    struct rx_map *x = m->data;

    rx_free_rules(x);
    free(x);
}
