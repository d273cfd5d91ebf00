"""smtpd_util - helpers for the smtpd end-to-end tests.

- smtpd_instance(): a Petrel instance with smtp (and optionally submission and smtps)
  services, our test domains, tables and (optionally) a TLS certificate.
- read_queue_file(): a reader of the queue file format of lib/global/qfile.h, so tests check
  what smtpd wrote byte for byte.
- Raw: a raw-socket SMTP client for pipelining and malformed input, optionally bound to
  the "Internet" address 127.0.0.2.
Only the Python standard library is used.
"""

import os
import socket
import smtplib
import ssl
import stat
import struct
import subprocess
import time

import petrel_harness as H

LOCAL_DOMAIN = "mail.petrel.test"  # $myhostname, in mydestination
VIRT_DOMAIN = "virt.test"          # virtual_mailbox_domains
RELAY_DOMAIN = "relay.test"        # relay_domains
INTERNET = "127.0.0.2"             # a client outside mynetworks (loopback only)
PASSWORD = "s3cret-Pass"

# fast limits so that tests of timeouts and delays stay short
FAST = {
    "smtpd_error_sleep_time": "0",
    "smtpd_sasl_failure_delay": "0",
    "smtpd_peername_lookup": "no",
}


def make_cert(directory):
    """A self-signed certificate and key for the tests (EC P-256)."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
                        "/CN=mail.petrel.test", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        os.chmod(key, 0o600)  # readable by root only: smtpd must load it before dropping
    return cert, key


def write_map(inst, name, text, aliases=False):
    path = os.path.join(inst.etc, name)
    with open(path, "w") as f:
        f.write(text)
    args = ["-a"] if aliases else []
    r = inst.run("petrel-map", *(args + ["hash:" + path]))
    assert r.returncode == 0, r.stderr
    return path


def add_user(inst, user, password=PASSWORD):
    r = subprocess.run([H.command("petrel-passwd"), "-c", inst.etc, "add", user],
                       input=password + "\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r


def smtpd_instance(instances, main_cf=None, tls=False, submission=False, smtps=False,
                   extra_master="", users=("user@virt.test",), start=True):
    """An instance with an smtp service (and friends); returns (inst, ports dict)."""
    ports = {"smtp": H.free_port()}
    cf = {
        "virtual_mailbox_domains": VIRT_DOMAIN,
        "virtual_mailbox_maps": "hash:$config_directory/vmailbox",
        "virtual_alias_maps": "hash:$config_directory/virtual",
        "alias_maps": "hash:$config_directory/aliases",
        "mailbox_passwd_maps": "hash:$config_directory/passwd",
        "relay_domains": RELAY_DOMAIN,
        # 127.0.0.2 plays the Internet: only 127.0.0.1 is trusted
        "mynetworks": "127.0.0.1/32 [::1]/128",
    }
    cf.update(FAST)
    master = "127.0.0.1:%d inet n - n - - smtpd\n" % ports["smtp"]
    if submission:
        ports["submission"] = H.free_port()
        master += ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "  -o syslog_name=petrel/submission\n"
                   "  -o smtpd_tls_security_level=encrypt\n"
                   "  -o smtpd_sasl_auth_required=yes\n"
                   "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"
                   % ports["submission"])
    if smtps:
        ports["smtps"] = H.free_port()
        master += ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "  -o syslog_name=petrel/smtps\n"
                   "  -o smtpd_tls_wrappermode=yes\n"
                   "  -o smtpd_sasl_auth_required=yes\n"
                   "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject\n"
                   % ports["smtps"])
    master += extra_master
    inst = instances(main_cf=cf, start=False)
    if tls or submission or smtps:
        cert, key = make_cert(inst.etc)
        cf.update({"smtpd_tls_security_level": "may", "smtpd_tls_cert_file": cert,
                   "smtpd_tls_key_file": key})
    cf.update(main_cf or {})
    inst.main_cf.update(cf)
    inst.set_master_cf(master)
    write_map(inst, "aliases", "postmaster: root\nabuse: root\nlist: petreltest, root\n",
              aliases=True)
    write_map(inst, "vmailbox", "user@virt.test virt.test/user/\n"
              "other@virt.test virt.test/other/\n")
    write_map(inst, "virtual", "alias@virt.test user@virt.test\n"
              "valias@%s user@virt.test\n" % LOCAL_DOMAIN)
    for u in users:
        add_user(inst, u)
    if start:
        inst.start()
        wait_listening(ports.values())
    return inst, ports


def wait_listening(ports):
    for p in ports:
        H.wait_for(lambda: _can_connect(p), timeout=10, what="port %d" % p)


def _can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def client(port, internet=False, timeout=10):
    """smtplib client, from 127.0.0.2 when internet is set."""
    src = (INTERNET, 0) if internet else None
    return smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.org",
                        timeout=timeout, source_address=src)


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Raw:
    """A raw SMTP client: send exact bytes, read replies (multi-line aware)."""

    def __init__(self, port, internet=False, timeout=10, greet=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if internet:
            self.sock.bind((INTERNET, 0))
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """One reply: (code, text of the last line, all lines)."""
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if len(l) < 4 or l[3] != "-":
                break
        return int(lines[-1][:3]), lines[-1][4:], lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True when the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# queue files (lib/global/qfile.h) -------------------------------------------------------------------

ENVELOPE_TYPES = set(b"VZTSARrM")


class QueueFile:
    def __init__(self, path):
        self.path = path
        self.mode = stat.S_IMODE(os.stat(path).st_mode)
        with open(path, "rb") as f:
            data = f.read()
        self.records = []
        pos = 0
        while pos < len(data):
            if len(data) - pos < 5:
                raise ValueError("truncated record header at %d" % pos)
            t = data[pos]
            n = struct.unpack(">I", data[pos + 1:pos + 5])[0]
            if pos + 5 + n > len(data):
                raise ValueError("truncated record at %d" % pos)
            self.records.append((chr(t), data[pos + 5:pos + 5 + n]))
            pos += 5 + n
        self.attrs = {}
        self.rcpts = []
        self.sender = None
        self.content = b""
        self.complete = False
        seg = "envelope"
        for t, p in self.records:
            if seg == "envelope":
                if t == "V":
                    assert p == b"PETREL1"
                elif t == "S":
                    self.sender = p.decode()
                elif t == "A":
                    k, _, v = p.decode().partition("=")
                    self.attrs[k] = v
                elif t in "Rr":
                    f = p.split(b"\0")
                    self.rcpts.append({"addr": f[0].decode(), "orcpt": f[1].decode(),
                                       "notify": int(f[2]), "orig": f[3].decode()})
                elif t == "M":
                    seg = "content"
                elif t not in "ZT":
                    raise ValueError("record %r in the envelope" % t)
            elif seg == "content":
                if t == "D":
                    self.content += p
                elif t == "X":
                    seg = "end"
                    self.complete = True
                else:
                    raise ValueError("record %r in the content" % t)
            else:
                raise ValueError("record after the end")
        if self.complete:
            z = [p for t, p in self.records if t == "Z"][0].decode()
            assert int(z.split()[0]) == len(self.content), "size record %s" % z

    @property
    def committed(self):
        return self.complete and self.mode == 0o700

    def headers_and_body(self):
        head, _, body = self.content.partition(b"\r\n\r\n")
        return head, body


def queue_files(inst, sub="incoming"):
    d = os.path.join(inst.queue, sub)
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        return []
    return [os.path.join(d, n) for n in names]


def committed_files(inst):
    out = []
    for p in queue_files(inst):
        try:
            q = QueueFile(p)
        except (ValueError, FileNotFoundError):
            continue
        if q.committed:
            out.append(q)
    return out


def wait_queued(inst, queue_id, timeout=5):
    path = os.path.join(inst.queue, "incoming", queue_id)
    H.wait_for(lambda: os.path.exists(path), timeout=timeout, what="queue file " + queue_id)
    return QueueFile(path)


def queued_id(reply_text):
    """The queue ID of "2.0.0 Ok: queued as ID"."""
    return reply_text.rsplit(" ", 1)[-1]


def send(port, sender, rcpts, body, internet=False, **kw):
    """sendmail() with smtplib; returns (refused dict, queue id of the last reply)."""
    c = client(port, internet=internet)
    try:
        c.ehlo()
        refused = c.sendmail(sender, rcpts, body, **kw)
        return refused, c
    except Exception:
        c.close()
        raise


def msg(subject="test", body="hello\r\n", extra=""):
    return ("From: a@example.org\r\nTo: b@example.org\r\nSubject: %s\r\n"
            "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\nMessage-ID: <m1@example.org>\r\n%s\r\n%s"
            % (subject, extra, body))


def shared_instance(request, **kw):
    """A module-scoped smtpd instance (for tests that only talk to it): the same checks as
    conftest's instances fixture run when the module is done."""
    made = []

    def make(main_cf=None, master_cf="", start=True):
        inst = H.Instance(main_cf=main_cf, master_cf=master_cf)
        made.append(inst)
        if start:
            inst.start()
        return inst

    def finish():
        problems = []
        for inst in made:
            try:
                inst.stop()
            except AssertionError as e:
                problems.append(str(e))
            left = inst.processes()
            if left:
                problems.append("processes left behind: %s" % [p["pid"] for p in left])
                inst.kill_all()
            reports = inst.sanitizer_reports()
            if reports:
                problems.append("sanitizer/panic reports:\n" + "\n".join(reports[:20]))
            if problems:
                import sys
                sys.stderr.write("\n==== maillog of %s ====\n%s\n" % (inst.root,
                                                                     inst.log()[-20000:]))
            else:
                inst.cleanup()
        assert not problems, "\n".join(problems)

    request.addfinalizer(finish)
    return smtpd_instance(make, **kw)


def committed_files_fast(inst):
    """Paths of the complete files in incoming/ (mode 0700), without parsing them."""
    out = []
    for p in queue_files(inst):
        try:
            if stat.S_IMODE(os.stat(p).st_mode) == 0o700:
                out.append(p)
        except FileNotFoundError:
            pass
    return out
