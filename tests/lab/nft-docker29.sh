#!/usr/bin/env bash
# iptop's nftables lab: a Docker Engine 29 host with the nftables firewall backend
# (--firewall-backend=nftables), rebuilt from network namespaces: Docker's own
# `ip docker-bridges` table (docker29.nft) and real traffic through it.
#
#   nft-docker29.sh up       build the namespaces, load docker29.nft into the host
#   nft-docker29.sh curl N   N HTTP requests client -> 192.168.62.6:8080 (the published
#                            port, DNAT'd to the container's 192.0.2.2:80)
#   nft-docker29.sh status   list the namespaces and the host's ruleset with counters
#   nft-docker29.sh down     remove everything it made
#
# Namespaces: client (192.168.62.100) -- eth0 -- host (192.168.62.6; bridges bridge1
# 192.0.2.1/24 and docker0 172.17.0.1/16) -- bridge1 -- ctr (192.0.2.2, a web server).
# Needs root, iproute2, nft (Debian package nftables) and curl; python3 serves HTTP.
# Every address lives inside the namespaces it creates; nothing leaves them.
# Environment: LAB_PREFIX (default "iptop-nft-") names the namespaces, so parallel runs
# don't collide.
set -euo pipefail

P=${LAB_PREFIX:-iptop-nft-}
HOST=${P}host CLIENT=${P}client CTR=${P}ctr
HERE=$(cd "$(dirname "$0")" && pwd)
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

up() {
  # a half-built lab is torn down again, so a failed `up` leaves nothing behind
  trap 'down; exit 1' ERR
  for ns in "$HOST" "$CLIENT" "$CTR"; do ip netns add "$ns"; nsx "$ns" ip link set lo up; done
  # Docker 29 with nftables does not enable forwarding itself: the host's admin does
  nsx "$HOST" sysctl -qw net.ipv4.ip_forward=1

  # host eth0 <-> client eth0: the host's external address
  nsx "$HOST" ip link add eth0 type veth peer name eth0 netns "$CLIENT"
  nsx "$HOST" ip addr add 192.168.62.6/24 dev eth0
  nsx "$CLIENT" ip addr add 192.168.62.100/24 dev eth0
  nsx "$HOST" ip link set eth0 up
  nsx "$CLIENT" ip link set eth0 up
  nsx "$CLIENT" ip route add default via 192.168.62.6

  # the default bridge (no container on it) and the user-defined network bridge1
  nsx "$HOST" ip link add docker0 type bridge
  nsx "$HOST" ip addr add 172.17.0.1/16 dev docker0
  nsx "$HOST" ip link add bridge1 type bridge
  nsx "$HOST" ip addr add 192.0.2.1/24 dev bridge1
  nsx "$HOST" ip link add veth-c1 type veth peer name eth0 netns "$CTR"
  nsx "$HOST" ip link set veth-c1 master bridge1
  nsx "$CTR" ip addr add 192.0.2.2/24 dev eth0
  for l in docker0 bridge1 veth-c1; do nsx "$HOST" ip link set "$l" up; done
  nsx "$CTR" ip link set eth0 up; nsx "$CTR" ip route add default via 192.0.2.1

  nsx "$HOST" nft -f "$HERE/docker29.nft"

  # the published container: a web server on 192.0.2.2:80 (published as host port 8080)
  mkdir -p "/tmp/${P}www" && echo "hello from ${CTR}" > "/tmp/${P}www/index.html"
  ip netns exec "$CTR" python3 -m http.server 80 --bind 192.0.2.2 --directory "/tmp/${P}www" \
    >/dev/null 2>&1 </dev/null &
  local ok=""
  for _ in $(seq 100); do
    if nsx "$CLIENT" curl -s -m 1 -o /dev/null http://192.168.62.6:8080/; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "lab: the web server in $CTR did not answer" >&2; false; }
  trap - ERR
  echo "lab up: namespaces $HOST $CLIENT $CTR; watch with: iptop --netns $HOST"
}

curl_n() {
  for _ in $(seq "${1:-1}"); do
    nsx "$CLIENT" curl -s -m 2 -o /dev/null http://192.168.62.6:8080/
  done
}

down() {
  # end every process still inside the lab's namespaces (the web server), then the namespaces
  for ns in "$HOST" "$CLIENT" "$CTR"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  done
  for ns in "$HOST" "$CLIENT" "$CTR"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "/tmp/${P}www"
}

status() { ip netns list | grep "^${P}" || true; nsx "$HOST" nft -a list ruleset; }

case "${1:-}" in
  up) up ;;
  down) down ;;
  curl) curl_n "${2:-1}" ;;
  status) status ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
