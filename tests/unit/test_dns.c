/*
 * test_dns.c - unit tests of dns.c
 *
 * A tiny DNS server runs in a child process on loopback UDP ports (IPv4
 * and IPv6, never port 53) and answers from a fixed table, so these tests
 * check what libresolv really does with our server list (non-default
 * ports, IPv6 servers) as well as the answer parser.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns.h"
#include "mem.h"
#include "unit.h"

#define RC_NOERROR 0
#define RC_SERVFAIL 2
#define RC_NXDOMAIN 3

static pid_t server_pid;
static int port4, port6, dead_port;

/* put_name - a name in wire form (uncompressed labels) */
static size_t put_name(unsigned char *p, const char *name)
{
    size_t n = 0;

    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (unsigned char)l;
        memcpy(p + n, name, l);
        n += l;
        name += l + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

/* put_rr - an answer record whose owner is the question name (pointer 0xc00c) */
static size_t put_rr(unsigned char *p, int type, const unsigned char *rdata, size_t rdlen)
{
    size_t n = 0;

    p[n++] = 0xc0;
    p[n++] = 0x0c;
    p[n++] = 0;
    p[n++] = (unsigned char)type;
    p[n++] = 0;
    p[n++] = 1;                       /* IN */
    memcpy(p + n, "\0\0\x0e\x10", 4); /* ttl 3600 */
    n += 4;
    p[n++] = (unsigned char)(rdlen >> 8);
    p[n++] = (unsigned char)rdlen;
    memcpy(p + n, rdata, rdlen);
    return n + rdlen;
}

static size_t put_mx(unsigned char *p, int pref, const char *host)
{
    unsigned char rd[300];

    rd[0] = 0;
    rd[1] = (unsigned char)pref;
    return put_rr(p, 15, rd, 2 + put_name(rd + 2, host));
}

/* answer - the reply to one query: the table of this test */
static size_t answer(const unsigned char *q, size_t qlen, unsigned char *out)
{
    char name[300];
    size_t i = 12, n = 0;
    int type, rcode = RC_NOERROR, count = 0;
    unsigned char body[4000];
    size_t blen = 0;

    while (i < qlen && q[i] && n < 250) {
        size_t l = q[i++];
        if (n)
            name[n++] = '.';
        memcpy(name + n, q + i, l);
        n += l;
        i += l;
    }
    name[n] = '\0';
    i++;
    type = q[i + 1];
    i += 4;
    if (strcmp(name, "mx.test") == 0 && type == 15) {
        blen += put_mx(body + blen, 20, "b.mx.test");
        blen += put_mx(body + blen, 10, "a.mx.test");
        blen += put_mx(body + blen, 20, "c.mx.test");
        count = 3;
    } else if (strcmp(name, "null.test") == 0 && type == 15) {
        blen += put_mx(body + blen, 0, "");
        count = 1;
    } else if (strcmp(name, "badmx.test") == 0 && type == 15) {
        blen += put_mx(body + blen, 10, "bad\\name.test"); /* a backslash in a label */
        blen += put_mx(body + blen, 20, "good.test");
        count = 2;
    } else if (strcmp(name, "a.mx.test") == 0 && type == 1) {
        blen += put_rr(body + blen, 1, (const unsigned char *)"\x7f\0\0\x05", 4);
        blen += put_rr(body + blen, 1, (const unsigned char *)"\x7f\0\0\x06", 4);
        count = 2;
    } else if (strcmp(name, "a.mx.test") == 0 && type == 28) {
        blen += put_rr(body + blen, 28, (const unsigned char *)"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01",
                       16);
        count = 1;
    } else if (strcmp(name, "short.test") == 0 && type == 1) {
        blen += put_rr(body + blen, 1, (const unsigned char *)"\x7f\0\0", 3); /* bad length */
        count = 1;
    } else if (strcmp(name, "txt.test") == 0 && type == 16) {
        blen += put_rr(body + blen, 16, (const unsigned char *)"\x03one\x03two", 8);
        count = 1;
    } else if (strcmp(name, "servfail.test") == 0) {
        rcode = RC_SERVFAIL;
    } else if (strcmp(name, "nodata.test") == 0 || strcmp(name, "a.mx.test") == 0) {
        rcode = RC_NOERROR;
    } else {
        rcode = RC_NXDOMAIN;
    }
    memcpy(out, q, i);             /* header and question */
    out[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD copied */
    out[3] = 0x80 | (unsigned char)rcode;
    out[6] = 0;
    out[7] = (unsigned char)count;
    out[8] = out[9] = out[10] = out[11] = 0;
    memcpy(out + i, body, blen);
    return i + blen;
}

static int udp_socket(int family, int *port)
{
    int fd = socket(family, SOCK_DGRAM, 0);
    struct sockaddr_storage ss;
    socklen_t len;

    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*s);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        s->sin6_addr = in6addr_loopback;
        len = sizeof(*s);
    }
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void serve(int fd4, int fd6)
{
    struct pollfd p[2] = {{fd4, POLLIN, 0}, {fd6, POLLIN, 0}};
    unsigned char q[512], out[4600];

    for (;;) {
        if (poll(p, 2, 20000) <= 0)
            _exit(0);
        for (int k = 0; k < 2; k++) {
            struct sockaddr_storage from;
            socklen_t fl = sizeof(from);
            ssize_t n;
            if (!(p[k].revents & POLLIN))
                continue;
            n = recvfrom(p[k].fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
            if (n >= 17)
                sendto(p[k].fd, out, answer(q, (size_t)n, out), 0, (struct sockaddr *)&from, fl);
        }
    }
}

static int setup(void **state)
{
    int fd4 = udp_socket(AF_INET, &port4), fd6 = udp_socket(AF_INET6, &port6);
    int dead = udp_socket(AF_INET, &dead_port);

    (void)state;
    close(dead); /* nothing listens there: ICMP port unreachable */
    server_pid = fork();
    assert_true(server_pid >= 0);
    if (server_pid == 0)
        serve(fd4, fd6);
    close(fd4);
    close(fd6);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
    return 0;
}

/* resolver - one server entry: the loopback address of family and port */
static struct dns_resolver *resolver(int family, int port)
{
    struct strlist l = STRLIST_INIT;
    struct str err = STR_INIT, e = STR_INIT;
    struct dns_resolver *r;

    str_printf(&e, family == AF_INET ? "127.0.0.1:%d" : "[::1]:%d", port);
    strlist_add(&l, e.s);
    r = dns_open(&l, 1, 1, &err);
    assert_non_null(r);
    strlist_free(&l);
    str_free(&err);
    str_free(&e);
    return r;
}

static void test_parse_server(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    static const char *bad[] = {
        "",     "host.example", "127.0.0.1:",    "127.0.0.1:0", "127.0.0.1:65536",
        "[::1", "[::1]x",       "[127.0.0.1]:x", NULL};

    (void)state;
    assert_int_equal(dns_parse_server("127.0.0.1", &ss, &len), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 53);
    assert_int_equal(dns_parse_server("127.0.0.1:5353", &ss, &len), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5353);
    assert_int_equal(dns_parse_server("[::1]:5300", &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 5300);
    assert_int_equal(dns_parse_server("2001:db8::1", &ss, &len), 0);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 53);
    for (int i = 0; bad[i]; i++)
        assert_int_equal(dns_parse_server(bad[i], &ss, &len), -1);
}

static void test_open_errors(void **state)
{
    struct strlist l = STRLIST_INIT;
    struct str err = STR_INIT;

    (void)state;
    strlist_add(&l, "dns.example:53");
    assert_null(dns_open(&l, 1, 1, &err));
    assert_non_null(strstr(err.s, "bad DNS server"));
    strlist_free(&l);
    for (int i = 0; i < 4; i++)
        strlist_add(&l, "127.0.0.1");
    str_reset(&err);
    assert_null(dns_open(&l, 1, 1, &err));
    strlist_free(&l);
    str_free(&err);
}

static void test_valid_name(void **state)
{
    char long_label[80], long_name[300];

    (void)state;
    assert_true(dns_valid_name("example.com"));
    assert_true(dns_valid_name("example.com."));
    assert_true(dns_valid_name("_dmarc.x-y.example"));
    assert_false(dns_valid_name(""));
    assert_false(dns_valid_name("."));
    assert_false(dns_valid_name("a..b"));
    assert_false(dns_valid_name(".a"));
    assert_false(dns_valid_name("a b.example"));
    assert_false(dns_valid_name("[127.0.0.1]"));
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    assert_false(dns_valid_name(long_label));
    for (int i = 0; i < 127; i++)
        memcpy(long_name + 2 * i, "a.", 2);
    long_name[253] = 'b';
    long_name[254] = '\0';
    assert_false(dns_valid_name(long_name)); /* 254 bytes */
    long_name[253] = '\0';
    assert_true(dns_valid_name(long_name));
}

static void test_mx_ipv4_server_port(void **state)
{
    struct dns_resolver *r = resolver(AF_INET, port4);
    struct dns_rr_list l = {NULL, 0};
    struct str why = STR_INIT;

    (void)state;
    assert_int_equal(dns_query(r, "mx.test", DNS_T_MX, &l, &why), DNS_OK);
    assert_int_equal(l.n, 3);
    dns_mx_sort(&l, 1);
    assert_int_equal(l.v[0].pref, 10);
    assert_string_equal(l.v[0].name, "a.mx.test");
    assert_int_equal(l.v[1].pref, 20);
    assert_int_equal(l.v[2].pref, 20);
    assert_true(strcmp(l.v[1].name, "b.mx.test") == 0 || strcmp(l.v[1].name, "c.mx.test") == 0);
    assert_int_equal(l.v[0].ttl, 3600);
    dns_mx_sort(&l, 0);
    assert_string_equal(l.v[0].name, "a.mx.test");
    dns_rr_list_free(&l);
    str_free(&why);
    dns_close(r);
}

static void test_mx_shuffles_equal_preferences(void **state)
{
    struct dns_resolver *r = resolver(AF_INET, port4);
    struct dns_rr_list l = {NULL, 0};
    struct str why = STR_INIT;
    int seen_b_first = 0, seen_c_first = 0;

    (void)state;
    srandom((unsigned)time(NULL));
    for (int i = 0; i < 64; i++) {
        assert_int_equal(dns_query(r, "mx.test", DNS_T_MX, &l, &why), DNS_OK);
        dns_mx_sort(&l, 1);
        assert_string_equal(l.v[0].name, "a.mx.test");
        seen_b_first |= strcmp(l.v[1].name, "b.mx.test") == 0;
        seen_c_first |= strcmp(l.v[1].name, "c.mx.test") == 0;
    }
    assert_true(seen_b_first && seen_c_first);
    dns_rr_list_free(&l);
    str_free(&why);
    dns_close(r);
}

static void test_ipv6_server(void **state)
{
    struct dns_resolver *r = resolver(AF_INET6, port6);
    struct dns_rr_list l = {NULL, 0};
    struct str why = STR_INIT;

    (void)state;
    assert_int_equal(dns_query(r, "a.mx.test", DNS_T_A, &l, &why), DNS_OK);
    assert_int_equal(l.n, 2);
    assert_memory_equal(l.v[0].addr, "\x7f\0\0\x05", 4);
    assert_memory_equal(l.v[1].addr, "\x7f\0\0\x06", 4);
    assert_int_equal(dns_query(r, "a.mx.test", DNS_T_AAAA, &l, &why), DNS_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].addr[15], 1);
    dns_rr_list_free(&l);
    str_free(&why);
    dns_close(r);
}

static void test_errors(void **state)
{
    struct dns_resolver *r = resolver(AF_INET, port4);
    struct dns_rr_list l = {NULL, 0};
    struct str why = STR_INIT;

    (void)state;
    assert_int_equal(dns_query(r, "missing.test", DNS_T_MX, &l, &why), DNS_NOTFOUND);
    assert_string_equal(why.s, "Name service error for name=missing.test type=MX: Host not found");
    assert_int_equal(dns_query(r, "nodata.test", DNS_T_MX, &l, &why), DNS_NODATA);
    assert_int_equal(dns_query(r, "a.mx.test", DNS_T_MX, &l, &why), DNS_NODATA);
    assert_int_equal(dns_query(r, "servfail.test", DNS_T_MX, &l, &why), DNS_TEMPFAIL);
    assert_int_equal(dns_query(r, "bad name", DNS_T_MX, &l, &why), DNS_FAIL);
    /* a record of the wrong length is dropped: nothing usable */
    assert_int_equal(dns_query(r, "short.test", DNS_T_A, &l, &why), DNS_NODATA);
    assert_int_equal(l.n, 0);
    dns_rr_list_free(&l);
    str_free(&why);
    dns_close(r);
}

static void test_null_mx_bad_names_txt(void **state)
{
    struct dns_resolver *r = resolver(AF_INET, port4);
    struct dns_rr_list l = {NULL, 0};
    struct str why = STR_INIT;

    (void)state;
    assert_int_equal(dns_query(r, "null.test", DNS_T_MX, &l, &why), DNS_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].name, "");
    assert_int_equal(l.v[0].pref, 0);
    assert_int_equal(dns_query(r, "badmx.test", DNS_T_MX, &l, &why), DNS_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].name, "good.test");
    assert_int_equal(dns_query(r, "txt.test", DNS_T_TXT, &l, &why), DNS_OK);
    assert_string_equal(l.v[0].name, "onetwo");
    dns_rr_list_free(&l);
    str_free(&why);
    dns_close(r);
}

