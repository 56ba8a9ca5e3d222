#!/usr/bin/env bash
# iptop's own CPU per poll against the iptables child's, at each ruleset size and backend:
#
#   sudo benches/poll-cost.sh [N...]        (default: 1000 10000 50000)
#   sudo TRAFFIC=200 EVERY_MS=1000 benches/poll-cost.sh
#       the same with 200 new connections a second to the cluster IPs
#       (benches/kube-traffic.py), polling once a second as the live view does
#
# Loads a kube-proxy-shaped ruleset of N rules (tests/fixtures/iptables/gen-scale.sh, the
# generator of the shared fixture corpus) into a throw-away network namespace per backend,
# runs the poll_cost bench against it, and removes the namespace.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GEN="$ROOT/tests/fixtures/iptables/gen-scale.sh"
cd "$ROOT"
cargo bench --bench poll_cost --no-run --quiet 2>/dev/null
BIN=$(ls -t target/release/deps/poll_cost-* | grep -v '\.d$' | head -1)
for n in "${@:-1000 10000 50000}"; do
  for n1 in $n; do
    for b in nft legacy; do
      ns="iptop-cost-$n1-$b"
      trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
      ip netns del "$ns" 2>/dev/null || true
      bash "$GEN" "$n1" "$b" "$ns" >/dev/null
      if [ "${TRAFFIC:-0}" != 0 ]; then
        # a way out for the cluster IPs: a veth pair (both ends in the namespace) as
        # the default route; what comes out of the other end is not forwarded
        ip -n "$ns" link set lo up
        ip -n "$ns" link add v0 type veth peer name v1
        ip -n "$ns" link set v0 up
        ip -n "$ns" link set v1 up
        ip -n "$ns" addr add 10.255.0.1/16 dev v0
        ip -n "$ns" route add default dev v0
        ip netns exec "$ns" python3 "$ROOT/benches/kube-traffic.py" "iptables-$b" "$TRAFFIC" &
        tpid=$!
        trap 'kill $tpid 2>/dev/null; ip netns del "$ns" 2>/dev/null || true' EXIT
        sleep 2
        echo "($TRAFFIC new connections a second to the cluster IPs)"
      fi
      polls=$(( n1 >= 50000 ? 10 : 20 ))
      for t in nat filter; do
        "$BIN" --netns "$ns" --backend "$b" --table "$t" --polls "$polls" --every-ms "${EVERY_MS:-0}"
      done
      if [ -n "${tpid:-}" ]; then kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; tpid=; fi
      ip netns del "$ns"
    done
  done
done
