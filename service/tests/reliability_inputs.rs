//! What a careful adversary would put in the config file, against the real
//! binary: beyond `end_to_end.rs`'s §3 list, YAML's own features (tags,
//! merge keys, anchors, several documents), odd scalars, bytes no YAML
//! allows, other encodings, and sizes meant to exhaust memory.
//!
//! Every rejected input must leave the process alive, the last good config
//! served, `/readyz` 200, the failure logged with its reason and counted,
//! and the next good file served. Inputs that YAML defines as a plain
//! string (`message: 42`, a `!!binary` string, an unknown tag) are served
//! exactly as YAML decodes them: that is asserted too, so a change of
//! behaviour shows up here.

mod common;

// The compiled-in variants, from service/Cargo.toml (`build.rs`).
include!(concat!(env!("OUT_DIR"), "/variants.rs"));
mod reliability;

use std::fs::{self, File};

use common::{Flags, Service};
use config_reload::testing;
use reliability::{FAILURES, assert_still_serving, peak_rss_bytes, wait_rejected, yaml};

/// What an input must do.
enum Expect {
    /// Rejected, the log line's reason containing this.
    Rejected(&'static str),
    /// Valid YAML for the config: served with exactly this body.
    Served(&'static str),
}

use Expect::{Rejected, Served};

fn utf16_with_bom(text: &str, big_endian: bool) -> Vec<u8> {
    let mut bytes = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        bytes.extend(if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    bytes
}

/// Every input, with what it must do under `--max-config-bytes 4 MiB`
/// (large enough that the million-element list reaches the parser).
/// Nine levels, each merging the previous one nine times: merge keys
/// replay anchors just as a "billion laughs" list does.
fn merge_bomb() -> String {
    let mut doc =
        String::from("l0: &l0 {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v, k8: v}\n");
    for level in 1..=8 {
        let refs = vec![format!("*l{}", level - 1); 9].join(", ");
        doc.push_str(&format!("l{level}: &l{level} {{<<: [{refs}]}}\n"));
    }
    doc + "message: hi\n"
}

/// Nine levels of nine aliases each: 9^10 strings if expanded.
fn billion_laughs() -> String {
    let mut doc = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (level, previous) in ('b'..='j').zip('a'..) {
        let refs = vec![format!("*{previous}"); 9].join(",");
        doc.push_str(&format!("{level}: &{level} [{refs}]\n"));
    }
    doc + "message: *j\n"
}

fn inputs() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let million = format!("message: [{}]\n", vec!["a"; 1_000_000].join(","));
    vec![
        // YAML features.
        (
            "a !!binary tag",
            b"message: !!binary aGVsbG8=\n".to_vec(),
            Served("hello"),
        ),
        (
            "a custom tag on the scalar",
            b"message: !custom tagged\n".to_vec(),
            Served("tagged"),
        ),
        (
            "a custom tag on the document",
            b"!Config\nmessage: root tag\n".to_vec(),
            Served("root tag"),
        ),
        (
            "an !!str tag on a number",
            b"message: !!str 42\n".to_vec(),
            Served("42"),
        ),
        (
            "a merge key",
            b"<<: {message: merged}\n".to_vec(),
            Served("merged"),
        ),
        (
            "a merge key from an unknown field",
            b"base: &b {message: x}\n<<: *b\n".to_vec(),
            Rejected("unknown field"),
        ),
        (
            "a merge-key bomb",
            merge_bomb().into_bytes(),
            Rejected("invalid YAML"),
        ),
        (
            "a billion-laughs bomb",
            billion_laughs().into_bytes(),
            Rejected("invalid YAML"),
        ),
        (
            "a !!binary tag that is not UTF-8",
            b"message: !!binary /w==\n".to_vec(),
            Rejected("UTF-8"),
        ),
        (
            "an anchor on the value",
            b"message: &m anchored\n".to_vec(),
            Served("anchored"),
        ),
        (
            "an undefined alias",
            b"message: *nowhere\n".to_vec(),
            Rejected("unknown anchor"),
        ),
        (
            "two documents",
            b"message: one\n---\nmessage: two\n".to_vec(),
            Rejected("single YAML document expected"),
        ),
        (
            "one document with markers",
            b"%YAML 1.2\n---\nmessage: marked\n...\n".to_vec(),
            Served("marked"),
        ),
        (
            "an unsupported YAML version",
            b"%YAML 9.9\n---\nmessage: hi\n".to_vec(),
            Rejected("YAML major version"),
        ),
        (
            "only comments",
            b"# nothing\n# here\n".to_vec(),
            Rejected("end of file"),
        ),
        (
            "only a document marker",
            b"---\n".to_vec(),
            Rejected("invalid YAML"),
        ),
        (
            "only whitespace",
            b"  \n\n".to_vec(),
            Rejected("invalid YAML"),
        ),
        (
            "a complex key",
            b"? [a]\n: b\nmessage: hi\n".to_vec(),
            Rejected("invalid YAML"),
        ),
        (
            "a tab in block indentation",
            b"message:\n\t- a\n".to_vec(),
            Rejected("tabs"),
        ),
        // The message's type.
        ("a null message", b"message: ~\n".to_vec(), Rejected("null")),
        (
            "a null message spelled out",
            b"message: null\n".to_vec(),
            Rejected("null"),
        ),
        (
            "a number as message",
            b"message: 42\n".to_vec(),
            Served("42"),
        ),
        (
            "a boolean as message",
            b"message: true\n".to_vec(),
            Served("true"),
        ),
        (
            "a list as message",
            b"message: [a, b]\n".to_vec(),
            Rejected("expected string"),
        ),
        (
            "a map as message",
            b"message: {a: b}\n".to_vec(),
            Rejected("expected string"),
        ),
        (
            "a whitespace-only message",
            b"message: \"\\t \\n\"\n".to_vec(),
            Rejected("empty"),
        ),
        (
            "a message of no-break spaces",
            "message: \"\u{a0}\u{a0}\u{202f}\"\n".as_bytes().to_vec(),
            Rejected("empty"),
        ),
        (
            "a message of zero-width characters",
            "message: \"\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}\"\n"
                .as_bytes()
                .to_vec(),
            Rejected("empty"),
        ),
        (
            "a message of a soft hyphen, a variation selector and an ideographic space",
            "message: \"\u{ad}\u{fe0f}\u{3000}\"\n".as_bytes().to_vec(),
            Rejected("empty"),
        ),
        (
            "one visible character among zero-width ones",
            "message: \"\u{200b}x\"\n".as_bytes().to_vec(),
            Served("\u{200b}x"),
        ),
        (
            "a block scalar",
            b"message: |\n  two\n  lines\n".to_vec(),
            Served("two\nlines\n"),
        ),
        // Keys.
        ("no message", b"{}\n".to_vec(), Rejected("missing field")),
        (
            "duplicate keys",
            b"message: a\nmessage: b\n".to_vec(),
            Rejected("duplicate"),
        ),
        (
            "an unknown field",
            b"message: a\nextra: 1\n".to_vec(),
            Rejected("unknown field"),
        ),
        (
            "an overlong key (100 000 bytes)",
            format!("{}: x\nmessage: hi\n", "k".repeat(100_000)).into_bytes(),
            Rejected("invalid YAML"),
        ),
        // Bytes.
        (
            "a raw control character",
            b"message: a\x07b\n".to_vec(),
            Rejected("unexpected character"),
        ),
        (
            "a raw NUL byte",
            b"message: a\x00b\n".to_vec(),
            Rejected("unexpected character"),
        ),
        (
            "an escaped control character",
            b"message: \"bell\\a\"\n".to_vec(),
            Served("bell\x07"),
        ),
        (
            "invalid UTF-8 mid-file",
            b"message: fine\n# \xC3\x28 broken\n".to_vec(),
            Rejected("not UTF-8: invalid byte at offset 16"),
        ),
        (
            "UTF-16LE with a BOM",
            utf16_with_bom("message: utf16\n", false),
            Rejected("not UTF-8"),
        ),
        (
            "UTF-16BE with a BOM",
            utf16_with_bom("message: utf16\n", true),
            Rejected("not UTF-8"),
        ),
        // Sizes.
        (
            "a million-element list",
            million.into_bytes(),
            Rejected("expected string"),
        ),
        (
            "a 10 MB single line",
            format!("message: {}\n", "x".repeat(10 << 20)).into_bytes(),
            Rejected("larger than the limit"),
        ),
    ]
}

/// Every input, each followed by a good file, on one running service.
fn adversarial_inputs(watcher: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml("good 0")).unwrap();
    let service = Service::start(
        &Flags::new(&path, watcher).set("--max-config-bytes", &(4 << 20).to_string()),
    );
    let mut good = service.wait_for_message("good 0").text();
    for (index, (name, bytes, expect)) in inputs().into_iter().enumerate() {
        let before = reliability::before(&service);
        testing::rename_replace(&path, &bytes).unwrap();
        match expect {
            Rejected(reason) => {
                let line = wait_rejected(&service, &before, reason);
                assert!(
                    line.contains(&path.display().to_string()),
                    "{name}: the log names the file: {line}"
                );
                assert_still_serving(&service, &good, name);
            }
            Served(body) => {
                let reply = service.wait_for_message(body);
                assert_eq!(
                    service.metric(FAILURES),
                    before.failures,
                    "{name}: valid, so not counted as a failure"
                );
                assert_eq!(reply.status, 200, "{name}");
            }
        }
        good = format!("good {}", index + 1);
        testing::rename_replace(&path, yaml(&good).as_bytes()).unwrap();
        service.wait_for_message(&good);
    }
}

/// The size limit and the alias budget act before memory grows: a 2 GiB
/// sparse file (nothing to read, everything to allocate), a billion-laughs
/// bomb and a merge-key bomb at the default limit, then the peak RSS of the
/// process stays small. A budget, asserted loosely: an implementation that
/// read the file or expanded the aliases would need gigabytes.
fn memory_stays_bounded(watcher: &str) {
    const BUDGET: u64 = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, yaml("small")).unwrap();
    let service = Service::start(&Flags::new(&path, watcher));
    service.wait_for_message("small");

