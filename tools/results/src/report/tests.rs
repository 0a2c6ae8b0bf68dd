//! The renderer on fixtures: `tests/fixtures/quick-run.jsonl` (the records
//! of a real `all --quick`, the peer harness absent), `bench-sample.jsonl`
//! (every bench's records, with the figures of an earlier full run; its
//! `kube` records are watchers/benches/results/kube.jsonl, its
//! `load/api_reload_latency` ones from a quick load run) and
//! `peers-sample.jsonl` (a peer harness's records, with made-up but
//! realistic values: the harness is built on another branch; `config-notify`'s
//! are its records in `docs/records/peers.jsonl`).

use std::path::Path;

use records::Record;

use super::*;
use crate::check::check_output;

fn fixture(name: &str) -> Vec<Record> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    records::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn all_fixtures() -> Vec<Record> {
    let mut all = fixture("bench-sample.jsonl");
    all.extend(fixture("peers-sample.jsonl"));
    all
}

fn render_records(records: Vec<Record>) -> Report {
    render(&Data::new(records)).expect("the template renders")
}

/// The report written to a temporary docs directory, and what the check says.
fn written(report: &Report) -> Vec<String> {
    let docs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(docs.path().join("img")).unwrap();
    for (name, svg) in &report.figures {
        std::fs::write(docs.path().join("img").join(name), svg).unwrap();
    }
    std::fs::write(docs.path().join("results.md"), &report.markdown).unwrap();
    check_output(docs.path())
}

/// The lines of `## heading`'s section.
fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let start = markdown
        .find(&format!("## {heading}\n"))
        .unwrap_or_else(|| panic!("no {heading}"));
    let rest = &markdown[start + 3..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The first cells of the table rows under the line starting with `header`.
fn row_names(section: &str, header: &str) -> Vec<String> {
    section
        .lines()
        .skip_while(|line| !line.starts_with(header))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| line.split('|').nth(1).unwrap().trim().to_owned())
        .collect()
}

fn without_subject(records: Vec<Record>, subject: &str) -> Vec<Record> {
    records
        .into_iter()
        .filter(|r| !(r.group == "peers" && r.subject == subject))
        .collect()
}

#[test]
fn every_fixture_renders_a_complete_report() {
    let report = render_records(all_fixtures());
    assert_eq!(
        written(&report),
        Vec::<String>::new(),
        "{}",
        report.markdown
    );
    assert_eq!(report.figures.len(), 7);
}

#[test]
fn a_real_quick_run_renders_a_complete_report() {
    let report = render_records(fixture("quick-run.jsonl"));
    assert_eq!(
        written(&report),
        Vec::<String>::new(),
        "{}",
        report.markdown
    );
    assert!(report.markdown.contains("> **Quick mode**"));
    assert!(report.markdown.contains("**Skipped:** package `peers`"));
    // Its load average (4.23) was above its 2 cores: the page says so.
    assert!(report.markdown.contains("busier than its 2 cores"));
    let quiet = render_records(fixture("bench-sample.jsonl")).markdown;
    assert!(
        !quiet.contains("busier than"),
        "load average 1.40 on 2 cores is not busy"
    );
}

#[test]
fn the_peer_matrix_lists_every_peer_in_a_stable_order() {
    let report = render_records(all_fixtures());
    let peers = section(&report.markdown, "Peers");
    assert_eq!(
        row_names(peers, "| peer | `kubelet-after`"),
        [
            "`service-inotify`",
            "`service-notify`",
            "`service-poll`",
            "`seed`",
            "`viper`",
            "`koanf`",
            "`fsnotify-naive`",
            "`hotswap-config`",
            "`notify-debouncer-full`",
            "`config-notify`",
        ]
    );
    // The seed: every kubelet update, at its 1 s tick; no symlink swap.
    assert!(peers.contains("| `seed` | ✓ 10/10 · 950 ms |"), "{peers}");
    assert!(peers.contains("✗ 0/10 |"), "{peers}");
    // Bad input, torn reads, the idle/RSS/version table.
    assert!(
        peers.contains("| `seed` | dies; no recovery | serves garbage; recovers |"),
        "{peers}"
    );
    assert!(
        peers.contains("| `fsnotify-naive` | 37 of 2000 | 7 of 20 |"),
        "{peers}"
    );
    assert!(
        peers.contains("13.6 MiB | go1.19.8, fsnotify v1.4.9, yaml.v2 |"),
        "{peers}"
    );
    // At a glance: every cell says it was measured, or that it was not.
    let seed = "| `seed` | ✗ 6 of 9, measured | ✗ 0 of 6, measured | ✓ measured | ✗ measured |";
    assert!(peers.contains(seed), "{peers}");
}

