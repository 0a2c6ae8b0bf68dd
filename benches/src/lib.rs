//! Shared helpers for the benchmarks, and the load benchmark's parts. Every
//! bench writes its results as `records` (see that crate for the names).

pub mod load;
pub mod manager_scenarios;
pub mod output;
pub mod watchers_bench;
