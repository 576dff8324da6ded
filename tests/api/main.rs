//! API integration tests: the real server over HTTP, with real tokens and its own store.

#[path = "../common/mod.rs"]
mod common;

mod authorization;
mod calendar;
mod contract;
mod errors;
mod fan_out;
mod helpers;
mod lifecycle;
mod webhooks;
mod workflow;
