#!/usr/bin/env bash
# iptop's own CPU and peak memory while the live view runs untouched for 60 s at a 1 s
# interval: on the swarm lab (with a request a second flowing) and on a 50k-rule
# kube-proxy nat table. CPU is utime+stime of the iptop process from /proc (its
# iptables children are not included), memory is VmHWM.
#
#   sudo benches/idle-cost.sh [SECONDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:-60}
cd "$ROOT"
cargo build --release --quiet
BIN="$ROOT/target/release/iptop"
TICK=$(getconf CLK_TCK)
SOCK=iptop-idle-$$
export LAB_PREFIX=iptopidle-
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  [ "${traffic:-0}" -gt 0 ] && kill "$traffic" 2>/dev/null || true
  tests/lab/lab.sh down >/dev/null 2>&1 || true
  ip netns del iptop-idle-50k 2>/dev/null || true
}
trap cleanup EXIT

measure() { # label, iptop arguments...
  local label=$1; shift
  tmux -L "$SOCK" -f /dev/null new-session -d -s m -x 120 -y 40 "$BIN $*"
  sleep 5
  local pid
  pid=$(pgrep -f "^$BIN $*" | head -1)
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  sleep "$SECS"
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  awk -v l="$label" -v t=$(( (u1 - u0) + (s1 - s0) )) -v hz="$TICK" -v s="$SECS" -v m="$hwm" \
    'BEGIN { printf "%s: %.2f s CPU in %d s = %.2f %% of a core; peak RSS %.1f MB\n", l, t / hz, s, 100 * t / hz / s, m / 1024 }'
  tmux -L "$SOCK" kill-server
}

tests/lab/lab.sh up >/dev/null
( while true; do tests/lab/lab.sh curl 1; sleep 1; done ) >/dev/null 2>&1 &
traffic=$!
measure "swarm lab, filter, 1 s" --netns iptopidle-host
kill "$traffic"; traffic=0

ip netns add iptop-idle-50k
bash tests/fixtures/iptables/gen-scale.sh 50000 nft iptop-idle-50k >/dev/null
measure "50k rules, nat (nft), 1 s" --netns iptop-idle-50k -t nat
