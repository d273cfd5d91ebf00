/*
 * typed_params_negative.c - uses of parameters that must not compile
 *
 * scripts/check-typed-params.sh compiles this file once per case
 * (-DCASE_<name>): CASE_RIGHT, the correct uses, must compile; every other
 * case is one mistake that cfg.h's typed parameter ids (cfg_params.h) turn
 * into a compile error: a misspelt name, a parameter of another type given
 * to a getter or to a function that takes a list parameter, a string where
 * an id is wanted, a getter's value used as another type. Never linked.
 */
#include <stddef.h>

#include "cfg.h"
#include "netmatch.h"

long long typed_params_use(const struct cfg *c);

long long typed_params_use(const struct cfg *c)
{
#if defined(CASE_RIGHT)
    struct strlist l = STRLIST_INIT;
    enum cfg_list_param lp = P_mynetworks;
    const char *banner = cfg_str(c, P_smtpd_banner);
    int tls = cfg_bool(c, P_smtpd_tls_auth_only);

    cfg_list(c, lp, &l);
    return cfg_time(c, P_smtpd_timeout) + cfg_int(c, P_smtpd_recipient_limit) +
           cfg_size(c, P_message_size_limit) + (banner != NULL) + tls +
           netmatch_param(P_mynetworks, "127.0.0.1") + (cfg_name(P_smtpd_timeout) != NULL) +
           (cfg_value(c, P_mydestination) != NULL);
#elif defined(CASE_MISSPELT)
    return cfg_time(c, P_smtpd_timeuot);
#elif defined(CASE_WRONG_TYPE)
    return cfg_time(c, P_smtpd_banner); /* a STR parameter */
#elif defined(CASE_WRONG_TYPE_VARIABLE)
    enum cfg_bool_param b = P_smtpd_tls_auth_only;
    return cfg_int(c, b);
#elif defined(CASE_WRONG_TYPE_HELPER)
    return netmatch_param(P_myhostname, "127.0.0.1"); /* wants a LIST parameter */
#elif defined(CASE_STRING)
    return cfg_time(c, "smtpd_timeout");
#elif defined(CASE_RETURN_TYPE)
    const char *t = cfg_time(c, P_smtpd_timeout); /* seconds, not text */
    return t != NULL;
#else
#error "no CASE_ defined"
#endif
}
