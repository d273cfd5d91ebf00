"""The whole system end to end: a mailbox user created with petrel-passwd submits on the
submission service (STARTTLS + AUTH), qmgr and local deliver into the virtual Maildir,
and the mail is read back over POP3 and IMAP with the same UIDs; an IMAP IDLE session
sees mail arrive by SMTP; a bounce comes back into the sender's mailbox."""

import email
import email.policy
import imaplib
import os
import poplib
import re
import smtplib
import stat
import subprocess
import time

import petrel_harness as H
from petrel_harness import wait_for
import imapd_util as I
import qmgr_util as Q
import smtpd_util as S

PASSWORDS = {"alice@example.test": "Alice-pw 1", "bob@example.test": "b0b-Secret"}


def system_instance(instances):
    """smtpd (25 and a submission service), qmgr, local/virtual, popd and imapd."""
    inst = Q.mail_instance(instances, start=False, vmailbox={
        "alice@example.test": "example.test/alice/", "bob@example.test": "example.test/bob/"})
    # known at RCPT time (an alias), unknown at delivery (no mailbox)
    Q.write_table(inst, "valias", {"gone@example.test": "departed@example.test"})
    cert, key = I.certificate()
    inst.ports = {n: H.free_port() for n in ("submission", "pop3", "imap")}
    inst.master_cf += (
        "127.0.0.1:%(submission)d inet n - n - - smtpd\n"
        "  -o syslog_name=petrel/submission\n"
        "  -o smtpd_tls_security_level=encrypt\n"
        "  -o smtpd_sasl_auth_required=yes\n"
        "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"
        "127.0.0.1:%(pop3)d inet n n n - - popd\n"
        "127.0.0.1:%(imap)d inet n n n - - imapd\n" % inst.ports)
    inst.main_cf.update({
        "virtual_alias_maps": "hash:%s/valias" % inst.etc,
        "mailbox_passwd_maps": "hash:$config_directory/passwd",
        "smtpd_tls_security_level": "may",
        "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
        "popd_tls_cert_file": cert, "popd_tls_key_file": key,
        "imapd_tls_cert_file": cert, "imapd_tls_key_file": key,
        "popd_login_failure_delay": "0", "imapd_login_failure_delay": "0",
        "smtpd_sasl_failure_delay": "0",
    })
    inst.write_config()
    for user, pw in PASSWORDS.items():
        r = inst.run("petrel-passwd", "add", user, input=pw + "\n")
        assert r.returncode == 0, r.stderr
    inst.start()
    S.wait_listening([inst.smtp_port] + list(inst.ports.values()))
    return inst


def submit_as(inst, user, rcpts, msg):
    """Submission as a mail client does it: STARTTLS, AUTH, then the message."""
    c = smtplib.SMTP("127.0.0.1", inst.ports["submission"], local_hostname="laptop.home",
                     timeout=30)
    try:
        c.ehlo()
        assert c.mail(user)[0] == 530  # AUTH first on this service
        c.rset()
        c.starttls(context=S.tls_context())
        c.ehlo()
        c.login(user, PASSWORDS[user])
        code, text = c.mail(user)
        assert code == 250, text
        for r in rcpts:
            code, text = c.rcpt(r)
            assert code == 250, text
        code, text = c.data(Q.smtp_bytes(msg))
        assert code == 250, text
        return re.search(rb"queued as ([0-9A-F]+)", text).group(1).decode()
    finally:
        c.quit()


MIME_MSG = """\
From: Alice <alice@example.test>
To: Bob <bob@example.test>
Subject: quarterly figures
Message-ID: <figures.1@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hi Bob, the numbers are attached. Caf=C3=A9 at noon?
--outer
Content-Type: application/octet-stream; name="figures.bin"
Content-Disposition: attachment; filename="figures.bin"
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
--outer--
"""


def imap_login(inst, user):
    m = imaplib.IMAP4("127.0.0.1", inst.ports["imap"], timeout=30)
    m.starttls(ssl_context=S.tls_context())
    m.login(user, PASSWORDS[user])
    return m


