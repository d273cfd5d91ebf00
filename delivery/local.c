/*
 * local.c - the local delivery agent: aliases, .forward, Unix users, virtual mailboxes
 *
 * A single-connection server under master (master.cf: local unix - n n - -
 * local, and the same program as "virtual"); it stays root and delivers
 * with the recipient's identity (local_priv.c). It speaks lib/global/deliver.h:
 * greeting, then requests in turn on the same connection, one result per
 * recipient, "done". The message is read from the queue file named in
 * the request (bodies never pass through qmgr).
 *
 * A recipient whose domain is in $virtual_mailbox_domains is a virtual
 * mailbox (virtual(8) rules: virtual_mailbox_maps by user@domain,
 * user@domain without extension, @domain; owner from virtual_uid_maps /
 * virtual_gid_maps; Maildir when the path ends in '/'). Any other
 * recipient is local(8)'s: its local part (folded to lower case, the
 * $recipient_delimiter extension set aside) is looked up in $alias_maps
 * (nested aliases, loop-safe, |command, /file, :include:, owner-name as
 * the error address), else it must be a Unix user (else 5.1.1), whose
 * ~/.forward is honoured, else $home_mailbox or the spool mbox gets it.
 * Addresses of other domains found in an expansion are resubmitted
 * (local_forward.c). A message already delivered to this recipient
 * (Delivered-To:) or with more than $hopcount_limit Received: headers
 * bounces with 5.4.6 (mail loop).
 *
 * Every target delivered logs one status line (Postfix form); the
 * recipient's result to qmgr sums them up: any deferral defers the
 * recipient (a later retry may duplicate what succeeded: better twice
 * than lost), else any success makes it sent and failed members become
 * extra DSN entries, else it bounced. A sent recipient is marked done in
 * the queue file (with its bounce/ID entries) before the result goes out
 * (mark_sent, lib/global/deliver.h).
 *
 * Files opened on someone's behalf (.forward, :include:, /file, mailboxes)
 * are opened once, as that identity, with O_NOFOLLOW, and judged by fstat
 * of that descriptor; the path is never looked up again and root stats
 * no user-controlled path. The identity given to a file's contents is the
 * owner of the descriptor they were read from: an :include: file's text
 * runs as that file's owner, an alias as the owner of the table that
 * answered (maps_found_owner). A destination with a control byte bounces
 * (5.1.3) before anything is resubmitted or run (doc/internals.md). The
 * queue file is opened as mail_owner, relative to active/ opened without
 * following a symlink (deliver_queue_open).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "cfg.h"
#include "log.h"
#include "map.h"
#include "mem.h"
#include "server.h"

#include "local.h"

#define HEADER_SCAN_MAX (1 << 20) /* header bytes examined for loop checks */
#define EXPAND_DEPTH_MAX 100      /* alias/.forward/include nesting */
#define INCLUDE_MAX (1 << 20)     /* bytes read from a .forward or :include: file */

static struct maps *alias_maps, *vmailbox_maps, *vuid_maps, *vgid_maps;

/* a forwarded address and the envelope sender of its copy */
struct fwd {
    char *addr;
    char *sender;
};

/* the expansion of one request recipient */
struct rctx {
    struct local_req *lr;
    size_t idx;
    const char *rcpt;    /* the request recipient (lower case) */
    const char *owner;   /* current owner- error address, NULL: the sender */
    struct strlist seen; /* targets delivered already (duplicate filter) */
    struct strlist alias_stack;
    struct strlist fwd_stack; /* users whose .forward is being expanded */
    struct fwd *fwd;
    size_t nfwd;
    int nsent, ndefer, nbounce, ntargets;
    struct local_status first_sent, first_defer, first_bounce;
    struct deliver_result *extra; /* bounced members */
    size_t nextra;
};

void local_status_set(struct local_status *st, int status, const char *dsn, const char *fmt, ...)
{
    va_list ap;

    st->status = status;
    snprintf(st->dsn, sizeof(st->dsn), "%s", dsn);
    str_reset(&st->reason);
    va_start(ap, fmt);
    str_vprintf(&st->reason, fmt, ap);
    va_end(ap);
}

/* status_copy - keep a copy of the first outcome of a kind */
static void status_copy(struct local_status *to, const struct local_status *from)
{
    to->status = from->status;
    memcpy(to->dsn, from->dsn, sizeof(to->dsn));
    str_cpy(&to->reason, str_c(&from->reason));
}

/* outcome - record and log what happened to one target */
static void outcome(struct rctx *c, const char *to, const char *target,
                    const struct local_status *st)
{
    const struct deliver_rcpt *rc = &c->lr->req->rcpts[c->idx];

    deliver_log(c->lr->req, to, rc->orig[0] ? rc->orig : rc->addr, c->lr->req->transport, 0,
                st->dsn, deliver_status_name(st->status), str_c(&st->reason));
    c->ntargets++;
    if (st->status == DELIVER_SENT) {
        if (c->nsent++ == 0)
            status_copy(&c->first_sent, st);
    } else if (st->status == DELIVER_DEFERRED) {
        if (c->ndefer++ == 0)
            status_copy(&c->first_defer, st);
    } else {
        if (c->nbounce++ == 0)
            status_copy(&c->first_bounce, st);
        c->extra = xreallocarray(c->extra, c->nextra + 1, sizeof(*c->extra));
        struct deliver_result *x = &c->extra[c->nextra++];
        memset(x, 0, sizeof(*x));
        x->rcpt = c->idx;
        x->status = DELIVER_BOUNCED;
        x->dsn = xstrdup(st->dsn);
        x->reason = xstrdup(str_c(&st->reason));
        x->target = xstrdup(target);
        x->dsn_to = c->owner ? xstrdup(c->owner) : NULL;
        x->relay = c->lr->req->transport;
    }
}

