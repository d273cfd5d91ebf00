"""End-to-end tests of what smtpd writes into the queue: envelope attributes, DSN fields,
SMTPUTF8, BDAT (binary content, pipelined chunks), added headers, the qmgr trigger, and crash
safety (kill -9 before the 250 leaves nothing qmgr would take; after it, a complete file)."""

import os
import re
import signal
import time

import pytest

import petrel_harness as H
import smtpd_util as U
from smtpd_util import Raw


@pytest.fixture(scope="module")
def srv(request):
    inst, ports = U.shared_instance(request, main_cf={"message_size_limit": "100000",
                                                      "smtpd_hard_error_limit": "100"})
    return inst, ports["smtp"]


def test_envelope_and_dsn_fields(srv):
    inst, port = srv
    r = Raw(port, internet=True)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<> RET=HDRS ENVID=QQ+2B314159 BODY=8BITMIME SIZE=100")[0] == 250
    assert r.cmd("RCPT TO:<user@virt.test> NOTIFY=SUCCESS,DELAY "
                 "ORCPT=rfc822;User+2Bx@virt.test")[0] == 250
    assert r.cmd("RCPT TO:<@virt.test:other@virt.test> NOTIFY=NEVER")[0] == 250
    assert r.cmd("RCPT TO:<\"quoted user\"@relay.test> notify=failure")[0] == 250
    assert r.cmd("DATA")[0] == 354
    code, text, _ = r.cmd("Subject: dsn\r\n\r\n8bit \xe9\r\n.")
    assert code == 250
    q = U.wait_queued(inst, U.queued_id(text))
    assert q.committed and q.sender == ""
    assert q.attrs == {
        "client_name": "unknown", "client_address": "127.0.0.2",
        "client_port": q.attrs["client_port"], "helo": "client.example.org",
        "protocol": "ESMTP", "body": "8BITMIME", "ret": "HDRS", "envid": "QQ+314159",
    }
    assert q.rcpts == [
        {"addr": "user@virt.test", "orcpt": "rfc822;User+x@virt.test", "notify": 2 | 8,
         "orig": ""},
        {"addr": "other@virt.test", "orcpt": "", "notify": 1, "orig": ""},
        {"addr": "quoted user@relay.test", "orcpt": "", "notify": 4, "orig": ""},
    ]
    r.cmd("QUIT")


def test_smtputf8(srv):
    inst, port = srv
    c = U.client(port, internet=True)
    c.ehlo()
    assert c.has_extn("smtputf8")
    sender = "j\u00f6rg@b\u00fccher.example"
    code, _ = c.mail(sender, ["SMTPUTF8"])
    assert code == 250
    assert c.rcpt("user@virt.test")[0] == 250
    code, text = c.data("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\nhallo\r\n".encode())
    assert code == 250
    q = U.wait_queued(inst, U.queued_id(text.decode()))
    assert q.sender == sender and q.attrs["smtputf8"] == "1"
    assert q.attrs["protocol"] == "UTF8SMTP"
    assert b"with UTF8SMTP id" in q.content
    c.quit()


def test_bdat_binary_content(srv):
    inst, port = srv
    r = Raw(port, internet=True)
    assert r.cmd("EHLO client.example.org")[0] == 250
    payload = bytes(range(256)) * 40 + b"\r\n.\r\n\n.\n\r.\r" + bytes(range(255, -1, -1))
    head = b"Subject: binary\r\nContent-Type: application/octet-stream\r\n\r\n"
    chunks = [head, payload[:5000], payload[5000:], b""]
    # pipelined: MAIL, RCPT and every chunk in one write (RFC 3030 4.2)
    batch = b"MAIL FROM:<a@example.org> BODY=BINARYMIME\r\nRCPT TO:<user@virt.test>\r\n"
    for i, ch in enumerate(chunks):
        last = " LAST" if i == len(chunks) - 1 else ""
        batch += b"BDAT %d%s\r\n" % (len(ch), last.encode()) + ch
    r.send(batch)
    assert r.reply()[0] == 250 and r.reply()[0] == 250
    total = 0
    for ch in chunks[:-1]:
        total += len(ch)
        assert r.reply()[:2] == (250, "2.0.0 Ok: %d bytes" % total)
    code, text, _ = r.reply()
    assert code == 250 and text.startswith("2.0.0 Ok: queued as ")
    q = U.wait_queued(inst, U.queued_id(text))
    assert q.attrs["body"] == "BINARYMIME"
    stored = q.content.split(b"\r\n", 3)[3]
    assert stored == head + payload
    assert r.cmd("NOOP")[0] == 250
    # BDAT 0 LAST after data, and a single BDAT LAST
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<user@virt.test>")[0] == 250
    r.send(b"BDAT 14 LAST\r\nSubject: x\r\n\r\n")
    assert r.reply()[0] == 250
    r.cmd("QUIT")
    inst.wait_log(r"disconnect from unknown\[127\.0\.0\.2\] ehlo=1 mail=2 rcpt=2 bdat=5 "
                  r"noop=1 quit=1 commands=12")


