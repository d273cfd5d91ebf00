/*
 * params_qmgr.c - parameters of qmgr
 *
 * Listed in cfg_registry.c; see cfg.h for the table format. Names
 * and defaults follow Postfix qmgr(8), trivial-rewrite(8) and bounce(8)
 * where the meaning is the same. Per-transport overrides
 * <transport>_destination_concurrency_limit and
 * <transport>_destination_recipient_limit are read for any transport name;
 * those of the standard local, virtual and smtp transports are declared here.
 */
#include "cfg.h"

const struct cfg_param qmgr_params[] = {
    {"qmgr_message_active_limit", CFG_INT, "20000", 1, 10000000, 0,
     "The most messages qmgr keeps in the active queue at once."},
    {"qmgr_message_recipient_limit", CFG_INT, "20000", 1, 100000000, 0,
     "The most recipients of active messages qmgr keeps in memory; a message is taken into "
     "the active queue only while the total is below this limit (or nothing else is active)."},
    {"qmgr_ipc_timeout", CFG_TIME, "60s", 1, 3600, 0,
     "How long qmgr waits for a delivery agent to connect and greet before it considers the "
     "transport unavailable."},
    {"queue_run_delay", CFG_TIME, "300s", 1, 86400, 0,
     "The time between scans of the deferred queue for messages due for another attempt."},
    {"minimal_backoff_time", CFG_TIME, "300s", 1, 8640000, 0,
     "The shortest time a deferred message waits before the next attempt."},
    {"maximal_backoff_time", CFG_TIME, "4000s", 1, 8640000, 0,
     "The longest time a deferred message waits before the next attempt (the wait grows "
     "with the age of the message between the two limits)."},
    {"maximal_queue_lifetime", CFG_TIME, "5d", 1, 8640000, 0,
     "How long a message may stay in the queue; after that its undelivered recipients are "
     "returned to the sender as undeliverable."},
    {"bounce_queue_lifetime", CFG_TIME, "5d", 1, 8640000, 0,
     "The queue lifetime of mail with the null sender (delivery status notifications)."},
    {"delay_warning_time", CFG_TIME, "0h", 0, 8640000, 0,
     "After this long in the queue, the sender gets one delay notification for the "
     "recipients still waiting (0 disables the warning)."},
    {"bounce_size_limit", CFG_SIZE, "50000", 0, 1LL << 30, 0,
     "The largest original message returned whole in a non-delivery notification; a larger "
     "one is returned as its headers only."},
    {"postmaster_recipient", CFG_STR, "postmaster", 0, 0, 0,
     "Where mail to postmaster@ any local or virtual domain (any case; RFC 5321 4.5.1) goes "
     "when virtual_alias_maps (and, for a virtual domain, virtual_mailbox_maps) does not "
     "list it. A bare name gets @$myorigin, so the default reaches the local alias "
     "postmaster (aliases: postmaster: root)."},
    {"2bounce_notice_recipient", CFG_STR, "postmaster", 0, 0, 0,
     "Who receives a notification that itself could not be delivered (a double bounce); "
     "after that it is dropped."},
    {"double_bounce_sender", CFG_STR, "double-bounce", 0, 0, 0,
     "The sender local part of double-bounce notices to the postmaster; mail from this "
     "address that cannot be delivered is dropped."},
    {"transport_retry_time", CFG_TIME, "60s", 1, 86400, 0,
     "How long a transport or destination that keeps failing is left alone before qmgr tries "
     "it again."},
    {"initial_destination_concurrency", CFG_INT, "5", 1, 10000, 0,
     "The number of parallel deliveries to a destination qmgr starts with; it grows on "
     "success and shrinks on failure."},
    {"default_destination_concurrency_limit", CFG_INT, "20", 1, 10000, 0,
     "The most parallel deliveries to one destination of a transport."},
    {"default_destination_recipient_limit", CFG_INT, "50", 1, 100000, 0,
     "The most recipients in one delivery request; with 1, concurrency limits apply per "
     "recipient instead of per destination domain."},
    {"default_destination_concurrency_failed_cohort_limit", CFG_INT, "1", 1, 1000, 0,
     "How many consecutive rounds of failed deliveries (as many failures as the current "
     "concurrency) mark a destination dead for $transport_retry_time."},
    {"local_destination_concurrency_limit", CFG_INT, "2", 1, 10000, 0,
     "The most parallel deliveries to one local recipient."},
    {"local_destination_recipient_limit", CFG_INT, "1", 1, 100000, 0,
     "The most recipients in one request to the local transport."},
    {"virtual_destination_concurrency_limit", CFG_INT, "$default_destination_concurrency_limit",
     1, 10000, 0, "The most parallel deliveries to one virtual mailbox."},
    {"virtual_destination_recipient_limit", CFG_INT, "1", 1, 100000, 0,
     "The most recipients in one request to the virtual transport."},
    {"smtp_destination_concurrency_limit", CFG_INT, "$default_destination_concurrency_limit",
     1, 10000, 0, "The most parallel deliveries to one remote destination (next hop)."},
    {"smtp_destination_recipient_limit", CFG_INT, "$default_destination_recipient_limit", 1,
     100000, 0, "The most recipients in one request to the smtp transport (one SMTP "
     "transaction)."},
    {"transport_maps", CFG_LIST, "", 0, 0, 0,
     "Lookup tables that choose a transport and next hop (transport:nexthop) by recipient "
     "address, domain, .parent domain or '*'."},
    {"local_transport", CFG_STR, "local", 0, 0, 0,
     "The transport for recipients in $mydestination (master.cf service name)."},
    {"virtual_transport", CFG_STR, "virtual", 0, 0, 0,
     "The transport for recipients in $virtual_mailbox_domains (in Petrel the local program "
     "serves it in virtual mode)."},
    {"relay_transport", CFG_STR, "smtp", 0, 0, 0,
     "The transport for recipients in $relay_domains (Postfix's default is a separate "
     "\"relay\" service; Petrel uses the smtp client unless told otherwise)."},
    {"default_transport", CFG_STR, "smtp", 0, 0, 0,
     "The transport for every other recipient domain."},
    {"relayhost", CFG_STR, "", 0, 0, 0,
     "The next hop for remote mail (host, [host], host:port); empty: the recipient domain."},
    {"virtual_alias_recursion_limit", CFG_INT, "1000", 1, 100000, 0,
     "The deepest nesting of virtual alias expansion."},
    {"virtual_alias_expansion_limit", CFG_INT, "1000", 1, 1000000, 0,
     "The most addresses one recipient may expand to through virtual_alias_maps."},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};
