/*
 * smtpd_restrict.c - the names of smtpd's access restrictions, once
 *
 * The table behind smtpd_restrict.h: name, id and argument of every
 * restriction smtpd implements, and the names of the five list
 * parameters. Read by cfg_validate.c (config check) and
 * smtpd/smtpd_check.c (evaluation); neither keeps a list of its own.
 */
#include <stddef.h>
#include <strings.h>

#include "smtpd_restrict.h"

static const struct smtpd_restrict restrictions[SR_COUNT] = {
    {"permit", SR_PERMIT, 0},
    {"dunno", SR_DUNNO, 0},
    {"reject", SR_REJECT, 0},
    {"defer", SR_DEFER, 0},
    {"permit_mynetworks", SR_PERMIT_MYNETWORKS, 0},
    {"permit_sasl_authenticated", SR_PERMIT_SASL_AUTHENTICATED, 0},
    {"reject_unauth_destination", SR_REJECT_UNAUTH_DESTINATION, 0},
    {"defer_unauth_destination", SR_DEFER_UNAUTH_DESTINATION, 0},
    {"permit_auth_destination", SR_PERMIT_AUTH_DESTINATION, 0},
    {"reject_unknown_recipient_domain", SR_REJECT_UNKNOWN_RECIPIENT_DOMAIN, 0},
    {"reject_unknown_sender_domain", SR_REJECT_UNKNOWN_SENDER_DOMAIN, 0},
    {"reject_non_fqdn_sender", SR_REJECT_NON_FQDN_SENDER, 0},
    {"reject_non_fqdn_recipient", SR_REJECT_NON_FQDN_RECIPIENT, 0},
    {"reject_non_fqdn_helo_hostname", SR_REJECT_NON_FQDN_HELO_HOSTNAME, 0},
    {"reject_invalid_helo_hostname", SR_REJECT_INVALID_HELO_HOSTNAME, 0},
    {"reject_unauth_pipelining", SR_REJECT_UNAUTH_PIPELINING, 0},
    {"reject_sender_login_mismatch", SR_REJECT_SENDER_LOGIN_MISMATCH, 0},
    {"reject_authenticated_sender_login_mismatch", SR_REJECT_AUTHENTICATED_SENDER_LOGIN_MISMATCH,
     0},
    {"reject_unauthenticated_sender_login_mismatch",
     SR_REJECT_UNAUTHENTICATED_SENDER_LOGIN_MISMATCH, 0},
    {"reject_unlisted_recipient", SR_REJECT_UNLISTED_RECIPIENT, 0},
    {"reject_unlisted_sender", SR_REJECT_UNLISTED_SENDER, 0},
    {"check_client_access", SR_CHECK_CLIENT_ACCESS, SR_TAKES_TABLE},
    {"check_helo_access", SR_CHECK_HELO_ACCESS, SR_TAKES_TABLE},
    {"check_sender_access", SR_CHECK_SENDER_ACCESS, SR_TAKES_TABLE},
    {"check_recipient_access", SR_CHECK_RECIPIENT_ACCESS, SR_TAKES_TABLE},
};

const enum cfg_list_param smtpd_restrict_lists[SR_LIST_COUNT] = {
    [SR_LIST_CLIENT] = P_smtpd_client_restrictions,
    [SR_LIST_HELO] = P_smtpd_helo_restrictions,
    [SR_LIST_SENDER] = P_smtpd_sender_restrictions,
    [SR_LIST_RELAY] = P_smtpd_relay_restrictions,
    [SR_LIST_RECIPIENT] = P_smtpd_recipient_restrictions,
};

const struct smtpd_restrict *smtpd_restrict_find(const char *name)
{
    for (size_t i = 0; i < SR_COUNT; i++)
        if (strcasecmp(restrictions[i].name, name) == 0)
            return &restrictions[i];
    return NULL;
}

const char *smtpd_restrict_name(enum smtpd_restrict_id id)
{
    return (unsigned)id < SR_COUNT ? restrictions[id].name : "?";
}
