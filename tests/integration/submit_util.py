"""submit_util - helpers for the end-to-end tests of local submission and queue administration.

submit_instance() starts an Instance ready for local and virtual delivery
(qmgr_util.mail_instance) with pickup in master.cf and its own command
directory <root>/bin holding copies of the commands: petrel-drop and
petrel-queue set-gid to the test's setgid_group (as `make install` would do
as root), sendmail with mailq and newaliases as links, petrel-super,
petrel-cat, petrel-map. command_directory points there, so that sendmail
finds its helper as in production; copies (not links into the build tree)
so that an unprivileged user can run them.
"""

import glob
import grp
import json
import os
import pwd
import re
import shutil
import subprocess

import petrel_harness as H
from petrel_harness import wait_for
import qmgr_util as Q

PICKUP = "pickup    unix  n       -       n       60      1       pickup\n"
SETGID = ("petrel-drop", "petrel-queue")
COPIES = ("sendmail", "petrel-drop", "petrel-queue", "petrel-super", "petrel-cat", "petrel-map",
          "petrel")
HOST = "mail.petrel.test"


def install_commands(inst):
    """<root>/bin with the commands, set-gid where make install makes them so."""
    bindir = os.path.join(inst.root, "bin")
    os.makedirs(bindir, exist_ok=True)
    os.chmod(bindir, 0o755)
    for name in COPIES:
        src = H.build_path("admin/" + name)
        if not os.path.exists(src):
            continue
        dst = os.path.join(bindir, name)
        shutil.copy2(src, dst)
        os.chmod(dst, 0o755)
        if name in SETGID and H.IS_ROOT:
            os.chown(dst, 0, grp.getgrnam(H.TEST_GROUP).gr_gid)
            os.chmod(dst, 0o2755)
    for link in ("mailq", "newaliases"):
        path = os.path.join(bindir, link)
        if not os.path.lexists(path):
            os.symlink("sendmail", path)
    inst.bindir = bindir
    return bindir


def submit_instance(instances, main_cf=None, master_cf=None, start=True, **kw):
    """A mail instance with pickup and the submission commands."""
    cfg = {}
    cfg.update(main_cf or {})
    inst = Q.mail_instance(instances, main_cf=cfg, master_cf=(master_cf if master_cf is not None
                                                              else Q.MASTER_CF + PICKUP),
                           start=False, **kw)
    bindir = install_commands(inst)
    inst.main_cf["command_directory"] = bindir
    inst.write_config()
    if start:
        inst.start()
        wait_for(lambda: os.path.exists(os.path.join(inst.queue, "public", "showq")),
                 what="qmgr to start")
    return inst


def run_as(user):
    """subprocess keyword arguments that run a command as the Unix user (root only)."""
    if user is None:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [],
            "cwd": pw.pw_dir if os.path.isdir(pw.pw_dir) else "/"}


def cmd(inst, name, *args, input=None, user=None, env=None, config="-c", text=True):
    """Run a command from <root>/bin against the instance; CompletedProcess."""
    argv = [os.path.join(inst.bindir, name)]
    if config:
        argv += [config, inst.etc]
    argv += list(args)
    e = {"PATH": "/usr/bin:/bin"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            e[k] = os.environ[k]
    e.update(env or {})
    return subprocess.run(argv, input=input, capture_output=True, text=text, env=e, timeout=60,
                          **run_as(user))


def sendmail(inst, *args, input="", user=None, env=None, name="sendmail"):
    """sendmail -C <etc> args... with the message on standard input."""
    return cmd(inst, name, *args, input=input, user=user, env=env, config="-C")


def queued_id(result):
    """The queue ID that sendmail -v reports."""
    m = re.search(r"queued as ([0-9A-F]+)", result.stderr + result.stdout)
    assert m, "no queue ID in %r" % (result.stderr + result.stdout)
    return m.group(1)


def vbox(inst, user="demo"):
    return os.path.join(inst.vmail, "example.test", user)


def wait_mail(inst, count=1, user="demo", timeout=20):
    """Parsed messages in a virtual mailbox once there are at least count."""
    return [Q.parse(p) for p in Q.wait_maildir(vbox(inst, user), count, timeout)]


def mailbox_texts(inst, user="demo"):
    out = []
    for p in Q.maildir_files(vbox(inst, user)):
        with open(p, "rb") as f:
            out.append(f.read().decode(errors="replace"))
    return out


def maildrop_files(inst):
    return sorted(os.listdir(os.path.join(inst.queue, "maildrop")))


def corrupt_files(inst):
    return sorted(os.listdir(os.path.join(inst.queue, "corrupt")))


def queue_json(inst, user=None):
    """petrel-queue -j parsed: a list of dicts."""
    r = cmd(inst, "petrel-queue", "-j", user=user)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def queue_ids(inst, queue=None):
    """IDs of queue files by a directory walk (incoming, active, deferred, hold)."""
    dirs = [queue] if queue else ["incoming", "active", "deferred/*", "hold"]
    out = []
    for d in dirs:
        out += [os.path.basename(p) for p in glob.glob(os.path.join(inst.queue, d, "[0-9A-F]*"))]
    return sorted(out)


def wait_queue(inst, qid, queue, timeout=20):
    """Wait until message qid is in queue (a directory name; deferred is hashed)."""
    pat = os.path.join(inst.queue, "deferred/*" if queue == "deferred" else queue, qid)
    wait_for(lambda: glob.glob(pat), timeout, what="%s in %s/" % (qid, queue))
