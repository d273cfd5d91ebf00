"""End-to-end tests of master: pools, recycling, throttling, reload, stop, privileges."""

import os
import signal
import socket
import threading
import time

import pytest

import petrel_harness as H
from petrel_harness import LineClient, wait_for


def echo_service(port, maxproc="-", opts="", tag=""):
    return "127.0.0.1:%d inet n - n - %s testsvc %s echo %s\n" % (port, maxproc, opts, tag)


def test_start_serve_stop(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port))
    c = LineClient(port)
    hello = c.line().split()
    assert hello[0] == "HELLO" and hello[2] == "127.0.0.1:%d" % port
    assert c.ask("PING") == "PONG %s" % hello[1]
    assert c.ask("QUIT") == "BYE"
    c.close()
    assert "daemon started" in inst.log()
    inst.stop()
    assert inst.processes() == []
    assert "terminating on signal 15" in inst.log()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_children_run_as_mail_owner(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port))
    uid, gid = H.mail_owner_ids()
    c = LineClient(port)
    c.line()
    fields = dict(kv.split("=") for kv in c.ask("WHOAMI").split())
    c.close()
    assert int(fields["uid"]) == uid and int(fields["euid"]) == uid
    assert int(fields["gid"]) == gid and int(fields["egid"]) == gid
    # exactly mail_owner's own groups: root's supplementary groups are gone
    if H.IS_ROOT:
        want = sorted(set(os.getgrouplist(H.TEST_USER, gid)))
    else:
        want = sorted(set(os.getgroups()) | {gid})
    assert sorted(int(g) for g in fields["groups"].split(",")) == want
    # every child, once started (a just-forked one is briefly still root), runs as mail_owner
    def settled():
        kids = inst.children()
        return kids and all((k["uid"], k["euid"], k["gid"]) == (uid, uid, gid) for k in kids)
    wait_for(settled, timeout=5, what="children to run as mail_owner")
    master = [p for p in inst.processes() if p["pid"] == inst.master_pid()][0]
    assert master["uid"] == os.geteuid()
    if not H.IS_ROOT:
        assert "not root: every daemon runs as this user" in inst.log()


def test_unpriv_n_keeps_root(instances):
    if not H.IS_ROOT:
        pytest.skip("needs root to observe a privileged child")
    port = H.free_port()
    inst = instances(master_cf="127.0.0.1:%d inet n n n - - testsvc echo\n" % port)
    c = LineClient(port)
    c.line()
    assert c.ask("WHOAMI").startswith("uid=0 euid=0")
    c.close()


def test_pool_grows_to_maxproc_and_no_further(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port, maxproc=3))
    clients = []
    for _ in range(3):
        c = LineClient(port)
        assert c.line().startswith("HELLO")
        clients.append(c)
    pids = {c.ask("PING").split()[1] for c in clients}
    assert len(pids) == 3
    # a fourth and fifth connection wait in the listen queue: no greeting
    extra = [LineClient(port) for _ in range(2)]
    for e in extra:
        assert not e.has_data(1.0)
    assert len(inst.children()) == 3
    # when one client leaves, a waiting one is served by the freed process
    clients[0].ask("QUIT")
    clients[0].close()
    assert extra[0].line().startswith("HELLO")
    assert len(inst.children()) == 3
    for c in clients[1:] + extra:
        c.close()


def test_idle_processes_kept_ready(instances):
    port, port2 = H.free_port(), H.free_port()
    inst = instances(master_cf=echo_service(port) +
                     echo_service(port2, opts="-o default_process_min_idle=3"))
    wait_for(lambda: len(inst.children("127.0.0.1:%d" % port)) == 1, what="1 idle")
    wait_for(lambda: len(inst.children("127.0.0.1:%d" % port2)) == 3, what="3 idle")
    # a busy process is replaced by a new idle one
    c = LineClient(port)
    c.line()
    wait_for(lambda: len(inst.children("127.0.0.1:%d" % port)) == 2, what="replacement")
    c.close()


def test_max_use_recycles_process(instances):
    port = H.free_port()
    instances(master_cf=echo_service(port, maxproc=1, opts="-o max_use=2"))
    pids = []
    for _ in range(3):
        c = LineClient(port)
        pids.append(c.line().split()[1])
        c.ask("QUIT")
        c.close()
    assert pids[0] == pids[1]
    assert pids[2] != pids[0]


