"""Running untrusted code (checkers, solutions, tests) in a sandboxed subprocess.

Rewards that execute model-written code (AutoIF's checker functions, CodeDPO's solutions
and tests) never ``exec`` it in the trainer's process: :class:`Sandbox` starts a fresh
interpreter (``python -I``, a minimal environment: no variable of the parent's), hands it
the code and the calls as JSON, and reads back one JSON line per call. The child
(``rewards/sandbox_driver.py``) closes the doors before running anything:

- **limits** (``resource``): CPU seconds (``RLIMIT_CPU``: SIGXCPU), address space
  (``RLIMIT_AS``: MemoryError), file and output size (``RLIMIT_FSIZE``: stdout and stderr
  go to files, so a 1 GB print dies of SIGXFSZ at ``output_bytes``), open files, no core
  dumps, processes (``RLIMIT_NPROC``); wall time is the parent's ``wait`` timeout.
- **as root** (here, and in most containers): a new network namespace (only a loopback
  that is down: no network), a new mount namespace with fresh size-limited tmpfs over
  ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run/lock`` (the work directory lives there and
  vanishes with the child), then the uid is dropped to a fresh one per run. The uid drop
  is what makes ``RLIMIT_NPROC`` bite (root ignores it), what keeps the code from writing
  outside its directory (it owns nothing else), from signalling the trainer and from
  reading ``/proc/<parent>/environ``. Because the uid is used by nothing else, the
  parent kills every process of it after each run (``kill -9 -1`` as that uid), which
  also reaps processes that escaped the process group with ``setsid``.
- **without root**: no namespace and no uid drop. The child runs under the same limits
  with ``RLIMIT_NPROC`` set above the user's current process count, and an audit hook
  (``sys.addaudithook``) that refuses sockets, signals outside its process group, writes
  outside its directory, reads of other processes' ``/proc`` files, ``ctypes``, forks
  and subprocesses. That hook is **not a security
  boundary** (native code in an importable extension could bypass it): it keeps honest
  mistakes of a model's code contained, not an adversary. ``SandboxResult.isolation``
  says which mode ran.

A run that breaks a limit is data, not a crash: its result says ``passed = False`` and a
one-line ``reason`` (``cpu time limit``, ``memory limit``, ``process limit``, ``output
limit``, ``wall time limit``, ``no network``, ``permission denied``, or the exception).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DRIVER = Path(__file__).with_name("sandbox_driver.py")
UID_BASE, UID_SPAN = 610_000, 60_000  # fresh uids used by no one else (as root)
MINIMAL_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


class SandboxError(ValueError):
    """A sandbox was configured with impossible limits."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed run may use."""

    wall_s: float = 5.0
    """Wall-clock seconds before the whole run is killed (the interpreter's start included)."""
    cpu_s: float = 2.0
    """CPU seconds of each process (RLIMIT_CPU)."""
    memory_mb: int = 256
    """Address space of each process in MiB (RLIMIT_AS)."""
    processes: int = 16
    """Processes the code may have at once (RLIMIT_NPROC on its own uid)."""
    output_bytes: int = 1_000_000
    """Largest stdout, stderr or file the code may write (RLIMIT_FSIZE)."""
    files_mb: int = 16
    """Size of the private tmpfs that holds the work directory (as root)."""

    def __post_init__(self) -> None:
        for name in ("wall_s", "cpu_s", "memory_mb", "processes", "output_bytes", "files_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise SandboxError(f"sandbox limit {name} must be a positive number, got {value!r}")
        if self.memory_mb < 64:
            raise SandboxError(f"sandbox limit memory_mb must be at least 64 (the interpreter needs it), "
                               f"got {self.memory_mb}")


@dataclass(frozen=True)
class CallResult:
    """One call of the sandboxed function: its JSON value, or the error it raised."""

    ok: bool
    value: Any = None
    error: str = ""


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did.

    ``passed`` is True when the code loaded, every call returned and no limit was hit;
    ``reason`` is one line saying why not (empty when passed).
    """

    passed: bool
    reason: str
    calls: list[CallResult] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    wall_s: float = 0.0
    isolation: tuple[str, ...] = ()


_SIGNALS = {signal.SIGXCPU: "cpu time limit", signal.SIGXFSZ: "output limit", signal.SIGKILL: "killed",
            signal.SIGSEGV: "crashed (SIGSEGV)"}


def classify(error: str) -> str:
    """A limit's name for an exception line raised inside the sandbox, else the line itself."""
    if error.startswith("MemoryError"):
        return f"memory limit ({error})"
    if "File too large" in error:  # Python ignores SIGXFSZ, so a write past RLIMIT_FSIZE raises
        return f"output limit ({error})"
    if error.startswith("BlockingIOError") and "Resource temporarily unavailable" in error:
        return f"process limit ({error})"
    if "Network is unreachable" in error or "network refused" in error or "Name or service not known" in error \
            or "Temporary failure in name resolution" in error:
        return f"no network ({error})"
    if error.startswith("PermissionError") or "Permission denied" in error or "Operation not permitted" in error:
        return f"permission denied ({error})"
    return error


class Sandbox:
    """Runs code in a fresh, limited subprocess; safe to call from several threads.

    Args:
        limits: The :class:`SandboxLimits` of every run.
        mode: ``auto`` (namespaces and a fresh uid when root, else the audit hook) or
            ``hook`` (the audit hook only, also as root; weaker, for comparison and tests).
    """

    def __init__(self, limits: SandboxLimits | None = None, mode: str = "auto") -> None:
        if mode not in ("auto", "hook"):
            raise SandboxError(f"sandbox mode must be 'auto' or 'hook', got {mode!r}")
        self.limits = limits or SandboxLimits()
        self.mode = mode
        self._lock = threading.Lock()
        self._runs = 0

    def _next_uid(self) -> int:
        with self._lock:
            self._runs += 1
            return UID_BASE + (os.getpid() * 7919 + self._runs) % UID_SPAN

    def _nproc(self, root: bool) -> int:
        if root:
            return self.limits.processes  # its own fresh uid: the count starts at zero
        # Without the uid drop the limit counts every process of this user, the trainer's included.
        uid = os.getuid()
        mine = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid)
        return mine + self.limits.processes

    def run(self, code: str, function: str | None = None, calls: Sequence[Sequence[Any]] = ()) -> SandboxResult:
        """Run ``code``; then, if ``function`` is named, call it once per argument list.

        Args:
            code: Python source (untrusted).
            function: A function the code defines, called with each of ``calls``.
            calls: Argument lists (JSON values) for ``function``.

        Returns:
            The :class:`SandboxResult`; limits and errors are in it, never raised.
        """
        limits, uid = self.limits, self._next_uid()
        root = os.geteuid() == 0 and self.mode == "auto"
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="sparring-sandbox-") as tmp:
            base = Path(tmp)
            os.chmod(base, 0o700)  # the child reaches its output files only through inherited fds
            work = base / "work"
            work.mkdir()
            if root:
                os.chown(work, uid, uid)
            job = {"code": code, "function": function, "calls": [list(a) for a in calls], "uid": uid,
                   "cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb, "output_bytes": limits.output_bytes,
                   "files_mb": limits.files_mb, "nproc": self._nproc(root), "work": str(work), "mode": self.mode}
            with open(base / "stdout", "w+b") as out, open(base / "stderr", "w+b") as err, \
                    open(base / "results", "w+b") as res:
                job["results_fd"] = res.fileno()
                timed_out, returncode = self._spawn(job, out, err, res, uid if root else None)
                texts = [_read(f, limits.output_bytes) for f in (out, err, res)]
        return _result(texts, returncode, timed_out, limits, time.monotonic() - start, len(job["calls"]), function)

    def _spawn(self, job: dict, out: Any, err: Any, res: Any, uid: int | None) -> tuple[bool, int | None]:
        proc = subprocess.Popen([sys.executable, "-I", str(DRIVER)], stdin=subprocess.PIPE, stdout=out, stderr=err,
                                pass_fds=(res.fileno(),), env=dict(MINIMAL_ENV), cwd=job["work"],
                                start_new_session=True, close_fds=True)
        timed_out = False
        try:
            assert proc.stdin is not None
            try:
                proc.stdin.write(json.dumps(job).encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass  # the child died before reading its job: its exit status says why
            proc.wait(timeout=self.limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_all(proc, uid)
        return timed_out, proc.returncode

    def check(self, code: str, function: str, inputs: Sequence[Any]) -> tuple[list[bool | None], SandboxResult]:
        """Call a checker ``function(x)`` on each input: True/False per input, None where it failed.

        Args:
            code: Source defining the checker (untrusted).
            function: Its name.
            inputs: One argument per call.
        """
        result = self.run(code, function, [[x] for x in inputs])
        verdicts: list[bool | None] = [c.value if c.ok and isinstance(c.value, bool) else None for c in result.calls]
        return verdicts + [None] * (len(inputs) - len(verdicts)), result


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _kill_all(proc: subprocess.Popen, uid: int | None) -> None:
    """Kill the run's process group and, as root, every process of its uid (escaped ones too)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone, or only processes of the dropped uid are left (killed below)
    if uid is not None:
        kill = shutil.which("kill") or "/bin/kill"
        for _ in range(2):  # a second sweep for processes forked while the first one ran
            subprocess.run([kill, "-9", "-1"], user=uid, group=uid, extra_groups=[], env=dict(MINIMAL_ENV),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    proc.wait()


def _read(f: Any, limit: int) -> str:
    f.seek(0)
    return f.read(limit).decode("utf-8", "replace")


def _result(texts: list[str], returncode: int | None, timed_out: bool, limits: SandboxLimits, wall: float,
            n_calls: int, function: str | None) -> SandboxResult:
    stdout, stderr, results = texts
    calls: list[CallResult] = []
    isolation: tuple[str, ...] = ()
    load_error = ""
    for line in results.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by the output limit
        if "isolation" in row:
            isolation = tuple(row["isolation"])
        elif "load_error" in row:
            load_error = row["load_error"]
        elif len(calls) < n_calls:
            calls.append(CallResult(row["ok"], row.get("value"), row.get("error", "")))
    if timed_out:
        reason = f"wall time limit ({limits.wall_s:g} s)"
    elif returncode is not None and returncode < 0:
        name = _SIGNALS.get(signal.Signals(-returncode), f"killed by {signal.Signals(-returncode).name}")
        limit = {"cpu time limit": f" ({limits.cpu_s:g} s)", "output limit": f" ({limits.output_bytes} bytes)"}
        reason = name + limit.get(name, "")
    elif load_error:
        reason = classify(load_error)
    elif returncode:
        tail = stderr.strip().splitlines()[-1:] or [f"exit status {returncode}"]
        reason = classify(tail[0])
    elif len(calls) < n_calls:
        reason = f"{n_calls - len(calls)} of {n_calls} calls of {function!r} did not report"
    else:
        failed = [c for c in calls if not c.ok]
        reason = f"{len(failed)} of {n_calls} calls raised; first: {classify(failed[0].error)}" if failed else ""
    return SandboxResult(not reason, reason, calls, stdout, stderr, returncode, wall, isolation)
