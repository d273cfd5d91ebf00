"""End-to-end tests of imapd: the session layer (greeting, capabilities, STARTTLS,
implicit TLS, LOGIN, AUTHENTICATE PLAIN with SASL-IR, ID, ENABLE, NAMESPACE,
IDLE, pipelining, limits) with Python's imaplib, curl and a raw client, plus a
battery of malformed commands. Mailbox commands come with the mail store."""

import base64
import imaplib
import os
import re
import subprocess
import time

import pytest

import petrel_harness as H
from imapd_util import USERS, RawIMAP, client_context, imapd_instance

JOE, JOE_PW = "joe@example.com", USERS["joe@example.com"]


def plain_b64(authz, user, pw):
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, pw)).encode()).decode()


@pytest.fixture
def imap(instances):
    return imapd_instance(instances)


# ---- greeting, capabilities, login -------------------------------------------

def test_greeting_and_capabilities(imap):
    c = RawIMAP(imap.imap_port)
    greeting = c.line()
    assert greeting == (b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS "
                        b"AUTH=PLAIN] Petrel ready.")
    assert c.cmd("a1", "CAPABILITY") == [
        b"* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS AUTH=PLAIN",
        b"a1 OK Capability completed."]
    assert c.cmd("a2", "LOGIN %s \"%s\"" % (JOE, JOE_PW)) == [
        b"a2 OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE "
        b"UNSELECT CHILDREN SPECIAL-USE] Logged in."]
    assert c.cmd("a3", "LOGOUT") == [b"* BYE Logging out", b"a3 OK Logout completed."]
    assert c.closed()
    imap.wait_log(r"login: user=<joe@example.com>, method=PLAIN, rip=127\.0\.0\.1, "
                  r"lip=127\.0\.0\.1\n")
    imap.wait_log(r"disconnect from \[127\.0\.0\.1\]: user=<joe@example.com>, in=\d+, out=\d+, "
                  r"reason=logout")


def test_imaplib_login_logout(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port)
    assert "IMAP4REV1" in m.capabilities and "STARTTLS" in m.capabilities
    typ, data = m.login(JOE, JOE_PW)
    assert typ == "OK"
    typ, data = m.noop()
    assert typ == "OK"
    typ, data = m.namespace()
    assert data == [b'(("" ".")) NIL NIL']
    typ, data = m.logout()
    assert typ == "BYE"


def test_login_failures_are_limited(imap):
    c = RawIMAP(imap.imap_port)
    c.line()
    assert c.cmd("a", "LOGIN %s wrong" % JOE) == [
        b"a NO [AUTHENTICATIONFAILED] Authentication failed."]
    assert c.cmd("b", "LOGIN nobody@example.com x") == [
        b"b NO [AUTHENTICATIONFAILED] Authentication failed."]
    c.send('c LOGIN %s ""\r\n' % JOE)
    assert c.line() == b"c NO [AUTHENTICATIONFAILED] Authentication failed."
    assert c.line() == b"* BYE Too many invalid authentication attempts."
    assert c.closed()
    imap.wait_log(r"disconnect .*reason=too many authentication failures")
    log = imap.log()
    assert log.count("authentication failed: user=<joe@example.com>, method=PLAIN, "
                     "rip=127.0.0.1, lip=127.0.0.1") == 2
    assert "authentication failed: user=<nobody@example.com>" in log


def test_failure_delay(instances):
    imap = imapd_instance(instances, main_cf={"imapd_login_failure_delay": "1s"})
    c = RawIMAP(imap.imap_port)
    c.line()
    start = time.time()
    assert c.cmd("a", "LOGIN %s wrong" % JOE)[-1].startswith(b"a NO")
    assert time.time() - start >= 0.9
    start = time.time()
    assert c.cmd("b", "LOGIN %s \"%s\"" % (JOE, JOE_PW))[-1].startswith(b"b OK")
    assert time.time() - start < 0.9


