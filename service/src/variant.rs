//! Which managers and watchers this binary was compiled with, and picking
//! one of each at run time.
//!
//! Cargo features decide what is compiled in: `build.rs` reads them from
//! service/Cargo.toml (the one list of variants) and generates the
//! compiled-in lists; `--manager` and `--watcher` only choose among those.

include!(concat!(env!("OUT_DIR"), "/variants.rs"));

/// The requested name, or the only one compiled in; an error naming the
/// choices when several are compiled in and none was requested.
pub fn choose(
    requested: Option<&str>,
    compiled: &[&'static str],
    flag: &str,
    env: &str,
) -> Result<&'static str, String> {
    match (requested, compiled) {
        (Some(name), _) => compiled
            .iter()
            .find(|compiled| **compiled == name)
            .copied()
            .ok_or_else(|| {
                format!(
                    "{name:?} is not compiled in (choices: {})",
                    compiled.join(", ")
                )
            }),
        (None, [only]) => Ok(only),
        (None, all) => Err(format!(
            "several are compiled in ({}): choose one with {flag} or {env}",
            all.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_only_one_is_chosen_and_several_need_a_flag() {
        assert_eq!(
            choose(None, &["arcswap"], "--manager", "MANAGER"),
            Ok("arcswap")
        );
        let error = choose(None, &["inotify", "poll"], "--watcher", "WATCHER").unwrap_err();
        assert!(
            error.contains("inotify, poll") && error.contains("--watcher"),
            "{error}"
        );
        assert_eq!(
            choose(Some("poll"), &["inotify", "poll"], "", ""),
            Ok("poll")
        );
        assert!(choose(Some("mutex"), &["arcswap"], "", "").is_err());
    }

    #[test]
    fn the_compiled_lists_are_never_empty() {
        assert!(!COMPILED_MANAGERS.is_empty() && !COMPILED_WATCHERS.is_empty());
    }
}
