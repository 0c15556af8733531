//! One module per command group.

pub mod containers;
pub mod cp;
pub mod images;
pub mod ops;
pub mod stats;
pub mod system;
