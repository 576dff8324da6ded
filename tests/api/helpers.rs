//! The API tests use the one harness every integration test shares (`tests/common/app.rs`).

pub use crate::common::app::*;
