/*
 * test_stream.c - unit tests of stream.c and tls.c
 *
 * The TLS case makes a throw-away self-signed certificate in memory, runs
 * the server side in a child process over a socketpair, and checks that
 * plaintext pipelined behind STARTTLS is discarded, not read as if it had
 * arrived under TLS.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "server.h"
#include "stream.h"
#include "tls.h"
#include "unit.h"

static int sp[2];

static int setup_pair(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    return socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
}

static int close_pair(void **state)
{
    close(sp[0]);
    close(sp[1]);
    return 0;
}

static void put(const char *text)
{
    assert_int_equal(write(sp[1], text, strlen(text)), (ssize_t)strlen(text));
}

static void test_getline_limits(void **state)
{
    struct stream *s = stream_new(sp[0], sp[0], 5);
    struct str line = STR_INIT;

    put("12345678\r\n");          /* exactly 10 bytes with CRLF: at the limit */
    put("123456789\r\nnext\r\n"); /* 11 bytes: over the limit */
    put("bare lf\nlast");
    shutdown(sp[1], SHUT_WR);
    assert_int_equal(stream_getline(s, &line, 10), STREAM_OK);
    assert_string_equal(str_c(&line), "12345678\r\n");
    assert_int_equal(stream_getline(s, &line, 10), STREAM_TOOLONG);
    assert_int_equal(line.len, 10);
    /* the rest of the overlong line was consumed: the next line is intact */
    assert_int_equal(stream_getline(s, &line, 10), STREAM_OK);
    assert_string_equal(str_c(&line), "next\r\n");
    assert_int_equal(stream_getline(s, &line, 10), STREAM_OK);
    assert_string_equal(str_c(&line), "bare lf\n");
    assert_int_equal(stream_getline(s, &line, 10), STREAM_OK);
    assert_string_equal(str_c(&line), "last");
    assert_int_equal(stream_getline(s, &line, 10), STREAM_EOF);
    assert_int_equal(stream_getline(s, &line, 10), STREAM_EOF);
    str_free(&line);
    stream_free(s, 0);
}

static void test_getline_part_and_read(void **state)
{
    struct stream *s = stream_new(sp[0], sp[0], 5);
    struct str out = STR_INIT;
    char buf[8];

    put("abcdefghij\nXYZ0123");
    assert_int_equal(stream_getline_part(s, &out, 4), 0);
    assert_string_equal(str_c(&out), "abcd");
    assert_int_equal(stream_getline_part(s, &out, 100), 1);
    assert_string_equal(str_c(&out), "abcdefghij\n");
    assert_int_equal(stream_read(s, buf, 3), 3);
    assert_memory_equal(buf, "XYZ", 3);
    assert_true(stream_pending(s) == 4);
    shutdown(sp[1], SHUT_WR);
    assert_int_equal(stream_read(s, buf, 8), 4);
    assert_int_equal(stream_read(s, buf, 8), STREAM_EOF);
    str_free(&out);
    stream_free(s, 0);
}

static void test_timeout(void **state)
{
    struct stream *s = stream_new(sp[0], sp[0], 1);
    struct str line = STR_INIT;
    time_t start = time(NULL);

    put("partial");
    assert_int_equal(stream_getline(s, &line, 100), STREAM_TIMEOUT);
    assert_true(time(NULL) - start <= 3);
    assert_int_equal(stream_wait_input(s, 50), 0);
    str_free(&line);
    stream_free(s, 0);
}

/* now_ms - a monotonic clock for the timing tests */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* a request deadline spans operations: lines every 300 ms each arrive in time, but the
 * sequence is cut 1 s after the start; min_rate bytes push it back */
