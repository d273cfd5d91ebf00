"""End-to-end tests of smtpd: the SMTP protocol (RFC 5321, 2920, 2034, 1870, 3030) and its
error replies, limits, timeouts and the SMTP smuggling defences."""

import re
import socket
import time

import pytest

import petrel_harness as H
import smtpd_util as U
from petrel_harness import wait_for
from smtpd_util import Raw


@pytest.fixture(scope="module")
def srv(request):
    inst, ports = U.shared_instance(request, main_cf={
        "smtpd_recipient_limit": "3",
        "message_size_limit": "4000",
        "header_size_limit": "1500",
        "smtpd_line_length_limit": "600",
        "smtpd_hard_error_limit": "100",
        "smtpd_junk_command_limit": "1000",
    })
    return inst, ports["smtp"]


def transaction(r, rcpt="user@virt.test", sender="<a@example.org>"):
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:%s" % sender)[0] == 250
    assert r.cmd("RCPT TO:<%s>" % rcpt)[0] == 250


def test_greeting_ehlo_helo_and_simple_commands(srv):
    inst, port = srv
    r = Raw(port)
    assert r.greeting[0] == 220
    assert r.greeting[1] == "mail.petrel.test ESMTP Petrel"
    code, _, lines = r.cmd("EHLO client.example.org")
    assert code == 250 and lines[0] == "250-mail.petrel.test"
    kws = [l[4:] for l in lines[1:]]
    for kw in ("PIPELINING", "SIZE 4000", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8",
               "CHUNKING", "BINARYMIME"):
        assert kw in kws
    assert "STARTTLS" not in kws and not any(k.startswith("AUTH") for k in kws)
    assert "VRFY" not in kws
    assert r.cmd("HELO client.example.org") == (250, "mail.petrel.test", ["250 mail.petrel.test"])
    assert r.cmd("NOOP")[:2] == (250, "2.0.0 Ok")
    assert r.cmd("noop with an argument")[0] == 250
    assert r.cmd("RSET")[:2] == (250, "2.0.0 Ok")
    assert r.cmd("HELP")[0] == 214
    assert r.cmd("VRFY user@virt.test")[1].startswith("2.0.0 ")
    assert r.cmd("VRFY user@virt.test")[0] == 252
    assert r.cmd("QUIT")[:2] == (221, "2.0.0 Bye")
    assert r.closed()
    inst.wait_log(r"disconnect from unknown\[127.0.0.1\] ehlo=1 helo=1 rset=1 noop=2 vrfy=2 "
                  r"help=1 quit=1 commands=9")


