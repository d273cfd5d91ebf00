"""Root never follows a path that mail_owner controls (issue #13 item 7).

petrel-super -s (run as root by `petrel start`) repairs owners and modes in the queue.
mail_owner owns deferred/ and can swap deferred/3 for a symbolic link to any directory,
or plant links as queue files: the repair must leave the link's target alone and report
the link (moving the link itself to corrupt/).
"""

import os
import re
import shutil
import signal
import stat
import subprocess

import pytest

import petrel_harness as H
from petrel_harness import wait_for
import submit_util as S

ID1 = "00000001000000AA"
ID2 = "00000001000000BB"
LOGS = ["00000001000000C%X" % i for i in range(6)]


def plant(inst):
    """A root-owned directory outside the queue with a file named like a queue file, and
    links to it from the queue; the targets' (uid, mode) before."""
    outside = os.path.join(inst.root, "outside")
    os.makedirs(outside)
    target = os.path.join(outside, ID1)
    with open(target, "w") as f:
        f.write("root's file\n")
    os.chmod(target, 0o644)
    other = os.path.join(outside, "other")
    with open(other, "w") as f:
        f.write("root's other file\n")
    os.chmod(other, 0o640)
    qd = inst.queue
    # what mail_owner could do: deferred/ is its directory
    os.rename(os.path.join(qd, "deferred", "3"), os.path.join(inst.root, "old-deferred-3"))
    os.symlink(outside, os.path.join(qd, "deferred", "3"))
    os.symlink(other, os.path.join(qd, "hold", ID2))
    # defer/5 too, to a directory of files named like defer logs (at least one of them
    # hashes elsewhere, so a repair that followed the link would move it into the queue)
    logs = os.path.join(inst.root, "outside-logs")
    os.makedirs(logs)
    for name in LOGS:
        with open(os.path.join(logs, name), "w") as f:
            f.write("root's log\n")
    os.rename(os.path.join(qd, "defer", "5"), os.path.join(inst.root, "old-defer-5"))
    os.symlink(logs, os.path.join(qd, "defer", "5"))
    return target, other


def owner_mode(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_repair_never_follows_links_in_the_queue(instances):
    if not H.IS_ROOT:
        pytest.skip("needs root: the repair runs as root")
    inst = S.submit_instance(instances)
    inst.stop()
    target, other = plant(inst)
    before = owner_mode(target), owner_mode(other)
    r = S.cmd(inst, "petrel-super", "-s", "-v")
    assert (owner_mode(target), owner_mode(other)) == before, r.stderr
    assert os.path.exists(target) and os.path.exists(other)
    assert sorted(os.listdir(os.path.join(inst.root, "outside-logs"))) == LOGS
    # the links are reported and moved aside (as links), deferred/3 made anew
    assert re.search(r"deferred/3: a symbolic link instead of a directory \(not followed\); "
                     r"moved to corrupt/deferred\.3", r.stderr), r.stderr
    assert re.search(r"hold/%s: a symbolic link \(not followed\); moved to corrupt/%s" %
                     (ID2, ID2), r.stderr), r.stderr
    assert os.path.islink(os.path.join(inst.queue, "corrupt", "deferred.3"))
    assert os.path.islink(os.path.join(inst.queue, "corrupt", ID2))
    assert os.path.islink(os.path.join(inst.queue, "corrupt", "defer.5"))
    d3 = os.path.join(inst.queue, "deferred", "3")
    assert not os.path.islink(d3) and os.path.isdir(d3)
    assert owner_mode(d3)[:2] == H.mail_owner_ids()
    assert r.returncode == 0, r.stderr
    # the log says so too
    assert "deferred/3: a symbolic link instead of a directory" in inst.log()


def test_petrel_start_never_follows_links_in_the_queue(instances):
    if not H.IS_ROOT:
        pytest.skip("needs root: petrel start runs the repair as root")
    inst = S.submit_instance(instances)
    inst.stop()
    target, other = plant(inst)
    before = owner_mode(target), owner_mode(other)
    r = S.cmd(inst, "petrel", "start")
    try:
        assert r.returncode == 0, r.stderr
        assert (owner_mode(target), owner_mode(other)) == before
        assert sorted(os.listdir(os.path.join(inst.root, "outside-logs"))) == LOGS
        assert "deferred/3: a symbolic link instead of a directory" in inst.log()
    finally:
        S.cmd(inst, "petrel", "stop")


PATH_CALL = re.compile(r'^\d+\s+(chown|lchown|chmod|fchownat|fchmodat|fchmodat2)\((.*)\)\s+=\s+0')


def test_start_changes_no_queue_path_by_name(instances):
    """The whole start (petrel-super -s, master creating the queue and binding the
    private/ and public/ sockets, the daemons' own sockets) changes owners and modes only
    through descriptors: strace shows no chown/chmod by path into the queue."""
    if not H.IS_ROOT:
        pytest.skip("needs root: the start runs as root")
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (scripts/deps.sh --test)")
    inst = S.submit_instance(instances, start=False)
    traced = ["strace", "-f", "-qq", "-e",
              "trace=chown,lchown,chmod,fchownat,fchmodat,fchown,fchmod"]
    # what `petrel start` runs: master (here in the foreground, so that a slow trace cannot
    # outlast petrel start's wait for the pid file) creating the queue, and petrel-super -s
    trace = os.path.join(inst.root, "strace.out")
    env = dict(os.environ)  # LeakSanitizer cannot run under ptrace (sanitizer builds)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    p = subprocess.Popen(traced + ["-o", trace, H.build_path(H.DAEMONS["master"]), "-f", "-c",
                                   inst.etc], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    try:
        wait_for(lambda: os.path.exists(os.path.join(inst.queue, "public", "showq")) or
                 p.poll() is not None, 60, what="qmgr to start under strace")
        assert p.poll() is None, p.communicate()[1]
        r = subprocess.run(traced + ["-o", trace + ".super",
                                     os.path.join(inst.bindir, "petrel-super"), "-c", inst.etc,
                                     "-s"], capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr
    finally:
        mpid = inst.master_pid()
        if mpid:
            os.kill(mpid, signal.SIGTERM)  # master ends its children; strace ends with them
        else:
            p.terminate()
        p.communicate(timeout=60)
    lines = open(trace + ".super").read().splitlines() + open(trace).read().splitlines()
    calls = [m.group(0) for m in map(PATH_CALL.match, lines) if m and '""' not in m.group(2)]
    assert calls == [], "\n".join(calls)
    # the trace saw the work: the new queue's directories were given to mail_owner
    assert any(re.match(r"^\d+\s+fchown\(\d+, %d, %d\)\s+=\s+0" % H.mail_owner_ids(), l)
               for l in lines), "\n".join(lines)
