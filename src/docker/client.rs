//! A read-only Docker Engine API client over its unix socket: HTTP/1.1 GET requests
//! written by hand on tokio's `UnixStream`.
//!
//! Why by hand: iptop asks four kinds of question (networks, containers, one container,
//! the version), all small GETs answered with JSON. An HTTP client crate (hyper with
//! hyper-util and http-body-util, or a Docker SDK such as bollard) would bring dozens of
//! crates and a connection pool for that; one request per connection with
//! `Connection: close`, a status line, headers and a body (whole or chunked) is a page
//! of code, tested below against the byte forms dockerd sends.
//!
//! Read-only by construction: the only method this client can send is GET, and only to
//! the paths [`allowed`] lets through.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Answers larger than this are refused (a `docker ps` of thousands of containers is
/// a few megabytes).
const MAX_ANSWER: usize = 64 << 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DockerError {
    #[error("no Docker socket at {0}")]
    Missing(String),
    #[error("cannot connect to the Docker socket {path}: {err}")]
    Connect { path: String, err: String },
    #[error("the Docker Engine at {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("iptop does not ask Docker for {0} (read-only: a few GET paths only)")]
    NotAllowed(String),
    #[error("Docker answered {status} to {path}: {message}")]
    Status {
        status: u16,
        path: String,
        message: String,
    },
    #[error("Docker's answer to {path} is not understood: {why}")]
    Garbled { path: String, why: String },
}

/// Whether iptop may send `GET path`: the version, the network list and one network,
/// the container list and one container's inspection. Names and ids are plain words,
/// so that nothing else (another path, a query, an escape) can be smuggled in.
pub fn allowed(path: &str) -> bool {
    let word = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    // words the API gives a meaning of their own next to an id (for other methods)
    let reserved = |s: &str| matches!(s, "create" | "prune" | "json");
    match path {
        "/version" | "/networks" | "/containers/json" => true,
        _ => {
            if let Some(id) = path.strip_prefix("/networks/") {
                return word(id) && !reserved(id);
            }
            if let Some(rest) = path.strip_prefix("/containers/")
                && let Some(name) = rest.strip_suffix("/json")
            {
                return word(name) && !reserved(name);
            }
            false
        }
    }
}

/// The socket a `--docker-host` / `DOCKER_HOST` value names: `unix:///path` or a path.
pub fn socket_path(host: &str) -> Result<PathBuf, String> {
    if let Some(p) = host.strip_prefix("unix://") {
        return Ok(PathBuf::from(p));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    Err(format!(
        "Docker host `{host}`: iptop reads only a local unix socket (unix:///var/run/docker.sock)"
    ))
}

#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
    timeout: Duration,
}

