"""End-to-end tests of the smtp client's TLS (levels may, encrypt, verify; per-destination
policy) and of SMTP AUTH to a smarthost. Receivers are Petrel instances with certificates
from a CA the test makes with openssl."""

import re

import qmgr_util as Q
import smtp_util as U
from smtp_util import dns, fakes  # noqa: F401 (fixtures)
from test_smtp import SENDER, started

PASSWORD = U.S.PASSWORD


def routed_sender(instances, routes, main_cf=None, dns_server=None):
    """A sender whose transport_maps send each domain to [ip]:port (routes: domain -> text)."""
    cfg = {"transport_maps": "hash:$config_directory/transport"}
    cfg.update(main_cf or {})
    snd = U.sender(instances, dns_server, start=False, main_cf=cfg)
    Q.write_table(snd, "transport", {d: "smtp:%s" % hop for d, hop in routes.items()})
    return snd


def test_may_uses_starttls_when_offered_else_plaintext(instances, tmp_path):
    ca = U.Ca(str(tmp_path))
    port = U.shared_port(["127.0.0.81", "127.0.0.82"])
    tls = U.receiver(instances, "127.0.0.81", port, tls=ca.server_cert("mx.tls.test"))
    plain = U.receiver(instances, "127.0.0.82", port)
    snd = routed_sender(instances, {"tls.test": "[127.0.0.81]:%d" % port,
                                    "plain.test": "[127.0.0.82]:%d" % port},
                        {"smtp_tls_security_level": "may"})
    started(snd)
    qid = Q.submit(snd, SENDER, ["a@tls.test", "b@plain.test"])
    Q.wait_status(snd, qid, "a@tls.test", "sent")
    Q.wait_status(snd, qid, "b@plain.test", "sent")
    assert re.search(r"smtp\[\d+\]: Untrusted TLS connection established to "
                     r"127\.0\.0\.81\[127\.0\.0\.81\]:%d: TLSv1\.[23] with cipher \S+ "
                     r"\(\d+/\d+ bits\)" % port, snd.log())
    assert "TLS connection established to 127.0.0.82" not in snd.log()
    assert U.arrived(tls)[0].attrs.get("tls", "").startswith("TLSv1.")
    q = U.arrived(plain)[0]
    assert "tls" not in q.attrs and q.attrs.get("protocol") == "ESMTP"


def test_encrypt_requires_tls(instances, tmp_path):
    ca = U.Ca(str(tmp_path))
    port = U.shared_port(["127.0.0.81", "127.0.0.82"])
    tls = U.receiver(instances, "127.0.0.81", port, tls=ca.server_cert("mx.tls.test"))
    plain = U.receiver(instances, "127.0.0.82", port)
    snd = routed_sender(instances, {"tls.test": "[127.0.0.81]:%d" % port,
                                    "plain.test": "[127.0.0.82]:%d" % port},
                        {"smtp_tls_security_level": "encrypt"})
    started(snd)
    qid = Q.submit(snd, SENDER, ["a@tls.test", "b@plain.test"])
    Q.wait_status(snd, qid, "a@tls.test", "sent")
    line = Q.wait_status(snd, qid, "b@plain.test", "deferred")
    assert "dsn=4.7.4" in line and "relay=127.0.0.82[127.0.0.82]:%d" % port in line
    assert "TLS is required, but was not offered by host 127.0.0.82[127.0.0.82]" in line
    U.arrived(tls)
    assert not U.S.committed_files(plain)


def test_verify_checks_chain_and_host_name(instances, dns, tmp_path):
    ca = U.Ca(str(tmp_path))
    ips = ["127.0.0.83", "127.0.0.84", "127.0.0.85"]
    port = U.shared_port(ips)
    d = dns(mx=[("secure.test", "mx.secure.test", 10), ("wrong.test", "mx.wrong.test", 10),
                ("selfsigned.test", "mx.selfsigned.test", 10)],
            hosts=[("mx.secure.test", ips[0]), ("mx.wrong.test", ips[1]),
                   ("mx.selfsigned.test", ips[2])])
    good = U.receiver(instances, ips[0], port, tls=ca.server_cert("mx.secure.test"))
    wrong = U.receiver(instances, ips[1], port, tls=ca.server_cert("other.test"))
    own = U.receiver(instances, ips[2], port, tls=U.S.make_cert(str(tmp_path)))
    snd = U.sender(instances, d, port, main_cf={"smtp_tls_security_level": "verify",
                                                "smtp_tls_CAfile": ca.cert})
    qid = Q.submit(snd, SENDER, ["a@secure.test", "b@wrong.test", "c@selfsigned.test"])
    Q.wait_status(snd, qid, "a@secure.test", "sent")
    assert "Verified TLS connection established to mx.secure.test[127.0.0.83]" in snd.log()
    line = Q.wait_status(snd, qid, "b@wrong.test", "deferred")
    assert "dsn=4.7.5" in line and "Server certificate not verified" in line
    assert "the certificate does not name the host" in line
    line = Q.wait_status(snd, qid, "c@selfsigned.test", "deferred")
    assert "dsn=4.7.5" in line and "the certificate chain is not trusted" in line
    U.arrived(good)
    assert not U.S.committed_files(wrong) and not U.S.committed_files(own)


