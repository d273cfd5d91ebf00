"""The crash test: 1,000 messages over 20 parallel SMTP sessions (to smtpd) while qmgr and
local are killed with SIGKILL at random moments five times; nothing may be lost."""

import os
import random
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