static void test_server_down(void **state)
{
    struct dns_resolver *r = resolver(AF_INET, dead_port);
    struct dns_rr_list l = {NULL, 0};
    struct str why = STR_INIT;
    time_t t0 = time(NULL);

    (void)state;
    assert_int_equal(dns_query(r, "mx.test", DNS_T_MX, &l, &why), DNS_TEMPFAIL);
    assert_true(time(NULL) - t0 <= 3);
    assert_string_equal(why.s, "Name service error for name=mx.test type=MX: Host not found, "
                               "try again");
    str_free(&why);
    dns_close(r);
}

static void test_second_server_answers(void **state)
{
    struct strlist s = STRLIST_INIT;
    struct str err = STR_INIT, why = STR_INIT, e = STR_INIT;
    struct dns_rr_list l = {NULL, 0};
    struct dns_resolver *r;

    (void)state;
    str_printf(&e, "127.0.0.1:%d", dead_port);
    strlist_add(&s, e.s);
    str_reset(&e);
    str_printf(&e, "[::1]:%d", port6);
    strlist_add(&s, e.s);
    r = dns_open(&s, 1, 1, &err);
    assert_non_null(r);
    assert_int_equal(dns_query(r, "mx.test", DNS_T_MX, &l, &why), DNS_OK);
    assert_int_equal(l.n, 3);
    dns_rr_list_free(&l);
    dns_close(r);
    strlist_free(&s);
    str_free(&err);
    str_free(&why);
    str_free(&e);
}

static void test_parse_malformed(void **state)
{
    unsigned char q[64] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0};
    struct dns_rr_list l = {NULL, 0};
    struct str why = STR_INIT;
    size_t n = 12 + put_name(q + 12, "x.test");

    (void)state;
    q[n++] = 0;
    q[n++] = 15;
    q[n++] = 0;
    q[n++] = 1;
    /* five answers announced, none present */
    assert_int_equal(dns_parse_answer(q, n, DNS_T_MX, &l, &why), DNS_TEMPFAIL);
    assert_int_equal(dns_parse_answer(q, 5, DNS_T_MX, &l, &why), DNS_TEMPFAIL);
    q[7] = 0;
    assert_int_equal(dns_parse_answer(q, n, DNS_T_MX, &l, &why), DNS_NODATA);
    str_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_server),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_valid_name),
        cmocka_unit_test(test_mx_ipv4_server_port),
        cmocka_unit_test(test_mx_shuffles_equal_preferences),
        cmocka_unit_test(test_ipv6_server),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_null_mx_bad_names_txt),
        cmocka_unit_test(test_server_down),
        cmocka_unit_test(test_second_server_answers),
        cmocka_unit_test(test_parse_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
