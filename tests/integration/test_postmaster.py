"""End-to-end tests of RFC 5321 4.5.1: postmaster@ every domain we accept mail for (local and
virtual, any case, and the bare <Postmaster>) is accepted at RCPT TO and delivered, by an
alias or to $postmaster_recipient, even when no table lists it; double bounces reach it."""

import os

import qmgr_util as Q


def rcpt_codes(inst, rcpts):
    c = Q.smtp_session(inst)
    try:
        assert c.mail("sender@remote.example")[0] == 250
        return [c.rcpt(r)[0] for r in rcpts]
    finally:
        c.quit()


def test_postmaster_of_virtual_domain_to_configured_place(instances):
    """virtual_mailbox_maps does not list postmaster@example.test: still 250, delivered to
    $postmaster_recipient (a virtual mailbox here); also the bare <Postmaster>."""
    inst = Q.mail_instance(instances, main_cf={"postmaster_recipient": "other@example.test"})
    assert rcpt_codes(inst, ["<POSTMASTER@example.test>", "<Postmaster>",
                             "<postmaster@EXAMPLE.TEST>", "<nobody@example.test>"]) == \
        [250, 250, 250, 550]
    c = Q.smtp_session(inst)
    Q.send_one(c, "sender@remote.example", ["POSTMASTER@example.test"], Q.message("pm virt"))
    Q.send_one(c, "sender@remote.example", ["Postmaster"], Q.message("pm bare"))
    c.quit()
    box = os.path.join(inst.vmail, "example.test/other")
    files = Q.wait_maildir(box, 2)
    subjects = sorted(Q.parse(f)["Subject"] for f in files)
    assert subjects == ["pm bare", "pm virt"]


def test_postmaster_by_local_alias(instances):
    """By default postmaster@ a virtual domain goes to the local alias postmaster."""
    inst = Q.mail_instance(instances, aliases={"postmaster": "demo@example.test"})
    qid = Q.submit(inst, "sender@remote.example", ["PostMaster@example.test"],
                   Q.message("to the alias"))
    Q.wait_removed(inst, qid)
    (f,) = Q.wait_maildir(os.path.join(inst.vmail, "example.test/demo"))
    assert Q.parse(f)["Subject"] == "to the alias"


def test_listed_postmaster_mailbox_wins(instances):
    """A virtual mailbox postmaster@example.test is delivered to as listed."""
    inst = Q.mail_instance(instances, main_cf={"postmaster_recipient": "other@example.test"},
                           vmailbox={"demo@example.test": "example.test/demo/",
                                     "other@example.test": "example.test/other/",
                                     "postmaster@example.test": "example.test/pm/"})
    qid = Q.submit(inst, "sender@remote.example", ["Postmaster@example.test"], Q.message("own"))
    Q.wait_removed(inst, qid)
    (f,) = Q.wait_maildir(os.path.join(inst.vmail, "example.test/pm"))
    assert Q.parse(f)["Subject"] == "own"
    assert Q.maildir_files(os.path.join(inst.vmail, "example.test/other")) == []


def test_double_bounce_reaches_postmaster_recipient(instances):
    """2bounce_notice_recipient = postmaster (the default) ends at $postmaster_recipient."""
    inst = Q.mail_instance(instances, main_cf=dict(Q.ACCEPT_UNLISTED, **{
        "postmaster_recipient": "other@example.test"}))
    qid = Q.submit(inst, "", ["nobody@example.test"], Q.message("a bounce"))
    Q.wait_status(inst, qid, "nobody@example.test", "bounced")
    inst.wait_log(r"%s: postmaster non-delivery notification: " % qid)
    note = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/other"))[0]
    assert note["Subject"] == "Postmaster Copy: Undelivered Mail"
