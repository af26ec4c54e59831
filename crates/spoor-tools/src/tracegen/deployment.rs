//! A topology deployed: service instances (pods) with their OpenTelemetry
//! resources and addresses, and the instrumentation scopes each language's
//! SDK reports. Built once from the seed and shared by every worker, so all
//! workers' spans come from the same fleet.

use std::sync::Arc;

use spoor_model::{AnyValue, KeyValue, Resource, Scope};

use super::rng::{Rng, derive_seed};
use super::topology::{DbSystem, Lang, Topology};

/// One running copy of a service.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Shared by every span this instance emits.
    pub resource: Arc<Resource>,
    /// Pod IP, used as `client.address` / `network.peer.address` by callees.
    pub ip: String,
}

/// Which instrumentation library produced a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    HttpServer,
    HttpClient,
    GrpcServer,
    GrpcClient,
    MySql,
    MongoDb,
    Redis,
    Messaging,
    Internal,
}

impl ScopeKind {
    const ALL: [ScopeKind; 9] = [
        ScopeKind::HttpServer,
        ScopeKind::HttpClient,
        ScopeKind::GrpcServer,
        ScopeKind::GrpcClient,
        ScopeKind::MySql,
        ScopeKind::MongoDb,
        ScopeKind::Redis,
        ScopeKind::Messaging,
        ScopeKind::Internal,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The scope of a database client span.
    pub fn for_db(system: DbSystem) -> ScopeKind {
        match system {
            DbSystem::MySql => ScopeKind::MySql,
            DbSystem::MongoDb => ScopeKind::MongoDb,
            DbSystem::Redis => ScopeKind::Redis,
        }
    }
}

/// The deployed system.
#[derive(Debug)]
pub struct Deployment {
    pub topology: Topology,
    /// Instances of each service, by service index.
    pub instances: Vec<Vec<Instance>>,
    /// Scopes by language, then by [`ScopeKind`].
    scopes: Vec<Vec<Arc<Scope>>>,
}

impl Deployment {
    /// Deploys `topology`; instance IDs, pod names and IPs come from `seed`.
    pub fn new(topology: Topology, seed: u64) -> Deployment {
        let mut rng = Rng::new(derive_seed(seed, u64::MAX));
        let instances = topology
            .services
            .iter()
            .enumerate()
            .map(|(si, s)| {
                let replica_set = rng.string_from(b"0123456789abcdef", 10);
                (0..s.instances)
                    .map(|i| {
                        let pod = format!(
                            "{}-{}-{}",
                            s.name,
                            replica_set,
                            rng.string_from(b"bcdfghjklmnpqrstvwxz2456789", 5)
                        );
                        let ip = format!("10.244.{}.{}", 1 + si % 250, 10 + u16::from(i));
                        Instance {
                            resource: Arc::new(resource(s.name, s.lang, &pod, &mut rng)),
                            ip,
                        }
                    })
                    .collect()
            })
            .collect();
        let scopes = Lang::ALL
            .iter()
            .map(|&lang| {
                ScopeKind::ALL
                    .iter()
                    .map(|&kind| {
                        let (name, version) = scope_name(lang, kind);
                        Arc::new(Scope {
                            name: name.to_string(),
                            version: version.to_string(),
                            ..Scope::default()
                        })
                    })
                    .collect()
            })
            .collect();
        Deployment {
            topology,
            instances,
            scopes,
        }
    }