def test_error_replies(srv):
    inst, port = srv
    r = Raw(port)
    cases = [
        ("FOO", 500, "5.5.2 Error: command not recognized"),
        ("", 500, "5.5.2 Error: command not recognized"),
        ("EXPN list", 502, "5.5.1 Error: command not implemented"),
        ("ETRN example.org", 502, "5.5.1 Error: command not implemented"),
        ("TURN", 502, "5.5.1 Error: command not implemented"),
        ("EHLO", 501, "5.5.4 Syntax: EHLO hostname"),
        ("HELO two words", 501, "5.5.4 Syntax: HELO hostname"),
        ("RCPT TO:<user@virt.test>", 503, "5.5.1 Error: need MAIL command"),
        ("DATA", 503, "5.5.1 Error: need MAIL command"),
        ("VRFY", 501, "5.5.4 Syntax: VRFY address"),
        ("RSET now", 501, "5.5.4 Syntax: RSET"),
        ("QUIT now", 501, "5.5.4 Syntax: QUIT"),
        ("STARTTLS", 502, "5.5.1 Error: command not implemented"),
        ("AUTH PLAIN", 538, "5.7.11 Encryption required for requested authentication mechanism"),
        ("EHLO client.example.org", 250, None),
        ("MAIL TO:<a@example.org>", 501, "5.5.4 Syntax: MAIL FROM:<address>"),
        ("MAIL FROM:<a@@example.org>", 501, "5.1.7 Bad sender address syntax"),
        ("MAIL FROM:<a@example.org> FOO=bar", 555, "5.5.4 Unsupported option: FOO"),
        ("MAIL FROM:<a@example.org> SIZE=abc", 501, "5.5.4 Bad message size syntax"),
        ("MAIL FROM:<a@example.org> SIZE=1 SIZE=2", 501, "5.5.4 Error: duplicate parameter"),
        ("MAIL FROM:<a@example.org> BODY=9BIT", 501, "5.5.4 Unsupported BODY parameter value"),
        ("MAIL FROM:<a@example.org> RET=ALL", 501, "5.5.4 Bad RET parameter syntax"),
        ("MAIL FROM:<a@example.org> ENVID=a+2", 501, "5.5.4 Bad ENVID parameter syntax"),
        ("MAIL FROM:<a@example.org> SMTPUTF8=yes", 501, "5.5.4 Syntax: SMTPUTF8 takes no value"),
        ("MAIL FROM:<a@example.org> SIZE=4001", 552, "5.3.4 Message size exceeds fixed limit"),
        ("MAIL FROM:<j\u00f6rg@example.org>", 553,
         "5.6.7 Must declare SMTPUTF8 to send unicode address"),
        ("MAIL FROM:<a@example.org> SIZE=4000", 250, "2.1.0 Ok"),
        ("MAIL FROM:<b@example.org>", 503, "5.5.1 Error: nested MAIL command"),
        ("DATA", 554, "5.5.1 Error: no valid recipients"),
        ("RCPT FROM:<user@virt.test>", 501, "5.5.4 Syntax: RCPT TO:<address>"),
        ("RCPT TO:<>", 501, "5.1.3 Bad recipient address syntax"),
        ("RCPT TO:<user@virt.test> NOTIFY=SOMETIMES", 501, "5.5.4 Bad NOTIFY parameter syntax"),
        ("RCPT TO:<user@virt.test> NOTIFY=NEVER,SUCCESS", 501,
         "5.5.4 Bad NOTIFY parameter syntax"),
        ("RCPT TO:<user@virt.test> ORCPT=user@virt.test", 501,
         "5.5.4 Bad ORCPT parameter syntax"),
        ("RCPT TO:<user@virt.test> XYZ", 555, "5.5.4 Unsupported option: XYZ"),
        ("AUTH PLAIN", 538, "5.7.11 Encryption required for requested authentication mechanism"),
        ("DATA now", 501, "5.5.4 Syntax: DATA"),
        ("RCPT TO:<user@virt.test>", 250, "2.1.5 Ok"),
        ("RSET", 250, "2.0.0 Ok"),
        ("HELO client.example.org", 250, None),
        ("MAIL FROM:<a@example.org> SIZE=10", 555, "5.5.4 Unsupported option: SIZE"),
    ]
    for cmd, code, text in cases:
        got = r.cmd(cmd)
        assert got[0] == code, (cmd, got)
        if text is not None:
            assert got[1] == text, (cmd, got)
    r.cmd("QUIT")


def test_pipelined_batch_and_flush_only_when_drained(srv):
    inst, port = srv
    r = Raw(port)
    # one write: every reply comes back in order (RFC 2920 3.1)
    r.send("EHLO client.example.org\r\nMAIL FROM:<a@example.org>\r\n"
           "RCPT TO:<nobody@virt.test>\r\nRCPT TO:<user@virt.test>\r\n"
           "RCPT TO:<other@virt.test>\r\nDATA\r\n")
    assert r.reply()[0] == 250
    assert r.reply()[:2] == (250, "2.1.0 Ok")
    assert r.reply()[0] == 550
    assert r.reply()[:2] == (250, "2.1.5 Ok")
    assert r.reply()[:2] == (250, "2.1.5 Ok")
    assert r.reply()[0] == 354
    code, text, _ = r.cmd("Subject: pipelined\r\n\r\nbody\r\n.")
    assert code == 250 and text.startswith("2.0.0 Ok: queued as ")
    q = U.wait_queued(inst, U.queued_id(text))
    assert [x["addr"] for x in q.rcpts] == ["user@virt.test", "other@virt.test"]
    # replies are held while more input is buffered: "NOOP" + half a command gets no answer
    r.send("NOOP\r\nNO")
    r.sock.settimeout(0.4)
    with pytest.raises(socket.timeout):
        r.sock.recv(100)
    r.sock.settimeout(5)
    r.send("OP\r\n")
    assert r.reply()[0] == 250 and r.reply()[0] == 250
    # a batch in which every RCPT fails: DATA gets 554, the content is read as commands
    r.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<nobody@virt.test>\r\nDATA\r\nNOOP\r\n")
    assert [r.reply()[0] for _ in range(4)] == [250, 550, 554, 250]
    r.cmd("QUIT")


