"""popd with independent clients: curl (pop3, pop3s, STLS) and fetchmail (into an mbox)."""

import mailbox
import os
import re
import stat
import subprocess
import sys

import pytest

from popd_util import PopSetup, cert_files, have

MSG1 = ("From: ann@example.test\nTo: joe@example.test\nSubject: first\n\n"
        "Hello.\n.line with a leading dot\n..two\n.\nbye\n")
MSG2 = ("From: ann@example.test\nTo: joe@example.test\nSubject: second\nMIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=\"xy\"\n\n--xy\n"
        "Content-Type: text/plain\n\nplain\n--xy\nContent-Type: text/html\n\n<p>html</p>\n"
        "--xy--\n")


def crlf(text):
    return text.replace("\n", "\r\n")


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "-4"] + list(args),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


@pytest.mark.skipif(not have("curl"), reason="curl is not installed")
def test_curl_pop3_stls_and_pop3s(instances):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    ps.deliver(MSG2)
    auth = ["-u", "joe@example.test:secret pw"]
    cert = cert_files()[0]
    listing = curl(*auth, "pop3://127.0.0.1:%d/" % ps.port)
    assert listing == b"1 %d\r\n2 %d\r\n" % (len(crlf(MSG1)), len(crlf(MSG2)))
    assert curl(*auth, "pop3://127.0.0.1:%d/1" % ps.port) == crlf(MSG1).encode()
    # STLS with certificate verification, then implicit TLS
    assert curl(*auth, "--ssl-reqd", "--cacert", cert,
                "pop3://localhost:%d/2" % ps.port) == crlf(MSG2).encode()
    assert curl(*auth, "--cacert", cert, "pop3s://localhost:%d/1" % ps.sport) == \
        crlf(MSG1).encode()
    # a custom command: DELE, committed by curl's QUIT
    curl(*auth, "-X", "DELE", "-I", "pop3://127.0.0.1:%d/1" % ps.port)
    assert curl(*auth, "pop3://127.0.0.1:%d/" % ps.port) == b"1 %d\r\n" % len(crlf(MSG2))
    log = ps.inst.log()
    assert re.search(r"login: user=<joe@example\.test>, method=(PLAIN|USER), rip=127\.0\.0\.1, "
                     r"lip=127\.0\.0\.1, TLS", log)
    assert "del=1/2" in log


MDA = """#!%s
import sys, time
data = sys.stdin.buffer.read().replace(b"\\r\\n", b"\\n")
out = b""
for line in data.split(b"\\n")[:-1] if data.endswith(b"\\n") else data.split(b"\\n"):
    if line.lstrip(b">").startswith(b"From "):
        line = b">" + line
    out += line + b"\\n"
with open(sys.argv[1], "ab") as f:
    f.write(b"From fetchmail@localhost " + time.asctime(time.gmtime(0)).encode() + b"\\n")
    f.write(out + b"\\n")
"""


def run_fetchmail(ps, tls):
    work = os.path.join(ps.inst.root, "fetchmail-%s" % tls)
    os.makedirs(work)
    mbox = os.path.join(work, "mbox")
    mda = os.path.join(work, "mda.py")
    with open(mda, "w") as f:
        f.write(MDA % sys.executable)
    os.chmod(mda, 0o755)
    if tls == "pop3s":
        port, ssl = ps.sport, "ssl sslcertck sslcertfile %s sslcommonname localhost" % cert_files()[0]
    elif tls == "stls":
        port, ssl = ps.port, ("sslproto TLS1.2+ sslcertck sslcertfile %s sslcommonname localhost"
                     % cert_files()[0])
    else:
        port, ssl = ps.port, "sslproto ''"
    rc = os.path.join(work, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('set no bouncemail\n'
                'poll localhost via 127.0.0.1 with proto POP3 service %d\n'
                '  user "joe@example.test" there with password "secret pw"\n'
                '  mda "%s %s"\n  fetchall no keep %s\n' % (port, mda, mbox, ssl))
    os.chmod(rc, stat.S_IRUSR | stat.S_IWUSR)
    env = dict(os.environ, HOME=work, FETCHMAILHOME=work)
    r = subprocess.run(["fetchmail", "-f", rc, "-N", "--nosyslog", "-v", "--pidfile",
                        os.path.join(work, "pid"), "-i", os.path.join(work, "ids")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return mbox, r.stdout + r.stderr


@pytest.mark.skipif(not have("fetchmail"), reason="fetchmail is not installed")
@pytest.mark.parametrize("tls", ["plain", "stls", "pop3s"])
def test_fetchmail_into_mbox(instances, tls):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    ps.deliver(MSG2)
    mbox, out = run_fetchmail(ps, tls)
    msgs = list(mailbox.mbox(mbox))
    assert [m["Subject"] for m in msgs] == ["first", "second"], out
    body = msgs[0].get_payload()
    assert body == "Hello.\n.line with a leading dot\n..two\n.\nbye\n"
    assert msgs[1].is_multipart() and len(msgs[1].get_payload()) == 2
    # fetched and deleted: the maildrop is empty
    assert ps.files(sub="new") == [] and ps.files(sub="cur") == []
    if tls != "plain":
        assert re.search(r"login: user=<joe@example\.test>, method=\w+, rip=127\.0\.0\.1, "
                         r"lip=127\.0\.0\.1, TLS", ps.inst.log())
    else:
        assert ", TLS" not in ps.inst.log()
