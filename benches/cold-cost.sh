#!/usr/bin/env bash
# The cold path and the live view at scale, side by side with the iptables child in one run:
#
#   sudo benches/cold-cost.sh [N]        (default 50000; SECS=20 RUNS=3 PORT=9899)
#   BACKENDS=legacy ...                  (one back end only)
#   BEFORE=/path/to/old/iptop sudo benches/cold-cost.sh   (the --once rows and the live
#                                          view of another build too, in the same run)
#
# Per back end (nft, legacy) it loads tests/fixtures/iptables/gen-scale.sh N into a
# throw-away namespace and measures, in total CPU (user + system of the process and of
# every child it waited for):
#   - one `iptables -t nat -L -v -n -x --line-numbers` (median of RUNS);
#   - `iptop --once -t nat` as JSON and as text, with the default `--source auto` (the
#     listing, and the kernel's rule counts and counters beside it) and with
#     `--source iptables` (the listing alone), median of RUNS, as a ratio to the child;
#   - the live view (tmux, 160x50, 1 s interval) for SECS seconds after an 8 s start: CPU
#     a second as a ratio to one iptables -L a second, and the distinct poll times its
#     header showed (read every half second);
#   - `iptop --listen` next to iptables_exporter 0.4.0 (crates.io; `EXPORTER=path` to use
#     another build), both collecting every second, every table, and scraped every second:
#     CPU a second of each (the exporter's `iptables-save -c` children included).
# Removes the namespaces (and the tmux server) on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN="$ROOT/tests/fixtures/iptables/gen-scale.sh"
N=${1:-50000}
SECS=${SECS:-20}
RUNS=${RUNS:-3}
PORT=${PORT:-9899}
cd "$ROOT"
cargo build --release --quiet
BIN="$ROOT/target/release/iptop"
BEFORE=${BEFORE:-}
# iptables_exporter (crates.io), built once into target/bench-tools; its build script asks
# git for the commit it is built from, so it is given this repository's
EXPORTER=${EXPORTER:-$ROOT/target/bench-tools/bin/iptables_exporter}
if [ ! -x "$EXPORTER" ]; then
  GIT_DIR="$ROOT/.git" cargo install --quiet --locked iptables_exporter@0.4.0 --root "$ROOT/target/bench-tools"
fi
TICK=$(getconf CLK_TCK)
SOCK=iptop-cold-$$
ns=
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT

# total CPU of one command (it and its waited-for children), median of RUNS
cpu() {
  python3 - "$RUNS" "$@" <<'PY'
import os, statistics, subprocess, sys
runs, cmd = int(sys.argv[1]), sys.argv[2:]
v = []
for _ in range(runs):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, ru = os.wait4(p.pid, 0)
    v.append(ru.ru_utime + ru.ru_stime)
print(f"{statistics.median(v):.4f}")
PY
}

# CPU seconds of a process and its waited-for children from /proc, over SECS
proc_cpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }

live() { # args of iptop; prints "CPU-seconds distinct-poll-times"
  tmux -L "$SOCK" -f /dev/null new-session -d -s m -x 160 -y 50 "$BIN $*"
  sleep 8
  local pid t0 t1 seen=""
  pid=$(pgrep -f "^$BIN $*" | head -1)
  t0=$(proc_cpu "$pid")
  for _ in $(seq 1 $((SECS * 2))); do
    seen="$seen $(tmux -L "$SOCK" capture-pane -p -t m | head -1 | grep -o '· [0-9:]* took' | tr -d '· took')"
    sleep 0.5
  done
  t1=$(proc_cpu "$pid")
  tmux -L "$SOCK" capture-pane -p -t m | head -1 | grep -o 'every [^·]*' >&2 || true
  tmux -L "$SOCK" kill-server
  sleep 1
  awk -v t="$(( t1 - t0 ))" -v hz="$TICK" -v n="$(echo "$seen" | tr ' ' '\n' | grep . | sort -u | wc -l)" \
    'BEGIN { printf "%.3f %d\n", t / hz, n }'
}

for b in ${BACKENDS:-nft legacy}; do
  ns="iptop-cold-$N-$b"
  ip netns del "$ns" 2>/dev/null || true
  bash "$GEN" "$N" "$b" "$ns" >/dev/null
  child=$(cpu ip netns exec "$ns" "iptables-$b" -w 2 -t nat -L -v -n -x --line-numbers)
  echo "$N $b: one iptables -L of nat: $child s CPU (median of $RUNS)"
  for bin in ${BEFORE:+"$BEFORE"} "$BIN"; do
    [ -n "$BEFORE" ] && echo "  $bin:"
    for src in auto iptables; do
      for fmt in json text; do
        c=$(cpu "$bin" --netns "$ns" --backend "$b" -t nat --once --format "$fmt" --color never --source "$src")
        awk -v b="$b" -v f="$fmt" -v s="$src" -v c="$c" -v k="$child" 'BEGIN {
          printf "  --once --format %s --source %s: %.3f s = %.2fx\n", f, s, c, c / k }'
      done
    done
  done
  for bin in ${BEFORE:+"$BEFORE"} "$BIN"; do
    read -r c polls < <(BIN=$bin live --netns "$ns" --backend "$b" -t nat -i 1s)
    awk -v c="$c" -v k="$child" -v s="$SECS" -v p="$polls" -v n="$bin" 'BEGIN {
      printf "  live view, 1 s (%s): %.3f s CPU in %d s = %.3fx of one iptables -L a second; %d distinct poll times in the header\n", n, c, s, c / (k * s), p }'
  done
  # --listen, then iptables_exporter, each collecting every second (filter and nat:
  # scraped every second for SECS seconds after an 8 s start (the tables gen-scale.sh fills,
  # those iptables-save lists)
  ip -n "$ns" link set lo up
  scraped() { # pid, then the command that scrapes it; prints its CPU ticks over SECS
    local c0 c1
    sleep 8
    c0=$(proc_cpu "$1")
    for _ in $(seq 1 "$SECS"); do "${@:2}"; sleep 1; done
    c1=$(proc_cpu "$1")
    kill "$1"; wait "$1" 2>/dev/null || true
    echo $((c1 - c0))
  }
  "$BIN" --netns "$ns" --backend "$b" -t filter -t nat -i 1s --listen "127.0.0.1:$PORT" 2>/dev/null &
  l=$(scraped $! curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics")
  target=iptables
  [ "$b" = legacy ] && target=iptables-legacy
  ip netns exec "$ns" "$EXPORTER" --collect-interval 1 -l 127.0.0.1 -p "$PORT" -t "$target" >/dev/null 2>&1 &
  x=$(scraped $! ip netns exec "$ns" curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics")
  awk -v i="$l" -v x="$x" -v hz="$TICK" -v s="$SECS" 'BEGIN {
    printf "  --listen: %.3f s CPU a second; iptables_exporter --collect-interval 1: %.3f s a second; ratio %.3f\n", i / hz / s, x / hz / s, i / x }'
  ip netns del "$ns"
  ns=
done
