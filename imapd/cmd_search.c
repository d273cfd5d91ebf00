/*
 * cmd_search.c - SEARCH and UID SEARCH (RFC 3501 6.4.4)
 *
 * The key tree from lib/imap/imap_parse.h is evaluated message by message.
 * Keys the index answers (flags, numbers, UIDs, size, internal date) cost
 * nothing; SUBJECT, FROM, TO, CC, BCC, HEADER of those fields and the
 * SENT* keys use the message's search summary (lib/imap/imap_body.h), which the
 * store's cache keeps from the first FETCH ENVELOPE or SEARCH that parsed
 * the header; the others parse the message file, once per message and
 * only when a key needs it (only its header unless BODY or TEXT is
 * searched), and match decoded text case-insensitively in UTF-8
 * (lib/imap/imap_body.h: RFC 2047 headers, quoted-printable and base64 text
 * parts in their charsets). Both ways give the same answers. AND lists are
 * reordered cheap keys first so that most messages are decided without
 * opening their file. Dates
 * compare days, disregarding time and zone: the internal date's day in the
 * server's zone, the Date: field's day in its own.
 *
 * The work of one SEARCH is bounded (issue #13): a message is parsed and its
 * text decoded at most once however many keys read it (struct
 * imap_search_doc); imapd_search_key_limit bounds the keys and
 * imapd_search_cpu_limit the CPU time (NO [LIMIT], the session goes on); and
 * a search stops when its client has gone. The clock and the socket are
 * looked at after every SEARCH_CHECK_WORK bytes of work (messages count
 * SEARCH_MSG_WORK each, decoded text and every scan of it its size), not per
 * message.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "imap_body.h"
#include "log.h"
#include "mem.h"
#include "mime.h"
#include "mstore.h"

#include "imapd.h"

#define SEARCH_MSG_WORK 1024                /* the work of looking at one message in the index */
#define SEARCH_CHECK_WORK (8 * 1024 * 1024) /* look at the clock and the socket this often */

/* why a search stopped early */
#define SEARCH_GO_ON 0
#define SEARCH_OVER_CPU 1 /* imapd_search_cpu_limit */
#define SEARCH_GONE 2     /* the client closed the connection */

struct ctx {
    struct session *s;
    uint32_t seq;
    const struct mstore_msg *m;
    struct mime_message *mime; /* parsed on demand */
    int mime_tried;
    struct imap_search_doc doc; /* its decoded text, on demand */
    struct str sum;             /* the search summary (lib/imap/imap_body.h), on demand */
    int sum_state;              /* 0 not tried, 1 in sum, -1 not available */
    int need_body;              /* some key reads the body: parse all, not only the header */
    const char *const *keywords;
    size_t nkeywords;
    size_t work;             /* since the last check */
    struct timespec cpu_end; /* process CPU time at which the search stops */
    int stop;                /* SEARCH_* */
};

static void cpu_now(struct timespec *t)
{
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, t) < 0)
        t->tv_sec = t->tv_nsec = 0;
}

/* work - count work done; now and then, stop when over the CPU budget or the client has gone */
static void work(struct ctx *c, size_t n)
{
    struct timespec now;

    c->work += n;
    if (c->work < SEARCH_CHECK_WORK || c->stop)
        return;
    c->work = 0;
    cpu_now(&now);
    if (now.tv_sec > c->cpu_end.tv_sec ||
        (now.tv_sec == c->cpu_end.tv_sec && now.tv_nsec >= c->cpu_end.tv_nsec))
        c->stop = SEARCH_OVER_CPU;
    else if (imapd_client_gone(c->s))
        c->stop = SEARCH_GONE;
}

/* count_keys - the keys of a tree, each NOT, OR and parenthesised list included */
static size_t count_keys(const struct imap_skey *k)
{
    size_t n = 1;

    for (size_t i = 0; i < k->nkids; i++)
        n += count_keys(k->kids[i]);
    return n;
}

