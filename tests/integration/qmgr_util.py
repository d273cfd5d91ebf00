"""qmgr_util - helpers for the end-to-end tests of qmgr and local delivery.

Every test submits mail through submit()/submit_many(): real SMTP
submission with smtplib to the instance's smtpd (from 127.0.0.1, which is
in mynetworks), so that each test covers smtpd -> queue -> qmgr -> agent.
The test-only injector tests/qinject is used only where a test needs a
queue file that smtpd cannot produce (the test says so).

mail_instance() starts an Instance with smtpd, qmgr, local and virtual in
master.cf and small retry times; its virtual domain example.test stores
mail under <root>/vmail (owned by harness.vmail_ids()). inst.smtp_port is
the smtpd port.
"""

import email
import email.policy
import glob
import grp
import os
import pwd
import re
import shutil
import smtplib
import subprocess
import time

import petrel_harness as H
from petrel_harness import wait_for

MASTER_CF = """\
127.0.0.1:%(smtp)d inet n - n - - smtpd
qmgr      unix  n       -       n       300     1       qmgr
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       local
"""

# for tests of failures at delivery time: smtpd accepts recipients of our domains
# that no table knows (Postfix's knob; RCPT-time validation is tested in test_smtpd_*)
ACCEPT_UNLISTED = {"smtpd_reject_unlisted_recipient": "no"}


def mail_instance(instances, main_cf=None, master_cf=None, aliases=None, vmailbox=None,
                  start=True):
    """An Instance ready for local and virtual delivery (not started when start=False)."""
    inst = instances(start=False)
    inst.smtp_port = H.free_port()
    vmail = os.path.join(inst.root, "vmail")
    spool = os.path.join(inst.root, "spool")
    os.makedirs(vmail)
    os.makedirs(spool)
    os.chmod(spool, 0o1777)
    vuid, vgid = H.vmail_ids()
    os.chown(vmail, vuid, vgid)
    os.chmod(vmail, 0o755)
    cfg = {
        "queue_run_delay": "1s",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "4s",
        "transport_retry_time": "1s",
        "service_throttle_time": "1s",
        "mydestination": "$myhostname, localhost.$mydomain, localhost",
        "myorigin": "$myhostname",
        "virtual_mailbox_domains": "example.test",
        "virtual_mailbox_base": vmail,
        "virtual_mailbox_maps": "hash:%s/vmailbox" % inst.etc,
        "virtual_uid_maps": "static:%d" % vuid,
        "virtual_gid_maps": "static:%d" % vgid,
        "virtual_minimum_uid": "1" if vuid >= 1 else "0",
        "alias_maps": "hash:%s/aliases" % inst.etc,
        "mail_spool_directory": spool,
        "smtpd_peername_lookup": "no",
        "smtpd_error_sleep_time": "0",
    }
    cfg.update(main_cf or {})
    inst.main_cf.update(cfg)
    inst.master_cf = (MASTER_CF if master_cf is None else master_cf) % {"smtp": inst.smtp_port}
    inst.write_config()
    write_table(inst, "vmailbox", vmailbox if vmailbox is not None else {
        "demo@example.test": "example.test/demo/",
        "other@example.test": "example.test/other/",
    })
    write_aliases(inst, aliases or {})
    inst.vmail = vmail
    inst.spool = spool
    if start:
        inst.start()
        wait_for(lambda: os.path.exists(os.path.join(inst.queue, "public", "showq")),
                 what="qmgr to start")
    return inst


def write_table(inst, name, entries):
    """A postmap-style table etc/<name> and its .db (petrel-map)."""
    path = os.path.join(inst.etc, name)
    with open(path, "w") as f:
        for k, v in entries.items():
            f.write("%s %s\n" % (k, v))
    r = inst.run("petrel-map", "hash:" + path)
    assert r.returncode == 0, r.stderr
    return path


def write_aliases(inst, entries):
    """etc/aliases (aliases(5) form) and its .db."""
    path = os.path.join(inst.etc, "aliases")
    with open(path, "w") as f:
        for k, v in entries.items():
            f.write("%s: %s\n" % (k, v))
    r = inst.run("petrel-map", "-a", "hash:" + path)
    assert r.returncode == 0, r.stderr
    return path