def test_tls_policy_maps_per_destination(instances, tmp_path):
    ca = U.Ca(str(tmp_path))
    port = U.shared_port(["127.0.0.81", "127.0.0.82"])
    tls = U.receiver(instances, "127.0.0.81", port, tls=ca.server_cert("mx.tls.test"))
    plain = U.receiver(instances, "127.0.0.82", port)
    snd = routed_sender(instances, {"tls.test": "[127.0.0.81]:%d" % port,
                                    "plain.test": "[127.0.0.82]:%d" % port},
                        {"smtp_tls_security_level": "none",
                         "smtp_tls_policy_maps": "hash:$config_directory/tls_policy"})
    Q.write_table(snd, "tls_policy", {"[127.0.0.82]:%d" % port: "encrypt"})
    started(snd)
    qid = Q.submit(snd, SENDER, ["a@tls.test", "b@plain.test"])
    Q.wait_status(snd, qid, "a@tls.test", "sent")
    line = Q.wait_status(snd, qid, "b@plain.test", "deferred")
    assert "dsn=4.7.4" in line
    # level none for the first: no STARTTLS although the server offers it
    assert "TLS connection established" not in snd.log()
    assert "tls" not in U.arrived(tls)[0].attrs


def smarthost(instances, tmp_path, ip, port):
    ca = U.Ca(str(tmp_path))
    return U.receiver(instances, ip, port, tls=ca.server_cert("smarthost.test"),
                      users=("relay@virt.test",),
                      main_cf={"smtpd_sasl_auth_enable": "yes",
                               "mynetworks": "127.0.0.99/32",
                               "smtpd_relay_restrictions": "permit_sasl_authenticated, reject"})


def test_auth_to_smarthost(instances, tmp_path):
    port = U.shared_port(["127.0.0.87"])
    hub = smarthost(instances, tmp_path, "127.0.0.87", port)
    hop = "[127.0.0.87]:%d" % port
    snd = U.sender(instances, start=False, main_cf={
        "relayhost": hop, "smtp_tls_security_level": "may", "smtp_sasl_auth_enable": "yes",
        "smtp_sasl_password_maps": "hash:$config_directory/sasl_passwd"})
    Q.write_table(snd, "sasl_passwd", {hop: "relay@virt.test:%s" % PASSWORD})
    started(snd)
    qid = Q.submit(snd, SENDER, ["a@remote.test"])
    Q.wait_status(snd, qid, "a@remote.test", "sent")
    q = U.arrived(hub)[0]
    assert q.attrs.get("sasl_username") == "relay@virt.test"
    assert q.attrs.get("sasl_method") == "PLAIN"
    assert q.attrs.get("protocol") == "ESMTPSA"


def test_auth_failures_defer(instances, tmp_path, fakes):
    port = U.shared_port(["127.0.0.88"])
    hub = smarthost(instances, tmp_path, "127.0.0.88", port)
    # a server that offers AUTH without TLS gets no password
    plain = fakes("127.0.0.89", ehlo="250-fake.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN")
    hub_hop = "[127.0.0.88]:%d" % port
    plain_hop = "[127.0.0.89]:%d" % plain.port
    snd = routed_sender(instances, {"hub.test": hub_hop, "plain.test": plain_hop},
                        {"smtp_tls_security_level": "may", "smtp_sasl_auth_enable": "yes",
                         "smtp_sasl_password_maps": "hash:$config_directory/sasl_passwd"})
    Q.write_table(snd, "sasl_passwd", {hub_hop: "relay@virt.test:wrong-password",
                                       plain_hop: "relay@virt.test:%s" % PASSWORD})
    started(snd)
    qid = Q.submit(snd, SENDER, ["a@hub.test", "b@plain.test"])
    line = Q.wait_status(snd, qid, "a@hub.test", "deferred")
    assert "dsn=4.7.0" in line and "SASL authentication failed; server 127.0.0.88" in line
    assert "said: 535 5.7.8" in line
    line = Q.wait_status(snd, qid, "b@plain.test", "deferred")
    assert "dsn=4.7.0" in line and "without TLS" in line
    assert not [c for s in plain.commands() for c in s if c.startswith("AUTH")]
    assert not U.S.committed_files(hub)
