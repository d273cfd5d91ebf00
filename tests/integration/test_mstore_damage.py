"""End-to-end: imapd and popd over a damaged petrel.index or petrel.cache (issue 13 item 10).

A damaged index or cache (truncated, zero-filled, bit-flipped, random bytes, a file of
another format) is found before Berkeley DB reads it and rebuilt from the Maildir: the
session opens, every message is listed through IMAP and POP3, no process crashes (the
instance fixture fails the test on a panic or, with PETREL_SANITIZER_DIR, a sanitizer
report), UIDVALIDITY and the UIDs (so POP3 UIDLs) stay as they were (petrel.uids) and
the damaged index is kept aside as petrel.index.corrupt.<time>.
"""

import imaplib
import os
import poplib
import random
import time

import pytest

import petrel_harness as H
from imapd_util import USERS, deliver, imapd_instance, maildir

N = 120
PAGE = 4096


def truncate(path, n):
    size = os.path.getsize(path)
    os.truncate(path, n if n >= 0 else size + n)


def zero_fill(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.write(b"\0" * size)


def zero_page(path, n):
    with open(path, "r+b") as f:
        f.seek(n * PAGE)
        f.write(b"\0" * PAGE)


def flip_bits(path, seed):
    rnd = random.Random(seed)
    size = os.path.getsize(path)
    assert size > 2 * PAGE
    with open(path, "r+b") as f:
        for _ in range(3):
            at = rnd.randrange(PAGE, size)  # past the meta page's unused tail
            f.seek(at)
            b = f.read(1)[0]
            f.seek(at)
            f.write(bytes([b ^ (1 << rnd.randrange(8))]))


def random_bytes(path, seed):
    rnd = random.Random(seed)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for _ in range(8):
            f.seek(rnd.randrange(0, size - 32))
            f.write(bytes(rnd.randrange(256) for _ in range(32)))


def other_format(path):
    with open(path, "wb") as f:
        f.write(b"petrel index version 7\n" + b"\x07" * 5000)


DAMAGES = [
    ("truncated to 0", lambda p: truncate(p, 0)),
    ("truncated to 100", lambda p: truncate(p, 100)),
    ("truncated mid-page", lambda p: truncate(p, PAGE + 1000)),
    ("one page short", lambda p: truncate(p, -PAGE)),
    ("zero-filled", zero_fill),
    ("second page zeroed", lambda p: zero_page(p, 1)),
    ("bits flipped (seed 1)", lambda p: flip_bits(p, 1)),
    ("bits flipped (seed 2)", lambda p: flip_bits(p, 2)),
    ("random bytes (seed 3)", lambda p: random_bytes(p, 3)),
    ("another format", other_format),
]


def imap_session(inst):
    m = imaplib.IMAP4("127.0.0.1", inst.imap_port, timeout=20)
    m.login("joe@example.com", USERS["joe@example.com"])
    typ, data = m.select("INBOX")
    assert typ == "OK", data
    return m, int(data[0])


def imap_check(inst):
    """SELECT and FETCH every message (filling the cache); returns UIDVALIDITY."""
    m, exists = imap_session(inst)
    assert exists == N
    typ, data = m.fetch("1:*", "(UID FLAGS ENVELOPE RFC822.SIZE)")
    assert typ == "OK"
    assert len([d for d in data if d]) == N
    assert all(b"ENVELOPE" in d for d in data if d)
    typ, data = m.status("INBOX", "(UIDVALIDITY MESSAGES)")
    assert typ == "OK"
    uidv = int(data[0].split(b"UIDVALIDITY ")[1].split(b" ")[0].rstrip(b")"))
    m.logout()
    return uidv


def pop_check(inst, port):
    """STAT, UIDL and RETR; returns the UIDL list."""
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    p.user("joe@example.com")
    p.pass_(USERS["joe@example.com"])
    count, _ = p.stat()
    assert count == N
    uidl = p.uidl()[1]
    assert len(uidl) == N
    assert len(p.retr(N)[1]) > 0
    p.quit()
    return uidl


def wait_past_mtime(path):
    """Damage comes after the last write: let the coarse clock pass the file's mtime."""
    mt = os.stat(path).st_mtime
    H.wait_for(lambda: time.time() > mt + 0.05, timeout=5, what="the clock to pass the mtime")


@pytest.mark.parametrize("fname", ["petrel.index", "petrel.cache"])
def test_damaged_file_rebuilt(instances, fname):
    pport = H.free_port()
    inst = imapd_instance(instances, tls=False,
                          services="127.0.0.1:%d inet n n n - - popd\n" % pport)
    for i in range(N):
        deliver(inst, "From: ann@example.com\nSubject: message %d of a mailbox whose index "
                "and cache span several pages\n\nbody %d\n" % (i, i))
    md = maildir(inst)
    uidv = imap_check(inst)
    uidl = pop_check(inst, pport)
    path = os.path.join(md, fname)
    for what, fn in DAMAGES:
        imap_check(inst)  # a healthy index and a filled cache
        assert os.path.exists(path), what
        wait_past_mtime(path)
        fn(path)
        # UIDVALIDITY and UIDs come back from petrel.uids: no client downloads again
        assert imap_check(inst) == uidv, what
        assert pop_check(inst, pport) == uidl, what
        assert imap_check(inst) == uidv, what
    inst.wait_log(r"%s is damaged" % fname.replace(".", r"\."), timeout=5)
    if fname == "petrel.index":
        assert [f for f in os.listdir(md) if f.startswith("petrel.index.corrupt.")]