def message(subject="test", body="hello\n", headers=None, size=None):
    """A small RFC 5322 message (LF line ends; qinject writes CRLF)."""
    lines = ["From: Sender <sender@remote.test>", "To: someone", "Subject: %s" % subject,
             "Message-ID: <%s@remote.test>" % subject.replace(" ", ".")]
    for h in headers or []:
        lines.append(h)
    text = "\n".join(lines) + "\n\n" + body
    if size is not None and len(text) < size:
        line = ("x" * 75) + "\n"
        text += line * ((size - len(text)) // len(line) + 1)
    return text


def xtext(value):
    """RFC 3461 4 xtext encoding (ORCPT, ENVID)."""
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else "+%02X" % ord(c)
                   for c in value)


def smtp_bytes(msg):
    """A message as SMTP DATA content: CRLF line ends."""
    if isinstance(msg, str):
        msg = msg.encode("utf-8")
    return re.sub(rb"\r?\n", b"\r\n", msg)


def smtp_session(inst, timeout=60):
    """An smtplib session to the instance's smtpd, after EHLO."""
    c = smtplib.SMTP("127.0.0.1", inst.smtp_port, local_hostname="client.remote.test",
                     timeout=timeout)
    c.ehlo()
    return c


_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\U0010ffff-]+")


def external(addr):
    """An internal-form address (local part unquoted) as an SMTP path: the local part
    (before the last '@') quoted when it is not a dot-atom, as RFC 5321 4.1.2."""
    if addr == "" or addr.startswith(('"', "@")):  # null sender, or already external
        return addr
    local, at, domain = addr.rpartition("@") if "@" in addr else (addr, "", "")
    if all(_ATEXT.fullmatch(p) for p in local.split(".")):
        return addr
    return '"%s"%s%s' % (local.replace("\\", "\\\\").replace('"', '\\"'), at, domain)


def send_one(c, sender, rcpts, msg=None, ret=None, envid=None, notify=None, orcpt=None):
    """One transaction on an open session; the queue ID from the 250 reply. Addresses
    are given in the internal form; SMTPUTF8 is asked for when one is not ASCII."""
    opts = []
    if not all(a.isascii() for a in [sender] + list(rcpts)):
        opts.append("SMTPUTF8")
    if ret:
        opts.append("RET=" + ret)
    if envid:
        opts.append("ENVID=" + xtext(envid))
    code, text = c.mail(external(sender), opts)
    assert code == 250, (code, text)
    for r in rcpts:
        ropts = []
        if notify and r in notify:
            ropts.append("NOTIFY=" + notify[r])
        if orcpt and r in orcpt:
            ropts.append("ORCPT=" + xtext(orcpt[r]))
        code, text = c.rcpt(external(r), ropts)
        assert code == 250, (r, code, text)
    code, text = c.data(smtp_bytes(msg if msg is not None else message()))
    assert code == 250, (code, text)
    m = re.search(rb"queued as ([0-9A-F]+)", text)
    assert m, text
    return m.group(1).decode()


def submit(inst, sender, rcpts, msg=None, ret=None, envid=None, notify=None, orcpt=None):
    """Submit one message over SMTP; returns its queue ID.

    rcpts: list of addresses; notify/orcpt: dicts address -> "SUCCESS,FAILURE" / "rfc822;x".
    """
    c = smtp_session(inst)
    try:
        return send_one(c, sender, rcpts, msg, ret=ret, envid=envid, notify=notify,
                        orcpt=orcpt)
    finally:
        try:
            c.quit()
        except smtplib.SMTPException:
            c.close()


def submit_many(inst, sender, rcpts, msg=None, count=1):
    """Submit count copies (each with an X-Seq header) in one SMTP session; their IDs."""
    body = smtp_bytes(msg if msg is not None else message())
    c = smtp_session(inst)
    try:
        return [send_one(c, sender, rcpts, b"X-Seq: %d\r\n" % i + body) for i in range(count)]
    finally:
        c.quit()


