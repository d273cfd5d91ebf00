/*
 * cmd_mailbox.c - the authenticated state: SELECT, EXAMINE, CREATE, DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND
 *
 * RFC 3501 6.3 over lib/mstore/mstore.h. Mailbox names travel in their wire form
 * (modified UTF-7), which is also the store's; responses send them back as
 * astrings. LIST carries the CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154)
 * attributes; APPEND answers APPENDUID (RFC 4315) and takes its message
 * from the literal the reader kept (in memory, or spooled to a file when
 * large), so a 20 MiB message never sits in memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imap_write.h"
#include "log.h"
#include "mstore.h"

#include "imapd.h"

/* parse_name - SP mailbox, checked for the store; 0, or -1 (answered) */
static int parse_name(struct session *s, struct str *name)
{
    if (imap_p_sp(&s->p) < 0 || imap_p_mailbox(&s->p, name) < 0) {
        imapd_bad_syntax(s);
        return -1;
    }
    return 0;
}

/* in_selected - whether name is the selected mailbox or one of its inferiors */
static int in_selected(const struct session *s, const char *name)
{
    if (s->box == NULL)
        return 0;
    const char *sel = mstore_box_name(s->box);
    size_t n = strlen(name);
    return strcmp(sel, name) == 0 || (strncmp(sel, name, n) == 0 && sel[n] == IMAPD_SEPARATOR[0]);
}

void cmd_select(struct session *s)
{
    struct str name = STR_INIT;
    int examine = strcmp(s->name, "EXAMINE") == 0;

    if (parse_name(s, &name) < 0)
        goto out;
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    /* RFC 3501 6.3.1: selecting deselects, even when the new one fails */
    imapd_unselect(s);
    int r =
        mstore_box_open(s->store, str_c(&name), examine ? MSTORE_RDONLY : MSTORE_RECENT, &s->box);
    if (r != MSTORE_OK) {
        s->box = NULL;
        imapd_store_no(s, r, str_c(&name));
        goto out;
    }
    s->state = IMAPD_SELECTED;
    s->readonly = examine;
    imapd_send_flags(s);
    imapd_untagged(s, "%u EXISTS", mstore_box_count(s->box));
    imapd_untagged(s, "%u RECENT", mstore_box_recent(s->box));
    uint32_t unseen = mstore_box_first_unseen(s->box);
    if (unseen)
        imapd_untagged(s, "OK [UNSEEN %u] First unseen.", unseen);
    imapd_untagged(s, "OK [UIDVALIDITY %u] UIDs valid.", mstore_box_uidvalidity(s->box));
    imapd_untagged(s, "OK [UIDNEXT %u] Predicted next UID.", mstore_box_uidnext(s->box));
    imapd_ok(s, examine ? "READ-ONLY" : "READ-WRITE", "%s completed.", s->name);
out:
    str_free(&name);
}

void cmd_create(struct session *s)
{
    struct str name = STR_INIT;

    if (parse_name(s, &name) < 0)
        goto out;
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (strcmp(str_c(&name), "INBOX") == 0) { /* RFC 3501 6.3.3 */
        imapd_no(s, "ALREADYEXISTS", "INBOX always exists.");
        goto out;
    }
    if (imapd_check_name(s, &name) < 0)
        goto out;
    int r = mstore_create(s->store, str_c(&name));
    if (r == MSTORE_OK)
        imapd_ok(s, NULL, "Create completed.");
    else
        imapd_store_no(s, r, str_c(&name));
out:
    str_free(&name);
}

void cmd_delete(struct session *s)
{
    struct str name = STR_INIT;

    if (parse_name(s, &name) < 0)
        goto out;
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (imapd_check_name(s, &name) < 0)
        goto out;
    if (s->box && strcmp(mstore_box_name(s->box), str_c(&name)) == 0) {
        imapd_no(s, "INUSE", "Cannot delete the selected mailbox; close it first.");
        goto out;
    }
    int r = mstore_delete(s->store, str_c(&name));
    if (r == MSTORE_OK)
        imapd_ok(s, NULL, "Delete completed.");
    else
        imapd_store_no(s, r, str_c(&name));
out:
    str_free(&name);
}

void cmd_rename(struct session *s)
{
    struct str from = STR_INIT, to = STR_INIT;

    if (parse_name(s, &from) < 0 || parse_name(s, &to) < 0)
        goto out;
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (imapd_check_name(s, &from) < 0 || imapd_check_name(s, &to) < 0)
        goto out;
    if (in_selected(s, str_c(&from))) {
        imapd_no(s, "INUSE", "Cannot rename the selected mailbox; close it first.");
        goto out;
    }
    int r = mstore_rename(s->store, str_c(&from), str_c(&to));
    if (r == MSTORE_OK)
        imapd_ok(s, NULL, "Rename completed.");
    else
        imapd_store_no(s, r, r == MSTORE_EEXISTS ? str_c(&to) : str_c(&from));
out:
    str_free(&from);
    str_free(&to);
}

