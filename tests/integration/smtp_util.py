"""smtp_util - helpers for the end-to-end tests of the smtp client (remote delivery).

- Dns: a dnsmasq (Debian's dnsmasq-base) on a loopback port with the test's MX, A and TXT
  records, authoritative for .test (unknown names: NXDOMAIN), no system configuration.
- sender(): a Petrel instance with qmgr, local/virtual and the smtp transport, asking Dns.
- receiver(): another Petrel instance (smtpd only) on its own address 127.0.0.X, whose
  queue files (incoming/) show exactly what arrived.
- FakeServer: a scripted SMTP server in a thread, for misbehaving peers and exact replies.
- Ca: a test CA made with openssl, and server certificates for names.
- SmtpSink: Postfix's smtp-sink as an interoperability peer.
Only the Python standard library is used (plus the programs named above).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import petrel_harness as H
import qmgr_util as Q
import smtpd_util as S
from petrel_harness import wait_for

SMTP_MASTER = "smtp      unix  -       -       n       -       -       smtp\n"


def shared_port(ips):
    """A TCP port free on every address of ips (all receivers of a test share it)."""
    for _ in range(50):
        port = H.free_port(ips[0])
        ok = True
        for ip in ips[1:]:
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((ip, port))
                except OSError:
                    ok = False
        if ok:
            return port
    raise AssertionError("no common free port")


class Dns:
    """dnsmasq serving the test's records on 127.0.0.1:<port>."""

    def __init__(self, mx=(), hosts=(), txt=(), extra=()):
        self.dir = tempfile.mkdtemp(prefix="petrel-dns-")
        # dnsmasq listens on UDP and TCP: a port free for both, and another one if the port
        # was taken in between (a resolver's ephemeral socket, another test's listener)
        for attempt in range(5):
            self.port = self._free_udp_tcp_port()
            try:
                self._start(mx, hosts, txt, extra)
                return
            except AssertionError as e:
                if "Address already in use" not in str(e) or attempt == 4:
                    raise

    def _start(self, mx, hosts, txt, extra):
        args = ["dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--no-poll", "--port=%d" % self.port, "--listen-address=127.0.0.1",
                "--bind-interfaces", "--local=/test/", "--pid-file=", "--cache-size=0",
                "--log-facility=%s/log" % self.dir]
        if H.IS_ROOT:
            args.append("--user=root")  # no switch to an account that may not exist
        for domain, host, pref in mx:
            args.append("--mx-host=%s,%s,%d" % (domain, host, pref))
        for name, addr in hosts:
            args.append("--host-record=%s,%s" % (name, addr))
        for name, text in txt:
            args.append("--txt-record=%s,%s" % (name, text))
        args += list(extra)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        wait_for(self._answers, timeout=10, what="dnsmasq to answer")

    @staticmethod
    def _free_udp_tcp_port():
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    t.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
        raise AssertionError("no port free for both UDP and TCP")

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError("dnsmasq exited: %s" % self.proc.stderr.read().decode())
        q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05probe\x04test\x00\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(q, ("127.0.0.1", self.port))
                return s.recv(512)[:2] == b"\x12\x34"
            except OSError:
                return False

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stderr.close()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def sender(instances, dns=None, port=25, main_cf=None, master_extra="", smtp_args="",
           start=True):
    """A mail instance (qmgr, local, virtual) with the smtp transport (smtp_args: its
    master.cf arguments, e.g. "-o max_use=2")."""
    cfg = {
        "smtp_tcp_port": str(port),
        "smtp_connect_timeout": "5s",
        "smtp_helo_timeout": "10s",
        "smtp_mail_timeout": "10s",
        "smtp_rcpt_timeout": "10s",
        "smtp_data_init_timeout": "10s",
        "smtp_data_xfer_timeout": "10s",
        "smtp_data_done_timeout": "10s",
        "smtp_quit_timeout": "5s",
        "smtp_dns_timeout": "1s",
        "smtp_dns_attempts": "1",
        "smtp_tls_security_level": "none",
    }
    if dns is not None:
        cfg["smtp_dns_servers"] = dns.server
    cfg.update(main_cf or {})
    return Q.mail_instance(instances, main_cf=cfg, master_cf=Q.MASTER_CF + SMTP_MASTER.rstrip("\n") + " " +
                           smtp_args + "\n" + master_extra, start=start)


