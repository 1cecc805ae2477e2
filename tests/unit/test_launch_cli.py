"""``rayobs launch`` around small Python programs: status, signals, output, memory, bad input."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rayobs.profiling import CpuProfile, MemoryProfile, load
from tests import requires

LAUNCH = [sys.executable, "-m", "rayobs", "launch"]


def launch(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*LAUNCH, *args], capture_output=True, text=True, timeout=60, **kw
    )


def profiles(directory: Path) -> tuple[MemoryProfile | None, CpuProfile | None]:
    memory = cpu = None
    for path in directory.iterdir():
        loaded = load(path)
        if isinstance(loaded, MemoryProfile):
            memory = loaded
        else:
            cpu = loaded
    return memory, cpu


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_default_is_memory_plus_cpu_when_the_program_is_python(tmp_path: Path) -> None:
    assert launch("-o", str(tmp_path / "sh"), "--", "true").returncode == 0
    assert profiles(tmp_path / "sh")[1] is None  # not Python: memory only, no error
    assert launch("-o", str(tmp_path / "py"), "--", *py("pass")).returncode == 0
    assert None not in profiles(tmp_path / "py")


@pytest.mark.parametrize("status", [0, 3])
@pytest.mark.parametrize("flags", [["--memory"], ["--cpu"], []], ids=["memory", "cpu", "both"])
def test_exit_status_and_output_pass_through(tmp_path: Path, status: int, flags: list[str]) -> None:
    code = f"""
        import sys
        line = sys.stdin.readline()
        print("out:" + line.strip())
        print("err", file=sys.stderr)
        sys.exit({status})
    """
    result = launch(
        *flags, "--interval", "0.05", "-o", str(tmp_path), "--", *py(code), input="hi\n"
    )
    assert result.returncode == status
    assert result.stdout == "out:hi\n"  # the program's stdout, untouched
    others = [line for line in result.stderr.splitlines() if not line.startswith("rayobs launch:")]
    assert others == ["err"]
    memory, cpu = profiles(tmp_path)
    assert (memory is not None) == ("--cpu" not in flags)
    assert (cpu is not None) == ("--memory" not in flags)
    if cpu is not None:
        assert cpu.top(5, match="<string>")  # the program's own code is in the profile


def test_memory_of_children_and_grandchildren(tmp_path: Path) -> None:
    code = """
        import subprocess, sys
        grandchild = "b = bytearray(60 * 1024 * 1024); import time; time.sleep(1.0)"
        subprocess.run([sys.executable, "-c", grandchild], check=True)
    """
    result = launch("--memory", "--interval", "0.05", "-o", str(tmp_path), "--", *py(code))
    assert result.returncode == 0, result.stderr
    memory, _ = profiles(tmp_path)
    assert memory is not None and memory.samples >= 10
    [child] = memory.children
    assert child.peak_mib >= 55  # the grandchild's 60 MiB were seen, on its own line
    assert child.name.startswith("python") and "bytearray" in child.name
    assert memory.total.peak_mib >= child.peak_mib + memory.main.mib[0]
    assert memory.main.name == "python-c"


def test_sigterm_is_passed_on_and_profiles_are_flushed(tmp_path: Path) -> None:
    code = """
        import time
        def warm_up():
            return sum(range(1000))
        warm_up()
        print("ready", flush=True)
        time.sleep(60)
    """
    proc = subprocess.Popen(
        [*LAUNCH, "--interval", "0.05", "-o", str(tmp_path), "--", *py(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    # Documented: rayobs dies of the signal that killed the program (-15 here, 143 in a shell).
    assert proc.wait(timeout=30) == -signal.SIGTERM
    memory, cpu = profiles(tmp_path)
    assert memory is not None and memory.samples > 0
    assert cpu is not None and cpu.top(1, match="warm_up")
    assert proc.stderr is not None and "killed by SIGTERM" in proc.stderr.read()


# Reports who sent each SIGINT it gets: "kernel" (a terminal's Ctrl-C) or "pid<N>" (kill).
WHO_SENT_SIGINT = """
    import os, signal, sys, time
    if "own-group" in sys.argv:
        os.setpgrp()  # what `ray start` does: a terminal's Ctrl-C no longer reaches it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    print("ready", flush=True)
    senders = []
    deadline = time.monotonic() + 1.5
    while (left := deadline - time.monotonic()) > 0:
        info = signal.sigtimedwait({signal.SIGINT}, left)
        if info is not None:
            senders.append("kernel" if info.si_code == 0x80 else f"pid{info.si_pid}")
    print("senders=" + ",".join(senders), flush=True)
