//! Names from outside, on real processes: a fake Docker Engine API that the test serves
//! on a unix socket of its own (network names, container names and ids with terminal
//! escapes, bidi overrides and multi-byte characters; 100,000 containers; a SandboxKey
//! in a private directory), and rules on real iptables-nft in a namespace the test makes
//! whose comment and chain names hold variation selectors, tag characters and combining
//! marks over ASCII (`A̶C̶C̶E̶P̶T̶`). Nothing raw reaches stdout, stderr, JSON or /metrics,
//! nothing panics, and `--list-netns` ends in time.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::hostile::{Ns, assert_clean};
use crate::common::{iptop, root, run_ok};
use serde_json::{Value, json};

/// A fake Docker Engine API on a unix socket in a directory of the test's own: a thread
/// answers each GET with the JSON `answer` gives for its path (404 when None), one
/// connection at a time, as dockerd answers iptop's `Connection: close` requests.
struct FakeDocker {
    _dir: tempfile::TempDir,
    sock: PathBuf,
}

impl FakeDocker {
    fn start(answer: impl Fn(&str) -> Option<String> + Send + 'static) -> FakeDocker {
        let dir = tempfile::tempdir().expect("tmp");
        let sock = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&sock).expect("bind");
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { break };
                serve(s, &answer);
            }
        });
        FakeDocker { _dir: dir, sock }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }
}

fn serve(mut s: UnixStream, answer: &dyn Fn(&str) -> Option<String>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let req = String::from_utf8_lossy(&req);
    let mut words = req.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    assert_eq!(method, "GET", "iptop sends only GET: {req}");
    let (status, body) = match answer(path) {
        Some(b) => ("200 OK", b),
        None => (
            "404 Not Found",
            r#"{"message":"No such object"}"#.to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body.as_bytes());
}

/// Runs `cmd` to its end or for `limit` at most (then kills it): its output, and
/// whether it ended by itself.
fn run_within(cmd: &mut Command, limit: Duration) -> (Output, bool) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout")));
    let err = read(Box::new(child.stderr.take().expect("stderr")));
    let t = Instant::now();
    let mut ended = true;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if t.elapsed() > limit {
            ended = false;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    };
    (out, ended)
}

/// ESC ] 0 ; (retitle), BEL, ESC [ 2 J (clear), right-to-left override.
const EVIL: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}";

fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| all_strings(x, out)),
        _ => {}
    }
}

fn assert_no_panic(what: &str, out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
    assert!(out.status.success(), "{what}: {}: {err}", out.status);
    assert_clean(&format!("{what} stdout"), &out.stdout);
    assert_clean(&format!("{what} stderr"), &out.stderr);
}

