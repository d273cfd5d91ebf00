"""End-to-end tests of smtpd's TLS (STARTTLS RFC 3207, implicit TLS RFC 8314) and AUTH
(RFC 4954: PLAIN, LOGIN, failures, TLS-only), the submission services, and petrel-passwd."""

import base64
import os
import re
import smtplib
import ssl
import stat
import subprocess
import time

import pytest

import petrel_harness as H
import smtpd_util as U
from smtpd_util import Raw


@pytest.fixture(scope="module")
def srv(request):
    inst, ports = U.shared_instance(request, submission=True, smtps=True,
                                    users=("user@virt.test", "other@virt.test"),
                                    main_cf={"smtpd_sasl_failure_limit": "3",
                                             "smtpd_sasl_authenticated_header": "yes"})
    return inst, ports


def plain(user, password, authz=""):
    return base64.b64encode(("%s\0%s\0%s" % (authz, user, password)).encode()).decode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


def starttls(r):
    """STARTTLS on a Raw client; returns the TLS socket wrapper in place."""
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("STARTTLS")[:2] == (220, "2.0.0 Ready to start TLS")
    r.sock = U.tls_context().wrap_socket(r.sock, server_hostname="mail.petrel.test")
    r.buf = b""


def test_starttls_resets_state_and_shows_in_received(srv):
    inst, ports = srv
    c = U.client(ports["smtp"], internet=True)
    c.ehlo()
    assert c.has_extn("starttls") and not c.has_extn("auth")  # AUTH only over TLS
    c.starttls(context=U.tls_context())
    c.ehlo()
    assert not c.has_extn("starttls") and c.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
    assert c.sendmail("a@example.org", ["user@virt.test"], U.msg("tls")) == {}
    c.quit()
    q = sorted(U.committed_files(inst), key=lambda q: q.path)[-1]
    assert q.attrs["protocol"] == "ESMTPS" and q.attrs["tls"].startswith("TLSv1.3 with cipher ")
    assert b"\t(using TLSv1.3 with cipher " in q.content
    assert b"with ESMTPS id " in q.content
    inst.wait_log(r"Anonymous TLS connection established from unknown\[127\.0\.0\.2\]: TLSv1\.3 "
                  r"with cipher \S+ \(\d+/\d+ bits\)")

    r = Raw(ports["smtp"], internet=True)
    starttls(r)
    # RFC 3207 4.2: the EHLO before STARTTLS is forgotten: no extensions without a new EHLO
    assert r.cmd("MAIL FROM:<a@example.org> SIZE=10")[:2] == (555, "5.5.4 Unsupported option: "
                                                                   "SIZE")
    assert r.cmd("STARTTLS")[:2] == (554, "5.5.1 Error: TLS already active")
    r.cmd("QUIT")


def test_starttls_discards_pipelined_commands(srv):
    inst, ports = srv
    r = Raw(ports["smtp"], internet=True)
    assert r.cmd("EHLO client.example.org")[0] == 250
    # commands pipelined after STARTTLS must not be executed (CVE-2011-0411 class)
    r.send("STARTTLS\r\nRSET\r\nMAIL FROM:<injected@example.org>\r\n")
    assert r.reply()[0] == 220
    r.sock = U.tls_context().wrap_socket(r.sock, server_hostname="x")
    r.buf = b""
    assert r.cmd("NOOP")[:2] == (250, "2.0.0 Ok")  # not a reply to the injected RSET
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250  # no nested MAIL: nothing was injected
    r.cmd("QUIT")
    inst.wait_log(r"unknown\[127\.0\.0\.2\]: discarded \d+ bytes sent before the TLS handshake")
    r = Raw(ports["smtp"], internet=True)
    assert r.cmd("STARTTLS extra")[0] == 501
    assert r.cmd("EHLO x.example")[0] == 250
    assert r.cmd("MAIL FROM:<a@example.org>")[0] == 250
    assert r.cmd("STARTTLS")[:2] == (503, "5.5.1 Error: MAIL transaction in progress")
    r.cmd("QUIT")


