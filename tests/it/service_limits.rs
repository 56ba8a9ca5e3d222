//! The services under abuse: `--listen` keeps answering and polling while clients hold
//! connections they never read (under a low descriptor limit), and `--stream` ends at
//! once on SIGTERM/SIGINT while its reader has stopped reading.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::hostile::Ns;
use crate::common::iptop;

/// `n` rules in a chain INPUT jumps to, in `ns`'s filter table.
fn load_rules(ns: &Ns, n: usize) {
    let mut r = String::from(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SVC - [0:0]\n-A INPUT -j SVC\n",
    );
    for i in 0..n {
        let _ = writeln!(
            r,
            "-A SVC -p tcp --dport {} -m comment --comment \"service {i}\" -j ACCEPT",
            1024 + i
        );
    }
    r.push_str("COMMIT\n");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0, "iptables-restore"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("iptables-restore");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(r.as_bytes())
        .expect("rules");
    assert!(child.wait().expect("wait").success());
}

/// `iptop --listen` in `ns` with `RLIMIT_NOFILE` at `nofile`; killed when dropped.
struct Served {
    child: Child,
    addr: SocketAddr,
    /// What it said on stderr after its address.
    said: Arc<Mutex<Vec<String>>>,
}

impl Served {
    fn start(ns: &Ns, nofile: u64) -> Served {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_iptop")])
            .args(["--listen", "127.0.0.1:0", "-i", "500ms"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_NOFILE,
                    nofile,
                    nofile,
                )
                .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.spawn().expect("iptop");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        err.read_line(&mut line).expect("stderr line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let said = Arc::new(Mutex::new(Vec::new()));
        let keep = said.clone();
        std::thread::spawn(move || {
            for l in err.lines().map_while(Result::ok) {
                keep.lock().expect("lock").push(l);
            }
        });
        Served { child, addr, said }
    }

    /// Resident memory (KiB) and open descriptors.
    fn usage(&self) -> (u64, usize) {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("fd")
            .count();
        (rss, fds)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` on a thread inside `ns` (its sockets are made there).
fn in_ns<R: Send>(ns: &Ns, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = std::fs::File::open(format!("/run/netns/{}", ns.0)).expect("netns");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("client thread")
    })
}

/// `n` connections, each with a 4 KiB receive buffer, that send 2,000 pipelined
/// `GET /metrics` (as much as the socket takes) and never read.
fn stalled(addr: SocketAddr, n: usize) -> Vec<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let requests = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000);
    let held: Vec<socket2::Socket> = (0..n)
        .filter_map(|_| {
            let mut s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
            s.set_recv_buffer_size(4096).expect("rcvbuf");
            // a loaded machine may let the accept queue overflow for a moment: such a
            // client is not held, and enough others are (asserted below)
            s.connect_timeout(&addr.into(), Duration::from_secs(5))
                .ok()?;
            s.set_nonblocking(true).expect("nonblocking");
            let mut sent = 0;
            while sent < requests.len() {
                match s.write(&requests.as_bytes()[sent..]) {
                    Ok(k) if k > 0 => sent += k,
                    _ => break,
                }
            }
            Some(s)
        })
        .collect();
    assert!(
        held.len() * 10 >= n * 9,
        "only {} of {n} stalled clients connected",
        held.len()
    );
    held
}

/// A fresh scrape: how long it took and the body, or why it failed.
fn scrape(addr: SocketAddr) -> Result<(Duration, String), String> {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("request: {e}"))?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .map_err(|e| format!("reply after {:?}: {e}", started.elapsed()))?;
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no reply: {resp:?}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.to_string());
    }
    Ok((started.elapsed(), body.to_string()))
}

/// A sample's value (the first of the series).
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `clients` stalled connections on `--listen` under `RLIMIT_NOFILE` = `nofile`: fresh
/// scrapes answer in time, polls go on without failing, and once the write deadline has
/// passed the stalled connections are closed. Returns what it measured, for the log.
fn stalled_clients(clients: usize, nofile: u64, rules: usize) -> String {
    let ns = Ns::new();
    ns.ipt("ip", &["link", "set", "lo", "up"]);
    load_rules(&ns, rules);
    let served = Served::start(&ns, nofile);
    let addr = served.addr;
    // the first poll in
    let started = Instant::now();
    while !in_ns(&ns, || scrape(addr))
        .is_ok_and(|(_, b)| value(&b, "iptop_rule_packets_total").is_some())
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no poll came in"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let idle = served.usage();
    let report = in_ns(&ns, || {
        let held = stalled(addr, clients);
        std::thread::sleep(Duration::from_secs(2));
        let loaded = served.usage();
        let mut polls = Vec::new();
        let mut took = Vec::new();
        for _ in 0..3 {
            let (t, body) = scrape(addr).unwrap_or_else(|e| {
                panic!(
                    "a fresh scrape with {clients} stalled clients: {e} (iptop: {loaded:?} KiB, fds; said {:?})",
                    served.said.lock().expect("lock")
                )
            });
            // the bug this guards against is a scrape that never answers (the 5 s
            // read timeout above); a loaded machine can take a second or two
            assert!(t < Duration::from_secs(4), "a scrape took {t:?}");
            assert_eq!(value(&body, "iptop_last_poll_success"), Some(1.0), "{body}");
            assert!(!body.contains("iptop_poll_failures_total{"), "{body}");
            polls.push(value(&body, "iptop_polls_total").expect("polls"));
            took.push(t);
            std::thread::sleep(Duration::from_secs(1));
        }
        // polls go on (every 500 ms, stretched on a loaded machine; a starved poller
        // stops for good)
        assert!(
            polls.windows(2).all(|w| w[1] >= w[0]) && polls[2] > polls[0],
            "polls stopped: {polls:?}"
        );
        // past the write deadline the stalled replies are given up
        std::thread::sleep(Duration::from_secs(11));
        let after = served.usage();
        drop(held);
        format!(
            "{clients} stalled clients, RLIMIT_NOFILE {nofile}, {rules} rules: idle {} KiB/{} fds, \
             loaded {} KiB/{} fds, scrapes took {took:?}, after the write deadline {} KiB/{} fds",
            idle.0, idle.1, loaded.0, loaded.1, after.0, after.1
        )
    });
    let said = served.said.lock().expect("lock").clone();
    assert!(
        !said.iter().any(|l| l.contains("poll failed")),
        "polls failed: {said:?}"
    );
    report
}

#[test]
#[ignore = "needs root: network namespaces"]
fn listen_serves_and_polls_with_stalled_clients_at_a_low_fd_limit() {
    let report = stalled_clients(118, 128, 5000);
    eprintln!("{report}");
    // the fds must have come down to about the idle count once the deadline passed
    let after_fds: usize = report
        .rsplit("fds")
        .nth(1)
        .and_then(|s| s.rsplit('/').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("after fds");
    assert!(after_fds < 30, "stalled connections kept: {report}");
}

#[test]
#[ignore = "needs root: network namespaces"]
fn listen_bounds_a_thousand_stalled_clients() {
    // the test holds 1,000 sockets of its own
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        hard.min(8192),
        hard,
    )
    .expect("setrlimit");
    eprintln!("{}", stalled_clients(1000, 4096, 5000));
}

/// Whether a thread of `pid` is blocked writing to a pipe.
fn blocked_on_pipe(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|t| {
            std::fs::read_to_string(t.path().join("wchan")).is_ok_and(|w| w.contains("pipe_write"))
        })
}

#[test]
fn a_stream_whose_reader_stalls_still_ends_on_sigterm_and_sigint() {
    use nix::sys::signal::Signal;
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // the demo streams 600 KB at once: far more than the pipe holds
        let mut child = iptop()
            .args(["--demo", "--stream"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("iptop");
        let started = Instant::now();
        while !blocked_on_pipe(child.id()) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "iptop never filled the pipe"
            );
            assert!(child.try_wait().expect("wait").is_none(), "ended early");
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, sig).expect("kill");
        let sent = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if sent.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{sig}: still running 5 s after it, its reader stalled");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = sent.elapsed();
        assert!(took < Duration::from_secs(2), "{sig}: ended after {took:?}");
        // docs/outputs.md: SIGINT, SIGTERM end the stream with exit 0, quietly
        assert!(status.success(), "{sig}: {status}");
        let mut err = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("stderr");
        assert!(err.is_empty(), "{sig}: {err}");
        drop(child.stdout.take());
    }
}
