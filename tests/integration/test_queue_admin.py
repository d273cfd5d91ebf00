"""End-to-end tests of queue administration: petrel-queue (-p -j -f -s -i), petrel-super
(-d -h -H -r -s, with and without qmgr), petrel-cat, and their coordination with qmgr."""

import glob
import json
import os
import random
import re
import signal
import subprocess
import time

import pytest

import petrel_harness as H
from petrel_harness import wait_for
import qmgr_util as Q
import smtp_util as R
import smtpd_util as U
import submit_util as S

HOST = S.HOST
MSG = "Subject: queued\n\nbody\n"
# remote mail waits: there is no smtp service, and the relay host would not answer anyway
DEFERRING = {"relayhost": "[127.0.0.1]:9", "minimal_backoff_time": "300s",
             "maximal_backoff_time": "600s", "queue_run_delay": "300s"}


@pytest.fixture(scope="module")
def user():
    if not H.IS_ROOT:
        pytest.skip("needs root to create a user")
    u = Q.Users()
    u.add("ptqueue")
    yield "ptqueue"
    u.cleanup()


def deferred_instance(instances, main_cf=None, **kw):
    cfg = dict(DEFERRING)
    cfg.update(main_cf or {})
    return S.submit_instance(instances, main_cf=cfg, **kw)


def send(inst, *args, input=MSG, **kw):
    r = S.sendmail(inst, "-v", *args, input=input, **kw)
    assert r.returncode == 0, r.stderr
    return S.queued_id(r)


def deferred(inst, *args, **kw):
    qid = send(inst, *args, **kw)
    S.wait_queue(inst, qid, "deferred")
    return qid


def super_(inst, *args, input=None, user=None):
    return S.cmd(inst, "petrel-super", *args, input=input, user=user)


