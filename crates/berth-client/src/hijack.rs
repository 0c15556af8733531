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
    use crate::{Endpoint, TlsOptions};
    use tokio::io::AsyncWriteExt;

    /// A one-connection fake daemon: answers the head with `answer`, then echoes what it
    /// reads until EOF (the client's half-close), then says "bye" and closes.
    async fn fake_daemon(answer: &'static str) -> (tempfile::TempDir, Client) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("d.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            assert!(head.contains("Upgrade: tcp\r\n"), "{head}");
            assert!(head.contains("Connection: Upgrade\r\n"), "{head}");
            let mut stream = reader.into_inner();
            stream.write_all(answer.as_bytes()).await.unwrap();
            let mut input = Vec::new();
            stream.read_to_end(&mut input).await.unwrap();
            stream.write_all(&input).await.unwrap();
            stream.write_all(b"bye").await.unwrap();
        });
        let client = Client::new(Endpoint::Unix(socket), &TlsOptions::default()).unwrap();
        (dir, client)
    }

    async fn round_trip(answer: &'static str) -> Result<Vec<u8>, ClientError> {
        let (_dir, client) = fake_daemon(answer).await;
        let Hijacked {
            mut reader,
            mut writer,
        } = client
            .hijack(Method::POST, "/containers/x/attach?stream=1", None)
            .await?;
        writer.write_all(b"abc").await.unwrap();
        writer.shutdown().await.unwrap();
        let mut output = Vec::new();
        reader.read_to_end(&mut output).await.unwrap();
        Ok(output)
    }

    #[tokio::test]
    async fn upgrades_with_101_and_half_closes() {
        let out = round_trip(
            "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly-",
        )
        .await
        .unwrap();
        assert_eq!(out, b"early-abcbye");
    }

    #[tokio::test]
    async fn accepts_the_legacy_200_then_raw_stream() {
        let out = round_trip(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n",
        )
        .await
        .unwrap();
        assert_eq!(out, b"abcbye");
    }

    #[tokio::test]
    async fn errors_carry_the_daemons_message() {
        let err = round_trip(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 37\r\n\r\n{\"message\":\"No such container: x\"}\n  ",
        )
        .await
        .err()
        .unwrap();
        match err {
            ClientError::Daemon { status, message } => {
                assert_eq!(status, StatusCode::NOT_FOUND);
                assert_eq!(message, "No such container: x");
            }
            other => panic!("{other}"),
        }
    }

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
