//! The Kubernetes API section, from the kube bench's records (group `kube`,
//! watchers/benches/kube.rs): how soon a ConfigMap update is served through
//! the API beside the volume in the same run, and what an idle watch costs;
//! and from the load benchmark's (`load/api_reload_latency`), the same over
//! HTTP through the service.

use minijinja::{Value, context};

use crate::data::Data;
use crate::format::{bytes, significant};
use crate::report::{Table, cell};

const GROUP: &str = "kube";

/// The two paths an update takes, and what each is timed from.
const PATHS: &[(&str, &str)] = &[
    ("api", "the API server's commit"),
    ("volume-inotify", "the kubelet's `..data` rename"),
];

pub fn section(data: &Data) -> Value {
    let update = |subject: &str, metric: &str| data.value(GROUP, "update", subject, metric);
    if update("api", "latency_p50").is_none() {
        return Value::UNDEFINED;
    }
    let row = |name: String, from: &str, (group, scenario, subject): (&str, &str, &str)| {
        let n = data
            .get(group, scenario, subject, "latency_p50")
            .map_or("–".into(), |record| record.n.to_string());
        let [p50, p99, max] = ["latency_p50", "latency_p99", "latency_max"]
            .map(|metric| cell(data, group, scenario, subject, metric));
        vec![name, from.into(), p50, p99, max, n]
    };
    let mut rows: Vec<Vec<String>> = PATHS
        .iter()
        .map(|&(subject, from)| row(format!("`{subject}`"), from, (GROUP, "update", subject)))
        .collect();
    // The service over HTTP, from the load benchmark (its first manager).
    let served = data
        .group("load")
        .find(|record| record.scenario == "api_reload_latency")
        .map(|record| record.subject.clone());
    if let Some(manager) = &served {
        for (path, scenario, from) in [
            ("api", "api_reload_latency", PATHS[0].1),
            ("volume-inotify", "reload_latency", PATHS[1].1),
        ] {
            let name = format!("`{path}`, the service over HTTP (`{manager}`)");
            rows.push(row(name, from, ("load", scenario, manager)));
        }
    }
    let latency = Table {
        header: ["path", "from", "p50", "p99", "max", "updates"]
            .map(String::from)
            .to_vec(),
        rows,
    };
    let idle = |metric: &str| data.value(GROUP, "idle", "api", metric);
    let idle_table = idle("wakeups_per_s").map(|wakeups| Table {
        header: ["one idle watch", "value"].map(String::from).to_vec(),
        rows: vec![
            vec![
                "wake-ups of its threads".into(),
                format!("{}/s", significant(wakeups)),
            ],
            vec![
                "CPU".into(),
                idle("cpu_share").map_or("–".into(), |share| {
                    format!("{} % of a core", significant(share * 100.0))
                }),
            ],
            vec![
                "resident memory added (client, TLS, runtime, threads)".into(),
                idle("rss_delta").map_or("–".into(), |delta| format!("+{}", bytes(delta))),
            ],
        ],
    });
    context! {
        latency,
        idle => idle_table,
        api_p50 => update("api", "latency_p50"),
        http_p99 => served.and_then(|manager| data.value("load", "api_reload_latency", &manager, "latency_p99")),
        volume_p50 => update("volume-inotify", "latency_p50"),
        rss_delta => idle("rss_delta").map(bytes),
        server => data.get(GROUP, "update", "api", "latency_p50")
            .and_then(|record| record.provenance.get("server").cloned()),
    }
}
