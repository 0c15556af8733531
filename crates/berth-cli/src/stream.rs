//! Copying between the local stdio and a hijacked attach or exec connection, as docker/cli's
//! `hijackedIOStreamer`: stdin goes up (through the detach-key filter when there is a TTY)
//! and is half-closed at its end; output comes down raw with a TTY, else demultiplexed
//! into stdout and stderr.

use crate::tty::RawTerminal;
use berth_client::stdcopy::{Demuxer, StdStream};
use berth_client::Hijacked;
use std::io::{Read, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const DEFAULT_DETACH_KEYS: [u8; 2] = [16, 17];

pub struct StreamOptions {
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach_keys: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The output ended (the process exited or the daemon closed the stream).
    Finished,
    /// The user typed the detach keys.
    Detached,
}

/// moby/term's escape proxy: holds back bytes that could begin the detach sequence, and
/// reports when the whole sequence was typed (those bytes are never sent).
pub struct EscapeFilter {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeFilter {
    pub fn new(keys: Vec<u8>) -> EscapeFilter {
        EscapeFilter { keys, matched: 0 }
    }

    /// Bytes to forward from `input`, and whether the sequence completed.
    pub fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &byte in input {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if byte == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(byte);
                }
            }
        }
        (out, false)
    }
}

/// Reads stdin on a thread of its own (a blocking read must not hold the runtime at exit).
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sender.blocking_send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receiver
}

fn write_out(stream: StdStream, bytes: &[u8]) -> std::io::Result<()> {
    match stream {
        StdStream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(bytes)?;
            err.flush()
        }
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
    }
}

/// Streams until the output ends or the user detaches. `raw` (the terminal in raw mode) is
/// restored as soon as the output ends, before anything else is printed.
pub async fn stream(
    hijacked: Hijacked,
    options: StreamOptions,
    raw: Option<RawTerminal>,
) -> anyhow::Result<StreamEnd> {
    let Hijacked {
        mut reader,
        mut writer,
    } = hijacked;
    let tty = options.tty;
    let want_output = options.stdout || options.stderr;
    let output = async move {
        let mut buffer = vec![0u8; 32 * 1024];
        let mut demuxer = Demuxer::new();
        loop {
            let n = reader.read(&mut buffer).await?;
            if n == 0 {
                return anyhow::Ok(());
            }
            if tty {
                write_out(StdStream::Stdout, &buffer[..n])?;
                continue;
            }
            demuxer.push(&buffer[..n]);
            while let Some((stream, payload)) = demuxer.next_frame()? {
                match stream {
                    StdStream::System => {
                        anyhow::bail!("{}", String::from_utf8_lossy(&payload).trim_end())
                    }
                    StdStream::Stdout if options.stdout => write_out(stream, &payload)?,
                    StdStream::Stderr if options.stderr => write_out(stream, &payload)?,
                    _ => {}
                }
            }
        }
    };
    let detach_keys = if tty { options.detach_keys } else { Vec::new() };
    let send_stdin = options.stdin;
    let input = async move {
        if send_stdin {
            let mut chunks = stdin_chunks();
            let mut escape = EscapeFilter::new(detach_keys);
            while let Some(chunk) = chunks.recv().await {
                let (bytes, detached) = escape.filter(&chunk);
                if !bytes.is_empty() && writer.write_all(&bytes).await.is_err() {
                    break;
                }
                if detached {
                    return StreamEnd::Detached;
                }
            }
        }
        // EOF on stdin: half-close, so the process reads EOF and output keeps coming.
        let _ = writer.shutdown().await;
        StreamEnd::Finished
    };
    tokio::pin!(output);
    tokio::pin!(input);
    let result = tokio::select! {
        result = &mut output => result.map(|()| StreamEnd::Finished),
        end = &mut input => match end {
            StreamEnd::Detached => Ok(StreamEnd::Detached),
            StreamEnd::Finished if want_output => output.await.map(|()| StreamEnd::Finished),
            StreamEnd::Finished => Ok(StreamEnd::Finished),
        },
    };
    drop(raw);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequence_is_held_back_and_detects() {
        let mut f = EscapeFilter::new(vec![16, 17]);
        assert_eq!(f.filter(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(f.filter(&[16]), (Vec::new(), false));
        assert_eq!(f.filter(b"x"), (vec![16, b'x'], false));
        assert_eq!(f.filter(&[16, 16]), (vec![16], false));
        assert_eq!(f.filter(&[17, b'z']), (Vec::new(), true));
        let mut none = EscapeFilter::new(Vec::new());
        assert_eq!(none.filter(&[16, 17]), (vec![16, 17], false));
    }
}