def test_submit_deliver_read_over_pop3_and_imap(instances):
    inst = system_instance(instances)
    # the table petrel-passwd made: root, the mail store's group, 0640
    st = os.stat(os.path.join(inst.etc, "passwd.db"))
    if H.IS_ROOT:
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (
            0, H.vmail_ids()[1], 0o640)
    qid = submit_as(inst, "alice@example.test", ["bob@example.test"], MIME_MSG)
    line = Q.wait_status(inst, qid, "bob@example.test", "sent")
    assert "relay=virtual" in line
    assert re.search(r"%s: client=unknown\[127\.0\.0\.1\], sasl_method=PLAIN, "
                     r"sasl_username=alice@example.test" % qid, inst.log())
    files = Q.wait_maildir(os.path.join(inst.vmail, "example.test/bob"))
    assert len(files) == 1 and Q.file_owner_mode(files[0])[:2] == H.vmail_ids()
    stored = open(files[0], "rb").read()
    assert re.match(rb"Return-Path: <alice@example.test>\nDelivered-To: bob@example.test\n"
                    rb"Received: from laptop.home \(\S+ \[127\.0\.0\.1\]\)\n(\t.*\n)*?"
                    rb"\tby mail.petrel.test \(Petrel\) with ESMTPSA id " + qid.encode(), stored), \
        stored[:400]
    wire = stored.replace(b"\n", b"\r\n")  # what POP3 and IMAP send

    # POP3 (STLS, USER/PASS): the message, its size and its UIDL
    p = poplib.POP3("127.0.0.1", inst.ports["pop3"], timeout=30)
    p.stls(context=S.tls_context())
    p.user("bob@example.test")
    p.pass_(PASSWORDS["bob@example.test"])
    assert p.stat() == (1, len(wire))
    uidl = p.uidl(1).split()[2].decode()
    resp, lines, octets = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == wire and octets == len(wire)
    p.quit()

    # IMAP (STARTTLS, LOGIN): the same message under the same identity
    m = imap_login(inst, "bob@example.test")
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    uidvalidity = int(m.untagged_responses["UIDVALIDITY"][0])
    typ, data = m.uid("SEARCH", None, "SUBJECT", "quarterly")
    uid = int(data[0])
    assert uidl == "%08x%08x" % (uidvalidity, uid)
    typ, data = m.uid("FETCH", str(uid), "(UID RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY[])")
    assert typ == "OK"
    meta, body = data[0]
    assert body == wire
    assert b"RFC822.SIZE %d" % len(wire) in meta
    # smtpd added the Date: of an authenticated submission
    assert re.search(rb'ENVELOPE \("[A-Z][a-z][a-z], \d+ [A-Z][a-z][a-z] \d{4} [0-9:]{8} [-+]\d{4}'
                     rb'[^"]*" "quarterly figures" ', meta), meta
    assert (b'"quarterly figures" (("Alice" NIL "alice" "example.test")) '
            b'(("Alice" NIL "alice" "example.test")) (("Alice" NIL "alice" "example.test")) '
            b'(("Bob" NIL "bob" "example.test")) NIL NIL NIL "<figures.1@example.test>")'
            in meta), meta
    assert (b'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" '
            in meta), meta
    assert b'("application" "octet-stream" ("name" "figures.bin") NIL NIL "base64" 16 NIL ("attachment" ("filename" "figures.bin"))' in meta
    assert b'"mixed" ("boundary" "outer")' in meta
    # SEARCH BODY matches the decoded quoted-printable text
    typ, data = m.search("UTF-8", "BODY", '"Caf\xc3\xa9"'.encode("latin-1"))
    assert data == [b"1"], data
    typ, data = m.search(None, "FROM", "alice", "SEEN")  # the POP3 session RETRieved it
    assert data == [b"1"], data
    m.logout()


def idle_start(m):
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    assert m.readline().startswith(b"+ ")
    return tag


def idle_wait(m, pattern, timeout=20):
    """Untagged lines read during IDLE until one matches pattern."""
    m.sock.settimeout(timeout)
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = m.readline()
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError("no %r during IDLE: %r" % (pattern, seen))


def idle_done(m, tag):
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if line.startswith(tag):
            assert line.split()[1] == b"OK", line
            return


