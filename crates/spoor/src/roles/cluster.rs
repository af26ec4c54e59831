//! The distributed roles (ADR 0025, docs/deploy.md): `spoor collector`,
//! `spoor query` and `spoor compactor`, each all-in-one's settings
//! ([`RunArgs`] over its own listener list) plus [`ClusterArgs`]. They
//! share one block store (`--blocks-url`, normally `s3://…`):
//! - a collector receives, writes its WAL and cuts blocks into the store,
//!   and serves its head to queriers on the internal API (14300);
//! - a querier serves the UI and the query APIs over the store's blocks
//!   and every collector's head;
//! - a compactor compacts and expires the store's blocks while it holds the
//!   lease in the store.
//!
//! The wiring itself is `crate::run_role`; this module turns flags into a
//! [`Deployment`].

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use clap::Args;

use crate::config::{
    CollectorRole, CompactorRole, Config, FileCluster, QueryRole, RunArgs, Storage, go_nanos, pick,
};

/// Settings every distributed role reads (also `cluster:` in the config file).
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// This process's name in the block store: block IDs end with it, the compactors' lease names it (a DNS label; default: the host name) [collector, compactor]
    #[arg(long, env = "SPOOR_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,

    /// The collectors' internal API: comma-separated HOST:PORT, or dns+NAME:PORT for every address NAME has (a Kubernetes headless Service) [query]
    #[arg(long, env = "SPOOR_COLLECTORS", value_name = "LIST")]
    pub collectors: Option<String>,

    /// How often the block store is listed again, a Go duration [default: 15s] [query, compactor]
    #[arg(long, env = "SPOOR_BLOCK_REFRESH_INTERVAL", value_name = "DURATION")]
    pub block_refresh_interval: Option<String>,

    /// The oldest bucket index (the block list the compactor writes to the store) a querier reads its block list from instead of listing the store, a Go duration; 0s: always list; keep it below the collectors' recent block window [default: 1m] [query]
    #[arg(long, env = "SPOOR_BUCKET_INDEX_MAX_AGE", value_name = "DURATION")]
    pub bucket_index_max_age: Option<String>,

    /// How long a collector names a block it published as recent, so queriers load it at once, a Go duration [default: 2m] [collector]
    #[arg(long, env = "SPOOR_RECENT_BLOCK_WINDOW", value_name = "DURATION")]
    pub recent_block_window: Option<String>,

    /// How long the compactors' lease lasts unless renewed, a Go duration [default: 30s] [compactor]
    #[arg(long, env = "SPOOR_COMPACTOR_LEASE", value_name = "DURATION")]
    pub compactor_lease: Option<String>,

    /// How long a compacted or expired block stays in the store after queriers were told to stop reading it, a Go duration [default: 5m] [compactor]
    #[arg(long, env = "SPOOR_DELETE_DELAY", value_name = "DURATION")]
    pub delete_delay: Option<String>,
}

/// `spoor collector`'s flags.
#[derive(Debug, Clone, Args)]
pub struct CollectorArgs {
    #[command(flatten)]
    pub run: RunArgs<CollectorRole>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `spoor query`'s flags.
#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    #[command(flatten)]
    pub run: RunArgs<QueryRole>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `spoor compactor`'s flags.
#[derive(Debug, Clone, Args)]
pub struct CompactorArgs {
    #[command(flatten)]
    pub run: RunArgs<CompactorRole>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// What a process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    AllInOne,
    Collector {
        node: String,
        recent: Duration,
    },
    Query {
        /// `HOST:PORT` and `dns+NAME:PORT` entries, comma-separated (may be empty).
        collectors: String,
        refresh: Duration,
        /// The oldest bucket index read instead of listing (zero: always list).
        bucket_index_max_age: Duration,
        /// TLS and credentials of the connections to the collectors
        /// (`cluster.tls_*`, `cluster.bearer_token_file`).
        collector_security: spoor_client::ClientSecurity,
    },
    Compactor {
        node: String,
        refresh: Duration,
        lease: Duration,
        delete_delay: Duration,
    },
}

impl Deployment {
    /// The role's name in logs.
    pub fn name(&self) -> &'static str {
        match self {
            Deployment::AllInOne => "all-in-one",
            Deployment::Collector { .. } => "collector",
            Deployment::Query { .. } => "query",
            Deployment::Compactor { .. } => "compactor",
        }
    }
}

fn duration(
    flag: &Option<String>,
    file: Option<String>,
    default: &str,
    what: &str,
) -> Result<Duration> {
    let text = pick(flag, file).unwrap_or_else(|| default.to_owned());
    let nanos = go_nanos(&text, what)?;
    ensure!(nanos > 0, "{what} must be positive");
    Ok(Duration::from_nanos(nanos as u64))
}

/// The node name: the flag, the file, else the host name (lowercased).
fn node_id(args: &ClusterArgs, file: &FileCluster) -> Result<String> {
    let node = match pick(&args.node_id, file.node_id.clone()) {
        Some(node) => node,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_ascii_lowercase())
            .unwrap_or_default(),
    };
    ensure!(
        spoor_engine::valid_node_name(&node),
        "the node ID {node:?} is not a DNS label (1 to 63 lowercase letters, digits and '-'); \
         set --node-id"
    );
    Ok(node)
}

