"""Child processes the benchmark starts, so that every one is stopped on the
way out (normal end, error or Ctrl-C), by its own pid and nothing else."""

import os
import signal
import subprocess
import time

_children = []


def start(command, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
          cwd=None):
    """Starts `command` in the background and remembers it for stop_all()."""
    p = subprocess.Popen(command, env=_env(env), stdin=stdin, stdout=stdout, stderr=stderr, text=text, cwd=cwd)
    _children.append(p)
    return p


def run(command, env=None, timeout=None, check=True, what=None, stdin_text=None, cwd=None):
    """Runs `command` to the end, feeding it `stdin_text`; returns (seconds, CompletedProcess).
    Raises on failure if `check`."""
    t0 = time.monotonic()
    p = start(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL, cwd=cwd)
    try:
        out, err = p.communicate(input=stdin_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p)
        raise RuntimeError(f"{what or command[0]} did not finish within {timeout:.0f} s") from None
    finally:
        if p in _children and p.poll() is not None:
            _children.remove(p)
    seconds = time.monotonic() - t0
    result = subprocess.CompletedProcess(command, p.returncode, out, err)
    if check and p.returncode != 0:
        raise RuntimeError(f"{what or ' '.join(command)} failed with exit code {p.returncode}:\n{_tail(err or out)}")
    return seconds, result


def stop(p, grace=10):
    """Stops one child: SIGTERM, then SIGKILL after `grace` seconds."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        except ProcessLookupError:
            pass
    if p in _children:
        _children.remove(p)


def stop_all():
    for p in list(_children):
        stop(p, grace=5)


def _env(extra):
    if not extra:
        return None
    env = dict(os.environ)
    env.update(extra)
    return env


def _tail(text, lines=15):
    return "\n".join((text or "").strip().splitlines()[-lines:])
