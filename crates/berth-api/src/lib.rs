//! The Docker Engine API as data: wire models with Docker's JSON names, the API-version table
//! (the one place where behaviour that differs by version is decided), `filters` and timestamp
//! parsing, the error type every backend call returns, and the `Backend` traits the HTTP server
//! is generic over. No sockets and no HTTP here.

pub mod attach;
pub mod backend;
pub mod error;
pub mod events;
pub mod filters;
pub mod models;
pub mod operations;
pub mod stats_archive;
pub mod timestamp;
pub mod version;

pub use backend::{
    Backend, ContainerBackend, ContainerListOptions, EventSubscription, ImageBackend,
    ImageListOptions, ImportRequest, LogStream, LogsOptions, RequestBody, ResponseBytes,
    SystemBackend, WaitCondition,
};
pub use error::ApiError;
pub use operations::OperationsBackend;
pub use version::ApiVersion;
