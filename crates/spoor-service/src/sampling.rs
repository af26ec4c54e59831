//! Remote sampling: Jaeger's file-strategy merge rules, the provider that
//! answers "what should service X sample?", and its reload loop.
//!
//! The provider never touches files, HTTP or JSON itself: a
//! [`StrategySource`] (implemented in `spoor-server`) fetches the bytes of a
//! strategies file or URL and parses them with `spoor-codec`. What the
//! provider owns is the part Jaeger defines in
//! `internal/sampling/samplingstrategy/file/provider.go`:
//!
//! - a service named in the file gets its own strategy; any other service
//!   gets `default_strategy`, or probabilistic `default_probability` when the
//!   file has none or there is no file;
//! - when the default strategy has per-operation strategies, a service
//!   without its own inherits them (with its own probability as the
//!   per-operation default when it is probabilistic), and a service with its
//!   own gets the default's operations it does not name appended;
//! - the current strategies sit behind a lock-light cell and are swapped
//!   whole when the source changes (bytes compared); a failed or invalid
//!   reload keeps the previous strategies.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use spoor_model::sampling::{
    OperationStrategy, ParsedStrategies, SamplingStrategyResponse, StrategiesDocument,
};

/// Jaeger's default sampling probability (`default_sampling_probability`
/// of the file provider). Spoor's all-in-one serves 1.0 instead unless told
/// otherwise, so that a fresh install records every trace.
pub const JAEGER_DEFAULT_PROBABILITY: f64 = 0.001;

/// Why a strategy could not be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    /// The strategies source could not be read.
    #[error("cannot read sampling strategies from {origin}: {message}")]
    Fetch {
        /// The file or URL.
        origin: String,
        /// What went wrong.
        message: String,
    },
    /// The strategies source is not a valid strategies file.
    #[error("invalid sampling strategies in {origin}: {message}")]
    Parse {
        /// The file or URL.
        origin: String,
        /// What went wrong.
        message: String,
    },
    /// An upstream provider (a collector, for `spoor agent`) failed.
    #[error("{0}")]
    Upstream(String),
}

/// Something that answers sampling strategy requests: the file provider in a
/// collector, a proxy to the collector in `spoor agent`.
#[async_trait::async_trait]
pub trait StrategyProvider: Send + Sync + 'static {
    /// The strategy `service`'s tracers should apply.
    async fn get_sampling_strategy(
        &self,
        service: &str,
    ) -> Result<SamplingStrategyResponse, SamplingError>;
}

/// What a [`StrategySource`] fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The current bytes of the strategies file.
    Content(Vec<u8>),
    /// The source is temporarily unavailable (HTTP 503): keep what we have.
    Unavailable,
}

/// Where strategies come from, with the parser for their format. Implemented
/// outside this crate (a file, an HTTP URL), so that this crate stays free of
/// I/O clients and JSON.
#[async_trait::async_trait]
pub trait StrategySource: Send + Sync + 'static {
    /// The file path or URL, for messages.
    fn describe(&self) -> String;
    /// Reads the current bytes.
    async fn fetch(&self) -> Result<Fetched, String>;
    /// Parses bytes into strategies; `default_probability` is the
    /// provider's (see `spoor_codec::sampling_json::parse_strategies`).
    fn parse(&self, bytes: &[u8], default_probability: f64) -> Result<ParsedStrategies, String>;
}

/// How a service's operation strategies combine with the default strategy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeRules {
    /// Jaeger v2 (and v1 since the `bugfix-5270` fix became the only
    /// behaviour): every service inherits or merges the default's operation
    /// strategies.
    #[default]
    Jaeger,
    /// Jaeger v1 before the fix of jaeger#5270: only probabilistic services
    /// without their own operation strategies inherit the default's, and
    /// merging happens only when the default names operations.
    Pre5270,
}

