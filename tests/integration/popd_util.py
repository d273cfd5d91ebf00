"""popd_util - a Petrel instance serving POP3 over a test mail store.

PopSetup builds what popd needs around a harness Instance: a virtual mail
store owned by the test vmail user, vmailbox and passwd tables built with
petrel-map (hashes from `openssl passwd -6`), a self-signed certificate
made with openssl, and master.cf lines for POP3 (STLS) and POP3S. Mail is
"delivered" the way local delivery does it: a file written in tmp/ and
renamed into new/.
"""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import petrel_harness as H

DOMAIN = "example.test"
USERS = {
    "joe@example.test": "secret pw",
    "ann@example.test": "ann-Pass1",
}

_cache = {}


def _shared_dir():
    """A per-run directory with the certificate and password hashes (made once)."""
    if "dir" not in _cache:
        _cache["dir"] = tempfile.mkdtemp(prefix="petrel-popd-shared-", dir="/tmp")
    return _cache["dir"]


def cert_files():
    """(cert, key) of a self-signed certificate for mail.petrel.test / localhost."""
    d = _shared_dir()
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
                        "/CN=mail.petrel.test", "-addext",
                        "subjectAltName=DNS:mail.petrel.test,DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def password_hash(password):
    key = ("hash", password)
    if key not in _cache:
        out = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                             capture_output=True, text=True, check=True)
        _cache[key] = out.stdout.strip()
    return _cache[key]


class PopSetup:
    """An Instance with popd on a POP3 and a POP3S port and a mail store."""

    def __init__(self, instances, main_cf=None, users=None, start=True, extra_master="",
                 pop_opts="", pops_opts=""):
        self.port = H.free_port()
        self.sport = H.free_port()
        self.users = dict(USERS if users is None else users)
        cert, key = cert_files()
        self.vuid, self.vgid = H.vmail_ids()
        cf = {
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_maps": "hash:$config_directory/vmailbox",
            "virtual_uid_maps": "static:%d" % self.vuid,
            "virtual_gid_maps": "static:%d" % self.vgid,
            "mailbox_passwd_maps": "hash:$config_directory/passwd",
            "popd_tls_cert_file": cert,
            "popd_tls_key_file": key,
            "popd_login_failure_delay": "0s",
        }
        cf.update(main_cf or {})
        master = ("127.0.0.1:%d inet n n n - - popd %s\n"
                  "127.0.0.1:%d inet n n n - - popd -o popd_tls_wrappermode=yes %s\n%s"
                  % (self.port, pop_opts, self.sport, pops_opts, extra_master))
        self.inst = instances(main_cf=cf, master_cf=master, start=False)
        self.base = os.path.join(self.inst.root, "vmail")
        os.makedirs(self.base)
        os.chown(self.base, self.vuid, self.vgid)
        cf["virtual_mailbox_base"] = self.base
        self.inst.main_cf.update(cf)
        self.inst.write_config()
        self.write_tables()
        if start:
            self.inst.start()

    # tables ---------------------------------------------------------------
    def write_tables(self, mailboxes=None):
        etc = self.inst.etc
        with open(os.path.join(etc, "passwd"), "w") as f:
            for user, pw in self.users.items():
                f.write("%s %s\n" % (user, password_hash(pw)))
        with open(os.path.join(etc, "vmailbox"), "w") as f:
            for user in (self.users if mailboxes is None else mailboxes):
                local, dom = user.split("@")
                f.write("%s %s/%s/\n" % (user, dom, local))
        for name in ("passwd", "vmailbox"):
            r = self.inst.run("petrel-map", "hash:" + os.path.join(etc, name))
            assert r.returncode == 0, r.stderr

    # the mail store ---------------------------------------------------------
    def maildir(self, user="joe@example.test", folder=None):
        local, dom = user.split("@")
        path = os.path.join(self.base, dom, local)
        if folder:
            path = os.path.join(path, "." + folder)
        return path

    def _chown_tree(self, top):
        for d, dirs, files in os.walk(top):
            os.chown(d, self.vuid, self.vgid)
            for f in files:
                os.chown(os.path.join(d, f), self.vuid, self.vgid)

    def make_maildir(self, user="joe@example.test"):
        path = self.maildir(user)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        top = self.base
        self._chown_tree(top)
        return path

    def deliver(self, content, user="joe@example.test", name=None, sub="new"):
        """Write one message file as local delivery would; returns its file name."""
        path = self.make_maildir(user) if not os.path.isdir(self.maildir(user)) \
            else self.maildir(user)
        if isinstance(content, str):
            content = content.encode()
        _cache["n"] = _cache.get("n", 0) + 1
        name = name or "%d.M%06dP%d.test%d" % (time.time(), _cache["n"], os.getpid(),
                                                _cache["n"])
        tmp = os.path.join(path, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(content)
        os.chown(tmp, self.vuid, self.vgid)
        os.rename(tmp, os.path.join(path, sub, name))
        return name

    def files(self, user="joe@example.test", sub="new"):
        return sorted(os.listdir(os.path.join(self.maildir(user), sub)))

    # clients ------------------------------------------------------------------
    def client_ctx(self):
        ctx = ssl.create_default_context(cafile=cert_files()[0])
        ctx.check_hostname = False
        return ctx


class Raw:
    """A raw POP3 connection for byte-exact exchanges and pipelining."""

    def __init__(self, port, host="127.0.0.1", timeout=15):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def line(self):
        data = self.file.readline()
        if not data:
            raise EOFError("connection closed")
        assert data.endswith(b"\r\n"), data
        return data[:-2].decode("latin-1")

    def multi(self):
        """The lines of a multi-line response after the status line, un-stuffed."""
        out = []
        while True:
            line = self.line()
            if line == ".":
                return out
            out.append(line[1:] if line.startswith(".") else line)

    def raw_multi(self):
        """The bytes of a multi-line body up to and including the terminating '.' line."""
        buf = b""
        while not buf.endswith(b"\r\n.\r\n") and buf != b".\r\n":
            chunk = self.file.readline()
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def login(self, user="joe@example.test", password=None):
        assert self.cmd("USER " + user).startswith("+OK")
        reply = self.cmd("PASS " + (password if password is not None else USERS[user]))
        assert reply.startswith("+OK"), reply
        return reply

    def closed(self, timeout=5):
        """Whether the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.file.readline() == b""
        except (socket.timeout, OSError):
            return False

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def popd_children(inst):
    return [p for p in inst.processes()
            if p.get("ppid") == inst.master_pid() and "popd" in " ".join(p["cmdline"])]


def have(program):
    return shutil.which(program) is not None
