"""End-to-end tests of local delivery: Unix users (Maildir, mbox), aliases, .forward,
commands, files, :include:, owner-, extensions, loops, limits, locks, a full disk."""

import os
import pwd
import re
import subprocess
import time

import pytest

import petrel_harness as H
from petrel_harness import wait_for
import qmgr_util as Q

pytestmark = pytest.mark.skipif(not H.IS_ROOT, reason="local delivery to Unix users needs root")

HOST = "mail.petrel.test"


@pytest.fixture(scope="module")
def users():
    u = Q.Users()
    u.add("ptalice")
    u.add("ptbob")
    yield u
    u.cleanup()


def home(name):
    return pwd.getpwnam(name).pw_dir


def ids(name):
    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def clean_home(name):
    subprocess.run(["sh", "-c", "rm -rf %s/Maildir %s/.forward*" % (home(name), home(name))])


def test_maildir_of_a_unix_user(instances, users):
    clean_home("ptalice")
    inst = Q.mail_instance(instances)
    qid = Q.submit(inst, "sender@remote.test", ["PTAlice@%s" % HOST], Q.message("to alice"))
    line = Q.wait_status(inst, qid, "ptalice@%s" % HOST, "sent")
    assert "relay=local" in line and "(delivered to maildir)" in line
    md = os.path.join(home("ptalice"), "Maildir")
    files = Q.wait_maildir(md)
    uid, gid = ids("ptalice")
    assert Q.file_owner_mode(files[0]) == (uid, gid, 0o600)
    for sub in ("", "new", "cur", "tmp"):
        assert Q.file_owner_mode(os.path.join(md, sub)) == (uid, gid, 0o700)
    assert os.listdir(os.path.join(md, "tmp")) == []
    msg = Q.parse(files[0])
    assert msg["Delivered-To"] == "ptalice@%s" % HOST
    assert msg["Return-Path"] == "<sender@remote.test>"
    Q.wait_removed(inst, qid)
    # readers' files and Maildir++ folders are left alone
    os.makedirs(os.path.join(md, ".Sent", "cur"))
    with open(os.path.join(md, "petrel-index"), "w") as f:
        f.write("index")
    os.rename(files[0], os.path.join(md, "cur", os.path.basename(files[0]) + ":2,S"))
    qid = Q.submit(inst, "sender@remote.test", ["ptalice@localhost"])
    Q.wait_removed(inst, qid)
    assert len(Q.maildir_files(md)) == 1 and len(Q.maildir_files(md, "cur")) == 1
    with open(os.path.join(md, "petrel-index")) as f:
        assert f.read() == "index"


def test_mbox_in_spool(instances, users):
    inst = Q.mail_instance(instances, main_cf={"home_mailbox": ""})
    body = "From the start\nline\n>From quoted\n"
    q1 = Q.submit(inst, "", ["ptbob@%s" % HOST], Q.message("one", body=body))
    Q.wait_removed(inst, q1)  # two messages in flight may be delivered in either order
    q2 = Q.submit(inst, "sender@remote.test", ["ptbob@%s" % HOST], Q.message("two"))
    Q.wait_removed(inst, q2)
    assert "(delivered to mailbox)" in Q.wait_status(inst, q2, "ptbob@%s" % HOST, "sent")
    mbox = os.path.join(inst.spool, "ptbob")
    uid, gid = ids("ptbob")
    assert Q.file_owner_mode(mbox) == (uid, gid, 0o600)
    with open(mbox, "rb") as f:
        data = f.read().decode()
    msgs = re.split(r"(?m)^From (?=\S+  \w{3} \w{3} )", data)
    assert msgs[0] == "" and len(msgs) == 3
    assert msgs[1].startswith("MAILER-DAEMON  ")
    assert msgs[2].startswith("sender@remote.test  ")
    assert "\n>From the start\n" in msgs[1] and "\n>From quoted\n" in msgs[1]  # mboxo
    assert "Return-Path: <>\nDelivered-To: ptbob@%s\n" % HOST in msgs[1]
    assert msgs[1].endswith("\n\n") and data.endswith("\n\n")
    assert not os.path.exists(mbox + ".lock")


