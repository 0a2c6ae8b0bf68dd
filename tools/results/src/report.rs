//! docs/results.md and its figures, from records: this module turns the
//! records into tables, figures and the few numbers the prose quotes; the
//! prose itself is `templates/results.md.j2`.

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, Value, context};
use serde::Serialize;

use crate::data::{Data, ordered};
use crate::format::{count, in_unit, nanos, ratio, seconds, significant};
use crate::peers;
use crate::plot::{self, Chart, Kind, Marker, Series};

/// A section skipped for a reason outside the project (a tool not installed).
pub const SKIPPED: &str = "**Skipped:**";
/// A section whose bench left no records: always a problem.
pub const NO_RESULTS: &str = "**No results:**";

/// Every section the report must have, with the figures it must show
/// (unless it says it was skipped).
pub const SECTIONS: &[(&str, &[&str])] = &[
    (
        "Reading the config",
        &["read_cost_quiet.svg", "read_cost_writer.svg"],
    ),
    ("Publishing a config", &["publish_cost.svg"]),
    ("Noticing a change", &["watcher_latency.svg"]),
    ("Watching while nothing changes", &["idle_cost.svg"]),
    ("Serving requests", &["service_throughput.svg"]),
    ("Peers", &["peers_latency.svg"]),
];

const TEMPLATE: &str = include_str!("../templates/results.md.j2");

/// The parts `all` runs, each one records file.
pub const PARTS: [&str; 5] = ["managers", "watchers", "go", "load", "peers"];

pub struct Report {
    pub markdown: String,
    /// `(file name, SVG)` for docs/img/.
    pub figures: Vec<(String, String)>,
}

#[derive(Serialize, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Serialize)]
pub struct Figure {
    pub file: String,
    pub title: String,
    /// Why it could not be drawn.
    pub problem: Option<String>,
}

impl From<Table> for Value {
    fn from(table: Table) -> Self {
        Value::from(minijinja::value::Serde(table))
    }
}

impl From<Figure> for Value {
    fn from(figure: Figure) -> Self {
        Value::from(minijinja::value::Serde(figure))
    }
}

/// Charts drawn so far.
#[derive(Default)]
pub struct Figures(Vec<(String, String)>);

impl Figures {
    /// Renders `chart` as `file`.
    pub fn draw(&mut self, file: &str, chart: &Chart) -> Figure {
        let problem = match plot::render(chart) {
            Ok(svg) => {
                self.0.push((file.to_owned(), svg));
                None
            }
            Err(error) => Some(error),
        };
        Figure {
            file: file.to_owned(),
            title: chart.title.clone(),
            problem,
        }
    }
}

pub fn render(data: &Data) -> Result<Report, minijinja::Error> {
    let mut figures = Figures::default();
    let parts: BTreeMap<&str, Value> = PARTS
        .iter()
        .map(|part| {
            let text = |metric| data.text("results", part, "-", metric);
            (
                *part,
                context! { command => text("command"), skipped => text("skipped") },
            )
        })
        .collect();
    let machine = |metric| data.text("results", "-", "machine", metric);
    let managers = managers(data, &mut figures);
    let watchers = watchers(data, &mut figures);
    let load = load(data, &mut figures);
    let peers = peers::section(data, &mut figures);
    let guide = guide(data);

    let mut env = Environment::new();
    // `a.b` on a missing `a` is missing too: a section without records says so.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.add_filter("ns", nanos);
    env.add_filter("secs", seconds);
    env.add_filter("count", count);
    env.add_filter("sig", significant);
    env.add_function("ratio", ratio);
    env.add_template("results.md", TEMPLATE)?;
    let markdown = env.get_template("results.md")?.render(context! {
        quick => data.text("results", "-", "machine", "quick").is_some(),
        machine => context! {
            cores => machine("cores"), cpu => machine("cpu"), date => machine("date"),
            commit => machine("commit"), command => machine("command"), load => machine("load"),
        },
        parts, managers, watchers, load, peers, guide,
        skipped => SKIPPED, no_results => NO_RESULTS,
    })?;
    Ok(Report {
        markdown: markdown.trim_end().to_owned() + "\n",
        figures: figures.0,
    })
}

/// `(reader threads, with a writer)` of `read_<n>t[_writer]`.
fn read_scenario(scenario: &str) -> Option<(u32, bool)> {
    let rest = scenario.strip_prefix("read_")?;
    let (threads, writer) = match rest.strip_suffix("_writer") {
        Some(threads) => (threads, true),
        None => (rest, false),
    };
    Some((threads.strip_suffix('t')?.parse().ok()?, writer))
}

