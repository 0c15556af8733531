//! The older hijack form: a client that sends attach or exec start without `Upgrade: tcp`
//! gets `200 OK` and then raw bytes on the same connection (moby answers both forms). hyper
//! hands a connection over only after a `101`, so for such a request (the first on its
//! connection) [`prepare`] adds `Upgrade: tcp` to the head hyper reads and [`Prepared`]
//! rewrites the `101` head hyper writes into Docker's `200` head. Every other connection
//! passes through unchanged, apart from replaying the bytes read to look at the head.

use crate::router::{parse_path, route, ContainerAction, Route};
use http::Method;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// A request head larger than this is passed through as is (hyper judges it).
const HEAD_LIMIT: usize = 16 * 1024;
const LEGACY_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n";

fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Whether a request head is an attach or exec start asking for the older form.
fn wants_legacy_hijack(head: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(head) else {
        return false;
    };
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some("POST"), Some(target), Some("HTTP/1.1")) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return false;
    };
    let upgrade = lines.any(|line| {
        line.split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("upgrade"))
    });
    if upgrade {
        return false;
    }
    let path = target.split('?').next().unwrap_or_default();
    let Some(parsed) = parse_path(path) else {
        return false;
    };
    matches!(
        route(&Method::POST, &parsed.segments),
        Some(Route::Container(_, ContainerAction::Attach))
            | Some(Route::Exec(_, crate::router::ExecAction::Start))
    )
}

/// A connection with the bytes already read in front, and the rewrite of a legacy hijack.
pub struct Prepared<S> {
    inner: S,
    prefix: Vec<u8>,
    offset: usize,
    /// Rewrite the next `101` head hyper writes.
    legacy: bool,
    /// The `200` head still to be written.
    pending: Vec<u8>,
}

/// Reads the first request head (without waiting for more than it needs) and prepares the
/// connection for hyper.
pub async fn prepare<S: AsyncRead + Unpin>(mut io: S) -> Prepared<S> {
    let mut prefix = Vec::new();
    let mut buf = [0u8; 4096];
    let mut legacy = false;
    while prefix.len() < HEAD_LIMIT {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => prefix.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = head_end(&prefix) {
            if wants_legacy_hijack(&prefix[..end]) {
                legacy = true;
                // Before the blank line that ends the head.
                let at = end - 2;
                prefix.splice(at..at, b"Upgrade: tcp\r\n".iter().copied());
            }
            break;
        }
    }
    Prepared {
        inner: io,
        prefix,
        offset: 0,
        legacy,
        pending: Vec::new(),
    }
}

impl<S: AsyncWrite + Unpin> Prepared<S> {
    /// Writes what is left of the `200` head; Ready once it is all out.
    fn flush_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prepared<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.offset < this.prefix.len() {
            let rest = &this.prefix[this.offset..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.offset += n;
            if this.offset == this.prefix.len() {
                this.prefix = Vec::new();
                this.offset = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prepared<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.legacy && buf.starts_with(b"HTTP/1.1 101 ") {
            if let Some(end) = head_end(buf) {
                this.legacy = false;
                this.pending = LEGACY_HEAD.to_vec();
                // The head is ours now; what is not written yet goes out before any more.
                if let Poll::Ready(Err(e)) = this.flush_pending(cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(end));
            }
        }
        match this.flush_pending(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.legacy || !this.pending.is_empty() {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return Pin::new(this).poll_write(cx, first);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // A legacy connection's head must reach `poll_write` whole, not split in slices.
        !self.legacy && self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.flush_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.flush_pending(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn only_attach_and_exec_start_without_upgrade_are_legacy() {
        let head = |s: &str| format!("{s}\r\nHost: x\r\n\r\n");
        assert!(wants_legacy_hijack(
            head("POST /v1.40/containers/c/attach?stream=1 HTTP/1.1").as_bytes()
        ));
        assert!(wants_legacy_hijack(
            head("POST /exec/abc/start HTTP/1.1").as_bytes()
        ));
        assert!(!wants_legacy_hijack(
            head("POST /containers/c/start HTTP/1.1").as_bytes()
        ));
        assert!(!wants_legacy_hijack(
            head("GET /exec/abc/json HTTP/1.1").as_bytes()
        ));
        let upgraded = "POST /exec/abc/start HTTP/1.1\r\nupgrade: tcp\r\n\r\n";
        assert!(!wants_legacy_hijack(upgraded.as_bytes()));
    }

    #[tokio::test]
    async fn the_head_gets_upgrade_and_the_101_becomes_200() {
        let (client, server) = tokio::io::duplex(4096);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        client_write
            .write_all(b"POST /exec/x/start HTTP/1.1\r\nHost: a\r\n\r\n{}")
            .await
            .unwrap();
        let mut prepared = prepare(server).await;
        assert!(prepared.legacy);
        let mut seen = vec![0u8; 100];
        let n = prepared.read(&mut seen).await.unwrap();
        assert_eq!(
            &seen[..n],
            b"POST /exec/x/start HTTP/1.1\r\nHost: a\r\nUpgrade: tcp\r\n\r\n{}"
        );
        prepared
            .write_all(b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\nraw")
            .await
            .unwrap();
        prepared.flush().await.unwrap();
        let mut got = vec![0u8; LEGACY_HEAD.len() + 3];
        client_read.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..LEGACY_HEAD.len()], LEGACY_HEAD);
        assert_eq!(&got[LEGACY_HEAD.len()..], b"raw");
    }
}
