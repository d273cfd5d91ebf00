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
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
from benchlib import log  # noqa: E402


def timed_run(srv, sessions, count, size):
    sampler = B.Sampler(srv.root_pid())
    sampler.start()
    t0 = time.monotonic()
    r = subprocess.run(B.smtp_source(srv.port, sessions, count, size), capture_output=True,
                       text=True, timeout=1800)
    dt = time.monotonic() - t0
    sampler.finish()
    if r.returncode != 0 or r.stderr.strip():
        log("%s: smtp-source: rc=%d %s" % (srv.name, r.returncode, r.stderr.strip()[-500:]))
    return {"rate": count / dt, "secs": dt, "pss_smtpd_kib": sampler.peak_smtpd,
            "pss_total_kib": sampler.peak_total, "nsmtpd": sampler.peak_nsmtpd,
            "rc": r.returncode}


def run_case(srv, size, sessions, count, reps):
    srv.start()
    try:
        subprocess.run(B.smtp_source(srv.port, sessions, 2 * sessions, size),
                       capture_output=True, timeout=600)  # warm-up: start the pool, fill caches
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
    ap.add_argument("--build", default=os.path.join(B.SRC, "build"))
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="1024 65536")
    ap.add_argument("--sessions", default="1 10 50")
    ap.add_argument("--servers", default="petrel postfix")
    ap.add_argument("--json", help="write all runs here")
    a = ap.parse_args()
    B.check_prereqs()
    servers = []
    for name in a.servers.split():
        servers.append(B.Petrel(os.path.abspath(a.build)) if name == "petrel" else B.Postfix())
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
    B.print_table(results, names, [("%s smtpd PSS", lambda s: "%.1f" % s["pss_smtpd"]),
                                   ("%s total PSS", lambda s: "%.1f" % s["pss_total"])])


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