/* settle - a quick outcome without delivery (lookup failures, unknown users) */
static void settle(struct rctx *c, const char *to, int status, const char *dsn, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static void settle(struct rctx *c, const char *to, int status, const char *dsn, const char *fmt,
                   ...) /* (see the declaration above) */
{
    struct local_status st = {0, "", STR_INIT};
    va_list ap;

    st.status = status;
    snprintf(st.dsn, sizeof(st.dsn), "%s", dsn);
    va_start(ap, fmt);
    str_vprintf(&st.reason, fmt, ap);
    va_end(ap);
    outcome(c, to, to, &st);
    str_free(&st.reason);
}

/* seen_before - the duplicate filter: 1 when key was delivered in this expansion */
static int seen_before(struct rctx *c, const char *key)
{
    if (strlist_find(&c->seen, key, 0) >= 0)
        return 1;
    if ((long long)c->seen.n < cfg_int(cfg_main, P_duplicate_filter_limit))
        strlist_add(&c->seen, key);
    return 0;
}

/* default_privs - the $default_privs identity; -1 when unknown */
static int default_privs(struct local_priv *p)
{
    struct passwd *pw = getpwnam(cfg_str(cfg_main, P_default_privs));

    if (pw == NULL || pw->pw_uid == 0)
        return -1;
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
    p->user = cfg_str(cfg_main, P_default_privs);
    p->home = "";
    p->shell = "";
    return 0;
}

/* owner_privs - the identity of a file's owner, as taken from fstat of the descriptor its
 * contents were read through (default_privs when root owns it or we are not root) */
static int owner_privs(uid_t uid, gid_t gid, struct local_priv *p, struct str *name)
{
    struct passwd *pw;

    if (uid == 0 || !local_is_root())
        return default_privs(p);
    pw = getpwuid(uid);
    p->uid = uid;
    p->gid = gid;
    str_cpy(name, pw ? pw->pw_name : "nobody");
    p->user = name->s;
    p->home = "";
    p->shell = "";
    return 0;
}

/* split_targets - the destinations of an alias value or a .forward/:include: file */
static void split_targets(const char *text, struct strlist *out)
{
    struct str cur = STR_INIT;
    int quoted = 0, comment = 0, bol = 1;

    for (const char *p = text;; p++) {
        char ch = *p;
        if (bol && ch == '#' && !quoted)
            comment = 1;
        if (ch == '\0' || ((ch == ',' || ch == '\n') && !quoted)) {
            char *copy = xstrdup(str_c(&cur)), *t = trim(copy);
            size_t n = strlen(t);
            if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
                t[n - 1] = '\0';
                if (t[1])
                    strlist_add(out, t + 1);
            } else if (n > 0 && !comment) {
                strlist_add(out, t);
            }
            free(copy);
            str_reset(&cur);
            if (ch == '\n')
                comment = 0, bol = 1;
            if (ch == '\0')
                break;
            continue;
        }
        if (ch == '"')
            quoted = !quoted;
        if (!comment)
            str_catc(&cur, ch);
        if (ch != ' ' && ch != '\t')
            bol = 0;
    }
    str_free(&cur);
}

/* allowed - whether a destination kind is allowed from a class (alias, forward, include) */
static int allowed(enum cfg_list_param param, const char *cls)
{
    struct strlist l = STRLIST_INIT;
    int r;

    cfg_list(cfg_main, param, &l);
    r = strlist_find(&l, cls, 1) >= 0;
    strlist_free(&l);
    return r;
}

/* read_small_file - up to INCLUDE_MAX bytes of a file opened once, without following a
 * final symlink, as the current identity; *sb is fstat of that descriptor (the only
 * identity the text may be given); 1 read, 0 does not exist, -1 error (errno) */
static int read_small_file(const char *path, uid_t want_owner, int check_owner, struct str *out,
                           struct stat *sb)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    char buf[8192];
    ssize_t n;

    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode) ||
        (check_owner && sb->st_uid != want_owner && sb->st_uid != 0) ||
        (sb->st_mode & (S_IWGRP | S_IWOTH))) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    while (out->len < INCLUDE_MAX && (n = read(fd, buf, sizeof(buf))) > 0)
        str_catn(out, buf, (size_t)n);
    close(fd);
    return 1;
}

/* bad_target_bytes - whether a destination holds control bytes (ESC, BEL, CR, ...); an
 * address may hold none at all, a command or file name a TAB at most (RFC 5321 4.1.2:
 * no address has them; nothing is resubmitted or run with them) */
static int bad_target_bytes(const char *t, int is_address)
{
    for (; *t; t++) {
        unsigned char ch = (unsigned char)*t;
        if ((ch < 0x20 && (ch != '\t' || is_address)) || ch == 0x7f)
            return 1;
    }
    return 0;
}

static void deliver_address(struct rctx *c, const char *addr, int depth, int no_alias,
                            int no_forward);