/* cost - 0: the index answers; 1: the cached search summary; 2: needs the message file */
static int cost(const struct imap_skey *k)
{
    int most = 0;

    switch (k->type) {
    case IMAP_SK_BCC:
    case IMAP_SK_CC:
    case IMAP_SK_FROM:
    case IMAP_SK_SENTBEFORE:
    case IMAP_SK_SENTON:
    case IMAP_SK_SENTSINCE:
    case IMAP_SK_SUBJECT:
    case IMAP_SK_TO:
        return 1;
    case IMAP_SK_HEADER:
        return imap_search_summary_covers(k->field) ? 1 : 2;
    case IMAP_SK_BODY:
    case IMAP_SK_TEXT:
        return 2;
    default:
        break;
    }
    for (size_t i = 0; i < k->nkids; i++) {
        int c = cost(k->kids[i]);
        most = c > most ? c : most;
    }
    return most;
}

/* needs_body - BODY or TEXT somewhere in the tree: the other keys read only the header */
static int needs_body(const struct imap_skey *k)
{
    if (k->type == IMAP_SK_BODY || k->type == IMAP_SK_TEXT)
        return 1;
    for (size_t i = 0; i < k->nkids; i++)
        if (needs_body(k->kids[i]))
            return 1;
    return 0;
}

static int cmp_cost(const void *a, const void *b)
{
    return cost(*(struct imap_skey *const *)a) - cost(*(struct imap_skey *const *)b);
}

/* prepare - resolve "*" in the sets and put cheap keys first */
static void prepare(struct imap_skey *k, uint32_t count, uint32_t maxuid)
{
    if (k->type == IMAP_SK_SEQSET)
        imap_seqset_resolve(&k->set, count);
    else if (k->type == IMAP_SK_UID)
        imap_seqset_resolve(&k->set, maxuid);
    for (size_t i = 0; i < k->nkids; i++)
        prepare(k->kids[i], count, maxuid);
    if (k->type == IMAP_SK_AND && k->nkids > 1)
        qsort(k->kids, k->nkids, sizeof(*k->kids), cmp_cost); /* AND commutes */
}

static struct mime_message *message(struct ctx *c)
{
    struct str err = STR_INIT;
    int fd;

    if (c->mime_tried)
        return c->mime;
    c->mime_tried = 1;
    if (mstore_msg_open(c->s->box, c->seq, &fd) != MSTORE_OK)
        return NULL; /* vanished: it matches nothing that needs its content */
    c->mime = c->need_body ? mime_open_fd(fd, &imapd_cfg.mime, &err)
                           : mime_open_fd_header(fd, &imapd_cfg.mime, &err);
    close(fd);
    if (c->mime == NULL)
        log_warn("user=<%s>: search: %s", str_c(&c->s->user), str_c(&err));
    else
        work(c, c->mime->size);
    str_free(&err);
    return c->mime;
}

/* summary - the message's search summary from the cache, or made from its header and
 * cached (a message whose ENVELOPE was fetched already has it); 0 when not available */
static int summary(struct ctx *c)
{
    if (c->sum_state == 0) {
        int r = mstore_cache_get(c->s->box, c->seq, MSTORE_CACHE_SEARCH, &c->sum);
        struct mime_message *m;
        if (r == 1) {
            c->sum_state = 1;
        } else if (r == 0 && (m = message(c)) != NULL) {
            str_reset(&c->sum);
            imap_search_summary(m, &c->sum);
            mstore_cache_put(c->s->box, c->seq, MSTORE_CACHE_SEARCH, c->sum.s, c->sum.len);
            c->sum_state = 1;
        } else {
            c->sum_state = -1;
        }
    }
    return c->sum_state == 1;
}

static long internal_day(struct ctx *c)
{
    time_t t;

    if (mstore_msg_date(c->s->box, c->seq, &t) != MSTORE_OK)
        return -1;
    long long local = (long long)t + (long long)imapd_zone(t) * 60;
    return (long)(local >= 0 ? local / 86400 : -((-local + 86399) / 86400));
}

static int has_keyword(struct ctx *c, const struct str *kw)
{
    for (size_t i = 0; i < c->nkeywords && i < 64; i++)
        if (strcasecmp(c->keywords[i], str_c(kw)) == 0)
            return (c->m->keywords >> i) & 1;
    return 0;
}

/* doc_match - a BODY (field NULL, k BODY), TEXT or HEADER key against the message's
 * decoded text, made once; its work is what was decoded and what the key scans */
