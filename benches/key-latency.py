#!/usr/bin/env python3
"""How fast the live view answers a key while big polls run: iptop in a pseudo-terminal
(120x40) on a 50k-rule nat table; `?` is pressed at random moments and the time until
the help overlay's text comes back from the terminal is measured.

    sudo benches/key-latency.py NETNS [PRESSES]     (benches/key-latency.sh prepares NETNS)
"""
import fcntl
import os
import pty
import random
import select
import struct
import sys
import termios
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
netns = sys.argv[1]
presses = int(sys.argv[2]) if len(sys.argv) > 2 else 100
binary = os.path.join(ROOT, "target", "release", "iptop")

pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm-256color"
    os.execv(binary, [binary, "--netns", netns, "-t", "nat"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))


def read_until(needle, timeout):
    """Reads the terminal output until `needle` appears; returns the time it took."""
    start = time.monotonic()
    buf = b""
    while time.monotonic() - start < timeout:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                buf += os.read(fd, 1 << 16)
            except OSError:
                break
            if needle in buf:
                return time.monotonic() - start
            buf = buf[-len(needle):]
    return None


def drain(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                os.read(fd, 1 << 16)
            except OSError:
                return


# the first poll of 50k rules takes a while
if read_until(b"PREROUTING", 60) is None:
    sys.exit("iptop showed no table within 60 s")
drain(3)
lat = []
for _ in range(presses):
    drain(random.uniform(0.05, 0.6))
    t0 = time.monotonic()
    os.write(fd, b"?")
    t = read_until(b"any key closes", 5)
    if t is None:
        sys.exit("no help overlay within 5 s")
    lat.append(time.monotonic() - t0)
    os.write(fd, b"?")
drain(0.3)
os.write(fd, b"q")
os.waitpid(pid, 0)
lat.sort()
ms = [x * 1000 for x in lat]
print(
    f"{len(ms)} key presses while polling 50k rules: median {ms[len(ms) // 2]:.1f} ms, "
    f"p90 {ms[int(len(ms) * 0.9)]:.1f} ms, p99 {ms[min(len(ms) - 1, int(len(ms) * 0.99))]:.1f} ms, max {ms[-1]:.1f} ms"
)
