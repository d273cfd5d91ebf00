#!/usr/bin/python3
"""fake_agent - a test-only delivery agent, run by master, speaking lib/global/deliver.h.

master.cf: fake unix - n n - N fakeagent LOGFILE

Behaviour by next hop: "slow*" answers after 0.3 s, "down*" after 0.3 s
with every recipient deferred and dest=fail, "hold*" once LOGFILE.release
exists, anything else at once with every recipient sent. Each request is appended to LOGFILE as a JSON line
(start, end, pid, nexthop, queue_id, recipients) for the tests to analyse;
LOGFILE.started gets a line as soon as a request arrives.
"""

import json
import os
import select
import signal
import socket
import struct
import sys
import time

# lib/global/master_proto.h: status pipe, liveness pipe, main.cf from master, stress pipe, listener
STATUS_FD, LIVE_FD, CONFIG_FD, STRESS_FD, LISTEN_FD = 3, 4, 5, 6, 7
STAT_READY = 2


def unescape(v):
    out = bytearray()
    i = 0
    while i < len(v):
        if v[i:i + 1] == b"%":
            out.append(int(v[i + 1:i + 3], 16))
            i += 3
        else:
            out += v[i:i + 1]
            i += 1
    return out.decode("utf-8", "replace")


def read_message(f):
    attrs = []
    while True:
        line = f.readline()
        if not line:
            return None
        line = line.rstrip(b"\n")
        if not line:
            return attrs
        k, _, v = line.partition(b"=")
        attrs.append((k.decode(), unescape(v)))


def send(conn, pairs):
    conn.sendall("".join("%s=%s\n" % kv for kv in pairs).encode() + b"\n")


def serve(conn, logfile):
    f = conn.makefile("rb")
    send(conn, [("status", "ready"), ("protocol", "petrel-deliver-1")])
    while True:
        req = read_message(f)
        if req is None:
            return
        d = dict(req)
        rcpts = [v for k, v in req if k == "rcpt"]
        start = time.time()
        hop = d.get("nexthop", "")
        with open(logfile + ".started", "a") as lf:  # for tests that wait for a request
            lf.write(json.dumps({"start": start, "pid": os.getpid(), "nexthop": hop}) + "\n")
        if hop.startswith("slow") or hop.startswith("down"):
            time.sleep(0.3)
        while "hold" in hop and not os.path.exists(logfile + ".release"):
            time.sleep(0.05)
        end = time.time()
        with open(logfile, "a") as lf:  # the delivery happened, whether qmgr hears of it or not
            lf.write(json.dumps({"start": start, "end": end, "pid": os.getpid(), "nexthop": hop,
                                 "queue_id": d.get("queue_id"), "rcpts": rcpts}) + "\n")
        for i in range(len(rcpts)):
            if hop.startswith("down"):
                send(conn, [("rcpt", i), ("status", "deferred"), ("dsn", "4.4.1"),
                            ("reason", "connect to %s: Connection refused" % hop)])
            else:
                send(conn, [("rcpt", i), ("status", "sent"), ("dsn", "2.0.0"),
                            ("reason", "ok")])
        send(conn, [("status", "done"), ("dest", "fail" if hop.startswith("down") else "ok")])


def main():
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload: finish what is in progress
    logfile = sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else sys.argv[-1]
    listen = socket.socket(fileno=LISTEN_FD)
    os.write(STATUS_FD, struct.pack("ii", os.getpid(), STAT_READY))
    listen.setblocking(False)
    idle_since = time.time()
    while time.time() - idle_since < 30:
        r, _, _ = select.select([listen, LIVE_FD], [], [], 1)
        if LIVE_FD in r:
            return
        if listen not in r:
            continue
        try:
            conn, _ = listen.accept()
        except BlockingIOError:
            continue
        conn.setblocking(True)
        os.write(STATUS_FD, struct.pack("ii", os.getpid(), 1))
        try:
            serve(conn, logfile)
        except (OSError, ValueError):
            pass
        conn.close()
        os.write(STATUS_FD, struct.pack("ii", os.getpid(), 0))
        idle_since = time.time()


if __name__ == "__main__":
    main()
