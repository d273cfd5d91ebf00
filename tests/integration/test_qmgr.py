"""End-to-end tests of qmgr: routing, scheduling, retries, DSNs, expiry, showq."""

import glob
import os
import re
import subprocess
import time

import pytest

import petrel_harness as H
from petrel_harness import wait_for
import qmgr_util as Q


def test_virtual_delivery_basic(instances):
    inst = Q.mail_instance(instances)
    qid = Q.submit(inst, "sender@remote.test", ["demo@example.test"], Q.message("basic"))
    line = Q.wait_status(inst, qid, "demo@example.test", "sent")
    assert re.search(r"relay=virtual, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, "
                     r"dsn=2\.0\.0, status=sent \(delivered to maildir\)", line), line
    Q.wait_removed(inst, qid)
    files = Q.wait_maildir(os.path.join(inst.vmail, "example.test/demo"))
    assert len(files) == 1
    uid, gid, mode = Q.file_owner_mode(files[0])
    assert (uid, gid) == H.vmail_ids() and mode == 0o600
    with open(files[0], "rb") as f:
        data = f.read()
    assert b"\r" not in data
    assert data.startswith(b"Return-Path: <sender@remote.test>\nDelivered-To: demo@example.test\n"
                           b"Received: from client.remote.test (unknown [127.0.0.1])\n\tby mail.petrel.test")
    assert re.search(r",S=%d,W=%d$" % (len(data), len(data) + data.count(b"\n")), files[0])
    assert Q.queue_files(inst) == []
    assert "from=<sender@remote.test>, size=" in inst.log()


def test_address_forms_through_smtpd(instances):
    """Quoted local parts, case, source routes: stored internally, quoted again in headers."""
    inst = Q.mail_instance(instances, main_cf=Q.ACCEPT_UNLISTED, vmailbox={
        "demo@example.test": "example.test/demo/", "odd..name@example.test": "example.test/odd/"})
    sender = '"odd..name"@example.test'
    ids = [Q.submit(inst, sender, [r], Q.message("form%d" % i)) for i, r in enumerate(
        ['"demo"@example.test', "Demo@EXAMPLE.Test", "@hop.test:demo@example.test"])]
    for qid in ids:
        Q.wait_status(inst, qid, "demo@example.test", "sent")
    for path in Q.wait_maildir(os.path.join(inst.vmail, "example.test/demo"), 3):
        msg = Q.parse(path)
        assert msg["Return-Path"] == '<"odd..name"@example.test>'
        assert msg["Delivered-To"] == "demo@example.test"
    qid = Q.submit(inst, sender, ["nobody@example.test"], Q.message("unknown"))
    Q.wait_status(inst, qid, "nobody@example.test", "bounced")
    dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/odd"))[0]
    assert dsn["To"] == '"odd..name"@example.test'
    msgf, rcpts = Q.report_fields(dsn)
    assert msgf["X-Petrel-Sender"] == 'rfc822; "odd..name"@example.test'
    assert rcpts[0]["Final-Recipient"] == "rfc822; nobody@example.test"
    Q.wait_quiet_queue(inst)


def test_smtputf8_kept_for_notifications_and_forwards(instances):
    """SMTPUTF8 mail: its bounce and its forwarded copies are SMTPUTF8 mail too."""
    import smtpd_util as S
    inst = Q.mail_instance(instances, main_cf=Q.ACCEPT_UNLISTED,
                           aliases={"fwd": "far@remote.example"})
    c = Q.smtp_session(inst)
    code, _ = c.mail("s\u00f6nder@remote.test", ["SMTPUTF8", "BODY=8BITMIME"])
    assert code == 250
    assert c.rcpt("nobody@example.test")[0] == 250
    assert c.rcpt("fwd@mail.petrel.test")[0] == 250
    code, text = c.data(Q.smtp_bytes("Subject: gr\u00fc\u00dfe\n\nb\u00f6dy\n"))
    assert code == 250, text
    c.quit()
    qid = re.search(r"queued as ([0-9A-F]+)", text.decode()).group(1)
    line = Q.wait_status(inst, qid, "far@remote.example", "sent")
    fwd = re.search(r"forwarded as ([0-9A-F]+)", line).group(1)
    dsn = inst.wait_log(r"%s: sender non-delivery notification: ([0-9A-F]+)" % qid).group(1)
    for new in (fwd, dsn):  # both wait in deferred/ for the smtp transport
        path = wait_for(lambda: [p for p in Q.queue_files(inst, new) if "/deferred/" in p],
                        what="%s in deferred/" % new)[0]
        attrs = S.QueueFile(path).attrs
        assert attrs.get("smtputf8") == "1" and attrs.get("body") == "8BITMIME", attrs


