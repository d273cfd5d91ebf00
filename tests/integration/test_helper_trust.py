"""The set-gid helpers' configuration-directory check follows no symbolic link (issue #13
item 9): petrel-drop and petrel-queue, run by an ordinary user with a configuration
directory of the user's choosing, accept it only when the directory and its main.cf are
root's and not writable by others, judged on descriptors opened with O_NOFOLLOW, and
read main.cf from that very descriptor."""

import os
import pathlib
import pwd
import shutil

import pytest

import petrel_harness as H
import qmgr_util as Q
import submit_util as S

USER = "pttrust"


@pytest.fixture(scope="module")
def user():
    if not H.IS_ROOT:
        pytest.skip("needs root to create a user")
    u = Q.Users()
    u.add(USER)
    yield pwd.getpwnam(USER)
    u.cleanup()


def refused(inst, confdir):
    drop = S.cmd(inst, "petrel-drop", input="", user=USER, config=None,
                 env={"MAIL_CONFIG": confdir})
    queue = S.cmd(inst, "petrel-queue", "-c", confdir, "-p", user=USER, config=None)
    return drop, queue


def test_trusted_directory_accepted(instances, user):
    inst = S.submit_instance(instances)
    r = S.cmd(inst, "petrel-queue", "-c", inst.etc, "-p", user=USER, config=None)
    assert r.returncode == 0 and "Mail queue is empty" in r.stdout, r.stderr


def test_symlinked_config_directory_refused(instances, user):
    inst = S.submit_instance(instances)
    tmp_path = pathlib.Path(inst.root) / "users"
    tmp_path.mkdir()
    os.chown(tmp_path, user.pw_uid, user.pw_gid)
    link = tmp_path / "etc"
    os.symlink(inst.etc, link)  # the user's link to a root-owned directory
    drop, queue = refused(inst, str(link))
    assert drop.returncode == 77 and "is not trusted" in drop.stderr, drop.stderr
    assert queue.returncode == 1 and "is not trusted" in queue.stderr, queue.stderr
    assert S.maildrop_files(inst) == []


def test_symlinked_main_cf_refused(instances, user):
    inst = S.submit_instance(instances)
    tmp_path = pathlib.Path(inst.root) / "roots"
    tmp_path.mkdir()
    conf = tmp_path / "conf"  # root's directory, root's file behind the link
    conf.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(conf, 0o755)
    copy = tmp_path / "main.cf.real"
    shutil.copy(os.path.join(inst.etc, "main.cf"), copy)
    os.chmod(copy, 0o644)
    os.symlink(copy, conf / "main.cf")
    drop, queue = refused(inst, str(conf))
    assert drop.returncode == 77 and "is not trusted" in drop.stderr, drop.stderr
    assert queue.returncode == 1 and "is not trusted" in queue.stderr, queue.stderr
    # the same file in place of the link is trusted
    os.unlink(conf / "main.cf")
    shutil.copy(copy, conf / "main.cf")
    r = S.cmd(inst, "petrel-queue", "-c", str(conf), "-p", user=USER, config=None)
    assert r.returncode == 0, r.stderr