def test_mbox_limit_truncates_and_bounces(instances, users):
    inst = Q.mail_instance(instances, main_cf={"home_mailbox": "", "mailbox_size_limit": "3000"})
    mbox = os.path.join(inst.spool, "ptbob")
    q1 = Q.submit(inst, "sender@remote.test", ["ptbob@%s" % HOST], Q.message("small"))
    Q.wait_removed(inst, q1)
    size = os.path.getsize(mbox)
    q2 = Q.submit(inst, "demo@example.test", ["ptbob@%s" % HOST], Q.message("big", size=4000))
    line = Q.wait_status(inst, q2, "ptbob@%s" % HOST, "bounced")
    assert "dsn=5.2.2" in line and "size limit" in line
    assert os.path.getsize(mbox) == size
    Q.wait_removed(inst, q2)


def test_lock_timeout_defers_then_delivers(instances, users):
    inst = Q.mail_instance(instances, main_cf={"home_mailbox": "", "deliver_lock_attempts": "2",
                                               "deliver_lock_delay": "1s"})
    mbox = os.path.join(inst.spool, "ptbob")
    with open(mbox + ".lock", "w"):
        pass
    qid = Q.submit(inst, "sender@remote.test", ["ptbob@%s" % HOST])
    line = Q.wait_status(inst, qid, "ptbob@%s" % HOST, "deferred")
    assert "dsn=4." in line and "lock mailbox (dotlock)" in line
    assert re.search(r"warning: %s: lock mailbox \(dotlock\)" % qid, inst.log())
    os.unlink(mbox + ".lock")
    Q.wait_status(inst, qid, "ptbob@%s" % HOST, "sent")
    Q.wait_removed(inst, qid)


def test_unknown_user_bounces(instances, users):
    inst = Q.mail_instance(instances, main_cf=Q.ACCEPT_UNLISTED)
    qid = Q.submit(inst, "demo@example.test", ["nosuchuser@%s" % HOST])
    line = Q.wait_status(inst, qid, "nosuchuser@%s" % HOST, "bounced")
    assert 'dsn=5.1.1' in line and 'unknown user: "nosuchuser"' in line
    Q.wait_removed(inst, qid)
    dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/demo"))[0]
    assert Q.report_fields(dsn)[1][0]["Status"] == "5.1.1"


