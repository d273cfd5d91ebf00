"""imapd with independent clients: mbsync (isync) synchronising a mailbox both
ways, without TLS, with STARTTLS and with implicit TLS; curl's IMAP URLs
(LIST, SELECT and FETCH of a message, EXAMINE, SEARCH)."""

import os
import shutil
import subprocess

import pytest

from imapd_util import USERS, RawIMAP, certificate, deliver, imapd_instance

JOE, JOE_PW = "joe@example.com", USERS["joe@example.com"]

need_mbsync = pytest.mark.skipif(shutil.which("mbsync") is None,
                                 reason="mbsync (Debian package isync) is not installed")


@pytest.fixture
def imap(instances):
    return imapd_instance(instances, main_cf={"plaintext_auth_networks": ""})


def mbsync_conf(path, local, port, ssl, extra=""):
    with open(path, "w") as f:
        f.write('IMAPAccount petrel\nHost localhost\nPort %d\nUser %s\nPass "%s"\n'
                "SSLType %s\nCertificateFile %s\n%s\n"
                % (port, JOE, JOE_PW, ssl, certificate()[0], extra))
        f.write("IMAPStore remote\nAccount petrel\n\n")
        f.write("MaildirStore local\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
                % (local, local))
        f.write("Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\n"
                "Expunge Both\nSyncState *\n")


def mbsync(conf):
    r = subprocess.run(["mbsync", "-c", conf, "sync"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def local_files(local, box):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(local, box, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    return out


def server(imap, tag, text):
    c = RawIMAP(imap.imap_port)
    c.line()
    c.cmd("s", "STARTTLS")
    c.starttls()
    assert c.cmd("l", 'LOGIN %s "%s"' % (JOE, JOE_PW))[-1].startswith(b"l OK")
    r = c.cmd(tag, text)
    c.close()
    return r


@need_mbsync
@pytest.mark.parametrize("ssl", ["STARTTLS", "IMAPS"])
def test_mbsync_both_ways(imap, tmp_path, ssl):
    deliver(imap, "Subject: from the server\n\nbody one\n")
    local = str(tmp_path / "mail")
    os.makedirs(local)
    conf = str(tmp_path / "mbsyncrc")
    mbsync_conf(conf, local, imap.imaps_port if ssl == "IMAPS" else imap.imap_port, ssl)
    # server -> local: the message and the special-use folders
    mbsync(conf)
    files = local_files(local, "INBOX")
    assert len(files) == 1 and b"body one" in open(files[0], "rb").read()
    assert sorted(d for d in os.listdir(local) if not d.startswith(".")) == [
        "Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    # local -> server: a new message in Drafts, a flag on the INBOX message
    os.makedirs(os.path.join(local, "Drafts", "cur"), exist_ok=True)
    with open(os.path.join(local, "Drafts", "cur", "1.local.test:2,D"), "w") as f:
        f.write("Subject: written offline\n\ndraft\n")
    os.rename(files[0], files[0].split(":2,")[0] + ":2,FS")
    mbsync(conf)
    assert server(imap, "a", "STATUS Drafts (MESSAGES)") == [
        b"* STATUS Drafts (MESSAGES 1)", b"a OK Status completed."]
    r = server(imap, "b", "EXAMINE INBOX")
    assert r[-1].startswith(b"b OK [READ-ONLY]")
    c = RawIMAP(imap.imaps_port, tls=True)
    c.line()
    c.cmd("l", 'LOGIN %s "%s"' % (JOE, JOE_PW))
    c.cmd("e", "EXAMINE INBOX")
    assert c.cmd("f", "FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Flagged \\Seen))",
                                           b"f OK Fetch completed."]
    c.cmd("g", "EXAMINE Drafts")
    assert c.cmd("h", "FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[0] == \
        b"* 1 FETCH (FLAGS (\\Draft) BODY[HEADER.FIELDS (SUBJECT)] {28}"
    # a deletion on the server reaches the local side, and one made locally the server
    c.cmd("i", "SELECT INBOX")
    assert c.cmd("j", "STORE 1 +FLAGS.SILENT (\\Deleted)")[-1] == b"j OK Store completed."
    assert c.cmd("k", "EXPUNGE")[-1] == b"k OK Expunge completed."
    c.close()
    mbsync(conf)
    assert local_files(local, "INBOX") == []
    for path in local_files(local, "Drafts"):
        os.unlink(path)
    mbsync(conf)
    assert server(imap, "m", "STATUS Drafts (MESSAGES)") == [
        b"* STATUS Drafts (MESSAGES 0)", b"m OK Status completed."]
    imap.wait_log(r"login: user=<joe@example.com>, method=PLAIN, rip=127\.0\.0\.1, "
                  r"lip=127\.0\.0\.1, TLS")


@need_mbsync
def test_mbsync_without_tls(instances, tmp_path):
    """From a trusted network (the default: $mynetworks) a client may log in without TLS."""
    imap = imapd_instance(instances)
    deliver(imap, "Subject: plain\n\nplain body\n")
    local = str(tmp_path / "mail")
    os.makedirs(local)
    conf = str(tmp_path / "mbsyncrc")
    # mbsync sends a password in the clear only when told which mechanism to use
    mbsync_conf(conf, local, imap.imap_port, "None", extra="AuthMechs LOGIN\n")
    mbsync(conf)
    files = local_files(local, "INBOX")
    assert len(files) == 1 and b"plain body" in open(files[0], "rb").read()


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-k"] + list(args),
                          capture_output=True, timeout=30)


def test_curl_mailbox_urls(imap):
    deliver(imap, "Subject: for curl\n\nfetched by curl\n")
    deliver(imap, "Subject: second\n\nanother\n")
    url = "imaps://127.0.0.1:%d/" % imap.imaps_port
    auth = ["-u", "%s:%s" % (JOE, JOE_PW)]
    r = curl(url, *auth)  # LIST
    assert r.returncode == 0, r.stderr
    assert b'* LIST (\\HasNoChildren \\Sent) "." Sent' in r.stdout
    r = curl(url + "INBOX;MAILINDEX=1", *auth)  # SELECT, FETCH 1 BODY[]
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Subject: for curl\r\n\r\nfetched by curl\r\n"
    r = curl(url + "INBOX;UID=2;SECTION=TEXT", *auth)
    assert r.stdout == b"another\r\n"
    r = curl(url + "INBOX?SUBJECT%20second", *auth)  # SEARCH
    assert r.returncode == 0 and b"* SEARCH 2" in r.stdout
    r = curl("--ssl-reqd", "imap://127.0.0.1:%d/INBOX" % imap.imap_port, *auth,
             "-X", "FETCH 1:* (FLAGS)")
    assert r.returncode == 0, r.stderr
    assert b"* 1 FETCH (FLAGS (\\Seen))" in r.stdout  # curl's fetch set \Seen
