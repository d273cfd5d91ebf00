#!/usr/bin/env python3
"""smtp_accept.py - messages/s accepted into the queue: Petrel smtpd next to Postfix.

For each message size and number of concurrent sessions, and for each server in turn, a
fresh private instance is started on 127.0.0.1, warmed up (2 messages per session, untimed),
then driven by Postfix's smtp-source (one message per connection, as a real MX sees it) for
--reps timed runs. The accept rate is messages / wall time until smtp-source exits; every run
also checks that every message was accepted.

- Petrel: master + smtpd only (no qmgr): each accepted message is a complete, fsync'ed queue
  file in incoming/ (the files are removed between runs).
- Postfix (Debian's package): a private instance with fsync (always on in Postfix) and the
  discard(8) transport, so that delivery costs next to nothing and in_flow_delay never stalls
  the SMTP server.

Memory: the peak PSS (proportional set size, /proc/PID/smaps_rollup) of the processes named
"smtpd", and of the whole process tree of each server, sampled every 0.25 s. Postfix's smtpd
hands each message to cleanup(8), so its tree total is the fair comparison too.

Run as root (private Postfix, unprivileged mail_owner); needs postfix (smtp-source) installed.
The machine is shared: compare the two columns of one run, not runs of different days.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
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


def log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


# memory sampling ---------------------------------------------------------------------------

def proc_tree(root):
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


class Sampler(threading.Thread):
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


# the servers -----------------------------------------------------------------------------

class Petrel:
    name = "petrel"

    def __init__(self, build):
        os.environ["PETREL_BUILD"] = build
        import petrel_harness as H
        self.H = H
        self.inst = None
        self.port = None

    def start(self):
        H = self.H
        self.port = H.free_port()
        self.inst = H.Instance(main_cf={
            "myhostname": "bench-mx.bench.local",
            "mydomain": "bench.local",
            "mynetworks": "127.0.0.0/8",
            "virtual_mailbox_domains": "bench.local",
            "virtual_mailbox_maps": "inline:{ %s=benchuser/Maildir/ }" % RCPT,
        }, master_cf="127.0.0.1:%d inet n - n - - smtpd\n" % self.port)
        self.inst.start()
        wait_port(self.port)

    def root_pid(self):
        return self.inst.master_pid()

    def clear(self):
        d = os.path.join(self.inst.queue, "incoming")
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))

    def accepted(self):
        import smtpd_util as U
        return len(U.committed_files_fast(self.inst))

    def stop(self):
        self.inst.stop()
        self.inst.cleanup()


class Postfix:
    name = "postfix"

    def __init__(self):
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
virtual_transport = discard
default_transport = error
""".format(etc=etc, q=q, data=data, dir=self.dir))
        with open(os.path.join(etc, "master.cf"), "w") as f:
            f.write("""127.0.0.1:{port} inet n - n - - smtpd
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
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""".format(port=self.port))
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

    def queue_count(self):
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.dir, "queue", sub)):
                n += len(files)
        return n

    def clear(self):
        for _ in range(600):
            if self.queue_count() == 0:
                return
            time.sleep(0.1)
        log("postfix: queue not empty after 60 s")

    def accepted(self):
        with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
            return sum(1 for l in f if "status=sent" in l and "discard" in l)

    def stop(self):
        subprocess.run(["postfix", "-c", os.path.join(self.dir, "etc"), "stop"],
                       capture_output=True)
        for _ in range(100):
            if not os.path.exists("/proc/%d" % self.master):
                break
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_port(port):
    import socket
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on port %d" % port)


def smtp_source(port, sessions, count, size):
    return ["smtp-source", "-4", "-s", str(sessions), "-m", str(count), "-l", str(size), "-M",
            "bench-client.example", "-f", SENDER, "-t", RCPT, "-S", "bench",
            "127.0.0.1:%d" % port]


def timed_run(srv, sessions, count, size):
    sampler = Sampler(srv.root_pid())
    sampler.start()
    t0 = time.monotonic()
    r = subprocess.run(smtp_source(srv.port, sessions, count, size), capture_output=True,
                       text=True, timeout=1800)
    dt = time.monotonic() - t0
    sampler.stop_ev.set()
    sampler.join()
    if r.returncode != 0 or r.stderr.strip():
        log("%s: smtp-source: rc=%d %s" % (srv.name, r.returncode, r.stderr.strip()[-500:]))
    return {"rate": count / dt, "secs": dt, "pss_smtpd_kib": sampler.peak_smtpd,
            "pss_total_kib": sampler.peak_total, "nsmtpd": sampler.peak_nsmtpd,
            "rc": r.returncode}


def run_case(srv, size, sessions, count, reps):
    srv.start()
    try:
        subprocess.run(smtp_source(srv.port, sessions, 2 * sessions, size), capture_output=True,
                       timeout=600)  # warm-up: start the pool, fill caches
        runs = []
        for rep in range(reps):
            time.sleep(0.5)
            srv.clear()
            base = srv.accepted()
            subprocess.run(["sync"])
            time.sleep(1)
            res = timed_run(srv, sessions, count, size)
            if srv.name == "postfix":
                srv.clear()  # wait until discarded, so "accepted" can be counted
            got = srv.accepted() - base
            res["accepted"] = got
            if got != count:
                log("%s: WARNING: %d of %d messages accepted" % (srv.name, got, count))
            runs.append(res)
            log("%s %dB x%d rep %d: %.0f msg/s, smtpd PSS %.1f MiB (%d procs), tree PSS %.1f MiB"
                % (srv.name, size, sessions, rep + 1, res["rate"], res["pss_smtpd_kib"] / 1024,
                   res["nsmtpd"], res["pss_total_kib"] / 1024))
        return runs
    finally:
        srv.stop()


def summary(runs):
    rates = [r["rate"] for r in runs]
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "pss_smtpd": max(r["pss_smtpd_kib"] for r in runs) / 1024,
            "pss_total": max(r["pss_total_kib"] for r in runs) / 1024,
            "all_accepted": all(r["accepted"] == r.get("expect", r["accepted"]) for r in runs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="1024 65536")
    ap.add_argument("--sessions", default="1 10 50")
    ap.add_argument("--servers", default="petrel postfix")
    ap.add_argument("--json", help="write all runs here")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (private Postfix instance, unprivileged mail_owner)")
    if shutil.which("smtp-source") is None:
        raise SystemExit("smtp-source not found: apt-get install postfix")
    servers = []
    for name in a.servers.split():
        servers.append(Petrel(os.path.abspath(a.build)) if name == "petrel" else Postfix())
    results = []
    for size in [int(x) for x in a.sizes.split()]:
        for sess in [int(x) for x in a.sessions.split()]:
            row = {"size": size, "sessions": sess}
            for srv in servers:
                runs = run_case(srv, size, sess, a.count, a.reps)
                row[srv.name] = summary(runs)
                row[srv.name + "_runs"] = runs
            results.append(row)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print("\nmsgs/s accepted (median of %d runs of %d messages, min-max); peak PSS MiB"
          % (a.reps, a.count))
    names = [s.name for s in servers]
    hdr = "| size | sessions | " + " | ".join("%s msg/s" % n for n in names)
    if len(names) == 2:
        hdr += " | ratio"
    hdr += " | " + " | ".join("%s smtpd PSS | %s total PSS" % (n, n) for n in names) + " |"
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
            cells.append("%.1f" % row[n]["pss_smtpd"])
            cells.append("%.1f" % row[n]["pss_total"])
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