/// Settings of a [`SamplingProvider`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingOptions {
    /// Probability for services no strategy names when there is no
    /// `default_strategy` (or no file at all), and the per-operation default
    /// of non-probabilistic services. Jaeger's is
    /// [`JAEGER_DEFAULT_PROBABILITY`]; Spoor's all-in-one uses 1.0.
    pub default_probability: f64,
    /// How often the source is checked for changes; zero = never.
    pub reload_interval: Duration,
    /// Which merge rules apply.
    pub merge_rules: MergeRules,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            default_probability: 1.0,
            reload_interval: Duration::from_secs(1),
            merge_rules: MergeRules::Jaeger,
        }
    }
}

/// Strategies after the merge rules ran: one per named service plus the
/// default.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies {
    default_strategy: SamplingStrategyResponse,
    services: HashMap<String, SamplingStrategyResponse>,
}

impl Strategies {
    /// Every service gets probabilistic `default_probability`.
    pub fn defaults(default_probability: f64) -> Self {
        Strategies {
            default_strategy: SamplingStrategyResponse::probabilistic(default_probability),
            services: HashMap::new(),
        }
    }

    /// Applies the merge rules to a parsed strategies file.
    pub fn from_document(
        doc: StrategiesDocument,
        default_probability: f64,
        rules: MergeRules,
    ) -> Self {
        let default_strategy = doc
            .default_strategy
            .unwrap_or_else(|| SamplingStrategyResponse::probabilistic(default_probability));
        let default_ops = default_strategy.operation_sampling.as_ref();
        let merge_lists = match rules {
            MergeRules::Jaeger => default_ops.is_some(),
            MergeRules::Pre5270 => default_ops.is_some_and(|o| !o.per_operation.is_empty()),
        };
        let mut services = HashMap::with_capacity(doc.service_strategies.len());
        for entry in doc.service_strategies {
            let mut strategy = entry.strategy;
            if let Some(default_ops) = default_ops {
                match &mut strategy.operation_sampling {
                    None => {
                        let inherit = match rules {
                            MergeRules::Jaeger => true,
                            MergeRules::Pre5270 => strategy.probabilistic.is_some(),
                        };
                        if inherit {
                            let mut ops = default_ops.clone();
                            if let Some(p) = strategy.probabilistic {
                                ops.default_sampling_probability = p.sampling_rate;
                            }
                            strategy.operation_sampling = Some(ops);
                        }
                    }
                    Some(own) if merge_lists => {
                        append_missing(&mut own.per_operation, &default_ops.per_operation);
                    }
                    Some(_) => {}
                }
            }
            // A later entry for the same service replaces an earlier one.
            services.insert(entry.service, strategy);
        }
        Strategies {
            default_strategy,
            services,
        }
    }

    /// The strategy of `service`: its own, or the default.
    pub fn get(&self, service: &str) -> &SamplingStrategyResponse {
        self.services.get(service).unwrap_or(&self.default_strategy)
    }

    /// The strategy of services the file does not name.
    pub fn default_strategy(&self) -> &SamplingStrategyResponse {
        &self.default_strategy
    }

    /// How many services have their own strategy.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }
}

/// Appends the operations of `defaults` that `own` does not name (own entries
/// win), keeping both orders.
fn append_missing(own: &mut Vec<OperationStrategy>, defaults: &[OperationStrategy]) {
    let named: HashSet<String> = own.iter().map(|o| o.operation.clone()).collect();
    own.extend(
        defaults
            .iter()
            .filter(|d| !named.contains(&d.operation))
            .cloned(),
    );
}

/// What one reload step did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadOutcome {
    /// There is no source to reload from.
    NoSource,
    /// The source's bytes are the ones already applied.
    Unchanged,
    /// New strategies are in force.
    Updated,
    /// The source answered "temporarily unavailable"; nothing changed.
    Unavailable,
    /// The source could not be read; nothing changed.
    FetchFailed(String),
    /// The source's new bytes are not valid; nothing changed.
    ParseFailed(String),
}

