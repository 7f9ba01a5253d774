//! Logging: one subscriber for the process, JSON or human-readable, level
//! from `RUST_LOG` (default `info`). Colours only when stderr is a
//! terminal: escape codes in a file or a pipe are noise to every reader.
//!
//! Lines are written to stderr by a thread of their own, in batches: a
//! request's log line is formatted where it happens, but its write (a
//! syscall, ~9 % of the HTTP workers' time under 64 clients creating users
//! when each line was written in place) leaves the request's path. Nothing
//! is dropped: when 8 192 lines wait (a few MiB; a stalled reader of
//! stderr must not grow the process), loggers wait too, and the lines
//! still waiting are written when the process ends. Only a process killed
//! outright (SIGKILL) can lose the last lines, those of the moment before.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines queued for the log writer before loggers wait.
const LINES_WAITING: usize = 8192;

/// The log writer's thread: keep it while the process logs; dropping it
/// writes out the lines still waiting.
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub struct LogWriter {
    _guard: WorkerGuard,
}

pub fn init(format: LogFormat) -> LogWriter {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LINES_WAITING)
        .thread_name("roster-log")
        .finish(BufWriter::with_capacity(64 << 10, std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    // A second init (tests starting several servers) keeps the first one.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            // The request span once (`span`), not again as a list.
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    LogWriter { _guard: guard }
}
