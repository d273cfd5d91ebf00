"""End-to-end tests of smtpd under hostile load and short resources (issue #13): slow clients
(per-request deadline, minimum data rate, master's stress mode), a full queue file system
(452 4.3.1 at MAIL FROM), and incomplete files of killed writers in incoming/ (removed when
qmgr starts, never one a live smtpd is writing)."""

import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import petrel_harness as H
import smtpd_util as U
from smtpd_util import Raw

QMGR = "qmgr      unix  n       -       n       300     1       qmgr\n"


def test_data_cut_by_request_deadline(instances):
    """A body sent a line every 1.5 s never trips the 4 s per-read timeout, but the whole DATA
    gets 4 s (plus 1/500 s per byte): 421 4.4.2 well before the client is done."""
    inst, ports = U.smtpd_instance(instances, main_cf={"smtpd_timeout": "4s"})
    r = Raw(ports["smtp"], internet=True, timeout=30)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<user@virt.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    start = time.monotonic()
    r.sock.settimeout(0.1)
    reply = None
    for i in range(20):  # 30 s of slow content at most
        try:
            r.send("Subject: slow line %d\r\n" % i)
        except OSError:
            break
        end = time.monotonic() + 1.5
        while time.monotonic() < end and reply is None:
            try:
                reply = r.line()
            except (TimeoutError, OSError):
                pass
            except EOFError:
                break
        if reply is not None:
            break
    took = time.monotonic() - start
    assert reply is not None and reply.startswith("421 4.4.2 ") and \
        "Error: timeout exceeded" in reply, reply
    assert took < 12, took
    inst.wait_log(r"timeout after DATA \(\d+ bytes\) from unknown\[127\.0\.0\.2\]")
    assert U.committed_files(inst) == []


def test_data_rate_keeps_fast_clients(instances):
    """The deadline is pushed back by smtpd_min_data_rate: a 2 MB message sent at full speed
    with a 1 s smtpd_timeout and 100 kB/s minimum rate is accepted."""
    inst, ports = U.smtpd_instance(instances, main_cf={"smtpd_timeout": "1s",
                                                        "smtpd_min_data_rate": "100000",
                                                        "message_size_limit": "0"})
    body = "Subject: big\r\n\r\n" + ("x" * 998 + "\r\n") * 2000
    c = U.client(ports["smtp"], timeout=30)
    c.ehlo()
    c.mail("a@example.org")
    c.rcpt("user@virt.test")
    code, _ = c.data(body)
    assert code == 250
    c.quit()


