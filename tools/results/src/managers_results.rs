//! The managers' read and publish costs, from criterion (`managers/<scenario>/<impl>`)
//! and from Go (`benches/go`), sorted into the scenarios the report plots.

use crate::criterion::Measurement;
use crate::go_results::GoBenchmark;

/// What a benchmark scenario measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `readers` threads reading, with or without a thread publishing.
    Read {
        readers: u32,
        writer: bool,
    },
    /// One publish of a new config.
    Publish,
    Other,
}

/// Reads a scenario name: `read_2`, `read_8_writer`, `r3`, `publish`,
/// `readers=2/writer` … the reader count is its first number (1 when none).
pub fn classify(scenario: &str) -> Scenario {
    let name = scenario.to_ascii_lowercase();
    let mentions_read =
        name.contains("read") || name.contains("uncontended") || starts_with_count(&name, 'r');
    let mentions_write = ["writ", "publish", "store", "swap"]
        .iter()
        .any(|word| name.contains(word))
        || starts_with_count(&name, 'w');
    let quiet = ["no_writ", "nowrit", "without", "quiet"]
        .iter()
        .any(|word| name.contains(word));
    if mentions_read {
        Scenario::Read {
            readers: first_number(&name).unwrap_or(1),
            writer: mentions_write && !quiet,
        }
    } else if mentions_write {
        Scenario::Publish
    } else {
        Scenario::Other
    }
}

/// `r3`, `w2`: arc-swap's scenario names.
fn starts_with_count(name: &str, letter: char) -> bool {
    name.strip_prefix(letter)
        .is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

fn first_number(name: &str) -> Option<u32> {
    let start = name.find(|c: char| c.is_ascii_digit())?;
    let digits: String = name[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// One cost, whichever language measured it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// The implementation as the report names it (`mutex`, `go mutex`).
    pub implementation: String,
    pub scenario: Scenario,
    pub nanos: f64,
}

/// Criterion's `managers/<scenario>/<impl>` (deeper ids keep their middle
/// parts in the scenario).
pub fn from_criterion(measurements: &[Measurement]) -> Vec<Cost> {
    measurements
        .iter()
        .filter_map(|measurement| {
            let rest = measurement.id.strip_prefix("managers/")?;
            let (scenario, implementation) = rest.rsplit_once('/')?;
            Some(Cost {
                implementation: implementation.to_owned(),
                scenario: classify(scenario),
                nanos: measurement.nanos,
            })
        })
        .collect()
}

/// Go's `<Scenario>/<impl>-<procs>`: with `RunParallel`, GOMAXPROCS is the
/// number of reading goroutines unless the name gives a count.
pub fn from_go(benchmarks: &[GoBenchmark]) -> Vec<Cost> {
    benchmarks
        .iter()
        .map(|benchmark| {
            let (scenario, implementation) = benchmark
                .name
                .rsplit_once('/')
                .unwrap_or(("", benchmark.name.as_str()));
            let scenario = match classify(scenario) {
                Scenario::Read { writer, .. } if first_number(scenario).is_none() => {
                    Scenario::Read {
                        readers: benchmark.procs,
                        writer,
                    }
                }
                other => other,
            };
            Cost {
                implementation: format!("go {}", implementation.to_ascii_lowercase()),
                scenario,
                nanos: benchmark.nanos,
            }
        })
        .collect()
}

/// The plain-`Arc` floor and Go's managers are references, not candidates.
pub fn is_reference(implementation: &str) -> bool {
    implementation.starts_with("go ")
        || ["floor", "plain", "baseline"]
            .iter()
            .any(|word| implementation.contains(word))
        || implementation == "arc"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_reads_the_usual_scenario_names() {
        let read = |readers, writer| Scenario::Read { readers, writer };
        assert_eq!(classify("read_1"), read(1, false));
        assert_eq!(classify("read_8_writer"), read(8, true));
        assert_eq!(classify("readers_2_no_writer"), read(2, false));
        assert_eq!(classify("r3"), read(3, false));
        assert_eq!(classify("uncontended"), read(1, false));
        assert_eq!(classify("ReadWhileWriting"), read(1, true));
        assert_eq!(classify("publish"), Scenario::Publish);
        assert_eq!(classify("w2"), Scenario::Publish);
        assert_eq!(classify("snapshot_size"), Scenario::Other);
    }

    #[test]
    fn criterion_ids_split_into_scenario_and_implementation() {
        let costs = from_criterion(&[
            Measurement {
                id: "managers/read_2_writer/arcswap".into(),
                nanos: 3.5,
            },
            Measurement {
                id: "reload/size_1k".into(),
                nanos: 9.0,
            },
        ]);
        assert_eq!(
            costs,
            vec![Cost {
                implementation: "arcswap".into(),
                scenario: Scenario::Read {
                    readers: 2,
                    writer: true
                },
                nanos: 3.5
            }]
        );
    }

    #[test]
    fn go_reader_count_is_gomaxprocs_unless_named() {
        let go = |name: &str, procs| GoBenchmark {
            name: name.into(),
            procs,
            nanos: 1.0,
        };
        let costs = from_go(&[
            go("Read/Mutex", 8),
            go("Read4/Mutex", 2),
            go("Publish/Channel", 1),
        ]);
        assert_eq!(costs[0].implementation, "go mutex");
        assert_eq!(
            costs[0].scenario,
            Scenario::Read {
                readers: 8,
                writer: false
            }
        );
        assert_eq!(
            costs[1].scenario,
            Scenario::Read {
                readers: 4,
                writer: false
            }
        );
        assert_eq!(costs[2].scenario, Scenario::Publish);
    }

    #[test]
    fn references_are_the_floor_and_go() {
        assert!(is_reference("go mutex"));
        assert!(is_reference("plain_arc"));
        assert!(is_reference("arc"));
        assert!(!is_reference("arcswap"));
        assert!(!is_reference("arcswap_cached"));
    }
}
