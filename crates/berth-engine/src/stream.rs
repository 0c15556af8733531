//! Bridges between blocking work and the HTTP streams: a `Read` over a request body (load,
//! import, archive upload), a `Write` that feeds a channel (image save), and a sender of
//! Docker's JSON progress messages (load, import).

use berth_api::models::progress::JsonMessage;
use berth_api::{RequestBody, ResponseBytes};
use bytes::Bytes;
use std::io::{self, Read, Write};
use tokio::sync::mpsc;

/// Chunks go out at this size; large enough to keep the per-chunk cost small.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight; bounds memory when the client reads slower than we write.
const DEPTH: usize = 8;

/// A blocking writer whose bytes become the response body. When the client goes away, writes
/// fail with `BrokenPipe`, which stops the work that feeds it.
pub struct ChannelWriter {
    sender: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    pub fn channel() -> (ChannelWriter, ResponseBytes) {
        let (sender, receiver) = mpsc::channel(DEPTH);
        let writer = ChannelWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK),
        };
        (writer, receiver)
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send_buffer()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send_buffer();
    }
}

/// Sends JSON messages from blocking code; a departed client is ignored (the work finishes
/// and its result stays, as with Docker).
pub struct MessageSender {
    sender: mpsc::Sender<Bytes>,
}

impl MessageSender {
    pub fn channel() -> (MessageSender, ResponseBytes) {
        let (sender, receiver) = mpsc::channel(64);
        (MessageSender { sender }, receiver)
    }

    pub fn send(&self, message: JsonMessage) {
        let _ = self.sender.blocking_send(message.to_line());
    }
}

/// The request body handed to blocking code in chunks of about 1 MiB: an async task gathers
/// the body's frames (often 16-32 KiB each), so the extractor wakes once per chunk rather
/// than once per frame, and writes files in large pieces.
pub struct LargeChunks {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl LargeChunks {
    const CHUNK: usize = 1 << 20;

    pub fn spawn(mut body: RequestBody) -> LargeChunks {
        use tokio::io::AsyncReadExt;
        let (sender, chunks) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let mut chunk = bytes::BytesMut::with_capacity(Self::CHUNK);
                let result = loop {
                    match body.read_buf(&mut chunk).await {
                        Ok(0) => break Ok(true),
                        Ok(_) if chunk.len() >= Self::CHUNK - 64 * 1024 => break Ok(false),
                        Ok(_) => {}
                        Err(e) => break Err(e),
                    }
                };
                let done = !matches!(result, Ok(false));
                let message = match result {
                    Ok(_) => Ok(chunk.freeze()),
                    Err(e) => Err(e),
                };
                if sender.send(message).await.is_err() || done {
                    return;
                }
            }
        });
        LargeChunks {
            chunks,
            current: Bytes::new(),
        }
    }
}

impl Read for LargeChunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) if chunk.is_empty() => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_chunks_and_flushes_on_drop() {
        let (mut writer, mut receiver) = ChannelWriter::channel();
        let sender = std::thread::spawn(move || {
            writer.write_all(&vec![7u8; CHUNK + 10]).unwrap();
        });
        let mut total = 0;
        while let Some(chunk) = receiver.blocking_recv() {
            total += chunk.len();
        }
        sender.join().unwrap();
        assert_eq!(total, CHUNK + 10);
    }

    #[test]
    fn writer_fails_when_the_reader_is_gone() {
        let (mut writer, receiver) = ChannelWriter::channel();
        drop(receiver);
        assert_eq!(
            writer.write_all(&vec![0u8; CHUNK]).unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