static void test_request_deadline(void **state)
{
    struct stream *s = stream_new(sp[0], sp[0], 30);
    struct str line = STR_INIT;
    pid_t pid = fork();
    int r = STREAM_OK, lines = 0;

    if (pid == 0) {
        for (int i = 0; i < 20; i++) {
            usleep(300000);
            if (write(sp[1], "a line of text\n", 15) != 15)
                _exit(0);
        }
        _exit(0);
    }
    long long start = now_ms();
    stream_start_deadline(s, 1, 0);
    while ((r = stream_getline(s, &line, 100)) == STREAM_OK)
        lines++;
    long long took = now_ms() - start;
    stream_stop_deadline(s);
    assert_int_equal(r, STREAM_TIMEOUT);
    assert_true(lines >= 1 && lines <= 4);
    assert_true(took >= 900 && took < 2500);
    /* with 10 bytes/s, each 15-byte line adds 1.5 s: the sequence is not cut */
    stream_start_deadline(s, 1, 10);
    for (int i = 0; i < 5; i++)
        assert_int_equal(stream_getline(s, &line, 100), STREAM_OK);
    stream_stop_deadline(s);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    str_free(&line);
    stream_free(s, 0);
}

/* the stress descriptor turning readable shortens an operation already waiting */
static void test_stress_wakes_waiting_read(void **state)
{
    struct stream *s = stream_new(sp[0], sp[0], 30);
    struct str line = STR_INIT;
    int pfd[2];

    assert_int_equal(pipe(pfd), 0);
    stream_set_stress(s, pfd[0], 1);
    assert_false(stream_stressed(s));
    pid_t pid = fork();
    if (pid == 0) {
        usleep(300000);
        _exit(write(pfd[1], "S", 1) == 1 ? 0 : 1);
    }
    long long start = now_ms();
    assert_int_equal(stream_getline(s, &line, 100), STREAM_TIMEOUT);
    long long took = now_ms() - start;
    assert_true(took >= 900 && took < 3000); /* 1 s from the start, not 30 s */
    assert_true(stream_stressed(s));
    waitpid(pid, NULL, 0);
    /* stress over: the normal timeout again (a line that comes after 1.2 s is read) */
    char b;
    assert_int_equal(read(pfd[0], &b, 1), 1);
    pid = fork();
    if (pid == 0) {
        usleep(1200000);
        _exit(write(sp[1], "late\n", 5) == 5 ? 0 : 1);
    }
    assert_int_equal(stream_getline(s, &line, 100), STREAM_OK);
    assert_string_equal(line.s, "late\n");
    waitpid(pid, NULL, 0);
    close(pfd[0]);
    close(pfd[1]);
    str_free(&line);
    stream_free(s, 0);
}

static void test_wait_input_without_waiting(void **state)
{
    struct stream *s = stream_new(sp[0], sp[0], 1);
    struct str line = STR_INIT;

    (void)state;
    assert_int_equal(stream_wait_input(s, 0), 0);
    put("x\n");
    assert_int_equal(stream_wait_input(s, 0), 1);
    assert_int_equal(stream_getline(s, &line, 100), STREAM_OK);
    assert_int_equal(stream_wait_input(s, 0), 0);
    str_free(&line);
    stream_free(s, 0);
}

static void test_write_buffering(void **state)
{
    struct stream *s = stream_new(sp[0], sp[0], 5);
    char buf[64];

    stream_printf(s, "%s %d\r\n", "250", 42);
    assert_int_equal(stream_unflushed(s), 8);
    assert_int_equal(stream_flush(s), STREAM_OK);
    assert_int_equal(read(sp[1], buf, sizeof(buf)), 8);
    assert_memory_equal(buf, "250 42\r\n", 8);
    close(sp[1]);
    sp[1] = -1;
    stream_puts(s, "x");
    assert_int_equal(stream_flush(s), STREAM_ERR);
    /* errors are sticky */
    assert_int_equal(stream_puts(s, "y"), STREAM_ERR);
    assert_int_equal(stream_error(s), STREAM_ERR);
    stream_free(s, 0);
    sp[1] = dup(sp[0]);
}

