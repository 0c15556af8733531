//! The conformance harness: [`Daemon`] starts a throwaway berthd (temporary data root, exec
//! root and socket) from the built binaries and removes everything it made when dropped,
//! also when the test fails; [`raw`] speaks HTTP/1.1 by hand, so tests check exact statuses,
//! headers and bodies independently of our client; helpers run the real docker CLI and
//! docker-py against the daemon; [`fixture`] holds what the container tests share. Binaries
//! come from the workspace build (`cargo build --workspace --bins`, which the test script
//! runs first).

pub mod daemon;
pub mod fixture;
pub mod raw;

pub use daemon::{bin_path, Daemon, DaemonOptions};
pub use raw::RawResponse;
