//! Connection hijack for attach and exec start: the request asks for `Upgrade: tcp`; the
//! daemon answers `101 Switching Protocols` (or, before API 1.24-era servers upgraded, a
//! plain `200` with `application/vnd.docker.raw-stream`) and the socket then carries the
//! container's raw stdio both ways. The HTTP head is written and read by hand, as docker/cli's
//! hijack does, so both answers leave us the bare socket, and the write side can be
//! half-closed (`shutdown(SHUT_WR)`) to deliver EOF to the process's stdin.

use crate::connect::{Client, ClientError, Io};
use berth_api::error::ErrorBody;
use http::{Method, StatusCode};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};

/// The read side of a hijacked connection: the container's output.
pub type HijackedReader = Box<dyn AsyncRead + Send + Unpin>;

/// The write side of a hijacked connection: the container's stdin. `shutdown()` half-closes
/// the socket, which the daemon turns into EOF on stdin.
pub type HijackedWriter = tokio::io::WriteHalf<Box<dyn Io>>;

/// A hijacked connection, split.
pub struct Hijacked {
    pub reader: HijackedReader,
    pub writer: HijackedWriter,
}

impl Client {
    /// Sends `method path` with an optional JSON body asking to upgrade the connection, and
    /// returns the raw stream once the daemon has agreed (101, or the legacy 200).
    pub async fn hijack(
        &self,
        method: Method,
        path_and_query: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Hijacked, ClientError> {
        let body = match json {
            Some(value) => serde_json::to_vec(value)?,
            None => Vec::new(),
        };
        let mut head = format!(
            "{method} /v{}{path_and_query} HTTP/1.1\r\nHost: {}\r\nUser-Agent: berth-cli/{}\r\n\
             Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n",
            self.version(),
            self.host_header(),
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        if json.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str("\r\n");
        let mut io = self.connect().await?;
        let io_err = |e: std::io::Error| ClientError::Io(e.to_string());
        let mut request = head.into_bytes();
        request.extend_from_slice(&body);
        io.write_all(&request).await.map_err(io_err)?;
        io.flush().await.map_err(io_err)?;

        let mut reader = BufReader::new(io);
        let status_line = read_head_line(&mut reader).await?;
        let status = parse_status(&status_line)?;
        let mut content_length = None;
        let mut chunked = false;
        loop {
            let line = read_head_line(&mut reader).await?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        if status != StatusCode::SWITCHING_PROTOCOLS && status != StatusCode::OK {
            let bytes = read_error_body(&mut reader, content_length, chunked).await?;
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|body| body.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_string());
            return Err(ClientError::Daemon { status, message });
        }
        let buffered = reader.buffer().to_vec();
        let io = reader.into_inner();
        let (read_half, writer) = tokio::io::split(io);
        let reader: HijackedReader = Box::new(std::io::Cursor::new(buffered).chain(read_half));
        Ok(Hijacked { reader, writer })
    }
}

async fn read_head_line(reader: &mut BufReader<Box<dyn Io>>) -> Result<String, ClientError> {
    let mut line = Vec::new();
    let n = reader
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| ClientError::Io(e.to_string()))?;
    if n == 0 {
        return Err(ClientError::Io(
            "the daemon closed the connection before answering".into(),
        ));
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

fn parse_status(line: &str) -> Result<StatusCode, ClientError> {
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| ClientError::Io(format!("malformed HTTP response: {line:?}")))
}

async fn read_error_body(
    reader: &mut BufReader<Box<dyn Io>>,
    content_length: Option<usize>,
    chunked: bool,
) -> Result<Vec<u8>, ClientError> {
    let io_err = |e: std::io::Error| ClientError::Io(e.to_string());
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_head_line(reader).await?;
            let size =
                usize::from_str_radix(size_line.split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await.map_err(io_err)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = content_length {
        body.resize(length, 0);
        reader.read_exact(&mut body).await.map_err(io_err)?;
    } else {
        reader.read_to_end(&mut body).await.map_err(io_err)?;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status("HTTP/1.1 101 UPGRADED").unwrap(),
            StatusCode::SWITCHING_PROTOCOLS
        );
        assert_eq!(parse_status("HTTP/1.1 200 OK").unwrap(), StatusCode::OK);
        assert!(parse_status("garbage").is_err());
    }
}
