"""The sandbox against hostile programs: each is contained, reported as a failed check with
its reason, and the next check runs normally (the table in docs/sandbox.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparring.rewards.sandbox import Sandbox, SandboxError, SandboxLimits, classify

SECRET = "sparring-sandbox-secret-7d1f"
ESCAPE = Path(__file__).resolve().parents[2] / "SANDBOX_ESCAPED"  # the repository: not the sandbox's
ROOT = os.geteuid() == 0

# name -> (program defining check(x), reasons that count as contained)
HOSTILE: dict[str, tuple[str, tuple[str, ...]]] = {
    "fork bomb": ("import os\ndef check(x):\n    while True:\n        os.fork()\n",
                  ("process limit", "os.fork refused", "wall time limit")),
    "infinite loop": ("def check(x):\n    while True:\n        pass\n", ("cpu time limit", "wall time limit")),
    "sleep forever": ("import time\ndef check(x):\n    time.sleep(600)\n", ("wall time limit",)),
    "memory bomb": ("def check(x):\n    block = bytearray(4 * 1024**3)\n    return True\n", ("memory limit",)),
    "1 GB print": ("def check(x):\n    for _ in range(1_000_000):\n        print('x' * 1000)\n    return True\n",
                   ("output limit",)),
    "network call": ("import socket\ndef check(x):\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
                     "    return True\n", ("no network",)),
    "name lookup": ("import socket\ndef check(x):\n    socket.getaddrinfo('example.com', 80)\n    return True\n",
                    ("no network",)),
    "write outside its directory": (f"def check(x):\n    open({str(ESCAPE)!r}, 'w').write('x')\n    return True\n",
                                    ("permission denied",)),
    "read the parent's environment": (
        "import os\ndef check(x):\n"
        f"    seen = os.environ.get('SPARRING_SANDBOX_SECRET', '') + open(f'/proc/{{os.getppid()}}/environ').read()\n"
        f"    return {SECRET!r} in seen\n", ("permission denied",)),
    "os.kill of the parent": ("import os, signal\ndef check(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n"
                              "    return True\n", ("permission denied",)),
}
MODES = ["auto", "hook"]


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARRING_SANDBOX_SECRET", SECRET)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_is_contained_and_the_run_goes_on(name: str, mode: str) -> None:
    code, reasons = HOSTILE[name]
    sandbox = Sandbox(SandboxLimits(wall_s=4.0, cpu_s=1.0, output_bytes=100_000), mode=mode)
    verdicts, result = sandbox.check(code, "check", ["probe"])
    assert verdicts == [None] and not result.passed
    assert any(r in result.reason for r in reasons), f"{name}: {result.reason!r}"
    assert SECRET not in result.stdout + result.stderr
    assert not ESCAPE.exists()
    assert len(result.stdout.encode()) <= 100_000
    # The trainer is alive (this test runs) and the next check works.
    assert sandbox.check("def check(x):\n    return x == 'ok'\n", "check", ["ok", "no"])[0] == [True, False]
    if mode == "auto" and ROOT:
        assert result.isolation == ("netns", "mountns", "uid")
        assert _processes_of_sandbox_uids() == []


def _processes_of_sandbox_uids() -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and 610_000 <= proc.stat().st_uid < 670_000 and \
                    "State:\tZ" not in (proc / "status").read_text():
                found.append(proc.name)
        except OSError:
            continue
    return found


@pytest.mark.skipif(not ROOT, reason="the private /tmp needs root (the audit hook covers it otherwise)")
def test_a_write_to_tmp_lands_in_its_private_tmpfs() -> None:
    target = Path("/tmp") / "sparring-sandbox-escape-probe"
    verdicts, _ = Sandbox().check(f"def check(x):\n    open({str(target)!r}, 'w').write(x)\n    return True\n",
                                  "check", ["x"])
    assert verdicts == [True] and not target.exists()


def test_escaped_daemon_is_killed() -> None:
    code = ("import os, time\ndef check(x):\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(60)\n"
            "        os._exit(0)\n    return True\n")
    verdicts, result = Sandbox().check(code, "check", ["x"])
    if ROOT:
        assert verdicts == [True] and _processes_of_sandbox_uids() == []
    else:
        assert "os.fork refused" in result.reason


def test_checker_values_errors_and_load_errors() -> None:
    sandbox = Sandbox()
    code = "def check(x):\n    if x == 'boom':\n        raise ValueError('bad input')\n    return x.startswith('a')\n"
    verdicts, result = sandbox.check(code, "check", ["apple", "pear", "boom"])
    assert verdicts == [True, False, None]
    assert "1 of 3 calls raised; first: ValueError: bad input" == result.reason
    assert Sandbox().check("def check(x) return 1\n", "check", ["a"])[1].reason.startswith("SyntaxError")
    assert "defines no function 'check'" in Sandbox().check("x = 1\n", "check", ["a"])[1].reason
    run = sandbox.run("print('hello')\n")
    assert run.passed and run.stdout == "hello\n" and run.calls == []
    assert sandbox.run("def f(a, b):\n    return {'sum': a + b}\n", "f", [[1, 2]]).calls[0].value == {"sum": 3}
    assert sandbox.run("import os\ndef f():\n    return dict(os.environ)\n", "f", [[]]).calls[0].value == {
        "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def test_bad_limits_are_one_line() -> None:
    with pytest.raises(SandboxError, match="sandbox limit wall_s must be a positive number, got 0"):
        SandboxLimits(wall_s=0)
    with pytest.raises(SandboxError, match="memory_mb must be at least 64"):
        SandboxLimits(memory_mb=8)
    with pytest.raises(SandboxError, match="sandbox mode must be 'auto' or 'hook'"):
        Sandbox(mode="none")


def test_classify_names_the_limit() -> None:
    assert classify("MemoryError: ").startswith("memory limit")
    assert classify("OSError: [Errno 27] File too large").startswith("output limit")
    assert classify("ValueError: x") == "ValueError: x"
