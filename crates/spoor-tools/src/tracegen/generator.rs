//! Turns the deployed topology into traces: a deterministic function of the
//! seed (and of the end time it is given).
//!
//! A trace is built in two passes. The first walks the call graph from an
//! entry endpoint and lays out spans in time: a server span does some work,
//! makes its calls (each a client span around the callee's server span, with
//! network latency on both sides), and finishes; parallel calls overlap;
//! a published message is consumed after the publisher returned. Then, for
//! an error trace, one span becomes the origin of the error and it
//! propagates to every ancestor up to an asynchronous boundary. The second
//! pass writes the spans with their semantic-convention attributes.

use std::sync::Arc;

use spoor_model::{
    AnyValue, Event, KeyValue, Span, SpanId, SpanKind, SpanRecord, Status, StatusCode, TraceId,
    UnixNanos,
};

use super::deployment::{Deployment, ScopeKind};
use super::rng::{Rng, derive_seed};
use super::topology::{DbCall, DbSystem, EndpointKind, Lang, Target, Topology, TopologyError};

/// The most spans an ordinary (not large) trace may have.
pub const NORMAL_TRACE_SPAN_CAP: usize = 3_000;

/// What the generator makes.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// Attributes per span: semantic ones first, padded with
    /// `tracegen.attr.K` or truncated to exactly this many.
    pub attrs: usize,
    /// Share of traces (0 to 1) that contain an error.
    pub error_rate: f64,
    /// Every Nth trace is a large one; 0 never.
    pub large_trace_every: u64,
    /// Spans in a large trace.
    pub large_trace_spans: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            attrs: 10,
            error_rate: 0.02,
            large_trace_every: 1_000,
            large_trace_spans: 5_000,
        }
    }
}

/// A seeded source of traces.
#[derive(Debug)]
pub struct Generator {
    dep: Arc<Deployment>,
    cfg: GenConfig,
    rng: Rng,
    weights: Vec<u32>,
    large_weights: Vec<u32>,
    pad_keys: Vec<String>,
    traces: u64,
}

impl Generator {
    /// A generator over `deployment`; the same `seed` gives the same traces.
    pub fn new(deployment: Arc<Deployment>, config: GenConfig, seed: u64) -> Generator {
        let entries = &deployment.topology.entries;
        let weights = entries.iter().map(|e| e.weight).collect();
        let large_weights = entries
            .iter()
            .map(|e| if e.can_grow { e.weight.max(1) } else { 0 })
            .collect();
        let pad_keys = (0..config.attrs)
            .map(|k| format!("tracegen.attr.{k}"))
            .collect();
        Generator {
            dep: deployment,
            cfg: config,
            rng: Rng::new(seed),
            weights,
            large_weights,
            pad_keys,
            traces: 0,
        }
    }

    /// A generator over the default Train-Ticket topology (its first
    /// `services` services, or all), deployed with `seed`. It yields the
    /// traces worker 0 of a `spoor tracegen --seed <seed>` run sends.
    pub fn train_ticket(
        config: GenConfig,
        services: Option<usize>,
        seed: u64,
    ) -> Result<Generator, TopologyError> {
        let deployment = Deployment::new(Topology::train_ticket(services)?, seed);
        Ok(Generator::new(
            Arc::new(deployment),
            config,
            derive_seed(seed, 0),
        ))
    }

    /// Traces made so far.
    pub fn traces_generated(&self) -> u64 {
        self.traces
    }

    /// The next trace; its last span ends at `end_time`.
    pub fn next_trace(&mut self, end_time: UnixNanos) -> Vec<SpanRecord> {
        self.traces += 1;
        let large = self.cfg.large_trace_every > 0
            && self.traces.is_multiple_of(self.cfg.large_trace_every)
            && self.large_weights.iter().any(|&w| w > 0);
        let entry = if large {
            self.rng.weighted(&self.large_weights)
        } else {
            self.rng.weighted(&self.weights)
        };
        let budget = if large {
            self.cfg.large_trace_spans.max(1)
        } else {
            NORMAL_TRACE_SPAN_CAP
        };
        let is_error = self.rng.chance(self.cfg.error_rate);
        let dep = self.dep.clone();
        let mut b = Build {
            dep: &dep,
            topo: &dep.topology,
            rng: &mut self.rng,
            nodes: Vec::new(),
            budget,
            large,
        };
        b.root(entry);
        if is_error {
            b.mark_error();
        }
        let nodes = std::mem::take(&mut b.nodes);
        let mut w = Writer {
            dep: &dep,
            topo: &dep.topology,
            rng: &mut self.rng,
            values: Values::default(),
            attrs: self.cfg.attrs,
            pad_keys: &self.pad_keys,
        };
        w.write(&nodes, end_time)
    }
}

// ---------------------------------------------------------------------------
// Pass 1: structure and timing.

/// Why a span is in error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorRole {
    None,
    /// The error happened here (exception event, status message).
    Origin,
    /// A descendant failed and this span failed with it.
    Propagated,
}

/// What a span represents; decides its name and attributes.
#[derive(Debug, Clone, Copy)]
enum What {
    /// A server span of the node's service for the endpoint
    /// `(ep_service, endpoint)` (a proxy serves another service's route).
    Server {
        ep_service: usize,
        endpoint: usize,
        caller: Option<(usize, usize)>,
    },
    /// A client span calling `target` for the endpoint `(ep_service, endpoint)`.
    Client {
        target: usize,
        ep_service: usize,
        endpoint: usize,
    },
    Db(DbCall),
    Producer {
        queue: &'static str,
        message: u64,
    },
    Consumer {
        queue: &'static str,
        message: u64,
        endpoint: usize,
    },
    Local {
        name: &'static str,
    },
}

#[derive(Debug, Clone)]
struct Node {
    parent: Option<usize>,
    span_id: SpanId,
    service: usize,
    instance: usize,
    kind: SpanKind,
    what: What,
    /// Nanoseconds from the start of the trace.
    start: u64,
    end: u64,
    error: ErrorRole,
}

