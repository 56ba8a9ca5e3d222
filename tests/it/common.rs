//! Helpers for the end-to-end tests: the network-namespace lab, the iptop binary, and a
//! fake `iptables` for read-only and fault tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The Δ column of a text row: the first number after the label.
pub fn text_delta(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no Δ in {line:?}"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn iptop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iptop"))
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `[packets:bytes]` as `iptables-save -c` prints a counter.
pub fn saved_counter(s: &str) -> (u64, u64) {
    let inner = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .expect("[packets:bytes]");
    let (p, b) = inner.split_once(':').expect("p:b");
    (p.parse().expect("packets"), b.parse().expect("bytes"))
}

/// A rule line of `iptables-save -c` (`[p:b] -A CHAIN rest`): its chain, the line after
/// its counters, its packets and bytes. None for any other line.
pub fn saved_rule(line: &str) -> Option<(&str, &str, u64, u64)> {
    if !line.starts_with('[') {
        return None;
    }
    let (ctr, rule) = line.split_once(' ').expect("counters");
    let chain = rule.split_whitespace().nth(1).expect("chain");
    let (p, b) = saved_counter(ctr);
    Some((chain, rule, p, b))
}

/// The lab needs root (network namespaces, iptables): a test that builds it is
/// `#[ignore = "needs root: ..."]`; this catches one that is not, with a clear message.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test builds network namespaces and needs root: run the suite with sudo (see README)"
    );
}

static LABS: AtomicUsize = AtomicUsize::new(0);

/// A running lab (tests/lab/lab.sh); torn down when dropped, even if the test fails.
pub struct Lab {
    pub prefix: String,
    restore: String,
    /// Another rule file for the host (`LAB_RULES`), e.g. tests/lab/docker28.rules.
    rules: Option<PathBuf>,
    /// The lab script under tests/lab (lab.sh, nft-docker29.sh).
    script: &'static str,
}

impl Lab {
    /// `restore`: iptables-restore, iptables-legacy-restore or iptables-nft-restore.
    pub fn up(restore: &str) -> Lab {
        Lab::up_with(restore, None)
    }

    /// The lab with the host's rules from `rules` (a file under tests/lab).
    pub fn up_with(restore: &str, rules: Option<&str>) -> Lab {
        require_root();
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("ipt{}x{n}-", std::process::id());
        let lab = Lab {
            prefix,
            restore: restore.to_string(),
            rules: rules.map(|r| root().join("tests/lab").join(r)),
            script: "lab.sh",
        };
        lab.script(&["up"]);
        lab
    }

    /// The nftables lab: a Docker 29 host with Docker's `ip docker-bridges` table
    /// (tests/lab/nft-docker29.sh), its web server published on 192.168.62.6:8080.
    pub fn up_nft() -> Lab {
        require_root();
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        let lab = Lab {
            prefix: format!("nft{}x{n}-", std::process::id()),
            restore: String::new(),
            rules: None,
            script: "nft-docker29.sh",
        };
        lab.script(&["up"]);
        lab
    }

    pub fn host(&self) -> String {
        format!("{}host", self.prefix)
    }

