#!/usr/bin/env bash
# iptop's test lab: a single-node Docker swarm host rebuilt from network namespaces,
# with the real iptables rules Docker writes and real traffic through them.
#
#   lab.sh up       build the namespaces and load the rules (swarm.rules)
#   lab.sh curl N   N HTTP requests client -> 192.168.61.6:80 (the published port,
#                   DNAT'd to the ingress sandbox 172.18.0.2:80)
#   lab.sh cross N  N connection attempts from a docker0 container to the sandbox's
#                   172.18.0.2:81: dropped by DOCKER-ISOLATION-STAGE-2
#   lab.sh blocked N  N connection attempts from the client to the docker0 container's
#                   172.17.0.2:81, which nothing publishes: dropped by FORWARD's policy
#   lab.sh status   list the namespaces and the host's FORWARD counters
#   lab.sh down     remove everything it made
#
# Needs root, iproute2, iptables and curl; python3 serves HTTP in the sandbox.
# Every address lives inside the namespaces it creates; nothing leaves them.
# Environment: LAB_PREFIX (default "iptop-") names the namespaces, so parallel runs
# don't collide; LAB_IPTABLES picks the restore command (iptables-restore,
# iptables-legacy-restore, iptables-nft-restore); LAB_RULES loads another
# iptables-restore file (same interfaces and addresses), such as docker28.rules: Docker
# Engine 28's layout (DOCKER-FORWARD, DOCKER-CT, DOCKER-BRIDGE, ...).
set -euo pipefail

P=${LAB_PREFIX:-iptop-}
HOST=${P}host CLIENT=${P}client SBOX=${P}sbox CTR=${P}ctr
RESTORE=${LAB_IPTABLES:-iptables-restore}
HERE=$(cd "$(dirname "$0")" && pwd)
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

up() {
  # a half-built lab is torn down again, so a failed `up` leaves nothing behind
  trap 'down; exit 1' ERR
  for ns in "$HOST" "$CLIENT" "$SBOX" "$CTR"; do ip netns add "$ns"; nsx "$ns" ip link set lo up; done
  nsx "$HOST" sysctl -qw net.ipv4.ip_forward=1

  # host eth0 <-> client eth0: the node's advertised address
  nsx "$HOST" ip link add eth0 type veth peer name eth0 netns "$CLIENT"
  nsx "$HOST" ip addr add 192.168.61.6/24 dev eth0
  nsx "$CLIENT" ip addr add 192.168.61.100/24 dev eth0
  nsx "$HOST" ip link set eth0 up
  nsx "$CLIENT" ip link set eth0 up
  nsx "$CLIENT" ip route add default via 192.168.61.6

  # bridges docker_gwbridge and docker0 on the host
  nsx "$HOST" ip link add docker_gwbridge type bridge
  nsx "$HOST" ip addr add 172.18.0.1/16 dev docker_gwbridge
  nsx "$HOST" ip link add docker0 type bridge
  nsx "$HOST" ip addr add 172.17.0.1/16 dev docker0

  # ingress sandbox on docker_gwbridge, a container on docker0
  nsx "$HOST" ip link add veth-sbox type veth peer name eth0 netns "$SBOX"
  nsx "$HOST" ip link set veth-sbox master docker_gwbridge
  nsx "$SBOX" ip addr add 172.18.0.2/16 dev eth0
  nsx "$HOST" ip link add veth-ctr type veth peer name eth0 netns "$CTR"
  nsx "$HOST" ip link set veth-ctr master docker0
  nsx "$CTR" ip addr add 172.17.0.2/16 dev eth0
  for l in docker_gwbridge docker0 veth-sbox veth-ctr; do nsx "$HOST" ip link set "$l" up; done
  nsx "$SBOX" ip link set eth0 up; nsx "$SBOX" ip route add default via 172.18.0.1
  nsx "$CTR" ip link set eth0 up; nsx "$CTR" ip route add default via 172.17.0.1

  grep -v '^#' "${LAB_RULES:-$HERE/swarm.rules}" | nsx "$HOST" "$RESTORE"

  # the published service: a web server in the ingress sandbox
  mkdir -p "/tmp/${P}www" && echo "hello from ${SBOX}" > "/tmp/${P}www/index.html"
  ip netns exec "$SBOX" python3 -m http.server 80 --bind 172.18.0.2 --directory "/tmp/${P}www" \
    >/dev/null 2>&1 </dev/null &
  local ok=""
  for _ in $(seq 100); do
    if nsx "$CLIENT" curl -s -m 1 -o /dev/null http://192.168.61.6/; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "lab: the web server in $SBOX did not answer" >&2; false; }
  trap - ERR
  echo "lab up: namespaces $HOST $CLIENT $SBOX $CTR; watch with: iptop --netns $HOST"
}

curl_n() { for _ in $(seq "${1:-1}"); do nsx "$CLIENT" curl -s -m 2 -o /dev/null http://192.168.61.6/; done; }
blocked_n() { for _ in $(seq "${1:-1}"); do nsx "$CLIENT" curl -s --connect-timeout 0.2 -o /dev/null http://172.17.0.2:81/ || true; done; }
cross_n() { for _ in $(seq "${1:-1}"); do nsx "$CTR" curl -s --connect-timeout 0.2 -o /dev/null http://172.18.0.2:81/ || true; done; }

down() {
  # end every process still inside the lab's namespaces (the web server), then the namespaces
  for ns in "$HOST" "$CLIENT" "$SBOX" "$CTR"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  done
  for ns in "$HOST" "$CLIENT" "$SBOX" "$CTR"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "/tmp/${P}www"
}

status() { ip netns list | grep "^${P}" || true; nsx "$HOST" iptables -vnL FORWARD; }

case "${1:-}" in
  up) up ;;
  down) down ;;
  curl) curl_n "${2:-1}" ;;
  cross) cross_n "${2:-1}" ;;
  blocked) blocked_n "${2:-1}" ;;
  status) status ;;
  *) sed -n '2,21p' "$0"; exit 2 ;;
esac
