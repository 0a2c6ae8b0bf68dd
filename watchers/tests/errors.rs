//! Each kind of decoding failure from a real file, in YAML, JSON and TOML,
//! through the public start (`Watch::file`): its kind and label, where it
//! is (line, column) and which field (the path as the type names it), and a
//! one-line reason that never quotes the file.

use std::collections::HashMap;
use std::fs;

use config_reload::{
    ConfigSource, LoadError, LoadErrorKind, SchemaError, SchemaErrorKind, StartError,
    ValidationError, Watch,
};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Config {
    name: String,
    limits: Limits,
    #[serde(default)]
    servers: Vec<Server>,
    /// Keyed by names the file chooses: a path through it must not show them.
    #[serde(default)]
    routes: HashMap<String, Route>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    max_connections: u32,
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Server {
    host: String,
    port: u16,
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Route {
    timeout_ms: u64,
}

/// The error `Watch::file` starts with for a file named `name` holding `text`.
fn rejected(name: &str, text: &str) -> LoadError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs::write(&path, text).unwrap();
    match Watch::<Config>::file(&path) {
        Err(StartError::InitialLoad(error)) => {
            assert_eq!(error.path, path);
            error
        }
        Err(other) => panic!("{name}: expected a failed initial load, got {other}"),
        Ok(_) => panic!("{name} was accepted:\n{text}"),
    }
}

/// One file of a case: its name (the extension says the format), its
/// text, and the line and column its parser puts the failure at.
type Case = (&'static str, &'static str, (u64, u64));

/// The reason is one line and never shows `secret`, the file's content.
fn assert_one_clean_line(name: &str, reason: &str, secret: &str) {
    assert!(!reason.contains('\n'), "{name}: {reason}");
    assert!(!reason.contains(secret), "{name}: {reason}");
}

/// Every case is a schema error of `kind` about the field at `path`, with
/// `words` in its reason.
fn schema_errors(cases: &[Case], kind: SchemaErrorKind, path: &str, words: &str, secret: &str) {
    for &(name, text, (line, column)) in cases {
        let error = rejected(name, text);
        let reason = error.to_string();
        assert_eq!(error.kind.label(), kind.label(), "{name}: {reason}");
        let LoadErrorKind::Schema(schema) = &error.kind else {
            panic!("{name}: not a schema error: {reason}");
        };
        let SchemaError {
            kind: found,
            path: found_path,
            line: found_line,
            column: found_column,
            ..
        } = schema;
        assert_eq!(*found, kind, "{name}: {reason}");
        assert_eq!(found_path, path, "{name}: {reason}");
        assert_eq!(
            (*found_line, *found_column),
            (Some(line), Some(column)),
            "{name}: {reason}"
        );
        if !path.is_empty() {
            assert!(
                reason.contains(&format!(", in {path}: ")),
                "{name}: {reason}"
            );
        }
        assert!(reason.contains(words), "{name}: {reason}");
        assert_one_clean_line(name, &reason, secret);
    }
}

#[test]
fn a_syntax_error() {
    let cases: [Case; 3] = [
        (
            "app.yaml",
            "name: hunter2\nlimits: {max_connections: 1\n",
            (2, 9),
        ),
        (
            "app.json",
            "{\"name\": \"hunter2\",\n \"limits\": {\"max_connections\": 1\n",
            (3, 0),
        ),
        (
            "app.toml",
            "name = \"hunter2\"\nlimits = { max_connections = 1\n",
            (2, 31),
        ),
    ];
    for (name, text, (line, column)) in cases {
        let error = rejected(name, text);
        let reason = error.to_string();
        assert_eq!(error.kind.label(), "syntax", "{name}: {reason}");
        let LoadErrorKind::Syntax(syntax) = &error.kind else {
            panic!("{name}: not a syntax error: {reason}");
        };
        assert_eq!(
            (syntax.line, syntax.column),
            (Some(line), Some(column)),
            "{name}: {reason}"
        );
        assert!(
            reason.contains(&format!("invalid {}", syntax.format.name())),
            "{name}: {reason}"
        );
        assert_one_clean_line(name, &reason, "hunter2");
    }
}

#[test]
fn a_wrong_type() {
    schema_errors(
        &[
            (
                "app.yaml",
                "name: app\nlimits:\n  max_connections: hunter2\n",
                (3, 20),
            ),
            (
                "app.json",
                "{\"name\": \"app\",\n \"limits\": {\n  \"max_connections\": \"hunter2\"}}",
                (3, 30),
            ),
            (
                "app.toml",
                "name = \"app\"\n[limits]\nmax_connections = \"hunter2\"\n",
                (3, 19),
            ),
        ],
        SchemaErrorKind::WrongType,
        "limits.max_connections",
        "u32",
        "hunter2",
    );
}

/// Out of range is a wrong type too: YAML cannot tell `99999999` from `many`
/// for a `u16`.
#[test]
fn a_number_out_of_range() {
    schema_errors(
        &[
            (
                "app.yaml",
                "name: app\nlimits: {max_connections: 1}\nservers:\n  - {host: a, port: 80}\n  - {host: b, port: 99999999}\n",
                (5, 21),
            ),
            (
                "app.json",
                "{\"name\": \"app\", \"limits\": {\"max_connections\": 1},\n \"servers\": [{\"host\": \"a\", \"port\": 80},\n  {\"host\": \"b\", \"port\": 99999999}]}",
                (3, 32),
            ),
            (
                "app.toml",
                "name = \"app\"\nlimits = { max_connections = 1 }\n[[servers]]\nhost = \"a\"\nport = 80\n[[servers]]\nhost = \"b\"\nport = 99999999\n",
                (8, 8),
            ),
        ],
        SchemaErrorKind::WrongType,
        "servers[1].port",
        "u16",
        "99999999",
    );
}

#[test]
fn a_missing_field() {
    schema_errors(
        &[
            ("app.yaml", "name: hunter2\nlimits: {}\n", (2, 9)),
            (
                "app.json",
                "{\"name\": \"hunter2\",\n \"limits\": {}}",
                (2, 13),
            ),
            ("app.toml", "name = \"hunter2\"\n[limits]\n", (2, 1)),
        ],
        SchemaErrorKind::MissingField,
        "limits.max_connections",
        "missing field `max_connections`",
        "hunter2",
    );
}

/// The unknown name is the file's: the path names the struct that does not
/// know it.
#[test]
fn an_unknown_field() {
    schema_errors(
        &[
            (
                "app.yaml",
                "name: app\nlimits:\n  max_connections: 1\n  sk_live_secret: 2\n",
                (4, 3),
            ),
            (
                "app.json",
                "{\"name\": \"app\", \"limits\": {\"max_connections\": 1,\n \"sk_live_secret\": 2}}",
                (2, 17),
            ),
            (
                "app.toml",
                "name = \"app\"\n[limits]\nmax_connections = 1\nsk_live_secret = 2\n",
                (4, 1),
            ),
        ],
        SchemaErrorKind::UnknownField,
        "limits",
        "unknown field, expected `max_connections`",
        "sk_live_secret",
    );
}

/// YAML and JSON name the field; TOML finds the duplicate while parsing,
/// before any type is involved, so its path is empty.
#[test]
fn a_duplicate_key() {
    let secret = "sk_live_secret";
    schema_errors(
        &[
            (
                "app.yaml",
                "name: app\nlimits: {max_connections: 1}\nname: sk_live_secret\n",
                (3, 1),
            ),
            (
                "app.json",
                "{\"name\": \"app\", \"limits\": {\"max_connections\": 1},\n \"name\": \"sk_live_secret\"}",
                (2, 7),
            ),
        ],
        SchemaErrorKind::DuplicateKey,
        "name",
        "duplicate",
        secret,
    );
    schema_errors(
        &[(
            "app.toml",
            "name = \"app\"\nlimits = { max_connections = 1 }\nname = \"sk_live_secret\"\n",
            (3, 1),
        )],
        SchemaErrorKind::DuplicateKey,
        "",
        "duplicate key",
        secret,
    );
}

/// A map's keys are the file's words, not the type's: the path shows where
/// one stood, never what it said.
#[test]
fn a_path_through_a_map_hides_its_key() {
    schema_errors(
        &[
            (
                "app.yaml",
                "name: app\nlimits: {max_connections: 1}\nroutes:\n  sk_live_secret:\n    timeout_ms: soon\n",
                (5, 17),
            ),
            (
                "app.json",
                "{\"name\": \"app\", \"limits\": {\"max_connections\": 1},\n \"routes\": {\"sk_live_secret\": {\"timeout_ms\": \"soon\"}}}",
                (2, 51),
            ),
            (
                "app.toml",
                "name = \"app\"\nlimits = { max_connections = 1 }\n[routes.sk_live_secret]\ntimeout_ms = \"soon\"\n",
                (4, 14),
            ),
        ],
        SchemaErrorKind::WrongType,
        "routes.<key>.timeout_ms",
        "u64",
        "sk_live_secret",
    );
}

impl Config {
    /// The checks a parsed config must pass, for `Builder::validate`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.limits.max_connections == 0 {
            return Err(ValidationError::new("must be at least 1").at("limits.max_connections"));
        }
        if self.name.is_empty() {
            return Err("a name is needed".into());
        }
        Ok(())
    }
}