"""


@pytest.mark.parametrize("group", ["same-group", "own-group"])
def test_sigint_from_kill_is_forwarded_once(tmp_path: Path, group: str) -> None:
    proc = subprocess.Popen(
        [*LAUNCH, "--cpu", "-o", str(tmp_path), "--", *py(WHO_SENT_SIGINT), group],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.read() == f"senders=pid{proc.pid}\n"
    assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("group", ["same-group", "own-group"])
def test_ctrl_c_on_a_terminal_reaches_the_program_once(tmp_path: Path, group: str) -> None:
    """The kernel sends ^C to the terminal's foreground group: rayobs adds a copy only if
    the program left that group."""
    argv = [*LAUNCH, "--memory", "-o", str(tmp_path), "--", *py(WHO_SENT_SIGINT), group]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a new session whose controlling terminal is the pty
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    output = _read_until(fd, b"ready", timeout=30)
    os.write(fd, b"\x03")  # Ctrl-C
    output += _read_until(fd, b"senders=", timeout=30)
    output += _read_until(fd, None, timeout=30)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    expected = "kernel" if group == "same-group" else f"pid{pid}"
    assert f"senders={expected}\r\n" in output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0


def _read_until(fd: int, marker: bytes | None, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            return data
        if not chunk:
            return data
        data += chunk
        if marker is not None and marker in data:
            return data
    raise AssertionError(f"timed out waiting for {marker!r}; got {data!r}")


# ---- bad input: one line on stderr, exit 2, and the program never starts ----


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus", "--", "true"], "No such option '--bogus'"),
        ([], "Missing argument 'COMMAND...'"),
        (["--"], "Missing argument 'COMMAND...'"),
        (["--interval", "0", "--", "true"], "--interval"),
        (["--", "no-such-program-rayobs"], "command not found on PATH: no-such-program-rayobs"),
        (["--cpu", "--", "sleep", "0"], "--cpu needs a Python program"),
    ],
)
def test_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = launch(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("rayobs: error: ") and message in line
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_cannot_be_executed(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("echo hi\n")  # not executable
    out = tmp_path / "out"
    result = launch("--memory", "-o", str(out), "--", str(script))
    assert result.returncode == 2
    assert result.stderr == f"rayobs: error: cannot run {script}: Permission denied\n"
    assert list(out.iterdir()) == []


def test_unwritable_output_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    marker = tmp_path / "ran"
    result = launch("--memory", "-o", str(blocker / "sub"), "--", "touch", str(marker))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"rayobs: error: cannot write profiles to {blocker / 'sub'}")
    assert not marker.exists()


def test_as_pid_1_a_killed_program_gives_128_plus_the_signal(tmp_path: Path) -> None:
    """A container's PID 1 cannot die of its own signal: rayobs exits 143 for SIGTERM instead."""
    unshare = requires.program("unshare", "apt-get install util-linux")
    if subprocess.run([unshare, "--pid", "--fork", "true"]).returncode != 0:
        pytest.skip("needs permission to create a PID namespace (root, or user namespaces)")
    code = (
        "import os, signal; print(os.getppid(), flush=True); os.kill(os.getpid(), signal.SIGTERM)"
    )
    result = subprocess.run(
        [unshare, "--pid", "--fork", *LAUNCH, "--memory", "-o", str(tmp_path), "--", *py(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == "1\n"  # rayobs was PID 1 in the namespace
    assert result.returncode == 128 + signal.SIGTERM


# Prints which of HUP and INT it ignores, then finishes on its own.
REPORTS_IGNORED = """
    import signal, time
    mask = next(l for l in open("/proc/self/status") if l.startswith("SigIgn:")).split()[1]
    ignored = [s.name for s in (signal.SIGHUP, signal.SIGINT) if int(mask, 16) >> (s - 1) & 1]
    print("ignored=" + ",".join(ignored), flush=True)
    time.sleep(1.5)
    print("done", flush=True)
"""


def test_signals_the_caller_ignores_stay_ignored_as_under_nohup(tmp_path: Path) -> None:
    """`nohup rayobs launch ... &` from a script: the terminal's hangup and Ctrl-C end neither
    rayobs nor the command, which inherits the ignores as it would without rayobs."""
    proc = subprocess.Popen(
        ["bash", "-c", 'trap "" HUP INT; exec "$@"', "bash",
         *LAUNCH, "-o", str(tmp_path), "--", *py(REPORTS_IGNORED)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ignored=SIGHUP,SIGINT\n"
    proc.send_signal(signal.SIGHUP)
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.read() == "done\n"
    assert proc.wait(timeout=30) == 0
    assert proc.stderr is not None and "killed by" not in proc.stderr.read()
    memory, cpu = profiles(tmp_path)
    assert memory is not None and cpu is not None  # both profilers ran to the end
