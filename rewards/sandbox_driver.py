"""The child side of the sandbox: run as a script (``python -I sandbox_driver.py``), never imported.

It reads one job (JSON on stdin), closes the doors, then runs the untrusted code in this
child process and writes one JSON line per call to the results file descriptor the parent
passed. Order matters: what needs privilege (namespaces, mounts) happens first, the
standard-library modules a checker may use are imported while they are still readable
(a dropped uid may not read a Python installed under ``/root``), the limits are set, and
the uid is dropped last. See ``rewards/sandbox.py`` for the parent side and the rationale.

Stdlib only: the package itself is never imported here.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 16384, 1 << 18
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")  # a dropped uid could still write these
PRELOAD = ("re", "json", "math", "string", "collections", "itertools", "functools", "statistics", "unicodedata",
           "random", "datetime", "fractions", "decimal", "textwrap", "heapq", "bisect", "operator", "typing",
           "dataclasses", "socket", "time", "signal", "copy", "enum", "array", "hashlib", "base64", "encodings.idna")  # idna: socket name lookups


def _namespaces(files_mb: int) -> list[str]:
    """As root: a private network (loopback only, down) and private tmpfs over world-writable dirs."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        return []
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:  # no mount leaks to the host
        return ["netns"]
    for path in WORLD_WRITABLE:
        if os.path.isdir(path):
            opts = f"size={files_mb}m,mode=1777".encode()
            libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts)
    return ["netns", "mountns"]


def _limits(job: dict) -> None:
    cpu = int(job["cpu_s"]) + 1 if job["cpu_s"] % 1 else int(job["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at soft, SIGKILL at hard
    memory = job["memory_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (job["output_bytes"], job["output_bytes"]))  # SIGXFSZ past it
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_NPROC, (job["nproc"], job["nproc"]))


def _guard_hook(work: str) -> None:
    """Fallback without root: an audit hook refusing network, signals out of the group,
    writes outside the work dir and native code. Not a security boundary (documented)."""
    group = os.getpgid(0)

    def hook(event: str, args: tuple) -> None:
        if event in ("socket.__new__", "socket.connect", "socket.getaddrinfo", "socket.bind"):
            raise PermissionError("network refused in the sandbox")
        if event in ("os.kill", "os.killpg") and args and args[0] not in (0, group, -group, os.getpid()):
            raise PermissionError(f"signal to pid {args[0]} refused in the sandbox")
        if event == "open" and isinstance(args[0], str):
            _check_open(os.path.abspath(args[0]), args[1], args[2], work)
        if event in ("ctypes.dlopen", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.fork"):
            raise PermissionError(f"{event} refused in the sandbox")

    sys.addaudithook(hook)


def _check_open(path: str, mode: object, flags: object, work: str) -> None:
    """The audit hook's rule for ``open``: writes only inside ``work``; no other process's /proc."""
    writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
    if writes and not path.startswith(work + os.sep):
        raise PermissionError(f"write to {path} refused in the sandbox")
    if path.startswith("/proc/") and not path.startswith(("/proc/self/", f"/proc/{os.getpid()}/")):
        raise PermissionError(f"reading {path} refused in the sandbox")


def _value(value: object) -> object:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def main() -> None:
    """Read the job, close the doors, run the code and its calls."""
    job = json.loads(sys.stdin.read())
    out = os.fdopen(job["results_fd"], "w", buffering=1)
    root = os.geteuid() == 0 and job["mode"] == "auto"
    isolation = _namespaces(job["files_mb"]) if root else []
    for name in PRELOAD:
        __import__(name)
    work = "/tmp/sandbox-work" if "mountns" in isolation else job["work"]
    os.makedirs(work, exist_ok=True)
    if root:
        os.chown(work, job["uid"], job["uid"])
    os.chmod(work, 0o700)
    os.chdir(work)
    _limits(job)
    if root:
        os.setgroups([])
        os.setgid(job["uid"])
        os.setuid(job["uid"])  # last: no way back to root; other uids' processes and files are out of reach
        isolation.append("uid")
    else:
        _guard_hook(work)
        isolation.append("hook")
    out.write(json.dumps({"isolation": isolation}) + "\n")
    me = os.getpid()
    namespace: dict = {"__name__": "__main__" if job["function"] is None else "__sandbox__"}
    try:
        exec(compile(job["code"], "<sandboxed>", "exec"), namespace)
        fn = namespace.get(job["function"]) if job["function"] else None
        if job["function"] and not callable(fn):
            raise NameError(f"the code defines no function {job['function']!r}")
    except BaseException as error:  # noqa: B902 - the untrusted code may raise anything, SystemExit included
        if os.getpid() != me:
            os._exit(1)  # a forked child of the code never reports
        out.write(json.dumps({"load_error": f"{type(error).__name__}: {error}"[:500]}) + "\n")
        return
    for i, args in enumerate(job["calls"]):
        try:
            line = {"i": i, "ok": True, "value": _value(fn(*args))}  # type: ignore[misc]
        except BaseException as error:  # noqa: B902
            line = {"i": i, "ok": False, "error": f"{type(error).__name__}: {error}"[:500]}
        if os.getpid() != me:
            os._exit(1)
        out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
