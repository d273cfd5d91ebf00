#!/usr/bin/env python3
"""smtp_e2e.py - end to end: messages/s from the first SMTP connect until the last file is
in the Maildir, Petrel next to Postfix.

For each message size and number of concurrent sessions, the two servers take turns: a
fresh private instance (benchlib.py) is started, warmed up (2 messages per session, untimed,
delivered), then driven by Postfix's smtp-source (one message per connection) for --reps
timed runs. A run's rate is N / (time from the start of smtp-source until N files are in
the Maildir's new/). Both servers fsync the queue file before the 250 and the Maildir file
and new/ before reporting a delivery (Postfix: cleanup and virtual(8); Petrel: smtpd and
local).

Also reported per run: the accept rate (until smtp-source exits), the CPU seconds the
server's process tree used per message (user+system, reaped workers included), the
machine's CPU busy share, and the peak PSS of the server's process tree.

Run as root. The machine is shared: compare the two columns of one run.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402


def delivered(srv):
    return B.count_files(os.path.join(srv.maildir, "new")) + \
        B.count_files(os.path.join(srv.maildir, "cur"))


def timed_run(srv, sessions, count, size, timeout):
    sampler = B.Sampler(srv.root_pid())
    sampler.start()
    cpu0, busy0 = B.tree_cpu(srv.root_pid()), B.machine_busy()
    t0 = time.monotonic()
    r = subprocess.run(B.smtp_source(srv.port, sessions, count, size), capture_output=True,
                       text=True, timeout=timeout)
    t_accept = time.monotonic() - t0
    deadline = time.monotonic() + timeout
    while delivered(srv) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    t_e2e = time.monotonic() - t0
    cpu1, busy1 = B.tree_cpu(srv.root_pid()), B.machine_busy()
    sampler.finish()
    got = delivered(srv)
    if r.returncode != 0 or r.stderr.strip():
        B.log("%s: smtp-source: rc=%d %s" % (srv.name, r.returncode, r.stderr.strip()[-500:]))
    if got != count:
        B.log("%s: WARNING: %d of %d messages delivered" % (srv.name, got, count))
    return {"rate": count / t_e2e, "accept_rate": count / t_accept, "secs": t_e2e,
            "delivered": got, "cpu_ms_per_msg": 1000 * (cpu1 - cpu0) / count,
            "busy": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
            "pss_total_kib": sampler.peak_total, "rc": r.returncode}


def run_case(srv, size, sessions, count, reps, timeout):
    srv.start()
    try:
        subprocess.run(B.smtp_source(srv.port, sessions, 2 * sessions, size),
                       capture_output=True, timeout=600)  # warm-up: pools, caches
        runs = []
        for rep in range(reps):
            srv.clear()
            subprocess.run(["sync"])
            time.sleep(1)
            res = timed_run(srv, sessions, count, size, timeout)
            runs.append(res)
            B.log("%s %dB x%d rep %d: %.0f msg/s e2e (accept %.0f), %.2f ms CPU/msg, "
                  "busy %.0f%%, PSS %.1f MiB" % (srv.name, size, sessions, rep + 1, res["rate"],
                                                 res["accept_rate"], res["cpu_ms_per_msg"],
                                                 100 * res["busy"],
                                                 res["pss_total_kib"] / 1024))
        text = srv.log_text()
        bad = [l for l in text.splitlines() if "status=deferred" in l or "status=bounced" in l]
        if bad:
            B.log("%s: %d deferred/bounced, e.g. %s" % (srv.name, len(bad), bad[0]))
        return runs
    finally:
        srv.stop()


def summary(runs):
    def med(k):
        return statistics.median(r[k] for r in runs)
    rates = [r["rate"] for r in runs]
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "accept": med("accept_rate"), "cpu": med("cpu_ms_per_msg"), "busy": med("busy"),
            "pss_total": max(r["pss_total_kib"] for r in runs) / 1024,
            "all_delivered": all(r["delivered"] >= r.get("count", 0) for r in runs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(B.SRC, "build"))
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="1024 65536")
    ap.add_argument("--sessions", default="10 50")
    ap.add_argument("--servers", default="petrel postfix")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--json", help="write all runs here")
    a = ap.parse_args()
    B.check_prereqs()
    servers = []
    for name in a.servers.split():
        servers.append(B.Petrel(os.path.abspath(a.build), mode="maildir") if name == "petrel"
                       else B.Postfix(mode="maildir"))
    results = []
    for size in [int(x) for x in a.sizes.split()]:
        for sess in [int(x) for x in a.sessions.split()]:
            row = {"size": size, "sessions": sess}
            for srv in servers:
                runs = run_case(srv, size, sess, a.count, a.reps, a.timeout)
                row[srv.name] = summary(runs)
                row[srv.name + "_runs"] = runs
            results.append(row)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    names = [s.name for s in servers]
    print("\nmsgs/s end to end (median of %d runs of %d messages, min-max); CPU ms per message "
          "of the server's processes; peak PSS MiB of its process tree" % (a.reps, a.count))
    B.print_table(results, names, [("%s CPU ms/msg", lambda s: "%.2f" % s["cpu"]),
                                   ("%s PSS", lambda s: "%.0f" % s["pss_total"])])


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
