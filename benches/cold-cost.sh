#!/usr/bin/env bash
# The cold path and the live view at scale, side by side with the iptables child in one run:
#
#   sudo benches/cold-cost.sh [N]        (default 50000; SECS=20 RUNS=3 PORT=9899)
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
#   - `iptop --listen` scraped every second, next to a stand-in for iptables_exporter (a Go
#     program that runs `iptables-save -c` on every collection and parses it): the same
#     `iptables-save -c` every second, parsed by python3 (counters and chain of each rule).
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

for b in nft legacy; do
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
  # --listen, scraped every second (the poll and one /metrics encoding a second)
  "$BIN" --netns "$ns" --backend "$b" -t nat -i 1s --listen "127.0.0.1:$PORT" 2>/dev/null &
  lpid=$!
  sleep 8
  t0=$(proc_cpu "$lpid")
  for _ in $(seq 1 "$SECS"); do curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics"; sleep 1; done
  t1=$(proc_cpu "$lpid")
  kill "$lpid"; wait "$lpid" 2>/dev/null || true
  # the stand-in: iptables-save -c every second, each rule's counters and chain parsed
  e=$(ip netns exec "$ns" python3 - "$b" "$SECS" <<'PY'
import os, re, resource, subprocess, sys, time
b, secs = sys.argv[1], int(sys.argv[2])
rule = re.compile(r"^\[(\d+):(\d+)\] -A (\S+)")
r0 = resource.getrusage(resource.RUSAGE_SELF); c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
for _ in range(secs):
    t = time.monotonic()
    out = subprocess.run([f"iptables-{b}-save", "-c"], capture_output=True, text=True).stdout
    series = {}
    for line in out.splitlines():
        m = rule.match(line)
        if m:
            k = series.setdefault(m.group(3), [0, 0])
            k[0] += int(m.group(1)); k[1] += int(m.group(2))
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
r1 = resource.getrusage(resource.RUSAGE_SELF); c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime + c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime:.3f}")
PY
)
  awk -v i="$(( t1 - t0 ))" -v hz="$TICK" -v e="$e" -v s="$SECS" 'BEGIN {
    printf "  --listen scraped every second: %.3f s CPU a second; iptables-save -c + parse every second: %.3f s a second; ratio %.3f\n", i / hz / s, e / s, (i / hz) / e }'
  ip netns del "$ns"
  ns=
done
