"""End-to-end tests of the per-client connection limits and the pre-login timeouts of popd
and imapd (issue 13.8): idle connections from one address must not take every process.

The loopback addresses 127.0.0.2, 127.0.0.3, ... are different clients (a socket bound to
one of them connects to the 127.0.0.1 services). The limits are lowered to 2 and the
exception lists emptied (their default, $mynetworks, holds the loopback net).
"""

import imaplib
import poplib
import re
import socket

import petrel_harness as H
from imapd_util import USERS as IMAP_USERS
from imapd_util import imapd_instance
from popd_util import USERS as POP_USERS
from popd_util import PopSetup


class IMAPFrom(imaplib.IMAP4):
    """imaplib from a chosen local address."""

    def __init__(self, src, port):
        self._src = src
        super().__init__("127.0.0.1", port, timeout=15)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))


class POP3From(poplib.POP3):
    """poplib from a chosen local address."""

    def __init__(self, src, port):
        self._src = src
        super().__init__("127.0.0.1", port, timeout=15)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))


class POP3SFrom(poplib.POP3_SSL):
    """poplib over implicit TLS from a chosen local address."""

    def __init__(self, src, port, ctx):
        self._src = src
        super().__init__("127.0.0.1", port, context=ctx, timeout=15)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))
        return self.context.wrap_socket(sock, server_hostname=self.host)


def raw_greeting(src, port):
    """The first line a client from src gets, and whether the server then closed."""
    s = socket.create_connection(("127.0.0.1", port), 15, source_address=(src, 0))
    f = s.makefile("rb")
    line = f.readline()
    s.settimeout(10)
    try:
        closed = f.readline() == b""
    except OSError:
        closed = False
    s.close()
    return line, closed


IMAP_LIMIT = {"imapd_client_connection_count_limit": "2",
              "imapd_client_event_limit_exceptions": ""}
POP_LIMIT = {"popd_client_connection_count_limit": "2",
             "popd_client_event_limit_exceptions": ""}


def test_imap_limit_per_address(instances):
    exempt = H.free_port()
    inst = imapd_instance(instances, main_cf=IMAP_LIMIT, tls=False, services=(
        "127.0.0.1:%d inet n n n - - imapd -o imapd_client_event_limit_exceptions=127.0.0.0/8\n"
        % exempt))
    port = inst.imap_port
    a1 = IMAPFrom("127.0.0.2", port)
    a2 = IMAPFrom("127.0.0.2", port)
    assert a1.welcome.startswith(b"* OK") and a2.welcome.startswith(b"* OK")
    # the third from the same address: BYE with RFC 5530's code instead of a greeting
    line, closed = raw_greeting("127.0.0.2", port)
    assert line == b"* BYE [UNAVAILABLE] Too many connections from your address, try later\r\n"
    assert closed
    try:
        IMAPFrom("127.0.0.2", port)
        raise AssertionError("a third connection was admitted")
    except imaplib.IMAP4.error as e:
        assert "UNAVAILABLE" in str(e)
    inst.wait_log(r"imapd\[\d+\]: warning: Connection concurrency limit exceeded: 3 from "
                  r"\[127\.0\.0\.2\] for service 127\.0\.0\.1:%d" % port)
    # another address is served while 127.0.0.2 holds its maximum, and can log in
    b = IMAPFrom("127.0.0.3", port)
    assert b.welcome.startswith(b"* OK")
    assert b.login("joe@example.com", IMAP_USERS["joe@example.com"])[0] == "OK"
    b.logout()
    # an exempt network is not counted (here on a service of its own)
    held = [IMAPFrom("127.0.0.2", exempt) for _ in range(3)]
    assert all(c.welcome.startswith(b"* OK") for c in held)
    for c in held:
        c.logout()
    # a connection that ends frees its place
    a1.logout()
    H.wait_for(lambda: raw_greeting("127.0.0.2", port)[0].startswith(b"* OK"), timeout=15,
               what="a freed place for 127.0.0.2")
    a2.logout()


