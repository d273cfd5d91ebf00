"""End-to-end tests of popd (issue 7): RFC 1939, 2449, 2595, 5034 over the mail store."""

import base64
import os
import poplib
import re
import socket
import ssl
import time

import pytest

import petrel_harness as H
from popd_util import USERS, PopSetup, Raw, popd_children

MSG1 = ("From: ann@example.test\nTo: joe@example.test\nSubject: first\n"
        "Message-ID: <1@example.test>\n\nHello Joe.\n.leading dot\n..two dots\n.\nend\n")
MSG2 = "Subject: second\r\n\r\nalready CRLF\r\n"


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def test_smoke_login_stat_retr_quit(instances):
    ps = PopSetup(instances)
    ps.deliver(MSG1)
    ps.deliver(MSG2)
    c = Raw(ps.port)
    assert c.line() == "+OK mail.petrel.test POP3 server ready"
    assert c.login() == "+OK Logged in, 2 messages (%d octets)" % (
        len(crlf(MSG1)) + len(MSG2))
    assert c.cmd("STAT") == "+OK 2 %d" % (len(crlf(MSG1)) + len(MSG2))
    assert c.cmd("RETR 1") == "+OK %d octets" % len(crlf(MSG1))
    assert c.raw_multi() == crlf(MSG1).replace("\r\n.", "\r\n..").encode() + b".\r\n"
    assert c.cmd("QUIT") == "+OK Logging out, 0 messages deleted"
    c.close()