struct Build<'a> {
    dep: &'a Deployment,
    topo: &'a Topology,
    rng: &'a mut Rng,
    nodes: Vec<Node>,
    budget: usize,
    large: bool,
}

const US: u64 = 1_000;

impl Build<'_> {
    fn full(&self) -> bool {
        self.nodes.len() >= self.budget
    }

    /// Adds a span; `None` when the trace is at its span budget.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        parent: Option<usize>,
        service: usize,
        instance: usize,
        kind: SpanKind,
        what: What,
        start: u64,
        end: u64,
    ) -> Option<usize> {
        if self.full() {
            return None;
        }
        let span_id = loop {
            let v = self.rng.next_u64();
            if v != 0 {
                break SpanId::from_u64(v);
            }
        };
        self.nodes.push(Node {
            parent,
            span_id,
            service,
            instance,
            kind,
            what,
            start,
            end,
            error: ErrorRole::None,
        });
        Some(self.nodes.len() - 1)
    }

    /// One-way network latency.
    fn net(&mut self) -> u64 {
        self.rng.skewed(80, 1_500) * US
    }

    /// Work a handler does before and after its calls.
    fn work(&mut self) -> (u64, u64) {
        let slow = if self.rng.chance(0.005) { 20 } else { 1 };
        (
            self.rng.skewed(30, 1_500) * US * slow,
            self.rng.skewed(20, 800) * US,
        )
    }

    fn instance_of(&mut self, service: usize) -> usize {
        self.rng.index(self.dep.instances[service].len())
    }

    fn root(&mut self, entry: usize) {
        let e = self.topo.entries[entry];
        let is_http = matches!(
            self.topo.services[e.service].endpoints[e.endpoint].kind,
            EndpointKind::Http { .. }
        );
        // User requests come in through the UI and the gateway, unless the
        // entry is served by one of them.
        let chain: Vec<usize> = if is_http && !self.topo.edge.contains(&e.service) {
            self.topo.edge.clone()
        } else {
            Vec::new()
        };
        self.proxied(&chain, None, None, 0, e.service, e.endpoint);
    }

    /// Serves `(service, endpoint)` behind the proxies of `chain`.
    fn proxied(
        &mut self,
        chain: &[usize],
        parent: Option<usize>,
        caller: Option<(usize, usize)>,
        start: u64,
        service: usize,
        endpoint: usize,
    ) -> Option<u64> {
        let Some((&proxy, rest)) = chain.split_first() else {
            return self.handle(parent, caller, start, service, endpoint, None);
        };
        let inst = self.instance_of(proxy);
        let what = What::Server {
            ep_service: service,
            endpoint,
            caller,
        };
        let idx = self.push(parent, proxy, inst, SpanKind::Server, what, start, start)?;
        let mut t = start + self.rng.skewed(20, 400) * US;
        let next = rest.first().copied().unwrap_or(service);
        let what = What::Client {
            target: next,
            ep_service: service,
            endpoint,
        };
        if let Some(c) = self.push(Some(idx), proxy, inst, SpanKind::Client, what, t, t) {
            let callee_start = t + self.net();
            let callee_end = self
                .proxied(
                    rest,
                    Some(c),
                    Some((proxy, inst)),
                    callee_start,
                    service,
                    endpoint,
                )
                .unwrap_or(callee_start);
            t = callee_end + self.net();
            self.nodes[c].end = t;
        }
        t += self.rng.skewed(10, 300) * US;
        self.nodes[idx].end = t;
        Some(t)
    }

    /// A server (or, with `consumer`, a message consumer) span of
    /// `(service, endpoint)` and everything it calls.
    fn handle(
        &mut self,
        parent: Option<usize>,
        caller: Option<(usize, usize)>,
        start: u64,
        service: usize,
        endpoint: usize,
        consumer: Option<(&'static str, u64)>,
    ) -> Option<u64> {
        let inst = self.instance_of(service);
        let (kind, what) = match consumer {
            Some((queue, message)) => (
                SpanKind::Consumer,
                What::Consumer {
                    queue,
                    message,
                    endpoint,
                },
            ),
            None => (
                SpanKind::Server,
                What::Server {
                    ep_service: service,
                    endpoint,
                    caller,
                },
            ),
        };
        let idx = self.push(parent, service, inst, kind, what, start, start)?;
        let (pre, post) = self.work();
        let calls = self.topo.services[service].endpoints[endpoint].calls;
        let t = self.calls(idx, service, inst, calls, start + pre);
        let end = t + post;
        self.nodes[idx].end = end;
        Some(end)
    }

    /// Makes the calls of list `list` from span `parent`, starting at `t`;
    /// returns when the last one returned.
    fn calls(
        &mut self,
        parent: usize,
        service: usize,
        inst: usize,
        list: usize,
        mut t: u64,
    ) -> u64 {
        for i in 0..self.topo.call_lists[list].len() {
            let call = self.topo.call_lists[list][i];
            if self.full() {
                break;
            }
            if !self.rng.chance(call.probability) {
                continue;
            }
            let reps = if self.large && call.fanout {
                u64::MAX
            } else {
                self.rng.range(u64::from(call.min), u64::from(call.max))
            };
            let mut latest = t;
            let mut rep = 0u64;
            while rep < reps && !self.full() {
                let before = self.nodes.len();
                let start = if call.parallel {
                    t + rep * self.rng.skewed(5, 60) * US
                } else {
                    latest + self.rng.skewed(5, 80) * US
                };
                let Some(end) = self.one(parent, service, inst, call.target, start) else {
                    break;
                };
                latest = latest.max(end);
                if self.nodes.len() == before {
                    break;
                }
                rep += 1;
            }
            t = latest;
        }
        t
    }

    /// One call from span `parent` of `(service, inst)`, starting at `start`;
    /// returns when the caller has its answer.
    fn one(
        &mut self,
        parent: usize,
        service: usize,
        inst: usize,
        target: Target,
        start: u64,
    ) -> Option<u64> {
        match target {
            Target::Remote {
                service: callee,
                endpoint,
            } => {
                let what = What::Client {
                    target: callee,
                    ep_service: callee,
                    endpoint,
                };
                let c = self.push(
                    Some(parent),
                    service,
                    inst,
                    SpanKind::Client,
                    what,
                    start,
                    start,
                )?;
                let callee_start = start + self.net();
                let callee_end = self
                    .handle(
                        Some(c),
                        Some((service, inst)),
                        callee_start,
                        callee,
                        endpoint,
                        None,
                    )
                    .unwrap_or(callee_start);
                let end = callee_end + self.net();
                self.nodes[c].end = end;
                Some(end)
            }
            Target::Db(db) => {
                let (lo, hi) = db.system.latency_us();
                let slow = if self.rng.chance(0.01) { 5 } else { 1 };
                let end = start + self.rng.skewed(lo, hi) * US * slow;
                self.push(
                    Some(parent),
                    service,
                    inst,
                    SpanKind::Client,
                    What::Db(db),
                    start,
                    end,
                )?;
                Some(end)
            }
            Target::Publish {
                queue,
                service: consumer,
                endpoint,
            } => {
                let message = self.rng.next_u64();
                let end = start + self.rng.skewed(150, 1_200) * US;
                let what = What::Producer { queue, message };
                let p = self.push(
                    Some(parent),
                    service,
                    inst,
                    SpanKind::Producer,
                    what,
                    start,
                    end,
                )?;
                // Consumed later, on its own time: the publisher does not wait.
                let consume_at = end + self.rng.skewed(300, 25_000) * US;
                self.handle(
                    Some(p),
                    None,
                    consume_at,
                    consumer,
                    endpoint,
                    Some((queue, message)),
                );
                Some(end)
            }
            Target::Local { name, calls } => {
                let what = What::Local { name };
                let idx = self.push(
                    Some(parent),
                    service,
                    inst,
                    SpanKind::Internal,
                    what,
                    start,
                    start,
                )?;
                let t = start + self.rng.skewed(5, 300) * US;
                let t = self.calls(idx, service, inst, calls, t);
                let end = t + self.rng.skewed(5, 200) * US;
                self.nodes[idx].end = end;
                Some(end)
            }
        }
    }

    /// Picks where the error happens and propagates it to the ancestors,
    /// stopping at an asynchronous boundary (a consumer's publisher does not fail).
    fn mark_error(&mut self) {
        if self.nodes.is_empty() {
            return;
        }
        let candidates: Vec<usize> = (1..self.nodes.len())
            .filter(|&i| {
                !matches!(
                    self.nodes[i].what,
                    What::Client { .. } | What::Producer { .. }
                )
            })
            .collect();
        let origin = if candidates.is_empty() {
            0
        } else {
            candidates[self.rng.index(candidates.len())]
        };
        self.nodes[origin].error = ErrorRole::Origin;
        let mut cur = origin;
        while let Some(parent) = self.nodes[cur].parent {
            if self.nodes[cur].kind == SpanKind::Consumer {
                break;
            }
            self.nodes[parent].error = ErrorRole::Propagated;
            cur = parent;
        }
    }
}

