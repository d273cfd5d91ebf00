"""End-to-end tests of the smtp client against misbehaving and unusual servers: reply limits
(exactly at and just over), malformed replies, timeouts per stage, 421 and 5xx greetings with
fallback to the next MX, the session limit, and Postfix's smtp-sink as an interoperability
peer."""

import qmgr_util as Q
import smtp_util as U
from smtp_util import dns, fakes  # noqa: F401 (fixtures)
from test_smtp import SENDER, started


def routed(instances, routes, main_cf=None):
    """A sender with transport_maps: domain -> [ip]:port."""
    cfg = {"transport_maps": "hash:$config_directory/transport"}
    cfg.update(main_cf or {})
    snd = U.sender(instances, start=False, main_cf=cfg)
    Q.write_table(snd, "transport", {d: "smtp:%s" % hop for d, hop in routes.items()})
    return started(snd)


def hop(srv):
    return "[%s]:%d" % (srv.ip, srv.port)


def test_reply_line_length_limit(instances, fakes):
    # 2048 bytes before CRLF are fine; one more is a protocol error
    at = fakes("127.0.0.101", greeting="220 " + "a" * 2044)
    over = fakes("127.0.0.102", greeting="220 " + "a" * 2045)
    snd = routed(instances, {"at.test": hop(at), "over.test": hop(over)})
    qid = Q.submit(snd, SENDER, ["x@at.test", "y@over.test"])
    Q.wait_status(snd, qid, "x@at.test", "sent")
    line = Q.wait_status(snd, qid, "y@over.test", "deferred")
    assert "dsn=4.5.0" in line and "reply line too long (in reply to initial greeting)" in line
    assert "relay=127.0.0.102[127.0.0.102]" in line


def test_reply_line_count_limit(instances, fakes):
    def ehlo(lines):
        return "\r\n".join(["250-fake.test"] + ["250-X-EXT%d" % i for i in range(lines - 2)] +
                           ["250 PIPELINING"])

    at = fakes("127.0.0.103", ehlo=ehlo(10))
    over = fakes("127.0.0.104", ehlo=ehlo(11))
    snd = routed(instances, {"at.test": hop(at), "over.test": hop(over)},
                 {"smtp_reply_line_count_limit": "10"})
    qid = Q.submit(snd, SENDER, ["x@at.test", "y@over.test"])
    Q.wait_status(snd, qid, "x@at.test", "sent")
    line = Q.wait_status(snd, qid, "y@over.test", "deferred")
    assert "too many reply lines (in reply to EHLO command)" in line


def test_malformed_replies(instances, fakes):
    garbage = fakes("127.0.0.105", greeting="hello there")
    mixed = fakes("127.0.0.106", ehlo="250-fake.test\r\n251 PIPELINING")
    snd = routed(instances, {"garbage.test": hop(garbage), "mixed.test": hop(mixed)})
    qid = Q.submit(snd, SENDER, ["x@garbage.test", "y@mixed.test"])
    line = Q.wait_status(snd, qid, "x@garbage.test", "deferred")
    assert 'malformed reply "hello there" (in reply to initial greeting)' in line
    line = Q.wait_status(snd, qid, "y@mixed.test", "deferred")
    assert 'malformed reply "251 PIPELINING" (in reply to EHLO command)' in line


def test_stage_timeouts(instances, fakes):
    def no_end_reply(srv, n, line):
        return b"" if line == "." else srv.default(line)

    silent = fakes("127.0.0.107", greeting=None)
    slow = fakes("127.0.0.108", handler=no_end_reply)
    snd = routed(instances, {"silent.test": hop(silent), "slow.test": hop(slow)},
                 {"smtp_helo_timeout": "1s", "smtp_data_done_timeout": "1s"})
    qid = Q.submit(snd, SENDER, ["x@silent.test", "y@slow.test"])
    line = Q.wait_status(snd, qid, "x@silent.test", "deferred")
    assert "dsn=4.4.2" in line
    assert ("conversation with 127.0.0.107[127.0.0.107]:%d timed out while receiving the "
            "reply to the initial greeting" % silent.port) in line
    line = Q.wait_status(snd, qid, "y@slow.test", "deferred")
    assert ("timed out while receiving the reply to the end of DATA command -- message may be "
            "sent more than once") in line


