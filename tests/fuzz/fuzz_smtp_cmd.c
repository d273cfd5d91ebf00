/*
 * fuzz_smtp_cmd - libFuzzer target: the grammar behind smtpd's commands
 *
 * The input is one command line as a client sends it. Like smtpd, the
 * target splits the verb from its argument, parses MAIL FROM / RCPT TO
 * paths (with and without "<>" allowed, SMTPUTF8 on and off), the ESMTP
 * parameters after the path, decodes xtext values (ENVID, ORCPT), runs every
 * parameter value through each value parser (NOTIFY, RET, BODY, SIZE, ENVID,
 * ORCPT) and checks the domain and address-literal validators. Invariants:
 * an accepted path splits (addr_split) into the domain the parser saw, xtext
 * round-trips, a parameter list never exceeds SMTP_PARAMS_MAX, and a value
 * that parses formats back into one that parses to the same thing (what the
 * smtp client sends on, and what sendmail and pickup check in decoded form)
 * (lib/global/smtp_parse.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "smtp_text.h"
#include "str.h"
#include "smtp_parse.h"

#include "fuzz_util.h"

/* values - every value parser on v; a parsed value survives its formatter */
static void values(const char *v)
{
    struct str dec = STR_INIT, enc = STR_INIT, back = STR_INIT;
    unsigned long long n;
    int bits = smtp_parse_notify(v);

    if (bits >= 0) {
        smtp_format_notify(bits, &enc);
        if (smtp_parse_notify(str_c(&enc)) != bits)
            abort();
    }
    smtp_parse_ret(v);
    smtp_parse_body(v);
    smtp_parse_size(v, &n);
    if (smtp_parse_envid(v, &dec) == 0 && !smtp_envid_valid(str_c(&dec)))
        abort();
    if (smtp_parse_orcpt(v, &dec) == 0) {
        if (!smtp_orcpt_valid(str_c(&dec)))
            abort();
        str_reset(&enc);
        smtp_format_orcpt(str_c(&dec), &enc);
        if (smtp_parse_orcpt(str_c(&enc), &back) != 0 || strcmp(str_c(&back), str_c(&dec)) != 0)
            abort();
    }
    str_free(&dec);
    str_free(&enc);
    str_free(&back);
}

/* path_and_params - what smtpd does with the argument of MAIL FROM: or RCPT TO: */
static void path_and_params(const char *arg, int flags)
{
    const char *p = arg, *why = NULL;
    struct smtp_path path;
    smtp_path_init(&path);
    if (smtp_parse_path(&p, flags, &path, &why) == 0) {
        if (path.raw.len > 4096)
            abort();
        /* every program splits the internal form as the parser did (one canonical form) */
        if (path.domain.len > 0) {
            struct str local = STR_INIT, domain = STR_INIT;
            addr_split(str_c(&path.addr), &local, &domain);
            if (strcasecmp(str_c(&domain), str_c(&path.domain)) != 0)
                abort();
            str_free(&local);
            str_free(&domain);
        }
        struct smtp_params params;
        memset(&params, 0, sizeof(params));
        if (smtp_parse_params(p, &params, &why) == 0) {
            if (params.n > SMTP_PARAMS_MAX)
                abort();
            for (size_t i = 0; i < params.n; i++) {
                if (params.v[i].value == NULL)
                    continue;
                values(params.v[i].value);
                struct str dec = STR_INIT, enc = STR_INIT, back = STR_INIT;
                if (smtp_xtext_decode(params.v[i].value, &dec) == 0) {
                    smtp_xtext_encode(str_c(&dec), dec.len, &enc);
                    if (smtp_xtext_decode(str_c(&enc), &back) != 0 || back.len != dec.len ||
                        memcmp(str_c(&back), str_c(&dec), dec.len) != 0)
                        abort();
                }
                str_free(&dec);
                str_free(&enc);
                str_free(&back);
            }
        }
        smtp_params_free(&params);
    }
    smtp_path_free(&path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *line = fuzz_cstr(data, size);
    size_t n = strlen(line);
    if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
        path_and_params(line + 10, SMTP_PATH_NULL_OK);
        path_and_params(line + 10, SMTP_PATH_NULL_OK | SMTP_PATH_UTF8_OK);
    } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
        path_and_params(line + 8, 0);
        path_and_params(line + 8, SMTP_PATH_UTF8_OK);
    } else {
        path_and_params(line, SMTP_PATH_NULL_OK);
        path_and_params(line, SMTP_PATH_UTF8_OK);
    }
    smtp_valid_domain(line, n, 0);
    smtp_valid_domain(line, n, 1);
    smtp_valid_address_literal(line, n);
    smtp_utf8_valid(line, n);
    free(line);
    return 0;
}
