//! The three lines of the watchers crate's docs, from outside its workspace,
//! on a YAML, a JSON and a TOML file in a kubelet-style volume.

use std::time::Duration;

use adopter::AppConfig;
use config_reload::testing::KubeletVolume;

fn document(extension: &str, message: &str, port: u16) -> String {
    match extension {
        "yaml" => format!("message: {message:?}\nport: {port}\n"),
        "json" => format!("{{\"message\": {message:?}, \"port\": {port}}}"),
        "toml" => format!("message = {message:?}\nport = {port}\n"),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_three_lines_work_for_yaml_json_and_toml() {
    for extension in ["yaml", "json", "toml"] {
        let mount = tempfile::tempdir().unwrap();
        let volume = KubeletVolume::new(mount.path());
        let key = format!("app.{extension}");
        volume.project(&[(key.as_str(), document(extension, "v1", 8080))]).unwrap();
        let path = mount.path().join(&key);

        let config = config_reload::Watch::<AppConfig>::file(&path).unwrap();
        let current = config.get(); // derefs to AppConfig; .version(), .hash()
        let mut changes = config.subscribe(); // changes.changed().await

        assert_eq!((current.message.as_str(), current.port, current.version()), ("v1", 8080, 1));
        volume.project(&[(key.as_str(), document(extension, "v2", 9090))]).unwrap();
        tokio::time::timeout(Duration::from_secs(20), changes.changed())
            .await
            .unwrap_or_else(|_| panic!("{extension}: no change within 20 s"))
            .unwrap();
        let changed = changes.borrow_and_update().clone();
        assert_eq!((changed.message.as_str(), changed.port, changed.version()), ("v2", 9090, 2), "{extension}");
        assert_eq!(current.message, "v1", "a held config stays whole");
    }
}