def mx_fakes(dns, fakes, handlers, greetings=None, domain="remote.test"):
    ips = ["127.0.0.%d" % (111 + i) for i in range(len(handlers))]
    port = U.shared_port(ips)
    d = dns(mx=[(domain, "mx%d.%s" % (i + 1, domain), 10 * (i + 1)) for i in range(len(ips))],
            hosts=[("mx%d.%s" % (i + 1, domain), ip) for i, ip in enumerate(ips)])
    srvs = [fakes(ip, port, handler=h, greeting=(greetings or {}).get(i, "220 fake.test ESMTP"))
            for i, (ip, h) in enumerate(zip(ips, handlers))]
    return d, port, srvs


def test_421_and_5xx_greeting_move_on_to_the_next_mx(instances, dns, fakes):
    def r421(srv, n, line):
        return "421 4.3.2 shutting down" if line.startswith("RCPT") else srv.default(line)

    ok = lambda srv, n, line: srv.default(line)  # noqa: E731
    d, port, srvs = mx_fakes(dns, fakes, [ok, r421, ok],
                             greetings={0: "554 5.7.1 go away"})
    snd = U.sender(instances, d, port, main_cf={"smtp_mx_session_limit": "0"})
    qid = Q.submit(snd, SENDER, ["a@remote.test"])
    line = Q.wait_status(snd, qid, "a@remote.test", "sent")
    assert "relay=mx3.remote.test[127.0.0.113]" in line
    log = snd.log()
    assert "host mx1.remote.test[127.0.0.111]:%d refused to talk to me: 554 5.7.1 go away" % port \
        in log
    assert [c.split(":")[0] for c in srvs[0].commands()[0]] == ["QUIT"]
    assert len(srvs[2].messages) == 1 and not srvs[1].messages


def test_mx_session_limit(instances, dns, fakes):
    def busy(srv, n, line):
        return "451 4.3.0 busy" if line.startswith("MAIL") else srv.default(line)

    d, port, srvs = mx_fakes(dns, fakes, [busy, busy, busy])
    snd = U.sender(instances, d, port)  # smtp_mx_session_limit = 2
    qid = Q.submit(snd, SENDER, ["a@remote.test"])
    line = Q.wait_status(snd, qid, "a@remote.test", "deferred")
    # the reason is the last server's
    assert "host mx2.remote.test[127.0.0.112]:%d said: 451 4.3.0 busy" % port in line
    assert srvs[0].commands() and srvs[1].commands() and not srvs[2].commands()


def test_lost_connection_after_mail(instances, fakes):
    def hangup(srv, n, line):
        return None if line.startswith("MAIL") else srv.default(line)

    srv = fakes("127.0.0.115", handler=hangup)
    snd = routed(instances, {"remote.test": hop(srv)})
    qid = Q.submit(snd, SENDER, ["a@remote.test"])
    line = Q.wait_status(snd, qid, "a@remote.test", "deferred")
    assert "dsn=4.4.2" in line
    assert "lost connection with 127.0.0.115[127.0.0.115]:%d while receiving the reply to " \
        "the MAIL FROM command" % srv.port in line


def test_ipv6_mx_host(instances, dns, fakes):
    srv = fakes("::1")
    d = dns(mx=[("six.test", "mx.six.test", 10)], hosts=[("mx.six.test", "::1")])
    snd = U.sender(instances, d, srv.port)
    qid = Q.submit(snd, SENDER, ["a@six.test"])
    line = Q.wait_status(snd, qid, "a@six.test", "sent")
    assert "relay=mx.six.test[::1]:%d" % srv.port in line
    assert len(srv.messages) == 1


def test_smtp_sink_interoperability(instances, fakes):
    port = U.shared_port(["127.0.0.116", "127.0.0.117"])
    sink = fakes.sink("127.0.0.116", port)
    rude = fakes.sink("127.0.0.117", port, "-Q", "RCPT")  # 421 and hang up at RCPT
    snd = routed(instances, {"sink.test": "[127.0.0.116]:%d" % port,
                             "rude.test": "[127.0.0.117]:%d" % port})
    ids = Q.submit_many(snd, SENDER, ["a@sink.test", "b@sink.test"], count=3,
                        msg=U.message("8bit", body="gr\u00fc\u00dfe\n.dot\n"))
    for qid in ids:
        for r in ("a@sink.test", "b@sink.test"):
            line = Q.wait_status(snd, qid, r, "sent")
            assert "relay=127.0.0.116[127.0.0.116]:%d" % port in line
    msgs = U.wait_for(lambda: len(sink.messages()) >= 3 and sink.messages(), timeout=10,
                      what="three messages at smtp-sink")
    assert all(b"\r\n.dot\r\n" in m or b"\n.dot\n" in m for m in msgs)
    qid = Q.submit(snd, SENDER, ["c@rude.test"])
    line = Q.wait_status(snd, qid, "c@rude.test", "deferred")
    assert "said: 421" in line
