//! Where the config comes from: the file at `--config` with a file watcher,
//! or the ConfigMap (or Secret) through the Kubernetes API (`--watcher
//! kube`), beside the volume when it is mounted there, or both at once
//! (`--configmap` or `--secret` with a file watcher).

use config_reload::{Builder, ConfigSource, Watch, WatcherKind};

use crate::cli::Cli;
use crate::config::ServiceConfig;

/// The source and a builder set up for `watcher` (a compiled-in name).
pub fn builder(cli: &Cli, watcher: &str) -> Result<(ConfigSource, Builder<ServiceConfig>), String> {
    if watcher == "kube" {
        return kube::alone_or_with_the_volume(cli);
    }
    let kind: WatcherKind = watcher.parse().map_err(|error| format!("{error}"))?;
    let source = ConfigSource::file(&cli.config);
    #[cfg(watcher_kube)]
    let source = match cli.configmap.is_some() || cli.secret.is_some() {
        true => source.with_kube(kube::source(cli)?),
        false => source,
    };
    #[cfg(not(watcher_kube))]
    if cli.configmap.is_some() || cli.secret.is_some() {
        return Err(
            "--configmap and --secret need the kube feature: build with --features kube".into(),
        );
    }
    let builder = Watch::<ServiceConfig>::builder(source.clone()).watcher(kind);
    Ok((source, builder))
}

#[cfg(watcher_kube)]
mod kube {
    use config_reload::{Builder, ConfigSource, KubeSource, Watch, WatcherKind};

    use crate::cli::Cli;
    use crate::config::ServiceConfig;

    /// `--watcher kube`: the API, and the volume at `--config` too when it
    /// is there (watched by the platform's file watcher), so the service
    /// still serves and follows the volume when the API is unreachable.
    pub fn alone_or_with_the_volume(
        cli: &Cli,
    ) -> Result<(ConfigSource, Builder<ServiceConfig>), String> {
        let api = source(cli)?;
        if cli.config.exists() {
            let file = ConfigSource::file(&cli.config).with_kube(api);
            let builder =
                Watch::<ServiceConfig>::builder(file.clone()).watcher(WatcherKind::default());
            Ok((file, builder))
        } else {
            let source = ConfigSource::kube(api);
            Ok((source.clone(), Watch::<ServiceConfig>::builder(source)))
        }
    }

    /// The ConfigMap or Secret the flags name.
    pub fn source(cli: &Cli) -> Result<KubeSource, String> {
        let object = match (&cli.configmap, &cli.secret) {
            (Some(name), _) => KubeSource::configmap(name),
            (None, Some(name)) => KubeSource::secret(name),
            (None, None) => {
                return Err(
                    "--watcher kube needs --configmap NAME (or CONFIGMAP) or --secret NAME (or SECRET)"
                        .into(),
                );
            }
        };
        let key = match &cli.key {
            Some(key) => key.clone(),
            None => cli
                .config
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .ok_or("--key KEY is needed: --config names no file")?,
        };
        let mut source = object.key(key);
        if let Some(namespace) = &cli.namespace {
            source = source.namespace(namespace);
        }
        if let Some(timeout) = cli.kube_silence_timeout {
            source = source.silence_timeout(timeout);
        }
        if let Some(lag) = cli.volume_lag {
            source = source.volume_lag(lag);
        }
        Ok(source)
    }
}

#[cfg(not(watcher_kube))]
mod kube {
    use config_reload::{Builder, ConfigSource};

    use crate::cli::Cli;
    use crate::config::ServiceConfig;

    pub fn alone_or_with_the_volume(
        _: &Cli,
    ) -> Result<(ConfigSource, Builder<ServiceConfig>), String> {
        Err("the kube watcher is not compiled in: build with --features kube".into())
    }
}
