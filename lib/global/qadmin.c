/*
 * qadmin.c - queue administration requests to qmgr: the client, and the wire
 * format
 *
 * The client side (qadmin_request, qadmin_lock) is petrel-super's; the
 * request parser is qmgr's (qmgr_admin.c), kept here beside its writer so
 * that both ends read the same format and it is unit-tested
 * (tests/unit/test_qadmin.c). Requests and answers are untrusted input:
 * every queue ID is checked, the number of IDs is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "attr.h"
#include "mem.h"
#include "qadmin.h"
#include "qfile.h"
#include "sock.h"
#include "stream.h"

int qadmin_request(const char *op, char *const *ids, size_t n, int *results, int timeout,
                   struct str *err)
{
    struct attr_list req = ATTR_LIST_INIT, ans = ATTR_LIST_INIT;
    struct stream *s;
    int fd, rc = -2;

    fd = sock_connect_unix(QADMIN_SOCKET, timeout, err);
    if (fd < 0)
        return -1;
    s = stream_new(fd, fd, timeout);
    attr_add(&req, "request", op);
    for (size_t i = 0; i < n; i++)
        attr_add(&req, "queue_id", ids[i]);
    if (attr_write(s, &req) != STREAM_OK) {
        str_cat(err, "cannot send the request to qmgr");
        goto out;
    }
    if (attr_read(s, &ans, 1024, QADMIN_REQUEST_MAX, err) != STREAM_OK) {
        if (err->len == 0)
            str_cat(err, "no answer from qmgr");
        goto out;
    }
    rc = qadmin_parse_answer(&ans, ids, n, results, err);
out:
    stream_free(s, 1);
    attr_free(&req);
    attr_free(&ans);
    return rc;
}

int qadmin_lock(uid_t uid, gid_t gid, int *fd, struct str *err)
{
    int created = 0;

    *fd = open(QADMIN_LOCK, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (*fd < 0 && errno == ENOENT) {
        *fd = open(QADMIN_LOCK, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        created = *fd >= 0;
    }
    if (*fd < 0) {
        str_printf(err, "open %s: %s", QADMIN_LOCK, strerror(errno));
        return -1;
    }
    if (created && geteuid() == 0 && fchown(*fd, uid, gid) < 0) {
        str_printf(err, "chown %s: %s", QADMIN_LOCK, strerror(errno));
        close(*fd);
        return -1;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
        return 1;
    if (errno == EWOULDBLOCK) {
        close(*fd);
        *fd = -1;
        return 0;
    }
    str_printf(err, "lock %s: %s", QADMIN_LOCK, strerror(errno));
    close(*fd);
    *fd = -1;
    return -1;
}

int qadmin_parse_answer(const struct attr_list *ans, char *const *ids, size_t n, int *results,
                        struct str *err)
{
    size_t k = 0;

    if (attr_get(ans, "status")) {
        str_printf(err, "qmgr: %s", attr_get(ans, "reason") ? attr_get(ans, "reason") : "error");
        return -2;
    }
    /* pairs queue_id, result in the order asked */
    for (size_t i = 0; i + 1 < ans->n && k < n; i++) {
        if (strcmp(ans->items[i].name, "queue_id") != 0 ||
            strcmp(ans->items[i + 1].name, "result") != 0)
            continue;
        if (strcmp(ans->items[i].value, ids[k]) != 0)
            break;
        if (strcmp(ans->items[i + 1].value, "ok") == 0)
            results[k] = QADMIN_OK;
        else if (strcmp(ans->items[i + 1].value, "notfound") == 0)
            results[k] = QADMIN_NOTFOUND;
        else
            break;
        k++;
        i++;
    }
    if (k == n && attr_get(ans, "end"))
        return 0;
    str_cat(err, "malformed answer from qmgr");
    return -2;
}

size_t qadmin_request_end(const char *buf, size_t len)
{
    const char *p;

    if (len >= 1 && buf[0] == '\n')
        return 1;
    p = len >= 2 ? memmem(buf, len, "\n\n", 2) : NULL;
    return p ? (size_t)(p - buf) + 2 : 0;
}

int qadmin_parse_request(const char *buf, size_t len, struct strlist *ids, struct str *err)
{
    static const char *const names[] = {"", "requeue", "hold", "delete"};
    struct attr_list req = ATTR_LIST_INIT;
    const char *what;
    int op = -1;

    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - buf) - pos : len - pos;
        if (l == 0)
            break; /* the empty line: the end */
        if (attr_decode_line(&req, buf + pos, l) < 0) {
            str_cat(err, "malformed request");
            goto out;
        }
        pos += l + 1;
    }
    what = attr_get(&req, "request");
    for (int i = QADMIN_REQUEUE; i <= QADMIN_DELETE; i++)
        if (what && strcmp(what, names[i]) == 0)
            op = i;
    if (op < 0) {
        str_cat(err, "unknown request");
        goto out;
    }
    for (size_t i = 0; i < req.n; i++) {
        if (strcmp(req.items[i].name, "request") == 0)
            continue;
        if (strcmp(req.items[i].name, "queue_id") != 0) {
            str_printf(err, "unknown attribute %.64s", req.items[i].name);
            op = -1;
            break;
        }
        if (!qfile_valid_id(req.items[i].value) || ids->n >= QADMIN_BATCH_MAX) {
            str_cat(err, ids->n >= QADMIN_BATCH_MAX ? "too many queue IDs" : "bad queue ID");
            op = -1;
            break;
        }
        strlist_add(ids, req.items[i].value);
    }
out:
    attr_free(&req);
    return op;
}
