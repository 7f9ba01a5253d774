//! The `roster` executable: parse settings, start logging, run the command.

use std::process::ExitCode;

use clap::Parser;
use roster::cli::{AdminCommand, Cli, Command, KeysCommand};
use roster::config::Config;
use roster::{App, offline, telemetry};

/// mimalloc instead of glibc's malloc. A search or a page of users makes a
/// few hundred short-lived allocations; under load glibc's arenas contend
/// for their locks (futex sleeps and wake-ups were ~10% of the CPU of a
/// search-heavy load) and spend another ~20% in their own bookkeeping.
/// mimalloc's thread-local free lists make the same work ~1.8x faster for
/// search and ~1.7x for a list page (measured in A/B runs, see
/// `CHANGELOG.md`, 2026-12-01), and it gives
/// freed memory back to the system on its own, so glibc's arena cap is no
/// longer needed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc gives freed memory back to the system some time after the
/// free, but only when some thread next calls into it: a server that goes
/// quiet kept ~16 MiB it no longer used (idle RSS 47 MiB instead of 31 at
/// 100 000 users). This thread asks it once a second; freeing what waited
/// its delay out is all that asking does, so it costs nothing under load.
fn give_back_freed_memory() {
    let spawned = std::thread::Builder::new()
        .name("mimalloc-purge".into())
        .stack_size(64 * 1024)
        .spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                // SAFETY: mi_collect has no preconditions; `false` only
                // frees memory whose purge delay has passed.
                unsafe { libmimalloc_sys::mi_collect(false) };
            }
        });
    if let Err(e) = spawned {
        eprintln!("roster: cannot start the allocator's purge thread: {e}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::resolve(&cli.settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("roster: {e}");
            return ExitCode::from(2);
        }
    };
    let _log = telemetry::init(config.log_format);
    give_back_freed_memory();

    // Blocking work (searches, list pages, store scans) is
    // CPU-bound and bounded by its own limits; tokio's default of up to 512
    // blocking threads only adds threads (and their allocator heaps) when
    // 64 clients list at once. Past the cap, blocking tasks queue.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(4 * cores)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roster: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            runtime.block_on(async { App::build(config).await?.run_until_stopped().await })
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password_stdin,
                },
        } => runtime.block_on(offline::create_admin(&config, &email, password_stdin)),
        Command::Reindex => runtime.block_on(offline::reindex(&config)),
        Command::GraphqlSchema => {
            print!("{}", roster::api::graphql_sdl());
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => runtime.block_on(offline::rotate_keys(&config)),
        Command::Keys {
            command: KeysCommand::GenerateEncryptionKey { out },
        } => offline::generate_encryption_key(out.as_deref()),
        Command::Keys {
            command:
                KeysCommand::RotateEncryptionKey {
                    new_key_file,
                    decrypt: _,
                },
        } => offline::rotate_encryption_key(&config, new_key_file.as_deref()),
        Command::Import { file, format } => {
            runtime.block_on(offline::import(&config, &file, format))
        }
        Command::Export {
            format,
            out,
            include_secrets,
            plaintext,
        } => runtime.block_on(offline::export(
            &config,
            format,
            out.as_deref(),
            (include_secrets, plaintext),
        )),
        Command::Backup { out } => runtime.block_on(offline::backup(&config, &out)),
        Command::Restore { input, force } => {
            runtime.block_on(offline::restore(&config, &input, force))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roster: {e:#}");
            ExitCode::FAILURE
        }
    }
}