fn readers_label((readers, writer): (u32, bool)) -> String {
    let plural = if readers == 1 { "" } else { "s" };
    let writer = if writer { " + writer" } else { "" };
    format!("{readers} reader{plural}{writer}")
}

/// The floor first, the candidates, the seed's designs, then Go's.
const MANAGERS: &[&str] = &[
    "plain_arc",
    "arcswap_cached",
    "arcswap",
    "mutex",
    "rwlock",
    "watch",
    "channel",
    "go_atomic_value",
    "go_mutex",
    "go_rwmutex",
    "go_channel",
];

/// Not a candidate: the unsynchronised floor and other languages.
fn is_reference(subject: &str) -> bool {
    subject == "plain_arc" || subject.starts_with("go_")
}

fn managers(data: &Data, figures: &mut Figures) -> Value {
    let reads: Vec<_> = data
        .group("managers")
        .filter(|r| r.metric == "ns_per_read")
        .collect();
    if reads.is_empty() {
        return Value::UNDEFINED;
    }
    let mut scenarios: Vec<(u32, bool)> = reads
        .iter()
        .filter_map(|r| read_scenario(&r.scenario))
        .collect();
    scenarios.sort();
    scenarios.dedup();
    let subjects = ordered(reads.iter().map(|r| r.subject.as_str()), MANAGERS, |_| ());
    let read = |subject: &str, (readers, writer): (u32, bool)| {
        let scenario = format!("read_{readers}t{}", if writer { "_writer" } else { "" });
        data.value("managers", &scenario, subject, "ns_per_read")
    };
    let quiet: Vec<(u32, bool)> = scenarios.iter().copied().filter(|s| !s.1).collect();
    let series = subjects
        .iter()
        .map(|subject| {
            let values = quiet.iter().map(|&s| read(subject, s)).collect();
            let marker = if is_reference(subject) {
                Marker::Triangle
            } else {
                Marker::Circle
            };
            Series::new(subject.clone(), values).marked(marker)
        })
        .collect();
    let quiet_figure = figures.draw(
        "read_cost_quiet.svg",
        &Chart {
            title: "Read cost vs reader threads, no writer".into(),
            x_label: "reader threads".into(),
            y_label: "time per read (log scale)".into(),
            categories: quiet.iter().map(|s| s.0.to_string()).collect(),
            series,
            kind: Kind::Lines,
            log_y: true,
            format_y: nanos,
        },
    );
    // Each reader count measured with a writer, beside the same count without.
    let writer_series = scenarios
        .iter()
        .filter(|s| s.1)
        .flat_map(|&(readers, _)| [(readers, false), (readers, true)])
        .map(|s| {
            Series::new(
                readers_label(s),
                subjects.iter().map(|x| read(x, s)).collect(),
            )
        })
        .collect();
    let writer_figure = figures.draw(
        "read_cost_writer.svg",
        &Chart {
            title: "Read cost while a writer publishes 1000 times a second".into(),
            x_label: "manager".into(),
            y_label: "time per read (log scale)".into(),
            categories: subjects.clone(),
            series: writer_series,
            kind: Kind::Bars,
            log_y: true,
            format_y: nanos,
        },
    );
    let mut header = vec!["manager".to_owned()];
    header.extend(scenarios.iter().map(|&s| readers_label(s)));
    let rows = subjects
        .iter()
        .map(|subject| {
            let cells = scenarios
                .iter()
                .map(|&s| read(subject, s).map_or("–".into(), nanos));
            std::iter::once(format!("`{subject}`"))
                .chain(cells)
                .collect()
        })
        .collect();

    let publishers: Vec<String> = subjects
        .iter()
        .filter(|s| {
            data.value("managers", "publish", s, "ns_per_publish")
                .is_some()
        })
        .cloned()
        .collect();
    let publish_values: Vec<Option<f64>> = publishers
        .iter()
        .map(|s| data.value("managers", "publish", s, "ns_per_publish"))
        .collect();
    let publish = (!publishers.is_empty()).then(|| {
        let figure = figures.draw(
            "publish_cost.svg",
            &Chart {
                title: "Publish cost".into(),
                x_label: "manager".into(),
                y_label: "time per publish (log scale)".into(),
                categories: publishers.clone(),
                series: vec![Series::new("one publish", publish_values.clone())],
                kind: Kind::Bars,
                log_y: true,
                format_y: nanos,
            },
        );
        let rows = publishers
            .iter()
            .zip(&publish_values)
            .map(|(s, v)| vec![format!("`{s}`"), v.map_or("–".into(), nanos)])
            .collect();
        context! { figure, table => Table { header: vec!["manager".into(), "publish".into()], rows } }
    });
    context! {
        quiet => quiet_figure, writer => writer_figure,
        table => Table { header, rows },
        publish,
    }
}

