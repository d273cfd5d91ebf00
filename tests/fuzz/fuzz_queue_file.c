/*
 * fuzz_queue_file - libFuzzer target: the queue-file and maildrop record readers
 *
 * The input is a whole file. It is read as a queue file (envelope, then
 * every content chunk, as qmgr and the delivery agents read it) and as a
 * maildrop file (as pickup reads what sendmail wrote, and petrel-drop,
 * set-gid, reads from its pipe: untrusted, from any local user), both
 * through the one record reader of lib/global/rec.h. Invariants: recipients
 * stay within the limit given, every recipient's record offset lies inside
 * the file, content never exceeds the file or the content limit, and an
 * accepted maildrop envelope, written again as petrel-drop writes it, reads
 * back the same (the writer and the reader of rec.h agree).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildrop.h"
#include "qfile.h"
#include "rec.h"
#include "str.h"

#include "fuzz_util.h"

#define MAX_RCPTS 50

/* queue_file - qmgr's and the agents' view */
static void queue_file(const uint8_t *data, size_t size)
{
    int fd = fuzz_fd(data, size);
    struct qfile_env env;
    struct str err = STR_INIT, chunk = STR_INIT;
    memset(&env, 0, sizeof(env));
    if (qfile_read_envelope(fd, &env, MAX_RCPTS, &err) == 0) {
        if (env.nrcpts > MAX_RCPTS)
            abort();
        for (size_t i = 0; i < env.nrcpts; i++)
            if (env.rcpts[i].offset < 0 || (size_t)env.rcpts[i].offset >= size)
                abort();
        for (size_t i = 0; i < env.nrcpts; i++) { /* the recipient codec round-trips */
            const struct qfile_rcpt *q = &env.rcpts[i];
            struct rec_rcpt rc = {q->addr, q->orcpt, q->notify, q->dsn_orig}, back;
            rec_rcpt_encode(&chunk, &rc, REC_RCPT_QUEUE);
            if (rec_rcpt_decode(&chunk, REC_RCPT_QUEUE, &back) != 0 ||
                strcmp(back.addr, q->addr) != 0 || strcmp(back.orcpt, q->orcpt) != 0 ||
                back.notify != q->notify || strcmp(back.dsn_orig, q->dsn_orig) != 0)
                abort();
        }
        qfile_env_attr(&env, "envid");
        struct qfile_content c;
        uint64_t total = 0;
        int r;
        qfile_content_init(&c, fd, &env);
        while ((r = qfile_content_next(&c, &chunk, &err)) == 1) {
            total += chunk.len;
            if (total > size)
                abort();
        }
    }
    qfile_is_complete(fd);
    qfile_env_free(&env);
    str_free(&err);
    str_free(&chunk);
    close(fd);
}

/* same_env - whether two maildrop envelopes are equal */
static int same_env(const struct maildrop_env *a, const struct maildrop_env *b)
{
    if (strcmp(a->sender, b->sender) != 0 || a->nattrs != b->nattrs || a->nrcpts != b->nrcpts ||
        a->sec != b->sec || a->usec != b->usec)
        return 0;
    for (size_t i = 0; i < a->nattrs; i++)
        if (strcmp(a->attrs[i].name, b->attrs[i].name) != 0 ||
            strcmp(a->attrs[i].value, b->attrs[i].value) != 0)
            return 0;
    for (size_t i = 0; i < a->nrcpts; i++)
        if (strcmp(a->rcpts[i].addr, b->rcpts[i].addr) != 0 ||
            strcmp(a->rcpts[i].orcpt, b->rcpts[i].orcpt) != 0 ||
            a->rcpts[i].notify != b->rcpts[i].notify)
            return 0;
    return 1;
}

/* rewrite - an accepted envelope written again (petrel-drop's copy_envelope) reads back
 * the same through a pipe */
static void rewrite(const struct maildrop_env *env, const struct maildrop_limits *lim)
{
    struct str out = STR_INIT, p = STR_INIT, err = STR_INIT;
    struct maildrop_reader *r = malloc(sizeof(*r));
    struct maildrop_env again;
    int fds[2];

    rec_put(&out, QREC_VERSION, MAILDROP_MAGIC, strlen(MAILDROP_MAGIC));
    rec_time_encode(&p, env->sec, env->usec);
    rec_put(&out, QREC_TIME, p.s, p.len);
    rec_put(&out, QREC_SENDER, env->sender, strlen(env->sender));
    for (size_t i = 0; i < env->nattrs; i++) {
        rec_attr_encode(&p, env->attrs[i].name, env->attrs[i].value);
        rec_put(&out, QREC_ATTR, p.s, p.len);
    }
    for (size_t i = 0; i < env->nrcpts; i++)
        maildrop_put_rcpt(&out, env->rcpts[i].addr, env->rcpts[i].orcpt, env->rcpts[i].notify);
    rec_put(&out, QREC_MESSAGE, "", 0);
    if (out.len < 65536 && pipe(fds) == 0) {
        if (write(fds[1], out.s, out.len) != (ssize_t)out.len)
            abort();
        close(fds[1]);
        maildrop_reader_init(r, fds[0], lim);
        if (maildrop_read_envelope(r, &again, &err) != 0 || !same_env(env, &again))
            abort();
        maildrop_env_free(&again);
        close(fds[0]);
    }
    free(r);
    str_free(&out);
    str_free(&p);
    str_free(&err);
}

/* maildrop_file - pickup's view */
static void maildrop_file(const uint8_t *data, size_t size)
{
    int fd = fuzz_fd(data, size);
    struct maildrop_limits lim = {.content_max = 4096, .rcpt_max = MAX_RCPTS};
    struct maildrop_reader *r = malloc(sizeof(*r));
    struct maildrop_env env;
    struct str err = STR_INIT, chunk = STR_INIT;
    memset(&env, 0, sizeof(env));
    maildrop_reader_init(r, fd, &lim);
    if (maildrop_read_envelope(r, &env, &err) == 0) {
        maildrop_env_attr(&env, "envid");
        rewrite(&env, &lim);
        uint64_t total = 0;
        while (maildrop_read_content(r, &chunk, &err) == 1) {
            total += chunk.len;
            if (total > size)
                abort();
        }
    }
    maildrop_env_free(&env);
    free(r);
    str_free(&err);
    str_free(&chunk);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    queue_file(data, size);
    maildrop_file(data, size);
    return 0;
}
