//! Handlers: each decodes path, query and body into typed values, calls one backend method,
//! and encodes the result.

pub mod attach;
pub mod containers;
pub mod exec;
pub mod images;
pub mod operations;
pub mod stats_archive;
pub mod swarm;
pub mod system;
