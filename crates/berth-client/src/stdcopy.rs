//! Docker's stdcopy framing: without a TTY, attach, exec and logs multiplex stdout and
//! stderr as frames of an 8-byte header (stream type, three zero bytes, big-endian length)
//! followed by the payload.

use bytes::{Buf, Bytes, BytesMut};

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin,
    Stdout,
    Stderr,
    /// API 1.42+: an error from the daemon, ending the stream.
    System,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Unrecognized input header: {0}")]
pub struct FrameError(pub u8);

/// Splits a byte stream into frames, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub struct Demuxer {
    buffer: BytesMut,
}

impl Demuxer {
    pub fn new() -> Demuxer {
        Demuxer::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<(StdStream, Bytes)>, FrameError> {
        if self.buffer.len() < 8 {
            return Ok(None);
        }
        let stream = match self.buffer[0] {
            0 => StdStream::Stdin,
            1 => StdStream::Stdout,
            2 => StdStream::Stderr,
            3 => StdStream::System,
            other => return Err(FrameError(other)),
        };
        let size = u32::from_be_bytes([
            self.buffer[4],
            self.buffer[5],
            self.buffer[6],
            self.buffer[7],
        ]) as usize;
        if self.buffer.len() < 8 + size {
            return Ok(None);
        }
        self.buffer.advance(8);
        Ok(Some((stream, self.buffer.split_to(size).freeze())))
    }

    /// Bytes left over that do not make a whole frame.
    pub fn remaining(&self) -> usize {
        self.buffer.len()
    }
}

/// One frame, as the daemon writes it (for tests and tools).
pub fn encode_frame(stream: StdStream, payload: &[u8]) -> Vec<u8> {
    let kind = match stream {
        StdStream::Stdin => 0,
        StdStream::Stdout => 1,
        StdStream::Stderr => 2,
        StdStream::System => 3,
    };
    let mut frame = vec![kind, 0, 0, 0];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_chunks() {
        let mut wire = encode_frame(StdStream::Stdout, b"hello\n");
        wire.extend(encode_frame(StdStream::Stderr, b"oops"));
        wire.extend(encode_frame(StdStream::Stdout, b""));
        let mut demuxer = Demuxer::new();
        let mut frames = Vec::new();
        for byte in wire {
            demuxer.push(&[byte]);
            while let Some(frame) = demuxer.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(
            frames,
            vec![
                (StdStream::Stdout, Bytes::from_static(b"hello\n")),
                (StdStream::Stderr, Bytes::from_static(b"oops")),
                (StdStream::Stdout, Bytes::new()),
            ]
        );
        assert_eq!(demuxer.remaining(), 0);
    }

    #[test]
    fn unknown_stream_types_are_errors() {
        let mut demuxer = Demuxer::new();
        demuxer.push(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert_eq!(demuxer.next_frame(), Err(FrameError(9)));
    }
}
