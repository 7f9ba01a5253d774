//! The command line as clap sees it: the commands and their own flags.
//!
//! The settings' flags (`--listen`, `--data`, …) are not declared here but
//! in the settings table of `config`, and flattened in as [`SettingArgs`];
//! they are global, so `roster --data D serve` and `roster serve --data D`
//! both work. `main` matches on [`Command`]; `offline` takes
//! [`TransferFormat`].

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::SettingArgs;

#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "Users for your application: store, search, REST API and admin console in one binary."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default when no command is given).
    Serve,
    /// Administer an offline data dir.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Rebuild the search index from the store (offline).
    Reindex,
    /// Manage the token signing keys and the encryption key of an offline
    /// data dir.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Add users from an NDJSON or CSV file (offline); bad lines are
    /// reported by number and skipped.
    Import {
        /// The file to read (`-` for standard input).
        file: PathBuf,
        /// The file's format [default: from its extension, else ndjson].
        #[arg(long, value_enum)]
        format: Option<TransferFormat>,
    },
    /// Write every user as NDJSON or CSV (offline).
    Export {
        #[arg(long, value_enum, default_value = "ndjson")]
        format: TransferFormat,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Include password hashes (PHC strings), for a migration to another
        /// roster. Without it, no secret is ever written.
        #[arg(long)]
        include_secrets: bool,
        /// Write an encrypted store's users in the clear anyway (refused
        /// without it: an export is a file at rest like any other).
        #[arg(long)]
        plaintext: bool,
    },
    /// Write a consistent snapshot of the whole store to one file (offline;
    /// a running server offers `GET /api/v1/admin/backup`).
    Backup {
        /// The backup file to write (`-` for standard output).
        out: PathBuf,
    },
    /// Print the GraphQL schema (SDL) of `/api/v1/graphql`.
    GraphqlSchema,
    /// Restore a backup into the data dir (offline) and rebuild the index.
    Restore {
        /// The backup file to read.
        input: PathBuf,
        /// Replace a data dir that already holds data.
        #[arg(long)]
        force: bool,
    },
}

/// File formats of `import` and `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransferFormat {
    Ndjson,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account (works while the server is stopped).
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (one line). Without it, a
        /// random password is generated and printed once.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; older keys keep verifying until their tokens expire.
    Rotate,
    /// Write a new random 32-byte encryption key (base64) for
    /// --encryption-key-file.
    GenerateEncryptionKey {
        /// The file to create (mode 0600; an existing file is never
        /// replaced); `-` or none: standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Re-seal the store and the search index under a new encryption key
    /// (offline). The current key is the one set as usual
    /// (--encryption-key-file or ROSTER_ENCRYPTION_KEY; none for a store
    /// not yet encrypted). Interrupted, it resumes when run again with the
    /// same keys; the server refuses to start until it has finished.
    RotateEncryptionKey {
        /// The new key (32 bytes, or their base64).
        #[arg(long, value_name = "FILE", required_unless_present = "decrypt")]
        new_key_file: Option<PathBuf>,
        /// Decrypt instead: leave the store and index unencrypted.
        #[arg(long, conflicts_with = "new_key_file")]
        decrypt: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::Config;

    #[test]
    fn setting_flags_are_global_and_override_nothing_when_absent() {
        let cli = Cli::try_parse_from(["roster", "reindex", "--body-limit", "8192"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Reindex)));
        assert_eq!(
            cli.settings,
            SettingArgs::default().with("body_limit", "8192")
        );
        let cfg = Config::resolve(&cli.settings).unwrap();
        assert_eq!(cfg.body_limit, 8192);
    }

    #[test]
    fn clap_refuses_a_log_format_it_does_not_list() {
        assert!(Cli::try_parse_from(["roster", "--log-format", "xml"]).is_err());
        let cli = Cli::try_parse_from(["roster", "--log-format", "json"]).unwrap();
        let cfg = Config::resolve(&cli.settings).unwrap();
        assert_eq!(cfg.log_format, crate::config::LogFormat::Json);
    }
}
