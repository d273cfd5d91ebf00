"""End-to-end tests of imapd against denial of service by costly commands (issue #13):

* sequence sets are normalised (sorted, merged) before they are expanded, so that
  "FETCH 1:*,1:*,..." as long as imapd_command_size_limit allows costs what "FETCH 1:*"
  does, in every command that takes a set (FETCH, STORE, COPY, MOVE, SEARCH with a set
  key, their UID forms, UID EXPUNGE);
* SEARCH decodes each message at most once whatever its BODY/TEXT keys, refuses more
  keys than imapd_search_key_limit and more CPU time than imapd_search_cpu_limit with
  NO [LIMIT] (the session goes on), and stops when the client has gone.

The cost is measured on the imapd process serving the connection (found with ss):
its peak memory (VmHWM in /proc/PID/status, reset through /proc/PID/clear_refs before
the command) and CPU time (/proc/PID/schedstat)."""

import os
import re
import socket
import subprocess
import time

import pytest

import petrel_harness as H
from imapd_util import USERS, RawIMAP, imapd_instance, maildir

JOE, JOE_PW = "joe@example.com", USERS["joe@example.com"]


# ---- helpers ---------------------------------------------------------------------

_seq = [0]


def fill(inst, n, body=b"hello\n", folder=None, subject="m"):
    """n messages written straight into new/ (as local delivery leaves them)."""
    vuid, vgid = H.vmail_ids()
    path = maildir(inst, JOE, folder)
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for d, _, _ in os.walk(inst.vmail):
        os.chown(d, vuid, vgid)
    new = os.path.join(path, "new")
    t = int(time.time())
    for i in range(n):
        _seq[0] += 1
        name = os.path.join(new, "%d.M%07dP%d.fill" % (t, _seq[0], os.getpid()))
        with open(name, "wb") as f:
            f.write(b"From: ann@example.com\nTo: joe@example.com\nSubject: %s %d\n\n"
                    % (subject.encode(), i) + body)
        os.chown(name, vuid, vgid)


def login(inst, timeout=120):
    c = RawIMAP(inst.imap_port, timeout=timeout)
    c.line()
    assert c.cmd("L", 'LOGIN %s "%s"' % (JOE, JOE_PW))[-1].startswith(b"L OK")
    return c


def select(c, box="INBOX"):
    r = c.cmd("S", "SELECT %s" % box)
    assert r[-1].startswith(b"S OK"), r
    return int(next(x for x in r if x.endswith(b" EXISTS")).split()[1])


def serving_pid(c):
    """The imapd process holding the other end of RawIMAP connection c."""
    me = c.sock.getsockname()[1]
    out = subprocess.run(["ss", "-Htnp", "state", "established", "( dport = :%d )" % me],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r'\("imapd",pid=(\d+)', out)
    assert m, "no imapd serves port %d: %r" % (me, out)
    return int(m.group(1))


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^%s:\s+(\d+) kB" % field, f.read(), re.M).group(1))


def reset_peak(pid):
    """Start measuring the peak memory of a process afresh (a pool process may have served
    an earlier session): its resident size now, from which VmHWM starts again."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")  # resets VmHWM to VmRSS (Linux 4.0, proc(5))
    return status_kb(pid, "VmRSS")


def check_peak(pid, rss0, what):
    """The peak memory of the process since reset_peak: under 50 MB, and under 50 MB more
    than before the command (under the sanitizers, whose shadow memory and quarantine make
    the process bigger, only the latter)."""
    hwm = status_kb(pid, "VmHWM")
    print("%s: VmHWM %d kB (VmRSS %d kB before)" % (what, hwm, rss0))
    assert hwm - rss0 < 50 * 1024
    if not os.environ.get("PETREL_SANITIZER_DIR"):
        assert hwm < 50 * 1024


def cpu_s(pid):
    """CPU time of a process so far in seconds (None once it has gone)."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return None


def raw_until_tagged(c, tag):
    """All bytes up to and including the tagged response of tag (for big responses that
    RawIMAP.until_tagged would read line by line), and that tagged line."""
    tag = tag.encode()
    data = c.buf
    c.buf = b""
    while True:
        m = re.search(rb"(?:^|\r\n)(" + re.escape(tag) + rb" [^\r\n]*)\r\n", data[-4096:])
        if m:
            end = len(data) - len(data[-4096:]) + m.end()
            c.buf = data[end:]
            return data[:end], m.group(1)
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        data += chunk


def command_size_limit(inst):
    r = inst.run("petrel-conf", "-h", "imapd_command_size_limit")
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


