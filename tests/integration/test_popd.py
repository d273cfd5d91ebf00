"""End-to-end tests of popd (issue 7): RFC 1939, 2449, 2595, 5034 over the mail store."""

import base64
import hashlib
import os
import poplib
import re
import signal
import socket
import ssl
import time

import pytest

import petrel_harness as H
from popd_util import USERS, PopSetup, Raw, popd_children

MSG1 = ("From: ann@example.test\nTo: joe@example.test\nSubject: first\n"
        "Message-ID: <1@example.test>\n\nHello Joe.\n.leading dot\n..two dots\n.\nend\n")
MSG2 = "Subject: second\r\n\r\nalready CRLF\r\n"
MULTI = ("From: ann@example.test\nSubject: parts\nMIME-Version: 1.0\n"
         "Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
         "preamble\n--b1\nContent-Type: text/plain\n\n.dot line in part\npart one\n"
         "--b1\nContent-Type: text/plain\n\n.\n..\npart two\n--b1--\n")
CAPA_AUTH = ["TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
             "EXPIRE NEVER", "SASL PLAIN", "STLS", "IMPLEMENTATION Petrel"]
CAPA_TRANS = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
              "IMPLEMENTATION Petrel"]


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def stuffed(text):
    """RETR's multi-line body of a message text: CRLF, byte-stuffed, terminated."""
    body = crlf(text)
    lines = body.split("\r\n")[:-1] if body.endswith("\r\n") else body.split("\r\n")
    return ("".join(("." + l if l.startswith(".") else l) + "\r\n" for l in lines)
            + ".\r\n").encode()


def uid_of(uidl):
    return int(uidl[8:], 16)