def test_idle_sees_smtp_delivery_and_bounce_comes_home(instances):
    inst = system_instance(instances)
    m = imap_login(inst, "alice@example.test")
    typ, data = m.select("INBOX")
    assert data == [b"0"]
    tag = idle_start(m)
    # Bob writes to Alice over plain SMTP while she is in IDLE
    Q.submit(inst, "bob@example.test", ["alice@example.test"],
             Q.message("are you there", body="ping\n"))
    idle_wait(m, rb"^\* 1 EXISTS")
    # Alice writes to an address that exists only as an alias: its bounce comes home
    bad = submit_as(inst, "alice@example.test", ["gone@example.test"],
                    Q.message("to the departed", body="hello?\n"))
    line = Q.wait_status(inst, bad, "departed@example.test", "bounced")
    assert "dsn=5.1.1" in line and "orig_to=<gone@example.test>" in line
    idle_wait(m, rb"^\* 2 EXISTS")
    idle_done(m, tag)
    typ, data = m.fetch("1:2", "(ENVELOPE BODY.PEEK[])")
    first, second = data[0], data[2]
    assert b'"are you there"' in first[0] and b"\r\n\r\nping\r\n" in first[1]
    dsn = email.message_from_bytes(second[1], policy=email.policy.compat32)
    assert dsn["Return-Path"] == "<>" and dsn["Delivered-To"] == "alice@example.test"
    msgf, rcpts = Q.report_fields(dsn)
    assert msgf["X-Petrel-Queue-ID"] == bad
    assert [(r["Final-Recipient"], r["Action"], r["Status"]) for r in rcpts] == [
        ("rfc822; departed@example.test", "failed", "5.1.1")]
    orig = dsn.get_payload()[2].get_payload()[0]
    assert orig["Subject"] == "to the departed"
    typ, data = m.fetch("2", "(BODYSTRUCTURE)")
    assert b'"report" ("report-type" "delivery-status" "boundary"' in data[0], data
    m.logout()
    Q.wait_quiet_queue(inst)


def crlf_size(data):
    """RFC822.SIZE of a stored file: every LF without a CR before it counts as CRLF."""
    return len(data) + len(re.findall(rb"(?<!\r)\n", data))


def test_rfc822_size_from_the_name_and_from_the_file(instances):
    """Local delivery names a file ",S=<size>,W=<CRLF size>" and imapd and popd take W; a
    file dropped into the Maildir without W is counted. Either way RFC822.SIZE, the POP3
    LIST size and the octets of BODY[] / RETR agree."""
    inst = system_instance(instances)
    box = os.path.join(inst.vmail, "example.test/bob")
    bodies = ["plain\n", "a bare\rCR inside\nand a last line\n", "." * 3000 + "\n\n\nend\n"]
    for i, body in enumerate(bodies):
        Q.submit(inst, "alice@example.test", ["bob@example.test"],
                 Q.message("sized %d" % i, body=body))
    files = Q.wait_maildir(box, count=len(bodies))
    for f in files:
        data = open(f, "rb").read()
        assert re.search(r",S=%d,W=%d$" % (len(data), crlf_size(data)), f), f
    # dropped in by another program: no W (and no S), CRLF or mixed line ends, a bare CR,
    # no final newline
    dropped = [b"Subject: crlf\r\n\r\nalready\r\nCRLF\r\n",
               b"Subject: mixed\n\r\n\rbare CR\r\nLF\nno final newline",
               b"Subject: lf\n\nonly\n\n"]
    for i, data in enumerate(dropped):
        path = os.path.join(box, "new", "1800000000.M%dP1.elsewhere" % i)
        with open(path, "wb") as fh:
            fh.write(data)
        if H.IS_ROOT:
            os.chown(path, *H.vmail_ids())
    n = len(bodies) + len(dropped)
    m = imap_login(inst, "bob@example.test")
    typ, data = m.select("INBOX")
    assert data == [str(n).encode()]
    # counted over the header parse's mapping (ENVELOPE), and read alone (RFC822.SIZE)
    typ, data = m.fetch("%d" % (len(bodies) + 1), "(RFC822.SIZE ENVELOPE)")
    assert typ == "OK"
    typ, data = m.fetch("%d" % (len(bodies) + 2), "(RFC822.SIZE)")
    assert typ == "OK"
    imap_sizes = []
    for seq in range(1, n + 1):
        typ, data = m.fetch(str(seq), "(RFC822.SIZE BODY.PEEK[])")
        meta, body = data[0]
        size = int(re.search(rb"RFC822\.SIZE (\d+)", meta).group(1))
        assert size == len(body), (seq, meta)
        imap_sizes.append(size)
    m.logout()
    stored = [open(f, "rb").read() for f in files] + dropped
    assert imap_sizes == [crlf_size(d) for d in stored]
    p = poplib.POP3("127.0.0.1", inst.ports["pop3"], timeout=30)
    p.stls(context=S.tls_context())
    p.user("bob@example.test")
    p.pass_(PASSWORDS["bob@example.test"])
    resp, listing, octets = p.list()
    assert [int(x.split()[1]) for x in listing] == imap_sizes
    p.quit()
