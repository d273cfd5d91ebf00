"""One Maildir writer (lib/mstore/maildir.c) for local delivery and the mail store: a
message delivered by local, one APPENDed over IMAP and their COPYs get names of one form,
"<time>.M<usec><unique part>.<host>,S=<octets>,W=<octets with CRLF line ends>", with the
same host part (the system's host name, whatever $myhostname says), and the sizes in the
names are the ones popd LIST and imapd RFC822.SIZE report and the octets they send."""

import imaplib
import os
import poplib
import re
import socket

import petrel_harness as H
import qmgr_util as Q
import smtpd_util as S

USER, PASSWORD = "joe@example.test", "J0e-secret"

NAME = re.compile(r"^(?P<sec>\d+)\.M\d{6}(?:P\d+Q\d+|Q[0-9A-Za-z]+R\d+)\.(?P<host>[^,:/]+)"
                  r",S=(?P<s>\d+),W=(?P<w>\d+)(?::2,[A-Za-z]*)?$")


def store_instance(instances):
    """smtpd, qmgr, local/virtual into the store, popd and imapd (plain, on loopback)."""
    inst = Q.mail_instance(instances, start=False, vmailbox={USER: "example.test/joe/"})
    inst.ports = {n: H.free_port() for n in ("pop3", "imap")}
    inst.master_cf += ("127.0.0.1:%(pop3)d inet n n n - - popd\n"
                       "127.0.0.1:%(imap)d inet n n n - - imapd\n" % inst.ports)
    inst.main_cf.update({
        "mailbox_passwd_maps": "hash:$config_directory/passwd",
        "popd_login_failure_delay": "0", "imapd_login_failure_delay": "0",
    })
    inst.write_config()
    r = inst.run("petrel-passwd", "add", USER, input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    inst.start()
    S.wait_listening([inst.smtp_port] + list(inst.ports.values()))
    return inst


def crlf_size(data):
    """RFC822.SIZE of a stored file: every LF without a CR before it counts as CRLF."""
    return len(data) + len(re.findall(rb"(?<!\r)\n", data))


def files_of(box):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(box, sub)
        out += [os.path.join(d, f) for f in sorted(os.listdir(d))] if os.path.isdir(d) else []
    return out


def check_names(paths):
    """Every name has the one form, sizes that fit the file; returns their W values."""
    ws = []
    for p in paths:
        m = NAME.match(os.path.basename(p))
        assert m, p
        data = open(p, "rb").read()
        assert int(m.group("s")) == len(data), p
        assert int(m.group("w")) == crlf_size(data), p
        assert m.group("host") == socket.gethostname().replace("/", "\\057").replace(
            ":", "\\072"), p
        ws.append(int(m.group("w")))
    return ws


def imap_sizes(m, mailbox):
    typ, data = m.select(mailbox)
    assert typ == "OK", data
    sizes = []
    for seq in range(1, int(data[0]) + 1):
        typ, data = m.fetch(str(seq), "(RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK", data
        meta, body = data[0]
        size = int(re.search(rb"RFC822\.SIZE (\d+)", meta).group(1))
        assert size == len(body), (mailbox, seq, meta)
        sizes.append(size)
    return sizes


def test_local_and_append_and_copy_share_one_name_form_and_size(instances):
    inst = store_instance(instances)
    box = os.path.join(inst.vmail, "example.test/joe")
    # local delivery: LF line ends on disk, a bare CR kept, a body without a final newline
    Q.submit(inst, "sender@remote.test", [USER],
             Q.message("delivered", body="a bare\rCR inside\n\nand no final newline"))
    Q.wait_maildir(box, count=1)
    # the mail store: APPEND (CRLF on the wire, stored with LF), then COPY of both
    m = imaplib.IMAP4("127.0.0.1", inst.ports["imap"], timeout=30)
    m.login(USER, PASSWORD)
    typ, data = m.append("INBOX", r"(\Seen)", None,
                         b"Subject: appended\r\n\r\nline one\r\n\r\nline three\r\n")
    assert typ == "OK", data
    typ, data = m.create("Other")
    assert typ == "OK", data
    typ, data = m.select("INBOX")
    assert data == [b"2"]
    typ, data = m.copy("1:2", "Other")
    assert typ == "OK", data

    inbox = files_of(box)
    other = files_of(os.path.join(box, ".Other"))
    assert len(inbox) == 2 and len(other) == 2, (inbox, other)
    # one delivered by local (its delivery key: Q<queue ID>R<record>), one by APPEND
    assert sum(1 for p in inbox if re.search(r"\.M\d{6}Q[0-9A-Za-z]+R\d+\.", p)) == 1, inbox
    assert sum(1 for p in inbox if re.search(r"\.M\d{6}P\d+Q\d+\.", p)) == 1, inbox
    inbox_w = check_names(inbox)
    other_w = check_names(other)
    assert sorted(inbox_w) == sorted(other_w)

    # imapd: RFC822.SIZE is W, and BODY[] sends that many octets
    assert sorted(imap_sizes(m, "INBOX")) == sorted(inbox_w)
    assert sorted(imap_sizes(m, "Other")) == sorted(other_w)
    m.logout()
    # popd: LIST is W too, and RETR sends that many octets (CRLF, before dot-stuffing)
    p = poplib.POP3("127.0.0.1", inst.ports["pop3"], timeout=30)
    p.user(USER)
    p.pass_(PASSWORD)
    resp, listing, octets = p.list()
    sizes = [int(x.split()[1]) for x in listing]
    assert sorted(sizes) == sorted(inbox_w)
    for i, size in enumerate(sizes, 1):
        resp, lines, octets = p.retr(i)
        assert sum(len(line) + 2 for line in lines) == size, (i, size)
    p.quit()
