//! The work every subject goes through: what each update pattern of
//! `records::registry` writes (each a way files really change under a
//! process, `shared/configmap-volumes.md` §1-2) and each bad input's file
//! (§3). Writers come from `config_reload::testing` where it has
//! them, so the harness makes the same system calls as the project's tests.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use config_reload::testing::{
    KubeletVolume, SymlinkOrder, rename_replace, swap_parent_dir, symlink_swap, write_in_place,
};
use records::registry::{BadInput, Pattern};

/// The config file's name in every layout.
const CONFIG: &str = "config.yaml";
/// The pause between the writes of a slow in-place rewrite.
const SLOW_WRITE_PAUSE: Duration = Duration::from_millis(300);
/// How long the path is missing in a delete-then-recreate.
const RECREATE_GAP: Duration = Duration::from_millis(100);
/// Each half of the multi-key message: long enough that a read racing a
/// write could see two versions, if anything let it.
const HALF_PADDING: usize = 1000;

/// The quick mode's patterns.
pub const QUICK: [Pattern; 2] = [Pattern::KubeletAfter, Pattern::RenameReplace];

/// What one update did: when it began, when it committed, what should be
/// served after it, and what a half-written read of it would serve.
#[derive(Debug)]
pub struct Applied {
    pub started: Instant,
    pub committed: Instant,
    pub body: Vec<u8>,
    pub partial: Vec<Vec<u8>>,
}

/// A pattern's files in a fresh directory, holding version 0.
pub struct Fixture {
    pattern: Pattern,
    root: PathBuf,
    config: PathBuf,
}

impl Fixture {
    /// Lays out `pattern`'s files under `root` with version 0.
    pub fn new(pattern: Pattern, root: &Path) -> io::Result<Self> {
        let config = match pattern {
            Pattern::DirSwap => root.join("conf").join(CONFIG),
            _ => root.join(CONFIG),
        };
        let fixture = Self {
            pattern,
            root: root.to_owned(),
            config,
        };
        match pattern {
            Pattern::KubeletAfter | Pattern::KubeletBefore | Pattern::MultiKey => {
                fixture.project(0)?;
            }
            Pattern::SymlinkSwap => {
                fs::write(root.join(versioned_name(0)), fixture.yaml(0))?;
                std::os::unix::fs::symlink(versioned_name(0), &fixture.config)?;
            }
            Pattern::DirSwap => {
                fs::create_dir_all(root.join("conf"))?;
                fs::write(&fixture.config, fixture.yaml(0))?;
            }
            _ => fs::write(&fixture.config, fixture.yaml(0))?,
        }
        Ok(fixture)
    }

    /// The path the subject is given.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The body version `n` should be served as.
    pub fn body(&self, n: u32) -> Vec<u8> {
        match self.pattern {
            Pattern::MultiKey => {
                let half = format!("v{n}:{}", "x".repeat(HALF_PADDING));
                format!("{half}|{half}").into_bytes()
            }
            Pattern::SlowInPlace => slow_lines(n).concat().into_bytes(),
            other => format!("{} v{n}", other.name()).into_bytes(),
        }
    }

    /// Writes version `n` (n >= 1) the pattern's way.
    pub fn apply(&self, n: u32) -> io::Result<Applied> {
        let started = Instant::now();
        let mut partial = Vec::new();
        let committed = match self.pattern {
            Pattern::KubeletAfter | Pattern::KubeletBefore | Pattern::MultiKey => {
                self.project(n)?
            }
            Pattern::RenameReplace => {
                let committed = Instant::now();
                rename_replace(&self.config, &self.yaml(n))?;
                committed
            }
            Pattern::InPlace => {
                let committed = Instant::now();
                write_in_place(&self.config, &self.yaml(n))?;
                committed
            }
            Pattern::SlowInPlace => {
                let lines = slow_lines(n);
                let mut file = File::create(&self.config)?;
                file.write_all(format!("message: |\n  {}", lines[0]).as_bytes())?;
                thread::sleep(SLOW_WRITE_PAUSE);
                file.write_all(format!("  {}", lines[1]).as_bytes())?;
                thread::sleep(SLOW_WRITE_PAUSE);
                let committed = Instant::now();
                file.write_all(format!("  {}", lines[2]).as_bytes())?;
                drop(file);
                partial.push(lines[0].clone().into_bytes());
                partial.push(lines[..2].concat().into_bytes());
                committed
            }
            Pattern::SymlinkSwap => {
                fs::write(self.root.join(versioned_name(n)), self.yaml(n))?;
                let committed = Instant::now();
                symlink_swap(&self.config, Path::new(&versioned_name(n)))?;
                committed
            }
            Pattern::DeleteRecreate => {
                fs::remove_file(&self.config)?;
                thread::sleep(RECREATE_GAP);
                let committed = Instant::now();
                write_in_place(&self.config, &self.yaml(n))?;
                committed
            }
            Pattern::DirSwap => {
                let committed = Instant::now();
                swap_parent_dir(&self.root.join("conf"), &[(CONFIG, &self.yaml(n))])?;
                committed
            }
        };
        Ok(Applied {
            started,
            committed,
            body: self.body(n),
            partial,
        })
    }

    /// The config file's YAML for version `n`.
    fn yaml(&self, n: u32) -> Vec<u8> {
        match self.pattern {
            Pattern::SlowInPlace => {
                let lines: String = slow_lines(n)
                    .iter()
                    .map(|line| format!("  {line}"))
                    .collect();
                format!("message: |\n{lines}").into_bytes()
            }
            _ => yaml_message(&String::from_utf8_lossy(&self.body(n))),
        }
    }

