#!/usr/bin/env python3
"""Runs a command in a pseudo-terminal, as a person at a terminal would: clients that read
passwords from /dev/tty (the 2022 kanidm CLI uses rpassword) need one. Every time the
command's output shows a password prompt, the password from the environment variable
PTY_PASSWORD is typed. The command's output goes to stdout; the exit status is the
command's. Usage: pty_run.py COMMAND [ARGS...]"""

import os
import pty
import select
import sys
import time


def main() -> int:
    password = os.environ.get("PTY_PASSWORD", "")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[1], sys.argv[1:])
    seen = b""
    typed = 0
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
        # One password per prompt shown so far.
        if seen.lower().count(b"password:") > typed:
            typed += 1
            os.write(fd, password.encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(seen.decode(errors="replace"))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
