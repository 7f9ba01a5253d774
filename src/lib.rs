//! roster: one self-contained executable that gives an application its users.
//!
//! # Layout
//!
//! Dependencies point one way, down this list; a module may use those below
//! it, never one above (`docs/architecture.md` draws the same map):
//!
//! | module      | what it owns                                                        | may use |
//! |-------------|---------------------------------------------------------------------|---------|
//! | `main`      | parse the command line, start telemetry, run a command or the server | everything |
//! | [`app`]     | the running server: builds the services and the state, the listener (HTTP or TLS), the accept loop, graceful shutdown | api, service, store, config |
//! | [`offline`] | the commands that work on a data dir no server holds (import, export, backup, restore, reindex, keys) | service, store, config |
//! | [`api`]     | HTTP: routes, `AppState`, request DTOs parsed into domain commands, problem+json, OpenAPI, the console's and account pages' files | service, auth::policy, domain, error, config |
//! | [`service`] | the use cases and their rules: users, search, authentication and the email flows, audit, transfer, mail and its outbox worker; the one write path of every façade | store, search, auth, domain, error |
//! | [`store`]   | redb: tables, record encoding, the change log, the outbox and one-time tokens, the single writer, backups, sealed records and key rotation | domain, error, crypt |
//! | [`search`]  | tantivy: schema, analysis, the index, queries, highlights, the sealed index directory; never writes the store | domain, crypt |
//! | [`auth`]    | pure pieces of authentication: password hashing, tokens, secrets, the policy | domain, config |
//! | [`domain`]  | the vocabulary, valid by construction: users, credentials, times, commands | nothing |
//! | [`error`]   | the service's error kinds (no HTTP, no storage types)                 | domain |
//! | [`config`]  | settings from flags, `ROSTER_*` variables and a TOML file: one table  | crypt (to load the key) |
//! | [`crypt`]   | encryption at rest: the data key, sealed records and files, keyed index hashes | nothing |
//! | [`cli`]     | the command line (clap): commands and their arguments                | config |
//!
//! `telemetry` (logging) and `tls` (certificates, the TLS listener) serve
//! `main` and `app`.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypt;
pub mod domain;
pub mod error;
pub mod offline;
pub mod search;
pub mod service;
pub mod store;
pub mod telemetry;
mod tls;

pub use app::{App, ReadCounter};
pub use config::Config;
