"""End-to-end tests of smtpd's policy: no open relay (the classic relay tricks from an
"Internet" client), recipient validation at RCPT time (no backscatter), the restriction lists
and access tables, and the Postfix-shaped reject log lines."""

import os
import re

import pytest

import petrel_harness as H
import smtpd_util as U
from smtpd_util import Raw

OURS = U.LOCAL_DOMAIN


@pytest.fixture(scope="module")
def srv(request):
    inst, ports = U.shared_instance(request, main_cf={"smtpd_hard_error_limit": "1000"})
    return inst, ports["smtp"]


def rcpt_replies(port, rcpts, internet=True, sender="<a@example.org>", helo="client.example.org"):
    r = Raw(port, internet=internet)
    assert r.cmd("EHLO " + helo)[0] == 250
    assert r.cmd("MAIL FROM:" + sender)[0] == 250
    out = [r.cmd("RCPT TO:" + x)[:2] for x in rcpts]
    r.cmd("QUIT")
    return out


RELAY_TRICKS = [
    # (RCPT argument, expected code): refused, or treated as our own (unknown) local part
    ("<user@example.com>", 554),
    ("<USER@EXAMPLE.COM>", 554),
    ("<user%example.com@" + OURS + ">", 550),
    ("<USER%EXAMPLE.COM@" + OURS.upper() + ">", 550),
    ("<\"user@example.com\"@" + OURS + ">", 550),
    ("<\"USER@EXAMPLE.COM\"@" + OURS + ">", 550),
    ("<@" + OURS + ":user@example.com>", 554),
    ("<@" + OURS + ",@localhost:user@example.com>", 554),
    ("<user@example.com@" + OURS + ">", 501),
    ("<example.com!user@" + OURS + ">", 550),
    ("<EXAMPLE.COM!USER@" + OURS + ">", 550),
    ("<user@[192.0.2.1]>", 554),
    ("<user@[IPv6:2001:db8::1]>", 554),
    ("<user@example.com.>", 554),
    ("<user%example.com@" + OURS + ".>", 550),
    ("<\"user@example.com\">", 550),
    ("<user%example.com>", 550),
    ("<user@example.com%" + OURS + ">", 501),
    ("<user@localhost@example.com>", 501),
    ("user@example.com", 554),
    ("<user@" + OURS + ".example.com>", 554),
]


def test_relay_battery_from_the_internet(srv):
    inst, port = srv
    got = rcpt_replies(port, [x for x, _ in RELAY_TRICKS])
    for (arg, want), (code, text) in zip(RELAY_TRICKS, got):
        assert code == want, (arg, code, text)
        if code == 554:
            assert text.endswith(": Relay access denied") and text.startswith("5.7.1 <"), text
        if code == 550:
            assert text.startswith("5.1.1 <") and "User unknown in local recipient table" in text
    log = inst.log()
    assert re.search(r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 "
                     r"<user@example\.com>: Relay access denied; from=<a@example\.org> "
                     r"to=<user@example\.com> proto=ESMTP helo=<client\.example\.org>", log)
    assert U.committed_files(inst) == [] or all(
        q.attrs.get("client_address") != "127.0.0.2" for q in U.committed_files(inst))


def test_relay_allowed_for_mynetworks_and_authenticated(srv):
    inst, port = srv
    got = rcpt_replies(port, ["<user@example.com>", "<user@[192.0.2.1]>"], internet=False)
    assert [c for c, _ in got] == [250, 250]


