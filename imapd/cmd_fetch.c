/*
 * cmd_fetch.c - FETCH and STORE (RFC 3501 6.4.5, 6.4.6, 6.4.8 for the UID forms)
 *
 * FETCH answers from the index where it can (FLAGS, UID, RFC822.SIZE,
 * INTERNALDATE) and from the store's cache of ENVELOPE/BODY/BODYSTRUCTURE
 * strings, which are made by lib/imap/imap_body.c the first time and kept; body
 * sections parse the message file (read into memory, mapped when big; one
 * pass) and go out as literals written straight to the connection from
 * those bytes. A body fetch without PEEK sets \Seen first, and the new FLAGS go
 * out with that message's response. A message that vanished meanwhile
 * (another session expunged it) is left out and the command ends with NO
 * [EXPUNGEISSUED], as RFC 2180 4.1.2 allows.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_body.h"
#include "imap_write.h"
#include "log.h"
#include "mem.h"
#include "mime.h"
#include "mstore.h"
#include "stream.h"

#include "imapd.h"

/* the data one message's FETCH response needs before a byte of it goes out */
struct msgdata {
    uint64_t size;
    time_t date;
    struct str envelope, body, bodystructure;
    struct mime_message *mime;
    int header_only; /* only the header is needed: parse no further */
    int whole;       /* the body sections are all the whole message: sent from mime->map */
    int fd;          /* the message file once opened, else -1 */
};

static void msgdata_free(struct msgdata *d)
{
    str_free(&d->envelope);
    str_free(&d->body);
    str_free(&d->bodystructure);
    mime_free(d->mime);
    if (d->fd >= 0)
        close(d->fd);
}

/* parsed - the message parsed (once per response); 0 or a store code */
static int parsed(struct session *s, uint32_t seq, struct msgdata *d)
{
    struct str err = STR_INIT;
    int r;

    if (d->mime)
        return MSTORE_OK;
    if (d->fd < 0 && (r = mstore_msg_open(s->box, seq, &d->fd)) != MSTORE_OK)
        return r;
    d->mime = d->header_only ? mime_open_fd_header(d->fd, &imapd_cfg.mime, &err)
                             : mime_open_fd(d->fd, &imapd_cfg.mime, &err);
    r = MSTORE_OK;
    if (d->mime == NULL) {
        log_warn("user=<%s>: message %u of %s: %s", str_c(&s->user), seq, mstore_box_name(s->box),
                 str_c(&err));
        r = MSTORE_ETEMP;
    }
    str_free(&err);
    return r;
}

/* cached - an ENVELOPE/BODY/BODYSTRUCTURE string, from the cache or made and cached */
static int cached(struct session *s, uint32_t seq, int field, struct msgdata *d, struct str *out)
{
    int r = mstore_cache_get(s->box, seq, field, out);

    if (r == 1)
        return MSTORE_OK;
    if (r < 0)
        return r;
    if ((r = parsed(s, seq, d)) != MSTORE_OK)
        return r;
    str_reset(out);
    if (field == MSTORE_CACHE_ENVELOPE) {
        /* the header is parsed now: keep what SEARCH compares too (cmd_search.c) */
        struct str sum = STR_INIT;
        imap_search_summary(d->mime, &sum);
        mstore_cache_put(s->box, seq, MSTORE_CACHE_SEARCH, sum.s, sum.len);
        str_free(&sum);
        imap_envelope(d->mime, d->mime->root, out);
    } else
        imap_bodystructure(d->mime, d->mime->root, field == MSTORE_CACHE_BODYSTRUCTURE, out);
    mstore_cache_put(s->box, seq, field, out->s, out->len);
    return MSTORE_OK;
}

static int needs_parse(const struct imap_fetch *f)
{
    return f->nbodies > 0 ||
           (f->items & (IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_HEADER | IMAP_FETCH_RFC822_TEXT));
}

/* is_whole - the section is the whole message (BODY[], BODY.PEEK[], RFC822) */
static int is_whole(const struct imap_section *sec)
{
    return sec->nparts == 0 && sec->text == IMAP_SECT_NONE;
}

/* whole_only - every body section asked for is the whole message: its bytes go out from
 * the file's bytes in memory (mime->map) as they are, so no part of the body needs parsing */
static int whole_only(const struct imap_fetch *f)
{
    if (f->items & (IMAP_FETCH_RFC822_HEADER | IMAP_FETCH_RFC822_TEXT | IMAP_FETCH_BODY |
                    IMAP_FETCH_BODYSTRUCTURE))
        return 0;
    for (size_t i = 0; i < f->nbodies; i++)
        if (!is_whole(&f->bodies[i].section))
            return 0;
    return 1;
}