def test_remote_deferred_without_smtp_transport(instances):
    inst = Q.mail_instance(instances)
    qid = Q.submit(inst, "demo@example.test", ["someone@remote.example"])
    line = Q.wait_status(inst, qid, "someone@remote.example", "deferred")
    assert "relay=none" in line and "dsn=4.3.5" in line
    assert 'mail transport unavailable: no private unix service "smtp" in master.cf' in line
    path = wait_for(lambda: [p for p in Q.queue_files(inst, qid) if "/deferred/" in p],
                    what="the deferred file")[0]
    assert os.path.getmtime(path) > time.time() - 1  # next attempt in the future
    assert "status=bounced" not in inst.log()
    # the defer log holds the reason; a retry happens after the backoff
    assert [p for p in Q.queue_files(inst, qid) if "/defer/" in p]
    wait_for(lambda: len(Q.status_lines(inst, qid)) >= 2, timeout=10, what="a retry")


def test_unknown_virtual_user_bounces_with_dsn(instances):
    inst = Q.mail_instance(instances, main_cf=Q.ACCEPT_UNLISTED)
    msg = Q.message("bounce me", headers=["X-Custom: kept"])
    qid = Q.submit(inst, "demo@example.test", ["nobody@example.test"], msg, envid="ENV-42",
                   orcpt={"nobody@example.test": "rfc822;Nobody@Example.test"})
    line = Q.wait_status(inst, qid, "nobody@example.test", "bounced")
    assert "dsn=5.1.1" in line and 'unknown user: "nobody@example.test"' in line
    inst.wait_log(r"%s: sender non-delivery notification: [0-9A-F]+" % qid)
    Q.wait_removed(inst, qid)
    dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/demo"))[0]
    assert dsn["Return-Path"] == "<>"
    assert dsn["From"].startswith("MAILER-DAEMON@mail.petrel.test")
    assert dsn["Subject"] == "Undelivered Mail Returned to Sender"
    assert dsn["Auto-Submitted"] == "auto-replied"
    msgf, rcpts = Q.report_fields(dsn)
    assert msgf["Reporting-MTA"] == "dns; mail.petrel.test"
    assert msgf["X-Petrel-Queue-ID"] == qid
    assert msgf["Original-Envelope-Id"] == "ENV-42"
    assert "Arrival-Date" in msgf
    assert len(rcpts) == 1
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; nobody@example.test"
    assert r["Original-Recipient"] == "rfc822;Nobody@Example.test"
    assert r["Action"] == "failed" and r["Status"] == "5.1.1"
    assert "unknown user" in r["Diagnostic-Code"]
    parts = dsn.get_payload()
    assert parts[0].get_content_type() == "text/plain"
    assert "your message could not\nbe delivered" in parts[0].get_payload()
    assert parts[2].get_content_type() == "message/rfc822"
    orig = parts[2].get_payload()[0]
    assert orig["Subject"] == "bounce me" and orig["X-Custom"] == "kept"
    assert "hello" in orig.get_payload()
    # the notification itself was delivered with the null sender and left the queue
    Q.wait_quiet_queue(inst)