// ---------------------------------------------------------------------------
// Pass 2: spans and attributes.

/// Per-trace values of route and query placeholders (`{orderId}`), so one
/// trace talks about one order, one user, one trip.
#[derive(Debug, Default)]
struct Values {
    known: Vec<(&'static str, String)>,
}

const STATIONS: &[&str] = &[
    "shanghai",
    "beijing",
    "nanjing",
    "suzhou",
    "hangzhou",
    "taiyuan",
    "shijiazhuang",
    "xuzhou",
    "jinan",
    "zhenjiang",
    "wuxi",
    "shanghaihongqiao",
    "jiaxingnan",
];
const TRAIN_TYPES: &[&str] = &[
    "GaoTieOne",
    "GaoTieTwo",
    "DongCheOne",
    "ZhiDa",
    "TeKuai",
    "KuaiSu",
];

impl Values {
    fn get(&mut self, rng: &mut Rng, name: &str) -> String {
        // Route parameters that name the same thing.
        let canonical: &'static str = match name {
            "accountId" | "userId" | "loginId" => "userId",
            "date" | "checkDate" | "travelDate" => "date",
            "startStation" | "stationName" => "startStation",
            "orderId" => "orderId",
            "tripId" => "tripId",
            "contactsId" => "contactsId",
            "routeId" => "routeId",
            "name" => "name",
            "configName" => "configName",
            "verifyCode" => "verifyCode",
            "status" => "status",
            "money" => "money",
            "typeIndex" => "typeIndex",
            "weight" => "weight",
            "isWithinRegion" => "isWithinRegion",
            "endStation" => "endStation",
            "clientIp" => "clientIp",
            _ => "id",
        };
        if let Some((_, v)) = self.known.iter().find(|(k, _)| *k == canonical) {
            return v.clone();
        }
        let v = match canonical {
            "tripId" => format!(
                "{}{}",
                ["G", "D", "Z", "T", "K"][rng.index(5)],
                rng.range(1_000, 9_999)
            ),
            "date" => format!("2025-{:02}-{:02}", rng.range(1, 12), rng.range(1, 28)),
            "startStation" | "endStation" => STATIONS[rng.index(STATIONS.len())].to_string(),
            "name" => TRAIN_TYPES[rng.index(TRAIN_TYPES.len())].to_string(),
            "configName" => "DirectTicketAllocationProportion".to_string(),
            "verifyCode" => rng.string_from(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 4),
            "status" => rng.range(0, 6).to_string(),
            "money" => format!("{}.0", rng.range(50, 1_200)),
            "typeIndex" => rng.range(0, 1).to_string(),
            "weight" => rng.range(1, 40).to_string(),
            "isWithinRegion" => (rng.range(0, 1) == 1).to_string(),
            "clientIp" => format!("203.0.113.{}", rng.range(1, 254)),
            _ => rng.uuid(),
        };
        self.known.push((canonical, v.clone()));
        v
    }

    /// `template` with every `{name}` replaced by its value.
    fn fill(&mut self, rng: &mut Rng, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + close];
            // JSON in MongoDB commands has braces that are not placeholders.
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
                continue;
            }
            out.push_str(&rest[..open]);
            out.push_str(&self.get(rng, name));
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }
}

