/*
 * tls.h - OpenSSL contexts for servers and clients
 *
 * TLS 1.2 and newer only, with a modern cipher list (ECDHE/DHE key
 * exchange, AEAD ciphers) for TLS 1.2 and OpenSSL's defaults for TLS 1.3.
 * The stream layer (stream.h) does the I/O; this module only builds
 * contexts and describes sessions for logs and Received: headers.
 */
#ifndef PETREL_TLS_H
#define PETREL_TLS_H

#include <openssl/ssl.h>

#include "str.h"

#define TLS_DEFAULT_CIPHERS                                                                    \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"   \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

/* tls_init - once per process, before any context */
void tls_init(void);
/* tls_server_ctx - context with our certificate chain and key; NULL with err set */
SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, const char *ciphers,
                        struct str *err);
/* tls_client_ctx - client context; CA file/path may be NULL/"" (then no verification possible) */
SSL_CTX *tls_client_ctx(const char *ca_file, const char *ca_path, const char *ciphers,
                        struct str *err);
/* tls_describe - "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" */
void tls_describe(SSL *ssl, struct str *out);
/* tls_errors - append and clear OpenSSL's error queue */
void tls_errors(struct str *out);

#endif
