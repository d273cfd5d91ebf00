/*
 * imapd_box.c - what the mailbox commands share: the store, names, flags, sets, updates
 *
 * The user's store is opened at login (lib/mstore/mstore.h; a new user gets the
 * special-use folders). A selected mailbox is a view whose numbering
 * changes only when imapd_sync runs, so imapd alone decides when EXPUNGE,
 * EXISTS and flag updates go out (RFC 3501 7.4.1: never an EXPUNGE during
 * FETCH, STORE or SEARCH; the response helpers call imapd_sync before each
 * tagged response with that rule).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_write.h"
#include "log.h"
#include "mem.h"
#include "mstore.h"

#include "imapd.h"

int imapd_store_open(struct session *s)
{
    struct str path = STR_INIT, err = STR_INIT;
    int r = mstore_user_path(str_c(&s->user), &path, &err);

    if (r == MSTORE_ENOTFOUND) {
        log_warn("user=<%s> has a password but no mailbox in virtual_mailbox_maps",
                 str_c(&s->user));
        imapd_no(s, "UNAVAILABLE", "No mailbox for this user.");
    } else {
        if (r == MSTORE_OK)
            r = mstore_open(str_c(&path), MSTORE_CREATE, &s->store, &err);
        if (r != MSTORE_OK) {
            log_warn("user=<%s>: %s", str_c(&s->user), err.len ? str_c(&err) : mstore_strerror(r));
            imapd_no(s, "UNAVAILABLE", "Mailbox unavailable, try again later.");
        }
    }
    str_free(&path);
    str_free(&err);
    return r == MSTORE_OK ? 0 : -1;
}

void imapd_unselect(struct session *s)
{
    if (s->box) {
        mstore_box_close(s->box);
        s->box = NULL;
    }
    s->readonly = 0;
    s->nkeywords = 0;
    if (s->state == IMAPD_SELECTED)
        s->state = IMAPD_AUTH;
}

void imapd_store_close(struct session *s)
{
    imapd_unselect(s);
    if (s->store) {
        mstore_close(s->store);
        s->store = NULL;
    }
}

int imapd_check_name(struct session *s, struct str *name)
{
    struct str norm = STR_INIT;

    /* RFC 3501 6.3.3: a trailing separator declares a future parent */
    while (name->len > 1 && name->s[name->len - 1] == IMAPD_SEPARATOR[0])
        str_truncate(name, name->len - 1);
    if (!mstore_name_ok(str_c(name), &norm)) {
        imapd_no(s, "CANNOT", "Invalid mailbox name.");
        str_free(&norm);
        return -1;
    }
    str_cpyn(name, str_c(&norm), norm.len);
    str_free(&norm);
    return 0;
}

void imapd_store_no(struct session *s, int r, const char *what)
{
    switch (r) {
    case MSTORE_ENOTFOUND:
        imapd_no(s, "NONEXISTENT", "Mailbox doesn't exist: %s", what);
        break;
    case MSTORE_EEXISTS:
        imapd_no(s, "ALREADYEXISTS", "Mailbox already exists: %s", what);
        break;
    case MSTORE_EBADNAME:
        imapd_no(s, "CANNOT", "Invalid mailbox name: %s", what);
        break;
    case MSTORE_ENOSELECT:
        imapd_no(s, "CANNOT", "Mailbox is not selectable: %s", what);
        break;
    case MSTORE_EHASCHILDREN:
        imapd_no(s, "CANNOT", "Mailbox has children: %s", what);
        break;
    case MSTORE_EINBOX:
        imapd_no(s, "CANNOT", "INBOX cannot be deleted.");
        break;
    case MSTORE_ERDONLY:
        imapd_no(s, NULL, "Mailbox is read-only.");
        break;
    case MSTORE_ELIMIT:
        imapd_no(s, "LIMIT", "Too many keywords in this mailbox.");
        break;
    case MSTORE_EINUSE:
        imapd_no(s, "INUSE", "Mailbox is in use.");
        break;
    case MSTORE_EEXPUNGED:
        imapd_no(s, "EXPUNGEISSUED", "Some of the messages no longer exist.");
        break;
    default:
        imapd_no(s, "UNAVAILABLE", "Temporary failure, try again later.");
        break;
    }
}

void imapd_msg_flags(const struct session *s, const struct mstore_msg *m, struct str *out)
{
    struct strlist kw = STRLIST_INIT;
    size_t nk = 0;
    const char *const *names = mstore_box_keywords(s->box, &nk);

    for (size_t i = 0; i < nk && i < 64; i++)
        if (m->keywords & (UINT64_C(1) << i))
            strlist_add(&kw, names[i]);
    imap_flags_format(m->flags & (MSTORE_F_SYSTEM | MSTORE_F_RECENT), &kw, out);
    strlist_free(&kw);
}

