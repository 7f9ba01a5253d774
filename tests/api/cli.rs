use std::process::Command;

use crate::helpers::roster_bin;

/// Runs the binary with the given args and env; returns (success, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(roster_bin());
    cmd.args(args).current_dir(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_exit_non_zero_with_one_clear_sentence() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (&[], &[("ROSTER_LISTEN", "not-an-address")], "listen"),
        (&["--listen", "300.1.1.1:80"], &[], "listen"),
        (&["--body-limit", "lots"], &[], "body_limit"),
        (&[], &[("ROSTER_REQUEST_TIMEOUT", "0")], "request_timeout"),
        (&["--config", "missing.toml"], &[], "config"),
    ];
    for (args, env, setting) in cases {
        let (ok, stderr) = run(args, env);
        assert!(!ok, "{args:?} {env:?} should fail");
        assert!(stderr.contains(setting), "{args:?} {env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
    }
}

#[test]
fn a_bad_config_file_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nbody_limit = \"big\"\n").unwrap();
    let (ok, stderr) = run(&["--config", file.to_str().unwrap()], &[]);
    assert!(!ok);
    assert!(stderr.contains("body_limit"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn version_and_help() {
    let out = Command::new(roster_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = Command::new(roster_bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--listen", "--data", "--config", "ROSTER_LISTEN"] {
        assert!(help.contains(flag), "{help}");
    }
}

#[test]
fn graphql_schema_prints_the_checked_in_sdl() {
    let out = Command::new(roster_bin())
        .arg("graphql-schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let sdl = String::from_utf8(out.stdout).unwrap();
    assert!(sdl.contains("type Query {"), "{sdl}");
    assert!(sdl.contains("type Subscription {"));
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.graphql"))
            .unwrap();
    assert_eq!(sdl, checked_in);
}