#[test]
fn a_peer_that_does_well_is_said_to() {
    let report = render_records(all_fixtures());
    let peers = section(&report.markdown, "Peers");
    let viper = peers
        .lines()
        .find(|line| line.starts_with("- **`viper`**"))
        .unwrap();
    assert!(
        viper.contains("served every update of 8 of 9 patterns"),
        "{viper}"
    );
    assert!(viper.contains("missed some of `dir-swap` 0/20"), "{viper}");
    let service = peers
        .lines()
        .find(|line| line.starts_with("- **`service-inotify`**"))
        .unwrap();
    assert!(
        service.contains("of 9 of 9 patterns") && service.contains("on 6 of 6 bad inputs"),
        "{service}"
    );
}

#[test]
fn a_missing_peer_is_named_and_has_no_row() {
    let report = render_records(without_subject(all_fixtures(), "koanf"));
    let peers = section(&report.markdown, "Peers");
    assert!(peers.contains("Not in this run: `koanf`."), "{peers}");
    assert!(!row_names(peers, "| peer | `kubelet-after`").contains(&"`koanf`".to_owned()));
    assert_eq!(written(&report), Vec::<String>::new());
}

#[test]
fn a_dead_peer_and_an_unknown_pattern_still_render_after_the_known_ones() {
    let mut records = all_fixtures();
    for pattern in ["kubelet-after", "zz-new-pattern"] {
        records.push(Record::new(
            "peers",
            pattern,
            "crashes-at-once",
            "detected",
            0.0,
            "count",
            10,
        ));
    }
    records.push(
        Record::new(
            "peers",
            "bad-invalid-yaml",
            "crashes-at-once",
            "verdict",
            0.0,
            "",
            1,
        )
        .with_text("dies"),
    );
    records.push(Record::new(
        "peers",
        "bad-invalid-yaml",
        "crashes-at-once",
        "recovers",
        0.0,
        "count",
        1,
    ));
    records.push(Record::new(
        "peers",
        "zz-new-pattern",
        "viper",
        "detected",
        5.0,
        "count",
        5,
    ));
    let report = render_records(records);
    let peers = section(&report.markdown, "Peers");
    let header = peers
        .lines()
        .find(|line| line.starts_with("| peer | `kubelet-after`"))
        .unwrap();
    assert!(
        header.ends_with("`dir-swap` | `zz-new-pattern` |"),
        "{header}"
    );
    let rows = row_names(peers, "| peer | `kubelet-after`");
    assert_eq!(rows.last().map(String::as_str), Some("`crashes-at-once`"));
    let dead = peers
        .lines()
        .find(|line| line.starts_with("| `crashes-at-once` | ✗ 0/10 |"))
        .unwrap();
    assert!(dead.ends_with("| ✗ 0/10 |"), "{dead}");
    assert!(
        peers.contains("| `crashes-at-once` | dies; no recovery | – |"),
        "{peers}"
    );
    let glance =
        "| `crashes-at-once` | ✗ 0 of 2, measured | ✗ measured | – not measured | – not measured |";
    assert!(peers.contains(glance), "{peers}");
    assert!(
        peers.contains(
            "Kept the last good config on 0 of 1 bad inputs; dies on `bad-invalid-yaml`."
        )
    );
    assert_eq!(written(&report), Vec::<String>::new());
}

