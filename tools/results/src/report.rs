//! docs/results.md and its figures, from records: this module turns the
//! records into tables, figures and the few numbers the prose quotes; the
//! prose itself is `templates/results.md.j2`.

use std::collections::BTreeMap;

use config_reload_managers::design;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, Value, context};
use records::registry::{GoManager, ReadPath};
use serde::Serialize;

use crate::data::{Data, median, ordered};
use crate::format::{bytes, count, in_unit, nanos, ratio, seconds, significant};
use crate::plot::{self, Chart, Kind, Marker, Series};
use crate::{kube, peers};

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
    ("Through the Kubernetes API", &[]),
    ("Serving requests", &["service_throughput.svg"]),
    ("Peers", &["peers_latency.svg"]),
];

/// The parts `all` runs, each writing `<part>.jsonl`.
pub const PARTS: [&str; 6] = ["managers", "watchers", "kube", "go", "load", "peers"];

const TEMPLATE: &str = include_str!("../templates/results.md.j2");

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

impl Table {
    /// One row per name (in code font), its other cells from `cells`.
    pub fn rows(header: &[&str], names: &[String], cells: impl Fn(&str) -> Vec<String>) -> Self {
        let rows = names
            .iter()
            .map(|name| {
                std::iter::once(format!("`{name}`"))
                    .chain(cells(name))
                    .collect()
            })
            .collect();
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        }
    }

    /// Columns named after `columns` (in code font, after `corner`), one
    /// cell per row and column from `cell(row, column)`.
    pub fn grid(
        corner: &str,
        columns: &[String],
        names: &[String],
        cell: impl Fn(&str, &str) -> String,
    ) -> Self {
        let mut table = Self::rows(&[corner], names, |row| {
            columns.iter().map(|c| cell(row, c)).collect()
        });
        table
            .header
            .extend(columns.iter().map(|c| format!("`{c}`")));
        table
    }
}

impl From<Table> for Value {
    fn from(table: Table) -> Self {
        Value::from(Serde(table))
    }
}

/// Charts drawn so far.
#[derive(Default)]
pub struct Figures(Vec<(String, String)>);

impl Figures {
    /// Renders `chart` as `file`; what the template shows for it.
    pub fn draw(&mut self, file: &str, chart: Chart) -> Value {
        let problem = match plot::render(&chart) {
            Ok(svg) => {
                self.0.push((file.to_owned(), svg));
                None
            }
            Err(error) => Some(error),
        };
        context! { file, title => chart.title, problem }
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
    let machine: BTreeMap<&str, String> =
        ["cores", "cpu", "date", "commit", "command", "load", "quick"]
            .into_iter()
            .filter_map(|fact| Some((fact, data.text("results", "-", "machine", fact)?.to_owned())))
            .collect();
    // Busy: more runnable work than cores over the last minute.
    let load_1m: Option<f64> = machine
        .get("load")
        .and_then(|load| load.split(' ').next()?.parse().ok());
    let cores: Option<f64> = machine.get("cores").and_then(|cores| cores.parse().ok());
    let busy = matches!((load_1m, cores), (Some(load), Some(cores)) if load > cores);
    let context = context! {
        quick => machine.contains_key("quick"), machine => context! { busy, ..Value::from(machine) }, parts,
        managers => managers(data, &mut figures),
        watchers => watchers(data, &mut figures),
        load => load(data, &mut figures),
        peers => peers::section(data, &mut figures),
        kube => kube::section(data),
        guide => context! { manager => manager_claim(data), watchers => watcher_claims(data), service => service_claim(data) },
        skipped => SKIPPED, no_results => NO_RESULTS,
    };
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
    env.add_filter("sig", significant);
    env.add_filter("fixed2", |value: f64| format!("{value:.2}"));
    env.add_function("ratio", ratio);
    env.add_template("results.md", TEMPLATE)?;
    let markdown = env.get_template("results.md")?.render(context)?;
    Ok(Report {
        markdown: markdown.trim_end().to_owned() + "\n",
        figures: figures.0,
    })
}

/// A record's value in its unit, `–` when there is none.
pub fn cell(data: &Data, group: &str, scenario: &str, subject: &str, metric: &str) -> String {
    data.get(group, scenario, subject, metric)
        .map_or("–".into(), |r| match &r.text {
            Some(text) => text.clone(),
            None => in_unit(r.value, &r.unit),
        })
}

/// `(reader threads, with a writer)` of `read_<n>t[_writer]`.
fn read_scenario(scenario: &str) -> Option<(u32, bool)> {
    let rest = scenario.strip_prefix("read_")?;
    let (threads, writer) = rest
        .strip_suffix("_writer")
        .map_or((rest, false), |threads| (threads, true));
    Some((threads.strip_suffix('t')?.parse().ok()?, writer))
}

fn read_name((readers, writer): (u32, bool)) -> String {
    format!("read_{readers}t{}", if writer { "_writer" } else { "" })
}

fn readers_label((readers, writer): (u32, bool)) -> String {
    let plural = if readers == 1 { "" } else { "s" };
    format!(
        "{readers} reader{plural}{}",
        if writer { " + writer" } else { "" }
    )
}

/// The floor and the cached read path, the designs in the order their crate
/// recommends them, then Go's.
fn manager_order() -> Vec<&'static str> {
    let paths = ReadPath::ALL.iter().map(|path| path.name());
    let go = GoManager::ALL.iter().map(|manager| manager.name());
    paths
        .chain(design::NAMES.iter().copied())
        .chain(go)
        .collect()
}

