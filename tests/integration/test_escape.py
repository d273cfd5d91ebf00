"""Bytes from outside never reach an admin's terminal raw (issue #13 item 6).

A remote server answers with ESC, BEL, CR and a C1 control (U+009B, which some
terminals obey like ESC [) in a 4xx reply. The smtp client records the text through
printable() (lib/util/str.h), so the maillog, petrel-queue -p and mailq show '?' for each
such byte; a defer log that holds raw bytes anyway (written by another agent or an older
Petrel) is shown the same way, while petrel-queue -j keeps that exact text,
JSON-escaped.
"""

import glob
import json
import os
import re
import subprocess

import petrel_harness as H
from petrel_harness import wait_for
import qmgr_util as Q
import smtp_util as U
import submit_util as S
from smtp_util import fakes  # noqa: F401 (fixture)

SENDER = "demo@example.test"
NASTY = b"450 4.2.0 grey\x1b[2Jlisted\x07 now\rlater\xc2\x9bX ok\r\n"
SHOWN = "grey?[2Jlisted? now?later??X ok"
CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def deferring_sender(instances, srv):
    """A sender relaying to srv that keeps deferred mail (long back-off), with the admin
    commands installed."""
    snd = U.sender(instances, main_cf={"relayhost": "[%s]:%d" % (srv.ip, srv.port),
                                       "minimal_backoff_time": "300s",
                                       "maximal_backoff_time": "600s",
                                       "queue_run_delay": "300s"}, start=False)
    snd.main_cf["command_directory"] = S.install_commands(snd)
    snd.write_config()
    snd.start()
    wait_for(lambda: os.path.exists(os.path.join(snd.queue, "public", "showq")),
             what="qmgr to start")
    return snd


def maillog_bytes(inst):
    with open(os.path.join(inst.root, "maillog"), "rb") as f:
        return f.read()


def test_remote_reply_controls_escaped_everywhere(instances, fakes):
    def handler(srv, n, line):
        if line.startswith("RCPT"):
            return NASTY
        return srv.default(line)

    srv = fakes("127.0.0.61", handler=handler)
    snd = deferring_sender(instances, srv)
    qid = Q.submit(snd, SENDER, ["a@remote.test"])
    line = Q.wait_status(snd, qid, "a@remote.test", "deferred")
    assert SHOWN in line, line
    S.wait_queue(snd, qid, "deferred")
    log = maillog_bytes(snd)
    assert not CONTROL.search(log), CONTROL.search(log)
    for argv in (("petrel-queue", "-p"), ("mailq",)):
        r = S.cmd(snd, argv[0], *argv[1:], config="-C" if argv[0] == "mailq" else "-c",
                  text=False)
        assert r.returncode == 0, r.stderr
        assert SHOWN.encode() in r.stdout, r.stdout
        assert not CONTROL.search(r.stdout), (argv, r.stdout)
    entries = S.queue_json(snd)
    assert SHOWN in entries[0]["recipients"][0]["delay_reason"]
    # the notice of delay is not due yet; nothing else was logged raw
    assert not CONTROL.search(maillog_bytes(snd))


def test_raw_defer_log_escaped_in_listing_exact_in_json(instances, fakes):
    srv = fakes("127.0.0.62", handler=lambda srv, n, line:
                "451 4.3.0 try later" if line.startswith("RCPT") else srv.default(line))
    snd = deferring_sender(instances, srv)
    qid = Q.submit(snd, SENDER, ["b@remote.test"])
    Q.wait_status(snd, qid, "b@remote.test", "deferred")
    S.wait_queue(snd, qid, "deferred")
    # a deferral reason written raw (%XX is the dsnlog escape): as an older agent might have
    path = glob.glob(os.path.join(snd.queue, "defer", "*", qid))[0]
    with open(path) as f:
        entry = f.read().rstrip("\n").split("\n\n")[-1].splitlines()
    raw = "raw%1B]0;owned%07 bell%0D cr %C2%9B csi"
    entry = [("reason=" + raw) if l.startswith("reason=") else l for l in entry]
    with open(path, "a") as f:
        f.write("\n".join(entry) + "\n\n")
    r = S.cmd(snd, "petrel-queue", "-p", text=False)
    assert r.returncode == 0, r.stderr
    assert b"(raw?]0;owned? bell? cr ?? csi)" in r.stdout, r.stdout
    assert not CONTROL.search(r.stdout), r.stdout
    r = S.cmd(snd, "petrel-queue", "-j")
    assert r.returncode == 0, r.stderr
    assert "raw\\u001B]0;owned\\u0007 bell\\r cr \\u009B csi" in r.stdout, r.stdout
    assert not CONTROL.search(r.stdout.encode()), r.stdout
    assert json.loads(r.stdout)["recipients"][0]["delay_reason"] == \
        "raw\x1b]0;owned\x07 bell\r cr \u009b csi"


def test_bounce_notice_carries_no_controls(instances, fakes):
    """A 5xx reply with controls: the DSN (text part and delivery-status fields) and the
    log show them as '?'."""
    srv = fakes("127.0.0.63", handler=lambda srv, n, line:
                b"550 5.1.1 no\x1b[2Jsuch\x07user\xc2\x9bhere\r\n" if line.startswith("RCPT")
                else srv.default(line))
    snd = deferring_sender(instances, srv)
    qid = Q.submit(snd, SENDER, ["c@remote.test"])
    Q.wait_status(snd, qid, "c@remote.test", "bounced")
    box = os.path.join(snd.vmail, "example.test", "demo")
    Q.dsns_for(snd, box)
    with open(Q.maildir_files(box)[0], "rb") as f:
        dsn = f.read()
    assert b"no?[2Jsuch?user??here" in dsn, dsn
    assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", dsn), dsn
    assert not CONTROL.search(maillog_bytes(snd))


def test_admin_tools_escape_names_and_envelope_values(instances):
    """petrel-super -s reports a file name chosen by whoever wrote into the queue with '?'
    for control bytes; petrel-cat, a debugging tool, shows them (and C1 controls) as \\xNN."""
    inst = S.submit_instance(instances)
    inst.stop()
    bad = os.path.join(inst.queue, "hold", "evil\x1b]0;title\x07name")
    with open(bad, "w") as f:
        f.write("x")
    r = S.cmd(inst, "petrel-super", "-s", "-v", text=False)
    assert b"hold/evil?]0;title?name: not a queue ID name" in r.stderr, r.stderr
    assert not CONTROL.search(r.stderr), r.stderr
    # a queue file with a control byte in an attribute value (the test injector writes it;
    # smtpd and pickup never would)
    q = subprocess.run([H.build_path(H.TEST_PROGRAMS["qinject"]), "-c", inst.etc, "-N", "-f",
                        "sender@remote.test", "-A", "note=bell\x07esc\x1b[2J\u009bc1", "-t",
                        "demo@example.test"], input="Subject: x\n\nbody\n",
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 0, q.stderr
    qid = q.stdout.split()[0]
    r = S.cmd(inst, "petrel-cat", "-q", "-e", qid, text=False)
    assert r.returncode == 0, r.stderr
    assert b"named_attribute: note=bell\\x07esc\\x1B[2J\\xC2\\x9Bc1" in r.stdout, r.stdout
    assert not CONTROL.search(r.stdout), r.stdout
