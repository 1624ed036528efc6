"""Small helpers shared by the host harness: running commands, the cache folder, capability checks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class HostsError(RuntimeError):
    """A harness step failed; the message names the command and its output."""


def run(cmd: list[str], *, check: bool = True, input: str | None = None, timeout: float | None = 600,
        env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run a command, capture text output, and raise HostsError (with stderr) when it fails and check is set."""
    try:
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                              check=False)
    except FileNotFoundError as e:
        raise HostsError(f"{cmd[0]}: not installed") from e
    except subprocess.TimeoutExpired as e:
        raise HostsError(f"{' '.join(cmd)}: no answer after {timeout} s") from e
    if check and proc.returncode != 0:
        output = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise HostsError(f"{' '.join(cmd)}: exit {proc.returncode}: {output}")
    return proc


def cache_dir() -> Path:
    """Where built artefacts that outlive a test run are kept ($NOOPS_HOSTS_CACHE, else ~/.cache/noops-hosts)."""
    base = os.environ.get("NOOPS_HOSTS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "noops-hosts")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_root() -> bool:
    return os.geteuid() == 0


def missing_programs(*names: str) -> list[str]:
    """The names among `names` that are not on PATH (sbin folders included: sshd and ip live there)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [n for n in names if shutil.which(n, path=path) is None]


def program(name: str) -> str:
    """Absolute path of a program, looking in sbin folders too; HostsError when absent."""
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise HostsError(f"{name}: not installed")
    return found