/// Not a candidate: the unsynchronised floor and other languages.
fn is_reference(subject: &str) -> bool {
    subject == ReadPath::PlainArc.name() || GoManager::from_name(subject).is_some()
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
    let subjects = ordered(
        reads.iter().map(|r| r.subject.as_str()),
        &manager_order(),
        |_| (),
    );
    let read = |subject: &str, scenario| {
        data.value("managers", &read_name(scenario), subject, "ns_per_read")
    };
    let quiet: Vec<(u32, bool)> = scenarios.iter().copied().filter(|s| !s.1).collect();
    let threads: Vec<String> = quiet.iter().map(|s| s.0.to_string()).collect();
    let series = subjects.iter().map(|subject| {
        let marker = if is_reference(subject) {
            Marker::Triangle
        } else {
            Marker::Circle
        };
        Series::new(subject, quiet.iter().map(|&s| read(subject, s)).collect()).marked(marker)
    });
    let quiet_figure = figures.draw(
        "read_cost_quiet.svg",
        Chart::new(
            Kind::Lines,
            "Read cost vs reader threads, no writer",
            "reader threads",
            "time per read (log scale)",
        )
        .over(&threads, series.collect()),
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
        });
    let writer_figure = figures.draw(
        "read_cost_writer.svg",
        Chart::new(
            Kind::Bars,
            "Read cost while a writer publishes 1000 times a second",
            "manager",
            "time per read (log scale)",
        )
        .over(&subjects, writer_series.collect()),
    );
    let header: Vec<String> = scenarios.iter().map(|&s| readers_label(s)).collect();
    let mut table = Table::rows(&["manager"], &subjects, |s| {
        scenarios
            .iter()
            .map(|&scenario| read(s, scenario).map_or("–".into(), nanos))
            .collect()
    });
    table.header.extend(header);

    let publish = |s: &str| data.value("managers", "publish", s, "ns_per_publish");
    let publishers: Vec<String> = subjects
        .iter()
        .filter(|s| publish(s).is_some())
        .cloned()
        .collect();
    let publishing = (!publishers.is_empty()).then(|| {
        let series = Series::new("one publish", publishers.iter().map(|s| publish(s)).collect());
        context! {
            figure => figures.draw(
                "publish_cost.svg",
                Chart::new(Kind::Bars, "Publish cost", "manager", "time per publish (log scale)").over(&publishers, vec![series]),
            ),
            table => Table::rows(&["manager", "publish"], &publishers, |s| vec![cell(data, "managers", "publish", s, "ns_per_publish")]),
        }
    });
    context! { quiet => quiet_figure, writer => writer_figure, table, publish => publishing }
}

/// Event-driven first, then polls from fastest to slowest.
fn strategy_rank(name: &str) -> u64 {
    name.strip_prefix("poll_").map_or(0, |interval| {
        humantime::parse_duration(interval).map_or(u64::MAX, |d| d.as_millis() as u64 + 1)
    })
}

const PATTERNS: &[&str] = &["kubelet", "rename_replace", "in_place", "symlink_swap"];

/// Whether every attempted update was detected.
pub fn detected_all(record: &records::Record) -> bool {
    record.n > 0 && record.value as u64 == record.n
}

