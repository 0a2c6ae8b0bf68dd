//! Which managers and watchers this binary was compiled with, and picking
//! one of each at run time.
//!
//! Cargo features decide what is compiled in: `build.rs` reads them from
//! service/Cargo.toml (the one list of variants) and generates the
//! compiled-in lists; `--manager` and `--watcher` only choose among those.

include!(concat!(env!("OUT_DIR"), "/variants.rs"));

/// The requested `what` (`manager`, `watcher`: also its flag and, upper
/// case, its variable), or the only one compiled in; an error naming the
/// choices when several are compiled in and none was requested.
pub fn choose(
    what: &str,
    requested: Option<&str>,
    compiled: &[&'static str],
) -> Result<&'static str, String> {
    let choices = compiled.join(", ");
    match (requested, compiled) {
        (Some(name), _) => compiled
            .iter()
            .find(|compiled| **compiled == name)
            .copied()
            .ok_or_else(|| {
                format!("cannot choose a {what}: {name:?} is not compiled in (choices: {choices})")
            }),
        (None, [only]) => Ok(only),
        (None, _) => Err(format!(
            "cannot choose a {what}: several are compiled in ({choices}): choose one with \
             --{what} or {}",
            what.to_uppercase()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_only_one_is_chosen_and_several_need_a_flag() {
        assert_eq!(choose("manager", None, &["arcswap"]), Ok("arcswap"));
        let error = choose("watcher", None, &["inotify", "poll"]).unwrap_err();
        assert!(
            error.contains("inotify, poll") && error.contains("--watcher or WATCHER"),
            "{error}"
        );
        assert_eq!(
            choose("watcher", Some("poll"), &["inotify", "poll"]),
            Ok("poll")
        );
        assert!(choose("manager", Some("mutex"), &["arcswap"]).is_err());
    }

    #[test]
    fn the_compiled_lists_are_never_empty() {
        assert!(!COMPILED_MANAGERS.is_empty() && !COMPILED_WATCHERS.is_empty());
    }
}
