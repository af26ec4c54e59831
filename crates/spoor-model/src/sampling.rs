//! Remote sampling strategies: what a tracer is told to sample.
//!
//! These types mirror the information of Jaeger's `SamplingStrategyResponse`
//! (api_v2 `sampling.proto`) without any wire format: a top-level strategy
//! (probabilistic or rate limiting) and optional per-operation strategies.
//! A strategies file, once each of its entries has been read, is a
//! [`StrategiesDocument`]; the merge rules that turn it into per-service
//! answers live in `spoor-service`, the JSON forms in `spoor-codec`.

/// Which kind of sampler the top level of a response describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StrategyType {
    /// Sample a fixed fraction of traces ([`ProbabilisticSampling`]).
    #[default]
    Probabilistic,
    /// Sample at most a number of traces per second ([`RateLimitingSampling`]).
    RateLimiting,
}

impl StrategyType {
    /// The protobuf enum number (`PROBABILISTIC = 0`, `RATE_LIMITING = 1`).
    pub fn code(self) -> i32 {
        match self {
            StrategyType::Probabilistic => 0,
            StrategyType::RateLimiting => 1,
        }
    }

    /// The strategy type with protobuf enum number `code`, if there is one.
    pub fn from_code(code: i32) -> Option<StrategyType> {
        match code {
            0 => Some(StrategyType::Probabilistic),
            1 => Some(StrategyType::RateLimiting),
            _ => None,
        }
    }

    /// The protobuf enum name (`PROBABILISTIC`, `RATE_LIMITING`).
    pub fn name(self) -> &'static str {
        match self {
            StrategyType::Probabilistic => "PROBABILISTIC",
            StrategyType::RateLimiting => "RATE_LIMITING",
        }
    }
}

/// Sample each trace with a fixed probability.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProbabilisticSampling {
    /// The probability, normally in `[0, 1]`.
    pub sampling_rate: f64,
}

/// Sample at most `max_traces_per_second` traces per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitingSampling {
    /// Traces per second.
    pub max_traces_per_second: i32,
}

/// The probabilistic strategy of one operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OperationStrategy {
    /// The operation (span) name.
    pub operation: String,
    /// Its probability; `None` only when a remote source sent none.
    pub probabilistic: Option<ProbabilisticSampling>,
}

/// Per-operation strategies and the defaults for operations they do not name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PerOperationSampling {
    /// Probability for operations without their own strategy.
    pub default_sampling_probability: f64,
    /// Traces per second every operation is guaranteed (adaptive sampling).
    pub default_lower_bound_traces_per_second: f64,
    /// Strategies of named operations, in order.
    pub per_operation: Vec<OperationStrategy>,
    /// Upper bound of traces per second per operation (unused by file strategies).
    pub default_upper_bound_traces_per_second: f64,
}

/// The strategy a service's tracers should apply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SamplingStrategyResponse {
    /// Which of the two top-level strategies applies.
    pub strategy_type: StrategyType,
    /// Set when `strategy_type` is probabilistic.
    pub probabilistic: Option<ProbabilisticSampling>,
    /// Set when `strategy_type` is rate limiting.
    pub rate_limiting: Option<RateLimitingSampling>,
    /// Per-operation strategies, when any apply.
    pub operation_sampling: Option<PerOperationSampling>,
}

impl SamplingStrategyResponse {
    /// A probabilistic strategy with `sampling_rate` and nothing else.
    pub fn probabilistic(sampling_rate: f64) -> Self {
        SamplingStrategyResponse {
            strategy_type: StrategyType::Probabilistic,
            probabilistic: Some(ProbabilisticSampling { sampling_rate }),
            rate_limiting: None,
            operation_sampling: None,
        }
    }

    /// A rate-limiting strategy of `max_traces_per_second` and nothing else.
    pub fn rate_limiting(max_traces_per_second: i32) -> Self {
        SamplingStrategyResponse {
            strategy_type: StrategyType::RateLimiting,
            probabilistic: None,
            rate_limiting: Some(RateLimitingSampling {
                max_traces_per_second,
            }),
            operation_sampling: None,
        }
    }
}

/// One service's entry of a strategies file, after its own fields were read
/// (type and parameter resolved, per-operation strategies collected) but
/// before the default strategy's operations were merged in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceStrategy {
    /// The service name.
    pub service: String,
    /// Its strategy.
    pub strategy: SamplingStrategyResponse,
}

/// A strategies file after each entry was read, before merging.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StrategiesDocument {
    /// `default_strategy`, when the file has one.
    pub default_strategy: Option<SamplingStrategyResponse>,
    /// `service_strategies`, in file order (a later entry for the same service wins).
    pub service_strategies: Vec<ServiceStrategy>,
}

/// A parsed strategies file and what was wrong with it but tolerated (as
/// Jaeger tolerates it), for the caller to log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedStrategies {
    /// The strategies; `None` when the file is JSON `null` (defaults apply).
    pub document: Option<StrategiesDocument>,
    /// Tolerated problems, one sentence each.
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_type_codes_match_the_protobuf_enum() {
        for t in [StrategyType::Probabilistic, StrategyType::RateLimiting] {
            assert_eq!(StrategyType::from_code(t.code()), Some(t));
        }
        assert_eq!(StrategyType::from_code(2), None);
        assert_eq!(StrategyType::RateLimiting.name(), "RATE_LIMITING");
        assert_eq!(StrategyType::default(), StrategyType::Probabilistic);
    }

    #[test]
    fn constructors_set_exactly_one_top_level_strategy() {
        let p = SamplingStrategyResponse::probabilistic(0.25);
        assert_eq!(p.strategy_type, StrategyType::Probabilistic);
        assert_eq!(p.probabilistic.map(|p| p.sampling_rate), Some(0.25));
        assert!(p.rate_limiting.is_none() && p.operation_sampling.is_none());
        let r = SamplingStrategyResponse::rate_limiting(7);
        assert_eq!(r.strategy_type, StrategyType::RateLimiting);
        assert_eq!(r.rate_limiting.map(|r| r.max_traces_per_second), Some(7));
        assert!(r.probabilistic.is_none());
    }
}
