//! The Docker Engine API over HTTP/1.1. This crate owns routing (with the optional `/vX.Y`
//! prefix), the one mapping from error kinds to Docker's status codes and `{"message"}`
//! bodies, bounded request bodies, streaming responses, and the listeners (UNIX socket, TCP
//! with mutual TLS). It is generic over `berth_api::Backend`: handlers parse, the backend acts.

pub mod body;
pub mod errors;
mod handlers;
mod hijack;
pub mod listen;
pub mod response;
pub mod router;
pub mod serve;

pub use listen::{Listener, TlsFiles};
pub use serve::{serve, ServerSettings};