def test_bdat_errors(srv):
    inst, port = srv
    r = Raw(port, internet=True)
    assert r.cmd("EHLO client.example.org")[0] == 250
    # refused chunks are still read: the data must never be taken as commands
    r.send(b"BDAT 12\r\nRSET\r\nQUIT\r\n")
    assert r.reply()[:2] == (503, "5.5.1 Error: need MAIL command")
    assert r.cmd("MAIL FROM:<a@example.org> BODY=BINARYMIME")[0] == 250
    assert r.cmd("RCPT TO:<nobody@virt.test>")[0] == 550
    r.send(b"BDAT 6 LAST\r\nQUIT\r\n")
    assert r.reply()[:2] == (554, "5.5.1 Error: no valid recipients")
    assert r.cmd("RCPT TO:<user@virt.test>")[0] == 250
    assert r.cmd("DATA")[:2] == (503, "5.5.1 Error: BODY=BINARYMIME requires BDAT")
    r.send(b"BDAT 4\r\nab\r\n")
    assert r.reply()[0] == 250
    assert r.cmd("DATA")[:2] == (503, "5.5.1 Error: DATA after BDAT")
    assert r.cmd("RCPT TO:<other@virt.test>")[:2] == (503, "5.5.1 Error: RCPT after BDAT")
    # over message_size_limit: the chunk is refused, then the whole transaction
    r.send(b"BDAT 100001\r\n" + b"x" * 100001)
    assert r.reply()[:2] == (552, "5.3.4 Error: message file too big")
    r.send(b"BDAT 3 LAST\r\nabc")
    assert r.reply()[0] == 503
    assert r.cmd("RSET")[0] == 250
    assert r.cmd("NOOP")[0] == 250
    # a malformed BDAT cannot be skipped: 501 and the connection is closed
    assert r.cmd("BDAT ten")[:2] == (501, "5.5.4 Syntax: BDAT count [LAST]")
    assert r.closed()
    assert [q for q in U.committed_files(inst) if q.sender == "a@example.org" and
            q.attrs["client_address"] == "127.0.0.2" and b"ab\r\n" == q.content[-4:]] == []


def test_missing_headers_only_for_trusted_clients(srv):
    inst, port = srv
    text = "Subject: bare\r\n\r\nbody\r\n"
    for internet in (True, False):
        c = U.client(port, internet=internet)
        c.ehlo()
        c.mail("a@example.org")
        c.rcpt("user@virt.test")
        code, reply = c.data(text)
        assert code == 250
        q = U.wait_queued(inst, U.queued_id(reply.decode()))
        head, body = q.headers_and_body()
        assert body == b"body\r\n"
        if internet:
            assert head.endswith(b"\r\nSubject: bare")
        else:
            assert re.search(rb"\r\nSubject: bare\r\nDate: \w{3}, \d\d \w{3} \d{4} [\d:]{8} "
                             rb"[+-]\d{4} \(\w+\)\r\nMessage-Id: <\d{14}\.\w+@mail\.petrel\.test>"
                             rb"\r\nFrom: a@example\.org$", head), head
        c.quit()
    # a message that starts with its body: headers and a separating empty line are added
    c = U.client(port)
    code, reply = c.sendmail("a@example.org", ["user@virt.test"], "just a body line\r\n"), None
    c.quit()
    q = sorted(U.committed_files(inst), key=lambda x: x.path)[-1]
    assert re.search(rb"\r\nFrom: a@example\.org\r\n\r\njust a body line\r\n$", q.content)