#[test]
fn no_peers_file_at_all_says_why_and_the_rest_renders() {
    let mut records = fixture("bench-sample.jsonl");
    records.push(
        Record::new("results", "peers", "-", "skipped", 0.0, "", 1)
            .with_text("package `peers` is not in this workspace."),
    );
    let report = render_records(records.clone());
    let peers = section(&report.markdown, "Peers");
    assert!(
        peers.contains("**Skipped:** package `peers` is not in this workspace."),
        "{peers}"
    );
    assert!(
        !report
            .figures
            .iter()
            .any(|(name, _)| name == "peers_latency.svg")
    );
    assert_eq!(written(&report), Vec::<String>::new());
    assert!(
        report
            .markdown
            .contains("not measured in this run ([Peers](#peers) says why)")
    );

    // Without the reason, the missing records are a problem.
    records.pop();
    let problems = written(&render_records(records));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("`Peers`: **No results:**"),
        "{problems:?}"
    );
}

#[test]
fn no_records_at_all_is_a_report_of_what_is_missing() {
    let report = render_records(Vec::new());
    assert!(report.markdown.contains("No results to decide from yet."));
    assert_eq!(written(&report).len(), SECTIONS.len());
}

#[test]
fn the_guide_quotes_the_records() {
    let records = vec![
        Record::new(
            "managers",
            "read_8t",
            "arcswap_cached",
            "ns_per_read",
            0.182,
            "ns",
            30,
        ),
        Record::new(
            "managers",
            "read_8t",
            "mutex",
            "ns_per_read",
            24.5,
            "ns",
            30,
        ),
        Record::new(
            "managers",
            "read_8t",
            "plain_arc",
            "ns_per_read",
            0.1,
            "ns",
            30,
        ),
        Record::new(
            "watchers", "kubelet", "inotify", "detected", 200.0, "count", 200,
        ),
        Record::new(
            "watchers",
            "kubelet",
            "inotify",
            "latency_p50",
            0.00011,
            "s",
            200,
        ),
        Record::new(
            "watchers", "kubelet", "poll_1s", "detected", 10.0, "count", 10,
        ),
        Record::new(
            "watchers",
            "kubelet",
            "poll_1s",
            "latency_p50",
            0.46,
            "s",
            10,
        ),
        Record::new(
            "watchers", "kubelet", "notify", "detected", 199.0, "count", 200,
        ),
        Record::new(
            "watchers",
            "idle",
            "inotify",
            "wakeups_per_s",
            0.0,
            "1/s",
            10,
        ),
    ];
    let markdown = render_records(records).markdown;
    assert!(
        markdown.contains("**Manager: `arcswap_cached`**"),
        "{markdown}"
    );
    assert!(markdown.contains("0.182 ns per read with 8 reader threads (the unsynchronised floor: 0.100 ns); `mutex` 24.5 ns (135×)"));
    assert!(markdown.contains("**Watcher: `inotify`** on Linux: every update of every pattern detected, a kubelet update served 110 µs"));
    assert!(markdown.contains("Idle, it wakes 0 times a second"));
    // `notify` missed one update: it is not the choice, `poll_1s` is the fallback.
    assert!(markdown.contains("`poll_1s` detects every pattern too, a kubelet update p50 460 ms"));
}

/// notify is never the recommended watcher, even when it is the fastest
/// that detected everything: it cannot be fenced against a reload.
#[test]
fn the_guide_never_recommends_an_unfenced_watcher() {
    let mut records = Vec::new();
    for (subject, p50) in [("notify", 0.00005), ("inotify", 0.00011)] {
        records.push(Record::new(
            "watchers", "kubelet", subject, "detected", 200.0, "count", 200,
        ));
        records.push(Record::new(
            "watchers",
            "kubelet",
            subject,
            "latency_p50",
            p50,
            "s",
            200,
        ));
    }
    let markdown = render_records(records).markdown;
    assert!(
        markdown.contains("**Watcher: `inotify`** on Linux"),
        "{markdown}"
    );
    assert!(!markdown.contains("**Watcher: `notify`**"));
}

#[test]
fn read_scenarios_are_parsed_from_their_names() {
    assert_eq!(read_scenario("read_8t_writer"), Some((8, true)));
    assert_eq!(read_scenario("read_1t"), Some((1, false)));
    assert_eq!(read_scenario("publish"), None);
    assert_eq!(readers_label((1, true)), "1 reader + writer");
}