/* canon - a destination address: a bare name gets @$myorigin, the domain lower case */
static void canon(const char *addr, struct str *out)
{
    const char *at;

    str_cpy(out, addr);
    if (out->len >= 2 && out->s[0] == '<' && out->s[out->len - 1] == '>') {
        memmove(out->s, out->s + 1, out->len - 2);
        str_truncate(out, out->len - 2);
    }
    if ((at = addr_domain_at(out->s)) == NULL) {
        str_catc(out, '@');
        str_cat(out, cfg_str(cfg_main, P_myorigin));
        at = addr_domain_at(out->s);
    }
    lowercase((char *)at);
}

/* deliver_file - a /file destination, as p */
static void deliver_file(struct rctx *c, const char *path, const struct local_priv *p,
                         const char *to)
{
    struct local_status st = {0, "", STR_INIT};
    struct strlist prep = STRLIST_INIT;
    int flags = LC_FROM_LINE | LC_QUOTE_FROM | LC_BLANK_LINE;

    cfg_list(cfg_main, P_prepend_delivered_header, &prep);
    if (strlist_find(&prep, "file", 1) >= 0)
        flags |= LC_DELIVERED_TO;
    strlist_free(&prep);
    if (local_become(p) < 0) {
        local_status_set(&st, DELIVER_DEFERRED, "4.3.0", "cannot change identity");
    } else {
        if (path[strlen(path) - 1] == '/')
            local_maildir(c->lr, path, c->rcpt, 0, &st);
        else
            local_mbox(c->lr, path, c->rcpt, 0, p, 0, flags, &st);
        local_unbecome();
        if (st.status == DELIVER_SENT)
            local_status_set(&st, DELIVER_SENT, "2.0.0", "delivered to file: %s", path);
    }
    outcome(c, to, path, &st);
    str_free(&st.reason);
}

/* expand_list - deliver to each destination of an alias value, .forward or :include: */
static void expand_list(struct rctx *c, const char *text, const char *cls,
                        const struct local_priv *p, int depth, const char *to)
{
    struct strlist items = STRLIST_INIT;
    struct str key = STR_INIT, can = STR_INIT, local = STR_INIT, dom = STR_INIT;
    struct str ext = STR_INIT, buf = STR_INIT, oname = STR_INIT;

    split_targets(text, &items);
    for (size_t i = 0; i < items.n; i++) {
        const char *it = items.v[i];
        str_reset(&key);
        if (bad_target_bytes(it, it[0] != '|' && it[0] != '/' && !has_prefix_ci(it, ":include:"))) {
            settle(c, to, DELIVER_BOUNCED, "5.1.3",
                   "bad address syntax: control character in forwarded address");
            continue;
        }
        if (it[0] == '|') {
            str_printf(&key, "cmd:%s", it + 1);
            if (seen_before(c, key.s))
                continue;
            if (!allowed(P_allow_mail_to_commands, cls)) {
                settle(c, to, DELIVER_BOUNCED, "5.7.1", "mail to command is restricted");
                continue;
            }
            struct local_status st = {0, "", STR_INIT};
            addr_split(c->rcpt, &local, &dom);
            str_cpy(&buf, str_c(&local));
            addr_strip_extension(&buf, &ext);
            local_command(c->lr, it + 1, p, c->rcpt, str_c(&local), str_c(&buf), str_c(&ext),
                          str_c(&dom), &st);
            outcome(c, to, it, &st);
            str_free(&st.reason);
        } else if (it[0] == '/') {
            str_printf(&key, "file:%s", it);
            if (seen_before(c, key.s))
                continue;
            if (!allowed(P_allow_mail_to_files, cls))
                settle(c, to, DELIVER_BOUNCED, "5.7.1", "mail to file is restricted");
            else
                deliver_file(c, it, p, to);
        } else if (has_prefix_ci(it, ":include:")) {
            const char *path = trim((char *)it + 9);
            struct local_priv ip;
            if (depth > EXPAND_DEPTH_MAX || path[0] != '/') {
                settle(c, to, DELIVER_BOUNCED, "5.3.5", "bad or too deeply nested :include: %s",
                       path);
                continue;
            }
            str_reset(&buf);
            struct stat isb;
            int r = local_become(p) < 0 ? -1 : read_small_file(path, p->uid, 0, &buf, &isb);
            int e = errno;
            local_unbecome();
            if (r <= 0) {
                settle(c, to, r == 0 ? DELIVER_BOUNCED : DELIVER_DEFERRED,
                       r == 0 ? "5.3.5" : "4.3.0", "cannot open include file %s: %s", path,
                       r == 0 ? "no such file" : strerror(e));
                continue;
            }
            /* the include file's owner (not root) runs what it lists: the owner of the
             * descriptor the text came through; the path is never looked up again (a
             * symlink swapped in after the read would lend the text another identity) */
            if (owner_privs(isb.st_uid, isb.st_gid, &ip, &oname) < 0)
                ip = *p;
            expand_list(c, buf.s, "include", &ip, depth + 1, to);
        } else if (it[0] == '\\') {
            canon(it + 1, &can);
            deliver_address(c, can.s, depth + 1, 1, 1);
        } else {
            canon(it, &can);
            deliver_address(c, can.s, depth + 1, 0, 0);
        }
    }
    strlist_free(&items);
    str_free(&key);
    str_free(&can);
    str_free(&local);
    str_free(&dom);
    str_free(&ext);
    str_free(&buf);
    str_free(&oname);
}