/// Event-driven first, then polls from fastest to slowest.
fn strategy_rank(name: &str) -> u64 {
    name.strip_prefix("poll_").map_or(0, |interval| {
        humantime::parse_duration(interval).map_or(u64::MAX, |d| d.as_millis() as u64 + 1)
    })
}

const PATTERNS: &[&str] = &["kubelet", "rename_replace", "in_place", "symlink_swap"];

/// `detected`'s mark, count and, when something was detected, p50 / p99.
pub fn latency_cell(data: &Data, group: &str, scenario: &str, subject: &str) -> String {
    let Some(detected) = data.get(group, scenario, subject, "detected") else {
        return "–".into();
    };
    let mark = if detected.value as u64 == detected.n {
        "✓"
    } else {
        "✗"
    };
    let mut cell = format!("{mark} {}/{}", detected.value, detected.n);
    if let (Some(p50), Some(p99), true) = (
        data.value(group, scenario, subject, "latency_p50"),
        data.value(group, scenario, subject, "latency_p99"),
        detected.value > 0.0,
    ) {
        cell += &format!(" · {} / {}", seconds(p50), seconds(p99));
    }
    cell
}

fn watchers(data: &Data, figures: &mut Figures) -> Value {
    let latency: Vec<_> = data
        .group("watchers")
        .filter(|r| r.metric == "detected")
        .collect();
    let patterns = ordered(
        latency.iter().map(|r| r.scenario.as_str()),
        PATTERNS,
        |_| (),
    );
    let strategies = ordered(
        latency.iter().map(|r| r.subject.as_str()),
        &[],
        strategy_rank,
    );
    let noticing = (!latency.is_empty()).then(|| {
        let series = strategies
            .iter()
            .map(|strategy| {
                let values = patterns
                    .iter()
                    .map(|p| {
                        data.value("watchers", p, strategy, "latency_p50")
                            .map(|s| s * 1e9)
                    })
                    .collect();
                Series::new(strategy.clone(), values)
            })
            .collect();
        let figure = figures.draw(
            "watcher_latency.svg",
            &Chart {
                title: "Update noticed: p50 latency per pattern and watcher".into(),
                x_label: "update pattern".into(),
                y_label: "commit to new config read (log scale)".into(),
                categories: patterns.clone(),
                series,
                kind: Kind::Bars,
                log_y: true,
                format_y: nanos,
            },
        );
        let mut header = vec!["watcher".to_owned()];
        header.extend(
            patterns
                .iter()
                .map(|p| format!("`{p}`: detected, p50 / p99")),
        );
        let rows = strategies
            .iter()
            .map(|s| {
                let cells = patterns
                    .iter()
                    .map(|p| latency_cell(data, "watchers", p, s));
                std::iter::once(format!("`{s}`")).chain(cells).collect()
            })
            .collect();
        context! { figure, table => Table { header, rows } }
    });

    let reloads: Vec<_> = data.group("reload").collect();
    let reload = (!reloads.is_empty()).then(|| Table {
        header: vec!["config".into(), "reload".into()],
        rows: reloads
            .iter()
            .map(|r| vec![format!("`{}`", r.scenario), nanos(r.value)])
            .collect(),
    });

    let idle_strategies = ordered(
        data.group("watchers")
            .filter(|r| r.scenario == "idle")
            .map(|r| r.subject.as_str()),
        &[],
        strategy_rank,
    );
    let idle = (!idle_strategies.is_empty()).then(|| {
        let value = |s: &str, metric| data.value("watchers", "idle", s, metric);
        let figure = figures.draw(
            "idle_cost.svg",
            &Chart {
                title: "Idle cost per watcher".into(),
                x_label: "watcher".into(),
                y_label: "per second idle (log scale)".into(),
                categories: idle_strategies.clone(),
                series: vec![
                    Series::new(
                        "wake-ups of the watcher's threads",
                        idle_strategies
                            .iter()
                            .map(|s| value(s, "wakeups_per_s"))
                            .collect(),
                    ),
                    Series::new(
                        "process CPU, µs",
                        idle_strategies
                            .iter()
                            .map(|s| value(s, "cpu_per_s").map(|v| v * 1e6))
                            .collect(),
                    ),
                ],
                kind: Kind::Bars,
                log_y: true,
                format_y: count,
            },
        );
        let cell = |s: &str, metric| {
            data.get("watchers", "idle", s, metric)
                .map_or("–".into(), |r| in_unit(r.value, &r.unit))
        };
        let rows = idle_strategies
            .iter()
            .map(|s| {
                let seconds = data
                    .get("watchers", "idle", s, "threads")
                    .map_or(0, |r| r.n);
                vec![
                    format!("`{s}`"),
                    cell(s, "threads"),
                    cell(s, "wakeups_per_s"),
                    cell(s, "cpu_per_s"),
                    format!("{seconds} s"),
                ]
            })
            .collect();
        let header = [
            "watcher",
            "threads",
            "wake-ups",
            "process CPU",
            "measured over",
        ];
        context! { figure, table => Table { header: header.map(String::from).into(), rows } }
    });
    context! { noticing, reload, idle }
}

