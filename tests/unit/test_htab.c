/*
 * test_htab.c - unit tests of htab.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "unit.h"

static void test_htab_ops(void **state)
{
    struct htab *h = htab_create(0);
    char key[32];

    for (long i = 0; i < 50000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        assert_null(htab_put(h, key, (void *)(i + 1)));
    }
    assert_int_equal(htab_count(h), 50000);
    assert_ptr_equal(htab_get(h, "k777"), (void *)778);
    assert_ptr_equal(htab_put(h, "k777", (void *)1), (void *)778);
    assert_ptr_equal(htab_del(h, "k777"), (void *)1);
    assert_null(htab_get(h, "k777"));
    assert_null(htab_del(h, "nope"));
    size_t n = 0;
    struct htab_iter it;
    htab_iter_init(&it);
    while (htab_next(h, &it, NULL, NULL))
        n++;
    assert_int_equal(n, 49999);
    htab_free(h, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_htab_ops)};
    return cmocka_run_group_tests_name("htab", tests, NULL, NULL);
}
