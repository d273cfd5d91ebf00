"""imapd_util - helpers for the end-to-end tests of imapd.

imapd_instance() starts a Petrel instance with two IMAP services: plain
IMAP with STARTTLS and implicit TLS (the imaps service, -o
imapd_tls_wrappermode=yes), a self-signed certificate, and a
mailbox_passwd_maps table (hash:, built with petrel-map) holding USERS.
RawIMAP is a byte-exact client for what imaplib cannot do (pipelining,
literals, malformed input, reading the exact responses).
"""

import os
import re
import socket
import ssl
import subprocess
import time

import petrel_harness as H

USERS = {
    "joe@example.com": "s3cret pass",
    "ann@example.com": "ann-pw",
}

_CERT_CACHE = os.path.join("/tmp", "petrel-it-imapd-cert-v2-%d" % os.getuid())


def certificate():
    """(cert, key) paths of a self-signed certificate shared by the tests of one run."""
    cert = _CERT_CACHE + ".crt"
    key = _CERT_CACHE + ".key"
    if not (os.path.exists(cert) and os.path.exists(key)):
        tmp = "%s.%d" % (_CERT_CACHE, os.getpid())
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "3650", "-subj",
                        "/CN=mail.petrel.test", "-addext",
                        "subjectAltName=DNS:mail.petrel.test,DNS:localhost,IP:127.0.0.1",
                        "-keyout", tmp + ".key", "-out", tmp + ".crt"],
                       check=True, capture_output=True)
        os.chmod(tmp + ".key", 0o644)  # test-only key, read by an unprivileged daemon
        os.rename(tmp + ".key", key)
        os.rename(tmp + ".crt", cert)
    return cert, key


def password_hash(password):
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, text=True,
                       capture_output=True, check=True)
    return r.stdout.strip()


def imapd_instance(instances, main_cf=None, tls=True, users=None, services=""):
    """A started instance with a mail store; .imap_port and .imaps_port are its IMAP
    services, .vmail the virtual_mailbox_base."""
    plain, implicit = H.free_port(), H.free_port()
    vuid, vgid = H.vmail_ids()
    cf = {
        "mailbox_passwd_maps": "hash:$config_directory/passwd",
        "imapd_login_failure_delay": "0",
        "virtual_mailbox_domains": "example.com",
        "virtual_mailbox_maps": "hash:$config_directory/vmailbox",
        "virtual_uid_maps": "static:%d" % vuid,
        "virtual_gid_maps": "static:%d" % vgid,
    }
    if tls:
        cert, key = certificate()
        cf["imapd_tls_cert_file"] = cert
        cf["imapd_tls_key_file"] = key
    cf.update(main_cf or {})
    master_cf = "127.0.0.1:%d inet n n n - - imapd\n" % plain
    if tls:
        master_cf += ("127.0.0.1:%d inet n n n - - imapd -o imapd_tls_wrappermode=yes\n"
                      % implicit)
    master_cf += services
    inst = instances(main_cf=cf, master_cf=master_cf, start=False)
    inst.vmail = os.path.join(inst.root, "vmail")
    os.makedirs(inst.vmail)
    os.chown(inst.vmail, vuid, vgid)
    inst.main_cf["virtual_mailbox_base"] = inst.vmail
    inst.write_config()
    users = users or USERS
    with open(os.path.join(inst.etc, "passwd"), "w") as f:
        for user, pw in users.items():
            f.write("%s %s\n" % (user, password_hash(pw)))
    with open(os.path.join(inst.etc, "vmailbox"), "w") as f:
        for user in users:
            local, dom = user.split("@")
            f.write("%s %s/%s/\n" % (user, dom, local))
    for table in ("passwd", "vmailbox"):
        r = inst.run("petrel-map", "hash:%s" % os.path.join(inst.etc, table))
        assert r.returncode == 0, r.stderr
    inst.start()
    inst.imap_port = plain
    inst.imaps_port = implicit
    return inst


def maildir(inst, user="joe@example.com", folder=None):
    local, dom = user.split("@")
    path = os.path.join(inst.vmail, dom, local)
    return os.path.join(path, "." + folder) if folder else path


_seq = [0]


def deliver(inst, content, user="joe@example.com", folder=None):
    """Write a message the way local delivery does (tmp/ then rename into new/)."""
    vuid, vgid = H.vmail_ids()
    path = maildir(inst, user, folder)
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for d, dirs, files in os.walk(inst.vmail):
        os.chown(d, vuid, vgid)
    if isinstance(content, str):
        content = content.encode()
    _seq[0] += 1
    name = "%d.M%06dP%d.test" % (time.time(), _seq[0], os.getpid())  # sorts in order
    tmp = os.path.join(path, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(content)
    os.chown(tmp, vuid, vgid)
    os.rename(tmp, os.path.join(path, "new", name))
    return name


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class RawIMAP:
    """A minimal IMAP client speaking bytes, for exact and malformed exchanges."""

    def __init__(self, port, tls=False, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            self.sock = client_context().wrap_socket(self.sock)
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed; pending %r" % self.buf)
        self.buf += data

    def line(self):
        """The next line without CRLF (a literal's data stays in the following lines)."""
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def until_tagged(self, tag):
        """Lines up to and including the tagged response of tag."""
        if isinstance(tag, str):
            tag = tag.encode()
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, tag, text):
        self.send("%s %s\r\n" % (tag, text))
        return self.until_tagged(tag)

    def response(self):
        """One whole response: a line and the literals it announces, CRLF kept inside."""
        out = self.line()
        while True:
            m = re.search(rb"\{(\d+)\}$", out)
            if not m:
                return out
            out += b"\r\n" + self.read_exact(int(m.group(1)))
            out += self.line()

    def responses(self, tag):
        """Whole responses up to and including the tagged one."""
        if isinstance(tag, str):
            tag = tag.encode()
        out = []
        while True:
            r = self.response()
            out.append(r)
            if r.startswith(tag + b" "):
                return out

    def starttls(self):
        self.sock = client_context().wrap_socket(self.sock)
        self.buf = b""

    def closed(self, timeout=5):
        """Whether the server closed the connection (anything still sent is consumed)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
