//! The one declaration of every setting: its name (which is also its TOML
//! key), flag, environment variable, help text, kind, default and range.
//!
//! Everything else is derived from [`SETTINGS`]: the clap arguments and their
//! `--help` lines (`args.rs`), the keys the TOML file may hold (`file.rs`) and
//! the checks that turn a value into a typed one (`values.rs`). Adding a
//! setting is one entry here plus the line in `Config::resolve` that reads it.

use super::{MIN_ITERATIONS, MIN_MEMORY_KIB, MIN_PARALLELISM};

/// One setting. `name` is the TOML key and the name error messages use;
/// `flag` is the long flag without its dashes; `env` is read by clap.
#[derive(Debug)]
pub(crate) struct Setting {
    pub name: &'static str,
    pub flag: &'static str,
    pub env: &'static str,
    /// The placeholder `--help` shows after the flag.
    pub value_name: &'static str,
    /// One line for `--help`; the default is appended from `kind`.
    pub help: &'static str,
    pub kind: Kind,
}

/// What values a setting takes, and its default.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A whole number in `min..=max`.
    Number { default: u64, min: u64, max: u64 },
    /// A positive whole number, or `off`.
    Rate { default: u32 },
    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off` on the command line).
    Bool { default: bool },
    /// 1 to 256 characters.
    Text { default: &'static str },
    /// A socket address such as the default.
    Address { default: &'static str },
    /// A non-empty path; unset when there is no default and none is given.
    Path { default: Option<&'static str> },
    /// The settings file itself: a flag or environment variable, never a key
    /// in the file.
    ConfigFile,
    /// Web origins: comma-separated on the command line, an array of strings
    /// in the file; none by default.
    Origins,
    /// IP networks (CIDR) or addresses: comma-separated on the command line,
    /// an array of strings in the file; none by default.
    Networks,
    /// Role names: comma-separated on the command line, an array of strings
    /// in the file; none by default.
    Roles,
    /// An absolute URL with one of `schemes`, unset by default; a link
    /// template must also hold `{token}`.
    Url {
        schemes: &'static [&'static str],
        template: bool,
    },
    /// One word out of `choices`.
    Choice {
        default: &'static str,
        choices: &'static [&'static str],
    },
}

impl Kind {
    /// The default as it would be typed on the command line, if there is one.
    pub fn default_text(&self) -> Option<String> {
        match self {
            Kind::Number { default, .. } => Some(default.to_string()),
            Kind::Rate { default } => Some(default.to_string()),
            Kind::Bool { default } => Some(default.to_string()),
            Kind::Text { default } | Kind::Address { default } => Some((*default).to_owned()),
            Kind::Choice { default, .. } => Some((*default).to_owned()),
            Kind::Path { default } => default.map(str::to_owned),
            Kind::ConfigFile | Kind::Origins | Kind::Networks | Kind::Roles | Kind::Url { .. } => {
                None
            }
        }
    }
}

impl Setting {
    /// How messages name the setting's sources: `--body-limit / ROSTER_BODY_LIMIT`.
    pub fn sources(&self) -> String {
        format!("--{} / {}", self.flag, self.env)
    }

    /// The `--help` line: the help text and the default.
    pub fn help_line(&self) -> String {
        match (&self.kind, self.kind.default_text()) {
            (Kind::Number { default, min, .. }, _) if default == min => {
                format!("{} [default and minimum: {default}]", self.help)
            }
            (_, Some(default)) => format!("{} [default: {default}]", self.help),
            (_, None) => self.help.to_owned(),
        }
    }
}

/// Finds a setting by its name.
pub(crate) fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

const SECONDS_PER_DAY: u64 = 24 * 3600;

/// Every setting, in `--help` order.
pub(crate) const SETTINGS: &[Setting] = &[
    Setting {
        name: "listen",
        flag: "listen",
        env: "ROSTER_LISTEN",
        value_name: "ADDR",
        help: "Address to listen on",
        kind: Kind::Address {
            default: "127.0.0.1:8080",
        },
    },
    Setting {
        name: "data",
        flag: "data",
        env: "ROSTER_DATA",
        value_name: "DIR",
        help: "Data directory holding roster.redb and index/",
        kind: Kind::Path {
            default: Some("./roster-data"),
        },
    },
    Setting {
        name: "config",
        flag: "config",
        env: "ROSTER_CONFIG",
        value_name: "FILE",
        help: "Optional TOML file with settings (flags and environment override it)",
        kind: Kind::ConfigFile,
    },
    Setting {
        name: "log_format",
        flag: "log-format",
        env: "ROSTER_LOG_FORMAT",
        value_name: "LOG_FORMAT",
        help: "Log output format",
        kind: Kind::Choice {
            default: "pretty",
            choices: &["pretty", "json"],
        },
    },
    Setting {
        name: "access_log",
        flag: "access-log",
        env: "ROSTER_ACCESS_LOG",
        value_name: "ACCESS_LOG",
        help: "One log line per request: `on`, `off`, or `errors` (answers 400 and above)",
        kind: Kind::Choice {
            default: "on",
            choices: &["on", "off", "errors"],
        },
    },
    Setting {
        name: "access_log_sample",
        flag: "access-log-sample",
        env: "ROSTER_ACCESS_LOG_SAMPLE",
        value_name: "N",
        help: "Log one successful request in N (errors are always logged)",
        kind: Kind::Number {
            default: 1,
            min: 1,
            max: 1_000_000,
        },
    },
    Setting {
        name: "body_limit",
        flag: "body-limit",
        env: "ROSTER_BODY_LIMIT",
        value_name: "BYTES",
        help: "Largest accepted request body, in bytes",
        kind: Kind::Number {
            default: 1024 * 1024,
            min: 1024,
            max: 256 * 1024 * 1024,
        },
    },
    Setting {
        name: "request_timeout",
        flag: "request-timeout",
        env: "ROSTER_REQUEST_TIMEOUT",
        value_name: "SECONDS",
        help: "Longest time a request may take, in seconds",
        kind: Kind::Number {
            default: 30,
            min: 1,
            max: 3600,
        },
    },
    Setting {
        name: "header_read_timeout",
        flag: "header-read-timeout",
        env: "ROSTER_HEADER_READ_TIMEOUT",
        value_name: "SECONDS",
        help: "Longest a client may take to send a request's headers, in seconds; \
               also how long an idle keep-alive connection stays open",
        kind: Kind::Number {
            default: 20,
            min: 1,
            max: 3600,
        },
    },
    Setting {
        name: "max_concurrent_requests",
        flag: "max-concurrent-requests",
        env: "ROSTER_MAX_CONCURRENT_REQUESTS",
        value_name: "N",
        help: "Requests handled at once; more are answered 503 at once",
        kind: Kind::Number {
            default: 1024,
            min: 1,
            max: 1_000_000,
        },
    },
    Setting {
        name: "access_token_ttl",
        flag: "access-token-ttl",
        env: "ROSTER_ACCESS_TOKEN_TTL",
        value_name: "SECONDS",
        help: "Lifetime of access tokens, in seconds",
        kind: Kind::Number {
            default: 900,
            min: 10,
            max: SECONDS_PER_DAY,
        },
    },
    Setting {
        name: "refresh_token_ttl",
        flag: "refresh-token-ttl",
        env: "ROSTER_REFRESH_TOKEN_TTL",
        value_name: "SECONDS",
        help: "Lifetime of a login session (its refresh tokens), in seconds",
        kind: Kind::Number {
            default: 30 * SECONDS_PER_DAY,
            min: 60,
            max: 365 * SECONDS_PER_DAY,
        },
    },
    Setting {
        name: "issuer",
        flag: "issuer",
        env: "ROSTER_ISSUER",
        value_name: "ISSUER",
        help: "`iss` of issued tokens",
        kind: Kind::Text { default: "roster" },
    },
    Setting {
        name: "audience",
        flag: "audience",
        env: "ROSTER_AUDIENCE",
        value_name: "AUDIENCE",
        help: "`aud` of issued tokens",
        kind: Kind::Text { default: "roster" },
    },
    Setting {
        name: "allow_registration",
        flag: "allow-registration",
        env: "ROSTER_ALLOW_REGISTRATION",
        value_name: "BOOL",
        help: "Allow self sign-up at /api/v1/auth/register",
        kind: Kind::Bool { default: false },
    },
    Setting {
        name: "require_mfa_for",
        flag: "require-mfa-for",
        env: "ROSTER_REQUIRE_MFA_FOR",
        value_name: "ROLES",
        help: "Roles whose users must have a second factor (TOTP or a passkey), comma-separated [default: none]",
        kind: Kind::Roles,
    },
    Setting {
        name: "argon2_memory_kib",
        flag: "argon2-memory-kib",
        env: "ROSTER_ARGON2_MEMORY_KIB",
        value_name: "KIB",
        help: "argon2id memory in KiB",
        kind: Kind::Number {
            default: MIN_MEMORY_KIB as u64,
            min: MIN_MEMORY_KIB as u64,
            max: 4 * 1024 * 1024,
        },
    },
    Setting {
        name: "argon2_iterations",
        flag: "argon2-iterations",
        env: "ROSTER_ARGON2_ITERATIONS",
        value_name: "N",
        help: "argon2id iterations",
        kind: Kind::Number {
            default: MIN_ITERATIONS as u64,
            min: MIN_ITERATIONS as u64,
            max: 100,
        },
    },
    Setting {
        name: "argon2_parallelism",
        flag: "argon2-parallelism",
        env: "ROSTER_ARGON2_PARALLELISM",
        value_name: "N",
        help: "argon2id lanes",
        kind: Kind::Number {
            default: MIN_PARALLELISM as u64,
            min: MIN_PARALLELISM as u64,
            max: 64,
        },
    },
    Setting {
        name: "argon2_idle_priority",
        flag: "argon2-idle-priority",
        env: "ROSTER_ARGON2_IDLE_PRIORITY",
        value_name: "BOOL",
        help: "Hash passwords only in CPU time nothing else wants (SCHED_IDLE, Linux); turn off on a machine whose other busy processes would starve logins",
        kind: Kind::Bool { default: true },
    },
    Setting {
        name: "login_rate_limit",
        flag: "login-rate-limit",
        env: "ROSTER_LOGIN_RATE_LIMIT",
        value_name: "PER_MINUTE|off",
        help: "Login, refresh and register attempts per minute per account, or `off`",
        kind: Kind::Rate { default: 10 },
    },
    Setting {
        name: "login_burst",
        flag: "login-burst",
        env: "ROSTER_LOGIN_BURST",
        value_name: "N",
        help: "Burst allowed above the login rate",
        kind: Kind::Number {
            default: 5,
            min: 1,
            max: 10_000,
        },
    },
    Setting {
        name: "rate_limit",
        flag: "rate-limit",
        env: "ROSTER_RATE_LIMIT",
        value_name: "PER_SECOND|off",
        help: "API requests per second per caller: per client address without valid credentials, per admin, per API key; `off` turns every request limit off",
        kind: Kind::Rate { default: 1000 },
    },
    Setting {
        name: "user_rate_limit",
        flag: "user-rate-limit",
        env: "ROSTER_USER_RATE_LIMIT",
        value_name: "PER_SECOND|off",
        help: "API requests per second per signed-in user without the admin role, or `off`",
        kind: Kind::Rate { default: 100 },
    },
    Setting {
        name: "cors_origins",
        flag: "cors-origins",
        env: "ROSTER_CORS_ORIGINS",
        value_name: "ORIGINS",
        help: "Origins allowed by CORS, comma-separated [default: none, CORS off]",
        kind: Kind::Origins,
    },
    Setting {
        name: "graphql_playground",
        flag: "graphql-playground",
        env: "ROSTER_GRAPHQL_PLAYGROUND",
        value_name: "BOOL",
        help: "Serve GraphiQL to browsers at /api/v1/graphql",
        kind: Kind::Bool { default: false },
    },
    Setting {
        name: "graphql_introspection",
        flag: "graphql-introspection",
        env: "ROSTER_GRAPHQL_INTROSPECTION",
        value_name: "BOOL",
        help: "Answer GraphQL introspection queries",
        kind: Kind::Bool { default: true },
    },
    Setting {
        name: "graphql_timeout",
        flag: "graphql-timeout",
        env: "ROSTER_GRAPHQL_TIMEOUT",
        value_name: "SECONDS",
        help: "Longest time a GraphQL request may run, in seconds",
        kind: Kind::Number {
            default: 10,
            min: 1,
            max: 300,
        },
    },
    Setting {
        name: "trusted_proxies",
        flag: "trusted-proxies",
        env: "ROSTER_TRUSTED_PROXIES",
        value_name: "CIDRS",
        help: "Proxies whose Forwarded / X-Forwarded-For headers name the client, such as 10.0.0.0/8,127.0.0.1 [default: none, the peer is the client]",
        kind: Kind::Networks,
    },
    Setting {
        name: "change_retention",
        flag: "change-retention",
        env: "ROSTER_CHANGE_RETENTION",
        value_name: "SECONDS",
        help: "How long the change log keeps events for stream resumption, in seconds (never pruned past what the index or a webhook still needs)",
        kind: Kind::Number {
            default: 7 * SECONDS_PER_DAY,
            min: 60,
            max: 365 * SECONDS_PER_DAY,
        },
    },
    Setting {
        name: "webhook_allow_insecure",
        flag: "webhook-allow-insecure",
        env: "ROSTER_WEBHOOK_ALLOW_INSECURE",
        value_name: "BOOL",
        help: "Allow webhook URLs over plain http:// to loopback addresses (for local development; loopback also needs --webhook-allow-private)",
        kind: Kind::Bool { default: false },
    },
    Setting {
        name: "webhook_allow_private",
        flag: "webhook-allow-private",
        env: "ROSTER_WEBHOOK_ALLOW_PRIVATE",
        value_name: "BOOL",
        help: "Allow webhook URLs on loopback, private, link-local or metadata addresses",
        kind: Kind::Bool { default: false },
    },
    Setting {
        name: "tls_cert",
        flag: "tls-cert",
        env: "ROSTER_TLS_CERT",
        value_name: "FILE",
        help: "PEM certificate chain: serve HTTPS (with --tls-key) [default: plain HTTP]",
        kind: Kind::Path { default: None },
    },
    Setting {
        name: "tls_key",
        flag: "tls-key",
        env: "ROSTER_TLS_KEY",
        value_name: "FILE",
        help: "PEM private key of --tls-cert",
        kind: Kind::Path { default: None },
    },
    Setting {
        name: "public_url",
        flag: "public-url",
        env: "ROSTER_PUBLIC_URL",
        value_name: "URL",
        help: "Base of the links in mail, such as https://id.example.com [default: this server's own address]",
        kind: Kind::Url {
            schemes: &["http", "https"],
            template: false,
        },
    },
    Setting {
        name: "smtp_url",
        flag: "smtp-url",
        env: "ROSTER_SMTP_URL",
        value_name: "URL",
        help: "SMTP server: smtp://host:port, smtps://…, smtp+starttls://user@host:port (password from ROSTER_SMTP_PASSWORD) [default: none, mail is logged]",
        kind: Kind::Url {
            schemes: &["smtp", "smtps", "smtp+starttls"],
            template: false,
        },
    },
    Setting {
        name: "mail_from",
        flag: "mail-from",
        env: "ROSTER_MAIL_FROM",
        value_name: "MAILBOX",
        help: "Sender of mail, such as \"Example <id@example.com>\"",
        kind: Kind::Text {
            default: "roster <roster@localhost>",
        },
    },
    Setting {
        name: "encryption_key_file",
        flag: "encryption-key-file",
        env: "ROSTER_ENCRYPTION_KEY_FILE",
        value_name: "PATH",
        help: "Encrypt the store and the search index at rest with the 32-byte key in this file (`roster keys generate-encryption-key`; or its base64 in ROSTER_ENCRYPTION_KEY) [default: not encrypted]",
        kind: Kind::Path { default: None },
    },
    Setting {
        name: "mail_templates",
        flag: "mail-templates",
        env: "ROSTER_MAIL_TEMPLATES",
        value_name: "DIR",
        help: "Directory of mail templates overriding the built-in ones [default: built-in]",
        kind: Kind::Path { default: None },
    },
    Setting {
        name: "verify_email_ttl",
        flag: "verify-email-ttl",
        env: "ROSTER_VERIFY_EMAIL_TTL",
        value_name: "SECONDS",
        help: "Lifetime of an email verification link, in seconds",
        kind: Kind::Number {
            default: 86400,
            min: 60,
            max: 30 * SECONDS_PER_DAY,
        },
    },
    Setting {
        name: "password_reset_ttl",
        flag: "password-reset-ttl",
        env: "ROSTER_PASSWORD_RESET_TTL",
        value_name: "SECONDS",
        help: "Lifetime of a password reset link, in seconds",
        kind: Kind::Number {
            default: 1800,
            min: 60,
            max: SECONDS_PER_DAY,
        },
    },
    Setting {
        name: "magic_link_ttl",
        flag: "magic-link-ttl",
        env: "ROSTER_MAGIC_LINK_TTL",
        value_name: "SECONDS",
        help: "Lifetime of a sign-in link, in seconds",
        kind: Kind::Number {
            default: 900,
            min: 60,
            max: SECONDS_PER_DAY,
        },
    },
    Setting {
        name: "email_change_ttl",
        flag: "email-change-ttl",
        env: "ROSTER_EMAIL_CHANGE_TTL",
        value_name: "SECONDS",
        help: "Lifetime of an email change link, in seconds",
        kind: Kind::Number {
            default: 86400,
            min: 60,
            max: 30 * SECONDS_PER_DAY,
        },
    },
    Setting {
        name: "link_template_verify",
        flag: "link-template-verify",
        env: "ROSTER_LINK_TEMPLATE_VERIFY",
        value_name: "URL",
        help: "Your own page for these links, with {token} [default: <public-url>/account/verify?token={token}]",
        kind: Kind::Url {
            schemes: &["http", "https"],
            template: true,
        },
    },
    Setting {
        name: "link_template_reset",
        flag: "link-template-reset",
        env: "ROSTER_LINK_TEMPLATE_RESET",
        value_name: "URL",
        help: "Your own page for these links, with {token} [default: <public-url>/account/reset?token={token}]",
        kind: Kind::Url {
            schemes: &["http", "https"],
            template: true,
        },
    },
    Setting {
        name: "link_template_magic",
        flag: "link-template-magic",
        env: "ROSTER_LINK_TEMPLATE_MAGIC",
        value_name: "URL",
        help: "Your own page for these links, with {token} [default: <public-url>/account/magic?token={token}]",
        kind: Kind::Url {
            schemes: &["http", "https"],
            template: true,
        },
    },
    Setting {
        name: "link_template_email",
        flag: "link-template-email",
        env: "ROSTER_LINK_TEMPLATE_EMAIL",
        value_name: "URL",
        help: "Your own page for these links, with {token} [default: <public-url>/account/email?token={token}]",
        kind: Kind::Url {
            schemes: &["http", "https"],
            template: true,
        },
    },
    Setting {
        name: "allow_magic_link",
        flag: "allow-magic-link",
        env: "ROSTER_ALLOW_MAGIC_LINK",
        value_name: "BOOL",
        help: "Allow passwordless sign-in by a link sent by mail",
        kind: Kind::Bool { default: false },
    },
    Setting {
        name: "require_email_verification",
        flag: "require-email-verification",
        env: "ROSTER_REQUIRE_EMAIL_VERIFICATION",
        value_name: "BOOL",
        help: "Refuse sign-in until the email address is verified",
        kind: Kind::Bool { default: false },
    },
];