/* deliver_mailbox - a local user's mailbox: $home_mailbox or the spool */
static void deliver_mailbox(struct rctx *c, const struct passwd *pw, const char *to)
{
    struct local_status st = {0, "", STR_INIT};
    struct local_priv p = {pw->pw_uid, pw->pw_gid, pw->pw_name, pw->pw_dir, pw->pw_shell};
    const char *hm = cfg_str(cfg_main, P_home_mailbox);
    long long limit = cfg_size(cfg_main, P_mailbox_size_limit);
    struct str path = STR_INIT, key = STR_INIT;
    int in_spool = *hm == '\0';

    str_printf(&key, "mailbox:%s", pw->pw_name);
    if (seen_before(c, key.s)) {
        str_free(&key);
        return;
    }
    if (in_spool)
        str_printf(&path, "%s/%s", cfg_str(cfg_main, P_mail_spool_directory), pw->pw_name);
    else
        str_printf(&path, "%s/%s", pw->pw_dir, hm);
    if (local_become(&p) < 0) {
        local_status_set(&st, DELIVER_DEFERRED, "4.3.0", "cannot change identity");
    } else {
        if (path.s[path.len - 1] == '/')
            local_maildir(c->lr, path.s, c->rcpt, limit, &st);
        else
            local_mbox(c->lr, path.s, c->rcpt, limit, &p, in_spool,
                       LC_FROM_LINE | LC_QUOTE_FROM | LC_DELIVERED_TO | LC_BLANK_LINE, &st);
        local_unbecome();
    }
    outcome(c, to, to, &st);
    str_free(&st.reason);
    str_free(&path);
    str_free(&key);
}

/* vlookup - a virtual table by user@domain, user@domain without extension, @domain */
static int vlookup(struct maps *ms, const char *addr, struct str *val)
{
    struct str local = STR_INIT, dom = STR_INIT, key = STR_INIT;
    int r = maps_lookup(ms, addr, val);

    if (r == MAP_NOTFOUND) {
        addr_split(addr, &local, &dom);
        size_t before = local.len;
        addr_strip_extension(&local, NULL);
        if (local.len != before) {
            str_printf(&key, "%s@%s", local.s, dom.s);
            r = maps_lookup(ms, key.s, val);
        }
        if (r == MAP_NOTFOUND) {
            str_reset(&key);
            str_printf(&key, "@%s", dom.s);
            r = maps_lookup(ms, key.s, val);
        }
    }
    str_free(&local);
    str_free(&dom);
    str_free(&key);
    return r;
}

/* parse_id - a uid/gid from a table value */
static int parse_id(const char *v, unsigned long long *out)
{
    char *copy = xstrdup(v);
    int r = parse_ulong(trim(copy), 2147483647ULL, out);

    free(copy);
    return r;
}

/* deliver_virtual - a virtual mailbox (virtual(8) rules) */
static void deliver_virtual(struct rctx *c, const char *addr)
{
    struct str val = STR_INIT, uidv = STR_INIT, gidv = STR_INIT, path = STR_INIT;
    struct local_status st = {0, "", STR_INIT};
    unsigned long long uid, gid;
    int r;

    r = vlookup(vmailbox_maps, addr, &val);
    if (r == MAP_ERROR) {
        settle(c, addr, DELIVER_DEFERRED, "4.3.0", "virtual_mailbox_maps lookup failure: %s",
               maps_error_text(vmailbox_maps));
        goto out;
    }
    if (r == MAP_NOTFOUND) {
        settle(c, addr, DELIVER_BOUNCED, "5.1.1", "unknown user: \"%s\"", addr);
        goto out;
    }
    if ((r = vlookup(vuid_maps, addr, &uidv)) != MAP_FOUND ||
        (r = vlookup(vgid_maps, addr, &gidv)) != MAP_FOUND) {
        log_warn("%s: no virtual uid/gid for %s (virtual_uid_maps, virtual_gid_maps)",
                 c->lr->req->queue_id, addr);
        settle(c, addr, DELIVER_DEFERRED, "4.3.0", "no owner for the virtual mailbox of %s", addr);
        goto out;
    }
    trim(val.s);
    if (parse_id(uidv.s, &uid) < 0 || parse_id(gidv.s, &gid) < 0 ||
        (long long)uid < cfg_int(cfg_main, P_virtual_minimum_uid) || val.s[0] == '/' ||
        strstr(val.s, "..") || val.s[0] == '\0') {
        log_warn("%s: bad virtual mailbox settings for %s: path \"%s\" uid \"%s\" gid \"%s\"",
                 c->lr->req->queue_id, addr, val.s, uidv.s, gidv.s);
        settle(c, addr, DELIVER_DEFERRED, "4.3.0", "bad virtual mailbox configuration for %s",
               addr);
        goto out;
    }
    str_printf(&path, "%s/%s", cfg_str(cfg_main, P_virtual_mailbox_base), val.s);
    struct local_priv p = {(uid_t)uid, (gid_t)gid, addr, "", ""};
    if (local_become(&p) < 0) {
        local_status_set(&st, DELIVER_DEFERRED, "4.3.0", "cannot change identity");
    } else {
        long long limit = cfg_size(cfg_main, P_virtual_mailbox_limit);
        if (path.s[path.len - 1] == '/')
            local_maildir(c->lr, path.s, addr, limit, &st);
        else
            local_mbox(c->lr, path.s, addr, limit, &p, 0,
                       LC_FROM_LINE | LC_QUOTE_FROM | LC_DELIVERED_TO | LC_BLANK_LINE, &st);
        local_unbecome();
    }
    outcome(c, addr, addr, &st);
out:
    str_free(&val);
    str_free(&uidv);
    str_free(&gidv);
    str_free(&path);
    str_free(&st.reason);
}