static int doc_match(struct ctx *c, const struct mime_message *m, const struct imap_skey *k,
                     const char *field)
{
    size_t before = imap_search_doc_size(&c->doc);
    int r;

    if (c->stop)
        return 0;
    if (k->type == IMAP_SK_BODY)
        r = imap_search_doc_body(m, &c->doc, &k->folded);
    else if (k->type == IMAP_SK_TEXT)
        r = imap_search_doc_text(m, &c->doc, &k->folded);
    else
        r = imap_search_doc_header(m, &c->doc, field, &k->folded);
    size_t after = imap_search_doc_size(&c->doc);
    work(c, (after - before) + (k->type == IMAP_SK_BODY ? c->doc.body.text.len : after));
    return r;
}

/* header - a header field contains the key: from the summary when it covers the field */
static int header(struct ctx *c, const char *field, const struct imap_skey *k)
{
    if (imap_search_summary_covers(field) && summary(c)) {
        int r = imap_search_summary_header(c->sum.s, c->sum.len, field, &k->folded);
        if (r >= 0)
            return r;
    }
    struct mime_message *m = message(c);
    return m && doc_match(c, m, k, field);
}

/* sent_day - the day of the Date: field, or the internal date's when it has no usable one */
static long sent_day(struct ctx *c)
{
    long day;
    int r = -2;

    if (summary(c))
        r = imap_search_summary_day(c->sum.s, c->sum.len, &day);
    if (r == -2) { /* no summary: the header itself */
        struct mime_message *m = message(c);
        if (m == NULL)
            return -1;
        r = imap_sent_day(m, &day);
    }
    return r == 0 ? day : internal_day(c);
}

static int day_cmp(long day, const struct imap_skey *k, int before, int on)
{
    if (day < 0)
        return 0;
    if (before)
        return day < k->days;
    if (on)
        return day == k->days;
    return day >= k->days;
}

static int match(struct ctx *c, const struct imap_skey *k)
{
    unsigned f = c->m->flags;
    uint64_t size;

    switch (k->type) {
    case IMAP_SK_AND:
        for (size_t i = 0; i < k->nkids; i++)
            if (!match(c, k->kids[i]))
                return 0;
        return 1;
    case IMAP_SK_NOT:
        return !match(c, k->kids[0]);
    case IMAP_SK_OR:
        return match(c, k->kids[0]) || match(c, k->kids[1]);
    case IMAP_SK_ALL:
        return 1;
    case IMAP_SK_ANSWERED:
        return (f & MSTORE_F_ANSWERED) != 0;
    case IMAP_SK_DELETED:
        return (f & MSTORE_F_DELETED) != 0;
    case IMAP_SK_DRAFT:
        return (f & MSTORE_F_DRAFT) != 0;
    case IMAP_SK_FLAGGED:
        return (f & MSTORE_F_FLAGGED) != 0;
    case IMAP_SK_SEEN:
        return (f & MSTORE_F_SEEN) != 0;
    case IMAP_SK_RECENT:
        return (f & MSTORE_F_RECENT) != 0;
    case IMAP_SK_NEW:
        return (f & MSTORE_F_RECENT) && !(f & MSTORE_F_SEEN);
    case IMAP_SK_OLD:
        return !(f & MSTORE_F_RECENT);
    case IMAP_SK_UNANSWERED:
        return !(f & MSTORE_F_ANSWERED);
    case IMAP_SK_UNDELETED:
        return !(f & MSTORE_F_DELETED);
    case IMAP_SK_UNDRAFT:
        return !(f & MSTORE_F_DRAFT);
    case IMAP_SK_UNFLAGGED:
        return !(f & MSTORE_F_FLAGGED);
    case IMAP_SK_UNSEEN:
        return !(f & MSTORE_F_SEEN);
    case IMAP_SK_KEYWORD:
        return has_keyword(c, &k->value);
    case IMAP_SK_UNKEYWORD:
        return !has_keyword(c, &k->value);
    case IMAP_SK_SEQSET:
        return imap_seqset_contains(&k->set, c->seq);
    case IMAP_SK_UID:
        return imap_seqset_contains(&k->set, c->m->uid);
    case IMAP_SK_LARGER:
        return mstore_msg_size(c->s->box, c->seq, &size) == MSTORE_OK && size > k->number;
    case IMAP_SK_SMALLER:
        return mstore_msg_size(c->s->box, c->seq, &size) == MSTORE_OK && size < k->number;
    case IMAP_SK_BEFORE:
        return day_cmp(internal_day(c), k, 1, 0);
    case IMAP_SK_ON:
        return day_cmp(internal_day(c), k, 0, 1);
    case IMAP_SK_SINCE:
        return day_cmp(internal_day(c), k, 0, 0);
    case IMAP_SK_SENTBEFORE:
    case IMAP_SK_SENTON:
    case IMAP_SK_SENTSINCE: /* no usable Date: the internal date stands in */
        return day_cmp(sent_day(c), k, k->type == IMAP_SK_SENTBEFORE, k->type == IMAP_SK_SENTON);
    case IMAP_SK_BCC:
        return header(c, "Bcc", k);
    case IMAP_SK_CC:
        return header(c, "Cc", k);
    case IMAP_SK_FROM:
        return header(c, "From", k);
    case IMAP_SK_SUBJECT:
        return header(c, "Subject", k);
    case IMAP_SK_TO:
        return header(c, "To", k);
    case IMAP_SK_HEADER:
        return header(c, k->field, k);
    case IMAP_SK_BODY:
    case IMAP_SK_TEXT: {
        struct mime_message *m = message(c);
        return m && doc_match(c, m, k, NULL);
    }
    }
    return 0;
}