const LOAD_MANAGERS: &[&str] = &["arcswap", "mutex", "rwlock", "channel", "watch"];

fn load(data: &Data, figures: &mut Figures) -> Value {
    let managers = ordered(
        data.group("load")
            .filter(|r| r.scenario == "quiet")
            .map(|r| r.subject.as_str()),
        LOAD_MANAGERS,
        |_| (),
    );
    if managers.is_empty() {
        return Value::UNDEFINED;
    }
    let value = |scenario: &str, m: &str, metric| data.value("load", scenario, m, metric);
    let series = |name: &str, scenario: &str, metric: &'static str| {
        Series::new(
            name,
            managers
                .iter()
                .map(|m| value(scenario, m, metric))
                .collect(),
        )
    };
    let figure = figures.draw(
        "service_throughput.svg",
        &Chart {
            title: "Service throughput per manager".into(),
            x_label: "manager".into(),
            y_label: "requests per second".into(),
            categories: managers.clone(),
            series: vec![
                series("axum floor", "quiet", "floor_requests_per_s"),
                series("service, quiet", "quiet", "requests_per_s"),
                series("service, reloading", "reloading", "requests_per_s"),
            ],
            kind: Kind::Bars,
            log_y: false,
            format_y: count,
        },
    );
    let cell = |scenario: &str, m: &str, metric| {
        data.get("load", scenario, m, metric)
            .map_or("–".into(), |r| in_unit(r.value, &r.unit))
    };
    let rows = managers
        .iter()
        .map(|m| {
            let failed = ["quiet", "reloading"]
                .iter()
                .filter_map(|s| value(s, m, "non_2xx"))
                .sum::<f64>();
            let applied = data.get("load", "reloading", m, "reloads_applied");
            vec![
                format!("`{m}`"),
                cell("quiet", m, "floor_requests_per_s"),
                cell("quiet", m, "requests_per_s"),
                cell("quiet", m, "ratio_to_floor"),
                cell("reloading", m, "requests_per_s"),
                value("reloading", m, "reload_cost")
                    .map_or("–".into(), |v| format!("{:.1}%", 100.0 * v)),
                applied.map_or("–".into(), |r| format!("{} of {}", r.value, r.n)),
                count(failed),
                cell("-", m, "peak_rss"),
            ]
        })
        .collect();
    let header = [
        "manager",
        "floor req/s",
        "service req/s",
        "service / floor",
        "req/s while reloading",
        "reload cost",
        "reloads applied",
        "non-2xx",
        "peak RSS",
    ];
    let latency = data
        .group("load")
        .find(|r| r.scenario == "reload_latency")
        .map(|r| {
            let m = r.subject.as_str();
            context! {
                manager => m, n => r.n,
                p50 => value("reload_latency", m, "latency_p50"),
                p99 => value("reload_latency", m, "latency_p99"),
                max => value("reload_latency", m, "latency_max"),
            }
        });
    let setup = data
        .group("load")
        .find_map(|r| r.provenance.get("setup").cloned());
    context! {
        figure, table => Table { header: header.map(String::from).into(), rows },
        floor_rss => value("-", "floor", "peak_rss").map(crate::format::bytes),
        latency, setup,
    }
}