void cmd_subscribe(struct session *s)
{
    struct str name = STR_INIT;
    int on = strcmp(s->name, "SUBSCRIBE") == 0;

    if (parse_name(s, &name) < 0)
        goto out;
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (imapd_check_name(s, &name) < 0)
        goto out;
    int r = mstore_subscribe(s->store, str_c(&name), on);
    if (r == MSTORE_OK)
        imapd_ok(s, NULL, "%s completed.", on ? "Subscribe" : "Unsubscribe");
    else
        imapd_store_no(s, r, str_c(&name));
out:
    str_free(&name);
}

/* attrs_text - LIST attributes (RFC 3501 7.2.2, RFC 3348, RFC 6154) */
static void attrs_text(int attrs, int lsub, struct str *out)
{
    static const struct {
        int bit;
        const char *name;
    } names[] = {{MSTORE_A_NOSELECT, "\\Noselect"},
                 {MSTORE_A_HASCHILDREN, "\\HasChildren"},
                 {MSTORE_A_HASNOCHILDREN, "\\HasNoChildren"},
                 {MSTORE_A_DRAFTS, "\\Drafts"},
                 {MSTORE_A_SENT, "\\Sent"},
                 {MSTORE_A_TRASH, "\\Trash"},
                 {MSTORE_A_JUNK, "\\Junk"},
                 {MSTORE_A_ARCHIVE, "\\Archive"}};
    if (lsub && (attrs & MSTORE_A_NONEXISTENT))
        attrs |= MSTORE_A_NOSELECT;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(attrs & names[i].bit))
            continue;
        if (lsub && names[i].bit != MSTORE_A_NOSELECT)
            continue; /* LSUB shows \Noselect only (RFC 3501 7.2.3) */
        if (out->len)
            str_catc(out, ' ');
        str_cat(out, names[i].name);
    }
}

static void list_line(struct session *s, const char *verb, int attrs, int lsub, const char *name)
{
    struct str a = STR_INIT, n = STR_INIT;

    attrs_text(attrs, lsub, &a);
    imap_append_astring(&n, name, strlen(name));
    imapd_untagged(s, "%s (%s) \"%s\" %s", verb, str_c(&a), IMAPD_SEPARATOR, str_c(&n));
    str_free(&a);
    str_free(&n);
}

/* lsub_parent - for an LSUB "%" pattern, the superior of an unmatched subscribed name
 * that the pattern matches (RFC 3501 6.3.9); its length, or 0 */
static size_t lsub_parent(const char *pattern, const char *name)
{
    size_t best = 0;
    for (const char *p = name; (p = strchr(p, IMAPD_SEPARATOR[0])) != NULL; p++) {
        struct str prefix = STR_INIT;
        str_catn(&prefix, name, (size_t)(p - name));
        if (mstore_match(pattern, str_c(&prefix)))
            best = prefix.len;
        str_free(&prefix);
    }
    return best;
}