/// `✓ 200/200 · 110 µs / 377 µs` (p50 / p99 with `p99`), `✗ 0/10`.
pub fn latency_cell(data: &Data, group: &str, scenario: &str, subject: &str, p99: bool) -> String {
    let Some(detected) = data.get(group, scenario, subject, "detected") else {
        return "–".into();
    };
    let mark = if detected_all(detected) { "✓" } else { "✗" };
    let mut text = format!("{mark} {}/{}", detected.value, detected.n);
    let latency = |metric| {
        data.value(group, scenario, subject, metric)
            .filter(|_| detected.value > 0.0)
    };
    if let Some(p50) = latency("latency_p50") {
        text += &format!(" · {}", seconds(p50));
        if let Some(p99) = latency("latency_p99").filter(|_| p99) {
            text += &format!(" / {}", seconds(p99));
        }
    }
    text
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
        let series = strategies.iter().map(|s| {
            let p50 = patterns.iter().map(|p| data.value("watchers", p, s, "latency_p50").map(|v| v * 1e9));
            Series::new(s, p50.collect())
        });
        let mut table = Table::grid("watcher", &patterns, &strategies, |s, p| latency_cell(data, "watchers", p, s, true));
        table.header[1..].iter_mut().for_each(|h| *h += ": detected, p50 / p99");
        context! {
            figure => figures.draw(
                "watcher_latency.svg",
                Chart::new(Kind::Bars, "Update noticed: p50 latency per pattern and watcher", "update pattern", "commit to new config read (log scale)")
                    .over(&patterns, series.collect()),
            ),
            table,
        }
    });
    let configs: Vec<String> = data.group("reload").map(|r| r.scenario.clone()).collect();
    let reload = (!configs.is_empty()).then(|| {
        Table::rows(&["config", "reload"], &configs, |c| {
            vec![cell(data, "reload", c, "-", "ns_per_reload")]
        })
    });

    let idle_strategies = ordered(
        data.group("watchers")
            .filter(|r| r.scenario == "idle")
            .map(|r| r.subject.as_str()),
        &[],
        strategy_rank,
    );
    let idle = (!idle_strategies.is_empty()).then(|| {
        let per_second = |metric, scale: f64| {
            let values = idle_strategies.iter().map(|s| data.value("watchers", "idle", s, metric).map(|v| v * scale));
            values.collect()
        };
        let series = vec![
            Series::new("wake-ups of the watcher's threads", per_second("wakeups_per_s", 1.0)),
            Series::new("process CPU, µs", per_second("cpu_per_s", 1e6)),
        ];
        let header = ["watcher", "threads", "wake-ups", "process CPU", "measured over"];
        context! {
            figure => figures.draw(
                "idle_cost.svg",
                Chart::new(Kind::Bars, "Idle cost per watcher", "watcher", "per second idle (log scale)")
                    .over(&idle_strategies, series)
                    .formatted(count),
            ),
            table => Table::rows(&header, &idle_strategies, |s| {
                let mut cells: Vec<String> = ["threads", "wakeups_per_s", "cpu_per_s"].iter().map(|m| cell(data, "watchers", "idle", s, m)).collect();
                cells.push(data.get("watchers", "idle", s, "threads").map_or("–".into(), |r| format!("{} s", r.n)));
                cells
            }),
        }
    });
    context! { noticing, reload, idle }
}

fn load(data: &Data, figures: &mut Figures) -> Value {
    let quiet = data
        .group("load")
        .filter(|r| r.scenario == "quiet")
        .map(|r| r.subject.as_str());
    let managers = ordered(quiet, design::NAMES, |_| ());
    if managers.is_empty() {
        return Value::UNDEFINED;
    }
    let value = |scenario: &str, m: &str, metric: &str| data.value("load", scenario, m, metric);
    let series = |name: &str, scenario: &str, metric: &str| {
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
        Chart::new(
            Kind::Bars,
            "Service throughput per manager",
            "manager",
            "requests per second",
        )
        .over(
            &managers,
            vec![
                series("axum floor", "quiet", "floor_requests_per_s"),
                series("service, quiet", "quiet", "requests_per_s"),
                series("service, reloading", "reloading", "requests_per_s"),
            ],
        )
        .linear()
        .formatted(count),
    );
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
    let table = Table::rows(&header, &managers, |m| {
        let failed: f64 = ["quiet", "reloading"]
            .iter()
            .filter_map(|s| value(s, m, "non_2xx"))
            .sum();
        let applied = data.get("load", "reloading", m, "reloads_applied");
        vec![
            cell(data, "load", "quiet", m, "floor_requests_per_s"),
            cell(data, "load", "quiet", m, "requests_per_s"),
            cell(data, "load", "quiet", m, "ratio_to_floor"),
            cell(data, "load", "reloading", m, "requests_per_s"),
            value("reloading", m, "reload_cost")
                .map_or("–".into(), |v| format!("{:.1}%", 100.0 * v)),
            applied.map_or("–".into(), |r| format!("{} of {}", r.value, r.n)),
            count(failed),
            cell(data, "load", "-", m, "peak_rss"),
        ]
    });
    let latency = data.group("load").find(|r| r.scenario == "reload_latency").map(|r| {
        let at = |metric| value("reload_latency", &r.subject, metric);
        context! { manager => r.subject.clone(), n => r.n, p50 => at("latency_p50"), p99 => at("latency_p99"), max => at("latency_max") }
    });
    context! {
        figure, table, latency,
        floor_rss => value("-", "floor", "peak_rss").map(bytes),
        setup => data.group("load").find_map(|r| r.provenance.get("setup").cloned()),
    }
}