    /// The scope a service in `lang` reports for spans of `kind`.
    pub fn scope(&self, lang: Lang, kind: ScopeKind) -> &Arc<Scope> {
        &self.scopes[lang.index()][kind.index()]
    }
}

fn resource(service: &str, lang: Lang, pod: &str, rng: &mut Rng) -> Resource {
    let (runtime, runtime_version, sdk_version) = match lang {
        Lang::Java => ("OpenJDK Runtime Environment", "17.0.13+11", "1.44.1"),
        Lang::Go => ("go", "go1.23.4", "1.33.0"),
        Lang::Python => ("CPython", "3.12.8", "1.29.0"),
        Lang::NodeJs => ("nodejs", "22.12.0", "1.30.0"),
    };
    let s = |k: &str, v: &str| KeyValue::str(k, v);
    Resource {
        attributes: vec![
            s("service.name", service),
            s("service.namespace", "train-ticket"),
            s("service.version", "1.0.0"),
            s("service.instance.id", &rng.uuid()),
            s("host.name", pod),
            s("host.arch", "amd64"),
            s("os.type", "linux"),
            s("k8s.namespace.name", "train-ticket"),
            s("k8s.pod.name", pod),
            KeyValue::new(
                "process.pid",
                AnyValue::Int(1 + rng.range(0, 30_000) as i64),
            ),
            s("process.runtime.name", runtime),
            s("process.runtime.version", runtime_version),
            s("telemetry.sdk.name", "opentelemetry"),
            s("telemetry.sdk.language", lang.sdk_language()),
            s("telemetry.sdk.version", sdk_version),
        ],
        dropped_attributes_count: 0,
        schema_url: "https://opentelemetry.io/schemas/1.26.0".to_string(),
    }
}

/// Instrumentation library names and versions, per language, as the
/// OpenTelemetry distributions of each language name them.
fn scope_name(lang: Lang, kind: ScopeKind) -> (&'static str, &'static str) {
    use ScopeKind as K;
    match lang {
        Lang::Java => (
            match kind {
                K::HttpServer => "io.opentelemetry.tomcat-10.0",
                K::HttpClient => "io.opentelemetry.spring-web-3.1",
                K::GrpcServer | K::GrpcClient => "io.opentelemetry.grpc-1.6",
                K::MySql => "io.opentelemetry.jdbc",
                K::MongoDb => "io.opentelemetry.mongo-3.1",
                K::Redis => "io.opentelemetry.lettuce-5.1",
                K::Messaging => "io.opentelemetry.spring-rabbit-1.0",
                K::Internal => "io.opentelemetry.opentelemetry-instrumentation-annotations-1.16",
            },
            "2.10.0-alpha",
        ),
        Lang::Go => (
            match kind {
                K::HttpServer | K::HttpClient => {
                    "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
                }
                K::GrpcServer | K::GrpcClient => {
                    "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
                }
                K::MySql => "github.com/XSAM/otelsql",
                K::MongoDb => {
                    "go.opentelemetry.io/contrib/instrumentation/go.mongodb.org/mongo-driver/mongo/otelmongo"
                }
                K::Redis => "github.com/redis/go-redis/extra/redisotel",
                K::Messaging => "github.com/rabbitmq/amqp091-go",
                K::Internal => "ts-news-service",
            },
            "0.58.0",
        ),
        Lang::Python => (
            match kind {
                K::HttpServer => "opentelemetry.instrumentation.flask",
                K::HttpClient => "opentelemetry.instrumentation.requests",
                K::GrpcServer | K::GrpcClient => "opentelemetry.instrumentation.grpc",
                K::MySql => "opentelemetry.instrumentation.pymysql",
                K::MongoDb => "opentelemetry.instrumentation.pymongo",
                K::Redis => "opentelemetry.instrumentation.redis",
                K::Messaging => "opentelemetry.instrumentation.pika",
                K::Internal => "__main__",
            },
            "0.50b0",
        ),
        Lang::NodeJs => (
            match kind {
                K::HttpServer | K::HttpClient => "@opentelemetry/instrumentation-http",
                K::GrpcServer | K::GrpcClient => "@opentelemetry/instrumentation-grpc",
                K::MySql => "@opentelemetry/instrumentation-mysql2",
                K::MongoDb => "@opentelemetry/instrumentation-mongodb",
                K::Redis => "@opentelemetry/instrumentation-ioredis",
                K::Messaging => "@opentelemetry/instrumentation-amqplib",
                K::Internal => "ts-ui-dashboard",
            },
            "0.57.0",
        ),
    }
}
