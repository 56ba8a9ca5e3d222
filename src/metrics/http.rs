//! The HTTP side of `--listen`: hyper 1 on tokio (the runtime iptop already runs on),
//! HTTP/1.1 only, one route. `GET /metrics` serves the last poll's text (encoded once,
//! shared by every reply); nothing here polls.
//!
//! Clients cannot take the host's descriptors or memory: at most [`connection_cap`]
//! connections at once (well below `RLIMIT_NOFILE`, so the polls always have pipes for
//! iptables), the oldest closed to make room for a new one; a reply nobody reads for
//! [`WRITE_STALL`] is given up; a request head must come within [`HEAD_READ`]; and
//! `accept` backs off while the process is out of descriptors.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::Exposition;
use super::deadline::Deadline;

/// The Prometheus text format, version 0.0.4.
const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Connections at once, at most (a few Prometheus servers need a few).
const MAX_CONNECTIONS: u64 = 256;
/// Descriptors left for everything but the connections: the polls' pipes to iptables,
/// the runtime, a recording.
const RESERVED_FDS: u64 = 64;
/// A reply whose writing has not moved for this long is given up.
pub const WRITE_STALL: Duration = Duration::from_secs(10);
/// A request head (also the next one on a kept-alive connection) must come within this.
pub const HEAD_READ: Duration = Duration::from_secs(10);
/// hyper's buffer per connection (its least is 8 KiB): a request head is small.
const CONNECTION_BUFFER: usize = 16 * 1024;

/// How many connections to serve at once under this process's `RLIMIT_NOFILE`.
pub fn connection_cap() -> usize {
    use nix::sys::resource::{Resource, getrlimit};
    let soft = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
    cap_for(soft)
}

/// Half of what the reserve leaves, between 1 and [`MAX_CONNECTIONS`].
fn cap_for(nofile: u64) -> usize {
    let cap = (nofile.saturating_sub(RESERVED_FDS) / 2).clamp(1, MAX_CONNECTIONS);
    usize::try_from(cap).unwrap_or(1)
}

/// The connections being served, oldest first; dropping one's sender closes it.
#[derive(Default)]
struct Open {
    next: u64,
    conns: BTreeMap<u64, tokio::sync::oneshot::Sender<()>>,
}

impl Open {
    fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
        open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the oldest connection (its task ends and drops the socket).
    fn close_oldest(&mut self) {
        self.conns.pop_first();
    }
}

/// Takes a connection out of [`Open`] when its task ends, however it ends.
struct Leaves(Arc<Mutex<Open>>, u64);

impl Drop for Leaves {
    fn drop(&mut self) {
        Open::lock(&self.0).conns.remove(&self.1);
    }
}

/// Accepts connections until the task is aborted; each is served on its own task, at
/// most `cap` at once.
pub async fn serve(listener: tokio::net::TcpListener, exposition: Arc<Exposition>, cap: usize) {
    let open = Arc::new(Mutex::new(Open::default()));
    let mut backoff = Duration::ZERO;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                stream
            }
            Err(e) => {
                let out_of_fds = [nix::errno::Errno::EMFILE, nix::errno::Errno::ENFILE]
                    .iter()
                    .any(|n| e.raw_os_error() == Some(*n as i32));
                if out_of_fds {
                    // something else holds the descriptors (the cap leaves room for the
                    // polls): make some room, and wait longer each time it goes on
                    Open::lock(&open).close_oldest();
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tokio::time::sleep(backoff).await;
                }
                // else a client that went away before it was accepted: the next one
                continue;
            }
        };
        let (closer, closed) = tokio::sync::oneshot::channel::<()>();
        let id = {
            let mut o = Open::lock(&open);
            while o.conns.len() >= cap {
                o.close_oldest();
            }
            let id = o.next;
            o.next += 1;
            o.conns.insert(id, closer);
            id
        };
        let leaves = Leaves(open.clone(), id);
        let exposition = exposition.clone();
        tokio::spawn(async move {
            let _leaves = leaves;
            let service = hyper::service::service_fn(move |req| {
                let exposition = exposition.clone();
                async move { Ok::<_, Infallible>(respond(&req, &exposition)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEAD_READ)
                .max_buf_size(CONNECTION_BUFFER)
                .serve_connection(TokioIo::new(Deadline::new(stream, WRITE_STALL)), service);
            // a client that goes away mid-request, or stops reading, is its own business
            tokio::select! {
                _ = conn => {}
                _ = closed => {}
            }
        });
    }
}

fn respond(req: &Request<Incoming>, exposition: &Exposition) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"only GET and HEAD\n"),
        );
        r.headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let mut r = reply(StatusCode::OK, exposition.text());
            r.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(CONTENT_TYPE_TEXT),
            );
            r
        }
        "/" => reply(
            StatusCode::OK,
            Bytes::from_static(b"iptop: iptables rule counters for Prometheus at /metrics\n"),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"not found: try /metrics\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_polls_their_descriptors() {
        assert_eq!(cap_for(128), 32);
        assert_eq!(cap_for(1024), 256);
        assert_eq!(cap_for(u64::MAX), 256);
        assert_eq!(cap_for(64), 1);
        assert_eq!(cap_for(0), 1);
    }
}
