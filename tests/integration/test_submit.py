"""End-to-end tests of local submission: sendmail (every option), petrel-drop, pickup,
mailq, newaliases; as root and as an unprivileged user."""

import grp
import os
import pwd
import re
import stat
import subprocess
import time

import pytest

import petrel_harness as H
from petrel_harness import wait_for
import qmgr_util as Q
import smtpd_util as U
import submit_util as S

HOST = S.HOST
USER = "ptsubmit"

MSG = "Subject: hello\n\nfirst line\n"


@pytest.fixture(scope="module")
def user():
    """An ordinary local user with a GECOS name (root only)."""
    if not H.IS_ROOT:
        pytest.skip("needs root to create a user")
    u = Q.Users()
    u.add(USER)
    subprocess.run(["usermod", "-c", "Petra Submitter,Room 1", USER], check=True)
    yield pwd.getpwnam(USER)
    u.cleanup()


@pytest.fixture
def inst(instances):
    return S.submit_instance(instances)


def incoming_file(inst, qid):
    return U.QueueFile(os.path.join(inst.queue, "incoming", qid))


def test_root_submission_reaches_the_mailbox(inst):
    r = S.sendmail(inst, "-v", "demo@example.test", input=MSG + ".\nnot part of it\n")
    assert r.returncode == 0, r.stderr
    qid = S.queued_id(r)
    msg = S.wait_mail(inst)[0]
    assert msg["Subject"] == "hello"
    assert msg["From"] == "root <root@%s>" % HOST
    assert msg["Message-Id"].endswith(".%s@%s>" % (qid, HOST))
    assert msg["Date"]
    assert msg["Return-Path"] == "<root@%s>" % HOST
    assert re.match(r"by %s \(Petrel, from userid 0\)\s+id %s; " % (HOST, qid), msg["Received"])
    assert msg.get_payload() == "first line\n"  # the lone dot ended the input
    assert re.search(r"pickup\[\d+\]: %s: uid=0 user=root from=<root@%s>" % (qid, HOST),
                     inst.log())
    Q.wait_removed(inst, qid)
    assert S.maildrop_files(inst) == []


def test_unprivileged_user(inst, user):
    r = S.sendmail(inst, "-v", "demo@example.test", input=MSG, user=USER)
    assert r.returncode == 0, r.stderr
    qid = S.queued_id(r)
    msg = S.wait_mail(inst)[0]
    assert msg["From"] == "Petra Submitter <%s@%s>" % (USER, HOST)
    assert msg["Return-Path"] == "<%s@%s>" % (USER, HOST)
    assert "from userid %d)" % user.pw_uid in msg["Received"]
    assert re.search(r"%s: uid=%d user=%s from=<%s@%s>" % (qid, user.pw_uid, USER, USER, HOST),
                     inst.log())
    # the user cannot reach the queue by itself: only the set-gid helper can
    maildrop = os.path.join(inst.queue, "maildrop")
    st = os.stat(maildrop)
    assert stat.S_IMODE(st.st_mode) == 0o1730
    r = subprocess.run(["ls", maildrop], capture_output=True, **S.run_as(USER))
    assert r.returncode != 0
    # MAIL_CONFIG instead of -C; -f, -F and the NAME variable
    r = S.cmd(inst, "sendmail", "-f", "alias-owner@example.org", "demo@example.test",
              input=MSG, user=USER, env={"MAIL_CONFIG": inst.etc, "NAME": "Ignored Name"},
              config=None)
    assert r.returncode == 0, r.stderr
    r = S.sendmail(inst, "-F", "Full, Name", "demo@example.test", input=MSG, user=USER,
                   env={"NAME": "Env Name"})
    assert r.returncode == 0, r.stderr
    r = S.sendmail(inst, "demo@example.test", input=MSG, user=USER, env={"NAME": "Env Name"})
    msgs = {m["Return-Path"] + m["From"] for m in S.wait_mail(inst, 4)}
    assert "<alias-owner@example.org>Ignored Name <alias-owner@example.org>" in msgs
    assert '<%s@%s>"Full, Name" <%s@%s>' % (USER, HOST, USER, HOST) in msgs
    assert "<%s@%s>Env Name <%s@%s>" % (USER, HOST, USER, HOST) in msgs