/* add_forward - an address for resubmission */
static void add_forward(struct rctx *c, const char *addr)
{
    const char *sender = c->owner ? c->owner : c->lr->req->sender;

    for (size_t i = 0; i < c->nfwd; i++)
        if (strcasecmp(c->fwd[i].addr, addr) == 0 && strcmp(c->fwd[i].sender, sender) == 0)
            return;
    c->fwd = xreallocarray(c->fwd, c->nfwd + 1, sizeof(*c->fwd));
    c->fwd[c->nfwd].addr = xstrdup(addr);
    c->fwd[c->nfwd].sender = xstrdup(sender);
    c->nfwd++;
}

/* deliver_alias - expand alias name (found as value, in a table owned by owner_uid/gid, or
 * owner_uid -1 for a table that is not a file); owner-name becomes the error address */
static void deliver_alias(struct rctx *c, const char *name, const char *value, int depth,
                          const char *to, long long owner_uid, gid_t owner_gid)
{
    struct str owner = STR_INIT, key = STR_INIT, oname = STR_INIT;
    struct local_priv p;
    const char *saved = c->owner;
    int r;

    if (cfg_bool(cfg_main, P_owner_request_special) && strncmp(name, "owner-", 6) != 0) {
        struct str v = STR_INIT;
        str_printf(&key, "owner-%s", name);
        if (maps_lookup(alias_maps, key.s, &v) == MAP_FOUND) {
            str_printf(&owner, "owner-%s@%s", name, cfg_str(cfg_main, P_myorigin));
            c->owner = owner.s;
        }
        str_free(&v);
    }
    /* commands and files run as the owner of the table the alias came from (Postfix
     * local(8)); a table that is not a file, or root's, gives default_privs */
    r = owner_uid < 0 ? default_privs(&p) : owner_privs((uid_t)owner_uid, owner_gid, &p, &oname);
    if (r < 0) {
        settle(c, to, DELIVER_DEFERRED, "4.3.0", "no usable default_privs user");
    } else {
        strlist_add(&c->alias_stack, name);
        expand_list(c, value, "alias", &p, depth, to);
        free(c->alias_stack.v[--c->alias_stack.n]);
        c->alias_stack.v[c->alias_stack.n] = NULL;
    }
    c->owner = saved;
    str_free(&owner);
    str_free(&key);
    str_free(&oname);
}

