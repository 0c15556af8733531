//! Reading layer streams: in-process decompression chosen by magic bytes (gzip, zstd, xz,
//! bzip2; never a helper program, CVE-2014-9357 and CVE-2026-41567), and a reader that counts, hashes and bounds the uncompressed bytes.

use sha2::{Digest as _, Sha256};
use std::io::{self, BufRead, BufReader, Read};

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("reading the start of the layer stream")]
    Read { source: io::Error },
}

/// Wraps `reader` in the decompressor its first bytes call for. Never runs a program.
pub fn decompress<'a>(reader: impl Read + 'a) -> Result<Box<dyn Read + 'a>, StreamError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let head = reader
        .fill_buf()
        .map_err(|source| StreamError::Read { source })?;
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(reader)
            .map_err(|source| StreamError::Read { source })?;
        Ok(Box::new(decoder))
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        // Concatenated xz streams, as `xz` itself reads them.
        let stream =
            liblzma::stream::Stream::new_stream_decoder(u64::MAX, liblzma::stream::CONCATENATED)
                .map_err(|e| StreamError::Read {
                    source: io::Error::other(e),
                })?;
        Ok(Box::new(liblzma::bufread::XzDecoder::new_stream(
            reader, stream,
        )))
    } else if starts(b"BZh") {
        Ok(Box::new(bzip2::bufread::MultiBzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Counts and (unless the caller hashes it elsewhere) hashes the uncompressed stream, failing
/// once it passes the byte limit.
pub(crate) struct Measured<R> {
    pub(crate) inner: R,
    pub(crate) hasher: Option<Sha256>,
    pub(crate) bytes: u64,
    pub(crate) limit: u64,
    pub(crate) exceeded: bool,
}

impl<R: Read> Measured<R> {
    pub(crate) fn new(inner: R, limit: u64, hash: bool) -> Self {
        Measured {
            inner,
            hasher: hash.then(Sha256::new),
            bytes: 0,
            limit,
            exceeded: false,
        }
    }
}

impl<R: Read> Read for Measured<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("layer size limit exceeded"));
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}