def longest_set(prefix, suffix, limit, unit="1:*"):
    """The longest "unit,unit,..." such that prefix + set + suffix + CRLF is limit bytes
    at most, and the number of units."""
    room = limit - len(prefix) - len(suffix) - 2
    n = (room + 1) // (len(unit) + 1)
    return ",".join([unit] * n), n


# ---- sequence sets -----------------------------------------------------------------

MESSAGES = 20000


@pytest.fixture(scope="module")
def big(request):
    """One instance with a 20,000-message INBOX and an empty folder, for the whole
    module's set tests (filling and indexing 20,000 messages is the slow part)."""
    made = []

    def make(main_cf=None, master_cf="", start=True):
        inst = H.Instance(main_cf=main_cf, master_cf=master_cf)
        made.append(inst)
        if start:
            inst.start()
        return inst

    inst = imapd_instance(make, tls=False)
    fill(inst, MESSAGES)
    c = login(inst)
    assert select(c) == MESSAGES  # builds the index once
    assert c.cmd("C", "CREATE Dest")[-1].startswith(b"C OK")
    c.close()
    yield inst
    for i in made:
        i.stop()


def test_set_of_16000_ranges_fetch(big):
    """FETCH 1:*,1:*,... at the command-length limit: the memory and CPU of FETCH 1:*."""
    limit = command_size_limit(big)
    c = login(big)
    select(c)
    pid = serving_pid(c)
    prefix, suffix = "f FETCH ", " (UID)"
    seqset, n = longest_set(prefix, suffix, limit)
    assert n > 16000
    rss0 = reset_peak(pid)
    cpu0, t0 = cpu_s(pid), time.monotonic()
    c.send(prefix + seqset + suffix + "\r\n")
    data, tagged = raw_until_tagged(c, "f")
    wall, cpu = time.monotonic() - t0, cpu_s(pid) - cpu0
    assert tagged == b"f OK Fetch completed."
    assert data.count(b" FETCH (UID ") == MESSAGES  # each message once, in order
    assert data.startswith(b"* 1 FETCH (UID 1)\r\n")
    assert b"* %d FETCH (UID %d)\r\n" % (MESSAGES, MESSAGES) in data
    print("FETCH of %d ranges: %.2f s wall, %.2f s CPU" % (n, wall, cpu))
    check_peak(pid, rss0, "FETCH")
    assert cpu < 1.0
    # one range more is over the limit: BAD, and the session goes on
    over = prefix + seqset + ",1:*" + suffix + "\r\n"
    assert len(over) > limit
    c.send(over)
    assert c.line() == b"f BAD command line too long."
    assert c.cmd("n", "NOOP")[-1] == b"n OK NOOP completed."
    c.close()


@pytest.mark.parametrize("prefix,suffix,ok", [
    ("u UID FETCH ", " (FLAGS)", b"u OK Fetch completed."),
    ("u STORE ", " -FLAGS.SILENT (\\Deleted)", b"u OK Store completed."),
    ("u UID STORE ", " -FLAGS.SILENT (\\Deleted)", b"u OK Store completed."),
    ("u SEARCH ", "", b"u OK Search completed."),
    ("u UID SEARCH UID ", "", b"u OK Search completed."),
    ("u SEARCH NOT ", "", b"u OK Search completed."),
])
def test_set_of_16000_ranges_other_commands(big, prefix, suffix, ok):
    """The same set in the other commands that take one: each answers what it answers
    for 1:*, within the same bounds."""
    limit = command_size_limit(big)
    c = login(big)
    select(c)
    pid = serving_pid(c)
    seqset, n = longest_set(prefix, suffix, limit)
    rss0 = reset_peak(pid)
    cpu0 = cpu_s(pid)
    c.send(prefix + seqset + suffix + "\r\n")
    data, tagged = raw_until_tagged(c, "u")
    cpu = cpu_s(pid) - cpu0
    assert tagged == ok
    if "FETCH" in prefix:
        assert data.count(b" FETCH (") == MESSAGES
    if prefix == "u SEARCH NOT ":
        assert data == b"* SEARCH\r\n" + tagged + b"\r\n"
    elif "SEARCH" in prefix:
        assert data.startswith(b"* SEARCH 1 2 3 ")
        assert data.count(b" ") == MESSAGES + 1 + 3  # "* SEARCH", the numbers, "u OK ..."
    print("%s of %d ranges: %.2f s CPU" % (prefix.strip(), n, cpu))
    check_peak(pid, rss0, prefix.strip())
    assert cpu < 1.0
    c.close()