/* deliver_forward_file - ~/.forward; 1 when it took the mail */
static int deliver_forward_file(struct rctx *c, const struct passwd *pw, const char *ext, int depth,
                                const char *to)
{
    struct strlist paths = STRLIST_INIT;
    struct str buf = STR_INIT, path = STR_INIT;
    struct local_priv p = {pw->pw_uid, pw->pw_gid, pw->pw_name, pw->pw_dir, pw->pw_shell};
    const char *raw = cfg_raw(cfg_main, cfg_name(P_forward_path));
    const char *delim = cfg_str(cfg_main, P_recipient_delimiter);
    int done = 0;

    cfg_split_list(raw ? raw : "", &paths);
    for (size_t i = 0; i < paths.n && !done; i++) {
        /* $home, $user, ${extension}, ${recipient_delimiter}: the recipient's */
        const char *s = paths.v[i];
        int skip = 0;
        str_reset(&path);
        while (*s && !skip) {
            if (*s != '$') {
                str_catc(&path, *s++);
                continue;
            }
            s++;
            int brace = *s == '{';
            if (brace)
                s++;
            const char *nm = s;
            while (*s && (*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
                s++;
            size_t nl = (size_t)(s - nm);
            if (brace && *s == '}')
                s++;
            if (nl == 4 && strncmp(nm, "home", 4) == 0)
                str_cat(&path, pw->pw_dir);
            else if (nl == 4 && strncmp(nm, "user", 4) == 0)
                str_cat(&path, pw->pw_name);
            else if (nl == 9 && strncmp(nm, "extension", 9) == 0) {
                if (*ext == '\0')
                    skip = 1; /* the .forward+ext form only applies with an extension */
                str_cat(&path, ext);
            } else if (nl == 19 && strncmp(nm, "recipient_delimiter", 19) == 0) {
                if (*ext)
                    str_catc(&path, delim[0]);
            } else {
                str_printf(&path, "$%.*s", (int)nl, nm); /* unknown: kept literally */
            }
        }
        if (skip)
            continue;
        str_reset(&buf);
        struct stat fsb;
        int r = local_become(&p) < 0 ? -1 : read_small_file(path.s, pw->pw_uid, 1, &buf, &fsb);
        int e = errno;
        local_unbecome();
        if (r == 0)
            continue;
        if (r < 0) {
            if (e == EACCES)
                continue; /* an unreadable home directory: no .forward */
            log_warn("%s: cannot read %s: %s", c->lr->req->queue_id, path.s, strerror(e));
            settle(c, to, DELIVER_DEFERRED, "4.3.0", "cannot read %s: %s", path.s, strerror(e));
            done = 1;
            break;
        }
        strlist_add(&c->fwd_stack, pw->pw_name);
        expand_list(c, buf.s, "forward", &p, depth + 1, to);
        free(c->fwd_stack.v[--c->fwd_stack.n]);
        c->fwd_stack.v[c->fwd_stack.n] = NULL;
        done = 1;
    }
    strlist_free(&paths);
    str_free(&buf);
    str_free(&path);
    return done;
}

/* deliver_address - one address of the expansion: virtual mailbox, forward, alias,
 * Unix user (.forward, then the mailbox); no_alias/no_forward for "\\user" */
static void deliver_address(struct rctx *c, const char *addr, int depth, int no_alias,
                            int no_forward)
{
    struct str local = STR_INIT, dom = STR_INIT, base = STR_INIT, ext = STR_INIT;
    struct str val = STR_INIT;
    struct passwd *pw;
    int cls, r;

    addr_split(addr, &local, &dom);
    str_lower(&local);
    cls = dom.len == 0 ? ADDR_LOCAL : addr_domain_class(dom.s);
    if (cls == ADDR_TEMPFAIL) {
        settle(c, addr, DELIVER_DEFERRED, "4.3.0", "domain table lookup failure for %s", dom.s);
        goto out;
    }
    if (cls == ADDR_VIRTUAL && depth == 0) {
        deliver_virtual(c, addr);
        goto out;
    }
    if (depth > 0 && cls != ADDR_LOCAL) {
        add_forward(c, addr);
        goto out;
    }
    if (depth > EXPAND_DEPTH_MAX) {
        settle(c, addr, DELIVER_BOUNCED, "5.4.6", "alias expansion nested too deeply");
        goto out;
    }
    str_cpy(&base, local.s);
    addr_strip_extension(&base, &ext);
    if (!no_alias && strlist_find(&c->alias_stack, base.s, 0) < 0 && maps_count(alias_maps)) {
        r = maps_lookup(alias_maps, local.s, &val);
        if (r == MAP_NOTFOUND && ext.len)
            r = maps_lookup(alias_maps, base.s, &val);
        if (r == MAP_ERROR) {
            settle(c, addr, DELIVER_DEFERRED, "4.3.0", "alias_maps lookup failure: %s",
                   maps_error_text(alias_maps));
            goto out;
        }
        if (r == MAP_FOUND) {
            /* the owner of the table that answered, by fstat of its descriptor */
            uid_t ou;
            gid_t og;
            int known = maps_found_owner(alias_maps, &ou, &og) == 0;
            deliver_alias(c, base.s, val.s, depth + 1, addr, known ? (long long)ou : -1,
                          known ? og : 0);
            goto out;
        }
    }
    errno = 0;
    pw = getpwnam(base.s);
    if (pw == NULL) {
        if (errno != 0 && errno != ENOENT && errno != ESRCH)
            settle(c, addr, DELIVER_DEFERRED, "4.3.0", "user lookup failure: %s", strerror(errno));
        else
            settle(c, addr, DELIVER_BOUNCED, "5.1.1", "unknown user: \"%s\"", base.s);
        goto out;
    }
    if (pw->pw_uid == 0 && local_is_root()) {
        /* never deliver as root (not even its .forward); root must be an alias */
        log_warn("%s: mail for %s: deliveries as root are refused; make %s an alias in "
                 "alias_maps",
                 c->lr->req->queue_id, addr, pw->pw_name);
        settle(c, addr, DELIVER_DEFERRED, "4.3.0",
               "deliveries as root are refused: %s needs an alias", pw->pw_name);
        goto out;
    }
    if (!no_forward && strlist_find(&c->fwd_stack, pw->pw_name, 0) < 0 &&
        deliver_forward_file(c, pw, ext.s ? ext.s : "", depth, addr))
        goto out;
    deliver_mailbox(c, pw, addr);
out:
    str_free(&local);
    str_free(&dom);
    str_free(&base);
    str_free(&ext);
    str_free(&val);
}

/* loop_check - Delivered-To: and Received: limits; 0 when the recipient may be tried */
static int loop_check(struct rctx *c)
{
    if (strlist_find(&c->lr->delivered_to, c->rcpt, 1) >= 0) {
        settle(c, c->rcpt, DELIVER_BOUNCED, "5.4.6", "mail forwarding loop for %s", c->rcpt);
        return -1;
    }
    if (c->lr->received > cfg_int(cfg_main, P_hopcount_limit)) {
        settle(c, c->rcpt, DELIVER_BOUNCED, "5.4.6", "too many hops (%d Received: headers)",
               c->lr->received);
        return -1;
    }
    return 0;
}

/* flush_forwards - resubmit what the expansion collected, one file per sender */
static void flush_forwards(struct rctx *c)
{
    struct strlist addrs = STRLIST_INIT;
    struct str newid = STR_INIT, err = STR_INIT;

    for (size_t i = 0; i < c->nfwd; i++) {
        int first = 1;
        for (size_t k = 0; k < i && first; k++)
            first = strcmp(c->fwd[k].sender, c->fwd[i].sender) != 0;
        if (!first)
            continue;
        strlist_free(&addrs);
        for (size_t k = i; k < c->nfwd; k++)
            if (strcmp(c->fwd[k].sender, c->fwd[i].sender) == 0)
                strlist_add(&addrs, c->fwd[k].addr);
        str_reset(&err);
        if (local_forward(c->lr, c->idx, c->fwd[i].sender, &addrs, &newid, &err) < 0) {
            log_warn("%s: cannot forward: %s", c->lr->req->queue_id, str_c(&err));
            for (size_t k = 0; k < addrs.n; k++)
                settle(c, addrs.v[k], DELIVER_DEFERRED, "4.3.0", "cannot forward: %s", str_c(&err));
        } else {
            for (size_t k = 0; k < addrs.n; k++)
                settle(c, addrs.v[k], DELIVER_SENT, "2.0.0", "forwarded as %s", newid.s);
        }
    }
    strlist_free(&addrs);
    str_free(&newid);
    str_free(&err);
}

/* mark_sent - make a sent recipient final in the queue file before it is reported
 * (lib/global/deliver.h): the failed members of its expansion and any success notice into
 * bounce/ID, then the record marked done, as mail_owner. 1 when marked (no extras to
 * send); 0 when qmgr must record it, *first_extra the extras still to send. A delivery
 * that was forwarded is final here too: the resubmitted file was committed (fsync'ed) in
 * flush_forwards before this. */
static int mark_sent(struct rctx *c, const struct deliver_result *r, size_t *first_extra)
{
    struct str err = STR_INIT;
    int marked = 0;

    *first_extra = 0;
    if (local_become_mail_owner(&err) < 0) {
        log_warn("%s: %s", c->lr->req->queue_id, str_c(&err));
    } else {
        marked = deliver_mark_sent(c->lr->qfd, &c->lr->env, c->lr->req, r, c->extra, c->nextra,
                                   first_extra) == 0;
        local_unbecome();
    }
    if (marked)
        *first_extra = c->nextra;
    str_free(&err);
    return marked;
}

/* report - the recipient's result to qmgr (targets were logged one by one) */
static int report(struct stream *s, struct rctx *c)
{
    struct deliver_result r;
    const struct local_status *st;
    size_t skip_extra = (size_t)-1;
    int rc = STREAM_OK;

    memset(&r, 0, sizeof(r));
    r.rcpt = c->idx;
    r.relay = c->lr->req->transport;
    if (c->ndefer) {
        st = &c->first_defer;
    } else if (c->nsent) {
        st = &c->first_sent;
    } else if (c->nbounce) {
        st = &c->first_bounce;
        skip_extra = 0; /* the first bounce is the recipient's own result */
    } else {
        /* nothing to deliver to (an expansion of duplicates only) */
        struct local_status none = {DELIVER_SENT, "2.0.0", STR_INIT};
        str_cat(&none.reason, "delivered (duplicate destinations suppressed)");
        r.status = DELIVER_SENT;
        r.dsn = "2.0.0";
        r.reason = none.reason.s;
        size_t first_extra;
        r.marked = mark_sent(c, &r, &first_extra);
        rc = deliver_result_send(s, &r);
        str_free(&none.reason);
        return rc;
    }
    r.status = st->status;
    r.dsn = st->dsn;
    r.reason = str_c(&st->reason);
    if (c->nsent && c->nsent + c->nbounce + c->ndefer > 1 && st == &c->first_sent)
        r.action = "expanded";
    size_t first_extra = 0;
    if (r.status == DELIVER_SENT)
        r.marked = mark_sent(c, &r, &first_extra);
    if (c->ndefer == 0)
        for (size_t i = first_extra; i < c->nextra && rc == STREAM_OK; i++)
            if (i != skip_extra && (c->ntargets > 1 || c->nsent))
                rc = deliver_result_send(s, &c->extra[i]);
    if (rc == STREAM_OK)
        rc = deliver_result_send(s, &r);
    return rc;
}

/* rctx_free - release one recipient's expansion state */
static void rctx_free(struct rctx *c)
{
    strlist_free(&c->seen);
    strlist_free(&c->alias_stack);
    strlist_free(&c->fwd_stack);
    for (size_t i = 0; i < c->nfwd; i++) {
        free(c->fwd[i].addr);
        free(c->fwd[i].sender);
    }
    free(c->fwd);
    for (size_t i = 0; i < c->nextra; i++) {
        free((char *)c->extra[i].dsn);
        free((char *)c->extra[i].reason);
        free((char *)c->extra[i].target);
        free((char *)c->extra[i].dsn_to);
    }
    free(c->extra);
    str_free(&c->first_sent.reason);
    str_free(&c->first_defer.reason);
    str_free(&c->first_bounce.reason);
}

/* handle_rcpt - deliver to request recipient i and report it */
static int handle_rcpt(struct stream *s, struct local_req *lr, size_t i)
{
    struct rctx c;
    struct str addr = STR_INIT;
    int rc;

    memset(&c, 0, sizeof(c));
    c.lr = lr;
    c.idx = i;
    canon(lr->req->rcpts[i].addr, &addr);
    str_lower(&addr);
    c.rcpt = addr.s;
    lr->rcpt_offset = lr->req->rcpts[i].offset;
    const struct qfile_rcpt *rec = deliver_rcpt_record(&lr->env, lr->req, i);
    if (rec && rec->done) {
        /* delivered by an agent whose result never reached qmgr (lib/global/deliver.h) */
        struct deliver_result r;
        log_info("%s: to=<%s>: delivered before (the record is marked done); not again",
                 lr->req->queue_id, addr.s);
        memset(&r, 0, sizeof(r));
        r.rcpt = i;
        r.status = DELIVER_SENT;
        r.dsn = "2.0.0";
        r.reason = "delivered before";
        r.relay = lr->req->transport;
        r.marked = 1;
        rc = deliver_result_send(s, &r);
        str_free(&addr);
        return rc;
    }
    if (loop_check(&c) == 0) {
        deliver_address(&c, addr.s, 0, 0, 0);
        if (c.nfwd)
            flush_forwards(&c);
    }
    rc = report(s, &c);
    rctx_free(&c);
    str_free(&addr);
    return rc;
}

/* scan_headers - Delivered-To: values and the Received: count of the message */
static void scan_headers(struct local_req *lr)
{
    struct qfile_content qc;
    struct str chunk = STR_INIT, hdr = STR_INIT, err = STR_INIT;
    int r;

    qfile_content_init(&qc, lr->qfd, &lr->env);
    while (hdr.len < HEADER_SCAN_MAX && (r = qfile_content_next(&qc, &chunk, &err)) > 0) {
        str_catn(&hdr, chunk.s, chunk.len);
        if (strstr(hdr.s, "\r\n\r\n") || strstr(hdr.s, "\n\n") || has_prefix_ci(hdr.s, "\r\n"))
            break;
    }
    for (const char *p = hdr.s ? hdr.s : ""; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '\r'))
            break; /* end of the header section */
        if (has_prefix_ci(p, "Received:"))
            lr->received++;
        else if (has_prefix_ci(p, "Delivered-To:")) {
            char *v = xstrndup(p + 13, n - 13);
            char *t = trim(v);
            size_t tl = strlen(t);
            if (tl >= 2 && t[0] == '<' && t[tl - 1] == '>') {
                t[tl - 1] = '\0';
                t++;
            }
            strlist_add(&lr->delivered_to, lowercase(t));
            free(v);
        }
        p += n + (nl ? 1 : 0);
    }
    str_free(&chunk);
    str_free(&hdr);
    str_free(&err);
}