struct Writer<'a> {
    dep: &'a Deployment,
    topo: &'a Topology,
    rng: &'a mut Rng,
    values: Values,
    attrs: usize,
    pad_keys: &'a [String],
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue::new(key, value)
}
fn s(key: &str, v: impl Into<String>) -> KeyValue {
    KeyValue::str(key, v)
}
fn int(key: &str, v: i64) -> KeyValue {
    kv(key, AnyValue::Int(v))
}

/// A stable, made-up cluster IP for a host name.
fn host_ip(host: &str) -> String {
    let h = host.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("10.96.{}.{}", (h >> 8) % 250 + 1, h % 250 + 1)
}

/// `ts-order-service` → `order`, for package and host names.
fn short_name(service: &str) -> &str {
    let s = service.strip_prefix("ts-").unwrap_or(service);
    s.strip_suffix("-service").unwrap_or(s)
}

impl Writer<'_> {
    fn write(&mut self, nodes: &[Node], end_time: UnixNanos) -> Vec<SpanRecord> {
        let trace_id = loop {
            let hi = self.rng.next_u64();
            let lo = self.rng.next_u64();
            let id = TraceId::from_halves(hi, lo);
            if !id.is_zero() {
                break id;
            }
        };
        let last = nodes.iter().map(|n| n.end).max().unwrap_or(0);
        let base = end_time.saturating_sub(last);
        let mut out = Vec::with_capacity(nodes.len());
        for node in nodes {
            let service = &self.topo.services[node.service];
            let instance = &self.dep.instances[node.service][node.instance];
            let (name, mut attributes, scope_kind) = self.describe(node);
            if node.error != ErrorRole::None {
                let at = attributes.len().min(4);
                attributes.insert(at, s("error.type", self.error_type(node)));
            }
            self.normalize(&mut attributes);
            let (status, events) = match node.error {
                ErrorRole::None => (Status::default(), Vec::new()),
                ErrorRole::Propagated => (
                    Status {
                        code: StatusCode::Error,
                        message: String::new(),
                    },
                    Vec::new(),
                ),
                ErrorRole::Origin => {
                    let (ty, message) = self.exception(node);
                    let stack = self.stack_trace(service.name, service.lang, ty, &message);
                    let at = base
                        + node
                            .end
                            .saturating_sub(self.rng.range(1, 50) * US)
                            .max(node.start);
                    (
                        Status {
                            code: StatusCode::Error,
                            message: message.clone(),
                        },
                        vec![Event {
                            time_unix_nano: at,
                            name: "exception".to_string(),
                            attributes: vec![
                                s("exception.type", ty),
                                s("exception.message", message),
                                s("exception.stacktrace", stack),
                            ],
                            dropped_attributes_count: 0,
                        }],
                    )
                }
            };
            let span = Span {
                trace_id,
                span_id: node.span_id,
                parent_span_id: node.parent.map_or(SpanId::ZERO, |p| nodes[p].span_id),
                trace_state: String::new(),
                flags: 1,
                name,
                kind: node.kind,
                start_time_unix_nano: base + node.start,
                end_time_unix_nano: base + node.end,
                attributes,
                dropped_attributes_count: 0,
                events,
                dropped_events_count: 0,
                links: Vec::new(),
                dropped_links_count: 0,
                status,
            };
            out.push(SpanRecord::new(
                instance.resource.clone(),
                self.dep.scope(service.lang, scope_kind).clone(),
                span,
            ));
        }
        out
    }

    /// Pads with `tracegen.attr.K` or truncates to exactly the configured count.
    fn normalize(&mut self, attributes: &mut Vec<KeyValue>) {
        if attributes.len() >= self.attrs {
            attributes.truncate(self.attrs);
            return;
        }
        for (k, key) in self.pad_keys[..self.attrs - attributes.len()]
            .iter()
            .enumerate()
        {
            let value = match k % 4 {
                0 => AnyValue::Str(format!("value-{}", self.rng.range(0, 999))),
                1 => AnyValue::Int(self.rng.range(0, 100_000) as i64),
                2 => AnyValue::Bool(self.rng.range(0, 1) == 1),
                _ => AnyValue::Double(self.rng.range(0, 10_000) as f64 / 100.0),
            };
            attributes.push(KeyValue::new(key.clone(), value));
        }
    }

    fn thread_name(&mut self, lang: Lang, prefix: &str) -> Option<KeyValue> {
        (lang == Lang::Java)
            .then(|| s("thread.name", format!("{prefix}{}", self.rng.range(1, 200))))
    }

    /// Span name, semantic attributes (most important first) and scope.
    fn describe(&mut self, node: &Node) -> (String, Vec<KeyValue>, ScopeKind) {
        let service = &self.topo.services[node.service];
        let lang = service.lang;
        let failed = node.error != ErrorRole::None;
        let mut a = Vec::with_capacity(self.attrs.max(12));
        match node.what {
            What::Server {
                ep_service,
                endpoint,
                caller,
            } => {
                let ep = &self.topo.services[ep_service].endpoints[endpoint];
                let (client_ip, client_port) = match caller {
                    Some((cs, ci)) => (
                        self.dep.instances[cs][ci].ip.clone(),
                        self.rng.range(32_768, 60_999) as i64,
                    ),
                    None => (
                        self.values.get(self.rng, "clientIp"),
                        self.rng.range(1_024, 65_535) as i64,
                    ),
                };
                match ep.kind {
                    EndpointKind::Http { method, route } => {
                        let path = self.values.fill(self.rng, route);
                        a.push(s("http.request.method", method));
                        a.push(s("url.path", path));
                        a.push(s("http.route", route));
                        a.push(int(
                            "http.response.status_code",
                            if failed { 500 } else { 200 },
                        ));
                        a.push(s("url.scheme", "http"));
                        a.push(s("server.address", service.name));
                        a.push(int("server.port", i64::from(service.port)));
                        a.push(s("client.address", client_ip.clone()));
                        a.push(s("network.protocol.version", "1.1"));
                        a.push(s(
                            "user_agent.original",
                            if caller.is_none() {
                                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
                            } else {
                                "Java-http-client/17.0.13"
                            },
                        ));
                        a.push(s("network.peer.address", client_ip));
                        a.push(int("network.peer.port", client_port));
                        a.extend(
                            self.thread_name(lang, &format!("http-nio-{}-exec-", service.port)),
                        );
                        (format!("{method} {route}"), a, ScopeKind::HttpServer)
                    }
                    EndpointKind::Grpc {
                        service: rpc_service,
                        method,
                    } => {
                        a.push(s("rpc.system", "grpc"));
                        a.push(s("rpc.service", rpc_service));
                        a.push(s("rpc.method", method));
                        a.push(int("rpc.grpc.status_code", if failed { 13 } else { 0 }));
                        a.push(s("server.address", service.name));
                        a.push(int("server.port", i64::from(service.port)));
                        a.push(s("client.address", client_ip.clone()));
                        a.push(s("network.peer.address", client_ip));
                        a.push(int("network.peer.port", client_port));
                        a.push(s("network.transport", "tcp"));
                        a.extend(self.thread_name(lang, "grpc-default-executor-"));
                        (ep.name.to_string(), a, ScopeKind::GrpcServer)
                    }
                    // Consumers are reached through `What::Consumer` only.
                    EndpointKind::Consumer => (ep.name.to_string(), a, ScopeKind::Internal),
                }
            }
            What::Client {
                target,
                ep_service,
                endpoint,
            } => {
                let callee = &self.topo.services[target];
                let ep = &self.topo.services[ep_service].endpoints[endpoint];
                match ep.kind {
                    EndpointKind::Grpc {
                        service: rpc_service,
                        method,
                    } => {
                        a.push(s("rpc.system", "grpc"));
                        a.push(s("rpc.service", rpc_service));
                        a.push(s("rpc.method", method));
                        a.push(int("rpc.grpc.status_code", if failed { 13 } else { 0 }));
                        a.push(s("server.address", callee.name));
                        a.push(int("server.port", i64::from(callee.port)));
                        a.push(s("net.peer.name", callee.name));
                        a.push(s("peer.service", callee.name));
                        a.push(s("network.transport", "tcp"));
                        a.extend(
                            self.thread_name(lang, &format!("http-nio-{}-exec-", service.port)),
                        );
                        (ep.name.to_string(), a, ScopeKind::GrpcClient)
                    }
                    EndpointKind::Http { method, route } => {
                        let path = self.values.fill(self.rng, route);
                        a.push(s("http.request.method", method));
                        a.push(s(
                            "url.full",
                            format!("http://{}:{}{path}", callee.name, callee.port),
                        ));
                        a.push(s("server.address", callee.name));
                        a.push(int("server.port", i64::from(callee.port)));
                        a.push(int(
                            "http.response.status_code",
                            if failed { 500 } else { 200 },
                        ));
                        a.push(s("url.template", route));
                        a.push(s("peer.service", callee.name));
                        a.push(s("net.peer.name", callee.name));
                        a.push(s("network.protocol.version", "1.1"));
                        a.extend(
                            self.thread_name(lang, &format!("http-nio-{}-exec-", service.port)),
                        );
                        (format!("{method} {route}"), a, ScopeKind::HttpClient)
                    }
                    EndpointKind::Consumer => (ep.name.to_string(), a, ScopeKind::Internal),
                }
            }
            What::Db(db) => {
                let host = format!(
                    "ts-{}-{}",
                    short_name(service.name),
                    db.system.host_suffix()
                );
                a.push(s("db.system", db.system.name()));
                a.push(s(
                    "db.namespace",
                    if db.system == DbSystem::Redis {
                        "0"
                    } else {
                        "ts"
                    },
                ));
                a.push(s("db.query.text", self.values.fill(self.rng, db.query)));
                a.push(s("db.operation.name", db.op));
                if !db.collection.is_empty() {
                    a.push(s("db.collection.name", db.collection));
                }
                a.push(s("server.address", host.clone()));
                a.push(int("server.port", i64::from(db.system.port())));
                a.push(s("network.peer.address", host_ip(&host)));
                a.push(int("network.peer.port", i64::from(db.system.port())));
                a.extend(self.thread_name(lang, &format!("http-nio-{}-exec-", service.port)));
                let name = if db.collection.is_empty() {
                    db.op.to_string()
                } else {
                    format!("{} {}", db.op, db.collection)
                };
                (name, a, ScopeKind::for_db(db.system))
            }
            What::Producer { queue, message } => {
                a.push(s("messaging.system", "rabbitmq"));
                a.push(s("messaging.destination.name", queue));
                a.push(s("messaging.operation.type", "publish"));
                a.push(s("messaging.operation.name", "publish"));
                a.push(s("messaging.message.id", message_id(message)));
                a.push(s("messaging.rabbitmq.destination.routing_key", queue));
                a.push(int(
                    "messaging.message.body.size",
                    self.rng.range(200, 4_000) as i64,
                ));
                a.push(s("server.address", "rabbitmq"));
                a.push(int("server.port", 5672));
                a.push(s("network.protocol.name", "amqp"));
                a.push(s("network.peer.address", host_ip("rabbitmq")));
                a.extend(self.thread_name(lang, &format!("http-nio-{}-exec-", service.port)));
                (format!("publish {queue}"), a, ScopeKind::Messaging)
            }
            What::Consumer {
                queue,
                message,
                endpoint,
            } => {
                let ep = &service.endpoints[endpoint];
                a.push(s("messaging.system", "rabbitmq"));
                a.push(s("messaging.destination.name", queue));
                a.push(s("messaging.operation.type", "process"));
                a.push(s("messaging.operation.name", "process"));
                a.push(s("messaging.message.id", message_id(message)));
                a.push(s("messaging.rabbitmq.destination.routing_key", queue));
                a.push(s("messaging.consumer.group.name", queue));
                a.push(int(
                    "messaging.message.body.size",
                    self.rng.range(200, 4_000) as i64,
                ));
                a.push(s("network.peer.address", host_ip("rabbitmq")));
                a.push(int("network.peer.port", 5672));
                a.extend(self.thread_name(lang, "SimpleAsyncTaskExecutor-"));
                (ep.name.to_string(), a, ScopeKind::Messaging)
            }
            What::Local { name } => {
                let (class, method) = name.split_once('.').unwrap_or((name, "run"));
                let pkg = short_name(service.name).replace('-', "");
                a.push(s(
                    "code.namespace",
                    format!("com.trainticket.{pkg}.service.impl.{class}"),
                ));
                a.push(s("code.function", method));
                a.extend(self.thread_name(lang, &format!("http-nio-{}-exec-", service.port)));
                (name.to_string(), a, ScopeKind::Internal)
            }
        }
    }

    fn error_type(&self, node: &Node) -> String {
        match (node.error, node.what) {
            (ErrorRole::Origin, _) => self.exception(node).0.to_string(),
            (_, What::Server { .. } | What::Client { .. }) if self.http_kind(node) => {
                "500".to_string()
            }
            (_, What::Server { .. } | What::Client { .. }) => "INTERNAL".to_string(),
            _ => "java.lang.RuntimeException".to_string(),
        }
    }

    /// Whether a server or client node speaks HTTP.
    fn http_kind(&self, node: &Node) -> bool {
        let (svc, ep) = match node.what {
            What::Server {
                ep_service,
                endpoint,
                ..
            }
            | What::Client {
                ep_service,
                endpoint,
                ..
            } => (ep_service, endpoint),
            _ => return false,
        };
        matches!(
            self.topo.services[svc].endpoints[ep].kind,
            EndpointKind::Http { .. }
        )
    }

    /// The exception thrown at an error's origin: type and message. The
    /// choice depends on the span only, so it is stable within a trace.
    fn exception(&self, node: &Node) -> (&'static str, String) {
        let lang = self.topo.services[node.service].lang;
        let pick = (node.span_id.as_u64() % 4) as usize;
        match (node.what, lang) {
            (What::Db(db), Lang::Python) => (
                "pymysql.err.OperationalError",
                format!(
                    "(2013, 'Lost connection to MySQL server during query') on {}",
                    db.collection
                ),
            ),
            (What::Db(db), _) => match db.system {
                DbSystem::MySql => (
                    "java.sql.SQLTransientConnectionException",
                    "HikariPool-1 - Connection is not available, request timed out after 30000ms."
                        .to_string(),
                ),
                DbSystem::MongoDb => (
                    "com.mongodb.MongoTimeoutException",
                    "Timed out after 30000 ms while waiting to connect.".to_string(),
                ),
                DbSystem::Redis => (
                    "io.lettuce.core.RedisCommandTimeoutException",
                    "Command timed out after 1 minute(s)".to_string(),
                ),
            },
            (_, Lang::Go) => ("*errors.errorString", "unexpected EOF".to_string()),
            (_, Lang::Python) => ("KeyError", "'orderId'".to_string()),
            (_, Lang::NodeJs) => ("Error", "socket hang up".to_string()),
            (_, Lang::Java) => {
                let (ty, message) = JAVA_EXCEPTIONS[pick % JAVA_EXCEPTIONS.len()];
                (ty, message.to_string())
            }
        }
    }

    /// A stack trace in the form the service's language prints one.
    fn stack_trace(&mut self, service: &str, lang: Lang, ty: &str, message: &str) -> String {
        let pkg = short_name(service).replace('-', "");
        let class = capitalize(&pkg);
        let line = self.rng.range(40, 400);
        let line2 = self.rng.range(30, 200);
        match lang {
            Lang::Java => format!(
                "{ty}: {message}\n\tat com.trainticket.{pkg}.service.impl.{class}ServiceImpl.handle({class}ServiceImpl.java:{line})\n\tat com.trainticket.{pkg}.controller.{class}Controller.handle({class}Controller.java:{line2})\n\tat java.base/java.lang.Thread.run(Thread.java:840)"
            ),
            Lang::Go => format!(
                "{ty}: {message}\ngoroutine {line2} [running]:\nmain.handler(...)\n\t/app/{pkg}/handler.go:{line}\nnet/http.HandlerFunc.ServeHTTP(...)\n\t/usr/local/go/src/net/http/server.go:2220"
            ),
            Lang::Python => format!(
                "Traceback (most recent call last):\n  File \"/app/{pkg}/server.py\", line {line}, in handler\n    return service.handle(request)\n  File \"/app/{pkg}/service.py\", line {line2}, in handle\n{ty}: {message}"
            ),
            Lang::NodeJs => format!(
                "{ty}: {message}\n    at Server.handler (/app/{pkg}/server.js:{line}:17)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"
            ),
        }
    }
}

