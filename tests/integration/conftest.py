"""pytest fixtures for Petrel's end-to-end tests (see petrel_harness.py)."""

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import petrel_harness as H  # noqa: E402


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _sanitizer_files():
    d = os.environ.get("PETREL_SANITIZER_DIR")
    if not d or not os.path.isdir(d):
        return set()
    return {os.path.join(d, f) for f in os.listdir(d)}


# LeakSanitizer checks for leaks as a process exits, from a tracer thread
# that stops the process; when the process is SIGKILLed meanwhile (tests
# kill children on purpose, some of which are just exiting after max_use)
# the tracer writes only this line and dies with it.  It carries no finding.
_LSAN_KILLED = re.compile(r"==\d+==Unable to get registers from thread \d+\.")


def _is_finding(path):
    with open(path, errors="replace") as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    return not lines or not all(_LSAN_KILLED.fullmatch(ln) for ln in lines)


@pytest.fixture(autouse=True)
def sanitizer_check():
    """Fail the test when any Petrel process wrote a sanitizer report during it."""
    before = _sanitizer_files()
    yield
    new = sorted(f for f in _sanitizer_files() - before if _is_finding(f))
    if new:
        text = ""
        for f in new[:5]:
            with open(f, errors="replace") as fh:
                text += "==== %s ====\n%s\n" % (f, fh.read()[-6000:])
        pytest.fail("sanitizer reports:\n" + text)


@pytest.fixture
def instances(request):
    """Factory of Instances; all are stopped and checked at teardown.

    Teardown asserts that no process of an instance is left and that no
    sanitizer or panic report appeared in its logs; when the test failed,
    the logs are printed to help the reader.
    """
    made = []

    def make(main_cf=None, master_cf="", start=True):
        inst = H.Instance(main_cf=main_cf, master_cf=master_cf)
        made.append(inst)
        if start:
            inst.start()
        return inst

    yield make
    problems = []
    for inst in made:
        try:
            inst.stop()
        except AssertionError as e:
            problems.append(str(e))
        left = inst.processes()
        if left:
            problems.append("processes left behind: %s" %
                            [(p["pid"], " ".join(p["cmdline"])) for p in left])
            inst.kill_all()
        reports = inst.sanitizer_reports()
        if reports and not getattr(request.node, "allow_panic", False):
            problems.append("sanitizer/panic reports:\n" + "\n".join(reports[:20]))
        failed = getattr(request.node, "rep_call", None)
        if (failed is not None and failed.failed) or problems:
            sys.stderr.write("\n==== maillog of %s ====\n%s\n==== master stderr ====\n%s\n" %
                             (inst.root, inst.log()[-20000:], inst.stderr()[-5000:]))
        if not problems:
            inst.cleanup()
    assert not problems, "\n".join(problems)