def test_max_idle_ends_process(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port, opts="-o max_idle=1s"))
    first = wait_for(lambda: inst.children(), what="a child")[0]["pid"]
    wait_for(lambda: first not in [p["pid"] for p in inst.children()], timeout=5,
             what="idle child to exit")
    # master keeps one idle process ready: a new one replaced it
    wait_for(lambda: len(inst.children()) == 1, what="replacement")


def test_crashing_service_is_throttled(instances):
    port, good = H.free_port(), H.free_port()
    inst = instances(master_cf="127.0.0.1:%d inet n - n - - testsvc crash\n" % port +
                     echo_service(good))
    inst.wait_log(r"bad command startup.* -- throttling")
    time.sleep(2)  # an observation window (nothing must start in it), not a synchronisation
    log = inst.log()
    # no tight respawn loop: service_throttle_failures (3) failed starts a second apart,
    # then silence for the throttle time
    assert log.count("crashing at start-up") == 3
    assert log.count("exit status 1") == 3
    # other services are unaffected
    c = LineClient(good)
    assert c.line().startswith("HELLO")
    c.close()


def test_reload_keeps_listeners_and_applies_config(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port, tag="v1"))
    errors, served, stop = [], [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                c = LineClient(port, timeout=10)
                served.append(c.line())
                c.ask("QUIT")
                c.close()
            except Exception as e:  # any refusal or reset is a failure
                errors.append(repr(e))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(served) >= 4, what="the clients to be served")
        for i in range(5):
            inst.set_master_cf(echo_service(port, tag="v%d" % (i + 2)))
            inst.reload()
            # each reload is read, and clients keep being served across it
            wait_for(lambda: inst.log().count("reload -- version") == i + 1, what="reload")
            n = len(served)
            wait_for(lambda: len(served) >= n + 4, what="clients served after the reload")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert len(served) > 20
    assert inst.log().count("reload -- version") == 5
    c = LineClient(port)
    assert c.line().endswith(" v6")  # new children run the new configuration
    c.close()


def test_reload_stops_removed_service(instances):
    a, b = H.free_port(), H.free_port()
    inst = instances(master_cf=echo_service(a) + echo_service(b))
    wait_for(lambda: inst.children("127.0.0.1:%d" % b), what="service b")
    inst.set_master_cf(echo_service(a))
    inst.reload()
    wait_for(lambda: not inst.children("127.0.0.1:%d" % b), what="service b to stop")

    def refused():  # a child on its way out may hold the listener a moment longer
        try:
            socket.create_connection(("127.0.0.1", b), timeout=2).close()
        except OSError:
            return True
        return False
    wait_for(refused, what="port b to refuse connections")
    c = LineClient(a)
    assert c.line().startswith("HELLO")
    c.close()


def test_reload_with_bad_config_keeps_running(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port))
    inst.set_master_cf(echo_service(port) + "broken line\n")
    inst.reload()
    inst.wait_log(r"reload failed")
    c = LineClient(port)
    assert c.line().startswith("HELLO")
    c.close()


def test_stop_ends_busy_children(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port, opts="-o default_process_min_idle=2"))
    c = LineClient(port)
    c.line()
    c.send("SLEEP 60")
    wait_for(lambda: len(inst.children()) >= 2, what="children")
    start = time.time()
    inst.stop()
    assert time.time() - start < 10
    assert inst.processes() == []
    c.close()


def test_children_exit_when_master_dies(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port, opts="-o default_process_min_idle=2"))
    kids = wait_for(lambda: len(inst.children()) == 2 and inst.children(), what="children")
    inst.proc.send_signal(signal.SIGKILL)
    inst.proc.wait()
    for k in kids:
        wait_for(lambda: not os.path.exists("/proc/%d/status" % k["pid"]) or
                 H.proc_info(k["pid"]) is None or H.proc_info(k["pid"])["state"].startswith("Z"),
                 timeout=5, what="orphaned child %d to exit" % k["pid"])


