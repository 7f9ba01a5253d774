//! The settings as command-line flags and environment variables: clap
//! arguments built from the table, and [`SettingArgs`], what clap found.
//!
//! `SettingArgs` implements clap's `Args` by hand (not by derive) so that
//! the table in `settings.rs` stays the only declaration: `Cli` flattens it
//! like any derived group. Flags take no clap default, so that an absent
//! flag leaves room for the file; `--help` shows the default in the text.

use std::collections::BTreeMap;
use std::ffi::OsString;

use clap::builder::{OsStringValueParser, PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgAction, ArgMatches, FromArgMatches};

use super::settings::{Kind, SETTINGS, Setting, setting};

/// Settings given as flags or environment variables (clap has already
/// preferred a flag over its variable), by setting name. What is absent
/// here comes from the file or the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingArgs {
    given: BTreeMap<&'static str, OsString>,
}

impl SettingArgs {
    /// These settings with `name` set to `value`, as if given as a flag.
    ///
    /// # Panics
    ///
    /// If `name` is not a setting: that is a mistake in the calling code,
    /// not in anyone's input.
    pub fn with(mut self, name: &str, value: impl Into<OsString>) -> Self {
        let setting = setting(name).unwrap_or_else(|| panic!("`{name}` is not a setting"));
        self.given.insert(setting.name, value.into());
        self
    }

    /// The flag or environment value of the setting, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&OsString> {
        self.given.get(name)
    }
}

impl Setting {
    /// The clap argument: `--flag <VALUE>`, also read from the environment,
    /// global so that `roster --data D serve` and `roster serve --data D`
    /// both work.
    fn arg(&self) -> Arg {
        let arg = Arg::new(self.name)
            .long(self.flag)
            .env(self.env)
            .global(true)
            .action(ArgAction::Set)
            .value_name(self.value_name)
            .help(self.help_line());
        match &self.kind {
            // clap refuses other words itself and lists these in --help.
            Kind::Choice { choices, .. } => {
                arg.value_parser(PossibleValuesParser::new(*choices).map(OsString::from))
            }
            _ => arg.value_parser(OsStringValueParser::new()),
        }
    }
}

impl clap::Args for SettingArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.args(SETTINGS.iter().map(Setting::arg))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for SettingArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for s in SETTINGS {
            let value = matches.try_get_one::<OsString>(s.name).map_err(|e| {
                clap::Error::raw(clap::error::ErrorKind::ValueValidation, e.to_string())
            })?;
            if let Some(value) = value {
                self.given.insert(s.name, value.clone());
            }
        }
        Ok(())
    }
}
