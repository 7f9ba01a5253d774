//! Integration tests: the real server (`App`, or the `roster` binary) on an
//! ephemeral loopback port with a temporary data dir, over real HTTP.
//! One test binary with modules, to keep link times down.

mod auth;
mod cli;
mod consistency;
mod console;
mod crash;
mod disk;
mod encryption;
mod events;
mod fuzz_regressions;
mod graphql;
mod groups;
mod helpers;
mod hostile;
mod housekeeping;
mod list;
mod logs;
mod mail;
mod metrics;
mod mfa;
mod oauth;
mod openapi;
mod openapi_stable;
mod overload;
mod passkeys;
mod proxy;
mod races;
mod restart;
mod scim;
mod search;
mod tls;
mod transfer;
mod users;
mod webhooks;

#[path = "../support/passkey.rs"]
mod passkey;
#[path = "../support/smtp_sink.rs"]
mod smtp_sink;
#[allow(dead_code)]
#[path = "../support/sse.rs"]
mod sse;
#[allow(dead_code)]
#[path = "../support/webhook_receiver.rs"]
mod webhook_receiver;