    fn script(&self, args: &[&str]) {
        let mut cmd = Command::new("bash");
        cmd.arg(root().join("tests/lab").join(self.script))
            .args(args)
            .env("LAB_PREFIX", &self.prefix)
            .env("LAB_IPTABLES", &self.restore);
        match &self.rules {
            Some(r) => cmd.env("LAB_RULES", r),
            None => cmd.env_remove("LAB_RULES"),
        };
        let out = cmd.output().expect("lab.sh");
        assert!(
            out.status.success() || args[0] == "down",
            "lab.sh {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn curl(&self, n: usize) {
        self.script(&["curl", &n.to_string()]);
    }

    pub fn cross(&self, n: usize) {
        self.script(&["cross", &n.to_string()]);
    }

    /// `n` connection attempts from the client to 172.17.0.2:81, dropped by FORWARD's policy.
    pub fn blocked(&self, n: usize) {
        self.script(&["blocked", &n.to_string()]);
    }

    /// Inserts `-p tcp --dport PORT -j DROP` at the top of DOCKER-USER (the rule the
    /// `docker-user-dport` finding is about).
    pub fn drop_in_docker_user(&self, port: u16) {
        let port = port.to_string();
        self.host_cmd(&[
            "iptables",
            "-I",
            "DOCKER-USER",
            "-p",
            "tcp",
            "--dport",
            &port,
            "-j",
            "DROP",
        ]);
    }

    /// Runs a command inside the lab's host namespace (the test's own iptables calls).
    /// `iptop --netns HOST ARGS` (a `--once --window` run) while `traffic` runs inside the
    /// window: iptop takes its first poll at once, the traffic starts 0.8 s later. Returns
    /// iptop's stdout; fails the test with iptop's stderr when it did not succeed.
    pub fn once_during(&self, args: &[&str], traffic: impl FnOnce()) -> String {
        let host = self.host();
        let mut all = vec!["--netns", host.as_str()];
        all.extend_from_slice(args);
        let child = iptop()
            .args(&all)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("iptop");
        thread::sleep(Duration::from_millis(800));
        traffic();
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "iptop {all:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    pub fn host_cmd(&self, args: &[&str]) -> Output {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.host()])
            .args(args)
            .output()
            .expect("ip netns exec");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.script(&["down"]);
    }
}

/// A directory with a fake `iptables` (and its -nft/-legacy/ip6tables names) that logs
/// its argv to `argv.log` and behaves as `behaviour` says (see the script).
pub struct FakeIptables {
    pub dir: tempfile::TempDir,
}

impl FakeIptables {
    pub fn new(behaviour: &str) -> FakeIptables {
        let dir = tempfile::tempdir().expect("tempdir");
        let fixtures = root().join("tests/fixtures/iptables");
        let script = format!(
            r##"#!/bin/bash
# fake iptables for iptop's tests: logs argv, then behaves as BEHAVIOUR says
HERE={here}
# one printf, one write: calls that run side by side (the version questions) do not mix
f=; for a in "$0" "$@"; do f="$f%s\\0"; done; printf "$f\\n" "$(basename "$0")" "$@" >> "$HERE/argv.log"
BEHAVIOUR=$(cat "$HERE/behaviour" 2>/dev/null || echo {behaviour})
if [ "$1" = --version ]; then echo "iptables v1.8.9 (nf_tables)"; exit 0; fi
table=filter
while [ $# -gt 0 ]; do [ "$1" = -t ] && table=$2; shift; done
case $BEHAVIOUR in
  ok) cat "{fixtures}/docker-swarm.nft.$table-vnxL-lines.txt" 2>/dev/null || cat "{fixtures}/edge.nft.$table-vnxL-lines.txt" 2>/dev/null ||
      printf 'Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\nnum      pkts      bytes target     prot opt in     out     source               destination\n' ;;
  warn) echo "# Warning: iptables-legacy tables present, use iptables-legacy to see them" >&2
        cat "{fixtures}/mixed.nft.$table-vnxL-lines.txt" ;;
  hang) exec sleep 300 ;;
  slow) sleep 1.5; cat "{fixtures}/docker-swarm.nft.$table-vnxL-lines.txt" ;;
  lock) echo "Can't lock /run/xtables.lock: Resource temporarily unavailable" >&2
        echo "Another app is currently holding the xtables lock. Stopped waiting after 2s." >&2; exit 4 ;;
  denied) echo "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)" >&2; exit 4 ;;
  nftnative) cat "{fixtures}/nft-native.nft.filter-vnxL-lines.txt"; cat "{fixtures}/nft-native.nft.filter-vnxL-lines.txt.stderr" >&2; exit 3 ;;
  cut) head -c 700 "{fixtures}/docker-swarm.nft.filter-vnxL-lines.txt" ;;
  garbage) printf 'Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\nnum pkts bytes target prot opt in out source destination\n\x00\xff\xfe binary\n' ;;
esac
"##,
            here = dir.path().display(),
            fixtures = fixtures.display(),
        );
        for name in [
            "iptables",
            "iptables-nft",
            "iptables-legacy",
            "ip6tables",
            "ip6tables-nft",
            "ip6tables-legacy",
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, &script).expect("write fake");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        FakeIptables { dir }
    }

    /// Changes the behaviour of every later call.
    pub fn set(&self, behaviour: &str) {
        std::fs::write(self.dir.path().join("behaviour"), behaviour).expect("behaviour");
    }

    pub fn path_env(&self) -> String {
        format!("{}:/usr/bin:/bin", self.dir.path().display())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every argv the fake was called with (program name first).
    pub fn calls(&self) -> Vec<Vec<String>> {
        let log = std::fs::read(self.dir.path().join("argv.log")).unwrap_or_default();
        log.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect()
    }
}

