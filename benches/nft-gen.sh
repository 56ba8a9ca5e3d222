#!/usr/bin/env bash
# A native nftables table of N rules with counters (default 50000), for `nft -f`:
# `table inet bench`, its forward base chain reaching CHAINS chains of RULES rules each,
# half through `jump` rules with counters, half through a verdict map (`iifname vmap
# @ports`) and an anonymous `vmap { }` (no counters of their own), every rule in them
# `ip daddr A tcp dport P counter accept`. Prints the rule set; loads nothing.
#
#   benches/nft-gen.sh [N] > bench.nft && ip netns exec NS nft -f bench.nft
set -euo pipefail
N=${1:-50000}
RULES=50
CHAINS=$(( (N + RULES - 1) / RULES ))
awk -v chains="$CHAINS" -v per="$RULES" -v n="$N" 'BEGIN {
  half = int(chains / 2)
  print "table inet bench {"
  printf "  map ports {\n    type ifname : verdict\n    elements = { "
  for (c = half; c < chains - 10; c++) printf "%s\"v%d\" : jump c%d", (c > half ? ", " : ""), c, c
  print " }\n  }"
  print "  chain forward {\n    type filter hook forward priority filter; policy accept;"
  for (c = 0; c < half; c++) printf "    ip saddr 10.%d.%d.0/24 counter jump c%d\n", int(c / 256), c % 256, c
  print "    iifname vmap @ports"
  printf "    oifname vmap { "
  for (c = chains - 10; c < chains; c++) printf "%s\"w%d\" : jump c%d", (c > chains - 10 ? ", " : ""), c, c
  print " }\n  }"
  left = n
  for (c = 0; c < chains; c++) {
    printf "  chain c%d {\n", c
    for (r = 0; r < per && left > 0; r++) {
      printf "    ip daddr 10.200.%d.%d tcp dport %d counter accept\n", int(r / 256), r % 256, 1000 + c
      left--
    }
    print "  }"
  }
  print "}"
}'