/* gather - everything that can fail, before the response starts */
static int gather(struct session *s, const struct imap_fetch *f, uint32_t seq, struct msgdata *d)
{
    int r = MSTORE_OK;

    /* ENVELOPE (and the search summary made with it) reads only the header */
    d->whole = needs_parse(f) && whole_only(f);
    d->header_only =
        (!needs_parse(f) || d->whole) && !(f->items & (IMAP_FETCH_BODY | IMAP_FETCH_BODYSTRUCTURE));
    if (needs_parse(f))
        r = parsed(s, seq, d);
    if (r == MSTORE_OK && (f->items & IMAP_FETCH_ENVELOPE))
        r = cached(s, seq, MSTORE_CACHE_ENVELOPE, d, &d->envelope);
    if (r == MSTORE_OK && (f->items & IMAP_FETCH_BODY))
        r = cached(s, seq, MSTORE_CACHE_BODY, d, &d->body);
    if (r == MSTORE_OK && (f->items & IMAP_FETCH_BODYSTRUCTURE))
        r = cached(s, seq, MSTORE_CACHE_BODYSTRUCTURE, d, &d->bodystructure);
    /* last: a size not yet known is counted over the file's bytes read for the parse, if any
     * (mime holds the whole file even for the header alone), else read through d->fd */
    if (r == MSTORE_OK && (f->items & IMAP_FETCH_RFC822_SIZE))
        r = d->mime ? mstore_msg_size_map(s->box, seq, d->mime->map, d->mime->map_size, &d->size)
                    : mstore_msg_size_fd(s->box, seq, &d->fd, &d->size);
    /* last too: a date not yet known comes from the file if it is open by now */
    if (r == MSTORE_OK && (f->items & IMAP_FETCH_INTERNALDATE))
        r = mstore_msg_date_fd(s->box, seq, d->fd, &d->date);
    return r;
}

static void stream_sink(void *ctx, const void *p, size_t n)
{
    stream_write(ctx, p, n);
}

/* whole_data - the whole message as a region of mime->map (a header-only parse still
 * holds the whole file); its CRLF size counted over the bytes that will be sent, never taken
 * from a file name, so that the literal's count is always what follows it */
static void whole_data(const struct msgdata *d, struct imap_body_data *bd)
{
    memset(bd, 0, sizeof(*bd));
    str_init(&bd->buf);
    bd->off = 0;
    bd->size = d->mime->map ? d->mime->map_size : 0;
    bd->vsize = mime_vsize(d->mime->data, bd->size);
}

/* send_section - one "NAME[section]<origin> literal" item */
static void send_section(struct session *s, const char *name, const struct imap_section *sec,
                         int partial, uint32_t start, uint32_t length, struct msgdata *d,
                         struct str *item)
{
    struct imap_body_data bd;

    str_reset(item);
    str_cat(item, name);
    if (sec) {
        str_catc(item, '[');
        imap_section_name(sec, item);
        str_catc(item, ']');
        if (partial)
            str_printf(item, "<%u>", start);
    }
    str_catc(item, ' ');
    stream_write(s->s, item->s, item->len);
    struct imap_section whole;
    imap_section_init(&whole);
    if (d->whole && (sec == NULL || is_whole(sec))) {
        whole_data(d, &bd);
        imap_body_write(d->mime, &bd, partial, start, length, stream_sink, s->s);
    } else if (imap_section_get(d->mime, sec ? sec : &whole, &bd) < 0)
        stream_puts(s->s, "NIL"); /* no such part (or not a message/rfc822 for HEADER/TEXT) */
    else
        imap_body_write(d->mime, &bd, partial, start, length, stream_sink, s->s);
    imap_body_data_free(&bd);
    imap_section_free(&whole);
}

/* send_rfc822 - RFC822, RFC822.HEADER, RFC822.TEXT (RFC 3501 6.4.5) */
static void send_rfc822(struct session *s, const char *name, enum imap_sect_text text,
                        struct msgdata *d, struct str *item)
{
    struct imap_section sec;
    struct imap_body_data bd;

    imap_section_init(&sec);
    sec.text = text;
    str_reset(item);
    str_printf(item, "%s ", name);
    stream_write(s->s, item->s, item->len);
    if (d->whole && text == IMAP_SECT_NONE) {
        whole_data(d, &bd);
        imap_body_write(d->mime, &bd, 0, 0, 0, stream_sink, s->s);
    } else if (imap_section_get(d->mime, &sec, &bd) == 0)
        imap_body_write(d->mime, &bd, 0, 0, 0, stream_sink, s->s);
    else
        stream_puts(s->s, "NIL");
    imap_body_data_free(&bd);
    imap_section_free(&sec);
}