def test_aliases_command_file_include_nested(instances, users):
    clean_home("ptalice")
    clean_home("ptbob")
    inst = Q.mail_instance(instances, start=False)
    out = os.path.join(inst.shared, "cmd.out")
    boxfile = os.path.join(inst.shared, "archive")
    incl = os.path.join(inst.etc, "team.include")
    with open(incl, "w") as f:
        f.write("# the team\nptalice\nptbob\n")
    Q.write_aliases(inst, {
        "pipe": '"|env > %s.env; id -u > %s.uid; cat > %s"' % (out, out, out),
        "archive": boxfile,
        "team": ":include:%s" % incl,
        "chain": "middle",
        "middle": "ptalice",
        "self": "self, ptbob",
        "mixed": "ptalice, nosuchuser",
    })
    inst.start()
    qid = Q.submit(inst, "sender@remote.test", ["pipe+ext@%s" % HOST], Q.message("piped"))
    line = Q.wait_status(inst, qid, "pipe+ext@%s" % HOST, "sent")
    assert "(delivered to command: env >" in line
    Q.wait_removed(inst, qid)
    with open(out) as f:
        piped = f.read()
    assert piped.startswith("From sender@remote.test  ")
    assert "Delivered-To: pipe+ext@%s\n" % HOST in piped and "Subject: piped" in piped
    with open(out + ".uid") as f:
        assert int(f.read()) == pwd.getpwnam("nobody").pw_uid
    with open(out + ".env") as f:
        env = dict(l.split("=", 1) for l in f.read().splitlines() if "=" in l)
    assert env["SENDER"] == "sender@remote.test"
    assert env["RECIPIENT"] == "pipe+ext@%s" % HOST
    assert env["LOCAL"] == "pipe+ext" and env["EXTENSION"] == "ext" and env["DOMAIN"] == HOST
    assert env["USER"] == "pipe" and env["LOGNAME"] == "pipe" and "HOME" in env
    assert "SHELL" in env

    qid = Q.submit(inst, "sender@remote.test", ["archive@%s" % HOST])
    assert "(delivered to file: %s)" % boxfile in Q.wait_status(inst, qid, "archive@%s" % HOST,
                                                                 "sent")
    nob = pwd.getpwnam("nobody")
    assert Q.file_owner_mode(boxfile) == (nob.pw_uid, nob.pw_gid, 0o600)

    qid = Q.submit(inst, "sender@remote.test", ["team@%s" % HOST])
    Q.wait_removed(inst, qid)
    assert len(Q.maildir_files(os.path.join(home("ptalice"), "Maildir"))) == 1
    assert len(Q.maildir_files(os.path.join(home("ptbob"), "Maildir"))) == 1

    qid = Q.submit(inst, "sender@remote.test", ["chain@%s" % HOST])
    line = Q.wait_status(inst, qid, "ptalice@%s" % HOST, "sent")
    assert "orig_to=<chain@%s>" % HOST in line
    qid = Q.submit(inst, "sender@remote.test", ["self@%s" % HOST])
    Q.wait_removed(inst, qid)
    assert "unknown user: \"self\"" in inst.log()  # self-reference: the mailbox of user "self"

    # one member fails: the others get the mail, the sender a report for that member
    qid = Q.submit(inst, "demo@example.test", ["mixed@%s" % HOST])
    Q.wait_removed(inst, qid)
    dsn = Q.dsns_for(inst, os.path.join(inst.vmail, "example.test/demo"))[-1]
    _, rcpts = Q.report_fields(dsn)
    assert [(r["Final-Recipient"], r["Action"], r["Status"]) for r in rcpts] == [
        ("rfc822; nosuchuser@%s" % HOST, "failed", "5.1.1")]


def test_owner_alias_is_the_error_address(instances, users):
    inst = Q.mail_instance(instances, aliases={
        "list": "ptalice, far@remote.example", "owner-list": "ptbob"})
    qid = Q.submit(inst, "sender@remote.test", ["list@%s" % HOST])
    line = Q.wait_status(inst, qid, "far@remote.example", "sent")
    newid = re.search(r"forwarded as ([0-9A-F]+)", line).group(1)
    inst.wait_log(r"%s: from=<owner-list@%s>" % (newid, HOST))
    fwd = Q.wait_status(inst, newid, "far@remote.example", "deferred")
    assert "orig_to=<list@%s>" % HOST in fwd


def test_forward_file(instances, users):
    clean_home("ptalice")
    clean_home("ptbob")
    fwd = os.path.join(home("ptbob"), ".forward")
    with open(fwd, "w") as f:
        f.write("ptalice, \\ptbob\n")
    os.chown(fwd, *ids("ptbob"))
    fwd_ext = os.path.join(home("ptbob"), ".forward+cmd")
    with open(fwd_ext, "w") as f:
        f.write('"|cat > /dev/null"\n')
    os.chown(fwd_ext, *ids("ptbob"))
    inst = Q.mail_instance(instances, main_cf={"allow_mail_to_commands": "alias"})
    qid = Q.submit(inst, "sender@remote.test", ["ptbob@%s" % HOST])
    Q.wait_removed(inst, qid)
    assert len(Q.maildir_files(os.path.join(home("ptalice"), "Maildir"))) == 1
    assert len(Q.maildir_files(os.path.join(home("ptbob"), "Maildir"))) == 1
    # .forward+ext with a command that .forward files may not run here
    qid = Q.submit(inst, "demo@example.test", ["ptbob+cmd@%s" % HOST])
    line = Q.wait_status(inst, qid, "ptbob+cmd@%s" % HOST, "bounced")
    assert "dsn=5.7.1" in line and "mail to command is restricted" in line
    os.unlink(fwd)
    os.unlink(fwd_ext)


