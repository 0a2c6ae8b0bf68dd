//! The peers section, from the peer harness's records (group `peers`, see
//! the `records` crate): every peer against every update pattern, bad input,
//! torn and half-written reads, idle cost, memory and versions, and one line
//! per peer of what it did well and badly.

use std::collections::BTreeSet;

use minijinja::{Value, context};

use crate::data::{Data, median, ordered};
use crate::format::{in_unit, nanos, seconds};
use crate::plot::{Chart, Kind, Series};
use crate::report::{Figures, Table};

const GROUP: &str = "peers";

/// Our service first, then the seed, then the others.
const SUBJECTS: &[&str] = &[
    "service-inotify",
    "service-notify",
    "service-poll",
    "seed",
    "viper",
    "koanf",
    "fsnotify-naive",
    "hotswap-config",
    "notify-debouncer-full",
];

const PATTERNS: &[&str] = &[
    "kubelet-after",
    "kubelet-before",
    "multi-key",
    "rename-replace",
    "in-place",
    "slow-in-place",
    "symlink-swap",
    "delete-recreate",
    "dir-swap",
];

const BAD_INPUTS: &[&str] = &[
    "bad-invalid-yaml",
    "bad-empty",
    "bad-wrong-type",
    "bad-missing-field",
    "bad-alias-bomb",
    "bad-oversize",
];

fn is_ours(subject: &str) -> bool {
    subject.starts_with("service-")
}

/// What a `verdict` text means to a reader.
fn verdict_words(verdict: &str) -> &str {
    match verdict {
        "keeps-last-good" => "survives",
        "serves-garbage" => "serves garbage",
        "dies" => "dies",
        other => other,
    }
}

pub fn section(data: &Data, figures: &mut Figures) -> Value {
    let records: Vec<_> = data.group(GROUP).collect();
    if records.is_empty() {
        return Value::UNDEFINED;
    }
    let subjects = ordered(records.iter().map(|r| r.subject.as_str()), SUBJECTS, |_| ());
    let scenarios_with = |metric: &str, known: &[&str]| {
        let found = records
            .iter()
            .filter(|r| r.metric == metric)
            .map(|r| r.scenario.as_str());
        ordered(found, known, |_| ())
    };
    let patterns = scenarios_with("detected", PATTERNS);
    let bad_inputs = scenarios_with("verdict", BAD_INPUTS);
    let value =
        |scenario: &str, subject: &str, metric: &str| data.value(GROUP, scenario, subject, metric);
    let cell = |scenario: &str, subject: &str, metric: &str| {
        data.get(GROUP, scenario, subject, metric)
            .map_or("–".into(), |r| {
                r.text.clone().unwrap_or_else(|| in_unit(r.value, &r.unit))
            })
    };
    let rows = |columns: &[String], cell: &dyn Fn(&str, &str) -> String| -> Vec<Vec<String>> {
        subjects
            .iter()
            .map(|s| {
                std::iter::once(format!("`{s}`"))
                    .chain(columns.iter().map(|c| cell(c, s)))
                    .collect()
            })
            .collect()
    };
    let header = |first: &str, columns: &[String]| {
        std::iter::once(first.to_owned())
            .chain(columns.iter().map(|c| format!("`{c}`")))
            .collect()
    };

    let matrix = Table {
        header: header("peer", &patterns),
        rows: rows(&patterns, &|p, s| detected_cell(data, p, s)),
    };
    let figure = figures.draw(
        "peers_latency.svg",
        &Chart {
            title: "Peers: p50 from an update's commit to the new config served".into(),
            x_label: "update pattern".into(),
            y_label: "p50 latency (log scale)".into(),
            categories: patterns.clone(),
            series: subjects
                .iter()
                .map(|s| {
                    let p50 = patterns
                        .iter()
                        .map(|p| value(p, s, "latency_p50").map(|v| v * 1e9));
                    Series::new(s.clone(), p50.collect())
                })
                .collect(),
            kind: Kind::Bars,
            log_y: true,
            format_y: nanos,
        },
    );
    let bad = Table {
        header: header("peer", &bad_inputs),
        rows: rows(&bad_inputs, &|b, s| bad_cell(data, b, s)),
    };
    let reads = Table {
        header: [
            "peer",
            "torn reads (`multi-key`)",
            "half-written configs served (`slow-in-place`)",
        ]
        .map(String::from)
        .into(),
        rows: rows(
            &["multi-key".into(), "slow-in-place".into()],
            &|scenario, s| {
                let metric = if scenario == "multi-key" {
                    "torn_reads"
                } else {
                    "half_written_served"
                };
                data.get(GROUP, scenario, s, metric)
                    .map_or("–".into(), |r| format!("{} of {}", r.value, r.n))
            },
        ),
    };
    let cost = Table {
        header: ["peer", "idle wake-ups", "idle CPU", "peak RSS", "version"]
            .map(String::from)
            .into(),
        rows: rows(
            &[
                "wakeups_per_s".into(),
                "cpu_per_s".into(),
                "peak_rss".into(),
                "version".into(),
            ],
            &|metric, s| cell(if metric.ends_with("_s") { "idle" } else { "-" }, s, metric),
        ),
    };
    let missing: Vec<&str> = SUBJECTS
        .iter()
        .copied()
        .filter(|s| !subjects.iter().any(|x| x == s))
        .collect();
    let provenance: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.provenance.iter().map(|(k, v)| format!("{k}: {v}")))
        .collect();
    let summaries: Vec<Value> = subjects
        .iter()
        .map(|s| summary(data, s, &patterns, &bad_inputs))
        .collect();
    context! {
        matrix, figure, bad, reads, cost, missing, summaries,
        provenance => provenance.into_iter().take(12).collect::<Vec<_>>(),
    }
}