def test_login_literals_and_commands_in_wrong_state(imap):
    c = RawIMAP(imap.imap_port)
    c.line()
    assert c.cmd("a", "NAMESPACE") == [
        b"a BAD Error in IMAP command NAMESPACE: authentication is required first."]
    assert c.cmd("b", "SELECT INBOX") == [
        b"b BAD Error in IMAP command SELECT: authentication is required first."]
    # a synchronizing literal gets "+ OK", a non-synchronizing one (LITERAL+) does not
    c.send("c LOGIN {%d}\r\n" % len(JOE))
    assert c.line() == b"+ OK"
    c.send("%s {%d+}\r\n%s\r\n" % (JOE, len(JOE_PW), JOE_PW))
    assert c.line().startswith(b"c OK [CAPABILITY ")
    assert c.cmd("d", "LOGIN a b") == [
        b"d BAD Error in IMAP command LOGIN: already authenticated."]
    assert c.cmd("e", "FETCH 1 FLAGS") == [
        b"e BAD Error in IMAP command FETCH: no mailbox is selected."]
    assert c.cmd("f", "UID STORE 1 +FLAGS (\\Seen)") == [
        b"f BAD Error in IMAP command STORE: no mailbox is selected."]
    assert c.cmd("h", "STARTTLS") == [
        b"h BAD Error in IMAP command STARTTLS: already authenticated."]


# ---- AUTHENTICATE PLAIN ------------------------------------------------------

def test_authenticate_plain_sasl_ir(imap):
    c = RawIMAP(imap.imap_port)
    c.line()
    r = c.cmd("a", "AUTHENTICATE PLAIN %s" % plain_b64("", JOE, JOE_PW))
    assert r[-1].startswith(b"a OK [CAPABILITY ")
    imap.wait_log(r"login: user=<joe@example.com>, method=PLAIN")


def test_authenticate_plain_continuation(imap):
    c = RawIMAP(imap.imap_port)
    c.line()
    c.send("a AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(plain_b64(JOE, JOE, JOE_PW) + "\r\n")  # authzid = authcid is allowed
    assert c.line().startswith(b"a OK [CAPABILITY ")


def test_authenticate_imaplib(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port)
    typ, _ = m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (JOE, JOE_PW)).encode())
    assert typ == "OK"
    m.logout()


