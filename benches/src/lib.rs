//! Shared helpers for the benchmarks.

pub mod manager_scenarios;
pub mod watchers_bench;
