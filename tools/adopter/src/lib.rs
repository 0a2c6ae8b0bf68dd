//! What a service author writes: a config type that is only `Deserialize`.

/// The service's config: nothing to implement but `Deserialize`.
#[derive(Debug, serde::Deserialize)]
pub struct AppConfig {
    /// What the service says.
    pub message: String,
    /// Where it listens.
    pub port: u16,
}