void cmd_search(struct session *s)
{
    struct imap_skey *keys = NULL;
    struct str out = STR_INIT;
    size_t nkeys;

    if (imap_p_sp(&s->p) < 0 || imap_p_search(&s->p, &keys) < 0) {
        imapd_bad_syntax(s);
        goto out;
    }
    /* the top level is an AND of what the client sent: it is not a key of its own */
    if ((nkeys = count_keys(keys) - 1) > (size_t)imapd_cfg.search_key_limit) {
        imapd_no(s, "LIMIT", "Too many search keys (%zu, at most %lld).", nkeys,
                 imapd_cfg.search_key_limit);
        goto out;
    }
    uint32_t count = mstore_box_count(s->box);
    const struct mstore_msg *last = count ? mstore_msg(s->box, count) : NULL;
    prepare(keys, count, last ? last->uid : 0);
    str_cat(&out, "SEARCH");
    struct ctx c;
    memset(&c, 0, sizeof(c));
    c.s = s;
    c.keywords = mstore_box_keywords(s->box, &c.nkeywords);
    c.need_body = needs_body(keys);
    imap_search_doc_init(&c.doc);
    cpu_now(&c.cpu_end);
    c.cpu_end.tv_sec += (time_t)imapd_cfg.search_cpu_limit;
    for (uint32_t seq = 1; seq <= count && !c.stop; seq++) {
        c.seq = seq;
        c.m = mstore_msg(s->box, seq);
        c.mime = NULL;
        c.mime_tried = 0;
        c.sum_state = 0;
        work(&c, SEARCH_MSG_WORK);
        if (c.m && !c.m->expunged && match(&c, keys) && !c.stop)
            str_printf(&out, " %u", s->uid ? c.m->uid : seq);
        if (c.mime) {
            imap_search_doc_reset(&c.doc);
            mime_free(c.mime);
        }
    }
    imap_search_doc_free(&c.doc);
    str_free(&c.sum);
    mstore_box_flush(s->box);
    if (c.stop == SEARCH_GONE) {
        /* nobody to answer: end the session as a read of EOF would */
        log_info("user=<%s>: SEARCH stopped: the client has gone", str_c(&s->user));
        s->state = IMAPD_LOGOUT;
        s->end_reason = "connection closed by client during SEARCH";
    } else if (c.stop == SEARCH_OVER_CPU) {
        log_warn("user=<%s>: SEARCH stopped after %lld s of CPU time (imapd_search_cpu_limit)",
                 str_c(&s->user), imapd_cfg.search_cpu_limit);
        imapd_no(s, "LIMIT", "Search too costly, stopped (more CPU time than allowed).");
    } else {
        imapd_untagged(s, "%s", str_c(&out));
        imapd_ok(s, NULL, "Search completed.");
    }
out:
    imap_skey_free(keys);
    str_free(&out);
}
