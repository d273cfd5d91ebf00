"""benchlib - what the SMTP benchmarks share: private Petrel and Postfix instances,
smtp-source, and sampling of memory and CPU of a process tree.

- Petrel: an instance of tests/integration/petrel_harness.py (its own configuration,
  queue and log under /tmp, started as root with the unprivileged test users) with
  smtpd only ("accept") or smtpd + qmgr + local/virtual delivery into a Maildir ("maildir").
- Postfix (Debian's package): a private instance on 127.0.0.1:12525 with its own
  configuration, queue and data directories, the discard(8) transport ("accept") or
  virtual(8) into a Maildir ("maildir"); fsync is always on in Postfix. Stock defaults
  otherwise, as in ../shared/bench/smtp_throughput.sh.

Both deliver to benchuser@bench.local; the Maildir belongs to the mail store's user.
Only processes started here are stopped, by PID. Python 3 standard library only.
"""

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

PFX_PORT = 12525
RCPT = "benchuser@bench.local"
SENDER = "sender@client.example"
CLK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# processes -------------------------------------------------------------------------------

def proc_tree(root):
    """PIDs of root and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, ()))
    return out


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def tree_cpu(root):
    """CPU seconds used by a process tree so far: user+system of the live processes and
    of the children they reaped (master reaps its pool, so exited workers count)."""
    total = 0
    for p in proc_tree(root):
        try:
            with open("/proc/%d/stat" % p) as f:
                s = f.read()
        except OSError:
            continue
        f = s[s.rfind(")") + 2:].split()
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK


def machine_busy():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


class Sampler(threading.Thread):
    """Peak PSS of a process tree (and of its processes named 'smtpd'), every 0.25 s."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root = root
        self.stop_ev = threading.Event()
        self.peak_total = self.peak_smtpd = self.peak_nsmtpd = 0

    def run(self):
        while not self.stop_ev.is_set():
            total = smtpd = n = 0
            for p in proc_tree(self.root):
                v = pss_kib(p)
                total += v
                if comm(p) == "smtpd":
                    smtpd += v
                    n += 1
            self.peak_total = max(self.peak_total, total)
            self.peak_smtpd = max(self.peak_smtpd, smtpd)
            self.peak_nsmtpd = max(self.peak_nsmtpd, n)
            self.stop_ev.wait(0.25)

    def finish(self):
        self.stop_ev.set()
        self.join()


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on port %d" % port)


def smtp_source(port, sessions, count, size):
    """Postfix's load generator: one message per connection, as a real MX sees it."""
    return ["smtp-source", "-4", "-s", str(sessions), "-m", str(count), "-l", str(size), "-M",
            "bench-client.example", "-f", SENDER, "-t", RCPT, "-S", "bench",
            "127.0.0.1:%d" % port]


def count_files(directory):
    n = 0
    try:
        with os.scandir(directory) as it:
            for e in it:
                if not e.name.startswith("."):
                    n += 1
    except FileNotFoundError:
        pass
    return n


def empty_dir(directory):
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(os.path.join(directory, n))
        except OSError:
            pass


def queue_count(queue, subs):
    n = 0
    for sub in subs:
        for _, _, files in os.walk(os.path.join(queue, sub)):
            n += sum(1 for f in files if not f.startswith("."))
    return n


def store_ids():
    """(uid, gid) owning the Maildirs of both servers: the harness's mail store user."""
    import petrel_harness as H
    H.ensure_test_user()
    return H.vmail_ids()


# the servers -----------------------------------------------------------------------------

class Petrel:
    name = "petrel"

    def __init__(self, build, mode="accept", main_cf=None):
        os.environ["PETREL_BUILD"] = build
        import petrel_harness as H
        self.H = H
        self.mode = mode
        self.extra = main_cf or {}
        self.inst = None
        self.port = None

    def start(self):
        H = self.H
        self.port = H.free_port()
        cf = {
            "myhostname": "bench-mx.bench.local",
            "mydomain": "bench.local",
            "mynetworks": "127.0.0.0/8",
            "virtual_mailbox_domains": "bench.local",
            "virtual_mailbox_maps": "inline:{ %s=benchuser/Maildir/ }" % RCPT,
        }
        master = "127.0.0.1:%d inet n - n - - smtpd\n" % self.port
        if self.mode == "maildir":
            master += ("qmgr      unix  n       -       n       300     1       qmgr\n"
                       "virtual   unix  -       n       n       -       -       local\n")
        cf.update(self.extra)
        self.inst = H.Instance(main_cf=cf, master_cf=master)
        if self.mode == "maildir":
            uid, gid = store_ids()
            base = os.path.join(self.inst.root, "vmail")
            os.makedirs(os.path.join(base, "benchuser"))
            for d in (base, os.path.join(base, "benchuser")):
                os.chown(d, uid, gid)
            self.inst.main_cf.update({"virtual_mailbox_base": base,
                                      "virtual_uid_maps": "static:%d" % uid,
                                      "virtual_gid_maps": "static:%d" % gid})
            self.inst.write_config()
            self.maildir = os.path.join(base, "benchuser", "Maildir")
        self.inst.start()
        wait_port(self.port)

    def root_pid(self):
        return self.inst.master_pid()

    def queued(self):
        return queue_count(self.inst.queue, ("incoming", "active", "deferred"))

    def clear(self):
        """Between runs: accept mode removes the queue files, maildir mode waits for an
        empty queue and empties the Maildir."""
        if self.mode == "accept":
            empty_dir(os.path.join(self.inst.queue, "incoming"))
            return
        for _ in range(600):
            if self.queued() == 0:
                break
            time.sleep(0.1)
        for sub in ("new", "cur", "tmp"):
            empty_dir(os.path.join(self.maildir, sub))

    def accepted(self):
        import smtpd_util as U
        return len(U.committed_files_fast(self.inst))

    def log_text(self):
        return self.inst.log()

    def stop(self):
        self.inst.stop()
        self.inst.cleanup()