    /// One kubelet projection of version `n`; returns the commit instant.
    fn project(&self, n: u32) -> io::Result<Instant> {
        let order = match self.pattern {
            Pattern::KubeletBefore => SymlinkOrder::BeforeCommit,
            _ => SymlinkOrder::AfterCommit,
        };
        let volume = KubeletVolume::with_order(&self.root, order);
        let config = self.yaml(n);
        let mut payload: Vec<(String, Vec<u8>)> = vec![(CONFIG.to_owned(), config)];
        if self.pattern == Pattern::MultiKey {
            payload.push((
                "extra.yaml".to_owned(),
                format!("check: v{n}\n").into_bytes(),
            ));
            payload.push(("more.yaml".to_owned(), format!("also: v{n}\n").into_bytes()));
        }
        volume.project_timed(&payload)?.ok_or_else(|| {
            io::Error::other("the kubelet wrote nothing: the payload did not change")
        })
    }
}

/// Whether a multi-key body mixes two versions: two halves that differ. A
/// body of another shape is not torn (it is judged as unexpected instead).
pub fn is_torn(body: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    text.split_once('|')
        .is_some_and(|(first, second)| first != second)
}

/// `message: "<text>"` with the text as a YAML double-quoted scalar.
fn yaml_message(text: &str) -> Vec<u8> {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("message: \"{escaped}\"\n").into_bytes()
}

fn versioned_name(n: u32) -> String {
    format!("config-v{n}.yaml")
}

fn slow_lines(n: u32) -> [String; 3] {
    [1, 2, 3].map(|line| format!("v{n} line {line}\n"))
}

/// A bad input's bytes.
pub fn contents(bad: BadInput) -> Vec<u8> {
    match bad {
        BadInput::InvalidYaml => b"message: [\"unclosed\n".to_vec(),
        BadInput::Empty => Vec::new(),
        // A list where a string is expected.
        BadInput::WrongType => b"message:\n  - a\n  - b\n".to_vec(),
        BadInput::MissingField => b"other: \"no message here\"\n".to_vec(),
        BadInput::AliasBomb => alias_bomb(7),
        // 8 MiB: eight times the service's limit, small enough for a
        // subject that accepts it to answer with it.
        BadInput::Oversize => yaml_message(&"x".repeat(8 << 20)),
    }
}

/// "Billion laughs" cut to `levels` levels of ten: a file of a few hundred
/// bytes whose `message` expands to 10^levels strings.
fn alias_bomb(levels: u8) -> Vec<u8> {
    let names: Vec<char> = ('a'..='z').take(usize::from(levels)).collect();
    let mut yaml = format!(
        "{}: &{} [{}]\n",
        names[0],
        names[0],
        ["\"lol\""; 10].join(",")
    );
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 10].join(",");
        yaml.push_str(&format!("{}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    yaml.push_str(&format!("message: *{}\n", names[names.len() - 1]));
    yaml.into_bytes()
}

/// The good config a bad-input run starts from (`n = 0`) and recovers to.
pub fn good_yaml(n: u32) -> (Vec<u8>, Vec<u8>) {
    let body = format!("good v{n}");
    (yaml_message(&body), body.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_serves_what_its_yaml_says() {
        for &pattern in Pattern::ALL {
            let dir = tempfile::tempdir().unwrap();
            let fixture = Fixture::new(pattern, dir.path()).unwrap();
            for n in 0..3 {
                if n > 0 {
                    fixture.apply(n).unwrap();
                }
                let yaml = fs::read(fixture.config()).unwrap();
                let parsed: serde_json::Value = serde_saphyr::from_slice(&yaml).unwrap();
                assert_eq!(
                    parsed["message"].as_str().unwrap().as_bytes(),
                    fixture.body(n),
                    "{} v{n}",
                    pattern.name()
                );
            }
        }
    }

    #[test]
    fn slow_in_place_prefixes_are_valid_yaml_serving_the_partial_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture::new(Pattern::SlowInPlace, dir.path()).unwrap();
        let applied = fixture.apply(1).unwrap();
        assert_eq!(
            applied.partial,
            [b"v1 line 1\n".to_vec(), b"v1 line 1\nv1 line 2\n".to_vec()]
        );
        let parsed: serde_json::Value =
            serde_saphyr::from_str("message: |\n  v1 line 1\n").unwrap();
        assert_eq!(parsed["message"], "v1 line 1\n");
    }

    #[test]
    fn a_multi_key_body_is_torn_only_when_its_halves_differ() {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture::new(Pattern::MultiKey, dir.path()).unwrap();
        assert!(!is_torn(&fixture.body(3)));
        let mixed = [
            &fixture.body(1)[..HALF_PADDING + 3],
            &fixture.body(2)[HALF_PADDING + 3..],
        ]
        .concat();
        assert!(is_torn(&mixed));
        assert!(!is_torn(b""));
    }

    #[test]
    fn the_alias_bomb_expands_to_ten_to_the_levels() {
        let bomb = String::from_utf8(alias_bomb(3)).unwrap();
        assert_eq!(bomb.lines().count(), 4);
        assert!(bomb.ends_with("message: *c\n"), "{bomb}");
        assert!(alias_bomb(7).len() < 1000);
    }
}
