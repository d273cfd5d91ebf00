/*
 * test_auth.c - unit tests of auth.c and base64.c
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "base64.h"
#include "map.h"
#include "mem.h"
#include "unit.h"

static void test_base64_vectors(void **state)
{
    /* RFC 4648 section 10 */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    struct str s = STR_INIT;

    for (int i = 0; i < 7; i++) {
        str_reset(&s);
        base64_encode(plain[i], strlen(plain[i]), &s);
        assert_string_equal(str_c(&s), coded[i]);
        str_reset(&s);
        assert_int_equal(base64_decode(coded[i], strlen(coded[i]), &s), 0);
        assert_string_equal(str_c(&s), plain[i]);
    }
    static const char *bad[] = {
        "Zg=", "Zg", "Z===", "Zm9v\r\n", "Zh==", "Zm9=v", "Z!==", "=Zg=", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(base64_decode(bad[i], strlen(bad[i]), &s), -1);
    str_reset(&s);
    base64_decode_mime("Zm9v\r\nYmFy\r\n", 12, &s);
    assert_string_equal(str_c(&s), "foobar");
    str_reset(&s);
    base64_decode_mime("Zm9vYg=", 7, &s);
    assert_string_equal(str_c(&s), "foob");
    str_free(&s);
}

static void test_hash_and_verify(void **state)
{
    struct str h = STR_INIT, err = STR_INIT, h2 = STR_INIT;

    assert_int_equal(auth_hash("s3cret", &h, &err), 0);
    assert_true(strncmp(str_c(&h), "$y$", 3) == 0);
    assert_int_equal(auth_hash("s3cret", &h2, &err), 0);
    assert_string_not_equal(str_c(&h), str_c(&h2)); /* fresh salt each time */
    assert_true(auth_check_hash(str_c(&h), "s3cret"));
    assert_false(auth_check_hash(str_c(&h), "s3cret "));
    assert_false(auth_check_hash("plaintext", "plaintext"));
    assert_false(auth_check_hash("", ""));
    /* SHA-512 crypt is accepted too */
    assert_true(auth_check_hash(
        "$6$saltsalt$YTeBOLnmm3CoeJTzBuijUEtOEWCqrw/nQ8/AeMmON4LGp3k0ZiMjC1OdqzWFUAfDQBvYkOch9BWtQTBcZ1E/p0",
        "hello"));

    struct strlist specs = STRLIST_INIT;
    char *spec = xasprintf("inline:{ joe@example.com = %s extra, bad@example.com = x }", str_c(&h));
    strlist_add(&specs, spec);
    struct maps *ms = maps_open(&specs, &err);
    assert_non_null(ms);
    assert_int_equal(auth_verify(ms, "joe@example.com", "s3cret"), AUTH_OK);
    assert_int_equal(auth_verify(ms, "JOE@example.com", "s3cret"), AUTH_OK);
    assert_int_equal(auth_verify(ms, "joe@example.com", "wrong"), AUTH_FAIL);
    assert_int_equal(auth_verify(ms, "nobody@example.com", "s3cret"), AUTH_FAIL);
    assert_int_equal(auth_verify(ms, "bad@example.com", "x"), AUTH_FAIL);
    maps_close(ms);
    strlist_free(&specs);
    strlist_add(&specs, "hash:/nonexistent/passwd");
    ms = maps_open(&specs, &err);
    assert_int_equal(auth_verify(ms, "joe@example.com", "s3cret"), AUTH_TEMPFAIL);
    maps_close(ms);
    strlist_free(&specs);
    free(spec);
    str_free(&h);
    str_free(&h2);
    str_free(&err);
}

static void test_plain(void **state)
{
    struct str m = STR_INIT, z = STR_INIT, c = STR_INIT, p = STR_INIT;

    str_catn(&m, "\0joe\0pw", 7);
    assert_int_equal(auth_plain_decode(&m, &z, &c, &p), 0);
    assert_string_equal(str_c(&z), "");
    assert_string_equal(str_c(&c), "joe");
    assert_string_equal(str_c(&p), "pw");
    str_reset(&m);
    str_catn(&m, "admin\0joe\0pw", 12);
    assert_int_equal(auth_plain_decode(&m, &z, &c, &p), 0);
    assert_string_equal(str_c(&z), "admin");
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {{"joepw", 5}, {"\0joe", 4}, {"\0\0pw", 4}, {"\0joe\0", 5}, {"\0a\0b\0c", 6}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        str_cpyn(&m, bad[i].s, bad[i].n);
        assert_int_equal(auth_plain_decode(&m, &z, &c, &p), -1);
    }
    str_free(&m);
    str_free(&z);
    str_free(&c);
    str_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_base64_vectors),
                                       cmocka_unit_test(test_hash_and_verify),
                                       cmocka_unit_test(test_plain)};
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