/* fail_all - every recipient deferred (the queue file cannot be used) */
static int fail_all(struct stream *s, struct deliver_request *req, const char *reason)
{
    int rc = STREAM_OK;

    for (size_t i = 0; i < req->nrcpts && rc == STREAM_OK; i++) {
        struct deliver_result r;
        memset(&r, 0, sizeof(r));
        r.rcpt = i;
        r.status = DELIVER_DEFERRED;
        r.dsn = "4.3.0";
        r.reason = reason;
        r.relay = req->transport;
        rc = deliver_report(s, req, &r);
    }
    return rc;
}

/* handle_request - one delivery request */
static int handle_request(struct stream *s, struct deliver_request *req)
{
    struct local_req lr;
    struct str err = STR_INIT;
    const char *why = "cannot read the queue file";
    int rc = STREAM_OK;

    memset(&lr, 0, sizeof(lr));
    lr.req = req;
    lr.qfd = -1;
    /* as mail_owner: the file is its, and the mark is made through this descriptor */
    if (local_become_mail_owner(&err) < 0) {
        log_warn("%s: %s", req->queue_id, str_c(&err));
    } else {
        lr.qfd = deliver_queue_load(req, &lr.env, &why);
        local_unbecome();
    }
    if (lr.qfd < 0) {
        rc = fail_all(s, req, why);
        goto out;
    }
    scan_headers(&lr);
    for (size_t i = 0; i < req->nrcpts && rc == STREAM_OK; i++)
        rc = handle_rcpt(s, &lr, i);
out:
    if (lr.qfd >= 0)
        close(lr.qfd);
    qfile_env_free(&lr.env);
    strlist_free(&lr.delivered_to);
    str_free(&err);
    return rc;
}

