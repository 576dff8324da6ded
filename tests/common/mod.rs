//! Shared test support: real components the tests start and stop themselves.

#![allow(dead_code)]

pub mod fixtures;
pub mod python;
pub mod redis_server;
pub mod smtp_server;
