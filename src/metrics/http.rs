//! The HTTP side of `--listen`: hyper 1 on tokio (the runtime iptop already runs on),
//! HTTP/1.1 only, one route. `GET /metrics` encodes the last poll; nothing here polls.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::Exposition;

/// The Prometheus text format, version 0.0.4.
const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Accepts connections until the task is aborted; each is served on its own task.
pub async fn serve(listener: tokio::net::TcpListener, exposition: Arc<Exposition>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // out of file descriptors and the like: wait a moment, go on
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let exposition = exposition.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let exposition = exposition.clone();
                async move { Ok::<_, Infallible>(respond(&req, &exposition)) }
            });
            // a client that goes away mid-request is its own business
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
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
