#!/usr/bin/env python3
"""New connections to the cluster IPs of a kube-proxy-shaped ruleset, from inside its
network namespace (run it with `ip netns exec NS`), so that the nat table's counters
move as on a busy node: each new connection passes OUTPUT -> KUBE-SERVICES -> KUBE-SVC-*
-> KUBE-SEP-* once (nat sees only the first packet of a connection).

    kube-traffic.py IPTABLES RATE      (connections per second; runs until killed)

The namespace needs a route for the cluster IPs (poll-cost.sh adds a veth pair as the
default route): the packets leave through it and go nowhere.
"""
import random
import re
import socket
import subprocess
import sys
import time

binary, rate = sys.argv[1], float(sys.argv[2])
save = subprocess.run([binary + "-save", "-t", "nat"], capture_output=True, text=True,
                      check=True).stdout
pat = re.compile(r"^-A KUBE-SERVICES -d ([0-9.]+)/32 -p (tcp|udp) .*--dport (\d+) -j KUBE-SVC-")
services = [(m[1], m[2], int(m[3])) for m in map(pat.match, save.splitlines()) if m]
if not services:
    sys.exit("kube-traffic: no KUBE-SERVICES cluster IPs in the nat table")
random.seed(7)
period = 1.0 / rate
next_at = time.monotonic()
while True:
    ip, proto, port = random.choice(services)
    if proto == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"x", (ip, port))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((ip, port))
        except BlockingIOError:
            pass
        except OSError:
            pass
        s.close()
    next_at += period
    delay = next_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
