"""petrel_harness - start real Petrel instances for end-to-end tests.

An Instance is a self-contained Petrel: its own configuration directory,
queue directory and mail log under a fresh temporary directory, listening
on free loopback ports. Run as root (as CI is), it uses a real unprivileged
mail_owner ("petreltest", created on demand) so that every test exercises
the real privilege drop. Run as an ordinary user, everything runs as that
user, as master documents.

Only the Python standard library is used here.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.path.abspath(os.environ.get("PETREL_BUILD", os.path.join(SRC, "build")))

IS_ROOT = os.geteuid() == 0
TEST_USER = "petreltest"
TEST_GROUP = "petreltestdrop"
VMAIL_USER = "petreltestvmail"  # owner of the virtual mail store in tests

# daemon programs master may start, by name in master.cf -> path in the build tree
DAEMONS = {
    "master": "master/master",
    "testsvc": "tests/testsvc",
    "smtpd": "smtpd/smtpd",
    "qmgr": "qmgr/qmgr",
    "local": "delivery/local",
    "smtp": "delivery/smtp",
    "pickup": "admin/pickup",
    "popd": "popd/popd",
    "imapd": "imapd/imapd",
}
COMMANDS = {
    "petrel": "admin/petrel",
    "petrel-conf": "admin/petrel-conf",
    "petrel-map": "admin/petrel-map",
}
# test-only programs (tests/Makemodule.am, qmgr/Makemodule.am)
TEST_PROGRAMS = {
    "qinject": "tests/qinject",  # writes queue files into incoming/ as smtpd does
}
# commands that exist only once their issue has landed
OPTIONAL_COMMANDS = {
    "petrel-passwd": "admin/petrel-passwd",
    "sendmail": "admin/sendmail",
    "petrel-queue": "admin/petrel-queue",
    "petrel-super": "admin/petrel-super",
    "petrel-cat": "admin/petrel-cat",
}

SANITIZER_PATTERNS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|panic:")


def build_path(rel):
    return os.path.join(BUILD, rel)


def command(name):
    if name in COMMANDS:
        return build_path(COMMANDS[name])
    return build_path(OPTIONAL_COMMANDS[name])


def ensure_test_user():
    """Create the unprivileged test accounts (root only; safe when several run at once)."""
    if not IS_ROOT:
        return
    try:
        grp.getgrnam(TEST_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", TEST_GROUP], capture_output=True)
        grp.getgrnam(TEST_GROUP)
    for user in (TEST_USER, VMAIL_USER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", "/usr/sbin/nologin", user],
                           capture_output=True)
            pwd.getpwnam(user)
    # mail_owner reads tables that belong to the mail store's group (petrel-passwd)
    vgroup = grp.getgrgid(pwd.getpwnam(VMAIL_USER).pw_gid).gr_name
    if TEST_USER not in grp.getgrnam(vgroup).gr_mem:
        subprocess.run(["usermod", "-aG", vgroup, TEST_USER], capture_output=True)


def vmail_ids():
    """(uid, gid) that owns virtual mailboxes in tests."""
    if IS_ROOT:
        pw = pwd.getpwnam(VMAIL_USER)
        return pw.pw_uid, pw.pw_gid
    return os.geteuid(), os.getegid()


def mail_owner_ids():
    """(uid, gid) the daemons should run as."""
    if IS_ROOT:
        pw = pwd.getpwnam(TEST_USER)
        return pw.pw_uid, pw.pw_gid
    return os.geteuid(), os.getegid()


_ports_given = set()


def free_port(host="127.0.0.1"):
    """A port free now on host, never one this process handed out before (the kernel may
    give the same ephemeral port to two calls in a row, and then two services of one
    instance would collide)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(1000):
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no unused free port on %s" % host)


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def proc_info(pid):
    """dict(pid, ppid, uid, gid, cmdline) of a process, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().split(b"\0")
    except OSError:
        return None
    info = {"pid": pid, "cmdline": [c.decode(errors="replace") for c in cmd if c]}
    for line in status.splitlines():
        key, _, val = line.partition(":")
        if key == "PPid":
            info["ppid"] = int(val)
        elif key == "Uid":
            info["uid"] = int(val.split()[0])
            info["euid"] = int(val.split()[1])
        elif key == "Gid":
            info["gid"] = int(val.split()[0])
        elif key == "State":
            info["state"] = val.strip()
    return info


def all_processes():
    for name in os.listdir("/proc"):
        if name.isdigit():
            info = proc_info(int(name))
            if info and not info.get("state", "").startswith("Z"):
                yield info


class Instance:
    """One Petrel instance in a temporary directory."""

    def __init__(self, main_cf=None, master_cf="", name="petrel"):
        ensure_test_user()
        self.root = tempfile.mkdtemp(prefix="petrel-it-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.etc = os.path.join(self.root, "etc")
        self.queue = os.path.join(self.root, "queue")
        self.libexec = os.path.join(self.root, "libexec")
        self.maillog = os.path.join(self.root, "maillog")
        self.stderr_path = os.path.join(self.root, "master.stderr")
        self.shared = os.path.join(self.root, "shared")  # writable by the daemons
        for d in (self.etc, self.libexec, self.shared):
            os.makedirs(d)
        os.chmod(self.shared, 0o777)
        for prog, rel in DAEMONS.items():
            if os.path.exists(build_path(rel)):
                os.symlink(build_path(rel), os.path.join(self.libexec, prog))
        self.main_cf = {
            "queue_directory": self.queue,
            "daemon_directory": self.libexec,
            "maillog_file": self.maillog,
            "inet_interfaces": "127.0.0.1",
            "myhostname": "mail.petrel.test",
            "mydomain": "petrel.test",
        }
        if IS_ROOT:
            self.main_cf["mail_owner"] = TEST_USER
            self.main_cf["setgid_group"] = TEST_GROUP
        self.main_cf.update(main_cf or {})
        self.master_cf = master_cf
        self.proc = None
        self.write_config()

    # configuration -------------------------------------------------------
    def write_config(self):
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("# generated by the test harness\n")
            for k, v in self.main_cf.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(self.master_cf)

    def set_master_cf(self, text):
        self.master_cf = text
        self.write_config()

    # running -------------------------------------------------------------
    @property
    def pid_file(self):
        return os.path.join(self.queue, "pid", "master.pid")

    def start(self, wait=True):
        """Start master in the foreground as a child of the test."""
        err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([build_path(DAEMONS["master"]), "-f", "-c", self.etc],
                                     stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        err.close()
        if wait:
            wait_for(lambda: self.master_pid() or self.proc.poll() is not None,
                     what="master to start")
            if self.proc.poll() is not None:
                raise AssertionError("master exited with %s:\n%s" % (self.proc.returncode,
                                                                      self.stderr()))
            self.wait_ready()
        return self.proc

    def wait_ready(self):
        """master has written its pid file, so every listener is open: a client that
        connects now waits in the backlog until a child serves it. Tests wait for the
        events they need themselves; this only gives the first children a head start."""
        time.sleep(0.05)

    def master_pid(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def signal(self, sig):
        os.kill(self.master_pid(), sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def reload_and_wait(self, service="qmgr"):
        """Reload, then wait until master has read the configuration and a child of service
        that started after the reload runs (so that it works with the new configuration)."""
        before = {p["pid"] for p in self.children(service)}
        seen = self.log().count("reload -- version")
        self.reload()
        wait_for(lambda: self.log().count("reload -- version") > seen, what="master to reload")
        wait_for(lambda: [p for p in self.children(service) if p["pid"] not in before],
                 timeout=20, what="a new %s after the reload" % service)

    def stop(self, timeout=20):
        pid = self.master_pid()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("master did not stop within %ss" % timeout)
        elif pid and os.path.exists("/proc/%d" % pid):
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), timeout, what="master stop")
        self.proc = None

    def processes(self):
        """Live processes belonging to this instance (master and children)."""
        mine = []
        for info in all_processes():
            cmd = info["cmdline"]
            if self.etc in cmd or any(a.startswith(self.etc) for a in cmd):
                mine.append(info)
        return mine

    def children(self, service=None):
        """Children of master, optionally only those of one service name."""
        mpid = self.master_pid()
        out = []
        for info in self.processes():
            if info.get("ppid") != mpid:
                continue
            cmd = info["cmdline"]
            if service is not None:
                try:
                    if cmd[cmd.index("-n") + 1] != service:
                        continue
                except (ValueError, IndexError):
                    continue
            out.append(info)
        return out

    def kill_all(self):
        for info in self.processes():
            try:
                os.kill(info["pid"], signal.SIGKILL)
            except OSError:
                pass

    # tools ---------------------------------------------------------------
    def run(self, cmd, *args, input=None, check=False, env=None):
        """Run an admin command against this instance's configuration."""
        argv = [command(cmd), "-c", self.etc] + list(args)
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(argv, input=input, capture_output=True, text=True,
                              check=check, env=e, timeout=60)

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout, what="log line /%s/" % pattern)

    def sanitizer_reports(self):
        text = self.log() + self.stderr()
        return [l for l in text.splitlines() if SANITIZER_PATTERNS.search(l)]

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


class LineClient:
    """A tiny line-based client for the test service."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def line(self):
        data = self.file.readline()
        if not data:
            raise EOFError("connection closed")
        return data.decode().rstrip("\r\n")

    def has_data(self, timeout):
        """Whether the server sent something within timeout seconds (nothing is consumed)."""
        import select
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def ask(self, text):
        self.send(text)
        return self.line()

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass
