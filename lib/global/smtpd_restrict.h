/*
 * smtpd_restrict.h - the names of smtpd's access restrictions, once
 *
 * The one list of the restrictions that may stand in smtpd_client_restrictions,
 * smtpd_helo_restrictions, smtpd_sender_restrictions, smtpd_relay_restrictions and
 * smtpd_recipient_restrictions (Postfix's names), each with its id and whether it
 * takes a table argument (check_*_access type:table). cfg_validate() checks main.cf
 * and master.cf against it; smtpd binds one handler to each id (smtpd/smtpd_check.c)
 * and will not start with an id left unbound. A new restriction is one line here and
 * one handler there.
 */
#ifndef PETREL_SMTPD_RESTRICT_H
#define PETREL_SMTPD_RESTRICT_H

#include "cfg.h"

/* the restrictions, one id each (indexes of smtpd's handler table) */
enum smtpd_restrict_id {
    SR_PERMIT,
    SR_DUNNO,
    SR_REJECT,
    SR_DEFER,
    SR_PERMIT_MYNETWORKS,
    SR_PERMIT_SASL_AUTHENTICATED,
    SR_REJECT_UNAUTH_DESTINATION,
    SR_DEFER_UNAUTH_DESTINATION,
    SR_PERMIT_AUTH_DESTINATION,
    SR_REJECT_UNKNOWN_RECIPIENT_DOMAIN,
    SR_REJECT_UNKNOWN_SENDER_DOMAIN,
    SR_REJECT_NON_FQDN_SENDER,
    SR_REJECT_NON_FQDN_RECIPIENT,
    SR_REJECT_NON_FQDN_HELO_HOSTNAME,
    SR_REJECT_INVALID_HELO_HOSTNAME,
    SR_REJECT_UNAUTH_PIPELINING,
    SR_REJECT_SENDER_LOGIN_MISMATCH,
    SR_REJECT_AUTHENTICATED_SENDER_LOGIN_MISMATCH,
    SR_REJECT_UNAUTHENTICATED_SENDER_LOGIN_MISMATCH,
    SR_REJECT_UNLISTED_RECIPIENT,
    SR_REJECT_UNLISTED_SENDER,
    SR_CHECK_CLIENT_ACCESS,
    SR_CHECK_HELO_ACCESS,
    SR_CHECK_SENDER_ACCESS,
    SR_CHECK_RECIPIENT_ACCESS,
    SR_COUNT
};

#define SR_TAKES_TABLE 1 /* the next list item is its type:table argument */

struct smtpd_restrict {
    const char *name; /* as in main.cf (matched in any case) */
    enum smtpd_restrict_id id;
    int flags; /* SR_TAKES_TABLE */
};

/* smtpd_restrict_find - the restriction of that name (any case), NULL when smtpd has none */
const struct smtpd_restrict *smtpd_restrict_find(const char *name);
/* smtpd_restrict_name - the name of an id (for messages) */
const char *smtpd_restrict_name(enum smtpd_restrict_id id);

/* the restriction-list parameters, in smtpd's evaluation order (Postfix smtpd_delay_reject) */
enum {
    SR_LIST_CLIENT,
    SR_LIST_HELO,
    SR_LIST_SENDER,
    SR_LIST_RELAY,
    SR_LIST_RECIPIENT,
    SR_LIST_COUNT
};
extern const enum cfg_list_param smtpd_restrict_lists[SR_LIST_COUNT];

#endif
