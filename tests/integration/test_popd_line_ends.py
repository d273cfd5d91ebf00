"""End-to-end tests of what RETR and TOP send for stored messages with odd line ends (issue 13.4).

A message in the store may hold bare CRs, bare LFs, a CR at its very end,
".\\r" at the start of a line, or NUL bytes (IMAP APPEND, a local delivery of
whatever a program piped in). POP3 must still send only CRLF-ended lines,
byte-stuffed, with the terminating ".\\r\\n" only at the end (RFC 1939 3), and
its sizes (LIST, STAT, "+OK n octets") must be the octets that RETR sends
before byte-stuffing. popd's rule: LF and CRLF end a line (sent as CRLF); a CR
not followed by LF is not a line end (RFC 5322 2.3) and goes out as one space;
a NUL goes out as the octet 0x80 (as imapd does in FETCH). Both keep the size.
"""

import poplib

import petrel_harness as H  # noqa: F401  (harness fixtures via conftest)
from popd_util import USERS, PopSetup, Raw

ODD = [
    # the forgery: a client ending lines at CR would see "+OK injected"
    b"Subject: bare cr\r\n\r\nl1\r.\r+OK injected\r\n",
    b"Subject: bare lf\n\nline one\n.dot line\n.\nlast\n",
    b"Subject: cr at end\r\n\r\nlast line\r",
    b"Subject: dot cr\r\n\r\n.\r\n.\rX\r\n..\r\n.\r",
    b"Subject: nul\r\n\r\na\x00b\r\n\x00\r\n",
    b"Subject: mixed\n\r\n\r\r\n.\r.\n\r\rx\n\r",
    b"Subject: cr cr\r\r\n\r\nbody\r\r\r\n",
]


def pop3_form(raw):
    """What popd sends for a stored message: its line ends CRLF, a CR not before LF as a
    space, NUL as 0x80, and CRLF added after a last line without a line end."""
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x0D and i + 1 < len(raw) and raw[i + 1] == 0x0A:
            out += b"\r\n"
            i += 2
            continue
        if c == 0x0A:
            out += b"\r\n"
        elif c == 0x0D:
            out += b" "
        elif c == 0:
            out += b"\x80"
        else:
            out.append(c)
        i += 1
    return bytes(out)


def stuff(form):
    """RETR's multi-line body: byte-stuffed, ended by '.' (form already CRLF)."""
    size = len(form)
    if not form.endswith(b"\r\n"):
        form += b"\r\n"
    lines = form.split(b"\r\n")[:-1]
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + \
        b".\r\n", size


def check_lines(body):
    """Every line of a multi-line response ends in CRLF, holds no other CR, LF or NUL, is
    byte-stuffed, and the only '.' line is the last one."""
    assert body.endswith(b"\r\n.\r\n") or body == b".\r\n"
    lines = body.split(b"\r\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    for l in lines:
        assert b"\r" not in l and b"\n" not in l and b"\0" not in l, (l, body)
    assert lines[-1] == b"."
    assert b"." not in lines[:-1], body


def test_retr_and_top_raw_socket(instances):
    ps = PopSetup(instances)
    for m in ODD:
        ps.deliver(m)
    c = Raw(ps.port)
    c.line()
    c.login()
    assert c.cmd("LIST") .startswith("+OK %d messages" % len(ODD))
    sizes = [int(l.split()[1]) for l in c.multi()]
    for i, m in enumerate(ODD, 1):
        want, size = stuff(pop3_form(m))
        # LIST and "+OK n octets" give the octets RETR sends before byte-stuffing
        assert sizes[i - 1] == size, (m, sizes[i - 1], size)
        assert c.cmd("LIST %d" % i) == "+OK %d %d" % (i, size)
        assert c.cmd("RETR %d" % i) == "+OK %d octets" % size
        got = c.raw_multi()
        check_lines(got)
        assert got == want, m
        assert c.cmd("TOP %d 0" % i) == "+OK Top of message follows"
        top = c.raw_multi()
        check_lines(top)
        assert want.startswith(top[:-3]), (top, want)
        assert c.cmd("TOP %d 1000" % i) == "+OK Top of message follows"
        assert c.raw_multi() == want
    # after all that, the session is in step: the next reply is the reply to NOOP
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("QUIT").startswith("+OK")
    c.close()


def test_top_counts_lines_not_bare_crs(instances):
    ps = PopSetup(instances)
    ps.deliver(b"Subject: t\r\n\r\none\rstill one\r\ntwo\r\nthree\r\n")
    c = Raw(ps.port)
    c.line()
    c.login()
    assert c.cmd("TOP 1 1") == "+OK Top of message follows"
    assert c.raw_multi() == b"Subject: t\r\n\r\none still one\r\n.\r\n"
    assert c.cmd("TOP 1 2") == "+OK Top of message follows"
    assert c.raw_multi() == b"Subject: t\r\n\r\none still one\r\ntwo\r\n.\r\n"
    c.cmd("QUIT")
    c.close()


def test_retr_through_poplib(instances):
    ps = PopSetup(instances)
    for m in ODD:
        ps.deliver(m)
    p = poplib.POP3("127.0.0.1", ps.port, timeout=15)
    p.user("joe@example.test")
    p.pass_(USERS["joe@example.test"])
    listing = p.list()[1]
    for i, m in enumerate(ODD, 1):
        form = pop3_form(m)
        resp, lines, octets = p.retr(i)
        assert resp == b"+OK %d octets" % len(form)
        assert int(listing[i - 1].split()[1]) == len(form)
        # poplib splits at LF and strips the CR of CRLF; a raw CR would survive in a line
        for l in lines:
            assert b"\r" not in l and b"\0" not in l, (l, m)
        assert b"+OK injected" not in lines
        want = form[:-2] if form.endswith(b"\r\n") else form
        assert b"\r\n".join(lines) == want, m
        resp, top, _ = p.top(i, 0)
        assert b"\r\n".join(top) == want.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    p.quit()