def test_sets_copy_move_expunge(big):
    """COPY, MOVE and UID EXPUNGE of overlapping, repeated and descending ranges act on
    each message once (in a small folder of their own)."""
    fill(big, 10, folder="Small")
    c = login(big)
    assert select(c, "Small") == 10
    r = c.cmd("c", "COPY 9:7,1:2,2:3,*,3,10:9 Dest")
    assert r[-1].startswith(b"c OK [COPYUID "), r
    assert r[-1].split()[4:6] == [b"1:3,7:10", b"1:7]"], r
    r = c.cmd("m", "UID MOVE 4:4294967295,1:* Dest")
    assert r[-1] == b"m OK Move completed."
    assert r[0].startswith(b"* OK [COPYUID ") and r[0].split()[4:6] == [b"1:10", b"8:17]"], r
    assert sum(1 for x in r if x.endswith(b" EXPUNGE")) == 10
    assert select(c, "Dest") == 17
    assert c.cmd("s", "STORE 17:1,1:* +FLAGS.SILENT (\\Deleted)")[-1] == \
        b"s OK Store completed."
    r = c.cmd("x", "UID EXPUNGE 2,2,4:3,1:2,4294967295:15,*")
    assert r[-1] == b"x OK Expunge completed."
    assert [x for x in r if x.endswith(b"EXPUNGE")] == \
        [b"* 1 EXPUNGE", b"* 1 EXPUNGE", b"* 1 EXPUNGE", b"* 1 EXPUNGE",
         b"* 11 EXPUNGE", b"* 11 EXPUNGE", b"* 11 EXPUNGE"]
    # numbers past the end are an error, "*" and 4294967295 as a UID are not
    assert c.cmd("a", "FETCH 1:*,11 FLAGS") == [
        b"a BAD Error in IMAP command FETCH: invalid message number."]
    assert c.cmd("b", "FETCH 4294967295 FLAGS") == [
        b"b BAD Error in IMAP command FETCH: invalid message number."]
    assert c.cmd("c", "FETCH 20:*,*:30 UID") == [b"* 10 FETCH (UID 14)", b"c OK Fetch completed."]
    assert c.cmd("d", "UID FETCH 4294967295 FLAGS") == [b"d OK Fetch completed."]
    assert c.cmd("e", "UID FETCH 4294967295:* UID") == [
        b"* 10 FETCH (UID 14)", b"e OK Fetch completed."]
    c.close()


# ---- SEARCH ------------------------------------------------------------------------

def filler(size, seed=0):
    """size bytes of text lines that contain none of the tests' keys."""
    line = b"lorem ipsum dolor sit amet, consectetur adipiscing elit %07d\n"
    out, i = [], seed
    n = 0
    while n < size:
        s = line % i
        out.append(s)
        n += len(s)
        i += 1
    return b"".join(out)


def search_keys(n, fmt="BODY needle%d"):
    return " ".join(fmt % i for i in range(n))


@pytest.fixture
def searchbox(instances):
    """An instance with the default limits and one 5 MB message whose first line holds
    needle0 ... needle999."""
    inst = imapd_instance(instances, tls=False)
    first = b"needles: " + b" ".join(b"needle%d" % i for i in range(1000)) + b"\n"
    fill(inst, 1, body=first + filler(5 << 20))
    return inst


def test_search_many_body_keys_decode_once(searchbox):
    """1,000 BODY keys (imapd_search_key_limit, the default) on a 5 MB message: the message
    is decoded once, not once per key (that took a CPU-minute)."""
    c = login(searchbox)
    select(c)
    pid = serving_pid(c)
    cpu0, t0 = cpu_s(pid), time.monotonic()
    r = c.cmd("s", "SEARCH " + search_keys(1000))
    wall, cpu = time.monotonic() - t0, cpu_s(pid) - cpu0
    assert r == [b"* SEARCH 1", b"s OK Search completed."]
    print("1000 BODY keys on 5 MB: %.2f s wall, %.2f s CPU" % (wall, cpu))
    assert cpu < 2.0
    # TEXT and BODY together, and a key that does not match: still one decode
    cpu0 = cpu_s(pid)
    r = c.cmd("t", "SEARCH " + search_keys(500, "TEXT needle%d") + " "
              + search_keys(498, "BODY needle%d") + " NOT BODY nowhere-to-be-found")
    assert r == [b"* SEARCH 1", b"t OK Search completed."]
    assert cpu_s(pid) - cpu0 < 2.0
    c.close()