void cmd_list(struct session *s)
{
    struct str ref = STR_INIT, pat = STR_INIT, full = STR_INIT;
    struct mstore_folders f = {NULL, 0, 0};
    struct strlist shown = STRLIST_INIT;
    int lsub = strcmp(s->name, "LSUB") == 0;
    int r;

    /* list = "LIST" SP mailbox SP list-mailbox */
    if (imap_p_sp(&s->p) < 0 || imap_p_mailbox(&s->p, &ref) < 0 || imap_p_sp(&s->p) < 0 ||
        imap_p_list_mailbox(&s->p, &pat) < 0 || imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (pat.len == 0) {
        /* RFC 3501 6.3.8: the hierarchy delimiter and the root of the reference */
        if (!lsub)
            imapd_untagged(s, "LIST (\\Noselect) \"%s\" \"\"", IMAPD_SEPARATOR);
        imapd_ok(s, NULL, "%s completed.", lsub ? "Lsub" : "List");
        goto out;
    }
    /* the reference is prefixed to the pattern (a pattern starting at the root wins) */
    if (ref.len && pat.s[0] != IMAPD_SEPARATOR[0])
        str_cpyn(&full, ref.s, ref.len);
    str_catn(&full, pat.s, pat.len);
    r = lsub ? mstore_list_subscribed(s->store, &f) : mstore_list(s->store, &f);
    if (r != MSTORE_OK) {
        imapd_store_no(s, r, "");
        goto out;
    }
    for (size_t i = 0; i < f.n; i++) {
        const char *name = f.v[i].name;
        if (mstore_match(str_c(&full), name)) {
            if (strlist_find(&shown, name, 0) < 0) {
                list_line(s, lsub ? "LSUB" : "LIST", f.v[i].attrs, lsub, name);
                strlist_add(&shown, name);
            }
        } else if (lsub && strchr(str_c(&full), '%')) {
            size_t plen = lsub_parent(str_c(&full), name);
            if (plen) {
                struct str parent = STR_INIT;
                str_catn(&parent, name, plen);
                if (strlist_find(&shown, str_c(&parent), 0) < 0) {
                    list_line(s, "LSUB", MSTORE_A_NOSELECT, 1, str_c(&parent));
                    strlist_add(&shown, str_c(&parent));
                }
                str_free(&parent);
            }
        }
    }
    imapd_ok(s, NULL, "%s completed.", lsub ? "Lsub" : "List");
out:
    mstore_folders_free(&f);
    strlist_free(&shown);
    str_free(&ref);
    str_free(&pat);
    str_free(&full);
}

void cmd_status(struct session *s)
{
    static const char *const items[] = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"};
    struct str name = STR_INIT, att = STR_INIT, resp = STR_INIT, n = STR_INIT;
    unsigned want = 0;
    struct mstore_status st;

    /* status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")" */
    if (parse_name(s, &name) < 0)
        goto out;
    if (imap_p_sp(&s->p) < 0 || imap_p_char(&s->p, '(') < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    for (;;) {
        size_t i;
        if (imap_p_atom(&s->p, &att) < 0) {
            imapd_bad_syntax(s);
            goto out;
        }
        for (i = 0; i < 5 && strcasecmp(str_c(&att), items[i]) != 0; i++)
            ;
        if (i == 5) {
            imapd_bad(s, NULL, "Error in IMAP command STATUS: unknown status item.");
            goto out;
        }
        want |= 1u << i;
        if (imap_peek(&s->p) == ')')
            break;
        if (imap_p_sp(&s->p) < 0) {
            imapd_bad_syntax(s);
            goto out;
        }
    }
    s->p.pos++;
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    int r = mstore_status(s->store, str_c(&name), &st);
    if (r != MSTORE_OK) {
        imapd_store_no(s, r, str_c(&name));
        goto out;
    }
    const uint32_t values[] = {st.messages, st.recent, st.uidnext, st.uidvalidity, st.unseen};
    for (int i = 0; i < 5; i++)
        if (want & (1u << i))
            str_printf(&resp, "%s%s %u", resp.len ? " " : "", items[i], values[i]);
    imap_append_astring(&n, name.s, name.len);
    imapd_untagged(s, "STATUS %s (%s)", str_c(&n), str_c(&resp));
    imapd_ok(s, NULL, "Status completed.");
out:
    str_free(&name);
    str_free(&att);
    str_free(&resp);
    str_free(&n);
}

/* append_data - copy the literal into the new message */
static int append_data(struct mstore_append *a, const struct imap_literal *lit)
{
    if (lit->fd < 0)
        return mstore_append_write(a, lit->data.s ? lit->data.s : "", lit->size);
    char buf[65536];
    size_t left = lit->size;
    if (lseek(lit->fd, 0, SEEK_SET) < 0)
        return MSTORE_ETEMP;
    while (left > 0) {
        ssize_t r = read(lit->fd, buf, left < sizeof(buf) ? left : sizeof(buf));
        if (r <= 0)
            return MSTORE_ETEMP;
        int w = mstore_append_write(a, buf, (size_t)r);
        if (w != MSTORE_OK)
            return w;
        left -= (size_t)r;
    }
    return MSTORE_OK;
}

void cmd_append(struct session *s)
{
    struct str name = STR_INIT;
    struct imap_flags flags;
    const struct imap_literal *lit = NULL;
    time_t date = 0;
    int tz;

    /* append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal */
    imap_flags_init(&flags);
    if (parse_name(s, &name) < 0)
        goto out;
    if (imap_p_sp(&s->p) < 0)
        goto bad;
    if (imap_peek(&s->p) == '(') {
        if (imap_p_flag_list(&s->p, &flags) < 0 || imap_p_sp(&s->p) < 0)
            goto bad;
    }
    if (imap_peek(&s->p) == '"') {
        if (imap_p_date_time(&s->p, &date, &tz) < 0 || imap_p_sp(&s->p) < 0)
            goto bad;
    }
    if (imap_p_literal_ref(&s->p, &lit) < 0 || imap_p_end(&s->p) < 0)
        goto bad;
    if (lit->size == 0) {
        imapd_no(s, NULL, "Cannot append an empty message.");
        goto out;
    }
    struct mstore_append *a;
    int r = mstore_append_begin(s->store, str_c(&name), &a);
    if (r == MSTORE_ENOTFOUND) {
        imapd_no(s, "TRYCREATE", "Mailbox doesn't exist: %s", str_c(&name));
        goto out;
    }
    if (r != MSTORE_OK) {
        imapd_store_no(s, r, str_c(&name));
        goto out;
    }
    r = append_data(a, lit);
    if (r != MSTORE_OK) {
        mstore_append_abort(a);
        imapd_store_no(s, r, str_c(&name));
        goto out;
    }
    uint32_t uidvalidity, uid;
    r = mstore_append_commit(a, imapd_flags_bits(flags.sys), (const char *const *)flags.keywords.v,
                             flags.keywords.n, date, &uidvalidity, &uid);
    if (r != MSTORE_OK) {
        imapd_store_no(s, r, str_c(&name));
        goto out;
    }
    char code[64];
    snprintf(code, sizeof(code), "APPENDUID %u %u", uidvalidity, uid);
    imapd_ok(s, code, "Append completed.");
    goto out;
bad:
    imapd_bad_syntax(s);
out:
    imap_flags_free(&flags);
    str_free(&name);
}