def test_ret_hdrs_and_notify(instances):
    inst = Q.mail_instance(instances, main_cf=Q.ACCEPT_UNLISTED)
    never = Q.submit(inst, "demo@example.test", ["gone@example.test"],
                     notify={"gone@example.test": "NEVER"})
    Q.wait_status(inst, never, "gone@example.test", "bounced")
    Q.wait_removed(inst, never)
    qid = Q.submit(inst, "demo@example.test", ["gone@example.test", "other@example.test"],
                   Q.message("hdrs", body="secret body\n"), ret="HDRS",
                   notify={"other@example.test": "SUCCESS"})
    Q.wait_removed(inst, qid)
    Q.wait_maildir(os.path.join(inst.vmail, "example.test/demo"), 1)
    Q.wait_quiet_queue(inst)  # every report that was queued has been delivered
    files = Q.maildir_files(os.path.join(inst.vmail, "example.test/demo"))
    assert len(files) == 1  # NOTIFY=NEVER sent nothing; one report for the second message
    dsn = Q.parse(files[0])
    _, rcpts = Q.report_fields(dsn)
    by = {r["Final-Recipient"]: r for r in rcpts}
    assert by["rfc822; gone@example.test"]["Action"] == "failed"
    assert by["rfc822; other@example.test"]["Action"] == "delivered"
    assert by["rfc822; other@example.test"]["Status"] == "2.0.0"
    part = dsn.get_payload()[2]
    assert part.get_content_type() == "text/rfc822-headers"
    assert "Subject: hdrs" in part.get_payload() and "secret body" not in part.get_payload()


def test_success_dsn_only(instances):
    inst = Q.mail_instance(instances)
    qid = Q.submit(inst, "demo@example.test", ["other@example.test"],
                   notify={"other@example.test": "SUCCESS,FAILURE"})
    Q.wait_removed(inst, qid)
    dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/demo"))[0]
    assert dsn["Subject"] == "Successful Mail Delivery Report"
    _, rcpts = Q.report_fields(dsn)
    assert [r["Action"] for r in rcpts] == ["delivered"]
    assert dsn.get_payload()[2].get_content_type() == "text/rfc822-headers"
    inst.wait_log(r"%s: sender delivery status notification: " % qid)


def test_delay_warning_once(instances):
    inst = Q.mail_instance(instances, main_cf={"delay_warning_time": "1s",
                                               "maximal_backoff_time": "1s"})
    qid = Q.submit(inst, "demo@example.test", ["far@remote.example"])
    inst.wait_log(r"%s: sender delay notification: " % qid, timeout=15)
    dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/demo"))[0]
    assert dsn["Subject"] == "Delayed Mail (still being retried)"
    _, rcpts = Q.report_fields(dsn)
    assert rcpts[0]["Action"] == "delayed" and rcpts[0]["Status"] == "4.3.5"
    assert "Will-Retry-Until" in rcpts[0]
    # more attempts, but no second warning
    n = len(Q.status_lines(inst, qid))
    wait_for(lambda: len(Q.status_lines(inst, qid)) >= n + 1, timeout=15, what="more attempts")
    assert inst.log().count("%s: sender delay notification" % qid) == 1


def test_expiry_returns_mail(instances):
    inst = Q.mail_instance(instances, main_cf={"maximal_queue_lifetime": "3s"})
    qid = Q.submit(inst, "demo@example.test", ["far@remote.example"], Q.message("old"))
    line = Q.wait_status(inst, qid, "far@remote.example", "expired, returned to sender",
                         timeout=20)
    assert "mail transport unavailable" in line and "dsn=4.3.5" in line
    Q.wait_removed(inst, qid)
    dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/demo"))[0]
    _, rcpts = Q.report_fields(dsn)
    assert rcpts[0]["Action"] == "failed" and rcpts[0]["Status"] == "4.3.5"
    assert dsn.get_payload()[2].get_payload()[0]["Subject"] == "old"


