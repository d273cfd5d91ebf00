"""The crash test: 1,000 messages over 20 parallel SMTP sessions (to smtpd) while qmgr and
local are killed with SIGKILL at random moments five times; nothing may be lost."""

import os
import random
import re
import signal
import sys
import threading
import time

import petrel_harness as H
from petrel_harness import wait_for
import qmgr_util as Q

SESSIONS = 20
PER_SESSION = 50


def kill_some(inst, services):
    """SIGKILL the processes of these services that are running now; how many."""
    victims = [p for s in services for p in inst.children(s)]
    for p in victims:
        try:
            os.kill(p["pid"], signal.SIGKILL)
        except OSError:
            pass
    return len(victims)


def test_no_mail_lost_when_qmgr_and_local_crash(instances, capsys):
    inst = Q.mail_instance(instances, main_cf={"service_throttle_time": "1s",
                                               "qmgr_ipc_timeout": "5s"})
    box = os.path.join(inst.vmail, "example.test/demo")
    rng = random.Random(4)
    errors = []

    def session(n):
        try:
            c = Q.smtp_session(inst)  # one SMTP session sends its 50 messages
            for k in range(PER_SESSION):
                Q.send_one(c, "sender@remote.test", ["demo@example.test"],
                           Q.message("s%d-m%d" % (n, k)))
            c.quit()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(SESSIONS)]
    for t in threads:
        t.start()
    killed = 0
    t0 = time.time()
    for _ in range(5):  # agents and qmgr, each at its own random moment
        time.sleep(rng.uniform(0.05, 0.4))
        killed += kill_some(inst, ["virtual", "local"])
        time.sleep(rng.uniform(0.05, 0.4))
        killed += kill_some(inst, ["qmgr"])
    kill_time = time.time() - t0
    for t in threads:
        t.join(120)
    submit_time = time.time() - t0
    assert not errors, errors[:3]
    assert killed >= 5
    # everything accepted ends in the mailbox, nothing stays in the queue
    total = SESSIONS * PER_SESSION

    def subjects():
        seen = {}
        for path in Q.maildir_files(box):
            with open(path, "rb") as f:
                for line in f:
                    if line.startswith(b"Subject: "):
                        s = line[9:].strip().decode()
                        seen[s] = seen.get(s, 0) + 1
                        break
                    if line == b"\n":
                        break
        return seen

    wait_for(lambda: len(subjects()) == total, timeout=90, interval=0.5,
             what="all %d messages in the mailbox" % total)
    Q.wait_quiet_queue(inst, timeout=30)
    seen = subjects()
    missing = ["s%d-m%d" % (n, k) for n in range(SESSIONS) for k in range(PER_SESSION)
               if "s%d-m%d" % (n, k) not in seen]
    assert missing == []
    dups = sum(c - 1 for c in seen.values())
    line = ("crash test: %d messages over %d SMTP sessions in %.1fs, %d processes killed in "
            "%.1fs, %d duplicate deliveries, %d deferrals\n" % (
                total, SESSIONS, submit_time, killed, kill_time, dups,
                                 sum("status=deferred" in l for l in Q.status_lines(inst))))
    with capsys.disabled():
        sys.stdout.write("\n" + line)
    # a local killed while writing may leave its file in tmp/ (never in new/: it is renamed
    # there complete); Maildir readers clean tmp/, as with any MDA, so tmp/ is not checked
    leftovers = [p for p in Q.queue_files(inst) if "/corrupt/" in p]
    assert leftovers == []
    # agents mark before they report and Maildir names are per delivery (lib/global/deliver.h,
    # local_mailbox.c): 0 in runs since, 4 to 57 before (the target is 1 in 10,000)
    assert dups <= 1


# an agent whose qmgr dies while it delivers (lib/global/deliver.h: the agent marks the recipient
# done in the queue file before it replies, and holds the file locked meanwhile) ------------

def restart_qmgr(inst):
    """SIGKILL qmgr and wait for master to start a new one; its pid."""
    old = [p["pid"] for p in inst.children("qmgr")]
    assert len(old) == 1
    os.kill(old[0], signal.SIGKILL)
    return wait_for(lambda: next((p["pid"] for p in inst.children("qmgr")
                                  if p["pid"] not in old), None), 30, what="a new qmgr")


def wait_recovered_or_twice(inst, twice):
    """The new qmgr met the file held by the agent, or delivered it a second time."""
    wait_for(lambda: "a delivery agent is still at work on it" in inst.log() or twice(),
             30, interval=0.1, what="the new qmgr to meet the message")


