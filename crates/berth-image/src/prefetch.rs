//! Reading (and decompressing) a layer blob in a helper thread while the caller applies it,
//! so decompression and hashing overlap the file writes. At most a few chunks are in flight.

use sha2::Digest as _;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver};

const CHUNK: usize = 1 << 20;
const IN_FLIGHT: usize = 8;

/// How far the helper read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Streamed {
    /// It stopped early: a read error, or a consumer that hung up.
    Partly,
    /// To the end; with the `sha256:` digest of the decompressed stream when asked to hash.
    Whole(Option<String>),
}

/// Runs `consume` over the decompressed content of `blob`, read by a helper thread. Returns
/// its result and how far the helper read. With `hash`, the helper hashes each chunk before
/// handing it over, so a consumer that read to the end saw exactly the digested bytes.
pub(crate) fn with_prefetch<T>(
    blob: File,
    hash: bool,
    consume: impl FnOnce(&mut dyn Read) -> T,
) -> (T, Streamed) {
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(IN_FLIGHT);
    std::thread::scope(|scope| {
        let helper = scope.spawn(move || {
            let mut source = match berth_snapshot::apply::decompress(BufReader::new(blob)) {
                Ok(source) => source,
                Err(e) => {
                    let _ = tx.send(Err(io::Error::other(e)));
                    return Streamed::Partly;
                }
            };
            let mut hasher = hash.then(sha2::Sha256::new);
            loop {
                let mut buf = vec![0u8; CHUNK];
                match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if let Some(hasher) = &mut hasher {
                            hasher.update(&buf);
                        }
                        // The consumer hung up (it failed or finished early): stop reading.
                        if tx.send(Ok(buf)).is_err() {
                            return Streamed::Partly;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Streamed::Partly;
                    }
                }
            }
            Streamed::Whole(hasher.map(|h| format!("sha256:{}", hex::encode(h.finalize()))))
        });
        let mut reader = ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        };
        let result = consume(&mut reader);
        // Unblocks a helper still waiting to send.
        drop(reader);
        (result, helper.join().unwrap_or(Streamed::Partly))
    })
}

struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk?;
                    self.pos = 0;
                }
                // The helper finished: end of stream.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn yields_the_decompressed_stream_and_stops_early() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&gz.finish().unwrap()).unwrap();
        let reopen = |f: &File| {
            let mut f = f.try_clone().unwrap();
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0)).unwrap();
            f
        };
        let mut out = Vec::new();
        let (read, streamed) = with_prefetch(reopen(&file), true, |r| r.read_to_end(&mut out));
        read.unwrap();
        assert_eq!(out, data);
        let expected = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
        assert_eq!(streamed, Streamed::Whole(Some(expected)));
        // Without hashing the stream is the same and no digest is made.
        out.clear();
        let (read, streamed) = with_prefetch(reopen(&file), false, |r| r.read_to_end(&mut out));
        read.unwrap();
        assert_eq!((out == data, streamed), (true, Streamed::Whole(None)));
        // A consumer that stops after one read does not wait for the whole stream.
        let mut first = [0u8; 10];
        let (read, streamed) = with_prefetch(reopen(&file), true, |r| r.read(&mut first));
        let n = read.unwrap();
        assert_eq!(&first[..n], &data[..n]);
        assert_eq!(streamed, Streamed::Partly);
    }
}