def test_plus_addressing(instances, users):
    clean_home("ptalice")
    inst = Q.mail_instance(instances)
    qid = Q.submit(inst, "sender@remote.test", ["ptalice+lists@%s" % HOST, "demo+tag@example.test"])
    Q.wait_removed(inst, qid)
    msg = Q.parse(Q.maildir_files(os.path.join(home("ptalice"), "Maildir"))[0])
    assert msg["Delivered-To"] == "ptalice+lists@%s" % HOST
    msg = Q.parse(Q.maildir_files(os.path.join(inst.vmail, "example.test/demo"))[0])
    assert msg["Delivered-To"] == "demo+tag@example.test"


def test_loops_bounce(instances, users):
    inst = Q.mail_instance(instances)
    q1 = Q.submit(inst, "sender@remote.test", ["other@example.test"],
                  Q.message("looped", headers=["Delivered-To: other@example.test"]))
    line = Q.wait_status(inst, q1, "other@example.test", "bounced")
    assert "dsn=5.4.6" in line and "mail forwarding loop for other@example.test" in line
    hops = ["Received: from hop%d by relay%d; Mon, 1 Jan 2024 00:00:00 +0000" % (i, i)
            for i in range(50)]
    q2 = Q.submit(inst, "sender@remote.test", ["other@example.test"], Q.message("hops",
                                                                                 headers=hops))
    line = Q.wait_status(inst, q2, "other@example.test", "bounced")
    assert "dsn=5.4.6" in line and "too many hops" in line


def test_virtual_size_limit(instances, users):
    inst = Q.mail_instance(instances, main_cf={"virtual_mailbox_limit": "2000"})
    qid = Q.submit(inst, "sender@remote.test", ["other@example.test"], Q.message("big",
                                                                                 size=3000))
    line = Q.wait_status(inst, qid, "other@example.test", "bounced")
    assert "dsn=5.2.2" in line
    assert Q.maildir_files(os.path.join(inst.vmail, "example.test/other")) == []
    assert os.listdir(os.path.join(inst.vmail, "example.test/other/tmp")) == []


def test_agent_leaving_after_max_use_loses_no_request(instances, users):
    # a virtual agent closes its qmgr connection after max_use requests; qmgr must not
    # give it another one meanwhile (that request was deferred as "lost connection")
    master = Q.MASTER_CF.replace("local\n", "local -o max_use=2\n")
    assert master.count("max_use") == 2
    inst = Q.mail_instance(instances, main_cf={"virtual_destination_concurrency_limit": "1"},
                           master_cf=master)
    ids = Q.submit_many(inst, "sender@remote.test", ["other@example.test"], count=10)
    for qid in ids:
        Q.wait_status(inst, qid, "other@example.test", "sent")
    assert len(Q.maildir_files(os.path.join(inst.vmail, "example.test/other"))) == 10
    assert not [l for l in Q.status_lines(inst) if "status=sent" not in l]
    assert "lost connection" not in inst.log()


def test_disk_full_defers_without_loss(instances, users):
    inst = Q.mail_instance(instances, start=False)
    full = os.path.join(inst.root, "full")
    os.makedirs(full)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", full],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs: %s" % r.stderr.strip())
    try:
        vuid, vgid = H.vmail_ids()
        os.chown(full, vuid, vgid)
        os.symlink(full, os.path.join(inst.vmail, "full.test"))
        Q.write_table(inst, "vmailbox", {"demo@example.test": "example.test/demo/",
                                         "box@full.test": "full.test/box/"})
        inst.main_cf["virtual_mailbox_domains"] = "example.test, full.test"
        inst.write_config()
        inst.start()
        qid = Q.submit(inst, "demo@example.test", ["box@full.test"], Q.message("fat", size=90000))
        line = Q.wait_status(inst, qid, "box@full.test", "deferred")
        assert "dsn=4.3.1" in line and "No space left on device" in line
        assert re.search(r"warning: %s: write maildir file" % qid, inst.log())
        assert os.listdir(os.path.join(full, "box", "tmp")) == []
        wait_for(lambda: [p for p in Q.queue_files(inst, qid) if "/deferred/" in p],
                 what="the message in deferred/")
        subprocess.run(["mount", "-o", "remount,size=1m", full], check=True)
        Q.wait_status(inst, qid, "box@full.test", "sent")
        Q.wait_removed(inst, qid)
        assert len(Q.maildir_files(os.path.join(full, "box"))) == 1
        inst.stop()
    finally:
        subprocess.run(["umount", "-l", full], capture_output=True)


