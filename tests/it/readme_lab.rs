//! As root: every command of README.md and docs/ that readme.rs finds, run for real on
//! labs of the test's own (tests/lab/lab.sh, a swarm host; tests/lab/nft-docker29.sh,
//! a Docker 29 nftables host), with real traffic through them while each one runs.
//!
//! An iptop command runs as written, but on the labs: `sudo` dropped, `--netns NAME`
//! replaced by the lab's host namespace (a path, `/var/run/docker/netns/...`, by the
//! path of the lab's sandbox namespace), `--netns` added where the page watches the
//! host itself, files (`-o`, `--record`, a `tee` target) in a temporary directory,
//! `--replay listing.txt` a real `iptables -t nat -vnL` of the lab, `--listen` on a
//! free port of 127.0.0.1. A one-shot command (`--once`, `--man`, ...) must exit 0;
//! a long-running one (the live view in tmux, `--stream`, `--listen`) must be up and
//! showing or serving the lab before it is stopped. Either way its output must say
//! something true of the lab: [`marker`]. The lab scripts' `curl`, `cross` and
//! `blocked` run on the labs; their `up` and `down` are what `Lab` runs (with the lab's
//! own `LAB_PREFIX`), and `down` must leave no namespace behind.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{Lab, Tmux, root};
use crate::readme::{DocCommand, Kind, all_commands, classify};

/// The labs and the directory the commands' files go to.
struct Labs {
    swarm: Lab,
    nft: Lab,
    tmp: PathBuf,
}

/// How a command runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Once,
    Stream,
    Listen,
    Live,
}

/// A command as it runs here.
struct Run {
    args: Vec<String>,
    pipe: Option<String>,
    /// Files it writes (`-o`, `--record`, a `tee` target).
    files: Vec<PathBuf>,
    /// On the nftables lab.
    nft: bool,
}

fn has(args: &[String], flag: &str) -> bool {
    args.iter().any(|a| a == flag)
}

fn value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

fn mode(args: &[String]) -> Mode {
    let one_shot = ["--once", "--man", "--completions", "--list-netns", "--help"];
    if one_shot.iter().any(|f| has(args, f)) {
        Mode::Once
    } else if has(args, "--listen") {
        Mode::Listen
    } else if has(args, "--stream") {
        Mode::Stream
    } else {
        Mode::Live
    }
}

fn in_tmp(labs: &Labs, path: &str) -> PathBuf {
    let name = Path::new(path).file_name().expect("a file name");
    labs.tmp.join(name)
}