/// The numbers the decision guide quotes for the manager.
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
    let scenario = read_name((readers, false));
    let at = |subject: &str| data.value("managers", &scenario, subject, "ns_per_read");
    let best = reads
        .iter()
        .filter(|r| r.scenario == scenario && !is_reference(&r.subject))
        .min_by(|a, b| a.value.total_cmp(&b.value))?;
    let others: Vec<Value> = manager_order()[ReadPath::ALL.len()..]
        .iter()
        .filter(|name| **name != best.subject && **name != GoManager::RwMutex.name())
        .filter_map(|name| Some(context! { name => *name, ns => at(name)? }))
        .collect();
    // The fewest readers measured with a writer, beside the same without.
    let writer = reads
        .iter()
        .filter(|r| r.subject == best.subject)
        .filter_map(|r| {
            read_scenario(&r.scenario)
                .filter(|s| s.1)
                .map(|s| (s.0, r.value))
        })
        .min_by_key(|s| s.0)
        .and_then(|(readers, with)| {
            let without = data.value(
                "managers",
                &read_name((readers, false)),
                &best.subject,
                "ns_per_read",
            )?;
            Some(context! { readers, with, without })
        });
    Some(context! {
        best => best.subject.clone(), ns => best.value, readers, floor => at("plain_arc"), others, writer,
        publish => data.value("managers", "publish", &best.subject, "ns_per_publish"),
    })
}

/// Event strategies never recommended, however fast: notify reads the
/// kernel on a thread of its own that a reload cannot fence, so
/// back-to-back in-place rewrites can publish a prefix (docs/reliability.md;
/// the ignored test `notify_in_place_burst_of_valid_prefixes_never_publishes_one`).
const UNFENCED: &[&str] = &["notify"];

/// The event strategy and the slowest poll that detected every update of
/// every pattern; the event one fastest by the median of its p50s over the
/// patterns (one pattern's p50 moves with noise; four together do not),
/// among those that never publish a prefix.
fn watcher_claims(data: &Data) -> Value {
    let detected: Vec<_> = data
        .group("watchers")
        .filter(|r| r.metric == "detected")
        .collect();
    let complete: Vec<(String, f64)> = ordered(
        detected.iter().map(|r| r.subject.as_str()),
        &[],
        strategy_rank,
    )
    .into_iter()
    .filter(|s| {
        detected
            .iter()
            .filter(|r| &r.subject == s)
            .all(|r| detected_all(r))
    })
    .filter_map(|s| {
        let p50s = detected.iter().filter(|r| r.subject == s);
        let typical = median(
            p50s.filter_map(|r| data.value("watchers", &r.scenario, &s, "latency_p50"))
                .collect(),
        )?;
        Some((s, typical))
    })
    .collect();
    let describe = |(name, _): &(String, f64)| {
        context! {
            name,
            kubelet_p50 => data.value("watchers", "kubelet", name, "latency_p50"),
            wakeups => data.value("watchers", "idle", name, "wakeups_per_s"),
        }
    };
    let event = complete
        .iter()
        .filter(|(s, _)| !s.starts_with("poll") && !UNFENCED.contains(&s.as_str()))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    // The slowest complete poll: the cheapest one that is still correct.
    let poll = complete
        .iter()
        .filter(|(s, _)| s.starts_with("poll"))
        .max_by_key(|(s, _)| strategy_rank(s));
    context! { event => event.map(describe), poll => poll.map(describe) }
}

/// The slowest manager's share of the floor, and the others' range.
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
