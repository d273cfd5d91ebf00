/*
 * cmd_selected.c - the selected state: CHECK, CLOSE, UNSELECT, EXPUNGE, COPY, MOVE
 *
 * RFC 3501 6.4.1-6.4.3 and 6.4.7, UNSELECT (RFC 3691), UID EXPUNGE and
 * COPYUID (RFC 4315, UIDPLUS), MOVE (RFC 6851). A mailbox opened with
 * EXAMINE refuses what would change it. EXPUNGE responses come in the
 * order the store gives, each number valid at the moment it is sent.
 */
#include <stdlib.h>
#include <string.h>

#include "imap_write.h"
#include "log.h"
#include "mem.h"
#include "mstore.h"

#include "imapd.h"

void cmd_check(struct session *s)
{
    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        return;
    }
    int r = mstore_box_flush(s->box);
    if (r != MSTORE_OK)
        imapd_store_no(s, r, mstore_box_name(s->box));
    else
        imapd_ok(s, NULL, "Check completed.");
}

void cmd_close(struct session *s)
{
    int close = strcmp(s->name, "CLOSE") == 0;

    if (imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        return;
    }
    /* RFC 3501 6.4.2: CLOSE expunges silently (not after EXAMINE); UNSELECT does not */
    if (close && !s->readonly) {
        int r = mstore_expunge(s->box, NULL, 0, NULL);
        if (r != MSTORE_OK)
            log_warn("user=<%s>: expunge at CLOSE of %s: %s", str_c(&s->user),
                     mstore_box_name(s->box), mstore_strerror(r));
    }
    imapd_unselect(s);
    imapd_ok(s, NULL, "%s completed.", close ? "Close" : "Unselect");
}

/* send_expunges - "* n EXPUNGE" for each removed message */
static void send_expunges(struct session *s, const struct mstore_changes *ch)
{
    for (size_t i = 0; i < ch->nexpunged; i++)
        imapd_untagged(s, "%u EXPUNGE", ch->expunged[i]);
}

void cmd_expunge(struct session *s)
{
    struct imap_seqset set;
    struct mstore_changes ch;
    uint32_t *seqs = NULL, *uids = NULL;
    size_t n = 0;
    int r;

    imap_seqset_init(&set);
    memset(&ch, 0, sizeof(ch));
    /* uid-expunge = "UID EXPUNGE" SP sequence-set (RFC 4315) */
    if ((s->uid && (imap_p_sp(&s->p) < 0 || imap_p_seqset(&s->p, &set) < 0)) ||
        imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (s->readonly) {
        imapd_no(s, NULL, "Mailbox is read-only.");
        goto out;
    }
    if (s->uid) {
        imapd_seqs(s, &set, 1, &seqs, &n);
        uids = xcalloc(n ? n : 1, sizeof(*uids));
        for (size_t i = 0; i < n; i++)
            uids[i] = mstore_msg(s->box, seqs[i])->uid;
        r = n ? mstore_expunge(s->box, uids, n, &ch) : MSTORE_OK;
    } else {
        r = mstore_expunge(s->box, NULL, 0, &ch);
    }
    send_expunges(s, &ch);
    if (r != MSTORE_OK)
        imapd_store_no(s, r, mstore_box_name(s->box));
    else
        imapd_ok(s, NULL, "Expunge completed.");
out:
    mstore_changes_free(&ch);
    imap_seqset_free(&set);
    free(seqs);
    free(uids);
}

/* uid_set - a compact UID set ("4:6,9") of ascending UIDs for COPYUID */
static void uid_set(const uint32_t *v, size_t n, struct str *out)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1)
            j++;
        str_printf(out, "%s%u", out->len ? "," : "", v[i]);
        if (j > i)
            str_printf(out, ":%u", v[j]);
        i = j + 1;
    }
}

void cmd_copy(struct session *s)
{
    struct imap_seqset set;
    struct str dest = STR_INIT, src = STR_INIT, dst = STR_INIT;
    struct mstore_copy_result res;
    struct mstore_changes ch;
    uint32_t *seqs = NULL;
    size_t n = 0;
    int move = strcmp(s->name, "MOVE") == 0;

    imap_seqset_init(&set);
    memset(&res, 0, sizeof(res));
    memset(&ch, 0, sizeof(ch));
    /* copy = "COPY" SP sequence-set SP mailbox; move likewise (RFC 6851) */
    if (imap_p_sp(&s->p) < 0 || imap_p_seqset(&s->p, &set) < 0 || imap_p_sp(&s->p) < 0 ||
        imap_p_mailbox(&s->p, &dest) < 0 || imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (imapd_seqs(s, &set, s->uid, &seqs, &n) < 0) {
        imapd_bad(s, NULL, "Error in IMAP command %s: invalid message number.", s->name);
        goto out;
    }
    if (move && s->readonly) {
        imapd_no(s, NULL, "Mailbox is read-only.");
        goto out;
    }
    if (n == 0) {
        imapd_ok(s, NULL, "No messages.");
        goto out;
    }
    int r = mstore_copy(s->box, seqs, n, str_c(&dest), move, &res, move ? &ch : NULL);
    if (r == MSTORE_ENOTFOUND) {
        imapd_no(s, "TRYCREATE", "Mailbox doesn't exist: %s", str_c(&dest));
        goto out;
    }
    if (r != MSTORE_OK) {
        imapd_store_no(s, r, str_c(&dest));
        goto out;
    }
    char *code = NULL;
    if (res.n) {
        uid_set(res.src_uids, res.n, &src);
        uid_set(res.dst_uids, res.n, &dst);
        code = xasprintf("COPYUID %u %s %s", res.uidvalidity, str_c(&src), str_c(&dst));
    }
    if (move) {
        /* RFC 6851 4.3: COPYUID in an untagged OK before the EXPUNGEs */
        if (code)
            imapd_untagged(s, "OK [%s] Moved UIDs.", code);
        send_expunges(s, &ch);
        imapd_ok(s, NULL, "Move completed.");
    } else {
        imapd_ok(s, code, "Copy completed.");
    }
    free(code);
out:
    mstore_copy_result_free(&res);
    mstore_changes_free(&ch);
    imap_seqset_free(&set);
    str_free(&dest);
    str_free(&src);
    str_free(&dst);
    free(seqs);
}