def test_auth_plain_and_login(srv):
    inst, ports = srv
    c = U.client(ports["smtp"], internet=True)
    c.starttls(context=U.tls_context())
    c.ehlo()
    c.user, c.password = "USER@virt.test", U.PASSWORD
    assert c.auth("PLAIN", c.auth_plain)[0] == 235
    assert c.sendmail("user@virt.test", ["friend@example.com"], U.msg("relayed")) == {}
    c.quit()
    q = [q for q in U.committed_files(inst) if q.rcpts[0]["addr"] == "friend@example.com"][0]
    assert q.attrs["sasl_method"] == "PLAIN" and q.attrs["sasl_username"] == "user@virt.test"
    assert q.attrs["protocol"] == "ESMTPSA"
    assert b"\t(Authenticated sender: user@virt.test)\r\n" in q.content
    inst.wait_log(r"%s: client=unknown\[127\.0\.0\.2\], sasl_method=PLAIN, "
                  r"sasl_username=user@virt\.test" % q.path.rsplit("/", 1)[1])

    r = Raw(ports["smtp"], internet=True)
    starttls(r)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("AUTH LOGIN")[:2] == (334, "VXNlcm5hbWU6")
    assert r.cmd(b64("other@virt.test"))[:2] == (334, "UGFzc3dvcmQ6")
    assert r.cmd(b64(U.PASSWORD))[:2] == (235, "2.7.0 Authentication successful")
    assert r.cmd("AUTH PLAIN " + plain("user@virt.test", U.PASSWORD))[:2] == \
        (503, "5.5.1 Error: already authenticated")
    r.cmd("QUIT")
    # initial response with LOGIN, and PLAIN with an empty challenge
    r = Raw(ports["smtp"], internet=True)
    starttls(r)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("AUTH PLAIN")[:2] == (334, "")
    assert r.cmd(plain("user@virt.test", U.PASSWORD, authz="user@virt.test"))[0] == 235
    r.cmd("QUIT")
    assert U.PASSWORD not in inst.log()


def test_auth_errors_and_failure_limit(srv):
    inst, ports = srv
    r = Raw(ports["smtp"], internet=True)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("AUTH PLAIN " + plain("user@virt.test", U.PASSWORD))[:2] == \
        (538, "5.7.11 Encryption required for requested authentication mechanism")
    starttls(r)
    assert r.cmd("AUTH PLAIN x")[:2] == (503, "5.5.1 Error: send EHLO first")
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("AUTH CRAM-MD5")[:2] == (504, "5.5.4 Unrecognized authentication type")
    assert r.cmd("AUTH")[0] == 501
    assert r.cmd("AUTH PLAIN not-base64!")[:2] == (501, "5.5.2 Cannot decode response")
    assert r.cmd("AUTH LOGIN")[0] == 334
    assert r.cmd("*")[:2] == (501, "5.0.0 Authentication aborted")
    assert r.cmd("AUTH LOGIN")[0] == 334
    assert r.cmd("QUFB" * 1000)[:2] == (500, "5.5.6 Authentication Exchange line is too long")
    # authorization identity other than the user: refused
    assert r.cmd("AUTH PLAIN " + plain("user@virt.test", U.PASSWORD, authz="other@virt.test"))[
        :2] == (535, "5.7.8 Error: authentication failed: authentication failure")
    assert r.cmd("AUTH PLAIN " + plain("user@virt.test", "wrong"))[0] == 535
    assert r.cmd("AUTH PLAIN " + plain("nobody@virt.test", "wrong"))[:2] == \
        (421, "4.7.0 mail.petrel.test Error: too many failed authentication attempts")
    assert r.closed()
    log = inst.log()
    assert "warning: unknown[127.0.0.2]: SASL PLAIN authentication failed: authentication " \
           "failure, sasl_username=user@virt.test" in log
    assert "too many failed authentication attempts from unknown[127.0.0.2]" in log
    # unauthenticated relay is still refused after failures
    c = U.client(ports["smtp"], internet=True)
    c.starttls(context=U.tls_context())
    c.ehlo()
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        c.sendmail("a@example.org", ["friend@example.com"], U.msg())
    c.quit()


def test_submission_requires_tls_and_auth(srv):
    inst, ports = srv
    port = ports["submission"]
    r = Raw(port, internet=True)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<user@virt.test>")[:2] == \
        (530, "5.7.0 Must issue a STARTTLS command first")
    assert r.cmd("AUTH PLAIN " + plain("user@virt.test", U.PASSWORD))[0] == 530
    starttls(r)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<user@virt.test>")[:2] == (530, "5.7.0 Authentication required")
    assert r.cmd("AUTH PLAIN " + plain("user@virt.test", U.PASSWORD))[0] == 235
    assert r.cmd("MAIL FROM:<user@virt.test>")[0] == 250
    assert r.cmd("RCPT TO:<friend@example.com>")[0] == 250
    r.cmd("QUIT")
    # smtplib, the way a mail client submits
    c = smtplib.SMTP("127.0.0.1", port, timeout=10)
    c.starttls(context=U.tls_context())
    c.login("other@virt.test", U.PASSWORD)
    assert c.sendmail("other@virt.test", ["friend@example.com", "user@virt.test"],
                      "Subject: submitted\r\n\r\nno Date, From or Message-ID\r\n") == {}
    c.quit()
    q = [q for q in U.committed_files(inst) if q.sender == "other@virt.test"][-1]
    head, body = q.headers_and_body()
    # local_header_rewrite_clients (permit_sasl_authenticated): missing headers are added
    assert b"\r\nSubject: submitted\r\nDate: " in head
    assert b"\r\nMessage-Id: <" in head and b"@mail.petrel.test>" in head
    assert head.endswith(b"\r\nFrom: other@virt.test")
    assert body == b"no Date, From or Message-ID\r\n"


