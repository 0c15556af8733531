//! One module per command group.

pub mod containers;
pub mod images;
pub mod system;
