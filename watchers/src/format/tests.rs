use super::*;

#[derive(Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    message: String,
    #[serde(default)]
    port: u16,
}

fn error(format: Format, text: &str) -> String {
    format
        .parse::<Config>(text.as_bytes())
        .unwrap_err()
        .to_string()
}

/// The same document in each format.
fn documents(message: &str) -> [(Format, String); 3] {
    [
        (Format::Yaml, format!("message: {message:?}\nport: 80\n")),
        (
            Format::Json,
            format!("{{\"message\": {message:?}, \"port\": 80}}"),
        ),
        (Format::Toml, format!("message = {message:?}\nport = 80\n")),
    ]
}

#[test]
fn every_format_decodes_the_same_config() {
    for (format, text) in documents("hello") {
        assert_eq!(
            format.parse::<Config>(text.as_bytes()),
            Ok(Config {
                message: "hello".into(),
                port: 80
            }),
            "{format:?}"
        );
    }
}

#[test]
fn a_byte_order_mark_is_skipped_and_non_utf8_rejected_with_its_offset() {
    for (format, text) in documents("hi") {
        let with_bom = format!("\u{feff}{text}");
        assert!(
            format.parse::<Config>(with_bom.as_bytes()).is_ok(),
            "{format:?}"
        );
        let mut bad = text.into_bytes();
        bad[3] = 0xff;
        let reason = format.parse::<Config>(&bad).unwrap_err().to_string();
        assert!(
            reason.contains("not UTF-8: invalid byte at offset 3"),
            "{reason}"
        );
    }
}

#[test]
fn an_unknown_key_is_reported_by_position_and_the_expected_names_only() {
    for (format, text, line) in [
        (Format::Yaml, "message: a\nghp_SECRETTOKEN123: x\n", 2),
        (
            Format::Json,
            "{\"message\": \"a\",\n \"ghp_SECRETTOKEN123\": 1}",
            2,
        ),
        (Format::Toml, "message = \"a\"\nghp_SECRETTOKEN123 = 1\n", 2),
    ] {
        let reason = error(format, text);
        assert!(!reason.contains("ghp_SECRET"), "{reason}");
        assert!(reason.contains(&format!("line {line}")), "{reason}");
        assert!(
            reason.contains("unknown field, expected `message`"),
            "{reason}"
        );
        assert!(reason.contains("`port`"), "{reason}");
    }
}

#[test]
fn a_wrong_type_names_the_kind_not_the_value() {
    for (format, text) in [
        (Format::Yaml, "message: a\nport: hunter2\n"),
        (Format::Json, "{\"message\": \"a\", \"port\": \"hunter2\"}"),
        (Format::Toml, "message = \"a\"\nport = \"hunter2\"\n"),
    ] {
        let reason = error(format, text);
        assert!(!reason.contains("hunter2"), "{reason}");
        assert!(reason.contains("u16"), "{reason}");
    }
}

#[test]
fn an_invalid_value_names_what_was_expected_not_the_value() {
    for (format, text) in [
        (Format::Json, "{\"message\": \"a\", \"port\": 99999999}"),
        (Format::Toml, "message = \"a\"\nport = 99999999\n"),
    ] {
        let reason = error(format, text);
        assert!(!reason.contains("99999999"), "{reason}");
        assert!(reason.contains("u16"), "{reason}");
    }
}

/// A config that ignores keys it does not know.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Loose {
    message: String,
}