def test_smtps_wrapper_mode(srv):
    inst, ports = srv
    c = smtplib.SMTP_SSL("127.0.0.1", ports["smtps"], context=U.tls_context(), timeout=10)
    code, _ = c.ehlo()
    assert code == 250 and "starttls" not in c.esmtp_features
    c.login("user@virt.test", U.PASSWORD)
    assert c.sendmail("user@virt.test", ["friend@example.com"], U.msg("smtps")) == {}
    c.quit()
    # a plain-text client gets nothing useful: the handshake fails and the connection closes
    r = Raw(ports["smtps"], greet=False, timeout=5)
    r.send("EHLO plain.example\r\n")
    assert r.closed()
    inst.wait_log(r"SSL_accept error from unknown\[127\.0\.0\.1\]")


def test_swaks_tls_auth(srv):
    inst, ports = srv
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(ports["submission"]),
                        "--tls", "--auth", "LOGIN", "--auth-user", "user@virt.test",
                        "--auth-password", U.PASSWORD, "--from", "user@virt.test", "--to",
                        "friend@example.com"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0 Authentication successful" in r.stdout


def test_auth_without_tls_when_allowed_and_delay(instances):
    inst, ports = U.smtpd_instance(instances, main_cf={"smtpd_tls_auth_only": "no",
                                                       "smtpd_sasl_failure_delay": "1s"})
    c = U.client(ports["smtp"], internet=True)
    c.ehlo()
    assert c.has_extn("auth")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        t0 = time.time()
        try:
            c.login("user@virt.test", "bad password")
        finally:
            assert time.time() - t0 >= 0.9  # failures are answered slowly
    c.login("user@virt.test", U.PASSWORD)
    c.quit()
    # a password table that is missing is a temporary failure
    os.unlink(os.path.join(inst.etc, "passwd.db"))
    r = Raw(ports["smtp"], internet=True)
    r.cmd("EHLO client.example.org")
    assert r.cmd("AUTH PLAIN " + plain("user@virt.test", U.PASSWORD))[:2] == \
        (454, "4.7.0 Temporary authentication failure")
    r.cmd("QUIT")


def passwd(inst, *args, password=None):
    return subprocess.run([H.command("petrel-passwd"), "-c", inst.etc] + list(args),
                          input=password, capture_output=True, text=True, timeout=30)


def test_petrel_passwd(instances):
    inst, ports = U.smtpd_instance(instances, users=(), main_cf={"smtpd_tls_auth_only": "no"})
    path = os.path.join(inst.etc, "passwd")
    assert passwd(inst, "list").returncode == 1  # no table yet
    r = passwd(inst, "add", "Alice@Virt.Test", password="first-pass\n")
    assert r.returncode == 0, r.stderr
    assert "added alice@virt.test" in r.stdout
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert stat.S_IMODE(os.stat(path + ".db").st_mode) == 0o640
    if H.IS_ROOT:
        assert st.st_uid == 0 and st.st_gid == H.mail_owner_ids()[1]
    with open(path) as f:
        line = f.read()
    assert line.startswith("alice@virt.test $y$")  # yescrypt
    # comments and other entries are kept, in order
    with open(path, "a") as f:
        f.write("# a comment\n")
    assert passwd(inst, "add", "bob@virt.test", password="bob-pass\n").returncode == 0
    r = passwd(inst, "add", "alice@virt.test", password="x\n")
    assert r.returncode == 1 and "already exists" in r.stderr
    assert passwd(inst, "list").stdout == "alice@virt.test\nbob@virt.test\n"
    assert passwd(inst, "add", "bad user@virt.test", password="x\n").returncode == 1
    assert passwd(inst, "add", "nodomain", password="x\n").returncode == 1
    assert passwd(inst, "add", "carol@virt.test", password="\n").returncode == 1
    assert passwd(inst, "del", "nobody@virt.test").returncode == 1
    assert passwd(inst, "passwd", "nobody@virt.test", password="x\n").returncode == 1
    assert passwd(inst, "frobnicate").returncode == 2

    def login(user, pw):
        c = U.client(ports["smtp"])
        c.ehlo()
        try:
            c.login(user, pw)
            return True
        except smtplib.SMTPAuthenticationError:
            return False
        finally:
            c.close()

    assert login("alice@virt.test", "first-pass")
    assert passwd(inst, "passwd", "alice@virt.test", password="second-pass\n").returncode == 0
    assert not login("alice@virt.test", "first-pass")
    assert login("alice@virt.test", "second-pass")
    assert passwd(inst, "del", "bob@virt.test").returncode == 0
    assert not login("bob@virt.test", "bob-pass")
    with open(path) as f:
        text = f.read()
    assert "# a comment\n" in text and "bob@" not in text
    assert not [n for n in os.listdir(inst.etc) if ".tmp." in n]


