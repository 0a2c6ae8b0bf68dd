//! The three-line start: watch a config file, read it, react to changes.
//!
//! ```text
//! cargo run -p config-reload --example three_lines -- config/config.yaml
//! # in another terminal: edit the file; each publish is printed
//! ```

#[derive(Debug, serde::Deserialize)]
struct AppConfig {
    message: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "config/config.yaml".to_owned());

    let config = config_reload::Watch::<AppConfig>::file(&path)?;
    let current = config.get(); // derefs to AppConfig; .version(), .hash()
    let mut changes = config.subscribe(); // changes.changed().await wakes on every publish

    println!(
        "{:?} (version {}, content {})",
        current.message,
        current.version(),
        current.hash()
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?
        .block_on(async {
            while changes.changed().await.is_ok() {
                let current = changes.borrow_and_update().clone();
                println!("{:?} (version {})", current.message, current.version());
            }
        });
    Ok(())
}