def test_login_stat_list_retr_quit(instances):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    ps.deliver(MSG2)
    total = len(crlf(MSG1)) + len(MSG2)
    c = Raw(ps.port)
    assert c.line() == "+OK mail.petrel.test POP3 server ready"
    assert c.cmd("CAPA") == "+OK Capability list follows"
    assert c.multi() == CAPA_AUTH
    assert c.cmd("USER joe@example.test") == "+OK Send your password"
    assert c.cmd("PASS secret pw") == "+OK Logged in, 2 messages (%d octets)" % total
    assert c.cmd("CAPA") == "+OK Capability list follows"
    assert c.multi() == CAPA_TRANS
    assert c.cmd("STAT") == "+OK 2 %d" % total
    assert c.cmd("LIST") == "+OK 2 messages (%d octets)" % total
    assert c.multi() == ["1 %d" % len(crlf(MSG1)), "2 %d" % len(MSG2)]
    assert c.cmd("LIST 2") == "+OK 2 %d" % len(MSG2)
    assert c.cmd("UIDL") == "+OK Unique-ID listing follows"
    uidls = c.multi()
    assert [u.split()[0] for u in uidls] == ["1", "2"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", u.split()[1]) for u in uidls)
    assert [uid_of(u.split()[1]) for u in uidls] == [1, 2]
    assert c.cmd("UIDL 1") == "+OK " + uidls[0]
    assert c.cmd("RETR 1") == "+OK %d octets" % len(crlf(MSG1))
    assert c.raw_multi() == stuffed(MSG1)
    assert c.cmd("RETR 2") == "+OK %d octets" % len(MSG2)
    assert c.raw_multi() == stuffed(MSG2)
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("QUIT") == "+OK Logging out, 0 messages deleted"
    assert c.closed()
    c.close()
    # retrieved messages are \Seen now: moved from new/ to cur/ with :2,S
    assert ps.files(sub="new") == []
    assert all(f.endswith(":2,S") for f in ps.files(sub="cur")) and len(ps.files(sub="cur")) == 2
    log = ps.inst.wait_log(r"logout: user=<joe@example.test>")
    assert re.search(r"popd\[\d+\]: login: user=<joe@example\.test>, method=USER, "
                     r"rip=127\.0\.0\.1, lip=127\.0\.0\.1\n", ps.inst.log())
    assert re.search(r"logout: user=<joe@example\.test>, top=0/0, retr=2/%d, del=0/2, size=%d"
                     % (total, total), ps.inst.log())


def test_popd_runs_as_the_mailbox_owner(instances):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    c = Raw(ps.port)
    c.line()
    c.login()
    kids = popd_children(ps.inst)
    assert kids
    for k in kids:
        H.wait_for(lambda: (H.proc_info(k["pid"]) or {}).get("uid", ps.vuid) == ps.vuid,
                   timeout=5, what="popd to drop privileges")
        info = H.proc_info(k["pid"])
        if info:
            assert (info["uid"], info["euid"], info["gid"]) == (ps.vuid, ps.vuid, ps.vgid)
    st = os.stat(os.path.join(ps.maildir(), "petrel.index"))
    assert (st.st_uid, st.st_gid) == (ps.vuid, ps.vgid)
    c.cmd("QUIT")
    c.close()


def test_poplib_plain_stls_and_pop3s(instances):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    ps.deliver(MULTI)
    # plain
    p = poplib.POP3("127.0.0.1", ps.port, timeout=15)
    assert p.getwelcome() == b"+OK mail.petrel.test POP3 server ready"
    caps = p.capa()
    assert "STLS" in caps and caps["SASL"] == ["PLAIN"] and caps["EXPIRE"] == ["NEVER"]
    p.user("joe@example.test")
    p.pass_("secret pw")
    assert p.stat()[0] == 2
    resp, lines, octets = p.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == crlf(MULTI).encode()
    p.quit()
    # STLS (RFC 2595)
    p = poplib.POP3("127.0.0.1", ps.port, timeout=15)
    p.stls(context=ps.client_ctx())
    assert "STLS" not in p.capa()
    p.user("joe@example.test")
    p.pass_("secret pw")
    assert [uid.split()[0] for uid in p.uidl()[1]] == [b"1", b"2"]
    p.quit()
    ps.inst.wait_log(r"login: user=<joe@example\.test>, method=USER, rip=127\.0\.0\.1, "
                     r"lip=127\.0\.0\.1, TLS")
    # POP3S (implicit TLS)
    p = poplib.POP3_SSL("127.0.0.1", ps.sport, timeout=15, context=ps.client_ctx())
    assert "STLS" not in p.capa()
    p.user("joe@example.test")
    p.pass_("secret pw")
    resp, lines, octets = p.top(1, 0)
    assert lines[-1] == b"" and b"Subject: first" in lines
    p.quit()


def test_stls_discards_pipelined_plaintext(instances):
    ps = PopSetup(instances)
    c = Raw(ps.port)
    c.line()
    c.send("STLS\r\nUSER joe@example.test\r\n")
    assert c.line() == "+OK Begin TLS negotiation now"
    tls = ps.client_ctx().wrap_socket(c.sock, server_hostname="localhost")
    f = tls.makefile("rb")
    tls.sendall(b"NOOP\r\n")
    assert f.readline() == b"-ERR Not logged in\r\n"  # the pipelined USER was discarded
    tls.sendall(b"PASS secret pw\r\n")
    assert f.readline() == b"-ERR No user name given: USER first\r\n"
    tls.sendall(b"STLS\r\n")
    assert f.readline() == b"-ERR TLS is already active\r\n"
    tls.close()


def test_plaintext_refused_outside_plaintext_networks(instances):
    ps = PopSetup(instances, main_cf={"plaintext_auth_networks": "192.0.2.0/24"})
    c = Raw(ps.port)
    c.line()
    assert c.cmd("CAPA").startswith("+OK")
    caps = c.multi()
    assert "USER" not in caps and "SASL PLAIN" not in caps and "STLS" in caps
    assert c.cmd("USER joe@example.test") == \
        "-ERR [AUTH] Plaintext authentication disallowed without TLS"
    assert c.cmd("AUTH PLAIN " + base64.b64encode(b"\0joe@example.test\0secret pw").decode()) \
        == "-ERR [AUTH] Plaintext authentication disallowed without TLS"
    c.close()
    # after STLS it is fine
    p = poplib.POP3("127.0.0.1", ps.port, timeout=15)
    p.stls(context=ps.client_ctx())
    assert "USER" in p.capa()
    p.user("joe@example.test")
    p.pass_("secret pw")
    p.quit()


def test_auth_plain(instances):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    good = base64.b64encode(b"\0joe@example.test\0secret pw").decode()
    c = Raw(ps.port)
    c.line()
    assert c.cmd("AUTH") == "+OK Mechanisms follow"
    assert c.multi() == ["PLAIN"]
    assert c.cmd("AUTH CRAM-MD5") == "-ERR Unsupported authentication mechanism"
    # the SASL exchange after an empty challenge, and its cancellation
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("*") == "-ERR Authentication cancelled"
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("not base64!") == "-ERR Invalid base64 data"
    assert c.cmd("AUTH PLAIN =") == "-ERR [AUTH] Authentication failed"
    authz = base64.b64encode(b"ann@example.test\0joe@example.test\0secret pw").decode()
    assert c.cmd("AUTH PLAIN " + authz) == "-ERR [AUTH] Authentication failed"
    c.close()
    c = Raw(ps.port)
    c.line()
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd(good).startswith("+OK Logged in, 1 message ")
    assert c.cmd("QUIT").startswith("+OK")
    c.close()
    c = Raw(ps.port)
    c.line()
    own = base64.b64encode(b"joe@example.test\0joe@example.test\0secret pw").decode()
    assert c.cmd("auth plain " + own).startswith("+OK Logged in")
    assert c.cmd("AUTH PLAIN " + good) == "-ERR Already logged in"
    c.cmd("QUIT")
    c.close()
    assert re.search(r"login: user=<joe@example\.test>, method=PLAIN, rip=127\.0\.0\.1",
                     ps.inst.log())


def test_failed_logins_same_answer_delay_and_limit(instances):
    ps = PopSetup(instances, main_cf={"popd_login_failure_delay": "1s",
                                      "popd_login_failure_limit": "2"})
    c = Raw(ps.port)
    c.line()
    c.cmd("USER nobody@example.test")
    t0 = time.time()
    unknown = c.cmd("PASS secret pw")
    assert time.time() - t0 >= 0.9
    c.cmd("USER joe@example.test")
    wrong = c.cmd("PASS wrong")
    assert unknown == "-ERR [AUTH] Authentication failed"
    assert wrong == "-ERR [AUTH] Authentication failed; too many failures, closing connection"
    assert c.closed()
    c.close()
    log = ps.inst.log()
    assert re.search(r"auth failed: user=<nobody@example\.test>, method=USER, rip=127\.0\.0\.1",
                     log)
    assert re.search(r"auth failed: user=<joe@example\.test>, method=USER", log)
    # a user with a password but no mailbox: a clear -ERR, no crash
    ps2 = PopSetup(instances, users={"joe@example.test": "secret pw",
                                     "lost@example.test": "pw"})
    ps2.write_tables(mailboxes=["joe@example.test"])
    c = Raw(ps2.port)
    c.line()
    c.cmd("USER lost@example.test")
    assert c.cmd("PASS pw") == "-ERR [SYS/PERM] No mailbox for this user"
    c.close()


def test_new_user_gets_inbox_and_special_folders(instances):
    ps = PopSetup(instances)
    assert not os.path.exists(ps.maildir("ann@example.test"))
    c = Raw(ps.port)
    c.line()
    assert c.login("ann@example.test") == "+OK Logged in, 0 messages (0 octets)"
    assert c.cmd("STAT") == "+OK 0 0"
    assert c.cmd("LIST") == "+OK 0 messages (0 octets)"
    assert c.multi() == []
    c.cmd("QUIT")
    root = ps.maildir("ann@example.test")
    for sub in ("tmp", "new", "cur", ".Drafts/cur", ".Sent/new", ".Trash/tmp", ".Junk/cur",
                ".Archive/cur"):
        assert os.path.isdir(os.path.join(root, sub)), sub
    with open(os.path.join(root, "subscriptions")) as f:
        assert f.read().split() == ["INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"]
    st = os.stat(root)
    assert (st.st_uid, st.st_gid) == (ps.vuid, ps.vgid)


def test_dele_rset_and_quit_update(instances):
    ps = PopSetup(instances)
    names = [ps.deliver("Subject: m%d\n\nbody %d\n" % (i, i)) for i in range(1, 5)]
    c = Raw(ps.port)
    c.line()
    c.login()
    assert c.cmd("DELE 2") == "+OK Message 2 deleted"
    # a deleted message is gone for this session
    assert c.cmd("DELE 2") == "-ERR Message 2 already deleted"
    assert c.cmd("RETR 2") == "-ERR Message 2 already deleted"
    assert c.cmd("TOP 2 0") == "-ERR Message 2 already deleted"
    assert c.cmd("LIST 2") == "-ERR Message 2 already deleted"
    assert c.cmd("UIDL 2") == "-ERR Message 2 already deleted"
    assert c.cmd("STAT") == "+OK 3 %d" % (3 * len("Subject: m1\r\n\r\nbody 1\r\n"))
    assert c.cmd("LIST").startswith("+OK 3 messages")
    assert [l.split()[0] for l in c.multi()] == ["1", "3", "4"]
    assert c.cmd("UIDL").startswith("+OK")
    assert [l.split()[0] for l in c.multi()] == ["1", "3", "4"]
    assert c.cmd("RSET") == "+OK Maildrop has 4 messages (%d octets)" % (
        4 * len("Subject: m1\r\n\r\nbody 1\r\n"))
    assert c.cmd("DELE 1") == "+OK Message 1 deleted"
    assert c.cmd("DELE 3") == "+OK Message 3 deleted"
    assert c.cmd("RETR 4").startswith("+OK")
    c.raw_multi()
    # nothing has changed on disk before QUIT
    assert ps.files() == sorted(names)
    assert c.cmd("QUIT") == "+OK Logging out, 2 messages deleted"
    c.close()
    assert ps.files() == [names[1]]
    assert [f.split(":")[0] for f in ps.files(sub="cur")] == [names[3]]
    # the next session numbers the rest from 1 with the same UIDLs
    c = Raw(ps.port)
    c.line()
    c.login()
    c.cmd("UIDL")
    assert [uid_of(l.split()[1]) for l in c.multi()] == [2, 4]
    c.cmd("QUIT")
    c.close()


def test_dropped_connection_deletes_nothing(instances):
    ps = PopSetup(instances, main_cf={"popd_timeout": "2s"})
    names = [ps.deliver("Subject: m%d\n\nx\n" % i) for i in range(3)]
    # dropped: no QUIT
    c = Raw(ps.port)
    c.line()
    c.login()
    c.cmd("DELE 1")
    c.cmd("RETR 2")
    c.raw_multi()
    c.close()
    ps.inst.wait_log(r"disconnect without QUIT: user=<joe@example\.test>")
    # autologout (RFC 1939 3): closed without a reply, without UPDATE
    c = Raw(ps.port)
    c.line()
    c.login()
    assert c.cmd("DELE 1").startswith("+OK")
    t0 = time.time()
    assert c.closed(timeout=10)
    assert 1.5 < time.time() - t0 < 9
    c.close()
    ps.inst.wait_log(r"autologout without QUIT")
    assert ps.files() == sorted(names) and ps.files(sub="cur") == []


def test_second_session_in_use_and_crash_releases_lock(instances):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    a = Raw(ps.port)
    a.line()
    a.login()
    b = Raw(ps.port)
    b.line()
    b.cmd("USER joe@example.test")
    assert b.cmd("PASS secret pw") == "-ERR [IN-USE] Mailbox is locked by another POP3 session"
    # another user is not affected
    ps.deliver(MSG2, user="ann@example.test")
    assert b.login("ann@example.test").startswith("+OK Logged in, 1 message")
    b.cmd("QUIT")
    b.close()
    # the holder dies: the kernel drops its lock
    holder = [k for k in popd_children(ps.inst)
              if any(os.readlink("/proc/%d/fd/%s" % (k["pid"], fd)).endswith("petrel.lock")
                     for fd in os.listdir("/proc/%d/fd" % k["pid"]))]
    assert len(holder) == 1
    pid = holder[0]["pid"]
    os.kill(pid, signal.SIGKILL)
    H.wait_for(lambda: (H.proc_info(pid) or {"state": "Z"})["state"].startswith("Z"),
               timeout=10, what="the killed popd to exit")
    a.close()
    c = Raw(ps.port)
    c.line()
    assert c.login().startswith("+OK Logged in, 1 message")
    c.cmd("QUIT")
    c.close()
    assert ps.files() != []  # the killed session deleted nothing (it had not quit)


def test_uidl_stable_and_mail_during_session(instances):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    ps.deliver(MSG2)
    c = Raw(ps.port)
    c.line()
    c.login()
    c.cmd("UIDL")
    first = c.multi()
    ps.deliver("Subject: late\n\nlate\n")  # arrives during the session
    assert c.cmd("STAT").startswith("+OK 2 ")
    c.cmd("RETR 1")
    c.raw_multi()
    c.cmd("QUIT")
    c.close()
    # an IMAP-like flag change renames the file: UIDL must not change
    cur = ps.files(sub="cur")
    assert len(cur) == 1 and cur[0].endswith(":2,S")
    os.rename(os.path.join(ps.maildir(), "cur", cur[0]),
              os.path.join(ps.maildir(), "cur", cur[0] + "F"))
    c = Raw(ps.port)
    c.line()
    assert c.login().startswith("+OK Logged in, 3 messages")
    c.cmd("UIDL")
    again = c.multi()
    assert again[:2] == first
    assert uid_of(again[2].split()[1]) == 3
    c.cmd("QUIT")
    c.close()


def test_top_on_multipart_and_dot_lines(instances):
    ps = PopSetup(instances)
    ps.deliver(MULTI)
    ps.deliver("Subject: no body")  # no header/body separator, no final newline
    c = Raw(ps.port)
    c.line()
    c.login()
    header, body = crlf(MULTI).split("\r\n\r\n", 1)
    assert c.cmd("TOP 1 0") == "+OK Top of message follows"
    assert c.raw_multi() == (header + "\r\n\r\n.\r\n").encode()
    assert c.cmd("TOP 1 4") == "+OK Top of message follows"
    four = "".join(l + "\r\n" for l in body.split("\r\n")[:4])
    assert c.raw_multi() == stuffed(header + "\r\n\r\n" + four)
    assert c.cmd("TOP 1 1000") == "+OK Top of message follows"
    assert c.raw_multi() == stuffed(MULTI)
    assert c.cmd("TOP 2 5") == "+OK Top of message follows"
    assert c.raw_multi() == b"Subject: no body\r\n.\r\n"
    assert c.cmd("RETR 2") == "+OK 16 octets"
    assert c.raw_multi() == b"Subject: no body\r\n.\r\n"
    assert c.cmd("UIDL 1").startswith("+OK 1 ")
    assert c.cmd("TOP 1") == "-ERR Syntax error in TOP"
    assert c.cmd("TOP 1 -1") == "-ERR Invalid number of lines"
    assert c.cmd("TOP 1 x") == "-ERR Invalid number of lines"
    c.cmd("QUIT")
    c.close()
    # TOP does not count as reading: the message stays in new/
    assert len(ps.files()) == 1


def test_pipelining_and_malformed_input(instances):
    ps = PopSetup(instances, main_cf={"popd_error_limit": "30"})
    ps.deliver(MSG1)
    ps.deliver(MSG2)
    c = Raw(ps.port)
    c.line()
    # before login
    assert c.cmd("STAT") == "-ERR Not logged in"
    assert c.cmd("NOOP") == "-ERR Not logged in"
    assert c.cmd("PASS x") == "-ERR No user name given: USER first"
    assert c.cmd("USER") == "-ERR Unknown command"
    assert c.cmd("APOP joe@example.test 0123") == "-ERR APOP is not available"
    assert c.cmd("HELO") == "-ERR Unknown command"
    assert c.cmd("") == "-ERR Syntax error"
    # pipelined: login and many commands in one packet, answered in order
    c.send("USER joe@example.test\r\nPASS secret pw\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 2\r\n"
           "TOP 1 0\r\nNOOP\r\n")
    assert c.line() == "+OK Send your password"
    assert c.line().startswith("+OK Logged in, 2 messages")
    assert c.line().startswith("+OK 2 ")
    assert c.line().startswith("+OK 2 messages")
    assert len(c.multi()) == 2
    assert c.line().startswith("+OK 2 ")
    assert c.line() == "+OK %d octets" % len(MSG2)
    assert c.raw_multi() == stuffed(MSG2)
    assert c.line() == "+OK Top of message follows"
    c.raw_multi()
    assert c.line() == "+OK"
    bad = {
        "RETR": "-ERR Syntax error in RETR",
        "RETR 0": "-ERR No such message, only 2 in maildrop",
        "RETR 3": "-ERR No such message, only 2 in maildrop",
        "RETR 4294967296": "-ERR Invalid message number",
        "RETR x": "-ERR Invalid message number",
        "RETR -1": "-ERR Invalid message number",
        "RETR +1": "-ERR Invalid message number",
        "RETR 1 2": "-ERR Syntax error in RETR",
        "LIST 1 2": "-ERR Syntax error in LIST",
        "STAT x": "-ERR Syntax error in STAT",
        "DELE": "-ERR Syntax error in DELE",
        "RETR  1": "-ERR Syntax error",
        "RETR 1 ": "-ERR Syntax error",
        "A B C D E": "-ERR Syntax error",
        "LAST": "-ERR Unknown command",
        "USER joe": "-ERR Already logged in",
        "STLS": "-ERR Already logged in",
        "retr\x001": "-ERR Invalid characters in command",
        "NOOP\x1b": "-ERR Invalid characters in command",
    }
    for cmd, want in bad.items():
        assert c.cmd(cmd) == want, cmd
    # none of that changed anything; lower case works
    assert c.cmd("stat").startswith("+OK 2 ")
    # a line of exactly popd_command_line_limit octets is accepted, one more is not
    limit = 512
    assert c.cmd("NOOP" + " " * 0 + "") == "+OK"
    assert c.cmd("LIST " + "0" * (limit - 2 - 5 - 1) + "1") == "+OK 1 %d" % len(crlf(MSG1))
    assert c.cmd("LIST " + "0" * (limit - 2 - 5) + "1") == "-ERR Command line too long"
    assert c.cmd("STAT").startswith("+OK 2 ")
    c.cmd("QUIT")
    c.close()


def test_error_limit_closes(instances):
    ps = PopSetup(instances, main_cf={"popd_error_limit": "3"})
    c = Raw(ps.port)
    c.line()
    assert c.cmd("X1") == "-ERR Unknown command"
    assert c.cmd("X2") == "-ERR Unknown command"
    assert c.cmd("X3") == "-ERR Unknown command; too many errors, closing connection"
    assert c.closed()
    c.close()
    # a flood of garbage far over the line limit does not hurt either
    c = Raw(ps.port)
    c.line()
    c.send(b"A" * 100000 + b"\r\n")
    assert c.line() == "-ERR Command line too long"
    assert c.cmd("QUIT") == "+OK Bye"
    c.close()


def test_large_message_streams(instances):
    ps = PopSetup(instances)
    line = b"0123456789" * 7 + b"\n"  # 71 bytes stored, 72 sent
    n = (20 * 1024 * 1024) // len(line) + 1
    ps.deliver(b"Subject: big\n\n" + line * n)
    size = len(b"Subject: big\r\n\r\n") + 72 * n
    p = poplib.POP3("127.0.0.1", ps.port, timeout=60)
    p.user("joe@example.test")
    p.pass_("secret pw")
    assert p.list(1) == b"+OK 1 %d" % size
    c = p.sock
    p._putcmd("RETR 1")
    assert p._getresp() == b"+OK %d octets" % size
    got = 0
    pids = [k["pid"] for k in popd_children(ps.inst)]
    while True:
        l = p.file.readline()
        if l == b".\r\n":
            break
        got += len(l)
    assert got == size
    hwm = []
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                hwm += [int(x.split()[1]) for x in f if x.startswith("VmHWM")]
        except OSError:
            pass
    if not os.environ.get("PETREL_SANITIZER_DIR"):
        assert hwm and max(hwm) < 16 * 1024, hwm  # kB: the message was never in memory
    p.quit()


def test_apop(instances):
    ps = PopSetup(instances, main_cf={"popd_apop_enable": "yes",
                                      "popd_apop_secret_maps": "hash:$config_directory/apop"})
    with open(os.path.join(ps.inst.etc, "apop"), "w") as f:
        f.write("joe@example.test tanstaaf\n")
    assert ps.inst.run("petrel-map", "hash:" + os.path.join(ps.inst.etc, "apop")).returncode == 0
    ps.deliver(MSG1)
    c = Raw(ps.port)
    greeting = c.line()
    stamp = re.fullmatch(r"\+OK mail\.petrel\.test POP3 server ready (<[^>]+@mail\.petrel\.test>)",
                         greeting).group(1)
    wrong = hashlib.md5((stamp + "nope").encode()).hexdigest()
    assert c.cmd("APOP joe@example.test " + wrong) == "-ERR [AUTH] Authentication failed"
    assert c.cmd("APOP ann@example.test " + wrong) == "-ERR [AUTH] Authentication failed"
    right = hashlib.md5((stamp + "tanstaaf").encode()).hexdigest()
    assert c.cmd("APOP joe@example.test " + right.upper()).startswith("+OK Logged in, 1 message")
    c.cmd("QUIT")
    c.close()
    # poplib computes the digest itself from the greeting
    p = poplib.POP3("127.0.0.1", ps.port, timeout=15)
    assert p.apop("joe@example.test", "tanstaaf").startswith(b"+OK")
    p.quit()
    assert re.search(r"login: user=<joe@example\.test>, method=APOP", ps.inst.log())


def test_login_delay(instances):
    ps = PopSetup(instances, main_cf={"popd_login_delay": "60s"})
    c = Raw(ps.port)
    c.line()
    assert c.cmd("CAPA").startswith("+OK")
    assert "LOGIN-DELAY 60" in c.multi()
    c.login()
    c.cmd("QUIT")
    c.close()
    c = Raw(ps.port)
    c.line()
    c.cmd("USER joe@example.test")
    assert c.cmd("PASS secret pw") == "-ERR [LOGIN-DELAY] Minimum time between logins is 60 seconds"
    c.close()


def test_sasl_line_limit(instances):
    ps = PopSetup(instances, main_cf={"popd_sasl_line_limit": "300"})
    c = Raw(ps.port)
    c.line()
    # exactly 300 octets with CRLF: read and judged (not valid PLAIN: a failure)
    assert c.cmd("AUTH PLAIN") == "+ "
    resp = base64.b64encode(b"\0joe@example.test\0" + b"x" * 300)[:298]
    assert len(resp) == 298
    assert c.cmd(resp.decode()) in ("-ERR [AUTH] Authentication failed", "-ERR Invalid base64 data")
    # one more is refused as too long, and the session goes on
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("A" * 299) == "-ERR Authentication line too long"
    good = base64.b64encode(b"\0joe@example.test\0secret pw").decode()
    assert c.cmd("AUTH PLAIN " + good).startswith("+OK Logged in")
    c.cmd("QUIT")
    c.close()