def test_pop3_limit_per_address(instances):
    ps = PopSetup(instances, main_cf=POP_LIMIT)
    port = ps.port
    a1 = POP3From("127.0.0.2", port)
    a2 = POP3From("127.0.0.2", port)
    assert a1.welcome.startswith(b"+OK") and a2.welcome.startswith(b"+OK")
    line, closed = raw_greeting("127.0.0.2", port)
    assert line == b"-ERR [SYS/TEMP] Too many connections from your address, try later\r\n"
    assert closed
    try:
        POP3From("127.0.0.2", port)
        raise AssertionError("a third connection was admitted")
    except poplib.error_proto as e:
        assert "SYS/TEMP" in str(e)
    ps.inst.wait_log(r"popd\[\d+\]: warning: Connection concurrency limit exceeded: 3 from "
                     r"\[127\.0\.0\.2\] for service 127\.0\.0\.1:%d" % port)
    b = POP3From("127.0.0.3", port)
    assert b.welcome.startswith(b"+OK")
    b.user("joe@example.test")
    assert b.pass_(POP_USERS["joe@example.test"]).startswith(b"+OK")
    b.quit()
    a1.quit()
    H.wait_for(lambda: raw_greeting("127.0.0.2", port)[0].startswith(b"+OK"), timeout=15,
               what="a freed place for 127.0.0.2")
    a2.quit()
    # POP3S counts per service too; one too many is closed before any TLS handshake
    ctx = ps.client_ctx()
    s1 = POP3SFrom("127.0.0.2", ps.sport, ctx)
    s2 = POP3SFrom("127.0.0.2", ps.sport, ctx)
    assert s1.welcome.startswith(b"+OK") and s2.welcome.startswith(b"+OK")
    assert raw_greeting("127.0.0.2", ps.sport) == (b"", True)
    ps.inst.wait_log(r"Connection concurrency limit exceeded: 3 from \[127\.0\.0\.2\] for "
                     r"service 127\.0\.0\.1:%d" % ps.sport)
    s3 = POP3SFrom("127.0.0.3", ps.sport, ctx)
    assert s3.welcome.startswith(b"+OK")
    for c in (s1, s2, s3):
        c.quit()


def test_imap_login_timeout_not_after_login(instances):
    inst = imapd_instance(instances, main_cf={"imapd_login_timeout": "2s"}, tls=False)
    port = inst.imap_port
    authed = IMAPFrom("127.0.0.1", port)
    assert authed.login("joe@example.com", IMAP_USERS["joe@example.com"])[0] == "OK"
    # an idle connection that never logs in is closed after imapd_login_timeout ...
    s = socket.create_connection(("127.0.0.1", port), 30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    assert f.readline() == b"* BYE Autologout; idle for too long.\r\n"
    assert f.readline() == b""
    s.close()
    # ... while the session that logged in before it, idle for longer, is still there
    # (imapd_autologout_timeout, RFC 3501 5.4: at least 30 minutes)
    assert authed.noop()[0] == "OK"
    authed.logout()
    assert re.search(r"imapd_login_timeout = 30s\n",
                     inst.run("petrel-conf", "-d", "imapd_login_timeout").stdout)


def test_pop3_login_timeout_not_after_login(instances):
    ps = PopSetup(instances, main_cf={"popd_login_timeout": "2s"})
    authed = POP3From("127.0.0.1", ps.port)
    authed.user("joe@example.test")
    assert authed.pass_(POP_USERS["joe@example.test"]).startswith(b"+OK")
    s = socket.create_connection(("127.0.0.1", ps.port), 30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    assert f.readline() == b""  # closed: RFC 1939 autologout says nothing
    s.close()
    ps.inst.wait_log(r"popd\[\d+\]: timeout: user=<>, rip=127\.0\.0\.1")
    assert authed.noop().startswith(b"+OK")
    authed.quit()
    assert re.search(r"popd_login_timeout = 30s\n",
                     ps.inst.run("petrel-conf", "-d", "popd_login_timeout").stdout)