    let before = reliability::before(&service);
    let staged = dir.path().join("sparse.staged");
    File::create(&staged).unwrap().set_len(2 << 30).unwrap();
    fs::rename(&staged, &path).unwrap();
    wait_rejected(
        &service,
        &before,
        "larger than the limit (2147483648 > 1048576 bytes)",
    );
    assert_still_serving(&service, "small", "a 2 GiB sparse file");

    for (name, bomb) in [
        ("a billion-laughs bomb", billion_laughs()),
        ("a merge-key bomb", merge_bomb()),
    ] {
        let before = reliability::before(&service);
        testing::rename_replace(&path, bomb.as_bytes()).unwrap();
        wait_rejected(&service, &before, "invalid YAML");
        assert_still_serving(&service, "small", name);
    }

    let peak = peak_rss_bytes(service.pid());
    eprintln!("{watcher}: peak RSS after the bombs: {} KiB", peak / 1024);
    assert!(
        peak < BUDGET,
        "peak RSS {peak} bytes over the {BUDGET}-byte budget"
    );
    testing::rename_replace(&path, yaml("after the bombs").as_bytes()).unwrap();
    service.wait_for_message("after the bombs");
}

macro_rules! for_every_watcher {
    ($($name:literal => $module:ident),* $(,)?) => {$(
        mod $module {
            #[test] fn adversarial_inputs_keep_the_last_good_config() { super::adversarial_inputs($name) }
            #[test] fn size_limit_and_alias_budget_keep_memory_bounded() { super::memory_stays_bounded($name) }
        }
    )*};
}

compiled_file_watchers!(for_every_watcher);