def test_data_transparency_and_exact_content(srv):
    inst, port = srv
    r = Raw(port, internet=True)  # no header rewriting for Internet clients
    transaction(r)
    assert r.cmd("DATA")[0] == 354
    body = (b"Subject: dots\r\n\r\n..leading dot\r\n.\tdot tab\r\nmiddle . dot\r\n"
            b"..\r\n\x00nul and 8bit \xe9\r\nend without newline")
    r.send(body + b"\r\n.\r\n")
    code, text, _ = r.reply()
    assert code == 250
    q = U.wait_queued(inst, U.queued_id(text))
    assert q.committed
    content = q.content
    assert content.startswith(b"Received: from client.example.org (unknown [127.0.0.2])\r\n")
    assert b"\tby mail.petrel.test (Petrel) with ESMTP id %s\r\n\tfor <user@virt.test>; " % \
        U.queued_id(text).encode() in content
    stored = content.split(b"\r\n", 3)[3]
    assert stored == (b"Subject: dots\r\n\r\n.leading dot\r\n\tdot tab\r\nmiddle . dot\r\n"
                      b".\r\n\x00nul and 8bit \xe9\r\nend without newline\r\n")
    r.cmd("QUIT")


SMUGGLING = [
    b"\n.\n", b"\r.\r", b"\r\n.\r", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n\x00.\r\n",
]


@pytest.mark.parametrize("end", SMUGGLING, ids=[repr(s) for s in SMUGGLING])
def test_smuggling_patterns_never_end_data(srv, end):
    """From the Internet, a smuggling end sequence is content; the message is refused at the
    real end of DATA (bare LF/CR) and nothing is queued, the smuggled commands included."""
    inst, port = srv
    before = len(U.committed_files(inst))
    r = Raw(port, internet=True)
    transaction(r)
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: x\r\n\r\nfirst" + end + b"MAIL FROM:<evil@example.org>\r\n"
           b"RCPT TO:<user@virt.test>\r\nDATA\r\nsmuggled\r\n.\r\n")
    code, text, _ = r.reply()
    if end == b"\r\n\x00.\r\n":  # no bare LF/CR: one ordinary message with a NUL line
        assert code == 250
        q = U.wait_queued(inst, U.queued_id(text))
        assert b"\r\nMAIL FROM:<evil@example.org>\r\n" in q.content
        before += 1
    else:
        assert code == 550 and re.match(r"5\.5\.2 Error: bare <(LF|CR)> received", text)
    assert r.cmd("NOOP")[0] == 250  # in sync: the smuggled DATA was never a command
    r.cmd("QUIT")  # after its reply nothing more is committed
    assert len(U.committed_files(inst)) == before


def test_bare_newlines_normalized_for_mynetworks(srv):
    """smtpd_forbid_bare_newline_exclusions (= $mynetworks): bare LF is stored as CRLF, and
    LF.LF still does not end the message."""
    inst, port = srv
    r = Raw(port)
    transaction(r)
    assert r.cmd("DATA")[0] == 354
    head = b"From: a@b.example\nDate: Thu, 1 Jan 2026 00:00:00 +0000\nMessage-ID: <n@b.example>\n"
    r.send(head + b"\nline one\n.\nMAIL FROM:<x@y>\r\n.\r\n")
    code, text, _ = r.reply()
    assert code == 250
    q = U.wait_queued(inst, U.queued_id(text))
    assert q.content.split(b"\r\n", 3)[3] == \
        head.replace(b"\n", b"\r\n") + b"\r\nline one\r\n\r\nMAIL FROM:<x@y>\r\n"
    r.cmd("QUIT")


def test_bare_lf_command_lines(srv):
    inst, port = srv
    r = Raw(port, internet=True)
    r.send("EHLO client.example.org\n")
    assert r.reply()[:2] == (500, "5.5.2 Error: bare <LF> received")
    assert r.cmd("EHLO client.example.org")[0] == 250
    r.cmd("QUIT")
    r = Raw(port)  # mynetworks: accepted
    r.send("EHLO client.example.org\n")
    assert r.reply()[0] == 250
    r.send("NOOP\x00\r\n")
    assert r.reply()[:2] == (500, "5.5.2 Error: bad syntax")
    r.cmd("QUIT")


def test_line_length_limit(srv):
    inst, port = srv
    r = Raw(port)
    assert r.cmd("NOOP " + "x" * (600 - 5))[0] == 250  # exactly 600 bytes
    assert r.cmd("NOOP " + "x" * (600 - 4))[:2] == (500, "5.5.2 Error: line too long")
    assert r.cmd("NOOP " + "x" * 100000)[0] == 500
    assert r.cmd("NOOP")[0] == 250  # still in sync
    r.cmd("QUIT")