def test_untrusted_config_directory_refused(inst, user, tmp_path):
    """A user's own configuration cannot steer the set-gid helper."""
    mine = tmp_path / "etc"
    mine.mkdir()
    (mine / "main.cf").write_text(open(os.path.join(inst.etc, "main.cf")).read())
    os.chown(mine, user.pw_uid, user.pw_gid)
    os.chown(tmp_path, user.pw_uid, user.pw_gid)
    r = S.cmd(inst, "petrel-drop", input="", user=USER, config=None,
              env={"MAIL_CONFIG": str(mine)})
    assert r.returncode == 77
    assert "is not trusted" in r.stderr
    assert S.maildrop_files(inst) == []


def test_cron_style(inst, user):
    """What cron does: no terminal, no -f, no headers at all, recipient a local user."""
    p = subprocess.run("echo 'backup done' | %s/sendmail -C %s demo@example.test" %
                       (inst.bindir, inst.etc), shell=True, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30, **S.run_as(USER))
    assert p.returncode == 0, p.stderr
    msg = S.wait_mail(inst)[0]
    assert msg["From"] == "Petra Submitter <%s@%s>" % (USER, HOST)
    assert msg["Date"] and msg["Message-Id"]
    assert msg.get_payload() == "backup done\n"


def test_mutt_style(inst):
    body = "From: Me <me@example.org>\nTo: demo@example.test\nSubject: mutt\n\n.\n..\nend\n"
    r = S.sendmail(inst, "-oi", "-oem", "-f", "me@example.org", "--", "demo@example.test",
                   input=body)
    assert r.returncode == 0, r.stderr
    msg = S.wait_mail(inst)[0]
    assert msg["From"] == "Me <me@example.org>"
    assert msg["Return-Path"] == "<me@example.org>"
    assert msg.get_payload() == ".\n..\nend\n"  # -oi: dots are data, never unstuffed


def test_extract_recipients_and_bcc(inst):
    body = ("To: Demo <demo@example.test>, other@example.test\n"
            "Cc: undisclosed-recipients:;\n"
            "Bcc: hidden <other@example.test>,\n demo@example.test\n"
            "Subject: -t\n\nbody\n")
    r = S.sendmail(inst, "-t", "-v", input=body)
    assert r.returncode == 0, r.stderr
    qid = S.queued_id(r)
    for box in ("demo", "other"):
        msg = S.wait_mail(inst, user=box)[0]
        assert msg["Bcc"] is None and "other@example.test" in msg["To"]
    assert len(Q.status_lines(inst, qid)) == 2
    # Resent- headers win over the original ones (RFC 5322 3.6.6); -t adds to arguments
    body = ("To: nobody@example.test\nResent-To: other@example.test\n"
            "Resent-Bcc: demo@example.test\nSubject: resent\n\nbody\n")
    r = S.sendmail(inst, "-t", "-v", "demo@example.test", input=body)
    assert r.returncode == 0, r.stderr
    qid = S.queued_id(r)
    Q.wait_removed(inst, qid)
    lines = " ".join(Q.status_lines(inst, qid))
    assert "to=<other@example.test>" in lines and "to=<demo@example.test>" in lines
    assert "nobody" not in lines and len(Q.status_lines(inst, qid)) == 2
    # nothing to extract
    r = S.sendmail(inst, "-t", input="Subject: none\n\nbody\n")
    assert r.returncode == 64 and "no recipient addresses found in message header" in r.stderr


def test_dsn_options_and_ignored_ones(inst):
    """-N -R -V reach the queue file; historic options are accepted and ignored."""
    r = S.sendmail(inst, "-v", "-N", "success,delay", "-R", "hdrs", "-V", "env-1", "-odb",
                   "-odi", "-oQ/tmp", "-oem", "-m", "-n", "-U", "-G", "-B", "8BITMIME",
                   "-h", "17", "-L", "label", "-O", "DeliveryMode=b", "-X", "/tmp/x", "-p",
                   "smtp", "-c", "-e", "m", "-A", "m", "demo@example.test",
                   input=MSG)
    assert r.returncode == 0, r.stderr
    qid = S.queued_id(r)
    line = Q.wait_status(inst, qid, "demo@example.test", "sent")
    assert "dsn=2.0.0" in line
    # a deferred message keeps its envelope where we can read it
    r = S.sendmail(inst, "-v", "-N", "never", "-R", "full", "-V", "env-2",
                   "someone@remote.test", input=MSG)
    qid = S.queued_id(r)
    S.wait_queue(inst, qid, "deferred")
    path = [p for p in Q.queue_files(inst, qid) if "/deferred/" in p][0]
    qf = U.QueueFile(path)
    assert qf.attrs["envid"] == "env-2" and qf.attrs["ret"] == "FULL"
    assert qf.attrs["uid"] == str(os.getuid())
    assert qf.rcpts[0]["addr"] == "someone@remote.test" and qf.rcpts[0]["notify"] == 1
    # bad values are usage errors
    for bad in (["-N", "sometimes"], ["-R", "body"], ["-V", "a\tb"], ["-bd"], ["-bz"]):
        r = S.sendmail(inst, *bad, "demo@example.test", input=MSG)
        assert r.returncode == 64, (bad, r.stderr)