def receiver(instances, ip, port, main_cf=None, tls=None, users=(), extra_master="",
             start=True):
    """A Petrel with smtpd only on ip:port; tls: (cert, key) to offer STARTTLS."""
    cfg = dict(S.FAST)
    cfg.update({
        "inet_interfaces": ip,
        "myhostname": "mx-%s.test" % ip.replace(".", "-"),
        "mydestination": "",
        "mynetworks": "127.0.0.0/8",
        "virtual_mailbox_domains": S.VIRT_DOMAIN,
        "virtual_mailbox_maps": "hash:$config_directory/vmailbox",
        "mailbox_passwd_maps": "hash:$config_directory/passwd",
        "alias_maps": "",
        "smtpd_sasl_auth_enable": "no",
    })
    if tls:
        cfg.update({"smtpd_tls_security_level": "may", "smtpd_tls_cert_file": tls[0],
                    "smtpd_tls_key_file": tls[1]})
    cfg.update(main_cf or {})
    inst = instances(main_cf=cfg, start=False)
    inst.set_master_cf("%s:%d inet n - n - - smtpd\n%s" % (ip, port, extra_master))
    S.write_map(inst, "vmailbox", "user@virt.test virt.test/user/\n")
    for u in users:
        S.add_user(inst, u)
    inst.ip = ip
    inst.port = port
    if start:
        inst.start()
        wait_for(lambda: _can_connect(ip, port), timeout=10, what="%s:%d" % (ip, port))
        # the probe's session is logged before anything counts connections
        wait_for(lambda: "disconnect from" in inst.log(), timeout=10, what="the probe's log")
    return inst


def _can_connect(ip, port):
    try:
        socket.create_connection((ip, port), timeout=1).close()
        return True
    except OSError:
        return False


def arrived(inst, count=1, timeout=15):
    """The committed queue files of a receiver once there are count of them."""
    return wait_for(lambda: len(S.committed_files(inst)) >= count and S.committed_files(inst),
                    timeout, what="%d message(s) at %s" % (count, inst.root))


def connections(inst):
    """How many SMTP connections a receiver's smtpd took (its "connect from" lines)."""
    return len(re.findall(r"\bconnect from ", inst.log()))


# a scripted server ----------------------------------------------------------------------------

