use super::*;
use crate::load_results::LoadRow;
use crate::watcher_results::Idle;

fn cost(implementation: &str, scenario: Scenario, nanos: f64) -> Cost {
    Cost {
        implementation: implementation.into(),
        scenario,
        nanos,
    }
}

fn latency(pattern: &str, strategy: &str, detected: u64, p50: Option<f64>) -> Latency {
    Latency {
        id: format!("watchers/{pattern}/{strategy}"),
        attempted: 10,
        detected,
        p50_ns: p50,
        p99_ns: p50.map(|p| p * 2.0),
    }
}

fn idle(strategy: &str, wakeups: u64) -> Idle {
    Idle {
        id: format!("idle/{strategy}"),
        idle_ns: 10e9,
        process_cpu_ns: 2e6,
        process_wakeups: wakeups + 1,
        watcher_threads: 1,
        watcher_wakeups: wakeups,
        watcher_cpu_ns: 0.0,
    }
}

/// A small but complete set of results.
fn inputs() -> Inputs {
    let read = |readers, writer| Scenario::Read { readers, writer };
    let mut managers = Vec::new();
    for (name, base) in [
        ("arcswap", 4.0),
        ("mutex", 5.0),
        ("channel", 400.0),
        ("plain_arc", 0.5),
        ("go mutex", 5.5),
    ] {
        for (readers, writers) in [
            (1, &[false][..]),
            (2, &[false, true][..]),
            (8, &[false][..]),
        ] {
            for &writer in writers {
                let slowdown = if name == "arcswap" || name == "plain_arc" {
                    1.0
                } else {
                    f64::from(readers)
                };
                managers.push(cost(
                    name,
                    read(readers, writer),
                    base * slowdown * if writer { 1.5 } else { 1.0 },
                ));
            }
        }
        managers.push(cost(name, Scenario::Publish, base * 20.0));
    }
    Inputs {
        managers,
        go_missing: None,
        reload: vec![Measurement {
            id: "reload/size_1k".into(),
            nanos: 25_000.0,
        }],
        watchers: WatcherResults {
            latency: vec![
                latency("kubelet", "inotify", 10, Some(90e3)),
                latency("symlink_swap", "inotify", 10, Some(80e3)),
                latency("kubelet", "poll_100ms", 10, Some(50e6)),
                latency("symlink_swap", "poll_100ms", 10, Some(52e6)),
                latency("kubelet", "poll_10ms", 10, Some(5e6)),
                latency("symlink_swap", "poll_10ms", 10, Some(5e6)),
                latency("kubelet", "seed", 1, Some(600e6)),
                latency("symlink_swap", "seed", 0, None),
            ],
            idle: vec![idle("inotify", 0), idle("poll_100ms", 100), idle("seed", 10)],
        },
        load: Ok(LoadResults {
            setup: "wrk -t2 -c64 -d10s, 3 alternating pairs per manager".into(),
            rows: vec![
                LoadRow {
                    manager: "arcswap".into(),
                    floor_rps: 100e3,
                    quiet_rps: 90e3,
                    ratio: 0.9,
                    reloading_rps: 85e3,
                    reload_cost: "5.0%".into(),
                    non2xx: 0,
                    rss_mb: 9.5,
                },
                LoadRow {
                    manager: "channel".into(),
                    floor_rps: 100e3,
                    quiet_rps: 45e3,
                    ratio: 0.45,
                    reloading_rps: 44e3,
                    reload_cost: "2.0%".into(),
                    non2xx: 0,
                    rss_mb: 9.9,
                },
            ],
            floor_rss_mb: Some(5.2),
            latency: Some("arcswap + inotify reload latency over 200 updates: p50 300µs".into()),
        }),
        reliability: Some("# Reliability\n\nIntro.\n\n| test | result |\n|---|---|\n| invalid YAML | pass: keeps last good |\n".into()),
        quick: false,
    }
}

fn provenance() -> Provenance {
    Provenance {
        cores: 2,
        cpu_model: "Xeon".into(),
        date: "2026-11-26T16:30:00Z".into(),
        commit: "abc123".into(),
        command: "cargo run -p results --release -- all".into(),
    }
}

fn build_fixture(inputs: &Inputs) -> Report {
    build(
        inputs,
        &provenance(),
        &crate::runner::bench_commands(crate::runner::Length::Full),
    )
}

fn written(report: &Report) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("img")).unwrap();
    for (name, svg) in &report.figures {
        std::fs::write(dir.path().join("img").join(name), svg).unwrap();
    }
    std::fs::write(dir.path().join("results.md"), &report.markdown).unwrap();
    dir
}

#[test]
fn a_complete_input_gives_a_complete_report() {
    let report = build_fixture(&inputs());
    let dir = written(&report);
    assert_eq!(crate::check::check_output(dir.path()), Vec::<String>::new());
    assert_eq!(report.figures.len(), 6);
}

