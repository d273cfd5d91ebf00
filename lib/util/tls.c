/*
 * tls.c - OpenSSL contexts for servers and clients
 *
 * Contexts are built once per process (before privilege drop, so the key
 * file may be readable by root only). Compression and renegotiation are
 * off; the minimum protocol is TLS 1.2.
 */
#include <openssl/err.h>
#include <string.h>

#include "log.h"
#include "tls.h"

void tls_init(void)
{
    static int done;

    if (done)
        return;
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
    done = 1;
}

void tls_errors(struct str *out)
{
    unsigned long e;
    char buf[256];
    int first = 1;

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        str_printf(out, "%s%s", first ? "" : "; ", buf);
        first = 0;
    }
}

/* common_setup - protocol floor, options and cipher list */
static int common_setup(SSL_CTX *ctx, const char *ciphers, struct str *err)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_cipher_list(ctx, ciphers && *ciphers ? ciphers : TLS_DEFAULT_CIPHERS) != 1) {
        str_cat(err, "bad cipher list: ");
        tls_errors(err);
        return -1;
    }
    return 0;
}

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, const char *ciphers,
                        struct str *err)
{
    SSL_CTX *ctx;

    tls_init();
    if (cert_file == NULL || *cert_file == '\0') {
        str_cat(err, "no certificate file configured");
        return NULL;
    }
    if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
        tls_errors(err);
        return NULL;
    }
    if (common_setup(ctx, ciphers, err) < 0)
        goto bad;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        str_printf(err, "cannot load certificate %s: ", cert_file);
        tls_errors(err);
        goto bad;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file && *key_file ? key_file : cert_file,
                                    SSL_FILETYPE_PEM) != 1) {
        str_printf(err,
                   "cannot load private key %s: ", key_file && *key_file ? key_file : cert_file);
        tls_errors(err);
        goto bad;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        str_cat(err, "private key does not match the certificate");
        goto bad;
    }
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
bad:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_client_ctx(const char *ca_file, const char *ca_path, const char *ciphers,
                        struct str *err)
{
    SSL_CTX *ctx;

    tls_init();
    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        tls_errors(err);
        return NULL;
    }
    if (common_setup(ctx, ciphers, err) < 0)
        goto bad;
    if ((ca_file && *ca_file) || (ca_path && *ca_path)) {
        if (SSL_CTX_load_verify_locations(ctx, ca_file && *ca_file ? ca_file : NULL,
                                          ca_path && *ca_path ? ca_path : NULL) != 1) {
            str_cat(err, "cannot load CA certificates: ");
            tls_errors(err);
            goto bad;
        }
    }
    return ctx;
bad:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_describe(SSL *ssl, struct str *out)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    int alg = 0;
    int bits = c ? SSL_CIPHER_get_bits(c, &alg) : 0;

    str_printf(out, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl),
               c ? SSL_CIPHER_get_name(c) : "none", bits, alg);
}