def sample_services(ports):
    """The smtpd entries of etc/master.cf, uncommented, on test ports."""
    out = []
    ours = False  # whether the entry being read is one of the smtpd entries
    with open(os.path.join(H.SRC, "etc", "master.cf")) as f:
        for line in f:
            l = line.rstrip("\n")
            if l.startswith("#  -o "):
                l = l[1:]
            elif re.match(r"#?[a-z0-9]+ +(inet|unix) ", l):
                ours = False  # a new entry (commented out or not) begins
            for name in ("smtp", "submission", "smtps"):
                for prefix in ("", "#"):
                    if l.startswith(prefix + name + " ") and l.split()[1] == "inet":
                        l = "127.0.0.1:%d" % ports[name] + l[len(prefix + name):]
                        ours = True
            if ours and (l.startswith("127.0.0.1:") or l.startswith("  -o ")):
                out.append(l)
    return "\n".join(out) + "\n"


def test_sample_master_cf_services(instances):
    """The submission and smtps entries of the sample master.cf do what they promise."""
    inst, ports = U.smtpd_instance(instances, tls=True, start=False)
    ports = {"smtp": ports["smtp"], "submission": H.free_port(), "smtps": H.free_port()}
    text = sample_services(ports)
    assert text.count(" smtpd\n") == 3 and "smtpd_sasl_auth_required=yes" in text
    inst.set_master_cf(text)
    inst.start()
    U.wait_listening(ports.values())
    r = Raw(ports["submission"], internet=True)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<user@virt.test>")[0] == 530
    starttls(r)
    assert r.cmd("EHLO client.example.org")[0] == 250
    assert r.cmd("MAIL FROM:<user@virt.test>")[:2] == (530, "5.7.0 Authentication required")
    assert r.cmd("AUTH PLAIN " + plain("user@virt.test", U.PASSWORD))[0] == 235
    assert r.cmd("MAIL FROM:<user@virt.test>")[0] == 250
    assert r.cmd("RCPT TO:<friend@example.com>")[0] == 250
    r.cmd("QUIT")
    c = smtplib.SMTP_SSL("127.0.0.1", ports["smtps"], context=U.tls_context(), timeout=10)
    c.ehlo()
    with pytest.raises(smtplib.SMTPSenderRefused):
        c.sendmail("user@virt.test", ["friend@example.com"], U.msg())
    c.login("user@virt.test", U.PASSWORD)
    assert c.sendmail("user@virt.test", ["friend@example.com"], U.msg()) == {}
    c.quit()
    assert "petrel/submission/smtpd[" in inst.log() and "petrel/smtps/smtpd[" in inst.log()


def test_sender_login_mismatch(instances):
    inst, ports = U.smtpd_instance(instances, users=("user@virt.test", "other@virt.test"),
                                   main_cf={
        "smtpd_tls_auth_only": "no",
        "smtpd_sender_login_maps": "hash:$config_directory/senders",
        "smtpd_sender_restrictions": "reject_sender_login_mismatch",
    }, start=False)
    U.write_map(inst, "senders", "user@virt.test user@virt.test\n"
                "shared@virt.test user@virt.test, other@virt.test\n")
    inst.start()
    U.wait_listening([ports["smtp"]])

    def attempt(login, sender):
        r = Raw(ports["smtp"], internet=True)
        r.cmd("EHLO client.example.org")
        if login:
            assert r.cmd("AUTH PLAIN " + plain(login, U.PASSWORD))[0] == 235
        assert r.cmd("MAIL FROM:<%s>" % sender)[0] == 250
        got = r.cmd("RCPT TO:<user@virt.test>")[:2]
        r.cmd("QUIT")
        return got

    assert attempt("user@virt.test", "user@virt.test")[0] == 250
    assert attempt("other@virt.test", "shared@virt.test")[0] == 250
    assert attempt("user@virt.test", "other@virt.test") == (
        553, "5.7.1 <other@virt.test>: Sender address rejected: not owned by user user@virt.test")
    assert attempt(None, "user@virt.test") == (
        553, "5.7.1 <user@virt.test>: Sender address rejected: not logged in")
    assert attempt(None, "stranger@example.org")[0] == 250
