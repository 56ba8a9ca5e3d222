#!/usr/bin/env bash
# iptop's own CPU per poll against the iptables child's, at each ruleset size and backend:
#
#   sudo benches/poll-cost.sh [N...]        (default: 1000 10000 50000)
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
      polls=$(( n1 >= 50000 ? 10 : 20 ))
      for t in nat filter; do
        "$BIN" --netns "$ns" --backend "$b" --table "$t" --polls "$polls"
      done
      ip netns del "$ns"
    done
  done
done