def test_search_key_limit(searchbox):
    """One key more than imapd_search_key_limit: NO [LIMIT], nothing searched, and the session
    goes on. NOT, OR and parenthesised lists count as keys."""
    c = login(searchbox)
    select(c)
    assert c.cmd("a", "SEARCH " + search_keys(1001)) == [
        b"a NO [LIMIT] Too many search keys (1001, at most 1000)."]
    assert c.cmd("b", "SEARCH " + search_keys(499, "NOT BODY x%d") + " (ALL SEEN)") == [
        b"b NO [LIMIT] Too many search keys (1001, at most 1000)."]
    assert c.cmd("c", "SEARCH " + search_keys(499, "NOT BODY x%d") + " (ALL)") == [
        b"* SEARCH 1", b"c OK Search completed."]
    assert c.cmd("d", "NOOP") == [b"d OK NOOP completed."]
    assert c.cmd("e", "SEARCH BODY needle999") == [b"* SEARCH 1", b"e OK Search completed."]
    c.close()


def heavy_mailbox(inst, messages=30, size=1 << 20):
    for i in range(messages):
        fill(inst, 1, body=filler(size, seed=i * 100000))


def test_search_cpu_limit(instances):
    """A SEARCH that needs more CPU time than imapd_search_cpu_limit stops with NO [LIMIT]
    soon after the limit, and the session goes on."""
    inst = imapd_instance(instances, tls=False, main_cf={"imapd_search_cpu_limit": "1s"})
    heavy_mailbox(inst)
    c = login(inst)
    select(c)
    pid = serving_pid(c)
    cpu0 = cpu_s(pid)
    r = c.cmd("s", "SEARCH " + search_keys(500, "NOT BODY zq%dxj"))
    cpu = cpu_s(pid) - cpu0
    print("SEARCH over the CPU limit stopped after %.2f s CPU" % cpu)
    assert r == [b"s NO [LIMIT] Search too costly, stopped (more CPU time than allowed)."]
    assert 1.0 <= cpu < 4.0
    inst.wait_log(r"SEARCH stopped after 1 s of CPU time \(imapd_search_cpu_limit\)")
    assert c.cmd("n", "NOOP") == [b"n OK NOOP completed."]
    assert c.cmd("t", "SEARCH BODY \"amet, consectetur adipiscing elit 0000042\"") == [
        b"* SEARCH 1", b"t OK Search completed."]
    c.close()


def test_search_stops_when_client_goes(instances):
    """A client sends a heavy SEARCH and closes the connection: the imapd process serving
    it stops searching at once (its CPU time stops growing), and ends the session."""
    inst = imapd_instance(instances, tls=False)
    heavy_mailbox(inst)
    c = login(inst)
    select(c)
    pid = serving_pid(c)
    cpu0 = cpu_s(pid)
    c.send("s SEARCH " + search_keys(500, "NOT BODY zq%dxj") + "\r\n")
    H.wait_for(lambda: cpu_s(pid) - cpu0 > 0.5, timeout=30, what="imapd searching")
    c.sock.close()
    closed = time.monotonic()
    inst.wait_log(r"reason=connection closed by client during SEARCH", timeout=10)
    took = time.monotonic() - closed
    spent = cpu_s(pid)
    print("stopped %.2f s after the close, %.2f s CPU in all" % (took, spent - cpu0))
    # the process is idle again (back in the pool, or gone): no more CPU time
    time.sleep(1.0)  # a measurement window, not a synchronisation
    after = cpu_s(pid)
    assert after is None or after - spent < 0.1
    assert "SEARCH stopped: the client has gone" in inst.log()


def test_search_half_closed_client_gets_its_answer(searchbox):
    """A client that sends a long SEARCH and then only half-closes (shutdown(SHUT_WR), as
    "nc -N" does) still reads: the search is not taken for abandoned. imapd sees the FIN,
    writes an untagged OK to find out, and, no reset coming back, finishes and answers."""
    c = login(searchbox)
    select(c)
    c.send("s SEARCH " + search_keys(500, "NOT BODY zq%dxj") + "\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    data = b""
    c.sock.settimeout(60)
    while True:
        chunk = c.sock.recv(65536)
        if not chunk:
            break
        data += chunk
    assert (c.buf + data).split(b"\r\n") == [
        b"* OK Still working.", b"* SEARCH 1", b"s OK Search completed.", b""]
    searchbox.wait_log(r"reason=connection closed by client")
    assert "SEARCH stopped" not in searchbox.log()
    c.close()