POSTFIX_MASTER_CF = """127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    name = "postfix"

    def __init__(self, mode="accept"):
        self.mode = mode
        self.dir = None
        self.port = PFX_PORT
        self.master = None

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="bench-pfx-", dir="/tmp")
        etc, q, data = (os.path.join(self.dir, x) for x in ("etc", "queue", "data"))
        for d in (etc, q, data):
            os.makedirs(d)
        os.chmod(self.dir, 0o755)
        shutil.chown(data, "postfix", "postfix")
        os.chmod(data, 0o700)
        with open(os.path.join(etc, "vmailbox"), "w") as f:
            f.write("%s benchuser/Maildir/\n" % RCPT)
        if self.mode == "maildir":
            uid, gid = store_ids()
            base = os.path.join(self.dir, "vmail")
            os.makedirs(os.path.join(base, "benchuser"))
            for d in (base, os.path.join(base, "benchuser")):
                os.chown(d, uid, gid)
            self.maildir = os.path.join(base, "benchuser", "Maildir")
            delivery = ("virtual_mailbox_base = %s\nvirtual_uid_maps = static:%d\n"
                        "virtual_gid_maps = static:%d\nvirtual_mailbox_limit = 0\n"
                        "virtual_minimum_uid = 1\n" % (base, uid, gid))
        else:
            delivery = "virtual_transport = discard\n"
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write("""compatibility_level = 3.6
config_directory = {etc}
queue_directory = {q}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = bench-mx.bench.local
mydomain = bench.local
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
smtpd_banner = $myhostname ESMTP
mydestination = localhost
virtual_mailbox_domains = bench.local
virtual_mailbox_maps = texthash:{etc}/vmailbox
default_transport = error
""".format(etc=etc, q=q, data=data, dir=self.dir) + delivery)
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(port=self.port))
        subprocess.run(["postfix", "-c", etc, "check"], capture_output=True)
        r = subprocess.run(["postfix", "-c", etc, "start"], capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("postfix start failed: %s" % r.stderr)
        pidf = os.path.join(q, "pid", "master.pid")
        for _ in range(100):
            try:
                self.master = int(open(pidf).read().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        wait_port(self.port)

    def root_pid(self):
        return self.master

    def queued(self):
        return queue_count(os.path.join(self.dir, "queue"),
                           ("maildrop", "incoming", "active", "deferred", "hold"))

    def clear(self):
        for _ in range(600):
            if self.queued() == 0:
                break
            time.sleep(0.1)
        else:
            log("postfix: queue not empty after 60 s")
        if self.mode == "maildir":
            for sub in ("new", "cur", "tmp"):
                empty_dir(os.path.join(self.maildir, sub))

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def accepted(self):
        return sum(1 for l in self.log_text().splitlines()
                   if "status=sent" in l and "discard" in l)

    def stop(self):
        subprocess.run(["postfix", "-c", os.path.join(self.dir, "etc"), "stop"],
                       capture_output=True)
        for _ in range(100):
            if not os.path.exists("/proc/%d" % self.master):
                break
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


def check_prereqs():
    if os.geteuid() != 0:
        raise SystemExit("run as root (private Postfix instance, unprivileged mail_owner)")
    if shutil.which("smtp-source") is None:
        raise SystemExit("smtp-source not found: apt-get install postfix")
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        raise SystemExit("no postfix user: apt-get install postfix")


def print_table(results, names, extra):
    """Markdown table of result rows (size, sessions, then per server "median/min/max"
    msg/s, Petrel/Postfix ratio when there are two servers); extra is a list of
    (column header with %s for the server name, function of that server's summary)."""
    hdr = "| size | sessions | " + " | ".join("%s msg/s" % n for n in names)
    if len(names) == 2:
        hdr += " | ratio"
    hdr += " | " + " | ".join(" | ".join(h % n for h, _ in extra) for n in names) + " |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for row in results:
        cells = ["%d KiB" % (row["size"] // 1024), str(row["sessions"])]
        for n in names:
            s = row[n]
            cells.append("%.0f (%.0f-%.0f)" % (s["median"], s["min"], s["max"]))
        if len(names) == 2:
            cells.append("%.2fx" % (row[names[0]]["median"] / row[names[1]]["median"]))
        for n in names:
            cells.extend(f(row[n]) for _, f in extra)
        print("| " + " | ".join(cells) + " |")