def test_dsn_values_mean_the_same_to_sendmail_and_smtpd(inst):
    """-N, -R and -V take exactly what smtpd takes in NOTIFY=, RET= and ENVID= (one parser,
    lib/global/smtp_parse.c): a null NOTIFY item (RFC 3461 4.1 uses RFC 822's # rule, which
    permits null elements, RFC 822 2.7) got 501 from smtpd while sendmail -N queued the
    message (issue #14); now both take it, as Postfix does. RFC 3461 4.4
    allows white space in an envelope ID, which smtpd took and sendmail -V refused."""
    r = U.Raw(inst.smtp_port)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250

    def smtpd_says(notify):
        return r.cmd("RCPT TO:<demo@example.test> NOTIFY=" + notify)[:2]

    for bad in (",", "never,", "never,success", "never,never", "succes"):
        assert smtpd_says(bad) == (501, "5.5.4 Bad NOTIFY parameter syntax"), bad
        res = S.sendmail(inst, "-N", bad, "demo@example.test", input=MSG)
        assert res.returncode == 64, (bad, res.returncode, res.stderr)
        assert "-N %s:" % bad in res.stderr
    for good in ("success,failure", "NEVER", "delay,success", "success,,failure", ",success"):
        assert smtpd_says(good)[0] == 250, good
        res = S.sendmail(inst, "-v", "-N", good, "demo@example.test", input=MSG)
        assert res.returncode == 0, (good, res.stderr)
    # no white space in the list: it cannot stand in an esmtp-value (RFC 5321 4.1.2)
    res = S.sendmail(inst, "-N", "success, delay", "demo@example.test", input=MSG)
    assert res.returncode == 64, res.stderr
    assert r.cmd("RSET")[0] == 250
    # an envelope ID with a space: ENVID=a+20b and -V 'a b' both reach the queue file
    assert r.cmd("MAIL FROM:<a@example.org> ENVID=a+20b RET=hdrs")[0] == 250
    r.cmd("QUIT")
    res = S.sendmail(inst, "-v", "-V", "a b", "-R", "Hdrs", "someone@remote.test", input=MSG)
    assert res.returncode == 0, res.stderr
    qid = S.queued_id(res)
    S.wait_queue(inst, qid, "deferred")
    path = [p for p in Q.queue_files(inst, qid) if "/deferred/" in p][0]
    qf = U.QueueFile(path)
    assert qf.attrs["envid"] == "a b" and qf.attrs["ret"] == "HDRS"
    # the 100-character limit counts the xtext that goes on the wire, as in ENVID=
    res = S.sendmail(inst, "-V", "+" + "x" * 98, "demo@example.test", input=MSG)
    assert res.returncode == 64, res.stderr
    res = S.sendmail(inst, "-v", "-V", "=" + "x" * 97, "someone@remote.test", input=MSG)
    assert res.returncode == 0, res.stderr


def test_success_notification_carries_envid(inst):
    r = S.sendmail(inst, "-v", "-N", "success", "-V", "track-me", "-f", "other@example.test",
                   "demo@example.test", input=MSG)
    assert r.returncode == 0, r.stderr
    S.wait_mail(inst)
    dsn = S.wait_mail(inst, user="other")[0]
    fields, rcpts = Q.report_fields(dsn)
    assert fields["Original-Envelope-Id"] == "track-me"
    assert rcpts[0]["Action"] == "delivered"