def test_wakeup_triggers_unix_service(instances):
    inst = instances(start=False)
    log = os.path.join(inst.shared, "triggers")
    inst.set_master_cf("trig unix n - n 1 1 testsvc triggers %s\n" % log)
    inst.start()
    wait_for(lambda: os.path.exists(log) and open(log).read().count("W") >= 2, timeout=6,
             what="two wakeup triggers")
    sock = os.path.join(inst.queue, "public", "trig")
    assert os.path.exists(sock)
    kids = inst.children("trig")
    assert len(kids) == 1


def test_bad_config_reports_file_and_line(instances):
    inst = instances(start=False)
    inst.main_cf["max_use"] = "zero"
    inst.set_master_cf("smtp inet n - n - - testsvc echo\nbad unix\n")
    with open(os.path.join(inst.etc, "main.cf"), "a") as f:
        f.write("no equals here\n")
    main_cf = os.path.join(inst.etc, "main.cf")
    master_cf = os.path.join(inst.etc, "master.cf")
    r = inst.run("petrel", "check")
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert any(l.startswith(main_cf + ":") and "max_use = zero: bad integer" in l
               for l in lines), r.stderr
    assert any(l.startswith(main_cf + ":") and "missing '='" in l for l in lines), r.stderr
    assert any(l.startswith(master_cf + ":2: expected at least 8 fields") for l in lines)
    p = inst.start(wait=False)
    assert p.wait(10) == 1
    assert "max_use = zero" in inst.stderr()
    r = inst.run("petrel", "start")
    assert r.returncode == 1


def test_refuses_root_mail_owner(instances):
    if not H.IS_ROOT:
        pytest.skip("only root can be asked to run as root")
    inst = instances(main_cf={"mail_owner": "root"}, start=False)
    p = inst.start(wait=False)
    assert p.wait(10) == 1
    assert "must be an unprivileged user" in inst.stderr()
    inst2 = instances(main_cf={"mail_owner": "no_such_user_x"}, start=False)
    p = inst2.start(wait=False)
    assert p.wait(10) == 1
    assert "no such user" in inst2.stderr()


def test_queue_directories_created(instances):
    inst = instances(master_cf="")
    uid, gid = H.mail_owner_ids()
    expect = {"maildrop": 0o1730, "incoming": 0o700, "active": 0o700, "deferred": 0o700,
              "hold": 0o700, "corrupt": 0o700, "defer": 0o700, "bounce": 0o700,
              "private": 0o700, "public": 0o710, "pid": 0o755}
    for name, mode in expect.items():
        st = os.stat(os.path.join(inst.queue, name))
        assert st.st_mode & 0o7777 == mode, name
        if name != "pid":
            assert st.st_uid == uid, name
    for h in "0123456789abcdef":
        assert os.path.isdir(os.path.join(inst.queue, "deferred", h))
    assert inst.run("petrel", "check").returncode == 0
    os.chmod(os.path.join(inst.queue, "incoming"), 0o777)
    r = inst.run("petrel", "check")
    assert r.returncode == 1 and "incoming: owner" in r.stderr