/* fetch_one - the FETCH response of one message; 0, or a store code (nothing sent) */
static int fetch_one(struct session *s, const struct imap_fetch *f, uint32_t seq, int with_flags)
{
    const struct mstore_msg *m = mstore_msg(s->box, seq);
    struct msgdata d;
    struct str head = STR_INIT, item = STR_INIT;
    int r;

    if (m == NULL || m->expunged)
        return MSTORE_EEXPUNGED;
    memset(&d, 0, sizeof(d));
    d.fd = -1;
    if ((r = gather(s, f, seq, &d)) != MSTORE_OK) {
        msgdata_free(&d);
        return r;
    }
    str_cat(&head, "* ");
    str_catu(&head, seq);
    str_cat(&head, " FETCH (");
    const char *sp = "";
    if (s->uid || (f->items & IMAP_FETCH_UID)) {
        str_cat(&head, "UID ");
        str_catu(&head, m->uid);
        sp = " ";
    }
    if (with_flags || (f->items & IMAP_FETCH_FLAGS)) {
        str_cat(&head, sp);
        str_cat(&head, "FLAGS (");
        imapd_msg_flags(s, m, &head);
        str_catc(&head, ')');
        sp = " ";
    }
    if (f->items & IMAP_FETCH_INTERNALDATE) {
        str_cat(&head, sp);
        str_cat(&head, "INTERNALDATE \"");
        imap_format_date_time(d.date, imapd_zone(d.date), &head);
        str_catc(&head, '"');
        sp = " ";
    }
    if (f->items & IMAP_FETCH_RFC822_SIZE) {
        str_cat(&head, sp);
        str_cat(&head, "RFC822.SIZE ");
        str_catu(&head, d.size);
        sp = " ";
    }
    if (f->items & IMAP_FETCH_ENVELOPE) {
        str_cat(&head, sp);
        str_cat(&head, "ENVELOPE ");
        str_catn(&head, d.envelope.s, d.envelope.len);
        sp = " ";
    }
    if (f->items & IMAP_FETCH_BODY) {
        str_cat(&head, sp);
        str_cat(&head, "BODY ");
        str_catn(&head, d.body.s, d.body.len);
        sp = " ";
    }
    if (f->items & IMAP_FETCH_BODYSTRUCTURE) {
        str_cat(&head, sp);
        str_cat(&head, "BODYSTRUCTURE ");
        str_catn(&head, d.bodystructure.s, d.bodystructure.len);
        sp = " ";
    }
    stream_write(s->s, head.s, head.len);
    for (size_t i = 0; i < f->nbodies; i++) {
        const struct imap_fetch_body *b = &f->bodies[i];
        stream_puts(s->s, sp);
        send_section(s, "BODY", &b->section, b->partial, b->start, b->length, &d, &item);
        sp = " ";
    }
    static const struct {
        unsigned bit;
        const char *name;
        enum imap_sect_text text;
    } rfc822[] = {{IMAP_FETCH_RFC822, "RFC822", IMAP_SECT_NONE},
                  {IMAP_FETCH_RFC822_HEADER, "RFC822.HEADER", IMAP_SECT_HEADER},
                  {IMAP_FETCH_RFC822_TEXT, "RFC822.TEXT", IMAP_SECT_TEXT}};
    for (size_t i = 0; i < 3; i++) {
        if (f->items & rfc822[i].bit) {
            stream_puts(s->s, sp);
            send_rfc822(s, rfc822[i].name, rfc822[i].text, &d, &item);
            sp = " ";
        }
    }
    stream_puts(s->s, ")\r\n");
    msgdata_free(&d);
    str_free(&head);
    str_free(&item);
    return MSTORE_OK;
}

/* mark_seen - set \Seen before a body fetch (RFC 3501 6.4.5); the messages that changed
 * get their FLAGS in the response */
static void mark_seen(struct session *s, const uint32_t *seqs, size_t n, uint8_t *changed)
{
    uint32_t *todo = xcalloc(n ? n : 1, sizeof(*todo));
    size_t k = 0;
    struct mstore_store_result res;

    for (size_t i = 0; i < n; i++) {
        const struct mstore_msg *m = mstore_msg(s->box, seqs[i]);
        if (m && !m->expunged && !(m->flags & MSTORE_F_SEEN))
            todo[k++] = seqs[i];
    }
    memset(&res, 0, sizeof(res));
    if (k && mstore_store(s->box, todo, k, MSTORE_STORE_ADD, MSTORE_F_SEEN, NULL, 0, 0, &res) ==
                 MSTORE_OK) {
        for (size_t i = 0, j = 0; i < res.nchanged; i++) {
            while (j < n && seqs[j] < res.changed[i])
                j++;
            if (j < n && seqs[j] == res.changed[i])
                changed[j] = 1;
        }
    }
    mstore_store_result_free(&res);
    free(todo);
}