def test_qmgr_trigger(instances):
    trig = None
    inst, ports = U.smtpd_instance(instances, start=False)
    trig = os.path.join(inst.shared, "triggers")
    inst.set_master_cf(inst.master_cf + "qmgr unix n - n - 1 testsvc triggers %s\n" % trig)
    inst.start()
    U.wait_listening([ports["smtp"]])
    H.wait_for(lambda: os.path.exists(os.path.join(inst.queue, "public", "qmgr")),
               what="public/qmgr")
    c = U.client(ports["smtp"])
    c.sendmail("a@example.org", ["user@virt.test"], U.msg())
    c.sendmail("a@example.org", ["user@virt.test"], U.msg())
    c.quit()
    H.wait_for(lambda: os.path.exists(trig) and open(trig).read() == "AA",
               what="two new-mail triggers")
    assert "cannot notify qmgr" not in inst.log()


def test_no_qmgr_mail_waits(instances):
    inst, ports = U.smtpd_instance(instances)
    c = U.client(ports["smtp"])
    for _ in range(3):
        c.sendmail("a@example.org", ["user@virt.test"], U.msg())
    c.quit()
    assert len(U.committed_files(inst)) == 3
    assert inst.log().count("cannot notify qmgr") == 1  # once per process


def serving_pid(inst, queue_id=None):
    pat = r"petrel/smtpd\[(\d+)\]: (\w+): client=unknown\[127\.0\.0\.1\]"
    m = H.wait_for(lambda: re.findall(pat, inst.log()), what="client= log line")
    return int(m[-1][0]), m[-1][1]


def test_crash_safety(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={"message_size_limit": "0"})
    port = ports["smtp"]
    # killed in the middle of DATA: the file exists but is not complete (mode 0600, no end
    # record): qmgr would not take it
    r = Raw(port)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<user@virt.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: killed\r\n\r\n" + b"0123456789abcdef" * 20000)  # 320 KB: on disk
    pid, qid = serving_pid(inst)
    path = os.path.join(inst.queue, "incoming", qid)
    H.wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 200000,
               what="content on disk")
    os.kill(pid, signal.SIGKILL)
    assert r.closed()
    for p in U.queue_files(inst):
        q = U.QueueFile(p)
        assert not q.complete and q.mode == 0o600
    assert U.committed_files(inst) == []
    # after the 250 the file is complete, whatever happens to the process
    c = U.client(port)
    c.ehlo()
    c.mail("a@example.org")
    c.rcpt("user@virt.test")
    code, reply = c.data(U.msg("survives"))
    assert code == 250
    pid, qid = serving_pid(inst)
    assert qid == U.queued_id(reply.decode())
    os.kill(pid, signal.SIGKILL)
    q = U.QueueFile(os.path.join(inst.queue, "incoming", qid))
    assert q.committed and b"Subject: survives" in q.content
    assert q.rcpts[0]["addr"] == "user@virt.test"
    c.close()


def test_bdat_chunk_boundaries_inside_headers(srv):
    """Chunks split a header name and a CRLF: header tracking (and the headers added for a
    trusted client) must see whole lines."""
    inst, port = srv
    r = Raw(port)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("RCPT TO:<user@virt.test>")[0] == 250
    msg = b"Subject: split\r\nFrom: me@example.org\r\n\r\nbody line\r\n"
    cuts = [3, 17, 20, 38, 39, len(msg)]
    start = 0
    for i, cut in enumerate(cuts):
        ch = msg[start:cut]
        last = b" LAST" if i == len(cuts) - 1 else b""
        r.send(b"BDAT %d%s\r\n" % (len(ch), last) + ch)
        code, text, _ = r.reply()
        assert code == 250
        if not last:
            assert text == "2.0.0 Ok: %d bytes" % cut
        start = cut
    q = U.wait_queued(inst, U.queued_id(text))
    head, body = q.headers_and_body()
    assert body == b"body line\r\n"
    assert re.search(rb"\r\nSubject: split\r\nFrom: me@example\.org\r\nDate: [^\r]+\r\n"
                     rb"Message-Id: <[^\r]+>$", head), head
    r.cmd("QUIT")
