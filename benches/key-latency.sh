#!/usr/bin/env bash
# Loads a 50k-rule kube-proxy ruleset (nft) into a throw-away namespace and measures how
# fast the live view answers keys while it polls it (benches/key-latency.py).
#
#   sudo benches/key-latency.sh [PRESSES]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo build --release --quiet
ns=iptop-keys-50k
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns del "$ns" 2>/dev/null || true
bash tests/fixtures/iptables/gen-scale.sh 50000 nft "$ns" >/dev/null
python3 benches/key-latency.py "$ns" "${1:-100}"