def test_command_time_limit_defers(instances, users):
    inst = Q.mail_instance(instances, main_cf={"command_time_limit": "1s"},
                           aliases={"slowcmd": '"|sleep 30"'})
    qid = Q.submit(inst, "sender@remote.test", ["slowcmd@%s" % HOST])
    line = Q.wait_status(inst, qid, "slowcmd@%s" % HOST, "deferred")
    assert "dsn=4.3.0" in line and "time limit exceeded" in line
    assert re.search(r"warning: %s: command sleep 30 exceeded the time limit" % qid, inst.log())


def test_unwritable_mailbox_defers(instances, users):
    clean_home("ptalice")
    md = os.path.join(home("ptalice"), "Maildir")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub))
    os.chmod(os.path.join(md, "tmp"), 0o500)
    os.chown(md, *ids("ptalice"))
    for sub in ("tmp", "new", "cur"):
        os.chown(os.path.join(md, sub), *ids("ptalice"))
    inst = Q.mail_instance(instances)
    qid = Q.submit(inst, "sender@remote.test", ["ptalice@%s" % HOST])
    line = Q.wait_status(inst, qid, "ptalice@%s" % HOST, "deferred")
    assert "dsn=4.2.0" in line and "Permission denied" in line
    assert re.search(r"warning: %s: create maildir file .*Permission denied" % qid, inst.log())
    os.chmod(os.path.join(md, "tmp"), 0o700)
    Q.wait_status(inst, qid, "ptalice@%s" % HOST, "sent")
    Q.wait_removed(inst, qid)


def test_large_message_content_is_exact(instances, users):
    inst = Q.mail_instance(instances, main_cf={"home_mailbox": ""})
    lines = []
    for i in range(3000):  # about 190 KiB: several queue-file chunks
        lines.append("From line %d at a line start" % i if i % 7 == 0 else
                     "line %d %s\r lone CR" % (i, "y" * (i % 90)))
    body = "\n".join(lines) + "\n"
    msg = Q.message("big one", body=body)
    qid = Q.submit(inst, "s@remote.test", ["demo@example.test", "ptbob@%s" % HOST], msg)
    Q.wait_removed(inst, qid, timeout=30)
    with open(Q.maildir_files(os.path.join(inst.vmail, "example.test/demo"))[0], "rb") as f:
        stored = f.read().decode()
    # Maildir: the message as sent (LF line ends), behind Return-Path and Delivered-To
    assert stored.endswith("\n\n" + body)
    with open(os.path.join(inst.spool, "ptbob"), "rb") as f:
        mbox = f.read().decode()
    quoted = "".join((">" + l if l.startswith("From ") else l) + "\n" for l in lines)
    assert mbox.endswith("\n\n" + quoted + "\n")


def test_root_is_never_a_delivery_identity(instances, users):
    inst = Q.mail_instance(instances, aliases={"postmaster": "root"})
    qid = Q.submit(inst, "sender@remote.test", ["postmaster@%s" % HOST])
    line = Q.wait_status(inst, qid, "root@%s" % HOST, "deferred")
    assert "orig_to=<postmaster@%s>" % HOST in line
    assert "deliveries as root are refused: root needs an alias" in line
    assert "make root an alias in alias_maps" in inst.log()
    assert "panic" not in inst.log()