def test_authenticate_errors(imap):
    c = RawIMAP(imap.imap_port)
    c.line()
    assert c.cmd("a", "AUTHENTICATE CRAM-MD5") == [
        b"a NO Unsupported authentication mechanism."]
    c.send("b AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send("*\r\n")
    assert c.line() == b"b BAD Authentication cancelled."
    assert c.cmd("c", "AUTHENTICATE PLAIN not!base64") == [
        b"c BAD Invalid base64 data in the authentication response."]
    assert c.cmd("d", "AUTHENTICATE PLAIN Zm9v=") == [
        b"d BAD Invalid base64 data in the authentication response."]
    assert c.cmd("e", "AUTHENTICATE PLAIN %s" % plain_b64("ann@example.com", JOE, JOE_PW)) == [
        b"e NO [AUTHORIZATIONFAILED] Authorization identity not allowed."]
    assert c.cmd("f", "AUTHENTICATE PLAIN =") == [
        b"f NO [AUTHENTICATIONFAILED] Authentication failed."]
    c.send("g AUTHENTICATE PLAIN %s\r\n" % plain_b64("", JOE, "bad"))
    assert c.line() == b"g NO [AUTHENTICATIONFAILED] Authentication failed."
    assert c.line() == b"* BYE Too many invalid authentication attempts."


# ---- TLS -----------------------------------------------------------------------

@pytest.fixture
def imap_tls_only(instances):
    """Plaintext passwords refused: the client network is not trusted."""
    return imapd_instance(instances, main_cf={"plaintext_auth_networks": ""})


def test_logindisabled_until_starttls(imap_tls_only):
    c = RawIMAP(imap_tls_only.imap_port)
    assert c.line() == (b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS "
                        b"LOGINDISABLED] Petrel ready.")
    assert c.cmd("a", "LOGIN %s \"%s\"" % (JOE, JOE_PW)) == [
        b"a NO [PRIVACYREQUIRED] Plaintext authentication is disallowed without TLS."]
    assert c.cmd("b", "AUTHENTICATE PLAIN %s" % plain_b64("", JOE, JOE_PW)) == [
        b"b NO [PRIVACYREQUIRED] Plaintext authentication is disallowed without TLS."]
    assert c.cmd("c", "STARTTLS") == [b"c OK Begin TLS negotiation now."]
    c.starttls()
    assert c.cmd("d", "CAPABILITY") == [
        b"* CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN",
        b"d OK Capability completed."]
    assert c.cmd("e", "STARTTLS") == [b"e BAD TLS is already active."]
    assert c.cmd("f", "LOGIN %s \"%s\"" % (JOE, JOE_PW))[-1].startswith(b"f OK")
    imap_tls_only.wait_log(r"login: user=<joe@example.com>, method=PLAIN, rip=127\.0\.0\.1, "
                           r"lip=127\.0\.0\.1, TLS")
    imap_tls_only.wait_log(r"STARTTLS from \[127\.0\.0\.1\]: TLSv1\.[23] with cipher")


def test_imaplib_starttls(imap_tls_only):
    m = imaplib.IMAP4("127.0.0.1", imap_tls_only.imap_port)
    assert "LOGINDISABLED" in m.capabilities
    m.starttls(ssl_context=client_context())
    assert "LOGINDISABLED" not in m.capabilities and "AUTH=PLAIN" in m.capabilities
    assert m.login(JOE, JOE_PW)[0] == "OK"
    assert m.logout()[0] == "BYE"


def test_starttls_discards_pipelined_commands(imap_tls_only):
    """RFC 3501 6.2.1 / RFC 2595 3.1: nothing sent before the handshake may count."""
    c = RawIMAP(imap_tls_only.imap_port)
    c.line()
    c.send("a STARTTLS\r\nb LOGIN %s \"%s\"\r\n" % (JOE, JOE_PW))
    assert c.line() == b"a OK Begin TLS negotiation now."
    assert c.buf == b""
    c.starttls()
    assert c.cmd("c", "NOOP") == [b"c OK NOOP completed."]  # b was never run
    assert c.cmd("d", "NAMESPACE")[0].startswith(b"d BAD")
    imap_tls_only.wait_log(r"discarded \d+ bytes sent by \[127\.0\.0\.1\] after STARTTLS")


def test_implicit_tls(imap_tls_only):
    m = imaplib.IMAP4_SSL("127.0.0.1", imap_tls_only.imaps_port, ssl_context=client_context())
    assert "STARTTLS" not in m.capabilities and "AUTH=PLAIN" in m.capabilities
    assert m.login(JOE, JOE_PW)[0] == "OK"
    assert m.logout()[0] == "BYE"
    imap_tls_only.wait_log(r"TLS from \[127\.0\.0\.1\]: TLSv1\.[23]")


def test_implicit_tls_handshake_failure(imap_tls_only):
    c = RawIMAP(imap_tls_only.imaps_port)
    c.send(b"a CAPABILITY\r\n")  # plaintext on the TLS port
    assert c.closed()
    imap_tls_only.wait_log(r"TLS handshake failed from \[127\.0\.0\.1\]")


def test_no_tls_configured(instances):
    imap = imapd_instance(instances, tls=False)
    c = RawIMAP(imap.imap_port)
    assert c.line() == (b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN] "
                        b"Petrel ready.")
    assert c.cmd("a", "STARTTLS") == [b"a BAD TLS is not available on this server."]


# ---- ID, ENABLE, NAMESPACE, IDLE ----------------------------------------------