def test_exit_codes_and_limits(instances):
    inst = S.submit_instance(instances, main_cf={"message_size_limit": "2000",
                                                 "submit_recipient_limit": "3",
                                                 "header_size_limit": "1024"})
    r = S.sendmail(inst, input=MSG)
    assert r.returncode == 64 and "no recipients specified" in r.stderr
    r = S.sendmail(inst, "bad address@@example.test", input=MSG)
    assert r.returncode == 67 and "malformed recipient address" in r.stderr
    r = S.sendmail(inst, "-f", "a@@b", "demo@example.test", input=MSG)
    assert r.returncode == 64
    # message_size_limit: at the limit queued, one byte more refused
    head = "Subject: size\n\n"
    exact = head + "x" * (2000 - len(head) - 1) + "\n"
    assert len(exact) == 2000
    r = S.sendmail(inst, "demo@example.test", input=exact)
    assert r.returncode == 0, r.stderr
    r = S.sendmail(inst, "demo@example.test", input=exact + "y")
    assert r.returncode == 65 and "message file too big" in r.stderr
    # submit_recipient_limit
    r = S.sendmail(inst, "demo@example.test", "other@example.test", "x@example.test", input=MSG)
    assert r.returncode == 0, r.stderr
    r = S.sendmail(inst, "demo@example.test", "other@example.test", "x@example.test",
                   "y@example.test", input=MSG)
    assert r.returncode == 64 and "submit_recipient_limit" in r.stderr
    # header_size_limit: one header of 1024 bytes is fine, 1025 is not
    h = "X-Long: " + "a" * (1024 - 9) + "\n"
    assert len(h) == 1024
    r = S.sendmail(inst, "demo@example.test", input=h + MSG)
    assert r.returncode == 0, r.stderr
    r = S.sendmail(inst, "demo@example.test", input="X-Long: a" + h[8:] + MSG)
    assert r.returncode == 65 and "header too big" in r.stderr
    S.wait_mail(inst, 3)
    # a user not in authorized_submit_users gets EX_NOPERM
    inst.main_cf["authorized_submit_users"] = "nobody-else"
    inst.write_config()
    r = S.sendmail(inst, "demo@example.test", input=MSG)
    assert r.returncode == 0, r.stderr  # root is always allowed


