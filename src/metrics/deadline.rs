//! A connection of `--listen` that gives up on a client that stops reading: a write
//! that makes no progress for its deadline fails (`TimedOut`), and hyper then drops the
//! connection with its socket and the reply it held. (Reading has hyper's own deadline
//! for request heads, also between the requests of a kept-alive connection.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io` whose writes fail once they have been blocked for `stall` in a row.
pub struct Deadline<T> {
    io: T,
    stall: Duration,
    /// Armed when a write blocks; cleared when one goes through.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> Deadline<T> {
    pub fn new(io: T, stall: Duration) -> Deadline<T> {
        Deadline {
            io,
            stall,
            timer: None,
        }
    }

    /// A write's outcome through the deadline: pending arms it (and fails once it has
    /// passed), anything else clears it.
    fn watch<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if r.is_ready() {
            self.timer = None;
            return r;
        }
        let stall = self.stall;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        if timer.as_mut().poll(cx).is_ready() {
            self.timer = None;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )));
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Deadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, r)
    }

    /// As the socket's: hyper then queues the shared reply instead of copying it.
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_shutdown(cx);
        self.watch(cx, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn a_write_nobody_reads_fails_at_the_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            // a pipe of 64 bytes whose reader never reads
            let (a, _b) = tokio::io::duplex(64);
            let mut d = Deadline::new(a, Duration::from_millis(200));
            let started = std::time::Instant::now();
            let e = d
                .write_all(&[0u8; 4096])
                .await
                .expect_err("a write nobody reads");
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            let took = started.elapsed();
            assert!(took >= Duration::from_millis(200), "{took:?}");
            assert!(took < Duration::from_secs(2), "{took:?}");
        });
    }

    #[test]
    fn a_slow_reader_that_keeps_reading_is_served() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use tokio::io::AsyncReadExt;
            let (a, mut b) = tokio::io::duplex(64);
            let reader = tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    match b.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                got.len()
            });
            // 1 KiB at 64 bytes each 20 ms: 320 ms in all, each step under the deadline
            let mut d = Deadline::new(a, Duration::from_millis(150));
            d.write_all(&[1u8; 1024]).await.expect("written");
            d.shutdown().await.expect("shut");
            drop(d);
            assert_eq!(reader.await.expect("reader"), 1024);
        });
    }
}
