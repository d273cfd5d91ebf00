/*
 * test_attr.c - unit tests of attr.c (internal request protocol)
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"
#include "unit.h"

static void test_roundtrip(void **state)
{
    struct attr_list a = ATTR_LIST_INIT, b = ATTR_LIST_INIT;
    struct str wire = STR_INIT, err = STR_INIT;
    char all[256];
    int sp[2];
    long long n;

    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    attr_add(&a, "request", "deliver");
    attr_addn(&a, "binary", all, sizeof(all));
    attr_add_int(&a, "offset", -1234567890123LL);
    attr_add(&a, "empty", "");
    attr_encode(&a, &wire);
    assert_null(memchr(wire.s, '\r', wire.len));
    assert_true(wire.len > 2 && wire.s[wire.len - 1] == '\n' && wire.s[wire.len - 2] == '\n');
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    struct stream *w = stream_new(sp[0], sp[0], 5), *r = stream_new(sp[1], sp[1], 5);
    assert_int_equal(attr_write(w, &a), STREAM_OK);
    assert_int_equal(attr_write(w, &a), STREAM_OK);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(attr_read(r, &b, 1024, 8192, &err), STREAM_OK);
        assert_int_equal(b.n, 4);
        assert_string_equal(attr_get(&b, "request"), "deliver");
        assert_int_equal(b.items[1].vlen, 256);
        assert_memory_equal(b.items[1].value, all, 256);
        assert_int_equal(attr_get_int(&b, "offset", &n), 0);
        assert_int_equal(n, -1234567890123LL);
        assert_string_equal(attr_get(&b, "empty"), "");
        assert_null(attr_get(&b, "missing"));
    }
    close(sp[0]);
    assert_int_equal(attr_read(r, &b, 1024, 8192, &err), STREAM_EOF);
    stream_free(w, 0);
    stream_free(r, 1);
    attr_free(&a);
    attr_free(&b);
    str_free(&wire);
    str_free(&err);
}

/* feed - read one message from raw text with the given limits */
static int feed(const char *text, size_t attr_limit, size_t total, struct str *err)
{
    struct attr_list l = ATTR_LIST_INIT;
    int sp[2], r;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(write(sp[0], text, strlen(text)), (ssize_t)strlen(text));
    close(sp[0]);
    struct stream *s = stream_new(sp[1], sp[1], 5);
    str_reset(err);
    r = attr_read(s, &l, attr_limit, total, err);
    stream_free(s, 1);
    attr_free(&l);
    return r;
}

static void test_limits_and_malformed(void **state)
{
    struct str err = STR_INIT;

    assert_int_equal(feed("a=0123456789\n\n", 10, 100, &err), STREAM_OK);
    assert_int_equal(feed("a=01234567890\n\n", 10, 100, &err), STREAM_ERR);
    assert_non_null(strstr(str_c(&err), "longer than 10"));
    assert_int_equal(feed("a=%41%42%43%44%45%46%47%48%49%4A%4B\n\n", 10, 100, &err), STREAM_ERR);
    assert_int_equal(feed("a=1\nb=2\nc=3\n\n", 10, 8, &err), STREAM_ERR);
    assert_non_null(strstr(str_c(&err), "larger than 8"));
    assert_int_equal(feed("novalue\n\n", 10, 100, &err), STREAM_ERR);
    assert_int_equal(feed("bad name=1\n\n", 10, 100, &err), STREAM_ERR);
    assert_int_equal(feed("a=%4\n\n", 10, 100, &err), STREAM_ERR);
    assert_int_equal(feed("a=%zz\n\n", 10, 100, &err), STREAM_ERR);
    assert_int_equal(feed("a=1\n", 10, 100, &err), STREAM_ERR);
    assert_non_null(strstr(str_c(&err), "unexpected end"));
    assert_int_equal(feed("", 10, 100, &err), STREAM_EOF);
    str_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roundtrip),
                                       cmocka_unit_test(test_limits_and_malformed)};
    return cmocka_run_group_tests_name("attr", tests, NULL, NULL);
}