def login(c, tag="L"):
    c.line()
    assert c.cmd(tag, "LOGIN %s \"%s\"" % (JOE, JOE_PW))[-1].startswith(tag.encode() + b" OK")


def test_id_enable_namespace(imap):
    c = RawIMAP(imap.imap_port)
    c.line()
    r = c.cmd("a", 'ID ("name" "pytest" "version" "1.0")')
    assert re.match(rb'\* ID \("name" "Petrel" "version" "[^"]+"\)$', r[0])
    assert r[1] == b"a OK ID completed."
    imap.wait_log(r"id from \[127\.0\.0\.1\]: name=pytest, version=1\.0")
    r = c.cmd("b", "ID NIL")
    assert re.match(rb'\* ID \("name" "Petrel" "version" "[^"]+"\)$', r[0])
    assert r[1] == b"b OK ID completed."
    assert c.cmd("c", "ENABLE CONDSTORE")[0].startswith(b"c BAD")  # not before login
    assert c.cmd("d", "LOGIN %s \"%s\"" % (JOE, JOE_PW))[-1].startswith(b"d OK")
    assert c.cmd("e", "ENABLE CONDSTORE UTF8=ACCEPT") == [b"* ENABLED", b"e OK ENABLE completed."]
    assert c.cmd("f", "ENABLE")[0].startswith(b"f BAD")
    assert c.cmd("g", "NAMESPACE") == [b'* NAMESPACE (("" ".")) NIL NIL',
                                       b"g OK NAMESPACE completed."]
    assert c.cmd("h", 'ID ("a" "b" "c")')[0].startswith(b"h BAD")
    long_list = " ".join('"f%d" "v"' % i for i in range(31))
    assert c.cmd("i", "ID (%s)" % long_list)[0].startswith(b"i BAD")


def test_idle(imap):
    c = RawIMAP(imap.imap_port)
    login(c)
    c.send("a IDLE\r\n")
    assert c.line() == b"+ idling"
    c.send("DONE\r\n")
    assert c.line() == b"a OK Idle completed."
    c.send("b IDLE\r\n")
    assert c.line() == b"+ idling"
    c.send("c NOOP\r\n")  # anything but DONE ends IDLE with BAD
    assert c.line() == b"b BAD Expected DONE to end IDLE."
    assert c.cmd("d", "NOOP") == [b"d OK NOOP completed."]


def test_idle_keepalive(instances):
    imap = imapd_instance(instances, main_cf={"imapd_idle_notify_interval": "1s"})
    c = RawIMAP(imap.imap_port)
    login(c)
    c.send("a IDLE\r\n")
    assert c.line() == b"+ idling"
    assert c.line() == b"* OK Still here"
    c.send("done\r\n")
    assert c.line() == b"a OK Idle completed."


def test_imaplib_idle_not_needed_for_noop(imap):
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port)
    m.login(JOE, JOE_PW)
    tag = m._new_tag().decode()
    m.send(("%s IDLE\r\n" % tag).encode())
    assert m.readline() == b"+ idling\r\n"
    m.send(b"DONE\r\n")
    assert m.readline() == ("%s OK Idle completed.\r\n" % tag).encode()
    m.logout()


# ---- pipelining, timeouts ----------------------------------------------------

def test_pipelining_keeps_order_and_tags(imap):
    c = RawIMAP(imap.imap_port)
    c.line()
    c.send("p1 NOOP\r\np2 CAPABILITY\r\np3 LOGIN %s {%d+}\r\n%s\r\np4 NAMESPACE\r\np5 BOGUS\r\n"
           "p6 LOGOUT\r\n" % (JOE, len(JOE_PW), JOE_PW))
    lines = c.until_tagged("p6")
    tags = [l.split(b" ")[0] for l in lines if not l.startswith(b"*")]
    assert tags == [b"p1", b"p2", b"p3", b"p4", b"p5", b"p6"]
    assert lines[-3] == b"p5 BAD Error in IMAP command: unknown command."


