/*
 * mstore_name.c - mailbox names: which are valid, how LIST patterns match them, where they live
 *
 * The naming rules of the store (mstore.h: the IMAP wire form, '.' as the
 * hierarchy separator, INBOX case-insensitive, the special-use names) and
 * the Maildir++ mapping of a name to its directory (INBOX is the root,
 * folder "A.B" is ".A.B" beside it), including which folder directories
 * exist. Called by the views (mstore_box.c) and the folder operations
 * (mstore.c); calls nothing else of the store.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"
#include "mem.h"

#include "mstore_impl.h"
#include "mstore_name.h"

static const struct {
    const char *name;
    int attr;
} special[] = {
    {"Drafts", MSTORE_A_DRAFTS}, {"Sent", MSTORE_A_SENT},       {"Trash", MSTORE_A_TRASH},
    {"Junk", MSTORE_A_JUNK},     {"Archive", MSTORE_A_ARCHIVE},
};

int mstore_name_ok(const char *name, struct str *out)
{
    size_t n = strlen(name);
    const char *p;

    if (n == 0 || n > MSTORE_NAME_MAX || name[0] == MSTORE_SEP || name[n - 1] == MSTORE_SEP)
        return 0;
    for (p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c > 0x7e || strchr("/\\*%", c))
            return 0;
        if (c == MSTORE_SEP && p[1] == MSTORE_SEP)
            return 0;
    }
    if (out) {
        str_cpy(out, name);
        if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == MSTORE_SEP))
            memcpy(out->s, "INBOX", 5);
    }
    return 1;
}

int ms_is_inbox(const char *name)
{
    return strcasecmp(name, "INBOX") == 0;
}

const char *ms_special_name(size_t i)
{
    return i < sizeof(special) / sizeof(special[0]) ? special[i].name : NULL;
}

int mstore_special_use(const char *name)
{
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (strcmp(name, special[i].name) == 0)
            return special[i].attr;
    return 0;
}

/* mstore_match - dynamic programming over (pattern, name) positions, so that no
 * pattern (from the network) can make it take more than O(|pattern| * |name|) */
int mstore_match(const char *pattern, const char *name)
{
    size_t nl = strlen(name), pl = 0;
    int inbox = strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == MSTORE_SEP);
    char *pat = xmalloc(strlen(pattern) + 1);
    unsigned char *cur, *next;
    int hit;

    /* "**", "*%" and "%*" are "*"; "%%" is "%" */
    for (const char *p = pattern; *p; p++) {
        if ((*p == '*' || *p == '%') && pl > 0 && (pat[pl - 1] == '*' || pat[pl - 1] == '%')) {
            if (*p == '*')
                pat[pl - 1] = '*';
            continue;
        }
        pat[pl++] = *p;
    }
    pat[pl] = '\0';
    if (pl > 2 * (size_t)MSTORE_NAME_MAX + 1) { /* more literal bytes than any name has */
        free(pat);
        return 0;
    }
    /* cur[j]: pat[i..] matches name[j..]; computed from the end of the pattern */
    cur = xcalloc(nl + 1, 1);
    next = xcalloc(nl + 1, 1);
    cur[nl] = 1;
    for (size_t i = pl; i-- > 0;) {
        unsigned char *t;
        memset(next, 0, nl + 1);
        for (size_t j = nl + 1; j-- > 0;) {
            char c = pat[i];
            if (c == '*')
                next[j] = cur[j] || (j < nl && next[j + 1]);
            else if (c == '%')
                next[j] = cur[j] || (j < nl && name[j] != MSTORE_SEP && next[j + 1]);
            else if (j < nl)
                next[j] = cur[j + 1] && (c == name[j] ||
                                         (inbox && j < 5 && toupper((unsigned char)c) == name[j]));
        }
        t = cur;
        cur = next;
        next = t;
    }
    hit = cur[0];
    free(cur);
    free(next);
    free(pat);
    return hit;
}

int ms_box_path(const struct mstore *st, const char *name, struct str *path)
{
    str_reset(path);
    if (ms_is_inbox(name))
        str_cat(path, st->root);
    else
        str_printf(path, "%s/.%s", st->root, name);
    return 0;
}

/* ---- directories ------------------------------------------------------------------ */

int ms_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* folder_dirs - the folder names present as directories in the root */
int ms_folder_dirs(const struct mstore *st, struct strlist *out)
{
    DIR *d = opendir(st->root);
    struct dirent *e;

    if (d == NULL) {
        log_warn("open %s: %s", st->root, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.' || e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0)
            continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        if (!mstore_name_ok(e->d_name + 1, NULL))
            continue;
        if (e->d_type == DT_UNKNOWN) {
            char *p = xasprintf("%s/%s", st->root, e->d_name);
            int ok = ms_is_dir(p);
            free(p);
            if (!ok)
                continue;
        }
        strlist_add(out, e->d_name + 1);
    }
    closedir(d);
    return 0;
}

int ms_has_children(const struct mstore *st, const char *name)
{
    struct strlist l = STRLIST_INIT;
    size_t n = strlen(name);
    int yes = 0;

    if (ms_folder_dirs(st, &l) == 0)
        for (size_t i = 0; i < l.n && !yes; i++)
            yes = strncmp(l.v[i], name, n) == 0 && l.v[i][n] == MSTORE_SEP;
    strlist_free(&l);
    return yes;
}
