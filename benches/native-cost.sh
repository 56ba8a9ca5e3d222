#!/usr/bin/env bash
# Native nftables tables at N rules (default 50000; benches/nft-gen.sh: chains reached
# through jumps with counters and through verdict maps): in one run, the CPU of one
# `nft list ruleset` and one `nft -j list ruleset`, iptop's `--once --format json` of the
# table (its own CPU and its nft child's), and iptop polling live at 1 s (`--listen`, the
# same poll as the live view, no output until scraped) over SECS seconds after a 10 s start, with its RSS; then the
# live view itself in tmux (160x50) for its RSS. Needs root, nft, tmux.
#
#   sudo benches/native-cost.sh [N]          SECS=20 by default
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-50000}
SECS=${SECS:-20}
cd "$ROOT"
cargo build --release --quiet
BIN="$ROOT/target/release/iptop"
TICK=$(getconf CLK_TCK)
NS=iptop-nbench-$$
SOCK=iptop-nbench-$$
spid=
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null || true
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -f "/tmp/$NS.nft"
}
trap cleanup EXIT
ip netns add "$NS"
benches/nft-gen.sh "$N" > "/tmp/$NS.nft"
ip netns exec "$NS" nft -f "/tmp/$NS.nft"

# median of 3: user+system seconds of a command and its children
cpu() {
  local runs=() t
  for _ in 1 2 3; do
    t=$(mktemp)
    /usr/bin/time -o "$t" -f '%U %S' "$@" >/dev/null 2>/dev/null
    runs+=("$(awk '{print $1 + $2}' "$t")"); rm -f "$t"
  done
  printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p
}
stat_cpu() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

LIST=$(cpu ip netns exec "$NS" nft list ruleset)
JSON=$(cpu ip netns exec "$NS" nft -j list ruleset)
ONCE=$(cpu "$BIN" --netns "$NS" --timeout 120s --once --format json -t bench)

PORT=$((20000 + $$ % 20000))
"$BIN" --netns "$NS" --timeout 120s --listen "127.0.0.1:$PORT" --interval 1s -t filter -t bench &
spid=$!
sleep 10
polls() { curl -s "127.0.0.1:$PORT/metrics" | awk '/^iptop_polls_total/ {print $2}'; }
c0=$(stat_cpu "$spid")
sleep "$SECS"
c1=$(stat_cpu "$spid")
l0=0 l1=$(polls)
srss=$(hwm "$spid")
kill "$spid"; wait "$spid" 2>/dev/null || true; spid=

tmux -L "$SOCK" -f /dev/null new-session -d -s m -x 160 -y 50 \
  "$BIN --netns $NS --timeout 120s --interval 1s -t bench"
sleep 15
vpid=$(pgrep -f "^$BIN --netns $NS --timeout 120s --interval 1s" | head -1)
vrss=$(hwm "$vpid")
tmux -L "$SOCK" kill-server

awk -v n="$N" -v list="$LIST" -v json="$JSON" -v once="$ONCE" -v c0="$c0" -v c1="$c1" \
  -v tick="$TICK" -v secs="$SECS" -v polls=$((l1 - l0)) -v srss="$srss" -v vrss="$vrss" 'BEGIN {
  live = (c1 - c0) / tick / secs
  printf "N=%d  nft list ruleset %.2f s  nft -j list ruleset %.2f s\n", n, list, json
  printf "live (--listen, 1 s): %.3f s CPU a second = %.3fx one nft list ruleset; %d polls in all (%d s measured after 10 s); RSS %.1f MB\n", live, live / list, polls, secs, srss / 1024
  printf "--once --format json: %.2f s = %.2fx one nft -j list ruleset\n", once, once / json
  printf "live view (tmux 160x50) RSS %.1f MB\n", vrss / 1024
}'
