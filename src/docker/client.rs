//! A read-only Docker Engine API client over its unix socket: one HTTP/1.1 GET per
//! connection, spoken by hyper's low-level client (`hyper::client::conn::http1`) on
//! tokio's `UnixStream`.
//!
//! hyper is already in the tree for `/metrics`, so its client adds no crate; it parses
//! the daemon's answers (sizes, chunked bodies, bad framing) with the same code every
//! hyper user runs, instead of a parser of our own for text from outside. No connection
//! pool and no Docker SDK (bollard): iptop asks four kinds of question (networks,
//! containers, one container, the version), a handful of requests at start.
//!
//! Read-only by construction: the only method this client can send is GET, and only to
//! the paths [`allowed`] lets through.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
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
        let (status, body) = tokio::time::timeout(self.timeout, self.exchange(path))
            .await
            .map_err(|_| DockerError::Timeout(shown.clone(), self.timeout))?
            .map_err(|e| match e {
                Exchange::Connect(err) => DockerError::Connect {
                    path: shown,
                    err: err.to_string(),
                },
                Exchange::Garbled(why) => DockerError::Garbled {
                    path: path.to_string(),
                    why,
                },
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

    async fn exchange(&self, path: &str) -> Result<(u16, Vec<u8>), Exchange> {
        use http_body_util::BodyExt as _;
        let stream = UnixStream::connect(&self.path)
            .await
            .map_err(Exchange::Connect)?;
        let garbled = |e: &dyn std::fmt::Display| Exchange::Garbled(e.to_string());
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| garbled(&e))?;
        // the connection is driven beside the request; it ends with this function
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, "docker")
            .header(
                hyper::header::USER_AGENT,
                concat!("iptop/", env!("CARGO_PKG_VERSION")),
            )
            .header(hyper::header::ACCEPT, "application/json")
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .map_err(|e| garbled(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| garbled(&e))?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| garbled(&e))?
            .to_bytes();
        drop(driver);
        Ok((status, body.to_vec()))
    }
}

/// Why an exchange failed: the socket, or what came back over it.
enum Exchange {
    Connect(std::io::Error),
    Garbled(String),
}

/// Aborts the task when dropped (the request timed out, or is done).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    /// `GET /version` against a socket that answers `raw` and closes.
    async fn answered(raw: &'static [u8]) -> Result<Value, DockerError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.sock");
        let l = tokio::net::UnixListener::bind(&p).unwrap();
        let serve = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await;
            let _ = s.write_all(raw).await;
        });
        let r = Client::new(&p, Duration::from_secs(2))
            .get("/version")
            .await;
        serve.abort();
        r
    }

    #[tokio::test(flavor = "current_thread")]
    async fn answers_whole_sized_chunked_and_garbled() {
        let r = answered(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
        )
        .await;
        assert_eq!(r, Ok(serde_json::json!([])));
        let r = answered(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{\"a\r\n3;x=y\r\n\":1\r\n2\r\n}]\r\n0\r\n\r\n").await;
        assert_eq!(r, Ok(serde_json::json!([{"a": 1}])));
        let r = answered(b"HTTP/1.1 404 Not Found\r\nContent-Length: 40\r\n\r\n{\"message\":\"No such container: nothing\"}").await;
        assert!(
            matches!(&r, Err(DockerError::Status { status: 404, message, .. }) if message == "No such container: nothing"),
            "{r:?}"
        );
        // cut short, not HTTP, a bad status: an error naming the path, never a panic
        for raw in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{\"a\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"",
        ] {
            let raw: &'static [u8] = Box::leak(raw.to_vec().into_boxed_slice());
            let r = answered(raw).await;
            assert!(
                matches!(&r, Err(DockerError::Garbled { path, .. }) if path == "/version"),
                "{:?}: {r:?}",
                String::from_utf8_lossy(raw)
            );
        }
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