void cmd_fetch(struct session *s)
{
    struct imap_seqset set;
    struct imap_fetch f;
    uint32_t *seqs = NULL;
    uint8_t *flags_changed = NULL;
    size_t n = 0, vanished = 0;
    int failed = MSTORE_OK;

    imap_seqset_init(&set);
    imap_fetch_init(&f);
    /* fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" ...) */
    if (imap_p_sp(&s->p) < 0 || imap_p_seqset(&s->p, &set) < 0 || imap_p_sp(&s->p) < 0 ||
        imap_p_fetch_atts(&s->p, &f) < 0 || imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (imapd_seqs(s, &set, s->uid, &seqs, &n) < 0) {
        imapd_bad(s, NULL, "Error in IMAP command FETCH: invalid message number.");
        goto out;
    }
    flags_changed = xcalloc(n ? n : 1, 1);
    if (imap_fetch_sets_seen(&f) && !s->readonly)
        mark_seen(s, seqs, n, flags_changed);
    for (size_t i = 0; i < n && s->state != IMAPD_LOGOUT; i++) {
        int r = fetch_one(s, &f, seqs[i], flags_changed[i]);
        if (r == MSTORE_EEXPUNGED)
            vanished++;
        else if (r != MSTORE_OK)
            failed = r;
        /* a long FETCH goes out as it is made, not all at the end */
        if (stream_unflushed(s->s) > 65536 && imapd_flush(s) != STREAM_OK) {
            s->state = IMAPD_LOGOUT;
            s->end_reason = "connection lost during FETCH";
        }
    }
    mstore_box_flush(s->box);
    if (failed != MSTORE_OK)
        imapd_store_no(s, failed, mstore_box_name(s->box));
    else if (vanished)
        imapd_no(s, "EXPUNGEISSUED", "Some of the requested messages no longer exist.");
    else
        imapd_ok(s, NULL, "Fetch completed.");
out:
    imap_fetch_free(&f);
    imap_seqset_free(&set);
    free(seqs);
    free(flags_changed);
}

void cmd_store(struct session *s)
{
    struct imap_seqset set;
    struct imap_store st;
    struct mstore_store_result res;
    struct str flags = STR_INIT;
    uint32_t *seqs = NULL;
    size_t n = 0;

    imap_seqset_init(&set);
    memset(&res, 0, sizeof(res));
    memset(&st, 0, sizeof(st));
    imap_flags_init(&st.flags);
    /* store = "STORE" SP sequence-set SP store-att-flags */
    if (imap_p_sp(&s->p) < 0 || imap_p_seqset(&s->p, &set) < 0 || imap_p_sp(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    imap_flags_free(&st.flags);
    if (imap_p_store(&s->p, &st) < 0 || imap_p_end(&s->p) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    if (imapd_seqs(s, &set, s->uid, &seqs, &n) < 0) {
        imapd_bad(s, NULL, "Error in IMAP command STORE: invalid message number.");
        goto out;
    }
    if (s->readonly) {
        imapd_no(s, NULL, "Mailbox is read-only.");
        goto out;
    }
    int r = n ? mstore_store(s->box, seqs, n, st.mode, imapd_flags_bits(st.flags.sys),
                             (const char *const *)st.flags.keywords.v, st.flags.keywords.n, 0, &res)
              : MSTORE_OK;
    if (r != MSTORE_OK) {
        imapd_store_no(s, r, mstore_box_name(s->box));
        goto out;
    }
    size_t nk;
    mstore_box_keywords(s->box, &nk);
    if (nk != s->nkeywords)
        imapd_send_flags(s); /* new keywords: FLAGS and PERMANENTFLAGS first */
    if (!st.silent) {
        for (size_t i = 0, v = 0; i < n; i++) {
            while (v < res.nvanished && res.vanished[v] < seqs[i])
                v++;
            if (v < res.nvanished && res.vanished[v] == seqs[i])
                continue;
            const struct mstore_msg *m = mstore_msg(s->box, seqs[i]);
            str_reset(&flags);
            imapd_msg_flags(s, m, &flags);
            if (s->uid)
                imapd_untagged(s, "%u FETCH (UID %u FLAGS (%s))", seqs[i], m->uid, str_c(&flags));
            else
                imapd_untagged(s, "%u FETCH (FLAGS (%s))", seqs[i], str_c(&flags));
        }
    }
    if (res.nvanished)
        imapd_no(s, "EXPUNGEISSUED", "Some of the messages no longer exist.");
    else
        imapd_ok(s, NULL, "Store completed.");
out:
    mstore_store_result_free(&res);
    imap_store_free(&st);
    imap_seqset_free(&set);
    str_free(&flags);
    free(seqs);
}
