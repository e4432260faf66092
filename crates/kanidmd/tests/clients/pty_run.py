#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal, as a person at a terminal would: clients that read
passwords from /dev/tty (the 2022 kanidm CLI uses rpassword) or draw interactive prompts
(the kanidm CLI's credential update menu uses dialoguer) need one.

Two ways to answer the command, both from the environment:
- PTY_PASSWORD: typed every time the output shows a password prompt ("password:").
- PTY_DIALOG: a JSON list of [prompt, reply] pairs, answered in order: each reply is typed
  once its prompt has appeared after the previous prompt. A prompt that never appears ends
  the run (the command is killed) with exit status 90, so a test sees where it stalled.

The command's output goes to stdout; the exit status is the command's.
Usage: pty_run.py COMMAND [ARGS...]"""

import json
import os
import pty
import select
import signal
import sys
import time

STALLED = 90


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
                os.write(fd, reply.encode())
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
