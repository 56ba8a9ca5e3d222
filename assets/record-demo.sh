#!/usr/bin/env bash
# Re-records assets/demo.rec, the recording `iptop --demo` plays: the test lab's Docker
# swarm host (tests/lab/lab.sh) with real traffic through its real iptables rules,
# filter and nat tables polled once a second for 60 seconds.
#
#   sudo assets/record-demo.sh            (needs root, iptables, iproute2, curl, python3)
#
# Traffic: requests to the published port 80 from the first second on, blocked
# cross-bridge connects, a quiet stretch, then bursts; all along, every 5 s, a connect
# to an address nothing publishes, dropped by FORWARD's policy (the `policy-drop`
# finding that `!` lists). Rebuild iptop afterwards: the recording is embedded in the
# binary.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export LAB_PREFIX=${LAB_PREFIX:-iptopdemo-}
LAB="$ROOT/tests/lab/lab.sh"
OUT="$HERE/demo.rec"
IPTOP=${IPTOP:-$ROOT/target/release/iptop}
[ -x "$IPTOP" ] || (cd "$ROOT" && cargo build --release --quiet)

trap '"$LAB" down' EXIT
"$LAB" up
rm -f "$OUT.new"
"$IPTOP" --netns "${LAB_PREFIX}host" -t filter -t nat --once --window 60s --interval 1s \
  --record "$OUT.new" --format json >/dev/null &
rec=$!
sleep 0.3
every() { local n=$1 pause=$2; shift 2; for _ in $(seq "$n"); do "$@"; sleep "$pause"; done; }
every 12 5 "$LAB" blocked 1 &       # 0-60 s: a policy drop every 5 s
dropper=$!
every 16 0.5 "$LAB" curl 1          # 0-8 s: a steady trickle of requests
every 5 0.8 "$LAB" cross 2          # 8-13 s: containers on docker0 poking the sandbox: dropped
sleep 10                            # 13-23 s: quiet
every 10 1 "$LAB" curl 4            # 23-33 s: bursts of requests
every 6 1 "$LAB" cross 1 &          # 33-39 s: more blocked connects beside
crossing=$!
every 12 0.5 "$LAB" curl 1          # 33-39 s: and a trickle
wait "$crossing" 2>/dev/null || true
sleep 8                             # quiet again until the end
every 8 0.5 "$LAB" curl 2
wait "$dropper" 2>/dev/null || true
wait "$rec"
mv "$OUT.new" "$OUT"
echo "wrote $OUT: $(grep -c '^@poll' "$OUT") polls"