def status_lines(inst, qid=None):
    """Log lines with status= (optionally of one queue ID)."""
    out = []
    for line in inst.log().splitlines():
        if "status=" in line and (qid is None or (": %s: " % qid) in line):
            out.append(line)
    return out


def wait_status(inst, qid, rcpt, status, timeout=15):
    """Wait for the status line of rcpt in message qid; returns the line."""
    rx = re.compile(r": %s: to=<%s>.*status=%s" % (re.escape(qid), re.escape(rcpt),
                                                   re.escape(status)))
    return wait_for(lambda: next((l for l in inst.log().splitlines() if rx.search(l)), None),
                    timeout, what="%s %s %s" % (qid, rcpt, status))


def wait_removed(inst, qid, timeout=15):
    inst.wait_log(r": %s: removed" % re.escape(qid), timeout)
    wait_for(lambda: not queue_files(inst, qid), timeout, what="%s to leave the queue" % qid)


def queue_files(inst, qid=None):
    """Paths of queue files (any queue) and logs, optionally of one ID."""
    pat = qid or "[0-9A-F]*"
    out = []
    for q in ("incoming", "active", "deferred/*", "hold", "corrupt", "defer/*", "bounce"):
        out += glob.glob(os.path.join(inst.queue, q, pat))
    return sorted(out)


def maildir_files(path, sub="new"):
    return sorted(glob.glob(os.path.join(path, sub, "*")))


def wait_maildir(path, count=1, timeout=15):
    return wait_for(lambda: len(maildir_files(path)) >= count and maildir_files(path), timeout,
                    what="%d file(s) in %s/new" % (count, path))


def parse(path):
    with open(path, "rb") as f:
        return email.message_from_bytes(f.read(), policy=email.policy.compat32)


def dsns_for(inst, sender_addr, timeout=15, count=1):
    """Notifications delivered to a virtual mailbox (a path) as parsed messages."""
    return [parse(p) for p in wait_maildir(sender_addr, count, timeout)]


def report_fields(msg):
    """(per-message fields, [per-recipient fields]) of a multipart/report DSN."""
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = msg.get_payload()
    status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1
    groups = status[0].get_payload()
    return dict(groups[0].items()), [dict(g.items()) for g in groups[1:]]


# Unix users for local delivery ------------------------------------------------

class Users:
    """Real Unix users with home directories (root only); removed by cleanup()."""

    def __init__(self):
        self.base = None
        self.names = []

    def add(self, name):
        if self.base is None:
            import tempfile
            self.base = tempfile.mkdtemp(prefix="petrel-users-", dir="/tmp")
            os.chmod(self.base, 0o755)
        home = os.path.join(self.base, name)
        subprocess.run(["userdel", "-r", name], capture_output=True)
        r = subprocess.run(["useradd", "-m", "-d", home, "-s", "/bin/sh", "-K", "UMASK=077",
                            name], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        self.names.append(name)
        return pwd.getpwnam(name)

    def cleanup(self):
        for n in self.names:
            subprocess.run(["userdel", "-r", n], capture_output=True)
            try:
                grp.getgrnam(n)
                subprocess.run(["groupdel", n], capture_output=True)
            except KeyError:
                pass
        if self.base:
            shutil.rmtree(self.base, ignore_errors=True)


def file_owner_mode(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, st.st_mode & 0o7777


def wait_quiet_queue(inst, timeout=20):
    """Wait until no queue file is left (incoming, active, deferred)."""
    def empty():
        for q in ("incoming", "active", "deferred/*"):
            if glob.glob(os.path.join(inst.queue, q, "[0-9A-F]*")):
                return False
        return True
    wait_for(empty, timeout, what="an empty queue")


def wait_settled(inst, timeout=20):
    """Wait until nothing is in progress: incoming/ and active/ are empty (what is left
    waits in deferred/ or hold/)."""
    def settled():
        return not any(glob.glob(os.path.join(inst.queue, q, "[0-9A-F]*"))
                       for q in ("incoming", "active"))
    wait_for(settled, timeout, what="incoming/ and active/ to be empty")


def now():
    return time.time()
