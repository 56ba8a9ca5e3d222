#!/usr/bin/env bash
# Makes the README's screenshots from the running program: iptop --demo in tmux
# (120x40, 256 colours), keys sent as a user would, `tmux capture-pane -e` turned into
# SVG (ansi2svg.py) and PNG (headless Chromium).
#
#   screenshots/make.sh          (needs tmux, python3, chromium; no root)
#   screenshots/make.sh findings (only the findings shot)
#   screenshots/make.sh nftables (only the Docker 29 nftables shot: needs root, builds
#                                 and removes tests/lab/nft-docker29.sh's namespaces)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
IPTOP=${IPTOP:-$ROOT/target/release/iptop}
[ -x "$IPTOP" ] || (cd "$ROOT" && cargo build --release --quiet)
SOCK=iptop-shots-$$
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
trap 'T kill-server 2>/dev/null || true; rm -rf "$HERE/.chromium-$$"' EXIT

shot() { # name: capture the pane, write name.svg and name.png
  T capture-pane -e -p -N -t main > "$HERE/$1.ansi"
  python3 "$HERE/ansi2svg.py" "$HERE/$1.ansi" "$HERE/$1.svg" 120 40
  rm -f "$HERE/$1.ansi"
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$HERE/.chromium-$$" --window-size=1008,720 \
    --screenshot="$HERE/$1.png" "file://$HERE/$1.svg" >/dev/null 2>&1
  echo "wrote screenshots/$1.png"
}

WHICH=${1:-all}
if [ "$WHICH" = nftables ]; then
  export LAB_PREFIX=iptop-shot-
  LAB="$ROOT/tests/lab/nft-docker29.sh"
  trap 'T kill-server 2>/dev/null || true; bash "$LAB" down >/dev/null 2>&1; rm -rf "$HERE/.chromium-$$"' EXIT
  bash "$LAB" up >/dev/null
  T new-session -d -s main -x 120 -y 40 "TERM=xterm-256color $IPTOP --netns ${LAB_PREFIX}host -t docker-bridges"
  for _ in 1 2 3 4 5; do bash "$LAB" curl 3 >/dev/null; sleep 1; done
  shot nftables                              # requests through the verdict maps and the DNAT
  exit 0
fi
if [ "$WHICH" = all ]; then
T new-session -d -s main -x 120 -y 40 "TERM=xterm-256color $IPTOP --demo"
# The recording: requests from the first second, blocked cross-bridge connects at 8-13 s.
sleep 0.6
T send-keys -t main / d p t : 8 0 Enter     # select the published port's rule: its sparkline
sleep 4.4
shot tree                                    # t = 5 s: requests flowing
T send-keys -t main v
sleep 0.5
shot path                                    # the path view: every table's built-in chains, hook by hook
T send-keys -t main v
T send-keys -t main / D O C K E R - I N G R E S S Enter Enter
sleep 1.0
shot drill                                   # drilled into DOCKER-INGRESS
T send-keys -t main Escape
sleep 1.4
shot drops                                   # t = 9.5 s: isolation dropping cross-bridge traffic
T send-keys -t main o
sleep 0.5
shot hot                                     # the hot view: what moved lately, by rate
T send-keys -t main o '?'
sleep 0.5
shot help
T send-keys -t main q
T kill-server
fi

# Findings: the demo's recording with two rules a user might add to close the published
# port 80 (INPUT's DROP, which forwarded packets never meet; and DOCKER-USER's match on
# a port that DNAT has already rewritten), replayed.
TRAPDIR=$(mktemp -d)
TRAP="$TRAPDIR/docker-host.rec"
trap 'T kill-server 2>/dev/null || true; rm -rf "$HERE/.chromium-$$" "$TRAPDIR"' EXIT
perl -ne '
  $t = $1 if /^\@listing (\S+)/;
  print;
  $want = ($t eq "filter" && /^Chain (INPUT|DOCKER-USER) /) ? $1 : $want;
  if ($want && /^num /) {
    print "1           0        0 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:80\n" if $want eq "INPUT";
    print "1           0        0 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080\n" if $want eq "DOCKER-USER";
    $want = "";
  }
' "$ROOT/assets/demo.rec" | perl -pe '
  # DOCKER-USER RETURN is now rule 2
  $du = 1 if /^Chain DOCKER-USER /; $du = 0 if /^Chain (?!DOCKER-USER)/;
  s/^1(\s+\d+\s+\d+ RETURN)/2$1/ if $du;
' | perl -ne '
  # each poll ends in `@end N`, its count of lines from its `@poll` on: two more now
  $n = 0 if /^\@poll /;
  if (/^\@end /) { print "\@end $n\n"; next }
  $n++; print;
' > "$TRAP"
T new-session -d -s main -x 120 -y 40 -c "$TRAPDIR" "TERM=xterm-256color $IPTOP --replay docker-host.rec"
sleep 3
T send-keys -t main '!'
sleep 0.5
shot findings                                # the findings pane, the badge in the header
T send-keys -t main q
