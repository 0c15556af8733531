//! A typed client for the Docker Engine API, used by the `berth` CLI and by tests. It finds
//! the daemon the way the docker CLI does (`-H`, then `BERTH_HOST`, then `DOCKER_HOST`, then
//! the default socket), negotiates the API version from `/_ping`, and turns error responses
//! into `ClientError::Daemon` with the daemon's message.

mod connect;
mod endpoint;
mod hijack;
pub mod stdcopy;

pub use connect::{Client, ClientError, Io, ResponseStream};
pub use endpoint::{Endpoint, EndpointError, TlsOptions, DEFAULT_SOCKET};
pub use hijack::{Hijacked, HijackedReader, HijackedWriter};
