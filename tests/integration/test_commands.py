"""End-to-end tests of the commands: petrel, petrel-conf, petrel-map, petrel-passwd."""

import os
import re
import stat
import smtplib
import subprocess

import pytest

import petrel_harness as H
from petrel_harness import LineClient, wait_for


def test_help_and_usage():
    for cmd in H.COMMANDS:
        r = subprocess.run([H.command(cmd), "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage:" in r.stdout, cmd
        r = subprocess.run([H.command(cmd), "--no-such-option"], capture_output=True, text=True)
        assert r.returncode == 2 and "usage:" in r.stderr, cmd


def test_petrel_lifecycle(instances):
    port = H.free_port()
    inst = instances(master_cf="127.0.0.1:%d inet n - n - 4 testsvc echo\n" % port, start=False)
    r = inst.run("petrel", "status")
    assert r.returncode == 1 and "not running" in r.stdout
    assert inst.run("petrel", "stop").returncode == 1
    assert inst.run("petrel", "reload").returncode == 1
    r = inst.run("petrel", "start")
    assert r.returncode == 0, r.stderr
    pid = int(re.search(r"pid (\d+)", r.stdout).group(1))
    assert pid == inst.master_pid()
    info = H.proc_info(pid)
    assert info["ppid"] != os.getpid()  # detached from the starting command
    c = LineClient(port)
    assert c.line().startswith("HELLO")
    r = inst.run("petrel", "status")
    assert r.returncode == 0
    assert "running (pid %d)" % pid in r.stdout
    line = [l for l in r.stdout.splitlines() if l.startswith("127.0.0.1:%d" % port)][0]
    assert int(line.split()[-1]) >= 1
    c.close()
    r = inst.run("petrel", "start")
    assert r.returncode == 1 and "already running" in r.stderr
    r = inst.run("petrel", "reload")
    assert r.returncode == 0
    inst.wait_log("reload -- version")
    r = inst.run("petrel", "stop")
    assert r.returncode == 0 and "stopped" in r.stdout
    assert inst.processes() == []
    assert inst.run("petrel", "status").returncode == 1


def test_petrel_flush_triggers_qmgr(instances):
    inst = instances(start=False)
    log = os.path.join(inst.shared, "qmgr-triggers")
    inst.set_master_cf("qmgr unix n - n - 1 testsvc triggers %s\n" % log)
    assert inst.run("petrel", "flush").returncode == 1  # not running
    inst.start()
    r = inst.run("petrel", "flush")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: os.path.exists(log) and "F" in open(log).read(), what="flush trigger")
    inst.set_master_cf("")
    inst.reload()
    wait_for(lambda: not inst.children("qmgr"), what="qmgr to stop")
    r = inst.run("petrel", "flush")
    assert r.returncode == 1 and "cannot reach the queue manager" in r.stderr


def test_petrel_conf(instances):
    inst = instances(main_cf={"max_use": "7", "myorigin": "$mydomain"}, start=False)
    inst.set_master_cf("smtp inet n - n - 10 testsvc -o max_idle=5s echo\n")
    main_cf = os.path.join(inst.etc, "main.cf")
    r = inst.run("petrel-conf", "-d", "max_use", "max_idle")
    assert r.stdout == "max_use = 100\nmax_idle = 100s\n"
    r = inst.run("petrel-conf", "max_use", "myorigin")
    assert r.stdout == "max_use = 7\nmyorigin = $mydomain\n"
    assert inst.run("petrel-conf", "-x", "-h", "myorigin").stdout == "petrel.test\n"
    r = inst.run("petrel-conf", "-n")
    names = [l.split(" =")[0] for l in r.stdout.splitlines()]
    assert names == sorted(inst.main_cf)
    r = inst.run("petrel-conf")
    assert len(r.stdout.splitlines()) >= 30 and "mail_owner = " in r.stdout
    r = inst.run("petrel-conf", "no_such_parameter")
    assert r.returncode == 1 and "unknown parameter" in r.stderr
    # -e edits in place: comments and unrelated lines stay
    with open(main_cf, "a") as f:
        f.write("# a comment to keep\n")
    r = inst.run("petrel-conf", "-e", "max_use=9", "relay_domains = a.example, b.example")
    assert r.returncode == 0, r.stderr
    text = open(main_cf).read()
    assert "# a comment to keep\n" in text and "max_use = 9\n" in text
    assert "relay_domains = a.example, b.example\n" in text
    assert text.count("max_use") == 1
    assert inst.run("petrel-conf", "-h", "relay_domains").stdout == "a.example, b.example\n"
    r = inst.run("petrel-conf", "-M")
    assert r.stdout.split() == ["smtp", "inet", "n", "y", "n", "-", "10", "testsvc", "-o",
                                "max_idle=5s", "echo"]


def test_parameter_docs_match_tables():
    """The manual page lists exactly the parameters petrel-conf knows."""
    names = [l.split(" =")[0] for l in
             subprocess.run([H.command("petrel-conf"), "-d"], capture_output=True,
                            text=True, env=dict(os.environ, MAIL_CONFIG="/nonexistent")
                            ).stdout.splitlines()]
    man = subprocess.run([H.command("petrel-conf"), "--man"], capture_output=True,
                         text=True).stdout
    documented = re.findall(r"^\.B (\S+) \(", man, re.M)
    assert documented == sorted(names) and len(names) >= 30
    md = subprocess.run([H.command("petrel-conf"), "--markdown"], capture_output=True,
                        text=True).stdout
    assert re.findall(r"^\| `([^`]+)` \|", md, re.M) == sorted(names)
    # the committed reference is the generated one
    with open(os.path.join(H.SRC, "doc", "parameters.md")) as f:
        assert f.read() == md, "doc/parameters.md is stale: regenerate with petrel-conf --markdown"


def test_petrel_map(instances):
    inst = instances(start=False)
    src = os.path.join(inst.root, "access")
    with open(src, "w") as f:
        f.write("# comment\nUser@Example.COM   OK\nspam.example  REJECT go away\n"
                "continued first\n   second\nuser@example.com  DUPLICATE\n")
    os.chmod(src, 0o640)
    r = inst.run("petrel-map", "hash:" + src)
    assert r.returncode == 0, r.stderr
    assert re.search(re.escape(src) + r':6: warning: duplicate entry "user@example.com"', r.stderr)
    st = os.stat(src + ".db")
    assert stat.S_IMODE(st.st_mode) == 0o640
    q = lambda key, spec="hash:" + src: inst.run("petrel-map", "-q", key, spec)
    r = q("USER@example.com")
    assert (r.returncode, r.stdout) == (0, "OK\n")
    assert q("continued").stdout == "first second\n"
    assert q("nobody@example.com").returncode == 1
    dump = inst.run("petrel-map", "-s", "hash:" + src).stdout
    assert sorted(dump.splitlines()) == sorted(["user@example.com\tOK",
                                                "spam.example\tREJECT go away",
                                                "continued\tfirst second"])
    # aliases format with -a
    al = os.path.join(inst.root, "aliases")
    with open(al, "w") as f:
        f.write("postmaster: root\nroot: a@example.com,\n  b@example.com\n")
    assert inst.run("petrel-map", "-a", "hash:" + al).returncode == 0
    assert q("root", "hash:" + al).stdout == "a@example.com, b@example.com\n"
    # other table types answer -q too
    assert q("x", "static:5000").stdout == "5000\n"
    assert q("b", "inline:{a=1, b=2}").stdout == "2\n"
    # a table that cannot be read is a temporary failure, not "not found"
    r = q("x", "hash:" + os.path.join(inst.root, "missing"))
    assert r.returncode == 2 and "temporary failure" in r.stderr
    # errors
    assert inst.run("petrel-map", "hash:" + os.path.join(inst.root, "nofile")).returncode == 1
    r = inst.run("petrel-map", "static:x")
    assert r.returncode == 1 and "only hash and btree" in r.stderr
    # $name expansion in table names, as in main.cf
    r = inst.run("petrel-map", "-q", "root", "hash:$config_directory/../aliases")
    assert r.stdout == "a@example.com, b@example.com\n"


def test_map_sources_indented_first_line(instances):
    """postmap(1): "A logical line starts with non-whitespace text." An indented line before
    the first entry is reported with its file:line and fails the build (main.cf and master.cf
    report it too); it is not taken as an entry."""
    inst = instances(start=False)
    src = os.path.join(inst.root, "access")
    with open(src, "w") as f:
        f.write("# comment\n  indented.example OK\nkept.example OK\n")
    r = inst.run("petrel-map", "hash:" + src)
    assert r.returncode == 1
    assert src + ":2: continuation line without a preceding line" in r.stderr
    q = lambda key: inst.run("petrel-map", "-q", key, "hash:" + src)
    assert q("indented.example").returncode == 1
    assert q("kept.example").stdout == "OK\n"


def test_petrel_passwd_comment_inside_entry(instances):
    """petrel-passwd removes a user's continuation lines also past a comment or blank line
    inside the entry: the table's reader joins across them (postmap(1)), so a line left
    behind would continue the entry before it."""
    inst = instances(start=False)
    src = os.path.join(inst.root, "passwd")
    with open(src, "w") as f:
        f.write("alice@virt.test $y$alice\nbob@virt.test $y$bob\n# a note\n\n  more\n"
                "carol@virt.test $y$carol\n")
    r = inst.run("petrel-passwd", "-t", "hash:" + src, "del", "bob@virt.test")
    assert r.returncode == 0, r.stderr
    with open(src) as f:
        assert f.read() == ("alice@virt.test $y$alice\n# a note\n\n"
                            "carol@virt.test $y$carol\n")
    r = inst.run("petrel-map", "-q", "alice@virt.test", "hash:" + src)
    assert r.stdout == "$y$alice\n"


# what a daemon would die on is a configuration error (issue #13) ---------------------

BAD_SETTINGS = [
    # (name, value, text of the error)
    ("alias_maps", "mysql:/etc/petrel/aliases.cf", "alias_maps: unsupported table type in "
     "'mysql:/etc/petrel/aliases.cf'"),
    ("smtpd_client_restrictions", "check_client_access cidr:/etc/petrel/clients",
     "smtpd_client_restrictions: unsupported table type in 'cidr:/etc/petrel/clients'"),
    ("smtpd_recipient_restrictions", "permit_mynetworks, reject_bogus_things, "
     "reject_unauth_destination", "smtpd_recipient_restrictions: unknown restriction "
     "'reject_bogus_things'"),
    ("smtpd_milters", "inet:127.0.0.1:8891", "smtpd_milters: not supported yet"),
    ("non_smtpd_milters", "inet:127.0.0.1:8891", "non_smtpd_milters: not supported yet"),
    ("content_filter", "smtp-amavis:[127.0.0.1]:10024", "content_filter: not supported yet"),
    ("mynetworks", "127.0.0.0/8 pgsql:/etc/petrel/nets.cf", "mynetworks: unsupported table "
     "type in 'pgsql:/etc/petrel/nets.cf'"),
]


def test_check_refuses_what_daemons_die_on(instances):
    port = H.free_port()
    inst = instances(master_cf="127.0.0.1:%d inet n - n - - smtpd\n" % port, start=False)
    main_cf = os.path.join(inst.etc, "main.cf")
    assert inst.run("petrel", "check").returncode == 0
    for name, value, error in BAD_SETTINGS:
        inst.main_cf[name] = value
        inst.write_config()
        line = list(inst.main_cf).index(name) + 2  # after the harness's comment line
        r = inst.run("petrel", "check")
        assert r.returncode == 1, (name, r.stderr)
        assert "%s:%d: %s" % (main_cf, line, error) in r.stderr, r.stderr
        del inst.main_cf[name]
    # master refuses to start with such a setting, naming file and line
    inst.main_cf["smtpd_milters"] = "inet:127.0.0.1:8891"
    inst.write_config()
    line = list(inst.main_cf).index("smtpd_milters") + 2
    p = inst.start(wait=False)
    assert p.wait(10) == 1
    assert "%s:%d: smtpd_milters: not supported yet" % (main_cf, line) in inst.stderr()
    # an empty value (Postfix's usual "-o content_filter=" in master.cf) is fine
    inst.main_cf["smtpd_milters"] = ""
    inst.set_master_cf("127.0.0.1:%d inet n - n - - smtpd -o content_filter=\n" % port)
    assert inst.run("petrel", "check").returncode == 0


def test_check_and_reload_refuse_bad_override(instances):
    port = H.free_port()
    inst = instances(master_cf="127.0.0.1:%d inet n - n - - smtpd\n" % port)
    master_cf = os.path.join(inst.etc, "master.cf")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        assert s.noop()[0] == 250
    inst.set_master_cf("# comment\n127.0.0.1:%d inet n - n - - smtpd\n"
                       "  -o smtpd_helo_restrictions=check_helo_access,mysql:/x.cf\n" % port)
    r = inst.run("petrel", "check")
    assert r.returncode == 1
    assert ("%s:2: smtpd_helo_restrictions: unsupported table type in 'mysql:/x.cf'"
            % master_cf) in r.stderr, r.stderr
    r = inst.run("petrel", "reload")
    assert r.returncode == 1 and "not reloaded" in r.stderr
    # a reload asked of master directly is refused as well, and logged with the line
    inst.reload()
    inst.wait_log(r"reload failed")
    assert ("%s:2: smtpd_helo_restrictions: unsupported table type" % master_cf) in inst.log()
    # old children are still serving, new ones start from the old configuration
    for k in inst.children():
        os.kill(k["pid"], 9)
    wait_for(lambda: smtp_noop(port), timeout=5, what="a new smtpd")
    assert "throttling" not in inst.log()
    assert "fatal" not in inst.log()


def smtp_noop(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
        return s.noop()[0] == 250


def test_relative_config_directory_refused(instances):
    inst = instances(start=False)
    parent, base = os.path.split(inst.etc)
    r = subprocess.run([H.build_path("master/master"), "-f", "-c", base], cwd=parent,
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "-c requires absolute pathname" in r.stderr
    r = subprocess.run([H.command("petrel"), "-c", base, "start"], cwd=parent,
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "-c requires absolute pathname" in r.stderr
    assert inst.processes() == []