def test_double_bounce_goes_to_postmaster_once(instances):
    inst = Q.mail_instance(instances, main_cf=dict(Q.ACCEPT_UNLISTED, **{
        "2bounce_notice_recipient": "other@example.test"}))
    qid = Q.submit(inst, "", ["nobody@example.test"], Q.message("a bounce"))
    Q.wait_status(inst, qid, "nobody@example.test", "bounced")
    inst.wait_log(r"%s: postmaster non-delivery notification: " % qid)
    note = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/other"))[0]
    assert note["Subject"] == "Postmaster Copy: Undelivered Mail"
    assert note["Return-Path"] == "<double-bounce@mail.petrel.test>"
    assert note.get_payload()[2].get_content_type() == "text/rfc822-headers"
    Q.wait_quiet_queue(inst)
    # the postmaster cannot be reached either: the notice is dropped, nothing loops
    inst.stop()
    inst.main_cf["2bounce_notice_recipient"] = "void@example.test"
    inst.write_config()
    inst.start()
    qid2 = Q.submit(inst, "", ["nobody@example.test"], Q.message("another"))
    inst.wait_log(r"%s: postmaster non-delivery notification: " % qid2)
    inst.wait_log(r"double bounce to <void@example.test> dropped")
    Q.wait_quiet_queue(inst)
    assert "sender non-delivery notification" not in inst.log()
    assert Q.queue_files(inst) == []


def test_virtual_alias_one_to_many_and_catchall(instances):
    inst = Q.mail_instance(instances, start=False)
    Q.write_table(inst, "valias", {
        "list@example.test": "demo@example.test, other@example.test, far@remote.example",
        "@alias.test": "demo@example.test",
        "loop1@example.test": "loop2@example.test",
        "loop2@example.test": "loop1@example.test",
    })
    inst.main_cf["virtual_alias_maps"] = "hash:%s/valias" % inst.etc
    inst.write_config()
    inst.start()
    qid = Q.submit(inst, "sender@remote.test", ["list@example.test", "anyone@alias.test"])
    Q.wait_status(inst, qid, "demo@example.test", "sent")
    Q.wait_status(inst, qid, "other@example.test", "sent")
    line = Q.wait_status(inst, qid, "far@remote.example", "deferred")
    assert "orig_to=<list@example.test>" in line
    # demo appears once although two originals expand to it; once the message waits in
    # deferred/ for far@, this round of deliveries is over
    wait_for(lambda: glob.glob(os.path.join(inst.queue, "deferred", "*", qid)),
             what="%s in deferred/" % qid)
    assert len(Q.maildir_files(os.path.join(inst.vmail, "example.test/demo"))) == 1
    assert len(Q.status_lines(inst, qid)) == 3
    # a loop ends at the address that repeats, which has no mailbox
    qid2 = Q.submit(inst, "sender@remote.test", ["loop1@example.test"])
    Q.wait_status(inst, qid2, "loop1@example.test", "bounced")


def test_agent_max_use_loses_no_request(instances):
    """An agent that reaches max_use says so with its last result: qmgr sends it nothing
    more, so no request crosses the agent's exit and gets deferred."""
    inst = Q.mail_instance(instances, start=False)
    inst.master_cf = inst.master_cf.replace(" local\n", " local -o max_use=2\n")
    inst.write_config()
    inst.start()
    ids = Q.submit_many(inst, "sender@remote.test", ["demo@example.test"], count=40)
    Q.wait_maildir(os.path.join(inst.vmail, "example.test/demo"), 40, timeout=30)
    Q.wait_quiet_queue(inst)
    assert len(ids) == 40
    assert "status=deferred" not in inst.log()


def test_table_failure_defers(instances):
    inst = Q.mail_instance(instances, main_cf={"virtual_alias_maps": "hash:/nonexistent/va"},
                           start=False)
    # the table works for smtpd at RCPT time and fails when qmgr reads it
    inst.master_cf = inst.master_cf.replace(" smtpd\n", " smtpd\n  -o virtual_alias_maps=\n", 1)
    inst.write_config()
    inst.start()
    qid = Q.submit(inst, "sender@remote.test", ["demo@example.test"])
    line = Q.wait_status(inst, qid, "demo@example.test", "deferred")
    assert "dsn=4.3.0" in line and "virtual_alias_maps lookup failure" in line
    assert "bounced" not in inst.log()