/// The numbers the decision guide quotes; its sentences are the template's.
fn guide(data: &Data) -> Value {
    context! { manager => manager_claim(data), watchers => watcher_claims(data), service => service_claim(data) }
}

fn manager_claim(data: &Data) -> Option<Value> {
    let reads: Vec<_> = data
        .group("managers")
        .filter(|r| r.metric == "ns_per_read")
        .collect();
    let readers = reads
        .iter()
        .filter_map(|r| read_scenario(&r.scenario))
        .filter(|s| !s.1)
        .map(|s| s.0)
        .max()?;
    let scenario = format!("read_{readers}t");
    let at = |subject: &str| data.value("managers", &scenario, subject, "ns_per_read");
    let best = reads
        .iter()
        .filter(|r| r.scenario == scenario && !is_reference(&r.subject))
        .min_by(|a, b| a.value.total_cmp(&b.value))?;
    let others: Vec<Value> = [
        "arcswap",
        "mutex",
        "rwlock",
        "watch",
        "channel",
        "go_atomic_value",
        "go_mutex",
        "go_channel",
    ]
    .iter()
    .filter(|name| **name != best.subject)
    .filter_map(|name| Some(context! { name => *name, ns => at(name)? }))
    .collect();
    let writer = reads
        .iter()
        .filter_map(|r| {
            read_scenario(&r.scenario)
                .filter(|s| s.1 && r.subject == best.subject)
                .map(|s| (s.0, r.value))
        })
        .min_by_key(|s| s.0)
        .and_then(|(n, with)| {
            let without = data.value(
                "managers",
                &format!("read_{n}t"),
                &best.subject,
                "ns_per_read",
            )?;
            Some(context! { readers => n, with, without })
        });
    Some(context! {
        best => best.subject.clone(), ns => best.value, readers, floor => at("plain_arc"), others, writer,
        publish => data.value("managers", "publish", &best.subject, "ns_per_publish"),
    })
}

/// Strategies that detected every update of every pattern, fastest first by
/// the median of their p50s over the patterns (one pattern's p50 moves with
/// noise; four together do not), with their kubelet p50 and idle wake-ups.
fn watcher_claims(data: &Data) -> Option<Value> {
    let detected: Vec<_> = data
        .group("watchers")
        .filter(|r| r.metric == "detected")
        .collect();
    let strategies = ordered(
        detected.iter().map(|r| r.subject.as_str()),
        &[],
        strategy_rank,
    );
    let mut complete: Vec<(String, f64)> = strategies
        .into_iter()
        .filter_map(|s| {
            let rows: Vec<_> = detected.iter().filter(|r| r.subject == s).collect();
            if !rows.iter().all(|r| r.value as u64 == r.n) {
                return None;
            }
            let p50s = rows
                .iter()
                .filter_map(|r| data.value("watchers", &r.scenario, &s, "latency_p50"));
            let typical = crate::data::median(p50s.collect())?;
            Some((s, typical))
        })
        .collect();
    complete.sort_by(|a, b| a.1.total_cmp(&b.1));
    let describe = |name: &str| {
        context! {
            name,
            kubelet_p50 => data.value("watchers", "kubelet", name, "latency_p50"),
            wakeups => data.value("watchers", "idle", name, "wakeups_per_s"),
        }
    };
    let event = complete.iter().find(|(s, _)| !s.starts_with("poll"));
    // The slowest complete poll: the cheapest one that is still correct.
    let poll = complete
        .iter()
        .filter(|(s, _)| s.starts_with("poll"))
        .max_by_key(|(s, _)| strategy_rank(s));
    Some(context! { event => event.map(|e| describe(&e.0)), poll => poll.map(|p| describe(&p.0)) })
}

fn service_claim(data: &Data) -> Option<Value> {
    let mut ratios: Vec<(String, f64)> = data
        .group("load")
        .filter(|r| r.scenario == "quiet" && r.metric == "ratio_to_floor")
        .map(|r| (r.subject.clone(), r.value))
        .collect();
    ratios.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (slowest, rest) = ratios.split_first()?;
    Some(context! {
        slowest => slowest.0.clone(), slowest_ratio => slowest.1,
        low => rest.first().map(|r| r.1), high => rest.last().map(|r| r.1),
    })
}

#[cfg(test)]
mod tests;