def test_second_master_refused(instances):
    port = H.free_port()
    inst = instances(master_cf=echo_service(port))
    r = H.subprocess.run([H.build_path("master/master"), "-f", "-c", inst.etc],
                         capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "already running" in r.stderr


def test_ipv6_listener(instances):
    try:
        port = H.free_port("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    instances(master_cf="[::1]:%d inet n - n - - testsvc echo\n" % port)
    c = LineClient(port, host="::1")
    assert c.line().startswith("HELLO")
    c.close()


# supervision and configuration (issue #13) ---------------------------------------------

import smtplib  # noqa: E402

import qmgr_util  # noqa: E402
import smtpd_util  # noqa: E402
import imapd_util  # noqa: E402


def smtp_served(port, timeout=10):
    """A new SMTP client gets its 220 greeting and a 250 to NOOP (raises otherwise)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
        assert s.noop()[0] == 250
    return True


def smtp_answers(port):
    """smtp_served for wait_for: False instead of an exception."""
    try:
        return smtp_served(port, timeout=3)
    except (OSError, smtplib.SMTPException):
        return False


def ready_smtpd(inst, port):
    """The pids of the smtpd children once one has reported ready (it greets a client)."""
    smtp_served(port)
    return [k["pid"] for k in inst.children("127.0.0.1:%d" % port)]


def test_killed_smtpd_does_not_throttle(instances):
    inst, ports = smtpd_util.smtpd_instance(instances, users=())
    port = ports["smtp"]
    # an idle smtpd that never served a client
    idle = wait_for(lambda: inst.children("127.0.0.1:%d" % port), what="an idle smtpd")
    for k in idle:
        os.kill(k["pid"], signal.SIGKILL)
    wait_for(lambda: all(H.proc_info(k["pid"]) is None for k in idle), timeout=5,
             what="the killed smtpd to be reaped")
    assert smtp_served(port, timeout=5)
    # one in the middle of a session, and every idle one with it
    busy = smtplib.SMTP("127.0.0.1", port, timeout=5)
    busy.ehlo("client.test")
    for k in inst.children("127.0.0.1:%d" % port):
        os.kill(k["pid"], signal.SIGKILL)
    assert wait_for(lambda: smtp_answers(port), timeout=5, what="a new session")
    busy.close()
    assert "throttling" not in inst.log()


def test_broken_main_cf_on_disk_does_not_stop_service(instances):
    inst, ports = smtpd_util.smtpd_instance(instances, users=(), main_cf={"max_use": "1"})
    port = ports["smtp"]
    main_cf = os.path.join(inst.etc, "main.cf")
    smtp_served(port)
    good = open(main_cf).read()
    with open(main_cf, "a") as f:
        f.write("max_use = zero\nno equals sign here\n")
    bad_line = len(good.splitlines()) + 1
    # new children: max_use=1 recycles each one, and killed ones are replaced
    for _ in range(3):
        assert smtp_served(port)
    for k in inst.children("127.0.0.1:%d" % port):
        os.kill(k["pid"], signal.SIGKILL)
    assert wait_for(lambda: smtp_answers(port), timeout=5, what="a new session")
    assert "throttling" not in inst.log()
    assert "error(s) in the configuration" not in inst.log()
    # a reload is refused, with file:line, and the old configuration stays in force
    r = inst.run("petrel", "reload")
    assert r.returncode == 1
    assert "%s:%d: max_use = zero" % (main_cf, bad_line) in r.stderr, r.stderr
    inst.reload()
    inst.wait_log(r"reload failed")
    assert "%s:%d: max_use = zero" % (main_cf, bad_line) in inst.log()
    assert "%s:%d: missing '='" % (main_cf, bad_line + 1) in inst.log()
    for _ in range(2):
        assert smtp_served(port)
    assert "throttling" not in inst.log()


def test_restart_after_master_killed_with_idle_clients(instances):
    smtp = H.free_port()
    inst = imapd_util.imapd_instance(instances, tls=False,
                                     services="127.0.0.1:%d inet n - n - - smtpd\n" % smtp)
    smtpd_util.wait_listening([smtp, inst.imap_port])
    imap = socket.create_connection(("127.0.0.1", inst.imap_port), timeout=10)
    assert imap.recv(1000).startswith(b"* OK")
    s = smtplib.SMTP("127.0.0.1", smtp, timeout=10)
    s.ehlo("client.test")
    # the two busy children and at least one idle one (master may be starting it)
    kids = wait_for(lambda: len(inst.children()) >= 3 and inst.children(),
                    what="three children")
    inst.proc.send_signal(signal.SIGKILL)
    inst.proc.wait()
    # every child, busy with an idle client or not, lets go of the listeners at once
    wait_for(lambda: all(H.proc_info(k["pid"]) is None or
                         H.proc_info(k["pid"])["state"].startswith("Z") for k in kids),
             timeout=2, what="the orphaned children to exit")
    r = inst.run("petrel", "start")
    assert r.returncode == 0, r.stderr
    assert smtp_served(smtp)
    imap2 = socket.create_connection(("127.0.0.1", inst.imap_port), timeout=10)
    assert imap2.recv(1000).startswith(b"* OK")
    imap2.close()
    imap.close()
    s.close()


def test_reload_refuses_no_connection_unix_or_inet(instances):
    inst = qmgr_util.mail_instance(instances)
    sockets = [os.path.join(inst.queue, "public", n) for n in ("showq", "qmgr")]
    wait_for(lambda: all(os.path.exists(p) for p in sockets), what="public sockets")
    smtpd_util.wait_listening([inst.smtp_port])
    errors, counts, stop = [], {"unix": 0, "inet": 0}, threading.Event()

    def hammer_unix(path):
        while not stop.is_set():
            u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                u.settimeout(10)
                u.connect(path)
                counts["unix"] += 1
            except BlockingIOError:
                # a full backlog (EAGAIN): the connection waits, it is not refused
                stop.wait(0.01)
            except OSError as e:
                errors.append("%s: %r" % (path, e))
            finally:
                u.close()

    def hammer_inet():
        while not stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", inst.smtp_port), timeout=10).close()
                counts["inet"] += 1
            except OSError as e:
                errors.append("smtp: %r" % e)

    threads = [threading.Thread(target=hammer_unix, args=(p,)) for p in sockets]
    threads.append(threading.Thread(target=hammer_inet))
    for t in threads:
        t.start()
    try:
        for i in range(4):
            qmgr = wait_for(lambda: inst.children("qmgr"), what="a qmgr")[0]["pid"]
            inst.reload()
            wait_for(lambda: inst.log().count("reload -- version") == i + 1, what="reload")
            # the old qmgr leaves and a new one takes over
            wait_for(lambda: [k for k in inst.children("qmgr") if k["pid"] != qmgr], timeout=20,
                     what="a new qmgr")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert counts["unix"] > 10 and counts["inet"] > 5


def test_smtpd_that_cannot_start_answers_421(instances):
    if not H.IS_ROOT:
        pytest.skip("needs root to take the queue directory away from mail_owner")
    inst, ports = smtpd_util.smtpd_instance(instances, users=())
    port = ports["smtp"]
    smtp_served(port)
    # the environment breaks: mail_owner can no longer enter the queue directory
    os.chmod(inst.queue, 0o700)
    try:
        for k in inst.children("127.0.0.1:%d" % port):
            os.kill(k["pid"], signal.SIGKILL)
        inst.wait_log(r"smtpd\[\d+\]: fatal: chdir")
        # clients get a temporary error at once instead of waiting in the listen queue
        for _ in range(3):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            reply = c.makefile("rb").readline().decode()
            c.close()
            assert reply.startswith("421 4.3.0 mail.petrel.test Service not available"), reply
    finally:
        os.chmod(inst.queue, 0o755)
    assert "throttling" not in inst.log()
    # once the cause is fixed, a reload brings the service back at once
    inst.reload()
    assert wait_for(lambda: smtp_answers(port), timeout=10, what="smtpd to serve again")


def test_failing_starts_with_healthy_children_do_not_throttle(instances):
    port = H.free_port()
    inst = instances(start=False)
    flag = os.path.join(inst.shared, "crash")
    inst.set_master_cf("127.0.0.1:%d inet n - n - - testsvc -o default_process_min_idle=2 "
                       "crashif %s\n" % (port, flag))
    inst.start()
    wait_for(lambda: len(inst.children()) == 2, what="2 children")
    c = LineClient(port)
    assert c.line().startswith("HELLO")
    c.ask("QUIT")
    c.close()
    open(flag, "w").close()
    # keep one healthy child, kill the others: their replacements cannot start
    kids = inst.children()
    for k in kids[1:]:
        os.kill(k["pid"], signal.SIGKILL)
    # replacements fail, more than service_throttle_failures (3) in a row, paced a second
    # apart, while the healthy child keeps serving: no throttle
    inst.wait_log(r"(?s)(crashing at start-up.*){4}", timeout=20)
    c = LineClient(port)
    assert c.line().startswith("HELLO")
    c.close()
    log = inst.log()
    assert "throttling" not in log
    assert log.count("crashing at start-up") <= 8  # no tight respawn loop
    # once start-up works again the pool is whole again
    os.unlink(flag)
    first = LineClient(port)
    assert first.line().startswith("HELLO")
    second = LineClient(port)  # served by a new child: start-up works again
    assert second.line().startswith("HELLO")
    first.close()
    second.close()
