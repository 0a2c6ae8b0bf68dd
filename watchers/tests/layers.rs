//! Defaults under the watched file and environment overrides over it,
//! merged again on every reload (feature `layers`). One binary of its own:
//! the variables are set once, before any watch reads the environment.

mod common;

use std::fs;
use std::sync::Once;

use common::wait_until;
use config_reload::{ConfigSource, LoadErrorKind, SchemaErrorKind, StartError, Watch};

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Config {
    message: String,
    limit: u32,
    port: u16,
    tls: Tls,
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Tls {
    enabled: bool,
}

#[derive(serde::Serialize)]
struct Defaults {
    port: u16,
    limit: u32,
    tls: Tls,
}

fn environment() {
    static SET: Once = Once::new();
    // SAFETY: set once, before any thread of this binary reads the
    // environment (every test calls this first).
    SET.call_once(|| unsafe {
        std::env::set_var("LAYERSTEST_LIMIT", "5");
        std::env::set_var("LAYERSTEST_TLS__ENABLED", "true");
        std::env::set_var("BROKENTEST_PORT", "s3cr3t-not-a-port");
    });
}

fn defaults() -> Defaults {
    Defaults {
        port: 8080,
        limit: 1,
        tls: Tls { enabled: false },
    }
}

#[test]
fn env_overrides_and_defaults_are_applied_again_on_every_reload() {
    environment();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "message: one\nlimit: 2\n").unwrap();
    let watch = Watch::<Config>::builder(ConfigSource::file(&path))
        .defaults(defaults())
        .env_prefix("LAYERSTEST_")
        .start()
        .unwrap();
    let first = watch.get();
    assert_eq!(first.message, "one", "the file over the defaults");
    assert_eq!(first.limit, 5, "the environment over the file");
    assert_eq!(first.port, 8080, "the defaults where the file says nothing");
    assert!(first.tls.enabled, "a nested override (`__`)");

    fs::write(&path, "message: two\nlimit: 3\nport: 9090\n").unwrap();
    wait_until("the edit is served", || watch.get().message == "two");
    let second = watch.get();
    assert_eq!(second.limit, 5, "the override survives the edit");
    assert_eq!(second.port, 9090, "the file's new field over the defaults");
    assert!(second.tls.enabled);
}

#[test]
fn a_bad_override_is_a_schema_error_naming_the_variable_not_its_value() {
    environment();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "message: one\n").unwrap();
    let error = Watch::<Config>::builder(ConfigSource::file(&path))
        .defaults(defaults())
        .env_prefix("BROKENTEST_")
        .start()
        .err()
        .expect("the override is not a port");
    let StartError::InitialLoad(error) = error else {
        panic!("{error}");
    };
    let LoadErrorKind::Schema(schema) = &error.kind else {
        panic!("{error}");
    };
    assert_eq!(schema.kind, SchemaErrorKind::WrongType);
    assert_eq!(schema.path, "port");
    assert_eq!(error.kind.label(), "wrong_type");
    let said = error.to_string();
    assert!(said.contains("BROKENTEST_PORT"), "{said}");
    assert!(
        !said.contains("s3cr3t"),
        "the value is never quoted: {said}"
    );
}

#[test]
fn without_layers_a_missing_field_is_still_an_error() {
    environment();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    fs::write(&path, "message: one\n").unwrap();
    let error = Watch::<Config>::file(&path)
        .err()
        .expect("no limit, no port");
    let StartError::InitialLoad(error) = error else {
        panic!("{error}");
    };
    assert_eq!(error.kind.label(), "missing_field", "{error}");
}
