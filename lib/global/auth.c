/*
 * auth.c - mailbox passwords: hashing, verification, SASL PLAIN
 *
 * Hashing and checking use libcrypt (crypt_gensalt_rn, crypt_r); no
 * cryptography is written here. For an unknown user a dummy hash is
 * checked so that the reply time does not reveal which users exist.
 */
#include <crypt.h>
#include <openssl/crypto.h>
#include <string.h>

#include "auth.h"
#include "log.h"

/* dummy_hash - a real hash (made once) to check for unknown users */
static const char *dummy_hash(void)
{
    static struct str h = STR_INIT;
    struct str err = STR_INIT;

    if (h.len == 0 && auth_hash("no such user: this password never matches", &h, &err) < 0)
        str_cpy(&h, "$6$x$");
    str_free(&err);
    return str_c(&h);
}

int auth_hash(const char *password, struct str *out, struct str *err)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;
    const char *h;

    if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL) {
        str_cat(err, "cannot make a yescrypt salt");
        return -1;
    }
    memset(&cd, 0, sizeof(cd));
    h = crypt_r(password, salt, &cd);
    if (h == NULL || h[0] == '*') {
        str_cat(err, "crypt failed");
        return -1;
    }
    str_cpy(out, h);
    explicit_bzero(&cd, sizeof(cd));
    return 0;
}

int auth_check_hash(const char *hash, const char *password)
{
    struct crypt_data cd;
    const char *h;
    size_t n = strlen(hash);
    int ok;

    if (n == 0 || hash[0] != '$')
        return 0; /* only modern crypt formats; never plain text */
    memset(&cd, 0, sizeof(cd));
    h = crypt_r(password, hash, &cd);
    ok = h != NULL && h[0] != '*' && strlen(h) == n && CRYPTO_memcmp(h, hash, n) == 0;
    explicit_bzero(&cd, sizeof(cd));
    return ok;
}

int auth_verify(struct maps *passwd, const char *user, const char *password)
{
    struct str value = STR_INIT;
    int r = maps_lookup(passwd, user, &value);
    int ok;

    if (r == MAP_ERROR) {
        str_free(&value);
        return AUTH_TEMPFAIL;
    }
    if (r == MAP_NOTFOUND) {
        auth_check_hash(dummy_hash(), password);
        str_free(&value);
        return AUTH_FAIL;
    }
    /* the value may carry more fields after white space: the hash comes first */
    value.len = strcspn(value.s, " \t");
    value.s[value.len] = '\0';
    ok = auth_check_hash(value.s, password);
    str_free(&value);
    return ok ? AUTH_OK : AUTH_FAIL;
}

int auth_plain_decode(const struct str *msg, struct str *authzid, struct str *authcid,
                      struct str *passwd)
{
    const char *s = str_c(msg);
    const char *nul1 = memchr(s, '\0', msg->len);
    const char *nul2;

    if (nul1 == NULL)
        return -1;
    nul2 = memchr(nul1 + 1, '\0', msg->len - (size_t)(nul1 + 1 - s));
    if (nul2 == NULL || memchr(nul2 + 1, '\0', msg->len - (size_t)(nul2 + 1 - s)))
        return -1;
    if (nul2 == nul1 + 1 || (size_t)(nul2 + 1 - s) == msg->len)
        return -1; /* empty authcid or password */
    str_cpyn(authzid, s, (size_t)(nul1 - s));
    str_cpyn(authcid, nul1 + 1, (size_t)(nul2 - nul1 - 1));
    str_cpyn(passwd, nul2 + 1, msg->len - (size_t)(nul2 + 1 - s));
    return 0;
}