/* serve - one qmgr connection: requests in turn until qmgr closes or we are idle */
static void serve(struct server_conn *conn)
{
    struct stream *s = stream_new(conn->fd, conn->wfd, (int)cfg_time(cfg_main, P_ipc_timeout));
    struct deliver_request req;
    struct str err = STR_INIT;
    long long max = cfg_int(cfg_main, P_max_use);
    int idle = (int)cfg_time(cfg_main, P_max_idle);

    deliver_request_init(&req);
    if (deliver_agent_hello(s) != STREAM_OK)
        goto out;
    for (long long n = 0; n < max && !server_stopping(); n++) {
        str_reset(&err);
        int r = deliver_request_read(s, idle, &req, &err);
        if (r != STREAM_OK) {
            if (r != STREAM_EOF && r != STREAM_TIMEOUT)
                log_warn("bad delivery request: %s", str_c(&err));
            break;
        }
        if (handle_request(s, &req) != STREAM_OK)
            break;
        int last = n + 1 >= max || server_stopping();
        if (deliver_done(s, 0, last) != STREAM_OK || last)
            break;
        deliver_request_free(&req);
    }
out:
    deliver_request_free(&req);
    stream_free(s, 0);
    str_free(&err);
}

/* open_maps - the tables, once per process (a bad specification is fatal) */
static struct maps *open_maps(enum cfg_list_param param)
{
    struct str err = STR_INIT;
    struct maps *m = maps_open_param(param, &err);

    if (m == NULL)
        log_fatal("%s: %s", cfg_name(param), str_c(&err));
    str_free(&err);
    return m;
}

/* post_init - open the tables once per process */
static void post_init(void)
{
    alias_maps = open_maps(P_alias_maps);
    vmailbox_maps = open_maps(P_virtual_mailbox_maps);
    vuid_maps = open_maps(P_virtual_uid_maps);
    vgid_maps = open_maps(P_virtual_gid_maps);
    if (local_is_root() && geteuid() != 0)
        log_fatal("local must start as root (master.cf unpriv = n)");
}

int main(int argc, char **argv)
{
    static const struct server_def def = {
        .program = "local",
        .post_init = post_init,
        .serve = serve,
    };
    int r = server_main(argc, argv, &def);

    maps_close(alias_maps);
    maps_close(vmailbox_maps);
    maps_close(vuid_maps);
    maps_close(vgid_maps);
    return r;
}