void imapd_send_flags(struct session *s)
{
    size_t nk = 0;
    const char *const *names = mstore_box_keywords(s->box, &nk);
    struct strlist kw = STRLIST_INIT;
    struct str flags = STR_INIT;

    for (size_t i = 0; i < nk; i++)
        strlist_add(&kw, names[i]);
    imap_flags_format(MSTORE_F_SYSTEM, &kw, &flags);
    imapd_untagged(s, "FLAGS (%s)", str_c(&flags));
    if (s->readonly)
        imapd_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox.");
    else
        imapd_untagged(s, "OK [PERMANENTFLAGS (%s%s)] Flags permitted.", str_c(&flags),
                       nk < MSTORE_KEYWORDS_MAX ? " \\*" : "");
    s->nkeywords = nk;
    strlist_free(&kw);
    str_free(&flags);
}

/* imapd_seqs - the set is normalised first (imap_seqset_resolve: sorted, merged), each of
 * its ranges turned into a range of message numbers, and only then expanded: memory and
 * time O(messages + ranges log ranges) however the ranges overlap ("1:*,1:*,..." costs
 * what "1:*" does) */
int imapd_seqs(struct session *s, struct imap_seqset *set, int uid, uint32_t **out, size_t *n)
{
    uint32_t count = mstore_box_count(s->box);
    size_t total = 0, k = 0;

    *out = NULL;
    *n = 0;
    if (uid) {
        /* RFC 3501 6.4.8: "*" is the highest UID in use; UIDs not in the mailbox are
         * ignored */
        const struct mstore_msg *last = count ? mstore_msg(s->box, count) : NULL;
        imap_seqset_resolve(set, last ? last->uid : 0);
        for (size_t i = 0; i < set->n; i++) {
            struct imap_range *r = &set->v[i];
            uint32_t lo = mstore_seq_ge(s->box, r->lo);
            r->hi = r->hi == UINT32_MAX ? count : mstore_seq_ge(s->box, r->hi + 1) - 1;
            r->lo = lo; /* may now exceed hi: no message in the range */
        }
    } else {
        /* RFC 3501 9: a number past the end is an error; "*" is the last message */
        if (imap_seqset_max_number(set) > count)
            return -1;
        imap_seqset_resolve(set, count);
        for (size_t i = 0; i < set->n; i++) /* "1:*" in an empty mailbox resolves to 0:1 */
            if (set->v[i].lo == 0)
                set->v[i].lo = 1;
    }
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i].lo <= set->v[i].hi && set->v[i].lo <= count)
            total += (size_t)(set->v[i].hi < count ? set->v[i].hi : count) - set->v[i].lo + 1;
    if (total == 0)
        return 0;
    *out = xreallocarray(NULL, total, sizeof(**out));
    for (size_t i = 0; i < set->n; i++) {
        uint32_t hi = set->v[i].hi < count ? set->v[i].hi : count;
        for (uint32_t q = set->v[i].lo; q <= hi; q++)
            (*out)[k++] = q;
    }
    *n = k;
    return 0;
}

int imapd_zone(time_t t)
{
    struct tm tm;

    localtime_r(&t, &tm);
    return (int)(tm.tm_gmtoff / 60);
}

void imapd_sync(struct session *s, int allow_expunge)
{
    struct mstore_changes ch;
    struct str flags = STR_INIT;

    if (s->box == NULL || s->in_sync)
        return;
    s->in_sync = 1;
    memset(&ch, 0, sizeof(ch));
    int r = mstore_box_sync(s->box, allow_expunge ? 0 : MSTORE_SYNC_NO_EXPUNGE, &ch);
    if (r != MSTORE_OK) {
        log_warn("user=<%s>: cannot sync %s: %s", str_c(&s->user), mstore_box_name(s->box),
                 mstore_strerror(r));
    } else if (ch.uidvalidity_changed) {
        /* the index was rebuilt: every UID this client knows is void */
        log_warn("user=<%s>: UIDVALIDITY of %s changed during the session", str_c(&s->user),
                 mstore_box_name(s->box));
        imapd_bye(s, "UIDVALIDITY changed", "Mailbox state changed, please reconnect.");
    } else {
        for (size_t i = 0; i < ch.nexpunged; i++)
            imapd_untagged(s, "%u EXPUNGE", ch.expunged[i]);
        size_t nk;
        mstore_box_keywords(s->box, &nk);
        if (ch.keywords_changed && nk != s->nkeywords) /* not yet announced (STORE does) */
            imapd_send_flags(s);
        if (ch.new_messages) {
            imapd_untagged(s, "%u EXISTS", ch.exists);
            imapd_untagged(s, "%u RECENT", ch.recent);
        }
        for (size_t i = 0; i < ch.nchanged; i++) {
            const struct mstore_msg *m = mstore_msg(s->box, ch.changed[i]);
            if (m == NULL)
                continue;
            str_reset(&flags);
            imapd_msg_flags(s, m, &flags);
            imapd_untagged(s, "%u FETCH (FLAGS (%s))", ch.changed[i], str_c(&flags));
        }
    }
    mstore_changes_free(&ch);
    str_free(&flags);
    s->in_sync = 0;
}
