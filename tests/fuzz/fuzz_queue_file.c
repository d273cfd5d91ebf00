/*
 * fuzz_queue_file - libFuzzer target: the queue-file and maildrop record readers
 *
 * The input is a whole file. It is read as a queue file (envelope, then
 * every content chunk, as qmgr and the delivery agents read it) and as a
 * maildrop file (as pickup reads what sendmail wrote: untrusted, from any
 * local user). Invariants: recipients stay within the limit given, every
 * recipient's record offset lies inside the file, content never exceeds
 * the file or the content limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildrop.h"
#include "qfile.h"
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