/// The command on the labs.
fn rewrite(labs: &Labs, args: &[String], pipe: Option<&str>) -> Run {
    let mut run = Run {
        args: Vec::new(),
        pipe: None,
        files: Vec::new(),
        nft: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        run.args.push(a.clone());
        let takes = [
            "--netns", "-o", "--output", "--record", "--replay", "--listen",
        ];
        if !takes.contains(&a.as_str()) {
            continue;
        }
        let v = it.next().expect("a value");
        let new = match a.as_str() {
            "--netns" if v.contains("nft") => {
                run.nft = true;
                labs.nft.host()
            }
            "--netns" if v.starts_with('/') => format!("/var/run/netns/{}sbox", labs.swarm.prefix),
            "--netns" => labs.swarm.host(),
            "--replay" if root().join(v).is_file() => root().join(v).display().to_string(),
            "--replay" => in_tmp(labs, v).display().to_string(),
            "--listen" => "127.0.0.1:0".to_string(),
            _ => {
                let p = in_tmp(labs, v);
                run.files.push(p.clone());
                p.display().to_string()
            }
        };
        run.args.push(new);
    }
    // the page watches the host itself: here, the lab's host
    let own = [
        "--netns",
        "--replay",
        "--demo",
        "--man",
        "--completions",
        "--list-netns",
        "--help",
    ];
    if !own.iter().any(|f| has(args, f)) {
        run.args.push("--netns".into());
        run.args.push(labs.swarm.host());
    }
    run.pipe = pipe.map(|p| {
        let p = p.strip_prefix("sudo ").unwrap_or(p);
        p.split(' ')
            .map(|w| {
                if w.starts_with("/usr/") || w.starts_with("/var/") {
                    let f = in_tmp(labs, w);
                    run.files.push(f.clone());
                    f.display().to_string()
                } else {
                    w.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    });
    run
}

/// What the output must hold: something true of the lab (or of the file replayed).
fn marker(labs: &Labs, orig: &[String], run: &Run) -> String {
    let pipe = run.pipe.as_deref().unwrap_or("");
    let s = |s: &str| s.to_string();
    if has(orig, "--help") {
        s("--once")
    } else if has(orig, "--man") {
        s(".TH iptop 8")
    } else if has(orig, "--completions") {
        s("iptop")
    } else if has(orig, "--list-netns") {
        labs.swarm.host()
    } else if value(orig, "--view") == Some("services") {
        if has(orig, "--replay") {
            s("kube-dns")
        } else {
            s("no kube-proxy Services")
        }
    } else if value(orig, "--view") == Some("path") {
        s("hook FORWARD")
    } else if pipe.contains("findings") {
        // the lab's blocked connections, dropped by FORWARD's policy
        s("\"id\":\"policy-drop\"")
    } else if has(orig, "--trace") && has(orig, "--stream") {
        s("\"type\":\"trace\"")
    } else if has(orig, "--trace") {
        s("filter DOCKER-INGRESS rule 1")
    } else if has(orig, "-6") {
        // ip6tables in the lab: nothing loaded, FORWARD's policy ACCEPT (IPv4's: DROP)
        if mode(orig) == Mode::Live {
            s("FORWARD ACCEPT")
        } else {
            s("FORWARD (policy ACCEPT)")
        }
    } else if value(orig, "--backend") == Some("legacy") {
        s("legacy")
    } else if run.nft {
        s("filter-forward-in__bridge1")
    } else if value(orig, "--netns").is_some_and(|v| v.starts_with('/')) {
        s("PREROUTING")
    } else if let Some(c) = value(orig, "-c") {
        s(c)
    } else {
        s("DOCKER-INGRESS")
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The shell line that runs `run`.
fn script(run: &Run) -> String {
    let mut line = String::from(env!("CARGO_BIN_EXE_iptop"));
    for a in &run.args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    if let Some(p) = &run.pipe {
        line.push_str(" | ");
        line.push_str(p);
    }
    line
}

/// Real traffic through the labs until `stop`: requests to the published ports,
/// connections dropped by DOCKER-ISOLATION-STAGE-2 and by FORWARD's policy.
fn traffic(labs: &Labs, nft: bool, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        labs.swarm.curl(2);
        labs.swarm.blocked(1);
        labs.swarm.cross(1);
        if nft {
            labs.nft.curl(2);
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

/// Starts `bash -c LINE` in a process group of its own, output to files.
fn spawn(line: &str, out: &Path, err: &Path) -> Child {
    Command::new("bash")
        .args(["-c", line])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).expect("out"))
        .stderr(std::fs::File::create(err).expect("err"))
        .process_group(0)
        .spawn()
        .expect("bash")
}

/// Ends the process group of `child` (iptop and its pipe), and reaps it.
fn stop(mut child: Child) {
    let pg = nix::unistd::Pid::from_raw(-(child.id() as i32));
    let _ = nix::sys::signal::kill(pg, nix::sys::signal::Signal::SIGTERM);
    let end = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < end {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = nix::sys::signal::kill(pg, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
}

/// Waits until `pred` holds of `what()`, or fails with it after `secs`.
fn until(secs: u64, at: &str, what: impl Fn() -> String, pred: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = what();
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < end, "{at}: timed out; it showed:\n{s}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs one iptop command of a page on the labs and checks what it shows.
fn run_iptop(labs: &Labs, n: usize, c: &DocCommand, args: &[String], pipe: Option<&str>) {
    let run = rewrite(labs, args, pipe);
    let want = marker(labs, args, &run);
    let line = script(&run);
    let at = format!("{}\n  ran: {line}\n  wanted: {want:?}", c.at());
    let out = labs.tmp.join(format!("out-{n}"));
    let err = labs.tmp.join(format!("err-{n}"));
    let files = || {
        let mut all = read(&out);
        for f in &run.files {
            all.push_str(&read(f));
        }
        all
    };
    let mode = mode(args);
    let stop_traffic = AtomicBool::new(false);
    thread::scope(|s| {
        // the traffic stops also when a check below fails (the scope waits for it)
        let _stop = StopOnDrop(&stop_traffic);
        if !has(args, "--replay") && !has(args, "--demo") {
            s.spawn(|| traffic(labs, run.nft, &stop_traffic));
        }
        match mode {
            Mode::Once => {
                let mut child = spawn(&line, &out, &err);
                let end = Instant::now() + Duration::from_secs(60);
                let status = loop {
                    if let Some(st) = child.try_wait().expect("wait") {
                        break st;
                    }
                    if Instant::now() > end {
                        stop(child);
                        panic!("{at}: still running after 60 s");
                    }
                    thread::sleep(Duration::from_millis(50));
                };
                stop_traffic.store(true, Ordering::Relaxed);
                assert!(status.success(), "{at}: {status}\n{}", read(&err));
                let all = files();
                assert!(all.contains(&want), "{at}\n{all}\n{}", read(&err));
                same_layout(&at, &c.shown, &all);
            }
            Mode::Stream => {
                let child = spawn(&line, &out, &err);
                let got = until(30, &at, files, |s| s.contains(&want));
                stop_traffic.store(true, Ordering::Relaxed);
                stop(child);
                assert!(!got.is_empty());
            }
            Mode::Listen => {
                let child = spawn(&line, &out, &err);
                let addr = until(10, &at, || read(&err), |s| s.contains("http://"));
                let addr = addr
                    .split("http://")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .expect("an address")
                    .to_string();
                until(20, &at, || scrape(&addr), |s| s.contains(&want));
                stop_traffic.store(true, Ordering::Relaxed);
                stop(child);
            }
            Mode::Live => {
                let tmux = Tmux::start(&line, 120, 40);
                let shown = || tmux.capture();
                until(20, &at, shown, |s| s.contains(&want));
                stop_traffic.store(true, Ordering::Relaxed);
                tmux.keys(&["q"]);
                let s = tmux.wait_for(10, "iptop to quit", |s| s.contains("EXIT="));
                assert!(s.contains("EXIT=0"), "{at}\n{s}");
            }
        }
        stop_traffic.store(true, Ordering::Relaxed);
    });
    for f in &run.files {
        let text = read(f);
        assert!(!text.is_empty(), "{at}: {} is empty", f.display());
        if has(args, "--record") {
            assert!(text.starts_with("# iptop recording"), "{at}: {text:.200}");
        }
        if value(args, "--format") == Some("json") {
            let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            crate::schema::check(&crate::schema::validator(), &doc, &at);
        }
    }
    eprintln!("ran ({mode:?}): {}", c.at());
}

/// The page's example output has the layout of the real one: its `table` and `hook`
/// lines are the real output's (without the `nothing moved (folded)` a window with
/// other traffic may not show).
fn same_layout(at: &str, shown: &[String], real: &str) {
    let key = |l: &str| -> Option<String> {
        let l = l.trim_end();
        (l.starts_with("table ") || l.starts_with("hook "))
            .then(|| l.trim_end_matches(" · nothing moved (folded)").to_string())
    };
    let real: Vec<String> = real.lines().filter_map(key).collect();
    for l in shown.iter().filter_map(|l| key(l)) {
        assert!(
            real.contains(&l),
            "{at}: the page shows `{l}`, the real output has:\n{}",
            real.join("\n")
        );
    }
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// GET /metrics: the body, or the error.
fn scrape(addr: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return "no connection".into();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp
}

#[test]
#[ignore = "needs root: network namespaces, real iptables"]
fn every_command_of_the_pages_runs_on_the_lab() {
    let tmp = tempfile::tempdir().expect("tmp");
    let labs = Labs {
        swarm: Lab::up("iptables-restore"),
        nft: Lab::up_nft(),
        tmp: tmp.path().to_path_buf(),
    };
    // the paste `--replay listing.txt` stands for: `iptables -t nat -vnL` on the lab
    let listing = labs.swarm.host_cmd(&["iptables", "-t", "nat", "-vnL"]);
    std::fs::write(labs.tmp.join("listing.txt"), &listing.stdout).expect("listing.txt");

    let mut seen = std::collections::HashSet::new();
    let (mut ran, mut by_lab, mut elsewhere) = (0, 0, Vec::new());
    for (n, c) in all_commands().iter().enumerate() {
        if !seen.insert(c.text.clone()) {
            continue;
        }
        match classify(&c.text).unwrap_or_else(|e| panic!("{}: {e}", c.at())) {
            Kind::Iptop { args, pipe } => {
                run_iptop(&labs, n, c, &args, pipe.as_deref());
                ran += 1;
            }
            Kind::Lab { script, args } => {
                let lab = if script == "lab.sh" {
                    &labs.swarm
                } else {
                    &labs.nft
                };
                if matches!(args[0].as_str(), "up" | "down") {
                    // what Lab::up and its drop run, with the lab's own LAB_PREFIX
                    by_lab += 1;
                    continue;
                }
                let out = Command::new("bash")
                    .arg(root().join("tests/lab").join(&script))
                    .args(&args)
                    .env("LAB_PREFIX", &lab.prefix)
                    .output()
                    .expect("lab script");
                assert!(
                    out.status.success(),
                    "{}: {}",
                    c.at(),
                    String::from_utf8_lossy(&out.stderr)
                );
                eprintln!("ran: {}", c.at());
                ran += 1;
            }
            Kind::Ci { file, .. } => elsewhere.push(format!("{} (by {file})", c.at())),
            Kind::NotRun(why) => elsewhere.push(format!("{} (not run: {why})", c.at())),
        }
    }
    let prefixes = [labs.swarm.prefix.clone(), labs.nft.prefix.clone()];
    drop(labs);
    // `lab.sh down` and `nft-docker29.sh down` left nothing
    let left = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let left = String::from_utf8_lossy(&left.stdout);
    for p in prefixes {
        assert!(!left.contains(&p), "{p}* left behind:\n{left}");
    }
    eprintln!("{ran} commands run, {by_lab} lab up/down by Lab; elsewhere:");
    for e in &elsewhere {
        eprintln!("  {e}");
    }
    assert!(ran >= 40, "only {ran} run");
}
