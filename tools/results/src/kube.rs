//! The Kubernetes API section, from the kube bench's records (group `kube`,
//! watchers/benches/kube.rs): how soon a ConfigMap update is served through
//! the API beside the volume in the same run, and what an idle watch costs.

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
    let latency = Table {
        header: ["path", "from", "p50", "p99", "max", "updates"]
            .map(String::from)
            .to_vec(),
        rows: PATHS
            .iter()
            .map(|&(subject, from)| {
                let n = data
                    .get(GROUP, "update", subject, "latency_p50")
                    .map_or("–".into(), |record| record.n.to_string());
                let [p50, p99, max] = ["latency_p50", "latency_p99", "latency_max"]
                    .map(|metric| cell(data, GROUP, "update", subject, metric));
                vec![format!("`{subject}`"), from.into(), p50, p99, max, n]
            })
            .collect(),
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
        volume_p50 => update("volume-inotify", "latency_p50"),
        rss_delta => idle("rss_delta").map(bytes),
        server => data.get(GROUP, "update", "api", "latency_p50")
            .and_then(|record| record.provenance.get("server").cloned()),
    }
}
