//! Shared test support: the app harness, and the real components the tests start and stop
//! themselves.

#![allow(dead_code)]

pub mod app;
pub mod fixtures;
pub mod python;
pub mod redis_server;
pub mod smtp_server;
pub mod webhook_receiver;
