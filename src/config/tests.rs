use super::*;
use std::time::Duration;

#[test]
fn flags_override_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nbody_limit = 4096\n").unwrap();
    let args = SettingArgs::default()
        .with("config", file)
        .with("body_limit", "8192");
    let cfg = Config::resolve(&args).unwrap();
    assert_eq!(cfg.listen.port(), 9000);
    assert_eq!(cfg.body_limit, 8192);
    assert_eq!(cfg.data_dir, PathBuf::from("./roster-data"));
}

#[test]
fn bad_values_name_the_setting() {
    let args = SettingArgs::default().with("listen", "nowhere");
    let err = Config::resolve(&args).unwrap_err().to_string();
    assert!(err.contains("`listen`"), "{err}");

    let args = SettingArgs::default().with("request_timeout", "0");
    let err = Config::resolve(&args).unwrap_err().to_string();
    assert!(err.contains("`request_timeout`"), "{err}");
}

#[test]
fn the_shipped_example_file_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.toml");
    let example = include_str!("../../packaging/roster.toml");
    // Commented out it is the defaults; uncommented it must parse to them too.
    let uncommented: String = example
        .lines()
        .filter_map(|l| {
            l.strip_prefix("# ")
                .filter(|l| l.contains(" = ") && !l.contains("ROSTER_"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&file, uncommented).unwrap();
    let args = SettingArgs::default().with("config", file);
    let cfg = Config::resolve(&args).unwrap();
    assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.auth.login_rate_limit, Some(10));
    assert_eq!(cfg.cors_origins, ["https://app.example.com"]);
}

#[test]
fn unknown_file_keys_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
    let args = SettingArgs::default().with("config", file);
    let err = Config::resolve(&args).unwrap_err().to_string();
    assert!(err.contains("lisen"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

/// Writes `text` as a settings file and resolves it.
fn resolve_file(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.toml");
    std::fs::write(&file, text).unwrap();
    Config::resolve(&SettingArgs::default().with("config", file))
}

/// The message of the error that `text`, as a config file, must give.
fn file_error(text: &str) -> String {
    resolve_file(text).unwrap_err().to_string()
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let cfg = Config::for_data_dir("d");
    assert_eq!(cfg.listen.port(), 0);
    assert_eq!(cfg.data_dir, PathBuf::from("d"));
    assert_eq!(cfg.log_format, LogFormat::Pretty);
    assert_eq!(cfg.body_limit, 1024 * 1024);
    assert_eq!(cfg.request_timeout, Duration::from_secs(30));
    assert_eq!(cfg.header_read_timeout, Duration::from_secs(20));
    assert_eq!(cfg.max_concurrent_requests, 1024);
    assert_eq!(cfg.rate_limit, Some(1000));
    assert!(cfg.cors_origins.is_empty());
    assert_eq!(cfg.tls, None);
    let auth = AuthConfig::default();
    assert_eq!(auth.access_token_ttl, Duration::from_secs(900));
    assert_eq!(auth.refresh_token_ttl, Duration::from_secs(30 * 24 * 3600));
    assert_eq!(
        (auth.issuer.as_str(), auth.audience.as_str()),
        ("roster", "roster")
    );
    assert!(!auth.allow_registration);
    assert_eq!(auth.argon2, HashParams::default());
    assert!(auth.argon2_idle_priority);
    assert_eq!((auth.login_rate_limit, auth.login_burst), (Some(10), 5));
    assert_eq!(auth.bootstrap_admin, None);
    let resolved = Config::resolve(&SettingArgs::default()).unwrap();
    assert_eq!(resolved.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(resolved.data_dir, PathBuf::from("./roster-data"));
}

#[test]
fn the_table_names_flags_and_variables_alike() {
    let mut names = std::collections::HashSet::new();
    for s in settings::SETTINGS {
        assert!(names.insert(s.name), "`{}` twice", s.name);
        assert_eq!(s.flag, s.name.replace('_', "-"));
        assert_eq!(s.env, format!("ROSTER_{}", s.name.to_ascii_uppercase()));
    }
}

#[test]
fn every_kind_of_value_is_read_from_the_file() {
    let cfg = resolve_file(
        "log_format = \"json\"\nrate_limit = \"off\"\nlogin_rate_limit = 3\n\
         allow_registration = true\nissuer = \"me\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
    )
    .unwrap();
    assert_eq!(cfg.log_format, LogFormat::Json);
    assert_eq!(cfg.rate_limit, None);
    assert_eq!(cfg.auth.login_rate_limit, Some(3));
    assert!(cfg.auth.allow_registration);
    assert_eq!(cfg.auth.issuer, "me");
    let tls = cfg.tls.unwrap();
    assert_eq!((tls.cert, tls.key), ("c.pem".into(), "k.pem".into()));
}

#[test]
fn a_bad_file_value_names_the_setting_and_its_line() {
    let err = file_error("listen = \"127.0.0.1:0\"\nbody_limit = \"big\"\n");
    assert!(err.contains("line 2 (`body_limit = \"big\"`)"), "{err}");
    assert!(
        err.contains(
            "setting `body_limit` (--body-limit / ROSTER_BODY_LIMIT): \"big\" is not a whole number"
        ),
        "{err}"
    );
    for (text, expected) in [
        (
            "body_limit = -1",
            "must be between 1024 and 268435456, not -1",
        ),
        (
            "body_limit = 10",
            "must be between 1024 and 268435456, not 10",
        ),
        ("allow_registration = \"yes\"", "`allow_registration`"),
        ("log_format = \"JSON\"", "is not one of pretty, json"),
        (
            "cors_origins = [\"https://a.example/\"]",
            "is not an origin",
        ),
        (
            "cors_origins = \"https://a.example\"",
            "is not an array of origins",
        ),
        (
            "rate_limit = 0",
            "is not a positive whole number or \"off\"",
        ),
        (
            "issuer = \"\"",
            "setting `issuer` (--issuer / ROSTER_ISSUER) must be 1 to 256",
        ),
        (
            "data = \"\"",
            "setting `data` (--data / ROSTER_DATA) must not be empty",
        ),
        (
            "tls_cert = \"c.pem\"",
            "`tls_cert` (--tls-cert / ROSTER_TLS_CERT) is set but `tls_key` is not",
        ),
        ("config = \"other.toml\"", "unknown setting `config`"),
        (
            "smtp_url = \"http://mail.example\"",
            "must be a URL starting with smtp://",
        ),
        (
            "public_url = \"id.example.com\"",
            "must be a URL starting with http:// or https://",
        ),
        (
            "link_template_reset = \"https://app.example/reset\"",
            "must contain {token}",
        ),
        ("listen = ", "line 1"),
    ] {
        let err = file_error(text);
        assert!(err.contains(expected), "{text}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn a_bad_smtp_url_is_refused_without_repeating_its_password() {
    let err = file_error("smtp_url = \"ftp://roster:s3cret@mail.example\"");
    assert!(err.contains("smtp_url"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn an_unknown_key_gets_a_suggestion() {
    let err = file_error("body_limit = 4096\nlisen = \"x\"\n");
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("did you mean `listen`?"), "{err}");
}

#[test]
fn trusted_proxies_are_networks_in_cidr_form() {
    let args = SettingArgs::default().with("trusted_proxies", "10.1.2.3/8, 127.0.0.1, ::1");
    let cfg = Config::resolve(&args).unwrap();
    let nets: Vec<String> = cfg.trusted_proxies.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]);
    let cfg = resolve_file("trusted_proxies = [\"192.168.0.0/16\"]\n").unwrap();
    assert_eq!(cfg.trusted_proxies.len(), 1);
    assert!(
        file_error("trusted_proxies = \"192.168.0.0/16\"").contains("is not an array of networks")
    );
}

#[test]
fn flag_values_are_checked_like_file_values() {
    for (name, value, expected) in [
        ("rate_limit", "OFF", None),
        ("login_burst", " 7 ", None),
        (
            "allow_registration",
            "maybe",
            Some("\"maybe\" is not true or false"),
        ),
        (
            "cors_origins",
            "https://a.example, ftp://b",
            Some("\"ftp://b\" is not an origin"),
        ),
        (
            "tls_key",
            "k.pem",
            Some("`tls_key` (--tls-key / ROSTER_TLS_KEY) is set but"),
        ),
        ("trusted_proxies", "10.0.0.0/8, 127.0.0.1, ::1", None),
        (
            "trusted_proxies",
            "10.0.0.0/33",
            Some("\"10.0.0.0/33\" is not a network"),
        ),
    ] {
        let result = Config::resolve(&SettingArgs::default().with(name, value));
        match expected {
            None => assert!(result.is_ok(), "{name}={value}: {result:?}"),
            Some(expected) => {
                let err = result.unwrap_err().to_string();
                assert!(err.starts_with(&format!("setting `{name}`")), "{err}");
                assert!(err.contains(expected), "{err}");
            }
        }
    }
}
