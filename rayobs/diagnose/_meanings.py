"""What exit statuses and signals mean to a person: the reference text verdicts are made of.

A ``Meaning`` per category (and for the few codes with a meaning of their own),
with its likely causes and the next steps that tell them apart; ``_exitcodes``
decodes the status, the classifier picks the meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from rayobs.diagnose._verdict import Category


@dataclass(frozen=True)
class Meaning:
    """What a category (or one specific code) means, before looking at evidence."""

    summary: str
    causes: tuple[str, ...]
    steps: tuple[str, ...]


_FAULTHANDLER = (
    "get the Python stack of the crash: run with PYTHONFAULTHANDLER=1 (for Ray workers, "
    "enable faulthandler in a worker_process_setup_hook) and read the worker's stderr"
)
_CORE = "allow a core dump (ulimit -c unlimited) and open it with gdb to see the native frame"

SIGKILL_CAUSES = (
    "the kernel OOM killer (memory above the container's cgroup limit or the node out of memory)",
    "someone or something sent kill -9 (an operator, a supervisor, `ray stop --force`)",
    "a grace-period timeout: SIGTERM was ignored and SIGKILL followed (Kubernetes sends it "
    "terminationGracePeriodSeconds after SIGTERM: pod deletion, rollout, failed liveness probe)",
)

SIGKILL_STEPS = (
    "Kubernetes: `kubectl get pod POD -o json` -> lastState.terminated.reason is OOMKilled for "
    "an OOM kill; `kubectl get events` shows Killing/Unhealthy for probe and grace-period kills",
    "kernel log: `dmesg -T | grep -E 'oom-kill|Killed process'` (or `journalctl -k`) naming "
    "the pid",
    "cgroup: `oom_kill` in memory.events (cgroup v2) or memory.oom_control (v1) above 0",
    "Ray: raylet.out saying workers 'were killed due to the node running low on memory'",
    "rerun this with --pod, --kernel-log, --cgroup or --ray-logs so the evidence decides",
)

CATEGORY_MEANINGS: dict[Category, Meaning] = {
    Category.SUCCESS: Meaning(
        "the process reported success",
        (
            "the program finished normally",
            "a wrapper swallowed a failure (a pipeline without `set -o pipefail`, `cmd || true`)",
        ),
        ("if work is still missing, look at the logs of the child processes it started",),
    ),
    Category.ERROR: Meaning(
        "the program reported a failure with a code of its own",
        (
            "the program or a library called exit() / sys.exit() with this code",
            "a wrapper script passed on the status of a command it ran",
        ),
        (
            "search the program and its launcher for exit/sys.exit with this code",
            "read the last lines of its stderr; for a Ray worker: worker-*.err and "
            "python-core-worker-*.log in the session's logs directory",
        ),
    ),
    Category.USAGE: Meaning(
        "by convention a command-line usage error",
        (
            "wrong or missing arguments (argparse, click and shell builtins exit 2)",
            "a program that uses 2 for its own failures (grep: an error, diff: trouble)",
        ),
        ("run the command with --help and compare with the launch command's arguments",),
    ),
    Category.NOT_EXECUTABLE: Meaning(
        "the command was found but could not be executed",
        (
            "the file lacks execute permission or sits on a noexec mount",
            "it is a directory, or a binary for another CPU architecture",
            "a script whose #! interpreter cannot be run",
        ),
        ("check `ls -l`, `file` and the #! line of the command; chmod +x where it belongs",),
    ),
    Category.NOT_FOUND: Meaning(
        "command not found",
        (
            "a typo, or the binary is not on PATH in this environment or image",
            "a script's #! interpreter (or `env` target) is missing",
        ),
        (
            "run `command -v NAME` in the same environment; check PATH and the image",
            "on Kubernetes, check the container's command/args",
        ),
    ),
    Category.INTERRUPTED: Meaning(
        "interrupted by SIGINT (Ctrl-C)",
        ("Ctrl-C in the terminal that ran it", "a supervisor or script sent SIGINT"),
        ("usually deliberate: find who pressed Ctrl-C or sent SIGINT",),
    ),
    Category.TERMINATED: Meaning(
        "terminated by SIGTERM, a polite request to stop",
        (
            "Kubernetes stopping the pod: deletion, rollout, eviction, preemption, node drain",
            "`kill PID`, `ray stop`, systemd or another supervisor stopping it",
            "the raylet stopping a Ray worker (job finished, idle, memory monitor)",
        ),
        (
            "Kubernetes: `kubectl describe pod POD` and `kubectl get events` (Killing, Evicted, "
            "Preempting)",
            "Ray: raylet.out lines 'DisconnectClient: sending SIGTERM' name the worker",
        ),
    ),
    Category.KILLED: Meaning(
        "killed by SIGKILL; nothing recorded says who sent it",
        SIGKILL_CAUSES,
        SIGKILL_STEPS,
    ),
    Category.OOM_KILLED: Meaning(
        "killed for using too much memory",
        (
            "memory use above the container's limit or the node's capacity",
            "too many memory-hungry tasks running at once on one node",
            "a leak: memory that grows with every task or request",
        ),
        (
            "raise the memory limit, or run fewer tasks per node (request more CPUs or memory "
            "per task)",
            "profile memory (`rayobs memory`, memray, tracemalloc) to find what grows",
        ),
    ),
    Category.SEGFAULT: Meaning(
        "segmentation fault: native code touched memory it may not",
        (
            "a bug in a C extension or native library (often a null pointer)",
            "compiled packages built against different versions of each other (ABI mismatch)",
            "a stack overflow from very deep recursion in native code; ctypes misuse",
        ),
        (_FAULTHANDLER, _CORE, "upgrade or pin the native package the stack points to"),
    ),
    Category.ABORT: Meaning(
        "aborted: the process called abort()",
        (
            "a failed assertion or CHECK in native code (Ray's own RAY_CHECK included)",
            "the C library found heap corruption ('double free or corruption')",
            "an uncaught C++ exception (std::terminate)",
        ),
        ("the reason is usually printed just before the abort: read the end of stderr", _CORE),
    ),
    Category.BUS_ERROR: Meaning(
        "bus error: a memory access the hardware could not complete",
        (
            "a memory-mapped file was truncated or its space ran out (a full /dev/shm, which "
            "Ray's object store uses)",
            "/dev/shm too small in the container (Docker --shm-size, Kubernetes emptyDir "
            "medium: Memory)",
            "misaligned access in native code, or failing hardware",
        ),
        ("check `df -h /dev/shm` and disk space where the process maps files", _FAULTHANDLER),
    ),
    Category.FPE: Meaning(
        "arithmetic exception: a division by zero or an overflow trap",
        (
            "integer division by zero or an overflow trap in native code (Python's own / raises "
            "ZeroDivisionError instead)",
        ),
        (_FAULTHANDLER, _CORE),
    ),
    Category.ILLEGAL_INSTRUCTION: Meaning(
        "illegal instruction: the CPU cannot run this code",
        (
            "a binary built for a newer CPU (AVX, AVX2, AVX-512) on an older CPU or emulator",
            "a corrupted binary or a deliberate trap (__builtin_trap)",
        ),
        (
            "compare `grep flags /proc/cpuinfo` with what the wheel needs; use a generic build",
            _FAULTHANDLER,
        ),
    ),
    Category.BROKEN_PIPE: Meaning(
        "broken pipe: it wrote to a pipe or socket whose reader was gone",
        ("the process at the other end exited first (for example `| head`)",),
        ("look at the process that was reading its output",),
    ),
    Category.SIGNAL: Meaning(
        "killed by a signal",
        ("a signal it did not handle",),
        ("find the sender: supervisors, resource limits (ulimit), debuggers",),
    ),
}

# Notes for signals without a category of their own.
SIGNAL_NOTES: dict[int, str] = {
    1: "SIGHUP: its terminal or session closed (ssh dropped, tmux/screen gone, nohup missing)",
    3: "SIGQUIT: quit requested (Ctrl-\\); the kernel may have written a core dump",
    5: "SIGTRAP: a breakpoint or debugger trap without a debugger attached",
    10: "SIGUSR1: application-defined; nothing handled it",
    12: "SIGUSR2: application-defined; nothing handled it",
    14: "SIGALRM: an alarm()/timer fired and nothing handled it",
    24: "SIGXCPU: CPU time limit exceeded (ulimit -t, RLIMIT_CPU)",
    25: "SIGXFSZ: file size limit exceeded (ulimit -f, RLIMIT_FSIZE)",
    26: "SIGVTALRM: a virtual timer fired and nothing handled it",
    27: "SIGPROF: a profiling timer fired with no profiler handling it",
    31: "SIGSYS: a forbidden system call (a seccomp profile blocked it)",
}

# Codes with a meaning of their own beyond their category.
CODE_MEANINGS: dict[int, Meaning] = {
    1: Meaning(
        "generic failure",
        (
            "an uncaught Python exception (the interpreter exits with 1)",
            "sys.exit('message') or a program's catch-all error",
        ),
        (
            "read the traceback at the end of stderr; for a Ray worker: worker-*.err and "
            "python-core-worker-*.log in the session's logs directory",
        ),
    ),
    128: Meaning(
        "invalid argument to exit, or a program's own code (git uses 128 for fatal errors)",
        ("a script called `exit` with a value out of range or not a number", "git: fatal error"),
        ("read the end of stderr",),
    ),
    255: Meaning(
        "exit(-1) seen through the 0-255 window, or a tool's catch-all failure",
        (
            "the program called exit(-1)",
            "ssh reports 255 when the connection itself failed",
            "a status above 255 wrapped modulo 256",
        ),
        ("read the end of stderr; for ssh, run with -v",),
    ),
}
