/*
 * test_map_unix.c - unit tests of the unix:passwd.byname table (lib/global/map_unix.c)
 */
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "map.h"
#include "unit.h"

static void test_passwd_byname(void **state)
{
    struct str err = STR_INIT, v = STR_INIT;
    struct map *m = map_open("unix:passwd.byname", &err);
    struct passwd *pw = getpwuid(0);

    (void)state;
    assert_non_null(m);
    assert_non_null(pw);
    assert_int_equal(map_lookup(m, pw->pw_name, &v), MAP_FOUND);
    assert_true(strncmp(str_c(&v), pw->pw_name, strlen(pw->pw_name)) == 0);
    assert_non_null(strstr(str_c(&v), ":x:0:"));
    /* keys are folded to lower case, as for every table but regexp */
    if (strcmp(pw->pw_name, "root") == 0)
        assert_int_equal(map_lookup(m, "ROOT", &v), MAP_FOUND);
    assert_int_equal(map_lookup(m, "no-such-user-petrel-xyz", &v), MAP_NOTFOUND);
    assert_int_equal(map_lookup(m, "", &v), MAP_NOTFOUND);
    map_close(m);
    assert_null(map_open("unix:group.byname", &err));
    assert_non_null(strstr(str_c(&err), "passwd.byname"));
    str_free(&err);
    str_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passwd_byname),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