/// `✓ 10/10 · 1.20 ms` (p50), `✗ 0/10`.
fn detected_cell(data: &Data, pattern: &str, subject: &str) -> String {
    let Some(detected) = data.get(GROUP, pattern, subject, "detected") else {
        return "–".into();
    };
    let mark = if detected.value as u64 == detected.n && detected.n > 0 {
        "✓"
    } else {
        "✗"
    };
    match data.value(GROUP, pattern, subject, "latency_p50") {
        Some(p50) if detected.value > 0.0 => {
            format!(
                "{mark} {}/{} · {}",
                detected.value,
                detected.n,
                seconds(p50)
            )
        }
        _ => format!("{mark} {}/{}", detected.value, detected.n),
    }
}

/// `survives`, `dies; recovers`, `serves garbage; no recovery`.
fn bad_cell(data: &Data, bad_input: &str, subject: &str) -> String {
    let Some(verdict) = data.text(GROUP, bad_input, subject, "verdict") else {
        return "–".into();
    };
    let words = verdict_words(verdict);
    match data.value(GROUP, bad_input, subject, "recovers") {
        _ if verdict == "keeps-last-good" => words.to_owned(),
        Some(recovers) if recovers >= 1.0 => format!("{words}; recovers"),
        Some(_) => format!("{words}; no recovery"),
        None => words.to_owned(),
    }
}

/// What one peer did, for the sentence the template writes about it.
fn summary(data: &Data, subject: &str, patterns: &[String], bad_inputs: &[String]) -> Value {
    let mut complete = Vec::new();
    let mut missed = Vec::new();
    let mut p50s = Vec::new();
    for pattern in patterns {
        let Some(detected) = data.get(GROUP, pattern, subject, "detected") else {
            continue;
        };
        if detected.value as u64 == detected.n && detected.n > 0 {
            complete.push(pattern.clone());
        } else {
            missed.push(format!("`{pattern}` {}/{}", detected.value, detected.n));
        }
        p50s.extend(data.value(GROUP, pattern, subject, "latency_p50"));
    }
    let verdicts: Vec<(&String, &str)> = bad_inputs
        .iter()
        .filter_map(|b| Some((b, data.text(GROUP, b, subject, "verdict")?)))
        .collect();
    let failing = |verdict: &str| -> Vec<String> {
        verdicts
            .iter()
            .filter(|(_, v)| *v == verdict)
            .map(|(b, _)| format!("`{b}`"))
            .collect()
    };
    let counted = |scenario: &str, metric: &str| {
        data.get(GROUP, scenario, subject, metric)
            .map(|r| context! { value => r.value as u64, n => r.n })
    };
    context! {
        name => subject,
        ours => is_ours(subject),
        version => data.text(GROUP, "-", subject, "version"),
        complete => complete.len(),
        measured => complete.len() + missed.len(),
        missed,
        median_p50 => median(p50s),
        survived => verdicts.iter().filter(|(_, v)| *v == "keeps-last-good").count(),
        bad_inputs => verdicts.len(),
        dies => failing("dies"),
        garbage => failing("serves-garbage"),
        torn => counted("multi-key", "torn_reads"),
        half_written => counted("slow-in-place", "half_written_served"),
    }
}
