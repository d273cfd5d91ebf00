"""End-to-end tests of qmgr: routing, scheduling, retries, DSNs, expiry, showq."""

import os
import re
import time

import pytest

import petrel_harness as H
from petrel_harness import wait_for
import qmgr_util as Q


def test_virtual_delivery_basic(instances):
    inst = Q.mail_instance(instances)
    qid = Q.submit(inst, "sender@remote.test", ["demo@example.test"], Q.message("basic"))
    line = Q.wait_status(inst, qid, "demo@example.test", "sent")
    assert re.search(r"relay=virtual, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, "
                     r"dsn=2\.0\.0, status=sent \(delivered to maildir\)", line), line
    Q.wait_removed(inst, qid)
    files = Q.wait_maildir(os.path.join(inst.vmail, "example.test/demo"))
    assert len(files) == 1
    uid, gid, mode = Q.file_owner_mode(files[0])
    assert (uid, gid) == H.vmail_ids() and mode == 0o600
    with open(files[0], "rb") as f:
        data = f.read()
    assert b"\r" not in data
    assert data.startswith(b"Return-Path: <sender@remote.test>\nDelivered-To: demo@example.test\n"
                           b"Received: from localhost")
    assert re.search(r",S=%d$" % len(data), files[0])
    assert Q.queue_files(inst) == []
    assert "from=<sender@remote.test>, size=" in inst.log()