def test_recipient_limit_and_duplicates(srv):
    inst, port = srv
    r = Raw(port)
    transaction(r)
    assert r.cmd("RCPT TO:<user@virt.test>")[0] == 250  # duplicate: 250, stored once
    assert r.cmd("RCPT TO:<other@virt.test>")[0] == 250
    assert r.cmd("RCPT TO:<alias@virt.test>")[:2] == (452, "4.5.3 Error: too many recipients")
    assert r.cmd("DATA")[0] == 354
    code, text, _ = r.cmd("Subject: x\r\n\r\nx\r\n.")
    q = U.wait_queued(inst, U.queued_id(text))
    assert [x["addr"] for x in q.rcpts] == ["user@virt.test", "other@virt.test"]
    assert b"\tfor <" not in q.content  # "for" only with a single recipient
    r.cmd("QUIT")


def test_message_and_header_size_limits(srv):
    inst, port = srv
    r = Raw(port)
    head = b"Subject: size\r\n\r\n"
    for size, want in ((4000, 250), (4001, 552)):
        transaction(r)
        assert r.cmd("DATA")[0] == 354
        body = head + b"x" * (size - len(head) - 2) + b"\r\n"
        assert len(body) == size
        r.send(body + b".\r\n")
        code, text, _ = r.reply()
        assert code == want, (size, text)
        if want == 552:
            assert text == "5.3.4 Error: message file too big"
    # one header of 1500 bytes (with its continuation line) is fine, 1501 is not
    for size, want in ((1500, 250), (1501, 552)):
        transaction(r)
        assert r.cmd("DATA")[0] == 354
        first = b"X-Big: " + b"a" * 600 + b"\r\n"
        cont = b"\t" + b"b" * (size - len(first) - 3) + b"\r\n"
        assert len(first + cont) == size
        r.send(first + cont + b"\r\nbody\r\n.\r\n")
        code, text, _ = r.reply()
        assert code == want, (size, text)
        if want == 552:
            assert text == "5.3.4 Error: message header too big"
    r.cmd("QUIT")
    assert "reject: END-OF-MESSAGE from unknown[127.0.0.1]: 552 5.3.4" in inst.log()


def test_forbidden_commands_close(srv):
    inst, port = srv
    r = Raw(port)
    r.send("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    assert r.reply()[:2] == (221, "2.7.0 Error: I can break rules, too. Goodbye.")
    assert r.closed()
    inst.wait_log(r"warning: non-SMTP command from unknown\[127.0.0.1\]: GET / HTTP/1.0")


def test_swaks_and_smtplib_send(srv):
    inst, port = srv
    r = H.subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--from",
                          "a@example.org", "--to", "user@virt.test", "--helo", "swaks.example",
                          "--header", "Subject: via swaks", "--body", "hello from swaks"],
                         capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    qid = re.search(r"250 2\.0\.0 Ok: queued as (\w+)", r.stdout).group(1)
    q = U.wait_queued(inst, qid)
    assert q.committed and q.attrs["helo"] == "swaks.example"
    assert b"Subject: via swaks" in q.content
    c = U.client(port)
    assert c.sendmail("", ["user@virt.test"], U.msg("null sender")) == {}
    c.quit()


@pytest.fixture(scope="module")
def limits(request):
    inst, ports = U.shared_instance(request, main_cf={
        "smtpd_timeout": "1s",
        "smtpd_hard_error_limit": "4",
        "smtpd_soft_error_limit": "2",
        "smtpd_error_sleep_time": "1s",
        "smtpd_junk_command_limit": "3",
        "smtpd_client_connection_count_limit": "2",
    })
    return inst, ports["smtp"]


def test_timeout_idle_and_mid_data(limits):
    inst, port = limits
    r = Raw(port)
    t0 = time.time()
    code, text, _ = r.reply()
    assert (code, text) == (421, "4.4.2 mail.petrel.test Error: timeout exceeded")
    assert 0.8 < time.time() - t0 < 5
    assert r.closed()
    r = Raw(port)
    transaction(r)
    assert r.cmd("DATA")[0] == 354
    r.send("Subject: slow\r\n\r\npartial")
    assert r.reply()[0] == 421
    assert r.closed()
    inst.wait_log(r"timeout after DATA \(\d+ bytes\) from unknown\[127.0.0.1\]")
    wait_for(lambda: U.queue_files(inst) == [], what="the incomplete file to go")