/// The error a watch validating with `Config::validate` starts with.
fn refused(name: &str, text: &str) -> LoadError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs::write(&path, text).unwrap();
    let started = Watch::<Config>::builder(ConfigSource::file(&path))
        .validate(Config::validate)
        .start();
    match started {
        Err(StartError::InitialLoad(error)) => error,
        Err(other) => panic!("{name}: expected a failed initial load, got {other}"),
        Ok(_) => panic!("{name} was accepted:\n{text}"),
    }
}

#[test]
fn a_failed_validation() {
    for (name, text) in [
        ("app.yaml", "name: app\nlimits: {max_connections: 0}\n"),
        (
            "app.json",
            "{\"name\": \"app\", \"limits\": {\"max_connections\": 0}}",
        ),
        (
            "app.toml",
            "name = \"app\"\nlimits = { max_connections = 0 }\n",
        ),
    ] {
        let error = refused(name, text);
        assert_eq!(error.kind.label(), "invalid", "{error}");
        assert_eq!(
            error.kind,
            LoadErrorKind::Invalid(ValidationError {
                path: Some("limits.max_connections".into()),
                message: "must be at least 1".into(),
            }),
            "{name}"
        );
        assert!(
            error
                .to_string()
                .ends_with("invalid config, in limits.max_connections: must be at least 1"),
            "{error}"
        );
    }
    let error = refused("app.yaml", "name: ''\nlimits: {max_connections: 1}\n");
    assert_eq!(
        error.kind,
        LoadErrorKind::Invalid(ValidationError::new("a name is needed"))
    );
}