def test_queue_unwritable_is_tempfail(inst, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    text = open(os.path.join(inst.etc, "main.cf")).read()
    text = re.sub(r"(?m)^queue_directory = .*$", "queue_directory = /nonexistent/queue", text)
    (etc / "main.cf").write_text(text)
    r = S.cmd(inst, "sendmail", "-C", str(etc), "demo@example.test", input=MSG, config=None)
    assert r.returncode == 75, r.stderr
    assert "chdir /nonexistent/queue" in r.stderr


def test_unauthorized_user(instances, user):
    inst = S.submit_instance(instances, main_cf={"authorized_submit_users": "someoneelse"})
    r = S.sendmail(inst, "demo@example.test", input=MSG, user=USER)
    assert r.returncode == 77 and "not allowed to submit mail" in r.stderr
    inst.main_cf["authorized_submit_users"] = "someoneelse, %s" % USER
    inst.write_config()
    r = S.sendmail(inst, "demo@example.test", input=MSG, user=USER)
    assert r.returncode == 0, r.stderr


def test_smtp_session(inst, user):
    """sendmail -bs: SMTP on standard input and output, as the invoking user."""
    script = ("EHLO client.example\r\n"
              "MAIL FROM:<me@example.org> RET=HDRS ENVID=e+2Bx\r\n"
              "RCPT TO:<demo@example.test> NOTIFY=NEVER\r\n"
              "RCPT TO:<other@example.test> ORCPT=rfc822;o+40example.test\r\n"
              "DATA\r\n"
              "Subject: bs\r\n\r\n..dot\r\nline\r\n.\r\n"
              "MAIL FROM:<>\r\nDATA\r\nRSET\r\nRCPT TO:<x@example.test>\r\n"
              "MAIL FROM:<a@b> SIZE=999999999999\r\n"
              "NOOP\r\nVRFY demo\r\nBOGUS\r\nQUIT\r\n")
    r = S.sendmail(inst, "-bs", input=script, user=USER)
    assert r.returncode == 0, r.stderr
    replies = r.stdout.splitlines()
    assert replies[0].startswith("220 %s ESMTP Petrel" % HOST)
    # the EHLO keywords in any order (RFC 5321 4.1.1.1 sets none); -bs is smtpd itself now
    kws = [l[4:] for l in replies if l.startswith("250")]
    assert "PIPELINING" in kws and "DSN" in kws and "ENHANCEDSTATUSCODES" in kws
    codes = [l[:3] for l in replies if l[3] == " "][1:]
    # BOGUS: 500, an unrecognized command (RFC 5321 4.2.4; the old -bs copy said 502)
    assert codes == ["250", "250", "250", "250", "354", "250", "250", "554", "250", "503", "552",
                     "250", "252", "500", "221"], replies
    qid = re.search(r"250 2.0.0 Ok: queued as ([0-9A-F]+)", r.stdout).group(1)
    msgs = S.wait_mail(inst) + S.wait_mail(inst, user="other")
    assert msgs[0].get_payload() == ".dot\nline\n"
    assert "from userid %d)" % user.pw_uid in msgs[0]["Received"]
    Q.wait_removed(inst, qid)


def bs_codes(replies):
    """The code of each final reply line after the greeting and the EHLO reply."""
    return [l[:3] for l in replies if len(l) > 3 and l[3] == " "][2:]


def test_smtp_session_is_the_smtp_server(inst, user):
    """sendmail -bs runs smtpd itself (smtpd -S): CHUNKING and BDAT, which the hand-written
    copy it replaced never had, carry an unprivileged user's message, pipelined in one
    write, to the mailbox, attributed to that user by pickup; no TLS or AUTH is offered."""
    body = "Subject: chunked\r\n\r\nsent with BDAT\r\n"
    script = ("EHLO client.example\r\nMAIL FROM:<me@example.org>\r\n"
              "RCPT TO:<demo@example.test>\r\nBDAT %d LAST\r\n%sQUIT\r\n" % (len(body), body))
    r = S.sendmail(inst, "-bs", input=script, user=USER)
    assert r.returncode == 0, r.stderr
    replies = r.stdout.splitlines()
    kws = [l[4:] for l in replies if l.startswith("250")]
    assert "CHUNKING" in kws and "PIPELINING" in kws
    assert not [k for k in kws if k.startswith(("STARTTLS", "AUTH", "BINARYMIME"))], kws
    assert bs_codes(replies) == ["250", "250", "250", "221"], replies
    qid = re.search(r"250 2.0.0 Ok: queued as ([0-9A-F]+)", r.stdout).group(1)
    msg = S.wait_mail(inst)[0]
    assert msg["Subject"] == "chunked" and msg.get_payload() == "sent with BDAT\n"
    assert msg["Return-Path"] == "<me@example.org>"
    assert msg["From"] == "Petra Submitter <me@example.org>"  # the GECOS name, via $NAME
    received = msg.get_all("Received")
    assert re.match(r"by %s \(Petrel, from userid %d\)\s+id %s; " % (HOST, user.pw_uid, qid),
                    received[0])
    assert not [h for h in received if "client.example" in h]  # pickup's is the trace header
    assert re.search(r"pickup\[\d+\]: %s: uid=%d user=%s from=<me@example.org>" % (
        qid, user.pw_uid, USER), inst.log())
    Q.wait_removed(inst, qid)


def test_smtp_session_local_rules(instances):
    """In -bs mode the local submitter is trusted as Postfix's sendmail -bs trusts it: no
    restrictions, no required AUTH, no recipient validation, bare LF lines and "." LF accepted;
    the limits are smtpd's (the recipient count also petrel-drop's: the lower one answers
    452 at RCPT time), exactly at message_size_limit petrel-drop and smtpd agree."""
    inst = S.submit_instance(instances, main_cf={
        "smtpd_client_restrictions": "reject", "smtpd_recipient_restrictions": "reject",
        "mynetworks": "192.0.2.0/24", "smtpd_sasl_auth_required": "yes",
        "disable_vrfy_command": "no", "submit_recipient_limit": "2",
        "message_size_limit": "2000"})

    def sized(n):
        head = "Subject: sized\r\n\r\n"
        line = "x" * 78 + "\r\n"
        text = head + line * ((n - len(head)) // len(line))
        return text + "y" * (n - len(text) - 2) + "\r\n"

    assert len(sized(2000)) == 2000 and len(sized(2001)) == 2001
    script = ("EHLO client.example\n"
              "MAIL FROM:<root>\n"
              "RCPT TO:<demo@example.test>\n"
              "RCPT TO:<other@example.test>\n"
              "RCPT TO:<third@example.test>\n"
              "VRFY nosuchuser@example.test\n"
              "DATA\nSubject: lf\n\nbare LF lines\n.\n"
              "MAIL FROM:<root>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n" + sized(2000) +
              ".\r\n"
              "MAIL FROM:<root>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n" + sized(2001) +
              ".\r\nQUIT\r\n")
    r = S.sendmail(inst, "-bs", input=script)
    assert r.returncode == 0 and r.stderr == "", r.stderr  # (the 552 gave petrel-drop up quietly)
    replies = r.stdout.splitlines()
    assert "250 SIZE 2000" in replies or "250-SIZE 2000" in replies
    assert bs_codes(replies) == ["250", "250", "250", "452", "252", "354", "250",
                                 "250", "250", "354", "250",
                                 "250", "250", "354", "552", "221"], replies
    assert "452 4.5.3 Error: too many recipients" in replies
    assert "552 5.3.4 Error: message file too big" in replies
    ids = re.findall(r"250 2.0.0 Ok: queued as ([0-9A-F]+)", r.stdout)
    assert len(ids) == 2
    msgs = S.wait_mail(inst, 2)
    texts = sorted(S.mailbox_texts(inst))
    assert any("bare LF lines\n" in m.get_payload() for m in msgs)
    assert any(t.endswith("y\n") and "Subject: sized" in t for t in texts)
    assert S.wait_mail(inst, user="other")[0].get_payload() == "bare LF lines\n"
    # the answers came from smtpd, as root it could write the mail log
    assert re.search(r"smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]", inst.log())
    for qid in ids:
        Q.wait_removed(inst, qid)


def test_smtp_session_notify_grammar_is_smtpd_s(inst):
    """The ESMTP parameters of -bs are parsed by smtpd's one grammar (RFC 3461 4.1): NEVER
    stands alone (501 5.5.4, as from smtpd on port 25), a null list element does not count
    (RFC 822 2.7), an unknown keyword is refused."""
    r = S.sendmail(inst, "-bs", input="EHLO client.example\r\nMAIL FROM:<>\r\n"
                   "RCPT TO:<demo@example.test> NOTIFY=NEVER,SUCCESS\r\n"
                   "RCPT TO:<demo@example.test> NOTIFY=SUCCESS,,FAILURE\r\n"
                   "RCPT TO:<demo@example.test> NOTIFY=SUCCES\r\n"
                   "RCPT TO:<demo@example.test> NOTIFY=SUCCESS,FAILURE\r\nQUIT\r\n")
    assert r.returncode == 0, r.stderr
    assert bs_codes(r.stdout.splitlines()) == ["250", "501", "250", "501", "250", "221"], \
        r.stdout


def test_smtp_session_log_stays_out_of_the_session(instances):
    """maillog_file = /dev/stdout (the container idiom) must not put smtpd's log lines into
    the SMTP replies of sendmail -bs, whose standard output is the session."""
    inst = S.submit_instance(instances, main_cf={"maillog_file": "/dev/stdout"})
    r = S.sendmail(inst, "-bs", input="EHLO client.example\r\nQUIT\r\n")
    assert r.returncode == 0, r.stderr
    assert all(re.match(r"(220|250|221)[ -]", l) for l in r.stdout.splitlines()), r.stdout


def test_verify_addresses(inst):
    Q.write_aliases(inst, {"postmaster": "demo@example.test", "root": "demo@example.test"})
    inst.main_cf["transport_maps"] = "inline:{bounce.test=error:5.1.2 no such domain}"
    inst.write_config()
    r = S.sendmail(inst, "-bv", "demo@example.test", "postmaster", "root@localhost",
                   input="")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "demo@example.test: deliverable via virtual[example.test] to demo@example.test " \
           "(virtual mailbox example.test/demo/)" in out
    assert "postmaster: deliverable via local[%s] to postmaster@%s (alias: demo@example.test)" % (
        HOST, HOST) in out
    r = S.sendmail(inst, "-bv", "nobody@example.test", "x@bounce.test", "y@remote.test",
                   "nosuchuser@%s" % HOST, input="")
    assert r.returncode == 67, r.stdout
    assert "nobody@example.test: undeliverable: unknown virtual mailbox" in r.stdout
    assert "x@bounce.test: undeliverable: 5.1.2 no such domain" in r.stdout
    assert "y@remote.test: deferred: mail transport unavailable" in r.stdout
    assert 'nosuchuser@%s: undeliverable: unknown user: "nosuchuser"' % HOST in r.stdout
    # -bv writes nothing: sendmail has exited, so anything it dropped would be there now
    assert S.maildrop_files(inst) == [] and S.queue_ids(inst) == []


def test_newaliases(inst):
    with open(os.path.join(inst.etc, "aliases"), "w") as f:
        f.write("team: demo@example.test, other@example.test\n")
    r = S.cmd(inst, "newaliases", config="-C")
    assert r.returncode == 0, r.stderr
    r = S.sendmail(inst, "-v", "team@%s" % HOST, input=MSG)
    qid = S.queued_id(r)
    S.wait_mail(inst)
    S.wait_mail(inst, user="other")
    with open(os.path.join(inst.etc, "aliases"), "w") as f:
        f.write("team: other@example.test\n")
    r = S.sendmail(inst, "-bi", "-v", input="")
    assert r.returncode == 0 and "1 aliases" in r.stderr
    r = S.sendmail(inst, "-I", input="")
    assert r.returncode == 0, r.stderr
    r = S.sendmail(inst, "-bv", "team@%s" % HOST, input="")
    assert "(alias: other@example.test)" in r.stdout
    Q.wait_removed(inst, qid)


def test_garbage_in_maildrop_goes_to_corrupt(inst):
    md = os.path.join(inst.queue, "maildrop")
    good_id = "0000000100000A1"
    with open(os.path.join(md, "garbage"), "wb") as f:
        f.write(b"\x00\x01 not a maildrop file at all")
    with open(os.path.join(md, good_id), "wb") as f:  # a queue ID name, bad records
        f.write(b"V\x00\x00\x00\x0bPETRELDROP1S\x00\x00\xff\xff")
    os.symlink("/etc/passwd", os.path.join(md, "00000002000001B"))
    with open(os.path.join(md, ".tmp.123.456"), "wb") as f:  # a submission in progress
        f.write(b"V")
    r = S.sendmail(inst, "-v", "demo@example.test", input=MSG)  # pokes pickup
    assert r.returncode == 0, r.stderr
    S.wait_mail(inst)
    wait_for(lambda: set(S.corrupt_files(inst)) >= {"garbage", good_id, "00000002000001B"},
             what="files in corrupt/")
    log = inst.log()
    assert re.search(r"pickup\[\d+\]: warning: garbage: malformed maildrop file from uid 0 "
                     r"\(not a queue ID file name\); moved to corrupt/", log)
    assert re.search(r"%s: malformed maildrop file from uid 0 \(.*\); moved to corrupt/" % good_id,
                     log)
    assert "00000002000001B: malformed maildrop file" in log
    assert S.maildrop_files(inst) == [".tmp.123.456"]
    # the system still works
    r = S.sendmail(inst, "-v", "other@example.test", input=MSG)
    assert r.returncode == 0
    S.wait_mail(inst, user="other")


def test_hostile_maildrop_records(inst, user):
    """petrel-drop run directly (bypassing sendmail): structure is checked there,
    address syntax by pickup."""
    import struct

    def rec(t, p):
        return t + struct.pack(">I", len(p)) + p

    base = rec(b"V", b"PETRELDROP1") + rec(b"S", b"")
    ok_tail = rec(b"M", b"") + rec(b"D", b"Subject: x\n\nbody\n") + rec(b"X", b"")
    r = S.cmd(inst, "petrel-drop", input=base + rec(b"A", b"client_address=1.2.3.4") + ok_tail,
              user=USER, text=False)
    assert r.returncode == 65 and b"not allowed" in r.stderr
    r = S.cmd(inst, "petrel-drop", input=base + rec(b"R", b"a@b\x000\x000"), user=USER, text=False)
    assert r.returncode == 65  # truncated: no end of envelope
    r = S.cmd(inst, "petrel-drop", input=base + rec(b"R", b"a b c@@x\x00\x000") + ok_tail,
              user=USER, text=False)
    assert r.returncode == 0, r.stderr
    bad_id = r.stdout.decode().strip()
    wait_for(lambda: bad_id in S.corrupt_files(inst), what="the bad file in corrupt/")
    assert re.search(r"%s: malformed maildrop file from uid %d \(bad recipient address syntax\)" %
                     (bad_id, user.pw_uid), inst.log())
    assert S.maildrop_files(inst) == []


def test_maildrop_dsn_values_checked_as_smtpd_does(inst):
    """pickup judges a maildrop file's ORCPT, ENVID and RET with smtpd's parsers: what smtpd
    answers with 501 5.5.4 (an ORCPT addr-type with '_', a control character) goes to
    corrupt/; pickup took any ORCPT with a ';' before (issue #14)."""
    import struct

    def rec(t, p):
        return t + struct.pack(">I", len(p)) + p

    def drop(attrs, orcpt):
        data = rec(b"V", b"PETRELDROP1") + rec(b"S", b"")
        for a in attrs:
            data += rec(b"A", a)
        data += rec(b"R", b"demo@example.test\x00" + orcpt + b"\x000")
        data += rec(b"M", b"") + rec(b"D", b"Subject: x\n\nbody\n") + rec(b"X", b"")
        r = S.cmd(inst, "petrel-drop", input=data, text=False)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode().strip()

    bad = [drop([], b"rfc_822;demo@example.test"), drop([], b"rfc822;"),
           drop([b"envid=" + b"+" * 34], b""), drop([b"ret=BODY"], b"")]
    good = drop([b"envid=a b", b"ret=hdrs"], b"rfc822;Demo@Example.test")
    S.wait_mail(inst)
    wait_for(lambda: set(S.corrupt_files(inst)) >= set(bad), what="the bad files in corrupt/")
    log = inst.log()
    for qid, why in zip(bad, ("bad original recipient", "bad original recipient",
                              "bad envelope ID", "bad RET value")):
        assert re.search(r"%s: malformed maildrop file from uid \d+ \(%s\)" % (qid, why), log)
    assert good not in S.corrupt_files(inst)


def test_mailq_and_sendmail_bp(inst):
    r = S.sendmail(inst, "-v", "someone@remote.test", input=MSG)
    qid = S.queued_id(r)
    S.wait_queue(inst, qid, "deferred")
    for result in (S.cmd(inst, "mailq", config="-C"), S.sendmail(inst, "-bp")):
        assert result.returncode == 0, result.stderr
        assert re.search(r"(?m)^%s\s+\d+ \w{3} \w{3} .* root@%s$" % (qid, HOST), result.stdout)
        assert "someone@remote.test" in result.stdout
        assert "-- 0 Kbytes in 1 Request." in result.stdout


def test_make_install_destdir(tmp_path):
    """make install puts mailq and newaliases beside sendmail, the manual pages of the
    submission and queue commands, and the set-gid bits (when the group exists)."""
    dest = tmp_path / "dest"
    r = subprocess.run(["make", "-s", "install", "DESTDIR=%s" % dest], cwd=H.BUILD,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    files = {os.path.relpath(os.path.join(d, f), dest)
             for d, _, fs in os.walk(dest) for f in fs}

    def one(suffix):
        hits = [f for f in files if f.endswith(suffix)]
        assert len(hits) == 1, (suffix, hits)
        return os.path.join(dest, hits[0])

    sendmail = one("sbin/sendmail")
    for link in ("bin/mailq", "bin/newaliases"):
        path = one(link)
        assert os.path.islink(path)
        target = os.readlink(path)
        assert sendmail.endswith(target.lstrip("/")) and target.endswith("/sbin/sendmail")
    for page in ("man1/sendmail.1", "man1/mailq.1", "man1/newaliases.1", "man1/petrel-queue.1",
                 "man1/petrel-cat.1", "man8/petrel-super.8", "man8/pickup.8"):
        assert os.path.getsize(one(page)) > 0
    for prog in ("sbin/petrel-super", "sbin/petrel-cat", "sbin/petrel-drop", "sbin/petrel-queue",
                 "/pickup"):
        assert os.access(one(prog), os.X_OK), prog
    try:
        grp.getgrnam("petreldrop")
    except KeyError:
        return
    if H.IS_ROOT:
        for prog in ("sbin/petrel-drop", "sbin/petrel-queue"):
            st = os.stat(one(prog))
            assert st.st_mode & 0o2000 and st.st_gid == grp.getgrnam("petreldrop").gr_gid
