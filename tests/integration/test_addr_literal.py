"""An '@' inside an address literal (issue #13 item 5).

The internal form splits an address at its last '@' (lib/global/addr.c addr_domain_at), so a
General-address-literal holding an '@' ("a@[x:@victim.example]") would be routed to
"victim.example]". smtpd refuses such literals (501 5.1.7 / 501 5.1.3) and queues
nothing; a quoted local part holding '@' ("a@b"@example.test) still travels end to end.
"""

import os
import subprocess

import petrel_harness as H

import qmgr_util as Q
import smtpd_util as S


def test_at_inside_address_literal_is_refused_and_nothing_queued(instances):
    inst = Q.mail_instance(instances)
    c = Q.smtp_session(inst)
    try:
        code, text = c.docmd("MAIL FROM:<a@[x:@victim.example]>")
        assert (code, text[:5]) == (501, b"5.1.7"), (code, text)
        code, text = c.docmd("MAIL FROM:<sender@remote.test>")
        assert code == 250, text
        code, text = c.docmd("RCPT TO:<demo@[x-tag:@victim.example]>")
        assert (code, text[:5]) == (501, b"5.1.3"), (code, text)
        code, text = c.docmd("DATA")
        assert code == 554, (code, text)  # no valid recipients
    finally:
        c.quit()
    assert S.queue_files(inst) == []
    assert Q.queue_files(inst) == []
    assert "victim.example" not in inst.log().replace("<a@[x:@victim.example]>", "") \
        .replace("<demo@[x-tag:@victim.example]>", "")


def test_quoted_local_part_with_at_end_to_end(instances):
    inst = Q.mail_instance(instances, vmailbox={"a@b@example.test": "example.test/ab/"})
    qid = Q.submit(inst, "sender@remote.test", ["a@b@example.test"], Q.message("quoted at"))
    line = Q.wait_status(inst, qid, "a@b@example.test", "sent")
    assert "relay=virtual" in line, line
    files = Q.wait_maildir(os.path.join(inst.vmail, "example.test/ab"))
    assert Q.parse(files[0])["Subject"] == "quoted at"
    Q.wait_removed(inst, qid)


def test_queue_file_with_split_literal_bounces_never_routed(instances):
    """A queue file that holds such an address anyway (written by the test injector, as
    an older smtpd or a crafted file would): qmgr bounces the recipient with 5.1.3 instead
    of routing it to the tail "victim.example]"."""
    inst = Q.mail_instance(instances)
    r = subprocess.run([H.build_path(H.TEST_PROGRAMS["qinject"]), "-c", inst.etc, "-f",
                        "sender@remote.test", "-t", "a@[x:@victim.example]", "-t",
                        "demo@example.test"], input=Q.message("split literal"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    qid = r.stdout.split()[0]
    line = Q.wait_status(inst, qid, "a@[x:@victim.example]", "bounced")
    assert "dsn=5.1.3" in line and "bad address syntax" in line, line
    Q.wait_status(inst, qid, "demo@example.test", "sent")
    assert "nexthop=victim" not in inst.log() and "relay=victim" not in inst.log()
