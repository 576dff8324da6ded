//! charte: the legal moderation workflow for what French local authorities publish to
//! families through school portals (ENT), per the Grand Est charter of good use.
//!
//! Layers: a pure [`domain`], use cases in [`app`], ports and adapters in [`store`], the HTTP
//! adapter in [`http`], the deadline [`scheduler`], email delivery in [`mail`], and the [`cli`]
//! that wires them.

pub mod annuaire;
pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod http;
pub mod logging;
pub mod mail;
pub mod scheduler;
pub mod server;
pub mod store;
pub mod webhooks;