def test_recipient_validation(srv):
    inst, port = srv
    cases = [
        ("<petreltest@%s>" % OURS, 250, None),          # a Unix account
        ("<PetrelTest@%s>" % OURS.upper(), 250, None),  # case-insensitive
        ("<petreltest+list@%s>" % OURS, 250, None),     # recipient_delimiter extension
        ("<abuse@%s>" % OURS, 250, None),               # an alias
        ("<abuse@localhost>", 250, None),               # localhost is ours
        ("<postmaster@%s>" % OURS, 250, None),
        ("<PostMaster@%s>" % OURS, 250, None),
        ("<Postmaster>", 250, None),                    # RFC 5321 4.5.1
        ("<valias@%s>" % OURS, 250, None),              # virtual_alias_maps for a local domain
        ("<nosuchuser@%s>" % OURS, 550, "User unknown in local recipient table"),
        ("<nosuchuser+x@%s>" % OURS, 550, "User unknown in local recipient table"),
        ("<nosuchuser>", 550, "User unknown in local recipient table"),
        ("<user@virt.test>", 250, None),
        ("<USER@VIRT.TEST>", 250, None),
        ("<user+tag@virt.test>", 250, None),
        ("<alias@virt.test>", 250, None),               # virtual alias
        ("<nobody@virt.test>", 550, "User unknown in virtual mailbox table"),
        ("<postmaster@virt.test>", 250, None),          # RFC 5321 4.5.1: every domain of ours
        ("<POSTMASTER@virt.test>", 250, None),
        ("<anyone@relay.test>", 250, None),             # relay_domains, no recipient table
        ("<user@[127.0.0.1]>", 550, "User unknown in local recipient table"),
        ("<petreltest@[127.0.0.1]>", 250, None),
    ]
    got = rcpt_replies(port, [x for x, _, _ in cases])
    for (arg, want, why), (code, text) in zip(cases, got):
        assert code == want, (arg, code, text)
        if why:
            assert text.startswith("5.1.1 <") and text.endswith(
                ": Recipient address rejected: " + why), text


def test_validation_catchall_relay_table_and_tempfail(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={
        "relay_recipient_maps": "hash:$config_directory/relayrcpt",
        "virtual_mailbox_domains": "virt.test, other.test",
        "virtual_mailbox_maps": "hash:$config_directory/vmailbox, hash:$config_directory/vm2",
        "unknown_local_recipient_reject_code": "450",
    }, start=False)
    U.write_map(inst, "relayrcpt", "known@relay.test x\n")
    U.write_map(inst, "vm2", "@other.test other.test/catchall/\n")
    inst.start()
    U.wait_listening([ports["smtp"]])
    got = rcpt_replies(ports["smtp"], ["<known@relay.test>", "<unknown@relay.test>",
                                       "<whoever@other.test>", "<nosuch@%s>" % OURS])
    assert got[0][0] == 250
    assert got[1] == (550, "5.1.1 <unknown@relay.test>: Recipient address rejected: "
                           "User unknown in relay recipient table")
    assert got[2][0] == 250
    assert got[3][0] == 450 and got[3][1].startswith("4.1.1 ")
    # a table that cannot be read is a temporary failure, never "unknown"
    os.unlink(os.path.join(inst.etc, "vm2.db"))
    got = rcpt_replies(ports["smtp"], ["<user@virt.test>", "<whoever@other.test>",
                                       "<nobody@virt.test>"])
    assert got[0][0] == 250
    assert got[1] == (451, "4.3.0 <whoever@other.test>: Temporary lookup failure")
    assert got[2] == (451, "4.3.0 <nobody@virt.test>: Temporary lookup failure")
    assert "lookup failure for <whoever@other.test>" in inst.log()