#[test]
fn the_guide_picks_from_the_numbers_and_links_its_figures() {
    let markdown = build_fixture(&inputs()).markdown;
    let guide = &markdown
        [markdown.find("## Decision guide").unwrap()..markdown.find("## Reading").unwrap()];
    assert!(guide.contains("**Manager: `arcswap`**"), "{guide}");
    assert!(guide.contains("(#reading-the-config)"));
    assert!(guide.contains("**Watcher: `inotify`**"));
    // The slowest poll that still detects everything.
    assert!(guide.contains("`poll_100ms` detects every pattern"));
    assert!(guide.contains("detected 1 of 10 kubelet updates"));
    assert!(guide.contains("`symlink_swap` 0/10"));
    // channel at 8 readers: 400 * 8 = 3200 ns vs 4 ns.
    assert!(guide.contains("(`channel`) 3.20 µs — 800×"), "{guide}");
    assert!(guide.contains("from 4.00 ns to 6.00 ns"), "{guide}");
    assert!(guide.contains("[Reliability](#reliability)"));
}

#[test]
fn every_figure_carries_its_provenance() {
    let markdown = build_fixture(&inputs()).markdown;
    for (_, figures) in SECTIONS {
        for figure in *figures {
            let at = markdown.find(&format!("](img/{figure})")).unwrap();
            let caption = &markdown[at..at + 400];
            assert!(
                caption.contains("2 cores, Xeon · 2026-11-26T16:30:00Z · commit abc123"),
                "{caption}"
            );
        }
    }
}

#[test]
fn tables_show_the_seed_row_and_missed_updates() {
    let markdown = build_fixture(&inputs()).markdown;
    assert!(markdown.contains(
        "| `seed` (2016 design: resolved file, 1 s tick) | ✗ 1/10 · 600 ms / 1.20 s | ✗ 0/10 |"
    ));
    assert!(markdown.contains("| `inotify` | ✓ 10/10 · 90.0 µs / 180 µs |"));
    assert!(markdown.contains("1 reliability scenarios, none failing."));
    assert!(markdown.contains("| invalid YAML | pass |"));
}

#[test]
fn missing_results_are_flagged_and_skips_are_explained() {
    let mut inputs = inputs();
    inputs.managers.clear();
    inputs.load = Err(format!("{SKIPPED} `wrk` is not installed"));
    let dir = written(&build_fixture(&inputs));
    let problems = crate::check::check_output(dir.path());
    assert!(problems.iter().any(|p| p.contains(READING)), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains(PUBLISHING)),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.contains(SERVING)),
        "{problems:?}"
    );
}

#[test]
fn headline_gives_each_test_its_verdict() {
    let document = "# Reliability\n\nIntro.\n\n\
        | test | load | result | reproduce |\n|---|---|---|---|\n\
        | Dangling `..data` | 3 rounds | pass ×3 (rejected, counted) | `cargo test` |\n\
        | Permission denied | 3 rounds | pass ×3: logged; counted | `cargo test` |\n\
        | Bursts | — | pass ×9, numbers below | `cargo test` |\n\
        | Inputs | — | pass ×3. Every rejection named | `cargo test` |\n\
        | Overflow | — | FAIL: lost | `cargo test` |\n\n## Later\n\n| other | table |\n";
    assert_eq!(
        headline(document).unwrap(),
        "5 reliability scenarios, 1 failing.\n\n| test | verdict |\n|---|---|\n\
         | Dangling `..data` | pass ×3 |\n| Permission denied | pass ×3 |\n| Bursts | pass ×9 |\n\
         | Inputs | pass ×3 |\n| Overflow | FAIL |\n"
    );
    assert_eq!(headline("# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"), None);
    assert_eq!(headline("# T\n"), None);
}

#[test]
fn the_watcher_is_ranked_over_every_pattern_not_one() {
    let mut inputs = inputs();
    inputs.watchers.latency.extend([
        latency("kubelet", "notify", 10, Some(50e3)),
        latency("symlink_swap", "notify", 10, Some(400e3)),
        latency("in_place", "notify", 10, Some(400e3)),
        latency("in_place", "inotify", 10, Some(95e3)),
    ]);
    let markdown = build_fixture(&inputs).markdown;
    assert!(markdown.contains("**Watcher: `inotify`**"), "{markdown}");
}

#[test]
fn the_service_claim_gives_the_spread_and_names_the_slowest() {
    let mut inputs = inputs();
    if let Ok(load) = &mut inputs.load {
        let mut mutex = load.rows[0].clone();
        mutex.manager = "mutex".into();
        mutex.ratio = 0.95;
        load.rows.push(mutex);
    }
    let markdown = build_fixture(&inputs).markdown;
    assert!(
        markdown.contains("every manager but `channel` serves 0.90–0.95 of the bare axum floor"),
        "{markdown}"
    );
    assert!(markdown.contains("`channel` serves 0.45"), "{markdown}");
}
