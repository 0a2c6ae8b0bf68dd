//! The reload pipeline every watcher shares: what a change becomes once
//! noticed. The debouncer decides when to load, the driver thread runs the
//! loads, the loader reads, decodes and publishes, the authority decides
//! between two sources, the watchdog tells a stuck load from a slow one,
//! and every report is logged.

pub(crate) mod authority;
pub(crate) mod debounce;
pub(crate) mod driver;
pub(crate) mod ledger;
pub(crate) mod loader;
pub(crate) mod log_observer;
pub(crate) mod watchdog;