/// Exceptions a Java service throws at an error's origin.
const JAVA_EXCEPTIONS: [(&str, &str); 4] = [
    (
        "java.lang.NullPointerException",
        "Cannot invoke \"edu.fudan.common.entity.Order.getStatus()\" because \"order\" is null",
    ),
    (
        "java.lang.IllegalStateException",
        "Seat class not found for the requested trip",
    ),
    (
        "org.springframework.web.client.ResourceAccessException",
        "I/O error on POST request: Read timed out",
    ),
    (
        "java.util.concurrent.TimeoutException",
        "Did not observe any item or terminal signal within 5000ms",
    ),
];

fn message_id(v: u64) -> String {
    format!("{:016x}", v)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use spoor_model::find_attr;

    use super::*;

    const END: UnixNanos = 1_750_000_000_000_000_000;

    fn generator(config: GenConfig, services: Option<usize>, seed: u64) -> Generator {
        let topo = Topology::train_ticket(services).unwrap();
        Generator::new(Arc::new(Deployment::new(topo, seed)), config, seed)
    }

    fn traces(config: GenConfig, seed: u64, n: usize) -> Vec<Vec<SpanRecord>> {
        let mut g = generator(config, None, seed);
        (0..n).map(|_| g.next_trace(END)).collect()
    }

    fn no_large() -> GenConfig {
        GenConfig {
            large_trace_every: 0,
            ..GenConfig::default()
        }
    }

    fn attr<'a>(r: &'a SpanRecord, key: &str) -> Option<&'a AnyValue> {
        find_attr(&r.span.attributes, key)
    }

    fn str_attr<'a>(r: &'a SpanRecord, key: &str) -> &'a str {
        attr(r, key).and_then(AnyValue::as_str).unwrap_or_else(|| {
            panic!(
                "span {:?} has no string {key}: {:?}",
                r.span.name, r.span.attributes
            )
        })
    }

    /// Checks that `trace` is one tree: one trace ID, unique span IDs, one
    /// root, every parent present, no cycles.
    fn assert_tree(trace: &[SpanRecord]) {
        assert!(!trace.is_empty());
        let id = trace[0].span.trace_id;
        assert!(!id.is_zero());
        let by_id: HashMap<SpanId, &SpanRecord> =
            trace.iter().map(|r| (r.span.span_id, r)).collect();
        assert_eq!(by_id.len(), trace.len(), "span IDs repeat");
        let roots = trace.iter().filter(|r| r.span.is_root()).count();
        assert_eq!(roots, 1, "a trace has exactly one root");
        for r in trace {
            assert_eq!(r.span.trace_id, id);
            assert!(!r.span.span_id.is_zero());
            let mut cur: &SpanRecord = r;
            let mut steps = 0;
            while !cur.span.is_root() {
                cur = *by_id
                    .get(&cur.span.parent_span_id)
                    .unwrap_or_else(|| panic!("parent of {:?} is missing", cur.span.name));
                steps += 1;
                assert!(steps <= trace.len(), "cycle");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_traces() {
        let a = traces(GenConfig::default(), 42, 50);
        let b = traces(GenConfig::default(), 42, 50);
        assert_eq!(a, b);
        let c = traces(GenConfig::default(), 43, 50);
        assert_ne!(a, c);
    }

    #[test]
    fn the_train_ticket_constructor_is_seeded_too() {
        let mut a = Generator::train_ticket(GenConfig::default(), Some(12), 5).unwrap();
        let mut b = Generator::train_ticket(GenConfig::default(), Some(12), 5).unwrap();
        for _ in 0..20 {
            assert_eq!(a.next_trace(END), b.next_trace(END));
        }
        assert_eq!(a.traces_generated(), 20);
        assert!(Generator::train_ticket(GenConfig::default(), Some(0), 5).is_err());
    }

    #[test]
    fn every_trace_is_a_tree_with_one_root() {
        for trace in traces(GenConfig::default(), 1, 500) {
            assert_tree(&trace);
        }
    }

    #[test]
    fn children_lie_within_their_parents() {
        let mut consumers = 0;
        for trace in traces(no_large(), 2, 500) {
            let by_id: HashMap<SpanId, &SpanRecord> =
                trace.iter().map(|r| (r.span.span_id, r)).collect();
            let last_end = trace
                .iter()
                .map(|r| r.span.end_time_unix_nano)
                .max()
                .unwrap();
            assert_eq!(last_end, END, "the trace ends at the time asked for");
            for r in &trace {
                let s = &r.span;
                assert!(s.start_time_unix_nano < s.end_time_unix_nano, "{}", s.name);
                let Some(parent) = by_id.get(&s.parent_span_id).map(|p| &p.span) else {
                    continue;
                };
                if s.kind == SpanKind::Consumer {
                    // Asynchronous: consumed after the publisher returned.
                    assert_eq!(parent.kind, SpanKind::Producer);
                    assert!(s.start_time_unix_nano > parent.end_time_unix_nano);
                    consumers += 1;
                    continue;
                }
                assert!(
                    s.start_time_unix_nano >= parent.start_time_unix_nano
                        && s.end_time_unix_nano <= parent.end_time_unix_nano,
                    "{} is not within {}",
                    s.name,
                    parent.name
                );
                if s.kind == SpanKind::Server {
                    // Network latency on both sides of a remote call.
                    assert_eq!(parent.kind, SpanKind::Client);
                    assert!(s.start_time_unix_nano > parent.start_time_unix_nano);
                    assert!(s.end_time_unix_nano < parent.end_time_unix_nano);
                }
            }
        }
        assert!(consumers > 0, "some traces publish messages");
    }

    #[test]
    fn spans_have_exactly_the_requested_number_of_attributes() {
        for n in [0, 3, 10, 25] {
            let config = GenConfig {
                attrs: n,
                ..no_large()
            };
            for trace in traces(config, 3, 100) {
                for r in &trace {
                    assert_eq!(r.span.attributes.len(), n, "{}", r.span.name);
                    let keys: HashSet<&str> =
                        r.span.attributes.iter().map(|kv| kv.key.as_str()).collect();
                    assert_eq!(keys.len(), n, "keys repeat in {:?}", r.span.attributes);
                    if n == 25 {
                        assert!(keys.iter().any(|k| k.starts_with("tracegen.attr.")));
                    }
                }
            }
        }
    }

    #[test]
    fn the_error_rate_is_honoured_and_errors_propagate() {
        for rate in [0.0, 0.1, 1.0] {
            let config = GenConfig {
                error_rate: rate,
                ..no_large()
            };
            let all = traces(config, 4, 2_000);
            let mut with_error = 0;
            for trace in &all {
                let failed: Vec<&SpanRecord> = trace
                    .iter()
                    .filter(|r| r.span.status.code == StatusCode::Error)
                    .collect();
                if failed.is_empty() {
                    continue;
                }
                with_error += 1;
                // One origin, with the exception event.
                let origins: Vec<&&SpanRecord> = failed
                    .iter()
                    .filter(|r| !r.span.events.is_empty())
                    .collect();
                assert_eq!(origins.len(), 1);
                let event = &origins[0].span.events[0];
                assert_eq!(event.name, "exception");
                assert!(find_attr(&event.attributes, "exception.type").is_some());
                assert!(find_attr(&event.attributes, "exception.message").is_some());
                // Every ancestor up to an asynchronous boundary failed too.
                let by_id: HashMap<SpanId, &SpanRecord> =
                    trace.iter().map(|r| (r.span.span_id, r)).collect();
                let mut cur: &SpanRecord = origins[0];
                while let Some(&p) = by_id.get(&cur.span.parent_span_id) {
                    if cur.span.kind == SpanKind::Consumer {
                        break;
                    }
                    assert_eq!(p.span.status.code, StatusCode::Error, "{}", p.span.name);
                    if p.span.kind == SpanKind::Server
                        && let Some(AnyValue::Int(code)) = attr(p, "http.response.status_code")
                    {
                        assert_eq!(*code, 500);
                    }
                    cur = p;
                }
            }
            let share = f64::from(with_error) / all.len() as f64;
            assert!((share - rate).abs() <= 0.025, "rate {rate}: {share}");
        }
    }

    #[test]
    fn services_operations_and_attributes_look_like_train_ticket() {
        let mut services = HashSet::new();
        let mut kinds = HashSet::new();
        let mut db_systems = HashSet::new();
        let mut rpc = 0;
        for trace in traces(GenConfig::default(), 5, 1_000) {
            for r in &trace {
                let service = r.service_name();
                assert!(service.starts_with("ts-"), "{service}");
                services.insert(service.to_string());
                let res = &r.resource.attributes;
                for key in [
                    "service.instance.id",
                    "host.name",
                    "telemetry.sdk.language",
                    "telemetry.sdk.name",
                ] {
                    assert!(find_attr(res, key).is_some(), "resource lacks {key}");
                }
                assert!(!r.scope.name.is_empty());
                kinds.insert(r.span.kind);
                let name = &r.span.name;
                if let Some(AnyValue::Str(method)) = attr(r, "http.request.method") {
                    assert!(name.starts_with(&format!("{method} /")), "{name}");
                    let route = &name[method.len() + 1..];
                    if r.span.kind == SpanKind::Server {
                        assert_eq!(str_attr(r, "http.route"), route);
                        let path = str_attr(r, "url.path");
                        assert!(!path.contains('{'), "{path}");
                        assert_eq!(path.matches('/').count(), route.matches('/').count());
                    } else {
                        assert!(str_attr(r, "url.full").starts_with("http://ts-"));
                    }
                }
                if let Some(AnyValue::Str(system)) = attr(r, "db.system") {
                    db_systems.insert(system.clone());
                    assert_eq!(r.span.kind, SpanKind::Client);
                    assert!(!str_attr(r, "db.query.text").is_empty());
                    assert!(name.starts_with(str_attr(r, "db.operation.name")));
                }
                if attr(r, "rpc.system").is_some() {
                    rpc += 1;
                    assert_eq!(
                        name,
                        &format!(
                            "{}/{}",
                            str_attr(r, "rpc.service"),
                            str_attr(r, "rpc.method")
                        )
                    );
                }
                if r.span.kind == SpanKind::Producer || r.span.kind == SpanKind::Consumer {
                    assert_eq!(str_attr(r, "messaging.system"), "rabbitmq");
                    assert!(!str_attr(r, "messaging.destination.name").is_empty());
                }
            }
        }
        assert!(
            services.len() >= 35,
            "{} services: {services:?}",
            services.len()
        );
        for k in [
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Internal,
            SpanKind::Producer,
            SpanKind::Consumer,
        ] {
            assert!(kinds.contains(&k), "no {k:?} spans");
        }
        assert_eq!(db_systems.len(), 3, "{db_systems:?}");
        assert!(rpc > 0);
    }

    #[test]
    fn route_ids_are_shared_within_a_trace() {
        for trace in traces(no_large(), 6, 300) {
            let ids: HashSet<&str> = trace
                .iter()
                .filter(|r| {
                    r.span
                        .name
                        .starts_with("GET /api/v1/orderservice/order/{orderId}")
                })
                .map(|r| {
                    str_attr(
                        r,
                        if r.span.kind == SpanKind::Server {
                            "url.path"
                        } else {
                            "url.full"
                        },
                    )
                })
                .map(|p| p.rsplit('/').next().unwrap())
                .collect();
            assert!(ids.len() <= 1, "{ids:?}");
        }
    }

    #[test]
    fn large_traces_have_the_requested_size_and_are_trees() {
        let config = GenConfig {
            large_trace_every: 5,
            large_trace_spans: 2_500,
            ..GenConfig::default()
        };
        let all = traces(config, 7, 20);
        for (i, trace) in all.iter().enumerate() {
            if (i + 1) % 5 == 0 {
                assert_eq!(trace.len(), 2_500, "trace {i}");
                assert_tree(trace);
            } else {
                assert!(trace.len() < NORMAL_TRACE_SPAN_CAP);
            }
        }
        let sizes: Vec<usize> = traces(no_large(), 8, 500).iter().map(Vec::len).collect();
        let max = *sizes.iter().max().unwrap();
        let min = *sizes.iter().min().unwrap();
        assert!(
            min <= 3 && max >= 100,
            "depth and fan-out vary: {min}..{max}"
        );
    }

    #[test]
    fn a_subset_of_services_stays_within_it() {
        let mut g = generator(GenConfig::default(), Some(5), 9);
        let topo = Topology::train_ticket(Some(5)).unwrap();
        let allowed: HashSet<&str> = topo.services.iter().map(|s| s.name).collect();
        for _ in 0..300 {
            let trace = g.next_trace(END);
            assert_tree(&trace);
            for r in &trace {
                assert!(allowed.contains(r.service_name()), "{}", r.service_name());
            }
        }
    }

    #[test]
    fn placeholders_are_filled_and_json_braces_kept() {
        let mut rng = Rng::new(1);
        let mut v = Values::default();
        let a = v.fill(&mut rng, "/a/{orderId}/b/{accountId}/{userId}");
        let parts: Vec<&str> = a.split('/').collect();
        assert_eq!(parts[2].len(), 36);
        assert_eq!(parts[4], parts[5], "aliases share a value");
        let json = r#"{"find": "x", "filter": {"_id": "?"}}"#;
        assert_eq!(v.fill(&mut rng, json), json);
        assert_eq!(v.fill(&mut rng, "GET k:{verifyCode"), "GET k:{verifyCode");
    }
}