class Slowloris:
    """n connections from 127.0.0.2 that send one byte of a command line every period
    seconds (bounded: they stop after limit seconds or at stop())."""

    def __init__(self, port, n, period=3.0, limit=90.0):
        self.socks = []
        for _ in range(n):
            s = socket.socket()
            s.bind((U.INTERNET, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            self.socks.append(s)
        self.period, self.limit = period, limit
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        end = time.monotonic() + self.limit
        text = b"EHLO slow.example.org and more and more and more" * 10
        i = 0
        while not self.done.is_set() and time.monotonic() < end:
            for s in list(self.socks):
                try:
                    s.send(text[i % len(text):i % len(text) + 1])
                except OSError:
                    self.socks.remove(s)
            i += 1
            self.done.wait(self.period)

    def stop(self):
        self.done.set()
        self.thread.join(10)
        for s in self.socks:
            s.close()


def test_slowloris_stress_mode(instances):
    """40 clients sending one byte every 3 s against 20 smtpd processes: once every process is
    busy master says "stress", each slow client gets smtpd_stress_timeout for its command line
    (also those already waiting), and a legitimate client queued behind all of them is served
    within 15 s. (Without stress they hold every process for smtpd_timeout, 300 s.)"""
    inst, ports = U.smtpd_instance(instances, main_cf={"smtpd_stress_timeout": "4s"},
                                   start=False)
    inst.set_master_cf(inst.master_cf.replace("inet n - n - - smtpd", "inet n - n - 20 smtpd"))
    inst.start()
    U.wait_listening([ports["smtp"]])
    slow = Slowloris(ports["smtp"], 40)
    try:
        # wait until the 20 processes hold a slow client each (their greeting was sent)
        inst.wait_log(r"all 20 processes are busy: stress mode", timeout=30)
        start = time.monotonic()
        c = U.client(ports["smtp"], internet=True, timeout=30)
        c.ehlo()
        assert c.mail("a@example.org")[0] == 250
        assert c.rcpt("user@virt.test")[0] == 250
        code, _ = c.data(U.msg("legitimate"))
        took = time.monotonic() - start
        assert code == 250
        c.quit()
        assert took < 15, took
        assert re.search(r"timeout after CONNECT from unknown\[127\.0\.0\.2\] \(stress\)",
                         inst.log())
    finally:
        slow.stop()
    inst.wait_log(r"end of stress mode", timeout=30)


def test_stress_ends_and_normal_timeout_returns(instances):
    """After stress ends, a client idle for longer than smtpd_stress_timeout is not cut."""
    inst, ports = U.smtpd_instance(instances, main_cf={"smtpd_stress_timeout": "2s"},
                                   start=False)
    inst.set_master_cf(inst.master_cf.replace("inet n - n - - smtpd", "inet n - n - 2 smtpd"))
    inst.start()
    U.wait_listening([ports["smtp"]])
    a, b = Raw(ports["smtp"]), Raw(ports["smtp"])
    inst.wait_log(r"all 2 processes are busy: stress mode")
    assert a.closed(10) and b.closed(10)  # both cut after 2 s of silence
    inst.wait_log(r"end of stress mode", timeout=20)
    c = Raw(ports["smtp"])
    assert not c.closed(4)  # 4 s idle: only the normal smtpd_timeout applies now
    assert c.cmd("NOOP")[0] == 250
    c.cmd("QUIT")


# --- a full queue file system ---------------------------------------------------------


@pytest.fixture
def tiny_queue(instances):
    """make(main_cf): an smtpd instance (message_size_limit 1 MB) whose queue directory is
    an 8 MB tmpfs; unmounted afterwards."""
    if not H.IS_ROOT:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def make(main_cf=None):
        cf = {"message_size_limit": "1m"}
        cf.update(main_cf or {})
        inst, ports = U.smtpd_instance(instances, main_cf=cf, start=False)
        os.makedirs(inst.queue, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "petrel-test",
                            inst.queue], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
        mounted.append(inst)
        inst.start()
        U.wait_listening([ports["smtp"]])
        return inst, ports["smtp"]

    yield make
    for inst in mounted:
        inst.stop()
        subprocess.run(["umount", "-l", inst.queue], capture_output=True)


def fill_to(inst, free_bytes):
    """Leave about free_bytes free in the queue file system (a filler file as root)."""
    path = os.path.join(inst.queue, "filler")
    if os.path.exists(path):
        os.unlink(path)
    st = os.statvfs(inst.queue)
    avail = st.f_bavail * st.f_frsize
    with open(path, "wb") as f:
        f.write(b"\0" * max(0, avail - free_bytes))
    st = os.statvfs(inst.queue)
    return st.f_bavail * st.f_frsize


def mail_from(port, args=""):
    r = Raw(port)
    assert r.cmd("EHLO client.example.org")[0] == 250
    code, text, _ = r.cmd("MAIL FROM:<a@example.org>" + args)
    r.cmd("QUIT")
    return code, text


def test_disk_full_refused_at_mail_from(tiny_queue):
    """message_size_limit 1 MB: below 1.5 MB free, MAIL FROM gets 452 4.3.1 (not 451 after
    the data), even with queue_minfree 0; with room the message is accepted."""
    inst, port = tiny_queue()
    fill_to(inst, 1024 * 1024)
    assert mail_from(port) == (452, "4.3.1 Insufficient system storage")
    inst.wait_log(r"NOQUEUE: reject: MAIL from .*452 4\.3\.1 Insufficient system storage")
    fill_to(inst, 3 * 1024 * 1024)
    c = U.client(port)
    c.ehlo()
    assert c.mail("a@example.org")[0] == 250
    assert c.rcpt("user@virt.test")[0] == 250
    assert c.data(U.msg("room enough"))[0] == 250
    c.quit()


def test_disk_full_declared_size(tiny_queue):
    """queue_minfree 1 MB and 2 MB free: no SIZE is fine (2 >= max(1, 1.5)); SIZE=900000
    needs 1 MB + 1.35 MB and is refused with 452 4.3.1; SIZE=100000 fits."""
    inst, port = tiny_queue({"queue_minfree": "1m"})
    fill_to(inst, 2048 * 1024)
    assert mail_from(port, " SIZE=900000") == (452, "4.3.1 Insufficient system storage")
    assert mail_from(port, " SIZE=100000")[0] == 250
    assert mail_from(port)[0] == 250


# --- incomplete files of killed writers ------------------------------------------------


def smtpd_pid_of(inst, qid):
    m = H.wait_for(lambda: re.search(r"petrel/smtpd\[(\d+)\]: %s: client=" % qid, inst.log()),
                   what="client= line of %s" % qid)
    return int(m.group(1))


def start_data(port, n):
    """A session in the middle of DATA with some content on disk; (client, queue ID)."""
    r = Raw(port)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<user@virt.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: part %d\r\n\r\n" % n + b"0123456789abcdef" * 10000)
    return r


def test_abandoned_incoming_removed_at_qmgr_start(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={"message_size_limit": "0"},
                                   extra_master=QMGR)
    port = ports["smtp"]
    H.wait_for(lambda: inst.children("qmgr"), what="qmgr")
    incoming = os.path.join(inst.queue, "incoming")

    def files():
        return set(os.listdir(incoming))

    dead = start_data(port, 1)
    H.wait_for(lambda: len(files()) == 1 and
               os.path.getsize(os.path.join(incoming, list(files())[0])) > 100000,
               what="the first file on disk")
    (dead_id,) = files()
    os.kill(smtpd_pid_of(inst, dead_id), signal.SIGKILL)
    assert dead.closed()
    live = start_data(port, 2)
    H.wait_for(lambda: len(files()) == 2, what="the second file")
    (live_id,) = files() - {dead_id}
    smtpd_pid_of(inst, live_id)
    # both look old: only the lock tells the live one from the dead one
    old = time.time() - 3600
    for name in (dead_id, live_id):
        os.utime(os.path.join(incoming, name), (old, old))
        assert os.stat(os.path.join(incoming, name)).st_mode & 0o777 == 0o600
    (q,) = inst.children("qmgr")
    os.kill(q["pid"], signal.SIGKILL)
    inst.wait_log(r"qmgr\[\d+\]: %s: removed from incoming/: incomplete, its writer is gone"
                  % dead_id, timeout=20)
    assert files() == {live_id}
    live.send(b"\r\nend\r\n.\r\n")
    code, text, _ = live.reply()
    assert code == 250 and live_id in text
    live.cmd("QUIT")


def test_pop3_prelogin_stress(instances):
    """popd with 2 processes held by 2 silent clients that never log in: stress mode cuts
    them after stress_login_timeout (2 s, not popd_timeout), then a third client logs in."""
    import popd_util as P
    ps = P.PopSetup(instances, main_cf={"stress_login_timeout": "2s"}, start=False)
    ps.inst.set_master_cf(ps.inst.master_cf.replace("inet n n n - - popd", "inet n n n - 2 popd",
                                                    1))
    ps.inst.start()
    ps.make_maildir()
    U.wait_listening([ps.port])
    a, b = P.Raw(ps.port), P.Raw(ps.port)
    assert a.line().startswith("+OK") and b.line().startswith("+OK")
    ps.inst.wait_log(r"all 2 processes are busy: stress mode")
    assert a.closed(10) and b.closed(10)
    c = P.Raw(ps.port)
    assert c.line().startswith("+OK")
    c.login()
    assert c.cmd("STAT").startswith("+OK")
    c.cmd("QUIT")


def test_imap_prelogin_stress(instances):
    """IMAP logins are not locked out by clients that connect and never log in: with both
    imapd processes held, stress mode cuts them after stress_login_timeout (2 s, not
    imapd_login_timeout) and a real client logs in."""
    import imaplib
    from imapd_util import USERS, RawIMAP, imapd_instance
    inst = imapd_instance(instances, tls=False, main_cf={"default_process_limit": "2",
                                                         "stress_login_timeout": "2s"})
    a, b = RawIMAP(inst.imap_port), RawIMAP(inst.imap_port)
    assert a.line().startswith(b"* OK") and b.line().startswith(b"* OK")
    inst.wait_log(r"all 2 processes are busy: stress mode")
    assert a.closed(10) and b.closed(10)
    start = time.monotonic()
    c = imaplib.IMAP4("127.0.0.1", inst.imap_port, timeout=20)
    user = sorted(USERS)[0]
    assert c.login(user, USERS[user])[0] == "OK"
    c.logout()
    assert time.monotonic() - start < 10