def test_error_limits(limits):
    inst, port = limits
    r = Raw(port)
    t0 = time.time()
    assert r.cmd("BAD1")[0] == 500
    assert r.cmd("BAD2")[0] == 500
    assert time.time() - t0 < 0.9  # no delay up to the soft limit
    assert r.cmd("BAD3")[0] == 500  # third error: delayed by smtpd_error_sleep_time
    assert time.time() - t0 >= 0.9
    assert r.cmd("BAD4")[0] == 500
    assert r.reply()[:2] == (421, "4.7.0 mail.petrel.test Error: too many errors")
    assert r.closed()
    inst.wait_log(r"too many errors after UNKNOWN from unknown\[127.0.0.1\]")
    # junk commands beyond smtpd_junk_command_limit count as errors
    r = Raw(port)
    for _ in range(3):
        assert r.cmd("NOOP")[0] == 250
    for _ in range(4):
        r.cmd("NOOP")
    assert r.reply()[0] == 421


def test_connection_count_limit(limits):
    inst, port = limits
    a = Raw(port, internet=True)
    b = Raw(port, internet=True)
    c = Raw(port, internet=True)
    assert a.greeting[0] == 220 and b.greeting[0] == 220
    assert c.greeting[:2] == (421, "4.7.0 mail.petrel.test Error: too many connections from "
                                   "127.0.0.2")
    assert c.closed()
    inst.wait_log(r"warning: Connection concurrency limit exceeded: 3 from unknown\[127.0.0.2\]")
    mine = Raw(port)  # mynetworks is exempt
    assert mine.greeting[0] == 220
    a.cmd("QUIT")
    assert a.closed()

    def greeted():  # the slot is free once smtpd has counted a's end
        x = Raw(port, internet=True)
        if x.greeting[0] == 220:
            return x
        x.sock.close()
        return None
    d = wait_for(greeted, what="a free connection slot for 127.0.0.2")
    for x in (b, d, mine):
        x.cmd("QUIT")


def test_strict_envelopes_and_peername_lookup(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={"strict_rfc821_envelopes": "yes",
                                                       "smtpd_peername_lookup": "yes"})
    r = Raw(ports["smtp"])
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM: <a@example.org>")[0] == 501
    assert r.cmd("MAIL FROM:a@example.org")[0] == 501
    assert r.cmd("MAIL FROM:<a..b@example.org>")[0] == 501
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<petreltest>")[0] == 501
    assert r.cmd("RCPT TO:<Postmaster>")[0] == 250
    r.cmd("QUIT")
    # 127.0.0.1 is "localhost" in /etc/hosts, confirmed by the forward lookup
    inst.wait_log(r"connect from localhost\[127\.0\.0\.1\]")


def test_random_input_keeps_the_server_sane(srv):
    """Seeded random command lines (verbs with junk arguments, binary bytes): every line gets
    a well-formed reply and the session stays usable (the ASan build checks memory)."""
    import random
    inst, port = srv
    rnd = random.Random(5321)
    verbs = ["EHLO", "HELO", "MAIL FROM:", "RCPT TO:", "VRFY", "NOOP", "RSET", "AUTH", "HELP",
             "STARTTLS", "BDAT", "XYZZY", ""]
    alphabet = b"<>@:\"\\.[]+=,;() \t\x00\x01\x7f\xc3\xa9\xff" + bytes(range(0x21, 0x7f))
    r = Raw(port, internet=True)
    assert r.cmd("EHLO fuzz.example")[0] == 250
    for i in range(300):
        verb = rnd.choice(verbs)
        junk = bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 80)))
        line = verb.encode() + (b" " if rnd.random() < 0.5 else b"") + junk
        if verb == "BDAT" or b"\n" in line or b"\r" in line:
            continue  # a BDAT with a size would swallow the next lines
        r.send(line + b"\r\n")
        code, text, lines = r.reply()
        assert 200 <= code < 600 and code != 421, (line, lines)
        if code == 334:  # an AUTH exchange: cancel it
            assert r.cmd("*")[0] == 501
        if code >= 400 and len(text) > 5 and text[0] in "45":
            assert re.match(r"[45]\.\d{1,3}\.\d{1,3} ", text), text
        if i % 40 == 39:  # a fresh session before smtpd_hard_error_limit
            assert r.cmd("NOOP")[0] == 250
            r.cmd("QUIT")
            r = Raw(port, internet=True)
            assert r.cmd("EHLO fuzz.example")[0] == 250
    assert r.cmd("NOOP")[0] == 250
    r.cmd("QUIT")