def test_local_agent_orphaned_by_qmgr_delivers_once(instances, capsys):
    """A |command alias (standing for any delivery) is running when qmgr is killed; the
    command then completes. The agent marks the recipient done and its result goes nowhere;
    the new qmgr waits for the agent to let go of the file, finds the recipient done and
    delivers nothing again - and the success notice the sender asked for still comes."""
    runs = None
    inst = Q.mail_instance(instances, start=False, main_cf={"service_throttle_time": "1s"})
    runs = os.path.join(inst.root, "runs")
    os.makedirs(runs)
    os.chmod(runs, 0o777)
    script = os.path.join(inst.root, "block.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ncat > %s/run.$$\nwhile [ ! -e %s/release ]; do sleep 0.05; done\n"
                % (runs, runs))
    os.chmod(script, 0o755)
    Q.write_aliases(inst, {"blocker": "|" + script})
    inst.start()
    wait_for(lambda: os.path.exists(os.path.join(inst.queue, "public", "showq")),
             what="qmgr to start")

    def run_files():
        return [n for n in os.listdir(runs) if n.startswith("run.")]

    qid = Q.submit(inst, "demo@example.test", ["blocker@localhost"],
                   notify={"blocker@localhost": "SUCCESS"})
    wait_for(lambda: len(run_files()) == 1, 15, what="the command to run")
    restart_qmgr(inst)
    wait_recovered_or_twice(inst, lambda: len(run_files()) > 1)
    open(os.path.join(runs, "release"), "w").close()
    Q.wait_status(inst, qid, "blocker@localhost", "sent")
    Q.wait_removed(inst, qid, timeout=30)
    assert len(run_files()) == 1
    assert re.search(r"%s: to=<blocker@localhost>.*status=sent" % qid, inst.log())
    dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/demo"), timeout=30)[0]
    _, fields = Q.report_fields(dsn)
    assert [f["Action"] for f in fields] == ["delivered"]
    # the notice is in the mailbox; its own queue file goes once the agent has reported
    wait_for(lambda: Q.queue_files(inst) == [], what="an empty queue")


def test_smtp_agent_orphaned_by_qmgr_delivers_once(instances):
    """The remote server's 250 to the end of DATA comes only after qmgr was killed: the
    smtp agent marks the recipient done (with the success notice's entry, the server
    having no DSN) and its report goes nowhere. The new qmgr must neither send the
    message again nor lose the notice."""
    import smtp_util as U
    release = threading.Event()

    def handler(srv, n, line):
        if line == ".":
            release.wait(60)
        return srv.default(line)

    srv = U.FakeServer("127.0.0.61", handler=handler, ehlo="250-fake.test\r\n250 PIPELINING")
    try:
        inst = U.sender(instances, main_cf={"relayhost": "[127.0.0.61]:%d" % srv.port,
                                            "service_throttle_time": "1s"})
        qid = Q.submit(inst, "demo@example.test", ["a@remote.test"],
                       notify={"a@remote.test": "SUCCESS"})
        wait_for(lambda: len(srv.messages) == 1, 15, what="the message at the server")
        restart_qmgr(inst)
        wait_recovered_or_twice(inst, lambda: len(srv.messages) > 1)
        release.set()
        Q.wait_status(inst, qid, "a@remote.test", "sent")
        Q.wait_removed(inst, qid, timeout=30)
        assert len(srv.messages) == 1
        dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/demo"), timeout=30)[0]
        _, fields = Q.report_fields(dsn)
        assert [f["Action"] for f in fields] == ["relayed"]
        # the notice is in the mailbox; its own queue file goes once the agent has reported
        wait_for(lambda: Q.queue_files(inst) == [], what="an empty queue")
    finally:
        release.set()
        srv.stop()


