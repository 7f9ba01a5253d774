//! roster: one self-contained executable that gives an application its users.
//!
//! Layers, one way down: `app → api → service → store → {domain, error}`.
//! See `../shared/DESIGN.md` for the architecture and contracts.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod offline;
pub mod search;
pub mod service;
pub mod store;
pub mod telemetry;
mod tls;

pub use app::App;
pub use config::Config;