def test_transport_maps_error_and_discard(instances):
    inst = Q.mail_instance(instances, main_cf={
        "transport_maps": "inline:{ blocked.test=error:no mail for you, .sink.test=discard:, "
                          "coded.test=error:5.7.1 go away }"})
    qid = Q.submit(inst, "sender@remote.test", ["a@blocked.test", "b@x.sink.test", "c@coded.test"])
    line = Q.wait_status(inst, qid, "a@blocked.test", "bounced")
    assert "dsn=5.0.0" in line and "(no mail for you)" in line
    line = Q.wait_status(inst, qid, "c@coded.test", "bounced")
    assert "dsn=5.7.1" in line and "(go away)" in line
    Q.wait_status(inst, qid, "b@x.sink.test", "sent")
    Q.wait_removed(inst, qid)


def test_corrupt_file_is_kept_aside(instances):
    inst = Q.mail_instance(instances)
    path = os.path.join(inst.queue, "incoming", "6921A3F2000C80001")
    with open(path, "wb") as f:
        f.write(b"garbage\x00\x00\x00" + b"X\x00\x00\x00\x00")
    os.chmod(path, 0o700)
    uid, gid = H.mail_owner_ids()
    os.chown(path, uid, gid)
    Q.submit(inst, "sender@remote.test", ["demo@example.test"])  # pokes qmgr
    inst.wait_log(r"6921A3F2000C80001: corrupt queue file \(.*\); moved to corrupt/")
    assert os.path.exists(os.path.join(inst.queue, "corrupt", "6921A3F2000C80001"))


# scheduling, with a fake delivery agent -------------------------------------------

def fake_instance(instances, maxproc=10, main_cf=None, nofile=None):
    """An instance whose transport "fake" is tests/integration/fake_agent.py."""
    cfg = {"transport_maps": "inline:{ slow.test=fake:, slow-big.test=fake:, "
                             "slow-small.test=fake:, down.test=fake:, fast.test=fake:, "
                             ".hold.test=fake: }"}
    cfg.update(main_cf or {})
    inst = Q.mail_instance(instances, main_cf=cfg, start=False)
    os.symlink(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_agent.py"),
               os.path.join(inst.libexec, "fakeagent"))
    inst.fake_log = os.path.join(inst.shared, "fake.log")
    inst.master_cf += "fake      unix  -       n       n       -       %s       fakeagent %s\n" % (
        maxproc, inst.fake_log)
    inst.write_config()
    if nofile:  # a low descriptor limit for master and everything it starts
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
        try:
            inst.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    else:
        inst.start()
    return inst


def fake_requests(inst, n, timeout=20):
    import json

    def read():
        try:
            with open(inst.fake_log) as f:
                reqs = [json.loads(l) for l in f if l.strip()]
        except OSError:
            return None
        return reqs if len(reqs) >= n else None
    return wait_for(read, timeout, what="%d fake deliveries" % n)