def test_login_timeout(instances):
    imap = imapd_instance(instances, main_cf={"imapd_login_timeout": "1s"})
    c = RawIMAP(imap.imap_port)
    c.line()
    assert c.line() == b"* BYE Autologout; idle for too long."
    assert c.closed()
    imap.wait_log(r"reason=timeout")


# ---- curl ----------------------------------------------------------------------

def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "20"] + list(args),
                          capture_output=True, text=True, timeout=30)


def test_curl_imap(imap):
    r = curl("imap://127.0.0.1:%d/" % imap.imap_port, "-u", "%s:%s" % (JOE, JOE_PW),
             "-X", "NAMESPACE")
    assert r.returncode == 0, r.stderr
    assert '* NAMESPACE (("" ".")) NIL NIL' in r.stdout
    r = curl("imap://127.0.0.1:%d/" % imap.imap_port, "-u", "%s:wrong" % JOE, "-X", "NOOP")
    assert r.returncode == 67  # CURLE_LOGIN_DENIED


def test_curl_starttls_and_imaps(imap_tls_only):
    r = curl("--ssl-reqd", "-k", "imap://127.0.0.1:%d/" % imap_tls_only.imap_port,
             "-u", "%s:%s" % (JOE, JOE_PW), "-X", "ID NIL")
    assert r.returncode == 0, r.stderr
    assert '* ID ("name" "Petrel"' in r.stdout
    r = curl("-k", "imaps://127.0.0.1:%d/" % imap_tls_only.imaps_port,
             "-u", "%s:%s" % (JOE, JOE_PW), "-X", "CAPABILITY")
    assert r.returncode == 0, r.stderr
    assert "IMAP4rev1" in r.stdout
    # without TLS, curl cannot log in: the server disallows plaintext
    r = curl("imap://127.0.0.1:%d/" % imap_tls_only.imap_port, "-u", "%s:%s" % (JOE, JOE_PW),
             "-X", "NOOP")
    assert r.returncode != 0


# ---- malformed commands ----------------------------------------------------

MALFORMED = [
    # (sent, expected first response line)
    (b"\r\n", b"* BAD Error in IMAP command: missing tag."),
    (b" NOOP\r\n", b"* BAD Error in IMAP command: missing tag."),
    (b"+tag NOOP\r\n", b"* BAD Error in IMAP command: '+' is not allowed in a tag."),
    (b"a\r\n", b"a BAD Error in IMAP command: missing or invalid command name."),
    (b"a  NOOP\r\n", b"a BAD Error in IMAP command: missing or invalid command name."),
    (b"a NOOP extra\r\n", b"a BAD Error in IMAP command NOOP: unexpected text at the end of "
                          b"the command."),
    (b"a NOOP \r\n", b"a BAD Error in IMAP command NOOP: unexpected text at the end of the "
                     b"command."),
    (b"a FROBNICATE\r\n", b"a BAD Error in IMAP command: unknown command."),
    (b"a UID\r\n", b"a BAD Error in IMAP command UID: unknown UID command."),
    (b"a UID LOGIN x y\r\n", b"a BAD Error in IMAP command UID: unknown UID command."),
    (b"a LOGIN\r\n", b"a BAD Error in IMAP command LOGIN: missing arguments."),
    (b"a LOGIN x\r\n", b"a BAD Error in IMAP command LOGIN: missing arguments."),
    (b'a LOGIN "unterminated\r\n', b"a BAD Error in IMAP command LOGIN: unterminated quoted "
                                   b"string."),
    (b'a LOGIN "bad\\q" x\r\n', b"a BAD Error in IMAP command LOGIN: bad escape in a quoted "
                                b"string."),
    (b"a LOGIN (x) y\r\n", b"a BAD Error in IMAP command LOGIN: expected a string."),
    (b"a LOGIN {x}\r\n", b"a BAD Error in IMAP command LOGIN: bad literal."),
    (b"a ID (\"name\"\r\n", b"a BAD Error in IMAP command ID: missing arguments."),
    (b"a ID NILX\r\n", b"a BAD Error in IMAP command ID: expected a string or NIL."),
    (b"a AUTHENTICATE\r\n", b"a BAD Error in IMAP command AUTHENTICATE: missing arguments."),
    (b"a CAPABILITY\x00\r\n", b"a BAD Error in IMAP command CAPABILITY: unexpected text at the "
                              b"end of the command."),
    (b"a\x01 NOOP\r\n", b"a BAD Error in IMAP command: missing or invalid command name."),
    (b"\xff\xfe NOOP\r\n", b"* BAD Error in IMAP command: missing tag."),
    (b"a noop\n", b"a OK NOOP completed."),  # a bare LF line end is tolerated
    (b"a NoOp\r\n", b"a OK NOOP completed."),
]


