#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal, as a person at a terminal would: clients that read
passwords from /dev/tty (the 2022 kanidm CLI uses rpassword) or draw interactive prompts
(the kanidm CLI's credential update menu uses dialoguer) need one.

Two ways to answer the command, both from the environment:
- PTY_PASSWORD: typed every time the output shows a password prompt ("password:").
- PTY_DIALOG: a JSON list of [prompt, reply] pairs, answered in order: each reply is typed
  once its prompt has appeared after the previous prompt. A prompt that never appears ends
  the run (the command is killed) with exit status 90, so a test sees where it stalled.
  A reply "@totp" types the current TOTP code (computed with pyotp, an implementation
  independent of the server's) for the last "Secret: BASE32" the command printed;
  "@totp:BASE32" for that secret; "@totp-next..." the code of the next 30 s step.

The command's output goes to stdout; the exit status is the command's.
Usage: pty_run.py COMMAND [ARGS...]"""

import json
import os
import re
import pty
import select
import signal
import sys
import time

STALLED = 90


def keys_for(reply: str, seen: bytes) -> bytes:
    """What to type for a dialog reply."""
    if not reply.startswith("@totp"):
        return reply.encode()
    import pyotp  # only dialogs that need codes need it installed

    spec = reply[len("@totp"):]
    ahead = spec.startswith("-next")
    spec = spec[len("-next"):] if ahead else spec
    if spec.startswith(":"):
        secret = spec[1:]
    else:
        found = re.findall(rb"Secret: ([A-Z2-7]+)", seen)
        if not found:
            raise SystemExit("pty_run: no 'Secret:' printed before a @totp reply")
        secret = found[-1].decode()
    at = time.time() + (30 if ahead else 0)
    return pyotp.TOTP(secret).at(int(at)).encode() + b"\r"


def main() -> int:
    password = os.environ.get("PTY_PASSWORD", "")
    dialog = json.loads(os.environ.get("PTY_DIALOG", "null"))
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[1], sys.argv[1:])
    seen = b""
    typed = 0
    answered = 0  # dialog steps done
    searched_from = 0  # where in `seen` the next dialog prompt must appear
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if dialog is not None:
            while answered < len(dialog):
                prompt, reply = dialog[answered]
                at = seen.find(prompt.encode(), searched_from)
                if at < 0:
                    break
                # Let the prompt finish drawing (raw-mode readers switch modes first).
                time.sleep(0.2)
                os.write(fd, keys_for(reply, seen))
                searched_from = at + len(prompt)
                answered += 1
        # One password per prompt shown so far.
        elif seen.lower().count(b"password:") > typed:
            typed += 1
            os.write(fd, password.encode() + b"\n")
    if dialog is not None and answered < len(dialog):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.stdout.write(seen.decode(errors="replace"))
        sys.stdout.write(f"\n[pty_run: stalled waiting for {dialog[answered][0]!r}]\n")
        return STALLED
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode(errors="replace"))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
