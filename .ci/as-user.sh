#!/usr/bin/env bash
# The README's test command as a normal user on a fresh clone: what a new contributor
# runs. Run as root; makes (once) the unprivileged user iptop-ci, lets it use root's
# toolchain (execute only on /root, by an ACL), clones the committed tree into its home
# and runs `cargo test --release` there as that user. The root-only suites must come out
# as ignored, the rest must pass.
set -euo pipefail
cd "$(dirname "$0")/.."
user=iptop-ci
id -u "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
home=$(getent passwd "$user" | cut -d: -f6)

cargo_bin=$(dirname "$(command -v cargo)")
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
# the toolchain is under root's home (mode 0700): let this one user pass through it
if ! command -v setfacl >/dev/null 2>&1; then
  apt-get install -y -qq acl >/dev/null 2>&1 || { apt-get update -qq >/dev/null; apt-get install -y -qq acl >/dev/null; }
fi
dir=$cargo_bin
while [ "$dir" != / ]; do setfacl -m "u:$user:x" "$dir"; dir=$(dirname "$dir"); done
dir=$rustup_home
while [ "$dir" != / ]; do setfacl -m "u:$user:x" "$dir"; dir=$(dirname "$dir"); done

# its own cargo home, seeded with the crates root already fetched
mkdir -p "$home/.cargo"
[ -d "${CARGO_HOME:-$HOME/.cargo}/registry" ] && cp -a "${CARGO_HOME:-$HOME/.cargo}/registry" "$home/.cargo/" 2>/dev/null || true
rm -rf "$home/iptop"
git clone -q --no-hardlinks "$PWD" "$home/iptop"
chown -R "$user:" "$home/.cargo" "$home/iptop"

runuser -u "$user" -- env -i HOME="$home" USER="$user" PATH="$cargo_bin:/usr/local/bin:/usr/bin:/bin" \
  RUSTUP_HOME="$rustup_home" CARGO_HOME="$home/.cargo" TERM=dumb ${CI:+CI=$CI} \
  bash -c 'cd ~/iptop && cargo test --locked --release 2>&1' | tee /tmp/iptop-user-tests.log
# every binary's summary line must say ok; the ignored root suites are counted
if grep -q "^test result: FAILED" /tmp/iptop-user-tests.log; then exit 1; fi
grep "^test result:" /tmp/iptop-user-tests.log