/* make_cert - a self-signed EC certificate and key as PEM files in dir */
static void make_cert(const char *cert, const char *key)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    FILE *f;

    assert_non_null(pk);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    f = fopen(cert, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key, "w");
    PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void test_starttls(void **state)
{
    char *dir = unit_tmpdir();
    char *cert = xasprintf("%s/cert.pem", dir), *key = xasprintf("%s/key.pem", dir);
    struct str err = STR_INIT, line = STR_INIT;
    pid_t pid;
    int status;

    make_cert(cert, key);
    assert_null(tls_server_ctx("/nonexistent.pem", NULL, NULL, &err));
    assert_non_null(strstr(str_c(&err), "cannot load certificate"));
    str_reset(&err);
    pid = fork();
    if (pid == 0) {
        SSL_CTX *ctx = tls_server_ctx(cert, key, NULL, &err);
        struct stream *s = stream_new(sp[0], sp[0], 10);
        if (ctx == NULL || stream_getline(s, &line, 100) != STREAM_OK)
            _exit(1);
        stream_puts(s, "220 ready\r\n");
        long discarded = stream_starttls(s, ctx, 1, NULL, &err);
        if (discarded < 0 || stream_getline(s, &line, 100) != STREAM_OK)
            _exit(2);
        stream_printf(s, "GOT %.*s discarded=%ld\r\n", (int)line.len - 2, line.s, discarded);
        stream_flush(s);
        stream_free(s, 0);
        _exit(0);
    }
    SSL_CTX *cctx = tls_client_ctx(NULL, NULL, NULL, &err);
    struct stream *c = stream_new(sp[1], sp[1], 10);
    put("STARTTLS\r\nINJECTED\r\n");
    assert_int_equal(stream_getline(c, &line, 100), STREAM_OK);
    assert_string_equal(str_c(&line), "220 ready\r\n");
    assert_true(stream_starttls(c, cctx, 0, "localhost", &err) >= 0);
    str_reset(&line);
    tls_describe(stream_ssl(c), &line);
    assert_non_null(strstr(str_c(&line), "TLSv1.3 with cipher"));
    stream_puts(c, "HELLO\r\n");
    stream_flush(c);
    assert_int_equal(stream_getline(c, &line, 100), STREAM_OK);
    assert_string_equal(str_c(&line), "GOT HELLO discarded=10\r\n");
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    stream_free(c, 0);
    SSL_CTX_free(cctx);
    str_free(&err);
    str_free(&line);
    unit_rmtree(dir);
    free(cert);
    free(key);
    free(dir);
}

/* server_conn_nodelay sets TCP_NODELAY on an inet connection, and leaves others alone */
static void test_conn_nodelay(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 2), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    for (int inet = 0; inet < 2; inet++) {
        int c = socket(AF_INET, SOCK_STREAM, 0), v = -1;
        socklen_t vlen = sizeof(v);
        assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
        struct server_conn conn = {.fd = accept(l, NULL, NULL), .is_inet = inet};
        assert_true(conn.fd >= 0);
        conn.wfd = conn.fd;
        server_conn_nodelay(&conn);
        assert_int_equal(getsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &v, &vlen), 0);
        assert_int_equal(v != 0, inet);
        close(conn.fd);
        close(c);
    }
    close(l);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_getline_limits, setup_pair, close_pair),
        cmocka_unit_test_setup_teardown(test_getline_part_and_read, setup_pair, close_pair),
        cmocka_unit_test_setup_teardown(test_wait_input_without_waiting, setup_pair, close_pair),
        cmocka_unit_test_setup_teardown(test_timeout, setup_pair, close_pair),
        cmocka_unit_test_setup_teardown(test_request_deadline, setup_pair, close_pair),
        cmocka_unit_test_setup_teardown(test_stress_wakes_waiting_read, setup_pair, close_pair),
        cmocka_unit_test_setup_teardown(test_write_buffering, setup_pair, close_pair),
        cmocka_unit_test_setup_teardown(test_starttls, setup_pair, close_pair),
        cmocka_unit_test(test_conn_nodelay),
    };
    return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
