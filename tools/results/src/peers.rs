//! The peers section, from the peer harness's records (group `peers`, see
//! the `records` crate): every peer against every update pattern, bad input,
//! torn and half-written reads, idle cost, memory and versions, and one line
//! per peer of what it did well and badly.

use std::collections::BTreeSet;

use config_reload::WatcherKind;
use minijinja::{Value, context};
use records::registry::{self, BadInput, Pattern, Peer};

use crate::data::{Data, median, ordered};
use crate::plot::{Chart, Kind, Series};
use crate::report::{Figures, Table, cell, detected_all, latency_cell};

const GROUP: &str = "peers";

/// Every registered subject: our service (once per watcher) first, then
/// the registry's peers, the seed first.
pub fn subjects() -> Vec<String> {
    let ours = WatcherKind::ALL.map(|watcher| registry::service_subject(watcher.name()));
    let peers = Peer::ALL.iter().map(|peer| peer.name().to_owned());
    ours.into_iter().chain(peers).collect()
}

fn is_ours(subject: &str) -> bool {
    subject.starts_with(registry::SERVICE_PREFIX)
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
    let known = subjects();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let subjects = ordered(records.iter().map(|r| r.subject.as_str()), &known, |_| ());
    let scenarios_with = |metric: &str, known: &[&str]| {
        ordered(
            records
                .iter()
                .filter(|r| r.metric == metric)
                .map(|r| r.scenario.as_str()),
            known,
            |_| (),
        )
    };
    let patterns: Vec<&str> = Pattern::ALL.iter().map(|p| p.name()).collect();
    let bad_inputs: Vec<&str> = BadInput::ALL.iter().map(|b| b.name()).collect();
    let patterns = scenarios_with("detected", &patterns);
    let bad_inputs = scenarios_with("verdict", &bad_inputs);
    let series = subjects.iter().map(|s| {
        let p50 = patterns
            .iter()
            .map(|p| data.value(GROUP, p, s, "latency_p50").map(|v| v * 1e9));
        Series::new(s, p50.collect())
    });
    let figure = figures.draw(
        "peers_latency.svg",
        Chart::new(
            Kind::Bars,
            "Peers: p50 from an update's commit to the new config served",
            "update pattern",
            "p50 latency (log scale)",
        )
        .over(&patterns, series.collect()),
    );
    let counted = |scenario: &str, metric: &str, subject: &str| {
        data.get(GROUP, scenario, subject, metric)
            .map_or("–".into(), |r| format!("{} of {}", r.value, r.n))
    };
    let reads_header = [
        "peer",
        "torn reads (`multi-key`)",
        "half-written configs served (`slow-in-place`)",
    ];
    let cost_header = ["peer", "idle wake-ups", "idle CPU", "peak RSS", "version"];
    let missing: Vec<String> = known
        .iter()
        .filter(|s| !subjects.iter().any(|x| x == *s))
        .map(|s| s.to_string())
        .collect();
    let provenance: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.provenance.iter().map(|(k, v)| format!("{k}: {v}")))
        .collect();
    let glance_header = [
        "peer",
        "serves every update pattern",
        "keeps the last good config on bad input",
        "no torn reads",
        "never serves a half-written config",
    ];
    let glance = Table::rows(&glance_header, &subjects, |s| {
        let patterns = patterns
            .iter()
            .filter_map(|p| data.get(GROUP, p, s, "detected"));
        let bad = bad_inputs
            .iter()
            .filter_map(|b| data.text(GROUP, b, s, "verdict"));
        let none = |scenario, metric| {
            data.get(GROUP, scenario, s, metric)
                .map(|r| (r.value == 0.0, 1))
        };
        vec![
            feature(patterns.map(|r| (detected_all(r), 1))),
            feature(bad.map(|v| (v == "keeps-last-good", 1))),
            feature(none("multi-key", "torn_reads").into_iter()),
            feature(none("slow-in-place", "half_written_served").into_iter()),
        ]
    });
    context! {
        figure, missing, glance,
        matrix => Table::grid("peer", &patterns, &subjects, |s, p| latency_cell(data, GROUP, p, s, false)),
        bad => Table::grid("peer", &bad_inputs, &subjects, |s, b| bad_cell(data, b, s)),
        reads => Table::rows(&reads_header, &subjects, |s| {
            vec![counted("multi-key", "torn_reads", s), counted("slow-in-place", "half_written_served", s)]
        }),
        cost => Table::rows(&cost_header, &subjects, |s| {
            let idle = |metric| cell(data, GROUP, "idle", s, metric);
            vec![idle("wakeups_per_s"), idle("cpu_per_s"), cell(data, GROUP, "-", s, "peak_rss"), cell(data, GROUP, "-", s, "version")]
        }),
        summaries => subjects.iter().map(|s| summary(data, s, &patterns, &bad_inputs)).collect::<Vec<_>>(),
        provenance => provenance.into_iter().take(12).collect::<Vec<_>>(),
    }
}

/// `✓ measured`, `✗ 3 of 9, measured`, `– not measured`, from one
/// `(passed, counted)` per case.
fn feature(cases: impl Iterator<Item = (bool, u32)>) -> String {
    let (passed, total) = cases.fold((0, 0), |(passed, total), (ok, one)| {
        (passed + u32::from(ok), total + one)
    });
    match total {
        0 => "– not measured".into(),
        _ if passed == total => "✓ measured".into(),
        _ if total == 1 => "✗ measured".into(),
        _ => format!("✗ {passed} of {total}, measured"),
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
        if detected_all(detected) {
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