impl Client {
    pub fn new(path: impl Into<PathBuf>, timeout: Duration) -> Client {
        Client {
            path: path.into(),
            timeout,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether there is a socket to ask (one `stat`; nothing connects).
    pub fn present(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata(&self.path).is_ok_and(|m| m.file_type().is_socket())
    }

    /// `GET path`, its JSON answer.
    pub async fn get(&self, path: &str) -> Result<Value, DockerError> {
        if !allowed(path) {
            return Err(DockerError::NotAllowed(path.to_string()));
        }
        let shown = self.path.display().to_string();
        if !self.present() {
            return Err(DockerError::Missing(shown));
        }
        let raw = tokio::time::timeout(self.timeout, self.exchange(path))
            .await
            .map_err(|_| DockerError::Timeout(shown.clone(), self.timeout))?
            .map_err(|e| DockerError::Connect {
                path: shown,
                err: e.to_string(),
            })?;
        let (status, body) = parse_response(&raw).map_err(|why| DockerError::Garbled {
            path: path.to_string(),
            why,
        })?;
        if status != 200 {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
            return Err(DockerError::Status {
                status,
                path: path.to_string(),
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|e| DockerError::Garbled {
            path: path.to_string(),
            why: e.to_string(),
        })
    }

    async fn exchange(&self, path: &str) -> std::io::Result<Vec<u8>> {
        let mut s = UnixStream::connect(&self.path).await?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: iptop/{}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.len() > MAX_ANSWER {
                return Err(std::io::Error::other("the answer is too large"));
            }
            // a complete answer ends the read even if the daemon keeps the line open
            if complete(&out) {
                break;
            }
        }
        Ok(out)
    }
}

/// Whether `raw` holds a whole response (by Content-Length, or a chunked body's last
/// chunk); without either, the end of the stream ends it.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = find(raw, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    if head.contains("transfer-encoding: chunked") {
        return dechunk(body).is_ok();
    }
    content_length(&head).is_some_and(|n| body.len() >= n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The status code and body of an HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = find(raw, b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not text")?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(format!("not an HTTP/1 answer: {status_line:.60}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {status_line:.60}"))?;
    let lower = head.to_ascii_lowercase();
    let body = &raw[end + 4..];
    let body = if lower.contains("transfer-encoding: chunked") {
        dechunk(body)?
    } else if let Some(n) = content_length(&lower) {
        if body.len() < n {
            return Err(format!("body cut short ({} of {n} bytes)", body.len()));
        }
        body[..n].to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

/// A chunked body, joined; an error until the last (empty) chunk is there.
fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line = find(b, b"\r\n").ok_or("chunk size line cut short")?;
        let size_text = std::str::from_utf8(&b[..line]).map_err(|_| "chunk size is not text")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:.20}"))?;
        b = &b[line + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("chunk cut short".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_read_only_paths_are_allowed() {
        for ok in [
            "/version",
            "/networks",
            "/containers/json",
            "/containers/dock-web/json",
            "/containers/3f2a9c/json",
            "/networks/2c73d6d858ba",
            "/networks/my_net.1",
        ] {
            assert!(allowed(ok), "{ok}");
        }
        for no in [
            "/containers/create",
            "/containers/web/start",
            "/containers/web/kill",
            "/containers/web/exec",
            "/containers/json?all=1",
            "/containers/../secrets/json",
            "/containers/a/b/json",
            "/containers//json",
            "/containers/json/json",
            "/networks/create",
            "/networks/x/connect",
            "/networks/../../v1.41/containers/x/kill",
            "/networks/a%2Fb",
            "/images/json",
            "/volumes",
            "/info",
            "/exec/abc/start",
            "/swarm/leave",
            "version",
            "",
            "/containers/-web/json",
            "/networks/ x",
        ] {
            assert!(!allowed(no), "{no}");
        }
    }

    #[test]
    fn hosts_name_a_unix_socket() {
        assert_eq!(
            socket_path("unix:///var/run/docker.sock"),
            Ok(PathBuf::from("/var/run/docker.sock"))
        );
        assert_eq!(socket_path("/tmp/d.sock"), Ok(PathBuf::from("/tmp/d.sock")));
        for bad in [
            "tcp://10.0.0.1:2375",
            "ssh://me@host",
            "npipe:////./pipe/docker",
            "docker.sock",
        ] {
            let e = socket_path(bad).unwrap_err();
            assert!(e.contains("unix socket") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn responses_whole_sized_and_chunked() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]";
        assert_eq!(parse_response(r), Ok((200, b"[]".to_vec())));
        assert!(complete(r));
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{\"a\r\n3;x=y\r\n\":1\r\n2\r\n}]\r\n0\r\n\r\n";
        assert_eq!(parse_response(r), Ok((200, b"[{\"a\":1}]".to_vec())));
        assert!(complete(r));
        let r = b"HTTP/1.1 404 Not Found\r\nContent-Length: 40\r\n\r\n{\"message\":\"No such container: nothing\"}";
        assert_eq!(parse_response(r).unwrap().0, 404);
        // cut short: not complete, and an error if the stream ends there
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{\"a\r\n";
        assert!(!complete(cut));
        assert!(parse_response(cut).is_err());
        let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]";
        assert!(!complete(cut) && parse_response(cut).is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        assert!(parse_response(b"").is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn refuses_before_connecting() {
        let c = Client::new("/nonexistent/docker.sock", Duration::from_millis(100));
        assert!(!c.present());
        assert_eq!(
            c.get("/containers/x/kill").await,
            Err(DockerError::NotAllowed("/containers/x/kill".into()))
        );
        assert!(matches!(
            c.get("/version").await,
            Err(DockerError::Missing(_))
        ));
    }

    /// A socket that accepts and never answers: the timeout ends the request.
    #[tokio::test(flavor = "current_thread")]
    async fn a_silent_daemon_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sock");
        let l = tokio::net::UnixListener::bind(&p).unwrap();
        let keep = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let c = Client::new(&p, Duration::from_millis(200));
        let t = std::time::Instant::now();
        assert!(matches!(
            c.get("/version").await,
            Err(DockerError::Timeout(..))
        ));
        assert!(t.elapsed() < Duration::from_secs(2));
        keep.abort();
    }
}
