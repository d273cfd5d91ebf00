"""maildrop/.tmp.* files of a killed sendmail (issue #13 item 9): invisible to mailq, so
pickup removes them once unchanged for stale_queue_file_time, one log line each; a
temporary file still being written (recent) is left alone."""

import os
import re
import time

import petrel_harness as H
import submit_util as S


def test_pickup_removes_stale_maildrop_temporaries(instances):
    inst = S.submit_instance(instances, main_cf={"stale_queue_file_time": "1h"})
    drop = os.path.join(inst.queue, "maildrop")
    old = time.time() - 3600 - 120
    stale, fresh = os.path.join(drop, ".tmp.4242.000001"), os.path.join(drop, ".tmp.4243.000002")
    for path in (stale, fresh):
        with open(path, "wb") as f:
            f.write(b"half a submission")
        os.chmod(path, 0o600)
    os.utime(stale, (old, old))
    # any submission makes pickup scan maildrop/
    r = S.sendmail(inst, "demo@example.test", input="Subject: poke\n\nx\n")
    assert r.returncode == 0, r.stderr
    line = inst.wait_log(r"pickup\[\d+\]: maildrop/\.tmp\.4242\.000001: removed a stale "
                         r"temporary file \(uid=%d, size=17, unchanged for \d+s\)" % os.getuid())
    assert line
    assert not os.path.exists(stale)
    assert os.path.exists(fresh)  # still being written, as far as anyone knows
    S.wait_mail(inst)
    assert ".tmp.4243" not in inst.log()