#[test]
fn a_duplicate_key_is_not_named() {
    for (format, text) in [
        (Format::Yaml, "message: a\nsecret_key: 1\nsecret_key: 2\n"),
        (
            Format::Toml,
            "message = \"a\"\nsecret_key = 1\nsecret_key = 2\n",
        ),
    ] {
        let reason = format
            .parse::<Loose>(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(!reason.contains("secret_key"), "{reason}");
        assert!(reason.contains("duplicate key"), "{reason}");
    }
}

#[test]
fn a_syntax_error_is_one_line_with_its_position_and_no_content() {
    for (format, text) in [
        (Format::Yaml, "message: a\nsecret: [hunter2\n"),
        (
            Format::Json,
            "{\"message\": \"a\",\n \"secret\": [\"hunter2\"\n",
        ),
        (Format::Toml, "message = \"a\"\nsecret = [\"hunter2\"\n"),
    ] {
        let reason = error(format, text);
        assert!(
            !reason.contains('\n') && !reason.contains("hunter2"),
            "{reason}"
        );
        assert!(
            reason.contains(&format!("invalid {}", format.name())),
            "{reason}"
        );
        assert!(
            reason.contains("line 2") || reason.contains("line 3"),
            "{reason}"
        );
    }
}

#[test]
fn a_missing_field_is_named_from_the_type() {
    for (format, text) in [
        (Format::Yaml, "port: 1\n"),
        (Format::Json, "{\"port\": 1}"),
        (Format::Toml, "port = 1\n"),
    ] {
        assert!(
            error(format, text).contains("missing field `message`"),
            "{format:?}"
        );
    }
}

#[test]
fn yaml_budgets_stop_alias_bombs_and_deep_nesting() {
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let list = vec![format!("*{previous}"); 9].join(",");
        bomb.push_str(&format!("{name}: &{name} [{list}]\n"));
    }
    bomb.push_str("message: *i\n");
    let error = Format::Yaml.parse::<Loose>(bomb.as_bytes()).unwrap_err();
    assert!(matches!(error, ParseError::Syntax(_)), "{error}");
    assert!(error.to_string().contains("limits breached"), "{error}");
    let flow = format!(
        "message: hi\nnested: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let error = Format::Yaml.parse::<Loose>(flow.as_bytes()).unwrap_err();
    assert!(matches!(error, ParseError::Syntax(_)), "{error}");
    assert!(
        error.to_string().contains("recursion limit exceeded"),
        "{error}"
    );
}

/// What the YAML parser refuses before any type is involved is a syntax
/// error; a document of the wrong shape for the type, a schema error.
#[test]
fn yaml_tells_a_bad_document_from_one_that_does_not_fit() {
    for text in [
        "message: one\n---\nmessage: two\n",
        "message: *nowhere\n",
        "message:\n\t- a\n",
        "%YAML 9.9\n---\nmessage: hi\n",
    ] {
        let error = Format::Yaml.parse::<Config>(text.as_bytes()).unwrap_err();
        assert!(matches!(error, ParseError::Syntax(_)), "{text:?}: {error}");
    }
    for (text, path) in [
        ("- a\n- b\n", ""),
        ("message: [a, b]\n", "message"),
        ("message: ~\n", "message"),
    ] {
        match Format::Yaml.parse::<Config>(text.as_bytes()).unwrap_err() {
            ParseError::Schema(error) => {
                assert_eq!(error.kind, SchemaErrorKind::WrongType, "{text:?}: {error}");
                assert_eq!(error.path, path, "{text:?}: {error}");
            }
            error => panic!("{text:?}: {error}"),
        }
    }
}

/// 100 000 levels of nesting (what fits under the 1 MiB limit) end in an
/// answer, not a stack overflow: serde_json skips an ignored value without
/// recursing and stops at 128 levels otherwise; toml stops at its own limit.
#[test]
fn json_and_toml_survive_deep_nesting() {
    let json = format!(
        "{{\"message\": \"hi\", \"nested\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let _ = Format::Json.parse::<Loose>(json.as_bytes());
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(
        Format::Json
            .parse::<serde::de::IgnoredAny>(deep.as_bytes())
            .is_ok()
    );
    let toml = format!(
        "message = \"hi\"\nnested = {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(Format::Toml.parse::<Loose>(toml.as_bytes()).is_err());
}

#[test]
fn quoted_spans_are_removed_but_syntax_in_backticks_kept() {
    assert_eq!(
        without_quotes("bad \"hunter2\" after `,` or `\"`", false),
        "bad (…) after `,` or `\"`"
    );
    assert_eq!(without_quotes("bad `hunter2` here", true), "bad (…) here");
}

#[test]
fn the_format_comes_from_the_extension() {
    assert_eq!(Format::from_path("a/b/app.YAML"), Some(Format::Yaml));
    assert_eq!(Format::from_path("app.json"), Some(Format::Json));
    assert_eq!(Format::from_path("app"), None);
}

/// A map's keys are the file's: however an error reaches one, the path
/// shows `<key>`.
#[test]
fn a_path_never_shows_a_map_key() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Clients {
        tokens: std::collections::HashMap<String, Token>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Token {
        scope: String,
    }
    for (format, text, kind, path) in [
        (
            Format::Yaml,
            "tokens:\n  sk_live_1: {scope: a}\n  sk_live_1: {scope: b}\n",
            SchemaErrorKind::DuplicateKey,
            "tokens.<key>",
        ),
        (
            Format::Yaml,
            "tokens:\n  sk_live_1: {scope: a, sk_live_2: b}\n",
            SchemaErrorKind::UnknownField,
            "tokens.<key>",
        ),
        (
            Format::Json,
            r#"{"tokens": {"sk_live_1": {}}}"#,
            SchemaErrorKind::MissingField,
            "tokens.<key>.scope",
        ),
        (
            Format::Toml,
            "[tokens.sk_live_1]\nscope = 1\n",
            SchemaErrorKind::WrongType,
            "tokens.<key>.scope",
        ),
    ] {
        match format.parse::<Clients>(text.as_bytes()).unwrap_err() {
            ParseError::Schema(error) => {
                assert_eq!((error.kind, error.path.as_str()), (kind, path), "{error}");
                assert!(!error.to_string().contains("sk_live"), "{error}");
            }
            error => panic!("{text:?}: {error}"),
        }
    }
}