def test_malformed_battery(instances):
    imap = imapd_instance(instances, main_cf={"imapd_error_limit": "1000"})
    c = RawIMAP(imap.imap_port)
    c.line()
    for sent, want in MALFORMED:
        c.send(sent)
        got = c.line()
        assert got == want, (sent, got)
    assert c.cmd("z", "NOOP") == [b"z OK NOOP completed."]


def test_too_long_and_far_too_long(instances):
    imap = imapd_instance(instances, main_cf={"imapd_command_size_limit": "1024",
                                              "imapd_literal_size_limit": "100"})
    c = RawIMAP(imap.imap_port)
    c.line()
    # just under the limit is fine; over it is BAD; the session goes on
    ok = "a ID (\"x\" \"%s\")\r\n" % ("y" * 1000)
    assert len(ok) <= 1024
    c.send(ok)
    assert c.until_tagged("a")[-1] == b"a OK ID completed."
    c.send("b ID (\"x\" \"%s\")\r\n" % ("y" * 1100))
    assert c.line() == b"b BAD command line too long."
    # a literal over the limit: no "+" and BAD; LITERAL+ data over it is skipped
    c.send("c LOGIN {101}\r\n")
    assert c.line() == b"c BAD literal too big (101 bytes, at most 100)."
    c.send("d LOGIN {150+}\r\n%s\r\n" % ("z" * 150))
    assert c.line() == b"d BAD literal too big (150 bytes, at most 100)."
    assert c.cmd("e", "NOOP") == [b"e OK NOOP completed."]
    # far over (4x): BYE and close, without reading it all
    c.send("f LOGIN {401+}\r\n")
    assert c.line() == b"* BYE Input far over the limits."
    assert c.closed()
    c2 = RawIMAP(imap.imap_port)
    c2.line()
    c2.send(b"g " + b"x" * 5000)
    assert c2.line() == b"* BYE Input far over the limits."
    assert c2.closed()
    imap.wait_log(r"command line far too long from \[127\.0\.0\.1\]: closing")


def test_bad_command_limit(instances):
    imap = imapd_instance(instances, main_cf={"imapd_error_limit": "3"})
    c = RawIMAP(imap.imap_port)
    c.line()
    c.send("a X\r\nb X\r\nc X\r\nd NOOP\r\n")
    assert c.line().startswith(b"a BAD")
    assert c.line().startswith(b"b BAD")
    assert c.line().startswith(b"c BAD")
    assert c.line() == b"* BYE Too many invalid IMAP commands."
    assert c.closed()


def test_garbage_does_not_kill_the_server(imap):
    """Random bytes, then a normal session on a fresh connection."""
    import random
    rnd = random.Random(8)
    for _ in range(5):
        c = RawIMAP(imap.imap_port)
        c.line()
        data = bytes(rnd.randrange(256) for _ in range(3000))
        try:
            c.send(data + b"\r\nq LOGOUT\r\n")
            c.closed(timeout=5)
        except OSError:
            pass
        c.close()
    m = imaplib.IMAP4("127.0.0.1", imap.imap_port)
    assert m.login(JOE, JOE_PW)[0] == "OK"
    m.logout()