/// The shared store is required: a role that shares nothing is all-in-one.
fn require_shared_store(config: &Config, role: &str) -> Result<()> {
    match &config.storage {
        Storage::Engine {
            blocks_url: Some(_),
            ..
        } => Ok(()),
        Storage::Engine { .. } => bail!(
            "spoor {role} needs the shared block store: set --blocks-url (SPOOR_BLOCKS_URL), \
             e.g. s3://BUCKET/PREFIX, the same for every collector, querier and compactor"
        ),
        Storage::Memory { .. } => bail!(
            "spoor {role} runs on the storage engine over a shared block store, not on memory \
             storage (--storage memory is for all-in-one)"
        ),
    }
}

pub fn collector(config: &Config, args: &ClusterArgs) -> Result<Deployment> {
    require_shared_store(config, "collector")?;
    let file = &config.cluster;
    Ok(Deployment::Collector {
        node: node_id(args, file)?,
        recent: duration(
            &args.recent_block_window,
            file.recent_block_window.clone(),
            "2m",
            "the recent block window",
        )?,
    })
}

/// A querier's TLS and credentials towards the collectors, from the file's
/// `cluster:` section; the files are read once now, so that a bad one stops
/// the start.
fn collector_security(file: &crate::config::FileCluster) -> Result<spoor_client::ClientSecurity> {
    let path = |p: &Option<String>| p.as_ref().map(std::path::PathBuf::from);
    let security = spoor_client::ClientSecurity {
        tls: spoor_client::TlsOptions {
            enabled: file.tls.unwrap_or(false),
            ca_file: path(&file.tls_ca_file),
            cert_file: path(&file.tls_cert_file),
            key_file: path(&file.tls_key_file),
            server_name: file.tls_server_name.clone(),
        },
        credentials: spoor_client::CredentialOptions {
            bearer_token_file: path(&file.bearer_token_file),
            ..Default::default()
        },
    };
    if security.tls.any_set() {
        spoor_client::tls::client_config(&security.tls, &[])
            .map_err(|e| anyhow::anyhow!("cluster TLS to the collectors: {e}"))?;
    }
    spoor_client::Credentials::new(&security.credentials)
        .map_err(|e| anyhow::anyhow!("cluster.bearer_token_file: {e}"))?;
    Ok(security)
}

pub fn query(config: &Config, args: &ClusterArgs) -> Result<Deployment> {
    require_shared_store(config, "query")?;
    let file = &config.cluster;
    let collectors = pick(&args.collectors, file.collectors.clone()).unwrap_or_default();
    // Checked now, so a typo fails at start.
    spoor_client::cluster::Collectors::parse(
        &collectors,
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
    .map_err(anyhow::Error::msg)?;
    let text = pick(
        &args.bucket_index_max_age,
        file.bucket_index_max_age.clone(),
    )
    .unwrap_or_else(|| "1m".to_owned());
    let max_age = go_nanos(&text, "the bucket index max age")?;
    ensure!(
        max_age >= 0,
        "the bucket index max age must not be negative"
    );
    let collector_security = collector_security(file)?;
    Ok(Deployment::Query {
        collector_security,
        collectors,
        refresh: duration(
            &args.block_refresh_interval,
            file.block_refresh_interval.clone(),
            "15s",
            "the block refresh interval",
        )?,
        bucket_index_max_age: Duration::from_nanos(max_age as u64),
    })
}

pub fn compactor(config: &Config, args: &ClusterArgs) -> Result<Deployment> {
    require_shared_store(config, "compactor")?;
    let file = &config.cluster;
    let refresh = duration(
        &args.block_refresh_interval,
        file.block_refresh_interval.clone(),
        "15s",
        "the block refresh interval",
    )?;
    let delete_delay = duration(
        &args.delete_delay,
        file.delete_delay.clone(),
        "5m",
        "the delete delay",
    )?;
    ensure!(
        delete_delay > refresh * 2,
        "the delete delay ({delete_delay:?}) must exceed twice the block refresh interval \
         ({refresh:?}), so queriers stop reading a block before it is deleted"
    );
    Ok(Deployment::Compactor {
        node: node_id(args, file)?,
        refresh,
        lease: duration(
            &args.compactor_lease,
            file.compactor_lease.clone(),
            "30s",
            "the compactor lease",
        )?,
        delete_delay,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config_with(blocks_url: Option<&str>) -> Config {
        let mut config =
            Config::merge(&RunArgs::default(), crate::config::FileConfig::default_v1()).unwrap();
        if let Storage::Engine {
            blocks_url: url, ..
        } = &mut config.storage
        {
            *url = blocks_url.map(str::to_owned);
        }
        config
    }

    #[test]
    fn roles_need_the_shared_store_and_valid_names() {
        let args = ClusterArgs {
            node_id: Some("collector-0".into()),
            ..ClusterArgs::default()
        };
        let err = collector(&config_with(None), &args)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--blocks-url"), "{err}");
        let shared = config_with(Some("file:///tmp/spoor-bucket"));
        assert_eq!(
            collector(&shared, &args).unwrap(),
            Deployment::Collector {
                node: "collector-0".into(),
                recent: Duration::from_secs(120)
            }
        );
        let bad = ClusterArgs {
            node_id: Some("Collector_0".into()),
            ..ClusterArgs::default()
        };
        assert!(collector(&shared, &bad).is_err());
        let bad = ClusterArgs {
            collectors: Some("nohost".into()),
            ..ClusterArgs::default()
        };
        assert!(query(&shared, &bad).is_err());
        let short = ClusterArgs {
            node_id: Some("c".into()),
            delete_delay: Some("20s".into()),
            ..ClusterArgs::default()
        };
        let err = compactor(&shared, &short).unwrap_err().to_string();
        assert!(err.contains("twice the block refresh interval"), "{err}");
    }
}
