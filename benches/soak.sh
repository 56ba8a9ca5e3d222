#!/usr/bin/env bash
# Soak: the live view polls the swarm lab every 200 ms for a long time while traffic
# flows (requests to the published port, blocked cross-bridge connects). Every minute it
# logs iptop's RSS and whether the screen shows an error; at the end it checks that no
# iptables child was left unreaped and that `q` exits with status 0.
#
#   sudo benches/soak.sh [MINUTES]          (default 30)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIN=${1:-30}
cd "$ROOT"
cargo build --release --quiet
BIN="$ROOT/target/release/iptop"
SOCK=iptop-soak-$$
export LAB_PREFIX=iptopsoak-
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  [ "${traffic:-0}" -gt 0 ] && kill "$traffic" 2>/dev/null || true
  tests/lab/lab.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT
tests/lab/lab.sh up >/dev/null
( while true; do tests/lab/lab.sh curl 3; tests/lab/lab.sh cross 1; sleep 0.5; done ) >/dev/null 2>&1 &
traffic=$!
tmux -L "$SOCK" -f /dev/null new-session -d -s m -x 120 -y 40 "$BIN --netns ${LAB_PREFIX}host -i 200ms; echo EXIT=\$?; sleep 600"
sleep 3
pid=$(pgrep -f "^$BIN --netns ${LAB_PREFIX}host" | head -1)
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
start_rss=$(rss); max_rss=$start_rss; errors=0
echo "minute 0: RSS $((start_rss / 1024)).$(( (start_rss % 1024) * 10 / 1024 )) MB"
for m in $(seq "$MIN"); do
  for _ in $(seq 12); do
    sleep 5
    if tmux -L "$SOCK" capture-pane -p -t m | grep -q -e STALE -e '⚠'; then errors=$((errors + 1)); fi
  done
  r=$(rss); [ "$r" -gt "$max_rss" ] && max_rss=$r
  echo "minute $m: RSS $((r / 1024)).$(( (r % 1024) * 10 / 1024 )) MB, screens with an error so far: $errors"
done
zombies=$(ps --ppid "$pid" -o stat= | grep -c Z || true)
tmux -L "$SOCK" send-keys -t m q
sleep 1
exit_line=$(tmux -L "$SOCK" capture-pane -p -t m | grep -o 'EXIT=[0-9]*' || echo "EXIT=?")
end_rss=$r
echo "soak ${MIN} min at 200 ms: RSS start $((start_rss / 1024)) MB, end $((end_rss / 1024)) MB, max $((max_rss / 1024)) MB (kB: $start_rss -> $end_rss, max $max_rss); screens with an error: $errors; zombie children: $zombies; $exit_line"