def max_overlap(reqs):
    events = sorted([(r["start"], 1) for r in reqs] + [(r["end"], -1) for r in reqs],
                    key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def test_destination_concurrency_grows_within_limit(instances):
    inst = fake_instance(instances, main_cf={"initial_destination_concurrency": "2",
                                             "fake_destination_concurrency_limit": "4"})
    for i in range(16):
        Q.submit(inst, "sender@remote.test", ["user%d@slow.test" % i])
    reqs = fake_requests(inst, 16)
    assert all(len(r["rcpts"]) == 1 for r in reqs)
    assert 2 < max_overlap(reqs) <= 4, max_overlap(reqs)
    Q.wait_quiet_queue(inst)


def test_recipients_grouped_per_destination(instances):
    inst = fake_instance(instances, main_cf={"fake_destination_recipient_limit": "2"})
    qid = Q.submit(inst, "sender@remote.test",
                   ["a@fast.test", "b@fast.test", "c@fast.test", "d@slow.test"])
    reqs = fake_requests(inst, 3)
    sizes = sorted((r["nexthop"], len(r["rcpts"])) for r in reqs)
    assert sizes == [("fast.test", 1), ("fast.test", 2), ("slow.test", 1)]
    Q.wait_removed(inst, qid)


def test_round_robin_between_destinations(instances):
    inst = fake_instance(instances, maxproc=1)
    for i in range(8):
        Q.submit(inst, "sender@remote.test", ["u%d@slow-big.test" % i])
    Q.submit(inst, "sender@remote.test", ["u@slow-small.test"])
    reqs = fake_requests(inst, 9, timeout=30)
    order = [r["nexthop"] for r in sorted(reqs, key=lambda r: r["start"])]
    assert max_overlap(reqs) == 1
    # the small destination is served next after what was running, not after all big mail
    assert order.index("slow-small.test") <= 3, order


def test_dead_destination_defers_waiting_mail(instances):
    inst = fake_instance(instances, main_cf={"initial_destination_concurrency": "1",
                                             "transport_retry_time": "30s"})
    ids = [Q.submit(inst, "sender@remote.test", ["u%d@down.test" % i]) for i in range(5)]
    inst.wait_log(r"fake destination down.test: marked dead for 30s: connect to down.test: "
                  r"Connection refused")
    def suspended():
        return sum("delivery temporarily suspended: connect to down.test" in l
                   for l in Q.status_lines(inst))
    wait_for(lambda: suspended() >= 3, what="suspended deferrals")
    Q.wait_status(inst, ids[-1], "u4@down.test", "deferred")
    # a flush within the dead time retries every message; none reaches the agent
    before = suspended()
    inst.run("petrel-queue", "-f", check=True)
    wait_for(lambda: suspended() >= before + 4, what="suspended deferrals after the flush")
    reqs = fake_requests(inst, 1)
    assert len(reqs) <= 2, reqs
    assert "status=bounced" not in inst.log()


def showq(inst, **req):
    """One request on public/showq; the answer as a list of attribute lists."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(os.path.join(inst.queue, "public", "showq"))
    s.sendall("".join("%s=%s\n" % kv for kv in req.items()).encode() + b"\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    out = []
    for block in data.decode().split("\n\n"):
        if block:
            out.append([tuple(l.split("=", 1)) for l in block.split("\n")])
    return out


def test_showq_listing_flush_and_deliver(instances):
    inst = Q.mail_instance(instances, main_cf={"minimal_backoff_time": "300s",
                                               "maximal_backoff_time": "600s",
                                               "queue_run_delay": "300s"})
    qid = Q.submit(inst, "demo@example.test", ["far@remote.example", "demo@example.test"],
                   Q.message("queued"))
    Q.wait_status(inst, qid, "far@remote.example", "deferred")
    wait_for(lambda: [p for p in Q.queue_files(inst, qid) if "/deferred/" in p],
             what="the deferred file")
    ans = showq(inst, request="list")
    assert ans[-1] == [("end", "1")]
    entries = [dict(a) for a in ans[:-1]]
    assert len(entries) == 1
    e = ans[0]
    d = dict(e)
    assert d["queue_id"] == qid and d["queue"] == "deferred" and d["sender"] == "demo@example.test"
    assert int(d["next_attempt"]) > time.time() + 200
    assert int(d["size"]) > 100 and abs(int(d["arrival"]) - time.time()) < 30
    # only the recipient not yet delivered, with its last reason
    assert [v for k, v in e if k == "rcpt"] == ["far@remote.example"]
    reasons = [v for k, v in e if k == "reason"]
    assert "mail transport unavailable" in reasons[0]
    assert showq(inst, request="list", queue_id=qid)[0] == e
    # deliver one: due now, qmgr tries at once (despite the long backoff)
    n = len(Q.status_lines(inst, qid))
    assert showq(inst, request="deliver", queue_id=qid) == [[("status", "ok")]]
    wait_for(lambda: len(Q.status_lines(inst, qid)) > n, what="another attempt")
    assert showq(inst, request="deliver", queue_id="6921A3F2000C80001") == [
        [("status", "notfound"), ("reason", "No such file or directory")]]
    # flush: everything deferred is tried now
    wait_for(lambda: [p for p in Q.queue_files(inst, qid) if "/deferred/" in p],
             what="the deferred file")
    n = len(Q.status_lines(inst, qid))
    assert showq(inst, request="flush") == [[("status", "ok")]]
    wait_for(lambda: len(Q.status_lines(inst, qid)) > n, what="a flushed attempt")
    assert showq(inst, request="bogus")[0][0] == ("status", "error")
    # "petrel flush" sends the same request as a trigger
    wait_for(lambda: [p for p in Q.queue_files(inst, qid) if "/deferred/" in p],
             what="the deferred file")
    n = len(Q.status_lines(inst, qid))
    r = inst.run("petrel", "flush")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: len(Q.status_lines(inst, qid)) > n, what="an attempt after petrel flush")


def test_backoff_grows_between_attempts(instances):
    inst = Q.mail_instance(instances, main_cf={"minimal_backoff_time": "1s",
                                               "maximal_backoff_time": "3s"})
    qid = Q.submit(inst, "demo@example.test", ["far@remote.example"])
    wait_for(lambda: len(Q.status_lines(inst, qid)) >= 4, timeout=30, what="4 attempts")
    times = []
    for l in Q.status_lines(inst, qid)[:4]:
        h, m, s = l.split()[2].split(":")
        times.append(int(h) * 3600 + int(m) * 60 + float(s))
    gaps = [b - a for a, b in zip(times, times[1:])]
    # the wait is the age of the message between the limits, rounded up to whole
    # seconds: about 2, 3, 4 seconds here
    assert all(g >= 0.95 for g in gaps), gaps
    assert gaps[2] > gaps[0] + 0.9, gaps


def test_many_active_messages_need_few_descriptors(instances):
    inst = fake_instance(instances, maxproc=2, main_cf={"fake_destination_recipient_limit": "1"},
                         nofile=128)
    with open("/proc/%d/limits" % inst.children("qmgr")[0]["pid"]) as f:
        assert [l for l in f if l.startswith("Max open files")][0].split()[3] == "128"
    ids = Q.submit_many(inst, "sender@remote.test", ["u@a.hold.test", "u@b.hold.test"],
                        count=300)
    # all 300 are active at once while the transport holds them
    wait_for(lambda: len([n for n in os.listdir(os.path.join(inst.queue, "active"))
                          if not n.startswith(".")]) == 300, timeout=30,
             what="300 active messages")
    assert "Too many open files" not in inst.log()
    assert len(os.listdir("/proc/%d/fd" % inst.children("qmgr")[0]["pid"])) < 40
    with open(inst.fake_log + ".release", "w"):
        pass
    Q.wait_quiet_queue(inst, timeout=60)
    assert len(fake_requests(inst, 600)) == 600
    assert len(ids) == 300 and "Too many open files" not in inst.log()


def test_reload_waits_for_deliveries_in_progress(instances):
    inst = fake_instance(instances)
    qid = Q.submit(inst, "sender@remote.test", ["u@a.hold.test"])
    wait_for(lambda: os.path.exists(inst.fake_log + ".started"), what="the request at the agent")
    old = inst.children("qmgr")[0]["pid"]
    inst.reload()
    inst.wait_log(r"reload -- version")
    with open(inst.fake_log + ".release", "w"):
        pass
    Q.wait_removed(inst, qid)
    wait_for(lambda: inst.children("qmgr") and inst.children("qmgr")[0]["pid"] != old,
             what="a new qmgr")
    Q.wait_quiet_queue(inst)
    assert len(fake_requests(inst, 1)) == 1  # delivered once, not again after the reload