/// A network whose Id is multi-byte text (byte 12 lies inside a character; slicing it
/// panicked, and the panic message wrote the raw id to stderr), names with escapes.
#[test]
fn hostile_names_from_docker_neither_panic_nor_reach_the_terminal() {
    let networks = json!([
        {"Name": format!("shop{EVIL}"), "Id": format!("aéééééééééééé{EVIL}"), "Driver": "bridge",
         "Options": {}, "IPAM": {"Config": [{"Subnet": "10.99.0.0/16"}]}},
        {"Name": format!("gw{EVIL}bridge"), "Id": "9f1c0e3e2b4d5a6f7081920a1b2c3d4e", "Driver": "bridge",
         "Options": {"com.docker.network.bridge.name": "docker_gwbridge"},
         "IPAM": {"Config": [{"Subnet": "172.18.0.0/16"}]}}
    ])
    .to_string();
    let containers = json!([
        {"Id": "c0ffee", "Names": [format!("/web{EVIL}")],
         "NetworkSettings": {"Networks": {"x": {"IPAddress": "172.18.0.2"}}}}
    ])
    .to_string();
    let inspect = json!({
        "Name": format!("/web{EVIL}"), "State": {"Running": true, "Pid": 0},
        "HostConfig": {"NetworkMode": format!("mode{EVIL}")},
        "NetworkSettings": {"SandboxKey": "", "Networks": {format!("net{EVIL}"): {}}}
    })
    .to_string();
    let docker = FakeDocker::start(move |path| match path {
        "/networks" => Some(networks.clone()),
        "/containers/json" => Some(containers.clone()),
        "/containers/c0ffee/json" => Some(inspect.clone()),
        "/version" => Some(r#"{"Version":"28.0.0"}"#.into()),
        _ => None,
    });
    let fx = root().join("tests/fixtures/iptables/docker-swarm.nft.nat-vnxL-lines.txt");
    for format in ["text", "json"] {
        let out = iptop()
            .arg("--replay")
            .arg(&fx)
            .args(["-t", "nat", "--once", "--format", format])
            .args(["--docker-host", &docker.host()])
            .output()
            .expect("run");
        assert_no_panic(&format!("--once --format {format}"), &out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if format == "text" {
            // the names are used, escaped
            assert!(
                stdout.contains("gw\\x1b]0;pwned\\x07\\x1b[2J⟨U+202E⟩bridge"),
                "{stdout}"
            );
            assert!(stdout.contains("web\\x1b]0;pwned"), "{stdout}");
        } else {
            // the true names, read back from the escapes
            let v: Value = serde_json::from_str(&stdout).expect("json");
            let mut strings = Vec::new();
            all_strings(&v, &mut strings);
            assert!(strings.contains(&format!("gw{EVIL}bridge")), "{stdout}");
        }
    }
    for format in ["text", "json"] {
        let out = iptop()
            .args([
                "--list-netns",
                "--format",
                format,
                "--docker-host",
                &docker.host(),
            ])
            .output()
            .expect("run");
        assert_no_panic(&format!("--list-netns --format {format}"), &out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("web"), "{stdout}");
    }
}

/// 100,000 running containers: `--list-netns` inspects a bounded number of them within
/// its deadline and says that the list is cut (it asked for every one, one by one, and
/// was still asking after 20 s).
#[test]
fn list_netns_of_100000_containers_is_cut_in_time() {
    const N: usize = 100_000;
    let list: String = {
        let items: Vec<String> = (0..N)
            .map(|i| format!(r#"{{"Id":"c{i:06}","Names":["/c{i:06}"]}}"#))
            .collect();
        format!("[{}]", items.join(","))
    };
    let docker = FakeDocker::start(move |path| {
        if path == "/containers/json" {
            return Some(list.clone());
        }
        if path == "/networks" {
            return Some("[]".into());
        }
        let id = path.strip_prefix("/containers/")?.strip_suffix("/json")?;
        // a daemon takes its time over each inspection
        std::thread::sleep(Duration::from_millis(1));
        Some(
            json!({
                "Name": format!("/{id}"), "State": {"Running": true, "Pid": 0},
                "HostConfig": {"NetworkMode": "default"},
                "NetworkSettings": {"SandboxKey": "", "Networks": {"bridge": {}}}
            })
            .to_string(),
        )
    });
    let t = Instant::now();
    let (out, ended) = run_within(
        iptop().args(["--list-netns", "--docker-host", &docker.host()]),
        Duration::from_secs(20),
    );
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(ended, "--list-netns still running after {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(out.status.success(), "{err}");
    assert!(err.contains("the list is cut"), "{err}");
    assert!(
        err.contains(&format!("of {N} containers inspected")),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("container:c000000"), "{stdout:.400}");
    assert!(!stdout.contains("container:c099999"));
    eprintln!("--list-netns of {N} containers: {took:?}");
}

/// A SandboxKey that is not under Docker's netns directory is neither entered nor its
/// directory listed (it listed the file names of any directory the daemon named).
#[test]
fn a_sandbox_key_elsewhere_is_not_listed_nor_used() {
    let private = tempfile::tempdir().expect("tmp");
    for f in ["keyfile", "secret-file-a", "secret-file-b"] {
        std::fs::write(private.path().join(f), "").expect("write");
    }
    let key = private.path().join("keyfile").display().to_string();
    let inspect = json!({
        "Name": "/web", "State": {"Running": true, "Pid": 0},
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"SandboxKey": key, "Networks": {"bridge": {}}}
    })
    .to_string();
    let docker = FakeDocker::start(move |path| match path {
        "/containers/json" => Some(r#"[{"Id":"w1","Names":["/web"]}]"#.into()),
        "/containers/w1/json" | "/containers/web/json" => Some(inspect.clone()),
        "/networks" => Some("[]".into()),
        _ => None,
    });
    let dir = private.path().display().to_string();
    for format in ["text", "json"] {
        let out = run_ok(iptop().args([
            "--list-netns",
            "--format",
            format,
            "--docker-host",
            &docker.host(),
        ]));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("web"), "{stdout}");
        assert!(!stdout.contains("secret-file"), "{stdout}");
        assert!(!stdout.contains(&dir), "{stdout}");
    }
    // --netns container:web: the namespace file is not the one the daemon named
    let out = iptop()
        .args(["--netns", "container:web", "--once", "--docker-host"])
        .arg(docker.host())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no network namespace"), "{err}");
    assert!(!err.contains(&dir), "{err}");
}

/// Variation selectors, a tag character and combining marks in a comment and in chain
/// names (one of them `A̶C̶C̶E̶P̶T̶`, each letter struck through).
const STRUCK: &str = "A\u{336}C\u{336}C\u{336}E\u{336}P\u{336}T\u{336}";
const VS_CHAIN: &str = "V\u{fe0f}S\u{e0100}T\u{e0041}";
const COMMENT: &str =
    "vs\u{fe0f} vss\u{e0100} tag\u{e0041}\u{e007f} D\u{336}R\u{336}O\u{336}P\u{336}";
const RAW: [char; 5] = ['\u{336}', '\u{fe0f}', '\u{e0100}', '\u{e0041}', '\u{e007f}'];

fn assert_escaped(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for c in RAW {
        assert!(
            !text.contains(c),
            "{what} holds U+{:04X} raw:\n{text}",
            c as u32
        );
    }
    assert_clean(what, bytes);
}

#[test]
#[ignore = "needs root: network namespaces"]
fn marks_selectors_and_tags_are_escaped_in_text_json_and_metrics() {
    let ns = Ns::new();
    let bin = "iptables-nft";
    for chain in [STRUCK, VS_CHAIN] {
        ns.ipt(bin, &["-N", chain]);
        ns.ipt(bin, &["-A", "INPUT", "-j", chain]);
    }
    ns.ipt(
        bin,
        &[
            "-A",
            STRUCK,
            "-m",
            "comment",
            "--comment",
            COMMENT,
            "-j",
            "ACCEPT",
        ],
    );
    ns.ipt(bin, &["-A", VS_CHAIN, "-j", "DROP"]);
    let once = |format: &str| {
        run_ok(iptop().args([
            "--netns",
            &ns.0,
            "--backend",
            "nft",
            "--once",
            "--format",
            format,
        ]))
    };

    let out = once("text");
    assert_escaped("text stdout", &out.stdout);
    assert_escaped("text stderr", &out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    let struck = "A⟨U+0336⟩C⟨U+0336⟩C⟨U+0336⟩E⟨U+0336⟩P⟨U+0336⟩T⟨U+0336⟩";
    assert!(text.contains(struck), "{text}");
    assert!(text.contains("V⟨U+FE0F⟩S⟨U+E0100⟩T⟨U+E0041⟩"), "{text}");
    assert!(
        text.contains("vs⟨U+FE0F⟩ vss⟨U+E0100⟩ tag⟨U+E0041⟩⟨U+E007F⟩"),
        "{text}"
    );
    assert!(
        text.contains("D⟨U+0336⟩R⟨U+0336⟩O⟨U+0336⟩P⟨U+0336⟩"),
        "{text}"
    );

    let out = once("json");
    assert_escaped("json stdout", &out.stdout);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    // the JSON keeps the true text
    let chains = v["tables"][0]["chains"].as_array().expect("chains");
    for name in [STRUCK, VS_CHAIN] {
        assert!(chains.iter().any(|c| c["name"] == name), "{name}");
    }
    let struck_chain = chains.iter().find(|c| c["name"] == STRUCK).expect("chain");
    assert_eq!(struck_chain["rules"][0]["comment"], COMMENT);

    // /metrics: iptop --listen inside the namespace, scraped from inside it
    run_ok(Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"]));
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(env!("CARGO_BIN_EXE_iptop"))
        .args(["--backend", "nft", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("iptop --listen");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("stderr line");
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let url = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map_or_else(
            || panic!("no address in {line:?}"),
            |r| format!("http://{r}"),
        );
    // scraped once the first poll is in (a loaded machine may take a while to poll)
    let started = std::time::Instant::now();
    let scrape = loop {
        let scrape = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                "curl",
                "-sS",
                "--max-time",
                "10",
                &url,
            ])
            .output();
        let polled = scrape
            .as_ref()
            .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).contains("\niptop_polls_total 0\n"));
        if polled || started.elapsed() > std::time::Duration::from_secs(20) {
            break scrape;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    let scrape = scrape.expect("curl");
    assert!(scrape.status.success(), "{scrape:?}");
    assert_escaped("/metrics", &scrape.stdout);
    let body = String::from_utf8_lossy(&scrape.stdout);
    assert!(body.contains("chain=\"A C C E P T \""), "{body}");
}