class FakeServer:
    """An SMTP server in a thread. handler(server, conn_no, line) returns the reply text
    (one or more lines, CRLF added), or None to close without a reply. Each connection's
    commands are kept in self.sessions (a list of lists)."""

    EHLO = ("250-fake.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
            "250-DSN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES")

    def __init__(self, ip="127.0.0.1", port=0, handler=None, greeting="220 fake.test ESMTP",
                 ehlo=None):
        self.sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(16)
        self.ip, self.port = self.sock.getsockname()[:2]
        self.handler = handler or (lambda srv, n, line: srv.default(line))
        self.greeting = greeting
        self.ehlo = ehlo or self.EHLO
        self.sessions = []
        self.messages = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.sessions.append([])
                n = len(self.sessions) - 1
            threading.Thread(target=self._session, args=(c, n), daemon=True).start()

    def default(self, line):
        """The normal answer to a command (for handlers to fall back on)."""
        cmd = line.split(" ", 1)[0].upper().split(":")[0]
        if line == ".":
            return "250 2.0.0 Ok: queued as FAKE%d" % len(self.messages)
        if cmd == "EHLO":
            return self.ehlo
        if cmd in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
            return "250 2.0.0 Ok"
        if cmd == "DATA":
            return "354 End data with <CR><LF>.<CR><LF>"
        if cmd == "QUIT":
            return "221 2.0.0 Bye"
        return "502 5.5.2 Error: command not recognized"

    def _session(self, c, n):
        f = c.makefile("rb")
        try:
            if self.greeting is not None:
                c.sendall(self.greeting.encode() + b"\r\n")
            in_data = False
            data = b""
            accepted = 0  # a DATA without an accepted RCPT gets 554, as real servers say
            mail_ok = False
            while True:
                raw = f.readline(100000)
                if not raw:
                    return
                if in_data:
                    if raw == b".\r\n":
                        in_data = False
                        with self.lock:
                            self.messages.append(data)
                        line = "."
                        data = b""
                    else:
                        data += raw
                        continue
                else:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self.lock:
                    self.sessions[n].append(line)
                verb = line.upper()
                if verb == "DATA" and accepted == 0:
                    reply = "554 5.5.1 Error: no valid recipients"
                elif verb.startswith("RCPT") and not mail_ok:
                    reply = "503 5.5.1 Error: need MAIL command"
                else:
                    reply = self.handler(self, n, line)
                if reply is None:
                    return
                if verb.startswith(("MAIL", "RSET")) or line == ".":
                    accepted = 0
                    mail_ok = verb.startswith("MAIL") and str(reply)[:1] == "2"
                elif verb.startswith("RCPT") and str(reply)[:1] == "2":
                    accepted += 1
                if isinstance(reply, bytes):
                    c.sendall(reply)
                else:
                    c.sendall(reply.encode() + b"\r\n")
                if line.upper() == "DATA" and reply.startswith("354"):
                    in_data = True
                if line.upper() == "QUIT":
                    return
        except OSError:
            pass
        finally:
            f.close()
            c.close()

    def commands(self):
        with self.lock:
            return [list(s) for s in self.sessions]

    def stop(self):
        self.stopping = True
        self.sock.close()


# TLS ------------------------------------------------------------------------------------------

class Ca:
    """A test CA (openssl) and server certificates signed by it."""

    def __init__(self, directory):
        self.dir = directory
        self.cert = os.path.join(directory, "ca.pem")
        self.key = os.path.join(directory, "ca.key")
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-days", "2", "-subj", "/CN=Petrel Test CA", "-keyout", self.key,
                  "-out", self.cert, "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.cert, 0o644)

    def _run(self, *args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)

    def server_cert(self, name):
        """(cert, key) for DNS name name, signed by this CA; key readable by root only."""
        base = os.path.join(self.dir, name)
        key, csr, cert = base + ".key", base + ".csr", base + ".pem"
        ext = base + ".ext"
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n" % name)
        self._run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-subj", "/CN=%s" % name, "-keyout", key, "-out", csr)
        self._run("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                  "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert)
        os.chmod(key, 0o600)
        os.chmod(cert, 0o644)
        return cert, key


# smtp-sink ------------------------------------------------------------------------------------

class SmtpSink:
    """Postfix's smtp-sink on ip:port, dumping each message into a directory."""

    def __init__(self, ip, port, *opts):
        self.dir = tempfile.mkdtemp(prefix="petrel-sink-")
        os.chmod(self.dir, 0o777)
        argv = ["smtp-sink", "-c", "-h", "sink.test", "-d", os.path.join(self.dir, "%M.")]
        if H.IS_ROOT:
            argv += ["-u", H.TEST_USER]
        argv += list(opts) + ["%s:%d" % (ip, port), "64"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: _can_connect(ip, port), timeout=10, what="smtp-sink")

    def messages(self):
        out = []
        for n in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, n), "rb") as f:
                out.append(f.read())
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def message(subject="test", body="hello\n", headers=None, size=None):
    return Q.message(subject=subject, body=body, headers=headers, size=size)


def now():
    return time.time()


# fixtures (import them into a test module) ----------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture
def dns():
    """Factory of Dns servers, stopped at teardown."""
    made = []

    def make(**kw):
        d = Dns(**kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def fakes():
    """Factory of FakeServers (and SmtpSinks: fakes.sink(...)), stopped at teardown."""
    made = []

    def make(*args, **kw):
        f = FakeServer(*args, **kw)
        made.append(f)
        return f

    def sink(*args):
        s = SmtpSink(*args)
        made.append(s)
        return s

    make.sink = sink
    yield make
    for f in made:
        f.stop()