def test_restrictions_and_access_tables(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={
        "smtpd_client_restrictions": "check_client_access hash:$config_directory/clients",
        "smtpd_helo_restrictions": "reject_invalid_helo_hostname, "
                                   "check_helo_access hash:$config_directory/helos, "
                                   "reject_non_fqdn_helo_hostname",
        "smtpd_sender_restrictions": "reject_non_fqdn_sender, "
                                     "check_sender_access hash:$config_directory/senders",
        "smtpd_recipient_restrictions": "reject_non_fqdn_recipient, "
                                        "check_recipient_access hash:$config_directory/rcpts, "
                                        "reject_unknown_recipient_domain, permit",
        "smtpd_hard_error_limit": "1000",
    }, start=False)
    U.write_map(inst, "clients", "127.0.0.2 DUNNO\n")
    U.write_map(inst, "helos", "bad.example REJECT go away\nbig.example 450 4.7.9 slow down\n")
    U.write_map(inst, "senders", "spammer@example.org REJECT\nexample.net 550 not here\n"
                "postmaster@ DUNNO\nok.example OK\n")
    U.write_map(inst, "rcpts", "blocked@virt.test 554 5.7.2 blocked by policy\n"
                "example.com OK\n")
    inst.start()
    port = ports["smtp"]
    U.wait_listening([port])

    got = rcpt_replies(port, ["<user@virt.test>"], helo="bad.example")
    assert got == [(554, "5.7.1 <bad.example>: Helo command rejected: go away")]
    got = rcpt_replies(port, ["<user@virt.test>"], helo="sub.big.example")
    assert got == [(450, "4.7.9 <sub.big.example>: Helo command rejected: slow down")]
    got = rcpt_replies(port, ["<user@virt.test>"], helo="nodots")
    assert got == [(504, "5.5.2 <nodots>: Helo command rejected: need fully-qualified hostname")]
    got = rcpt_replies(port, ["<user@virt.test>"], helo="bad_name!")
    assert got == [(501, "5.5.2 <bad_name!>: Helo command rejected: Invalid name")]
    got = rcpt_replies(port, ["<user@virt.test>"], sender="<spammer@example.org>")
    assert got == [(554, "5.7.1 <spammer@example.org>: Sender address rejected: Access denied")]
    got = rcpt_replies(port, ["<user@virt.test>"], sender="<x@sub.example.net>")
    assert got == [(550, "5.7.1 <x@sub.example.net>: Sender address rejected: not here")]
    got = rcpt_replies(port, ["<user@virt.test>"], sender="<lonely>")
    assert got == [(504, "5.5.2 <lonely>: Sender address rejected: need fully-qualified "
                         "address")]
    got = rcpt_replies(port, ["<blocked@virt.test>", "<postmaster>", "<user@example.com>",
                              "<user@virt.test>"])
    assert got[0] == (554, "5.7.2 <blocked@virt.test>: Recipient address rejected: "
                           "blocked by policy")
    assert got[1] == (504, "5.5.2 <postmaster>: Recipient address rejected: need "
                           "fully-qualified address")
    assert got[2][0] == 554  # relay restrictions come first: OK in rcpts does not open relay
    assert got[3][0] == 250
    # a trusted client may relay, but not to a domain that does not exist (RFC 6761 .invalid)
    got = rcpt_replies(port, ["<x@nonexistent-domain.invalid>", "<user@example.com>"],
                       internet=False)
    assert got[0] == (450, "4.1.2 <x@nonexistent-domain.invalid>: Recipient address rejected: "
                           "Domain not found")
    assert got[1][0] == 250
    assert "NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 554 5.7.1 <bad.example>: Helo command " \
           "rejected: go away; from=<a@example.org> to=<user@virt.test> proto=ESMTP " \
           "helo=<bad.example>" in inst.log()


def test_client_access_and_bad_configuration(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={
        "smtpd_client_restrictions": "check_client_access inline:{127.0.0.2=REJECT, "
                                     "127.0.0.3=OK}",
        "smtpd_hard_error_limit": "1000",
    })
    port = ports["smtp"]
    got = rcpt_replies(port, ["<user@virt.test>"])
    assert got == [(554, "5.7.1 <unknown[127.0.0.2]>: Client host rejected: Access denied")]
    # an unknown restriction is a configuration error: checked and refused before any
    # smtpd runs with it (it used to give 451 4.3.5 at RCPT time)
    inst.main_cf["smtpd_sender_restrictions"] = "no_such_restriction"
    inst.write_config()
    r = inst.run("petrel", "check")
    assert r.returncode == 1
    assert "smtpd_sender_restrictions: unknown restriction 'no_such_restriction'" in r.stderr
    inst.reload()
    inst.wait_log("reload failed")
    got = rcpt_replies(port, ["<user@virt.test>"], internet=False)
    assert got == [(250, "2.1.5 Ok")]


def test_vrfy_enabled(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={"disable_vrfy_command": "no"})
    r = Raw(ports["smtp"], internet=True)
    code, _, lines = r.cmd("EHLO client.example.org")
    assert "250-VRFY" in lines
    assert r.cmd("VRFY <user@virt.test>")[:2] == (252, "2.0.0 <user@virt.test>")
    assert r.cmd("VRFY <nobody@virt.test>")[0] == 550
    r.cmd("QUIT")


def test_reject_unauth_pipelining(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={
        "smtpd_recipient_restrictions": "reject_unauth_pipelining"})
    r = Raw(ports["smtp"], internet=True)
    r.send("HELO client.example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<user@virt.test>\r\n"
           "RCPT TO:<other@virt.test>\r\n")
    assert [r.reply()[0] for _ in range(4)] == [250, 250, 503, 250]
    r.cmd("QUIT")
    assert "Improper use of SMTP command pipelining" in inst.log()
    r = Raw(ports["smtp"], internet=True)  # with EHLO, pipelining is allowed
    r.send("EHLO client.example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<user@virt.test>\r\n"
           "RCPT TO:<other@virt.test>\r\n")
    assert [r.reply()[0] for _ in range(4)] == [250, 250, 250, 250]
    r.cmd("QUIT")