def test_listing_text_and_json(instances, user):
    inst = deferred_instance(instances)
    r = S.cmd(inst, "petrel-queue", "-p")
    assert r.returncode == 0 and r.stdout == "Mail queue is empty\n", r.stdout + r.stderr
    assert S.queue_json(inst) == []
    q1 = deferred(inst, "a@remote.test", "b@remote.test")
    q2 = deferred(inst, "-f", "<>", "c@other.test", input="Subject: x\n\n" + "y" * 3000 + "\n")
    r = S.cmd(inst, "petrel-queue", "-p")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "%-17s %8s %-19s %s" % ("----Queue ID-----", "--Size--",
                                                "---Arrival Time----", "--Sender/Recipient------")
    size1 = os.path.getsize(glob.glob(os.path.join(inst.queue, "deferred/*", q1))[0])
    assert re.search(r"(?m)^%s\s+\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d root@%s$" % (q1, HOST),
                     r.stdout)
    assert re.search(r"(?m)^%s\s+\d+ .* MAILER-DAEMON$" % q2, r.stdout)
    reason = re.findall(r"(?m)^ +\((.*)\)$", r.stdout)
    assert len(reason) == 2 and all("mail transport unavailable" in x for x in reason)
    assert re.search(r"(?m)^ {47}a@remote\.test\n {47}b@remote\.test$", r.stdout)
    assert lines[-1] == "-- %d Kbytes in 2 Requests." % (
        sum(e["message_size"] for e in S.queue_json(inst)) // 1024)
    assert size1 > 0
    # JSON: one object per line, Postfix's field names
    entries = {e["queue_id"]: e for e in S.queue_json(inst)}
    assert set(entries) == {q1, q2}
    e = entries[q1]
    assert list(e) == ["queue_name", "queue_id", "arrival_time", "message_size", "forced_expire",
                       "sender", "recipients"]
    assert e["queue_name"] == "deferred" and e["sender"] == "root@%s" % HOST
    assert e["forced_expire"] is False and isinstance(e["arrival_time"], int)
    assert abs(e["arrival_time"] - time.time()) < 60
    assert [r["address"] for r in e["recipients"]] == ["a@remote.test", "b@remote.test"]
    assert all(set(r) == {"address", "delay_reason"} for r in e["recipients"])
    assert "mail transport unavailable" in e["recipients"][0]["delay_reason"]
    assert entries[q2]["sender"] == "" and entries[q2]["message_size"] > 3000
    # held messages are marked '!'
    assert super_(inst, "-h", q2).returncode == 0
    assert re.search(r"(?m)^%s!\s" % q2, S.cmd(inst, "petrel-queue", "-p").stdout)
    assert {e["queue_id"]: e["queue_name"] for e in S.queue_json(inst)}[q2] == "hold"
    # an ordinary user may list (set-gid petrel-queue), unless authorized_mailq_users says no
    r = S.cmd(inst, "mailq", user=user, config="-C")
    assert r.returncode == 0 and q1 in r.stdout, r.stderr
    assert {e["queue_id"] for e in S.queue_json(inst, user=user)} == {q1, q2}
    inst.main_cf["authorized_mailq_users"] = "root"
    inst.write_config()
    r = S.cmd(inst, "petrel-queue", "-p", user=user)
    assert r.returncode == 1 and "not allowed to view the mail queue" in r.stderr
    assert S.cmd(inst, "petrel-queue", "-p").returncode == 0  # root always may
    # qmgr down: root reads the queue directly, others are told the system is down
    inst.main_cf["authorized_mailq_users"] = "static:anyone"
    inst.write_config()
    inst.stop()
    r = S.cmd(inst, "petrel-queue", "-j")
    assert r.returncode == 0 and "reading the queue directly" in r.stderr
    assert {json.loads(l)["queue_id"] for l in r.stdout.splitlines()} == {q1, q2}
    r = S.cmd(inst, "petrel-queue", "-p", user=user)
    assert r.returncode == 1 and "the mail system is down" in r.stderr


def test_petrel_queue_usage_and_help(instances):
    inst = deferred_instance(instances, start=False)
    for args in ([], ["-p", "-j"], ["-x"], ["-p", "extra"]):
        assert S.cmd(inst, "petrel-queue", *args).returncode == 2
    for prog in ("petrel-queue", "petrel-super", "petrel-cat", "sendmail", "petrel-drop"):
        r = S.cmd(inst, prog, "--help", config=None)
        assert r.returncode == 0 and r.stdout.startswith("usage: "), prog
    assert S.cmd(inst, "petrel-queue", "-i", "nothex").returncode == 1
    assert S.cmd(inst, "petrel-queue", "-s", "bad..site").returncode == 1


def test_hold_release_delete_requeue(instances):
    inst = deferred_instance(instances)
    qid = deferred(inst, "someone@remote.test")
    witness = deferred(inst, "witness@remote.test")
    # hold: qmgr leaves it alone, whatever the flushes
    r = super_(inst, "-h", qid)
    assert r.returncode == 0 and "Placed on hold: 1 message" in r.stderr
    S.wait_queue(inst, qid, "hold")
    n_held, n_witness = len(Q.status_lines(inst, qid)), len(Q.status_lines(inst, witness))
    assert S.cmd(inst, "petrel-queue", "-f").returncode == 0
    # the flush's pass is over once the other deferred message was tried again
    wait_for(lambda: len(Q.status_lines(inst, witness)) > n_witness, what="the flush")
    assert S.queue_ids(inst, "hold") == [qid]
    assert len(Q.status_lines(inst, qid)) == n_held
    assert re.search(r"petrel-super\[\d+\]: %s: placed on hold" % qid, inst.log())
    # release: back to deferred, due now (qmgr tries it at once and defers it again)
    n_deferred = len(Q.status_lines(inst, qid))
    r = super_(inst, "-H", qid)
    assert r.returncode == 0 and "Released from hold: 1 message" in r.stderr
    wait_for(lambda: len(Q.status_lines(inst, qid)) > n_deferred, what="a new attempt")
    S.wait_queue(inst, qid, "deferred")
    # requeue after a configuration change: the recipient is rewritten and routed anew
    inst.main_cf["virtual_alias_maps"] = "inline:{someone@remote.test=demo@example.test}"
    inst.write_config()
    inst.reload_and_wait()
    r = super_(inst, "-r", qid)
    assert r.returncode == 0 and "Requeued: 1 message" in r.stderr
    S.wait_mail(inst)
    Q.wait_removed(inst, qid)
    # delete: the file and its logs are gone
    q2 = deferred(inst, "x@remote.test")
    assert glob.glob(os.path.join(inst.queue, "defer/*", q2))
    r = super_(inst, "-d", q2)
    assert r.returncode == 0 and "Deleted: 1 message" in r.stderr
    assert Q.queue_files(inst, q2) == []
    assert re.search(r"petrel-super\[\d+\]: %s: removed" % q2, inst.log())
    # unknown IDs are warnings, bad ones errors
    r = super_(inst, "-d", q2)
    assert r.returncode == 0 and "%s: no such message" % q2 in r.stderr
    assert super_(inst, "-d", "notanid").returncode == 1
    # a bad argument anywhere changes nothing, not even the operations before it
    q3 = deferred(inst, "y@remote.test")
    r = super_(inst, "-d", q3, "-h", "bad!")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "invalid queue ID" in r.stderr
    r = super_(inst, "-h", q3, "-d", "-", input="%s\nbad!\n" % q3)
    assert r.returncode == 1 and "invalid queue ID on standard input" in r.stderr
    assert S.queue_ids(inst, "deferred/*") == sorted([q3, witness])
    assert S.queue_ids(inst) == sorted([q3, witness])
    assert super_(inst, "-d", qid, "nosuchqueue").returncode == 2


def test_all_stdin_and_queue_names(instances):
    inst = deferred_instance(instances)
    ids = [deferred(inst, "u%d@remote.test" % i) for i in range(4)]
    r = super_(inst, "-h", "ALL")
    assert "Placed on hold: 4 messages" in r.stderr
    assert S.queue_ids(inst, "hold") == sorted(ids)
    r = super_(inst, "-H", ids[0], "-H", ids[1])
    assert "Released from hold: 2 messages" in r.stderr
    for q in ids[:2]:
        S.wait_queue(inst, q, "deferred")
    r = super_(inst, "-d", "ALL", "hold")  # only the held ones
    assert "Deleted: 2 messages" in r.stderr
    assert sorted(S.queue_ids(inst)) == sorted(ids[:2])
    r = super_(inst, "-d", "-", input="%s\n\n%s\n" % (ids[0], ids[1]))
    assert r.returncode == 0 and "Deleted: 2 messages" in r.stderr
    assert S.queue_ids(inst) == []
    r = super_(inst, "-d", "-", input="junk!\n")
    assert r.returncode == 1 and "invalid queue ID" in r.stderr


def test_flush_delivers_once_the_destination_is_back(instances):
    """remote.test is unreachable (transport_maps: smtp, which does not answer), then local."""
    inst = deferred_instance(instances, start=False, main_cf={
        "virtual_mailbox_domains": "example.test, remote.test, far.test",
        "transport_maps": "inline:{remote.test=smtp:[127.0.0.1]:9, far.test=smtp:[127.0.0.1]:9}"})
    Q.write_table(inst, "vmailbox", {"demo@example.test": "example.test/demo/",
                                     "other@example.test": "example.test/other/",
                                     "demo@remote.test": "example.test/demo/",
                                     "demo@far.test": "example.test/other/"})
    inst.start()
    q1 = deferred(inst, "demo@remote.test")
    q2 = deferred(inst, "demo@remote.test")
    q3 = deferred(inst, "demo@far.test")
    inst.main_cf["transport_maps"] = ""
    inst.write_config()
    inst.reload_and_wait()  # the new qmgr has scanned deferred/ at its start
    assert sorted(S.queue_ids(inst)) == sorted([q1, q2, q3])  # nothing is due yet
    r = S.cmd(inst, "petrel-queue", "-i", q1)  # one message
    assert r.returncode == 0, r.stderr
    Q.wait_removed(inst, q1)
    assert sorted(S.queue_ids(inst)) == sorted([q2, q3])
    r = S.cmd(inst, "petrel-queue", "-s", "far.test")  # one site
    assert r.returncode == 0, r.stderr
    Q.wait_removed(inst, q3)
    assert S.queue_ids(inst) == [q2]
    r = S.sendmail(inst, "-q")  # everything (sendmail -q = petrel-queue -f)
    assert r.returncode == 0, r.stderr
    Q.wait_removed(inst, q2)
    assert len(S.wait_mail(inst, 2)) == 2 and len(S.wait_mail(inst, 1, user="other")) == 1
    r = S.cmd(inst, "petrel-queue", "-i", q2)
    assert r.returncode == 1 and "no such message" in r.stderr


def test_flush_after_the_relayhost_comes_back(instances):
    """A real relayhost that is down: mail stays deferred with the connection error, and
    petrel-queue -f delivers it once a server listens there again."""
    ip = "127.0.0.61"
    port = R.shared_port([ip])
    cfg = dict(DEFERRING)
    cfg.update({"relayhost": "[%s]:%d" % (ip, port), "smtp_connect_timeout": "5s",
                "smtp_tls_security_level": "none"})
    inst = S.submit_instance(instances, main_cf=cfg,
                             master_cf=Q.MASTER_CF + S.PICKUP + R.SMTP_MASTER)
    q1 = deferred(inst, "user@virt.test")
    q2 = deferred(inst, "-f", "<>", "user@virt.test")
    entries = {e["queue_id"]: e for e in S.queue_json(inst)}
    assert set(entries) == {q1, q2}
    reason = entries[q1]["recipients"][0]["delay_reason"]
    assert "%s" % ip in reason and "refused" in reason.lower(), reason
    rcv = R.receiver(instances, ip, port)
    # nothing is due before the flush: the next attempt (a deferred file's mtime) is ahead
    for qid in (q1, q2):
        assert os.path.getmtime(glob.glob(os.path.join(inst.queue, "deferred/*", qid))[0]) > \
            time.time() + 30
    assert sorted(S.queue_ids(inst)) == sorted([q1, q2])
    r = S.cmd(inst, "petrel-queue", "-f")
    assert r.returncode == 0, r.stderr
    Q.wait_removed(inst, q1)
    Q.wait_removed(inst, q2)
    arrived = R.arrived(rcv, 2)
    assert len(arrived) == 2 and sorted(q.sender for q in arrived) == ["", "root@%s" % HOST]
    for qid in (q1, q2):
        assert "relay=%s[%s]:%d" % (ip, ip, port) in Q.wait_status(inst, qid, "user@virt.test",
                                                                 "sent")


def test_flush_permissions(instances, user):
    inst = deferred_instance(instances, main_cf={"authorized_flush_users": "nobody"})
    r = S.cmd(inst, "petrel-queue", "-f", user=user)
    assert r.returncode == 1 and "not allowed to flush the mail queue" in r.stderr
    r = S.sendmail(inst, "-q", user=user)
    assert r.returncode == 1
    assert S.cmd(inst, "petrel-queue", "-f").returncode == 0
    r = super_(inst, "-d", "ALL", user=user)
    assert r.returncode == 1 and "run petrel-super as root or as mail_owner" in r.stderr
    # mail_owner may
    r = S.cmd(inst, "petrel-super", "-d", "ALL", user=H.TEST_USER)
    assert r.returncode == 0, r.stderr


# coordination with deliveries in progress (tests/integration/fake_agent.py) --------------

def fake_submit_instance(instances, main_cf=None):
    cfg = {"transport_maps": "inline:{.hold.test=fake:, fast.test=fake:}"}
    cfg.update(main_cf or {})
    inst = S.submit_instance(instances, main_cf=cfg, start=False)
    os.symlink(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_agent.py"),
               os.path.join(inst.libexec, "fakeagent"))
    inst.fake_log = os.path.join(inst.shared, "fake.log")
    inst.master_cf += "fake      unix  -       n       n       -       1       fakeagent %s\n" % (
        inst.fake_log)
    inst.write_config()
    inst.start()
    return inst


def fake_requests(inst):
    try:
        with open(inst.fake_log) as f:
            return [json.loads(l) for l in f if l.strip()]
    except OSError:
        return []


def delivered(inst, rcpt):
    return [r for r in fake_requests(inst) if rcpt in r["rcpts"] and "end" in r]


@pytest.mark.parametrize("op", ["-h", "-d", "-r"])
def test_request_while_a_delivery_is_in_progress(instances, op):
    """One recipient is at the agent (it waits for a release file), the other waits behind
    it (the agent's process limit is 1): the request waits for the first and cancels the
    second; nothing is delivered twice or lost."""
    inst = fake_submit_instance(instances)
    qid = send(inst, "a@hold1.hold.test", "b@fast.test")
    wait_for(lambda: os.path.exists(os.path.join(inst.queue, "active", qid)),
             what="the message to be active")
    wait_for(lambda: any(p["cmdline"][:1] and "fakeagent" in " ".join(p["cmdline"])
                         for p in inst.children()), what="the agent to run")
    # qmgr has handed a@ to the agent, which waits for the release file
    wait_for(lambda: os.path.exists(inst.fake_log + ".started"), what="a@ at the agent")
    r = super_(inst, "-v", op, qid)  # returns once qmgr has taken the request
    assert r.returncode == 0, r.stderr
    assert "by qmgr when its deliveries in progress are over" in r.stderr
    assert os.path.exists(os.path.join(inst.queue, "active", qid))  # still at the agent
    open(inst.fake_log + ".release", "w").close()
    wait_for(lambda: delivered(inst, "a@hold1.hold.test"), what="a's delivery")
    if op == "-h":
        S.wait_queue(inst, qid, "hold")
        assert re.search(r"qmgr\[\d+\]: %s: placed on hold \(petrel-super\)" % qid, inst.log())
        assert [e["recipients"] for e in S.queue_json(inst)] == [[{"address": "b@fast.test"}]]
        assert super_(inst, "-H", qid).returncode == 0
        wait_for(lambda: delivered(inst, "b@fast.test"), what="b after the release")
        Q.wait_removed(inst, qid)
    elif op == "-d":
        wait_for(lambda: not Q.queue_files(inst, qid), what="the message to go")
        # qmgr logs after the unlink: wait for the line, do not race it
        inst.wait_log(r"qmgr\[\d+\]: %s: removed \(petrel-super\)" % qid)
        assert delivered(inst, "b@fast.test") == []
    else:
        wait_for(lambda: delivered(inst, "b@fast.test"), what="b after the requeue")
        assert re.search(r"qmgr\[\d+\]: %s: requeued \(petrel-super\)" % qid, inst.log())
        Q.wait_removed(inst, qid)
    assert len(delivered(inst, "a@hold1.hold.test")) == 1
    assert len(delivered(inst, "b@fast.test")) <= 1


@pytest.mark.parametrize("op", ["-h", "-d", "-r"])
def test_request_for_a_message_whose_last_delivery_is_in_progress(instances, op):
    """The only recipient is at the agent when the request comes: the delivery completes,
    so the message is simply removed as delivered (not held, requeued or logged as removed
    by petrel-super), and it is delivered once."""
    inst = fake_submit_instance(instances)
    qid = send(inst, "a@hold1.hold.test")
    wait_for(lambda: any(p["cmdline"][:1] and "fakeagent" in " ".join(p["cmdline"])
                         for p in inst.children()), what="the agent to run")
    wait_for(lambda: os.path.exists(inst.fake_log + ".started"), what="the delivery")
    r = super_(inst, "-v", op, qid)
    assert r.returncode == 0, r.stderr
    assert "by qmgr when its deliveries in progress are over" in r.stderr
    open(inst.fake_log + ".release", "w").close()
    Q.wait_removed(inst, qid)  # the agent logged the delivery before it answered
    assert len(delivered(inst, "a@hold1.hold.test")) == 1
    assert re.search(r"qmgr\[\d+\]: %s: removed$" % qid, inst.log(), re.M)
    assert "%s: removed (petrel-super)" % qid not in inst.log()
    assert Q.queue_files(inst, qid) == []


def test_active_queue_without_qmgr(instances):
    """With qmgr stopped, petrel-super takes qmgr's lock and changes active/ itself."""
    inst = deferred_instance(instances)
    q1 = deferred(inst, "a@remote.test")
    q2 = deferred(inst, "b@remote.test")
    inst.stop()
    for q in (q1, q2):  # as a crash would leave them
        os.rename(glob.glob(os.path.join(inst.queue, "deferred/*", q))[0],
                  os.path.join(inst.queue, "active", q))
    r = super_(inst, "-h", q1, "-d", q2)
    assert r.returncode == 0, r.stderr
    assert S.queue_ids(inst, "hold") == [q1] and S.queue_ids(inst, "active") == []
    assert os.path.exists(os.path.join(inst.queue, "private", "qmgr.lock"))
    # while petrel-super holds the lock, a starting qmgr waits for it
    import fcntl
    fd = os.open(os.path.join(inst.queue, "private", "qmgr.lock"), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    inst.start()
    inst.wait_log(r"qmgr\[\d+\]: waiting for private/qmgr.lock")
    os.close(fd)
    wait_for(lambda: os.path.exists(os.path.join(inst.queue, "private", "qadmin")),
             what="qmgr to serve requests")


def test_cat(instances):
    inst = deferred_instance(instances)
    qid = deferred(inst, "-N", "success,failure", "-V", "e1", "-F", "Cat Tester", "x@remote.test",
                   input="Subject: cat\n\nline 1\nline 2\n")
    r = S.cmd(inst, "petrel-cat", "-q", qid)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("*** ENVELOPE RECORDS %s/deferred/" % inst.queue)
    for text in ("version: PETREL1", "sender: root@%s" % HOST, "named_attribute: uid=0",
                 "named_attribute: envid=e1", "recipient: x@remote.test",
                 "notify_flags: success,failure", "*** MESSAGE CONTENTS",
                 "Subject: cat\n", "From: Cat Tester <root@%s>" % HOST, "\n\nline 1\nline 2\n",
                 "*** MESSAGE FILE END"):
        assert text in out, text
    assert re.search(r"message_arrival_time: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", out)
    # MAIL_CONFIG instead of -c, for each administration command
    env = {"MAIL_CONFIG": inst.etc}
    r = S.cmd(inst, "petrel-cat", "-q", "-e", qid, config=None, env=env)
    assert r.returncode == 0 and r.stdout.startswith("*** ENVELOPE RECORDS %s/" % inst.queue)
    r = S.cmd(inst, "petrel-queue", "-j", config=None, env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["queue_id"] == qid, r.stderr
    r = S.cmd(inst, "petrel-super", "-h", qid, config=None, env=env)
    assert r.returncode == 0 and S.queue_ids(inst, "hold") == [qid], r.stderr
    n_tries = len(Q.status_lines(inst, qid))
    r = S.cmd(inst, "petrel-super", "-H", qid, config=None, env=env)
    assert r.returncode == 0 and S.queue_ids(inst, "hold") == [], r.stderr
    wait_for(lambda: len(Q.status_lines(inst, qid)) > n_tries, what="a new attempt")
    S.wait_queue(inst, qid, "deferred")
    r = S.cmd(inst, "petrel-cat", "-q", "-b", qid)
    assert r.stdout.splitlines()[1:3] == ["line 1", "line 2"]
    r = S.cmd(inst, "petrel-cat", "-q", "-h", qid)
    assert "Subject: cat" in r.stdout and "line 1" not in r.stdout
    r = S.cmd(inst, "petrel-cat", "-q", "-e", "-o", qid)
    assert re.search(r"(?m)^\d+: recipient: x@remote.test$", r.stdout)
    assert "MESSAGE CONTENTS" not in r.stdout
    # damaged files are shown up to the damage
    path = glob.glob(os.path.join(inst.queue, "deferred/*", qid))[0]
    with open(path, "rb") as f:
        data = f.read()
    bad = os.path.join(inst.root, "damaged")
    with open(bad, "wb") as f:
        f.write(data[:-7])
    r = S.cmd(inst, "petrel-cat", bad, config=None)
    assert r.returncode == 1 and "*** ERROR" in r.stdout and "recipient: x@remote.test" in r.stdout
    r = S.cmd(inst, "petrel-cat", "-q", "00000000000000")
    assert r.returncode == 1 and "no such message" in r.stderr



def test_cat_escapes_control_bytes(instances):
    """A bare CR, ESC or NUL in the content never reaches the terminal raw (issue 13.4): a
    bare CR would let a message overwrite or fake lines of the output."""
    inst = deferred_instance(instances)
    qid = deferred(inst, "x@remote.test",
                   input="Subject: esc\n\nl1\r*** MESSAGE FILE END fake ***\n"
                         "\x1b[31mred\x7f\ttab\nend\r\n")
    r = S.cmd(inst, "petrel-cat", "-q", "-b", qid)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stdout and "\x1b" not in r.stdout and "\x7f" not in r.stdout
    assert "l1\\x0D*** MESSAGE FILE END fake ***\n" in r.stdout
    assert "\\x1B[31mred\\x7F\ttab\nend\n" in r.stdout
    assert r.stdout.count("*** MESSAGE FILE END") == 2  # the fake one is mid-line


def test_repair(instances):
    inst = deferred_instance(instances)
    qid = deferred(inst, "a@remote.test")
    q2 = deferred(inst, "b@remote.test")
    inst.stop()
    qd = inst.queue
    old = time.time() - 7 * 3600
    uid, gid = H.mail_owner_ids()

    def make(path, data=b"x", mode=0o600, mtime=None):
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        os.chown(path, uid, gid)
        if mtime:
            os.utime(path, (mtime, mtime))

    make(os.path.join(qd, "incoming", "00000001000000A"), mtime=old)  # stale, incomplete
    make(os.path.join(qd, "incoming", "00000001000000B"))  # being written: kept
    make(os.path.join(qd, "incoming", ".tmp.1.2"), mtime=old)
    make(os.path.join(qd, "maildrop", ".tmp.3.4"), mtime=old)
    make(os.path.join(qd, "hold", "junk-name"))
    os.symlink("/etc/passwd", os.path.join(qd, "incoming", "00000001000000C"))
    src = glob.glob(os.path.join(qd, "deferred/*", qid))[0]
    wrong = "0" if qid_hash(src) != "0" else "1"
    os.rename(src, os.path.join(qd, "deferred", wrong, qid))  # the wrong hash directory
    src2 = glob.glob(os.path.join(qd, "deferred/*", q2))[0]
    os.rename(src2, os.path.join(qd, "hold", q2))
    os.chmod(os.path.join(qd, "hold", q2), 0o644)  # complete, wrong mode
    os.chown(os.path.join(qd, "hold", q2), 0, 0)
    with open(os.path.join(qd, "hold", q2), "rb") as f:
        data = f.read()
    make(os.path.join(qd, "active", q2), data=data, mode=0o700)  # the same ID twice
    r = super_(inst, "-s", "-v")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(qd, "incoming", "00000001000000A"))
    assert os.path.exists(os.path.join(qd, "incoming", "00000001000000B"))
    assert not os.path.exists(os.path.join(qd, "incoming", ".tmp.1.2"))
    assert not os.path.exists(os.path.join(qd, "maildrop", ".tmp.3.4"))
    assert set(S.corrupt_files(inst)) >= {"junk-name", "00000001000000C"}
    assert glob.glob(os.path.join(qd, "deferred", qid_hash(src), qid))
    assert S.queue_ids(inst, "active") == [q2]  # the first of the two keeps the ID
    held = S.queue_ids(inst, "hold")
    assert len(held) == 1 and held != [q2]
    st = os.stat(os.path.join(qd, "hold", held[0]))
    assert (st.st_mode & 0o777, st.st_uid) == (0o700, uid)
    assert "stale incomplete file" in r.stderr and "used twice" in r.stderr
    # petrel start runs it
    make(os.path.join(qd, "incoming", "00000001000000D"), mtime=old)
    r = S.cmd(inst, "petrel", "start")
    assert r.returncode == 0, r.stderr
    try:
        assert not os.path.exists(os.path.join(qd, "incoming", "00000001000000D"))
        assert re.search(r"petrel-super\[\d+\]: incoming/00000001000000D: removed a stale", inst.log())
    finally:
        assert S.cmd(inst, "petrel", "stop").returncode == 0


def qid_hash(path):
    return os.path.basename(os.path.dirname(path))


def test_storm(instances):
    """Delete, hold and requeue at random while 500 messages are being delivered: every
    message ends delivered once, deleted, or still queued. The fake agent holds its
    deliveries until a release file exists (so that the first rounds meet messages waiting
    and in flight), then the storm goes on while the queue drains; the agent logs every
    delivery before it reports it."""
    inst = fake_submit_instance(instances, main_cf={"fake_destination_concurrency_limit": "10",
                                                    "initial_destination_concurrency": "10"})
    ids = Q.submit_many(inst, "sender@remote.test", ["u@hold1.hold.test"], count=500)
    assert len(ids) == 500
    rnd = random.Random(5)
    rounds = 0
    deadline = time.time() + 30
    while rounds < 14 and time.time() < deadline:
        if rounds == 6:
            open(inst.fake_log + ".release", "w").close()
        pick = rnd.sample(ids, 30)
        args = []
        for i, qid in enumerate(pick):
            args += [["-d", "-h", "-r"][i % 3], qid]
        r = super_(inst, *args)
        assert r.returncode == 0, r.stderr
        rounds += 1
    def settled():
        return not any(glob.glob(os.path.join(inst.queue, q, "[0-9A-F]*"))
                       for q in ("incoming", "active", "deferred/*"))
    wait_for(settled, 60, what="the queue to settle")  # agents log a delivery before they report it
    counts = {}
    for req in fake_requests(inst):
        counts[req["queue_id"]] = counts.get(req["queue_id"], 0) + 1
    log = inst.log()
    deleted = set(re.findall(r"petrel-super\[\d+\]: ([0-9A-F]+): removed", log))
    deleted |= set(re.findall(r"qmgr\[\d+\]: ([0-9A-F]+): removed \(petrel-super\)", log))
    held = set(S.queue_ids(inst, "hold"))
    twice = [q for q in ids if counts.get(q, 0) > 1]
    both = [q for q in ids if counts.get(q, 0) == 1 and q in held]
    lost = [q for q in ids if counts.get(q, 0) == 0 and q not in deleted and q not in held]
    assert not twice and not both and not lost, (twice, both, lost)
    assert set(counts) <= set(ids)
    # the storm did meet messages in every state
    assert deleted and held and len(counts) > 100
    assert re.search(r"qmgr\[\d+\]: [0-9A-F]+: (removed|placed on hold|requeued) "
                     r"\(petrel-super\)", log)


def test_storm_real_delivery_by_message_id(instances):
    """The storm again with real clients and real delivery: 500 messages submitted with
    sendmail, each with its own Message-ID, wait in deferred/ (example.test is routed to an
    smtp transport that does not answer); petrel-super deletes, holds, releases and requeues
    at random, then the route is switched to the local agent and the queue flushed while the
    storm goes on. In the end each Message-ID is in the mailbox exactly once, or was
    deleted, or is still in the queue (hold/) - never twice, never in two places, never
    lost. Counted by Message-ID in the mailbox and in the queue files."""
    from concurrent.futures import ThreadPoolExecutor
    inst = S.submit_instance(instances, main_cf=dict(
        DEFERRING, transport_maps="inline:{example.test=smtp:[127.0.0.1]:9}"))
    msgid = {}

    def submit(n):
        mid = "<storm-%d@petrel.test>" % n
        r = S.sendmail(inst, "-v", "demo@example.test",
                       input="Message-ID: %s\nSubject: storm %d\n\nbody %d\n" % (mid, n, n))
        assert r.returncode == 0, r.stderr
        return S.queued_id(r), mid

    with ThreadPoolExecutor(4) as pool:
        for qid, mid in pool.map(submit, range(500)):
            msgid[qid] = mid
    assert len(msgid) == 500
    ids = sorted(msgid)
    wait_for(lambda: len(S.queue_ids(inst, "deferred/*")) == 500, 60, what="500 deferred")
    rnd = random.Random(7)

    def storm(rounds):
        for _ in range(rounds):
            pick = rnd.sample(ids, 25)
            args = []
            for i, qid in enumerate(pick):
                args += [["-d", "-h", "-r", "-H", "-h"][i % 5], qid]
            r = super_(inst, *args)
            assert r.returncode == 0, r.stderr

    storm(3)
    inst.main_cf["transport_maps"] = ""
    inst.write_config()
    inst.reload_and_wait()
    assert S.cmd(inst, "petrel-queue", "-f").returncode == 0
    storm(12)

    def settled():
        return not any(glob.glob(os.path.join(inst.queue, q, "[0-9A-F]*"))
                       for q in ("maildrop", "incoming", "active", "deferred/*"))
    wait_for(settled, 120, what="the queue to settle")  # agents log a delivery before they report it
    rx = re.compile(rb"(?im)^Message-ID: (<storm-\d+@petrel\.test>)\r?$")
    in_box = {}
    for p in Q.maildir_files(S.vbox(inst, "demo")):
        with open(p, "rb") as f:
            m = rx.search(f.read())
        assert m, p
        in_box[m.group(1).decode()] = in_box.get(m.group(1).decode(), 0) + 1
    in_queue = {}
    for p in glob.glob(os.path.join(inst.queue, "*", "[0-9A-F]*")) + glob.glob(
            os.path.join(inst.queue, "deferred", "*", "[0-9A-F]*")):
        if not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            m = rx.search(f.read())
        if m:
            in_queue[m.group(1).decode()] = in_queue.get(m.group(1).decode(), 0) + 1
    log = inst.log()
    deleted = {msgid[q] for q in re.findall(r"petrel-super\[\d+\]: ([0-9A-F]+): removed", log)}
    deleted |= {msgid[q] for q in
                re.findall(r"qmgr\[\d+\]: ([0-9A-F]+): removed \(petrel-super\)", log)}
    twice = [m for m, n in in_box.items() if n > 1] + [m for m, n in in_queue.items() if n > 1]
    both = [m for m in in_box if m in in_queue or m in deleted]
    lost = [m for m in msgid.values() if m not in in_box and m not in in_queue and
            m not in deleted]
    bad = set(twice + both + lost)
    trail = [l for l in log.splitlines() if any(q in l for q in ids if msgid[q] in bad)]
    assert not twice and not both and not lost, (twice, both, lost, trail)
    assert set(in_box) | set(in_queue) | deleted == set(msgid.values())
    assert deleted and in_queue and len(in_box) > 300
    assert len(deleted) + len(in_queue) + len(in_box) == 500
    assert S.queue_ids(inst, "hold") == sorted(q for q in ids if msgid[q] in in_queue)