/// Serves sampling strategies from defaults or a [`StrategySource`], and
/// reloads them. Share it as `Arc<SamplingProvider>`.
pub struct SamplingProvider {
    options: SamplingOptions,
    current: RwLock<Arc<Strategies>>,
    source: Option<Arc<dyn StrategySource>>,
    /// The bytes behind `current`, to detect changes.
    applied: Mutex<Option<Vec<u8>>>,
    /// The last reload failure, so that a failure repeated on every tick is
    /// logged once.
    last_failure: Mutex<Option<String>>,
    updates: AtomicU64,
}

impl std::fmt::Debug for SamplingProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamplingProvider")
            .field("options", &self.options)
            .field("source", &self.source.as_ref().map(|s| s.describe()))
            .field("updates", &self.updates.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SamplingProvider {
    /// A provider without a source: every service gets probabilistic
    /// `options.default_probability`.
    pub fn with_defaults(options: SamplingOptions) -> Self {
        SamplingProvider {
            options,
            current: RwLock::new(Arc::new(Strategies::defaults(options.default_probability))),
            source: None,
            applied: Mutex::new(None),
            last_failure: Mutex::new(None),
            updates: AtomicU64::new(0),
        }
    }

    /// Whether `failure` differs from the previous reload's (and remembers it).
    fn is_new_failure(&self, failure: Option<&str>) -> bool {
        let mut last = self.last_failure.lock();
        let new = last.as_deref() != failure;
        *last = failure.map(str::to_string);
        new
    }

    /// A provider loaded from `source`. As in Jaeger, a source that cannot be
    /// read or parsed is an error, while a source that is temporarily
    /// unavailable starts the provider on defaults (the reload loop keeps
    /// trying).
    pub async fn from_source(
        source: Arc<dyn StrategySource>,
        options: SamplingOptions,
    ) -> Result<Self, SamplingError> {
        let origin = source.describe();
        let mut provider = SamplingProvider::with_defaults(options);
        match source.fetch().await {
            Ok(Fetched::Unavailable) => {
                tracing::info!(
                    source = %origin,
                    "sampling strategies source is unavailable; using defaults until it answers"
                );
            }
            Ok(Fetched::Content(bytes)) => {
                let parsed =
                    source
                        .parse(&bytes, options.default_probability)
                        .map_err(|message| SamplingError::Parse {
                            origin: origin.clone(),
                            message,
                        })?;
                provider.install(&origin, parsed, bytes);
            }
            Err(message) => return Err(SamplingError::Fetch { origin, message }),
        }
        provider.source = Some(source);
        Ok(provider)
    }

    /// The options this provider was built with.
    pub fn options(&self) -> SamplingOptions {
        self.options
    }

    /// The strategy for `service` (its own or the default).
    pub fn strategy(&self, service: &str) -> SamplingStrategyResponse {
        self.current.read().get(service).clone()
    }

    /// The strategies in force.
    pub fn current(&self) -> Arc<Strategies> {
        self.current.read().clone()
    }

    /// How many times new strategies were installed since start.
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::Relaxed)
    }

    fn install(&self, origin: &str, parsed: ParsedStrategies, bytes: Vec<u8>) {
        for warning in &parsed.warnings {
            tracing::warn!(source = %origin, "sampling strategies: {warning}");
        }
        let strategies = match parsed.document {
            Some(doc) => Strategies::from_document(
                doc,
                self.options.default_probability,
                self.options.merge_rules,
            ),
            None => Strategies::defaults(self.options.default_probability),
        };
        tracing::info!(
            source = %origin,
            services = strategies.service_count(),
            "sampling strategies loaded"
        );
        *self.current.write() = Arc::new(strategies);
        *self.applied.lock() = Some(bytes);
        self.updates.fetch_add(1, Ordering::Relaxed);
    }

    /// Fetches the source once and installs its strategies if its bytes
    /// changed and parse. Failures are logged and keep the current strategies.
    pub async fn reload(&self) -> ReloadOutcome {
        let Some(source) = &self.source else {
            return ReloadOutcome::NoSource;
        };
        let origin = source.describe();
        let bytes = match source.fetch().await {
            Ok(Fetched::Content(bytes)) => bytes,
            Ok(Fetched::Unavailable) => {
                if self.is_new_failure(Some("unavailable")) {
                    tracing::warn!(source = %origin, "sampling strategies source is temporarily unavailable; keeping the current strategies");
                }
                return ReloadOutcome::Unavailable;
            }
            Err(message) => {
                if self.is_new_failure(Some(&message)) {
                    tracing::error!(source = %origin, error = %message, "failed to re-load sampling strategies; keeping the current ones");
                }
                return ReloadOutcome::FetchFailed(message);
            }
        };
        if self.applied.lock().as_deref() == Some(bytes.as_slice()) {
            if self.is_new_failure(None) {
                tracing::info!(source = %origin, "sampling strategies source is back to the strategies in force");
            }
            return ReloadOutcome::Unchanged;
        }
        match source.parse(&bytes, self.options.default_probability) {
            Ok(parsed) => {
                self.is_new_failure(None);
                self.install(&origin, parsed, bytes);
                ReloadOutcome::Updated
            }
            Err(message) => {
                if self.is_new_failure(Some(&message)) {
                    tracing::error!(source = %origin, error = %message, "failed to update sampling strategies; keeping the current ones");
                }
                ReloadOutcome::ParseFailed(message)
            }
        }
    }

    /// Reloads every `reload_interval` until `shutdown` resolves. Returns at
    /// once when there is no source or the interval is zero.
    pub async fn run_reloader(self: Arc<Self>, shutdown: impl Future<Output = ()> + Send) {
        if self.source.is_none() || self.options.reload_interval.is_zero() {
            return;
        }
        let mut ticker = tokio::time::interval(self.options.reload_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; we loaded at start
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {
                    self.reload().await;
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl StrategyProvider for SamplingProvider {
    async fn get_sampling_strategy(
        &self,
        service: &str,
    ) -> Result<SamplingStrategyResponse, SamplingError> {
        Ok(self.strategy(service))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_model::sampling::{PerOperationSampling, ProbabilisticSampling, ServiceStrategy};

    fn op(name: &str, rate: f64) -> OperationStrategy {
        OperationStrategy {
            operation: name.into(),
            probabilistic: Some(ProbabilisticSampling {
                sampling_rate: rate,
            }),
        }
    }

    fn with_ops(
        mut s: SamplingStrategyResponse,
        default_p: f64,
        ops: Vec<OperationStrategy>,
    ) -> SamplingStrategyResponse {
        s.operation_sampling = Some(PerOperationSampling {
            default_sampling_probability: default_p,
            per_operation: ops,
            ..PerOperationSampling::default()
        });
        s
    }

    fn service(name: &str, strategy: SamplingStrategyResponse) -> ServiceStrategy {
        ServiceStrategy {
            service: name.into(),
            strategy,
        }
    }

    fn names(s: &SamplingStrategyResponse) -> Vec<&str> {
        s.operation_sampling
            .as_ref()
            .unwrap()
            .per_operation
            .iter()
            .map(|o| o.operation.as_str())
            .collect()
    }

    #[test]
    fn no_file_gives_every_service_the_default_probability() {
        let s = Strategies::defaults(0.001);
        assert_eq!(
            s.get("anything"),
            &SamplingStrategyResponse::probabilistic(0.001)
        );
        let p = SamplingProvider::with_defaults(SamplingOptions::default());
        assert_eq!(
            p.strategy("x"),
            SamplingStrategyResponse::probabilistic(1.0)
        );
    }

    #[test]
    fn named_services_get_their_own_and_others_the_default_strategy() {
        let doc = StrategiesDocument {
            default_strategy: Some(SamplingStrategyResponse::probabilistic(0.5)),
            service_strategies: vec![
                service("foo", SamplingStrategyResponse::probabilistic(0.8)),
                service("bar", SamplingStrategyResponse::rate_limiting(5)),
            ],
        };
        let s = Strategies::from_document(doc, 0.001, MergeRules::Jaeger);
        assert_eq!(s.get("foo"), &SamplingStrategyResponse::probabilistic(0.8));
        assert_eq!(s.get("bar"), &SamplingStrategyResponse::rate_limiting(5));
        assert_eq!(s.get("baz"), &SamplingStrategyResponse::probabilistic(0.5));
        assert_eq!(s.service_count(), 2);
    }

    #[test]
    fn without_default_strategy_unknown_services_get_the_default_probability() {
        let doc = StrategiesDocument {
            default_strategy: None,
            service_strategies: vec![service("foo", SamplingStrategyResponse::probabilistic(0.8))],
        };
        let s = Strategies::from_document(doc, 0.25, MergeRules::Jaeger);
        assert_eq!(
            s.get("other"),
            &SamplingStrategyResponse::probabilistic(0.25)
        );
    }

    #[test]
    fn a_later_entry_for_the_same_service_wins() {
        let doc = StrategiesDocument {
            default_strategy: None,
            service_strategies: vec![
                service("foo", SamplingStrategyResponse::probabilistic(0.8)),
                service("foo", SamplingStrategyResponse::rate_limiting(2)),
            ],
        };
        let s = Strategies::from_document(doc, 0.25, MergeRules::Jaeger);
        assert_eq!(s.get("foo"), &SamplingStrategyResponse::rate_limiting(2));
    }

    #[test]
    fn services_without_operations_inherit_the_defaults_operations() {
        let default = with_ops(
            SamplingStrategyResponse::probabilistic(0.2),
            0.2,
            vec![op("/health", 0.1)],
        );
        let doc = StrategiesDocument {
            default_strategy: Some(default),
            service_strategies: vec![
                service("a", SamplingStrategyResponse::probabilistic(1.0)),
                service("b", SamplingStrategyResponse::rate_limiting(3)),
            ],
        };
        let s = Strategies::from_document(doc.clone(), 0.001, MergeRules::Jaeger);
        // Probabilistic: its own rate becomes the per-operation default.
        let a = s.get("a");
        assert_eq!(
            a.operation_sampling
                .as_ref()
                .unwrap()
                .default_sampling_probability,
            1.0
        );
        assert_eq!(names(a), ["/health"]);
        // Rate limiting: the default strategy's per-operation default stays.
        let b = s.get("b");
        assert_eq!(b.rate_limiting.unwrap().max_traces_per_second, 3);
        assert_eq!(
            b.operation_sampling
                .as_ref()
                .unwrap()
                .default_sampling_probability,
            0.2
        );
        assert_eq!(names(b), ["/health"]);

        // Before jaeger#5270 was fixed, only probabilistic services inherited.
        let old = Strategies::from_document(doc, 0.001, MergeRules::Pre5270);
        assert_eq!(names(old.get("a")), ["/health"]);
        assert_eq!(old.get("b"), &SamplingStrategyResponse::rate_limiting(3));
    }

    #[test]
    fn own_operations_win_and_the_defaults_missing_ones_are_appended() {
        let default = with_ops(
            SamplingStrategyResponse::probabilistic(0.5),
            0.5,
            vec![op("op0", 0.2), op("op6", 0.0), op("op7", 1.0)],
        );
        let foo = with_ops(
            SamplingStrategyResponse::probabilistic(0.8),
            0.8,
            vec![op("op6", 0.5), op("op1", 0.2)],
        );
        let doc = StrategiesDocument {
            default_strategy: Some(default.clone()),
            service_strategies: vec![service("foo", foo)],
        };
        let s = Strategies::from_document(doc, 0.001, MergeRules::Jaeger);
        let foo = s.get("foo");
        assert_eq!(names(foo), ["op6", "op1", "op0", "op7"]);
        let ops = &foo.operation_sampling.as_ref().unwrap().per_operation;
        assert_eq!(
            ops[0].probabilistic.unwrap().sampling_rate,
            0.5,
            "own entry wins"
        );
        assert_eq!(
            foo.operation_sampling
                .as_ref()
                .unwrap()
                .default_sampling_probability,
            0.8
        );
        // The default strategy itself is served unchanged.
        assert_eq!(s.get("nobody"), &default);
    }

    #[test]
    fn a_default_with_an_empty_operation_list_still_counts_as_having_operations() {
        let default = with_ops(SamplingStrategyResponse::probabilistic(0.5), 0.5, vec![]);
        let doc = StrategiesDocument {
            default_strategy: Some(default),
            service_strategies: vec![
                service("a", SamplingStrategyResponse::probabilistic(0.9)),
                service(
                    "b",
                    with_ops(
                        SamplingStrategyResponse::probabilistic(0.3),
                        0.3,
                        vec![op("x", 0.1)],
                    ),
                ),
            ],
        };
        let s = Strategies::from_document(doc.clone(), 0.001, MergeRules::Jaeger);
        let a = s.get("a").operation_sampling.as_ref().unwrap();
        assert!(a.per_operation.is_empty());
        assert_eq!(a.default_sampling_probability, 0.9);
        assert_eq!(names(s.get("b")), ["x"]);
        let old = Strategies::from_document(doc, 0.001, MergeRules::Pre5270);
        assert_eq!(names(old.get("b")), ["x"]);
    }

    #[test]
    fn without_default_operations_nothing_is_merged() {
        let doc = StrategiesDocument {
            default_strategy: Some(SamplingStrategyResponse::probabilistic(0.5)),
            service_strategies: vec![
                service("a", SamplingStrategyResponse::probabilistic(0.9)),
                service(
                    "b",
                    with_ops(
                        SamplingStrategyResponse::rate_limiting(1),
                        0.001,
                        vec![op("x", 0.1)],
                    ),
                ),
            ],
        };
        let s = Strategies::from_document(doc, 0.001, MergeRules::Jaeger);
        assert_eq!(s.get("a"), &SamplingStrategyResponse::probabilistic(0.9));
        assert_eq!(names(s.get("b")), ["x"]);
    }

    /// A source whose answers the test scripts.
    struct Scripted {
        answers: Mutex<Vec<Result<Fetched, String>>>,
        calls: AtomicU64,
    }

    impl Scripted {
        fn new(answers: Vec<Result<Fetched, String>>) -> Arc<Self> {
            Arc::new(Scripted {
                answers: Mutex::new(answers),
                calls: AtomicU64::new(0),
            })
        }
    }

    /// "p=0.3" → everyone probabilistic 0.3; "null" → no document; else error.
    #[async_trait::async_trait]
    impl StrategySource for Scripted {
        fn describe(&self) -> String {
            "scripted".into()
        }
        async fn fetch(&self) -> Result<Fetched, String> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let mut answers = self.answers.lock();
            if answers.len() > 1 {
                answers.remove(0)
            } else {
                answers.first().cloned().unwrap_or(Err("no answer".into()))
            }
        }
        fn parse(&self, bytes: &[u8], _default: f64) -> Result<ParsedStrategies, String> {
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            if text == "null" {
                return Ok(ParsedStrategies::default());
            }
            let p: f64 = text
                .strip_prefix("p=")
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("bad content {text:?}"))?;
            Ok(ParsedStrategies {
                document: Some(StrategiesDocument {
                    default_strategy: Some(SamplingStrategyResponse::probabilistic(p)),
                    service_strategies: vec![],
                }),
                warnings: vec!["a tolerated oddity".into()],
            })
        }
    }

    fn content(s: &str) -> Result<Fetched, String> {
        Ok(Fetched::Content(s.as_bytes().to_vec()))
    }

    fn options() -> SamplingOptions {
        SamplingOptions {
            default_probability: 0.001,
            reload_interval: Duration::from_millis(10),
            merge_rules: MergeRules::Jaeger,
        }
    }

    fn rate(p: &SamplingProvider) -> f64 {
        p.strategy("svc").probabilistic.unwrap().sampling_rate
    }

    #[tokio::test]
    async fn start_fails_on_unreadable_or_invalid_sources() {
        let err = SamplingProvider::from_source(Scripted::new(vec![Err("boom".into())]), options())
            .await
            .unwrap_err();
        assert!(matches!(err, SamplingError::Fetch { .. }), "{err}");
        assert!(err.to_string().contains("boom"));
        let err = SamplingProvider::from_source(Scripted::new(vec![content("junk")]), options())
            .await
            .unwrap_err();
        assert!(matches!(err, SamplingError::Parse { .. }), "{err}");
    }

    #[tokio::test]
    async fn unavailable_at_start_means_defaults_then_the_source_once_it_answers() {
        let src = Scripted::new(vec![
            Ok(Fetched::Unavailable),
            Ok(Fetched::Unavailable),
            content("p=0.7"),
        ]);
        let p = SamplingProvider::from_source(src.clone(), options())
            .await
            .unwrap();
        assert_eq!(rate(&p), 0.001);
        assert_eq!(p.reload().await, ReloadOutcome::Unavailable);
        assert_eq!(rate(&p), 0.001);
        assert_eq!(p.reload().await, ReloadOutcome::Updated);
        assert_eq!(rate(&p), 0.7);
    }

    #[tokio::test]
    async fn reload_compares_bytes_and_keeps_old_strategies_on_failure() {
        let src = Scripted::new(vec![
            content("p=0.5"),
            content("p=0.5"),
            content("junk"),
            Err("gone".into()),
            Ok(Fetched::Unavailable),
            content("p=0.9"),
            content("null"),
        ]);
        let p = SamplingProvider::from_source(src, options()).await.unwrap();
        assert_eq!(rate(&p), 0.5);
        assert_eq!(p.updates(), 1);
        assert_eq!(p.reload().await, ReloadOutcome::Unchanged);
        assert!(matches!(p.reload().await, ReloadOutcome::ParseFailed(m) if m.contains("junk")));
        assert_eq!(rate(&p), 0.5);
        assert!(matches!(p.reload().await, ReloadOutcome::FetchFailed(m) if m == "gone"));
        assert_eq!(p.reload().await, ReloadOutcome::Unavailable);
        assert_eq!(rate(&p), 0.5);
        assert_eq!(p.reload().await, ReloadOutcome::Updated);
        assert_eq!(rate(&p), 0.9);
        // A JSON null file means defaults again.
        assert_eq!(p.reload().await, ReloadOutcome::Updated);
        assert_eq!(rate(&p), 0.001);
        assert_eq!(p.updates(), 3);
    }

    #[test]
    fn a_repeated_failure_is_reported_once() {
        let p = SamplingProvider::with_defaults(options());
        assert!(p.is_new_failure(Some("gone")));
        assert!(!p.is_new_failure(Some("gone")));
        assert!(p.is_new_failure(Some("bad json")));
        assert!(p.is_new_failure(None));
        assert!(!p.is_new_failure(None));
        assert!(p.is_new_failure(Some("gone")));
    }

    #[tokio::test]
    async fn the_reloader_picks_up_changes_and_stops_on_shutdown() {
        let src = Scripted::new(vec![content("p=0.5"), content("p=0.5"), content("p=0.25")]);
        let p = Arc::new(
            SamplingProvider::from_source(src.clone(), options())
                .await
                .unwrap(),
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(p.clone().run_reloader(async {
            let _ = stop_rx.await;
        }));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while rate(&p) != 0.25 {
            assert!(tokio::time::Instant::now() < deadline, "no reload seen");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        let calls = src.calls.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(src.calls.load(Ordering::Relaxed), calls, "stopped polling");
    }

    #[tokio::test]
    async fn without_a_source_the_reloader_returns_at_once() {
        let p = Arc::new(SamplingProvider::with_defaults(options()));
        assert_eq!(p.reload().await, ReloadOutcome::NoSource);
        tokio::time::timeout(
            Duration::from_secs(1),
            p.clone().run_reloader(std::future::pending()),
        )
        .await
        .unwrap();
        assert_eq!(
            p.get_sampling_strategy("x").await.unwrap(),
            SamplingStrategyResponse::probabilistic(0.001)
        );
    }
}