def test_storm_delivery_once_by_message_id(instances, capsys):
    """The storm: 480 messages, each to a virtual mailbox (the local agent) and to a remote
    server (the smtp agent and Postfix's smtp-sink on loopback), submitted at a steady pace
    over 8 SMTP sessions for about 25 s while qmgr, the local agent and the smtp agent are
    killed with SIGKILL at random moments; then the queue drains. Counted by Message-ID in
    the mailbox and in the sink's files: nothing lost, and at most one duplicate (the
    target is 1 in 10,000: only the moment between a delivery and its mark is left, RFC
    1047; before the agents marked, such a run had a handful)."""
    import smtp_util as U
    sessions, per_session = 8, 60
    port = H.free_port("127.0.0.62")
    sink = U.SmtpSink("127.0.0.62", port)
    try:
        inst = U.sender(instances, main_cf={"relayhost": "[127.0.0.62]:%d" % port,
                                            "service_throttle_time": "1s",
                                            "qmgr_ipc_timeout": "5s"})
        box = os.path.join(inst.vmail, "example.test/demo")
        rng = random.Random(11)
        errors = []
        qids = {}

        def session(n):
            pace = random.Random(n)
            try:
                c = Q.smtp_session(inst)
                for k in range(per_session):
                    name = "storm-%d-%d" % (n, k)
                    qids[name.encode()] = Q.send_one(
                        c, "sender@remote.test", ["demo@example.test", "r@remote.test"],
                        Q.message(name))
                    time.sleep(pace.uniform(0.2, 0.6))  # a steady flow, not a burst
                c.quit()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
        for t in threads:
            t.start()
        killed = {"qmgr": 0, "virtual": 0, "smtp": 0}
        t0 = time.time()
        # kill while mail flows: until the submissions end, at most 60 s and 150 rounds
        rounds = 0
        while rounds < 150 and time.time() - t0 < 60 and any(t.is_alive() for t in threads):
            time.sleep(rng.uniform(0.05, 0.3))
            # smtp less often: an smtp agent killed between its final dot and the 250 costs
            # a duplicate that no design avoids (RFC 1047; about 1 in 40 smtp kills here)
            victim = rng.choice(["qmgr"] * 6 + ["virtual"] * 5 + ["smtp"])
            killed[victim] += kill_some(inst, [victim])
            rounds += 1
        kill_time = time.time() - t0
        for t in threads:
            t.join(120)
        assert not errors, errors[:3]
        total = sessions * per_session
        rx = re.compile(rb"(?im)^Message-ID: <(storm-\d+-\d+)@remote\.test>\r?$")

        def count(blobs):
            seen = {}
            for b in blobs:
                m = rx.search(b)
                if m:
                    seen[m.group(1)] = seen.get(m.group(1), 0) + 1
            return seen

        def mailbox():
            out = []
            for p in Q.maildir_files(box):
                with open(p, "rb") as f:
                    out.append(f.read())
            return out

        wait_for(lambda: len(count(mailbox())) == total and len(count(sink.messages())) == total,
                 timeout=180, interval=0.5, what="all %d messages at both places" % total)
        Q.wait_quiet_queue(inst, timeout=60)
        local, remote = count(mailbox()), count(sink.messages())
        want = {("storm-%d-%d" % (n, k)).encode() for n in range(sessions)
                for k in range(per_session)}
        assert set(local) == want and set(remote) == want  # nothing lost
        dups_local = sum(c - 1 for c in local.values())
        dups_remote = sum(c - 1 for c in remote.values())
        twice = [qids[m] for m in want if local[m] > 1 or remote[m] > 1]
        trail = [line for line in inst.log().splitlines() if any(q in line for q in twice)]
        with capsys.disabled():
            sys.stdout.write("\nstorm: %d messages x 2 recipients, %s killed in %.0fs, "
                             "duplicates: %d local, %d remote\n%s"
                             % (total, killed, kill_time, dups_local, dups_remote,
                                "".join(line + "\n" for line in trail)))
        assert killed["qmgr"] >= 10 and killed["virtual"] >= 10 and killed["smtp"] >= 3
        assert dups_local + dups_remote <= 1
        assert [p for p in Q.queue_files(inst) if "/corrupt/" in p] == []
    finally:
        sink.stop()


def test_maildir_attempt_after_agent_died_before_its_mark(instances):
    """An agent killed after the link into new/ and before its mark: the next attempt
    finds the file under the same name (queue ID and recipient record) and delivers
    nothing again. Simulated exactly: a message to a mailbox and to a destination that
    defers stays in deferred/ with the mailbox recipient done; the test turns that
    recipient's record back to not done (what the killed agent would have left), then
    flushes the queue."""
    inst = Q.mail_instance(instances)
    box = os.path.join(inst.vmail, "example.test/demo")
    qid = Q.submit(inst, "sender@remote.test", ["demo@example.test", "x@remote.test"])
    Q.wait_status(inst, qid, "demo@example.test", "sent")
    Q.wait_status(inst, qid, "x@remote.test", "deferred")  # no smtp transport here
    path = wait_for(lambda: next((p for p in Q.queue_files(inst, qid) if "/deferred/" in p),
                                 None), 15, what="the file in deferred/")
    with open(path, "r+b") as f:
        data = f.read()
        at = data.index(b"demo@example.test\x00") - 5
        assert data[at:at + 1] == b"r"  # marked done by the agent
        f.seek(at)
        f.write(b"R")
    files = Q.maildir_files(box)
    assert len(files) == 1
    assert inst.run("petrel-queue", "-f").returncode == 0
    line = wait_for(lambda: [l for l in Q.status_lines(inst, qid)
                             if "to=<demo@example.test>" in l][1:], 30,
                    what="the second attempt")[0]
    assert Q.maildir_files(box) == files
    assert "status=sent (delivered to maildir (by an earlier attempt" in line
    assert ("Q%sR%d." % (qid, at)) in files[0]  # the name says which delivery it is