#[test]
fn any_one_subject_alone_renders() {
    // A quick run measures one manager under load; a filtered bench run, a
    // few ids: whatever subset of the records there is, the page renders.
    let all = all_fixtures();
    let mut subjects: Vec<(String, String)> = all
        .iter()
        .map(|r| (r.group.clone(), r.subject.clone()))
        .collect();
    subjects.dedup();
    for (group, subject) in subjects {
        let alone = all
            .iter()
            .filter(|r| r.group == group && r.subject == subject)
            .cloned();
        if let Err(error) = render(&Data::new(alone)) {
            panic!("{group}/*/{subject} alone: {error:#}");
        }
    }
}

fn kube_only(records: Vec<Record>) -> Vec<Record> {
    records.into_iter().filter(|r| r.group == "kube").collect()
}

#[test]
fn the_api_section_puts_both_paths_of_one_run_side_by_side() {
    let markdown = render_records(fixture("bench-sample.jsonl")).markdown;
    let api = section(&markdown, "Through the Kubernetes API");
    assert_eq!(
        row_names(api, "| path"),
        [
            "`api`",
            "`volume-inotify`",
            "`api`, the service over HTTP (`arcswap`)",
            "`volume-inotify`, the service over HTTP (`arcswap`)"
        ]
    );
    // Over HTTP: the load benchmark's records, both paths.
    assert!(api.contains("| `api`, the service over HTTP (`arcswap`) | the API server's commit | 2.73 ms | 3.47 ms | 3.47 ms | 20 |"), "{api}");
    assert!(api.contains("| `volume-inotify`, the service over HTTP (`arcswap`) | the kubelet's `..data` rename | 566 µs |"), "{api}");
    // The fixture's own numbers (watchers/benches/results/kube.jsonl).
    assert!(
        api.contains("| `api` | the API server's commit | 239 µs | 974 µs | 2.07 ms | 500 |"),
        "{api}"
    );
    assert!(api.contains("| wake-ups of its threads | 0/s |"), "{api}");
    assert!(api.contains("+4.1 MiB"), "{api}");
    assert!(api.contains("apiserver-emu (emulated, loopback)"), "{api}");
    assert!(
        markdown.contains("**To cut the kubelet's minute**: the `kube` source serves an update 239 µs (p50) after the emulated API server's commit, 3.47 ms at p99 over HTTP through the service."),
        "{markdown}"
    );
}

#[test]
fn without_api_records_the_section_says_so_and_the_guide_is_silent() {
    let records: Vec<Record> = all_fixtures()
        .into_iter()
        .filter(|r| r.group != "kube")
        .collect();
    let report = render_records(records);
    let api = section(&report.markdown, "Through the Kubernetes API");
    assert!(api.contains(NO_RESULTS), "{api}");
    assert!(!report.markdown.contains("To cut the kubelet's minute"));
    assert_eq!(
        written(&report),
        [
            "section `Through the Kubernetes API`: **No results:** no `kube/...` records from `cargo bench -p config-reload --features testing,kube --bench kube -- --out <file>`."
        ]
    );
    // And the API's records alone render that section complete.
    let alone = render_records(kube_only(fixture("bench-sample.jsonl")));
    assert!(!section(&alone.markdown, "Through the Kubernetes API").contains(NO_RESULTS));
}

/// The registry (`records::registry::Peer`, and the service once per
/// `WatcherKind`) is the renderer's list of subjects: the fixture has every
/// one, and a run without one of them says so (`config-notify` once was
/// missing from the renderer's own copy of the list, and went unreported).
#[test]
fn every_registered_peer_is_named_when_its_records_are_missing() {
    let complete = section(&render_records(all_fixtures()).markdown, "Peers").to_owned();
    assert!(!complete.contains("Not in this run"), "{complete}");
    for subject in crate::peers::subjects() {
        let report = render_records(without_subject(all_fixtures(), &subject));
        let peers = section(&report.markdown, "Peers");
        assert!(
            peers.contains(&format!("Not in this run: `{subject}`.")),
            "{subject} missing, not reported: {peers}"
        );
    }
}
