#!/usr/bin/env bash
# The kernel counter source against the `iptables -L` child, in one run, at each size and
# back end: per read CPU of the child, the kernel source's full read, its selective read
# idle and under 200 new connections a second (benches/kube-traffic.py), and at 50k rules
# the live view's total CPU (its own and its children's) at a 1 s interval with
# `--source kernel` and `--source iptables`, and the cold path `--once --format json`.
#
#   sudo benches/kernel-read.sh [N...]        (default: 1000 10000 50000)
#   SECS=30 RATE=200 sudo benches/kernel-read.sh 50000
#
# Each ruleset (tests/fixtures/iptables/gen-scale.sh) lives in a throw-away namespace; a second one at
# the other end of a veth pair takes the packets the traffic sends to the cluster IPs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN="$ROOT/tests/fixtures/iptables/gen-scale.sh"
SECS=${SECS:-30}
RATE=${RATE:-200}
cd "$ROOT"
cargo bench --bench kernel_read --no-run --quiet 2>/dev/null
cargo build --release --quiet
BENCH=$(ls -t target/release/deps/kernel_read-* | grep -v '\.d$' | head -1)
BIN="$ROOT/target/release/iptop"
TICK=$(getconf CLK_TCK)
SOCK=iptop-kread-$$
ns= peer= tpid=
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  [ -n "$tpid" ] && kill "$tpid" 2>/dev/null || true
  [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
  [ -n "$peer" ] && ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT

traffic_on() { # namespace, backend
  ip -n "$1" link set lo up
  ip -n "$1" link add v0 type veth peer name v1 netns "$peer"
  ip -n "$1" link set v0 up
  ip -n "$peer" link set v1 up
  ip -n "$1" addr add 10.255.0.1/16 dev v0
  ip -n "$peer" addr add 10.255.0.2/16 dev v1
  ip -n "$1" route add default via 10.255.0.2
  ip netns exec "$1" python3 "$ROOT/benches/kube-traffic.py" "iptables-$2" "$RATE" &
  tpid=$!
  sleep 2
}

traffic_off() {
  kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; tpid=
  ip -n "$ns" link del v0 2>/dev/null || true
}

# total CPU (own + waited-for children) of the live view over SECS, in seconds
live_cpu() {
  tmux -L "$SOCK" -f /dev/null new-session -d -s m -x 160 -y 50 "$BIN $*"
  sleep 8
  local pid
  pid=$(pgrep -f "^$BIN $*" | head -1)
  read -r a0 b0 c0 d0 < <(awk '{print $14, $15, $16, $17}' "/proc/$pid/stat")
  sleep "$SECS"
  read -r a1 b1 c1 d1 < <(awk '{print $14, $15, $16, $17}' "/proc/$pid/stat")
  # the interval the view shows (stretched when a poll takes more than a quarter of it)
  tmux -L "$SOCK" capture-pane -p -t m | head -1 | grep -o 'every [0-9.a-z]*' >&2 || true
  tmux -L "$SOCK" kill-server
  awk -v t=$(( a1 - a0 + b1 - b0 + c1 - c0 + d1 - d0 )) -v hz="$TICK" 'BEGIN { printf "%.3f", t / hz }'
}

for n in ${@:-1000 10000 50000}; do
  for b in ${BACKENDS:-nft legacy}; do
    ns="iptop-kread-$n-$b"; peer="iptop-kread-peer-$n-$b"
    ip netns del "$ns" 2>/dev/null || true; ip netns del "$peer" 2>/dev/null || true
    ip netns add "$peer"
    bash "$GEN" "$n" "$b" "$ns" >/dev/null
    "$BENCH" --netns "$ns" --backend "$b" --table nat --reads 10 --label " (idle)"
    traffic_on "$ns" "$b"
    "$BENCH" --netns "$ns" --backend "$b" --table nat --reads 10 --every-ms 1000 --label " ($RATE new conn/s, 1 s apart)"
    traffic_off
    if [ "$n" -ge 50000 ]; then
      # one `iptables -L` of nat per second, as the iptables source does
      child=$(python3 - "$ns" "$b" <<'PY'
import os, resource, subprocess, sys, statistics
ns, b = sys.argv[1], sys.argv[2]
v = []
for _ in range(5):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["ip", "netns", "exec", ns, f"iptables-{b}", "-w", "2", "-t", "nat", "-L", "-v", "-n", "-x", "--line-numbers"], stdout=subprocess.DEVNULL, check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    v.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
print(f"{statistics.median(v):.4f}")
PY
)
      k=$(live_cpu --netns "$ns" --backend "$b" -t nat --source kernel)
      i=$(live_cpu --netns "$ns" --backend "$b" -t nat --source iptables)
      awk -v n="$n" -v b="$b" -v c="$child" -v k="$k" -v i="$i" -v s="$SECS" 'BEGIN {
        printf "%s %s live view, nat, 1 s, idle, %d s: --source kernel %.2f s CPU = %.3fx of one iptables -L a second (%.3f s each); --source iptables %.2f s CPU\n", n, b, s, k, k / (c * s), c, i }'
      traffic_on "$ns" "$b"
      k=$(live_cpu --netns "$ns" --backend "$b" -t nat --source kernel)
      traffic_off
      awk -v n="$n" -v b="$b" -v c="$child" -v k="$k" -v s="$SECS" -v r="$RATE" 'BEGIN {
        printf "%s %s live view, nat, 1 s, %d new conn/s, %d s: --source kernel %.2f s CPU = %.3fx of one iptables -L a second\n", n, b, r, s, k, k / (c * s) }'
      # the cold path: iptop's own CPU for one --once next to its child's
      python3 - "$ns" "$b" "$BIN" <<'PY'
import resource, subprocess, sys, statistics
ns, b, bin = sys.argv[1], sys.argv[2], sys.argv[3]
def run(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
for fmt in ["json", "text"]:
    tot, child = [], []
    for _ in range(5):
        child.append(run(["ip", "netns", "exec", ns, f"iptables-{b}", "-w", "2", "-t", "nat", "-L", "-v", "-n", "-x", "--line-numbers"]))
        tot.append(run([bin, "--netns", ns, "--backend", b, "-t", "nat", "--once", "--source", "iptables", "--format", fmt]))
    c, t = statistics.median(child), statistics.median(tot)
    print(f"{ns} cold --once --format {fmt}: iptables {c*1e3:.0f} ms, iptop own {(t-c)*1e3:.0f} ms = {(t-c)/c:.2f}x")
PY
    fi
    ip netns del "$ns"; ip netns del "$peer"; ns= peer=
  done
done