/// A tmux server of our own, killed when dropped.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(cmd: &str, w: u16, h: u16) -> Tmux {
        let socket = format!(
            "iptop-test-{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::SeqCst)
        );
        let t = Tmux { socket };
        let status = t
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .arg(format!("{cmd}; echo EXIT=$?; sleep 600"))
            .status()
            .expect("tmux");
        assert!(status.success(), "tmux new-session");
        t
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        c
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = self
                .cmd(&["send-keys", "-t", "main", k])
                .status()
                .expect("send-keys");
            assert!(ok.success());
            thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn capture(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", "main"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane with its colours (SGR escapes).
    pub fn capture_colors(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-e", "-t", "main"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane including its scrollback.
    pub fn capture_all(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-S", "-2000", "-t", "main"])
            .output()
            .expect("capture");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pid of the program running in the pane (the shell's child).
    pub fn pane_child(&self) -> String {
        let shell = self.display("#{pane_pid}");
        for _ in 0..50 {
            let out = Command::new("pgrep")
                .args(["-P", &shell])
                .output()
                .expect("pgrep");
            let pids = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if let Some(p) = pids.lines().next() {
                return p.to_string();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("no process in the pane");
    }

    pub fn display(&self, fmt: &str) -> String {
        let out = self
            .cmd(&["display-message", "-p", "-t", "main", fmt])
            .output()
            .expect("display");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Captures until `pred` holds, or fails after `secs` with the last screen.
    pub fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}:\n{s}");
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}

/// Rule text written by other programs: a namespace of the test's own with comments and
/// a chain name holding terminal escapes, bidi and zero-width characters.
pub mod hostile {
    use super::*;

    /// ESC ] 0 ; (retitle), BEL, ESC [ 2 J (clear), CR, C1 CSI, right-to-left override,
    /// zero-width space.
    pub const HOSTILE: &str =
        "e\u{1b}]0;pwned\u{7}\u{1b}[2J x\r y \u{9b}1m z \u{202e} w \u{200b} v";
    pub const FAKE: &str = "ok */\n2   999999 88888888 DROP all -- * * 6.6.6.6 0.0.0.0/0 /* fake";
    pub const CHAIN: &str = "X\u{1b}[2J\u{202e}";
    /// What must never be written raw.
    pub const RAW: [char; 6] = ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}', '\u{200b}'];

    /// A network namespace of the test's own; deleted when dropped, also on failure.
    pub struct Ns(pub String);

    impl Ns {
        pub fn new() -> Ns {
            require_root();
            let name = format!(
                "iptx{}-{}",
                std::process::id(),
                LABS.fetch_add(1, Ordering::SeqCst)
            );
            run_ok(Command::new("ip").args(["netns", "add", &name]));
            Ns(name)
        }

        pub fn ipt(&self, bin: &str, args: &[&str]) {
            self.exec(&[&[bin], args].concat());
        }

        /// Runs a command inside the namespace; it must succeed.
        pub fn exec(&self, args: &[&str]) -> std::process::Output {
            run_ok(
                Command::new("ip")
                    .args(["netns", "exec", &self.0])
                    .args(args),
            )
        }

        /// `n` connections tried to 127.0.0.1:9, where nothing listens (`lo` must be
        /// up): one SYN each into INPUT as `tcp dpt:9` (the RST comes back from port 9,
        /// to another port).
        pub fn knock(&self, n: u32) {
            let script = format!(
                "for i in $(seq {n}); do (echo > /dev/tcp/127.0.0.1/9) 2>/dev/null; done; true"
            );
            self.exec(&["bash", "-c", &script]);
        }

        /// `BIN -c` (an iptables-restore) inside the namespace, the rules on its stdin.
        pub fn restore(&self, bin: &str, rules: &[u8]) {
            use std::io::Write;
            let mut c = Command::new("ip")
                .args(["netns", "exec", &self.0, bin, "-c"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("restore");
            c.stdin
                .take()
                .expect("stdin")
                .write_all(rules)
                .expect("write");
            assert!(c.wait().expect("wait").success(), "{bin} failed");
        }
    }

    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    /// INPUT → T (the crafted comment, the hostile one, a plain rule) and INPUT → CHAIN.
    pub fn load(ns: &Ns, bin: &str) {
        ns.ipt(bin, &["-N", "T"]);
        ns.ipt(bin, &["-N", CHAIN]);
        ns.ipt(bin, &["-A", "INPUT", "-j", "T"]);
        ns.ipt(bin, &["-A", "INPUT", "-j", CHAIN]);
        let commented = |chain: &str, comment: &str, target: &str| {
            ns.ipt(
                bin,
                &[
                    "-A",
                    chain,
                    "-m",
                    "comment",
                    "--comment",
                    comment,
                    "-j",
                    target,
                ],
            );
        };
        commented("T", FAKE, "ACCEPT");
        commented("T", HOSTILE, "RETURN");
        ns.ipt(
            bin,
            &["-A", "T", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
        );
        commented(CHAIN, HOSTILE, "DROP");
    }

    pub fn assert_clean(what: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        for c in RAW {
            assert!(
                !text.contains(c),
                "{what} holds U+{:04X} raw:\n{text}",
                c as u32
            );
        }
    }
}

/// A wall-clock bound that guards against a blow-up (exponential work, a hang), not a
/// benchmark: asserted in release builds only, where the README's test command runs; a
/// debug build prints the figure instead (speed is measured by the benches).
#[track_caller]
pub fn assert_faster(took: Duration, bound: Duration) {
    if cfg!(debug_assertions) {
        eprintln!("timing (debug build, not asserted): {took:?}, bound {bound:?}");
    } else {
        assert!(took < bound, "took {took:?}, bound {bound:?}");
    }
}
