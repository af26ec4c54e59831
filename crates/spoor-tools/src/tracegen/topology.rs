//! The simulated system: services, their endpoints, and what each endpoint
//! calls (other services over HTTP or gRPC, databases, a message queue,
//! local functions).
//!
//! The default topology is modelled on Train-Ticket, the railway booking
//! benchmark (about forty Java services behind a UI and a gateway, each with
//! its own MySQL, MongoDB or Redis store, RabbitMQ for notifications). The
//! specification is static data written with the small `const fn` builders
//! below; [`Topology::train_ticket`] resolves names to indices and checks
//! that every call points at something that exists.

use std::collections::HashMap;

use thiserror::Error;

/// The language a service is written in; decides its SDK attributes and
/// instrumentation scope names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Java,
    Go,
    Python,
    NodeJs,
}

impl Lang {
    /// Every language, in [`Lang::index`] order.
    pub const ALL: [Lang; 4] = [Lang::Java, Lang::Go, Lang::Python, Lang::NodeJs];

    /// Position in [`Lang::ALL`].
    pub fn index(self) -> usize {
        match self {
            Lang::Java => 0,
            Lang::Go => 1,
            Lang::Python => 2,
            Lang::NodeJs => 3,
        }
    }

    /// The `telemetry.sdk.language` value.
    pub fn sdk_language(self) -> &'static str {
        match self {
            Lang::Java => "java",
            Lang::Go => "go",
            Lang::Python => "python",
            Lang::NodeJs => "nodejs",
        }
    }
}

/// How a service serves its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// REST over HTTP/1.1; endpoint names are `"METHOD /route/{param}"`.
    Http,
    /// gRPC; endpoint names are `"package.Service/Method"`.
    Grpc,
}

/// A database product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbSystem {
    MySql,
    MongoDb,
    Redis,
}

impl DbSystem {
    /// The `db.system` value.
    pub fn name(self) -> &'static str {
        match self {
            DbSystem::MySql => "mysql",
            DbSystem::MongoDb => "mongodb",
            DbSystem::Redis => "redis",
        }
    }

    /// The server port the product listens on by default.
    pub fn port(self) -> u16 {
        match self {
            DbSystem::MySql => 3306,
            DbSystem::MongoDb => 27017,
            DbSystem::Redis => 6379,
        }
    }

    /// Suffix of the database host name (`ts-order-mysql`).
    pub fn host_suffix(self) -> &'static str {
        match self {
            DbSystem::MySql => "mysql",
            DbSystem::MongoDb => "mongo",
            DbSystem::Redis => "redis",
        }
    }

    /// Shortest and longest plausible call, in microseconds.
    pub fn latency_us(self) -> (u64, u64) {
        match self {
            DbSystem::MySql => (250, 9_000),
            DbSystem::MongoDb => (250, 7_000),
            DbSystem::Redis => (40, 900),
        }
    }
}

/// A database call: `op` and `collection` make the span name (`SELECT orders`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbCall {
    pub system: DbSystem,
    /// `db.operation.name`: `SELECT`, `INSERT`, `find`, `GET`, …
    pub op: &'static str,
    /// `db.collection.name` (table or collection); empty for Redis.
    pub collection: &'static str,
    /// `db.query.text`; `{name}` placeholders are filled with per-trace values.
    pub query: &'static str,
}

/// What one call of an endpoint does, as written in the specification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetSpec {
    /// A call to `endpoint` of `service` (over the service's transport).
    Remote {
        service: &'static str,
        endpoint: &'static str,
    },
    /// A database call made by the calling service.
    Db(DbCall),
    /// A message published to `queue` (RabbitMQ) and consumed by `endpoint`
    /// of `service` (asynchronously, after the publisher returned).
    Publish {
        queue: &'static str,
        service: &'static str,
        endpoint: &'static str,
    },
    /// A local function of the calling service (an internal span) with its own calls.
    Local {
        name: &'static str,
        calls: &'static [CallSpec],
    },
}

/// One call in an endpoint's specification, with how often it happens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallSpec {
    pub target: TargetSpec,
    /// Probability that the call happens at all.
    pub probability: f64,
    /// Fewest and most repetitions when it happens.
    pub min: u8,
    pub max: u8,
    /// Repetitions run concurrently rather than one after another.
    pub parallel: bool,
    /// A loop over data (trips, orders): in a large trace it repeats until
    /// the trace has the requested number of spans.
    pub fanout: bool,
}

/// A call to `endpoint` of `service`.
pub const fn call(service: &'static str, endpoint: &'static str) -> CallSpec {
    spec(TargetSpec::Remote { service, endpoint })
}

/// A MySQL statement.
pub const fn sql(op: &'static str, table: &'static str, query: &'static str) -> CallSpec {
    spec(TargetSpec::Db(DbCall {
        system: DbSystem::MySql,
        op,
        collection: table,
        query,
    }))
}

/// A MongoDB command.
pub const fn mongo(op: &'static str, collection: &'static str, query: &'static str) -> CallSpec {
    spec(TargetSpec::Db(DbCall {
        system: DbSystem::MongoDb,
        op,
        collection,
        query,
    }))
}

/// A Redis command.
pub const fn redis(op: &'static str, query: &'static str) -> CallSpec {
    spec(TargetSpec::Db(DbCall {
        system: DbSystem::Redis,
        op,
        collection: "",
        query,
    }))
}

/// A message to `queue`, consumed by `endpoint` of `service`.
pub const fn publish(
    queue: &'static str,
    service: &'static str,
    endpoint: &'static str,
) -> CallSpec {
    spec(TargetSpec::Publish {
        queue,
        service,
        endpoint,
    })
}

/// A local function (internal span) making `calls`.
pub const fn local(name: &'static str, calls: &'static [CallSpec]) -> CallSpec {
    spec(TargetSpec::Local { name, calls })
}

const fn spec(target: TargetSpec) -> CallSpec {
    CallSpec {
        target,
        probability: 1.0,
        min: 1,
        max: 1,
        parallel: false,
        fanout: false,
    }
}

impl CallSpec {
    /// Happens with probability `p`.
    pub const fn p(mut self, p: f64) -> CallSpec {
        self.probability = p;
        self
    }
    /// Repeats between `min` and `max` times.
    pub const fn times(mut self, min: u8, max: u8) -> CallSpec {
        self.min = min;
        self.max = max;
        self
    }
    /// Repetitions run concurrently.
    pub const fn par(mut self) -> CallSpec {
        self.parallel = true;
        self
    }
    /// Marks the loop that grows a large trace.
    pub const fn fanout(mut self) -> CallSpec {
        self.fanout = true;
        self
    }
}

/// An endpoint as written in the specification.
#[derive(Debug, Clone, Copy)]
pub struct EndpointSpec {
    /// `"METHOD /route/{param}"` (HTTP), `"pkg.Service/Method"` (gRPC), or
    /// `"<queue> process"` (a message consumer).
    pub name: &'static str,
    pub calls: &'static [CallSpec],
}

/// An endpoint making `calls`.
pub const fn ep(name: &'static str, calls: &'static [CallSpec]) -> EndpointSpec {
    EndpointSpec { name, calls }
}

/// A service as written in the specification.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    pub name: &'static str,
    pub lang: Lang,
    pub transport: Transport,
    pub port: u16,
    pub instances: u8,
    pub endpoints: &'static [EndpointSpec],
}

const fn svc(
    name: &'static str,
    lang: Lang,
    transport: Transport,
    port: u16,
    instances: u8,
    endpoints: &'static [EndpointSpec],
) -> ServiceSpec {
    ServiceSpec {
        name,
        lang,
        transport,
        port,
        instances,
        endpoints,
    }
}

/// Why a specification does not resolve.
#[derive(Debug, Error, PartialEq)]
pub enum TopologyError {
    #[error("unknown service {0:?}")]
    UnknownService(String),
    #[error("service {service:?} has no endpoint {endpoint:?}")]
    UnknownEndpoint { service: String, endpoint: String },
    #[error("endpoint {endpoint:?} of {service:?} does not fit its transport")]
    BadEndpointName { service: String, endpoint: String },
    #[error("no entry endpoint among the first {0} services")]
    NoEntries(usize),
    #[error("the topology needs at least one service")]
    Empty,
}

// ---------------------------------------------------------------------------
// The resolved topology.

/// What a resolved call does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    Remote {
        service: usize,
        endpoint: usize,
    },
    Db(DbCall),
    Publish {
        queue: &'static str,
        service: usize,
        endpoint: usize,
    },
    Local {
        name: &'static str,
        calls: usize,
    },
}

/// A resolved call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Call {
    pub target: Target,
    pub probability: f64,
    pub min: u8,
    pub max: u8,
    pub parallel: bool,
    pub fanout: bool,
}

/// How an endpoint is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// HTTP: the method and the route template.
    Http {
        method: &'static str,
        route: &'static str,
    },
    /// gRPC: the fully qualified service and the method.
    Grpc {
        service: &'static str,
        method: &'static str,
    },
    /// A message handler (reached only through [`Target::Publish`]).
    Consumer,
}

/// A resolved endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The span name of its server span.
    pub name: &'static str,
    pub kind: EndpointKind,
    /// Index into [`Topology::call_lists`].
    pub calls: usize,
}

/// A resolved service.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: &'static str,
    pub lang: Lang,
    pub transport: Transport,
    pub port: u16,
    pub instances: u8,
    pub endpoints: Vec<Endpoint>,
}

/// A root of traces: an endpoint users call, with its share of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub service: usize,
    pub endpoint: usize,
    pub weight: u32,
    /// Some call below it is a [`CallSpec::fanout`] loop.
    pub can_grow: bool,
}

/// A resolved, validated topology.
#[derive(Debug, Clone)]
pub struct Topology {
    pub services: Vec<Service>,
    /// Every call list (endpoint bodies and local-function bodies), by index.
    pub call_lists: Vec<Vec<Call>>,
    pub entries: Vec<Entry>,
    /// Services every user request passes through first (UI, then gateway),
    /// in order; only those present in the topology.
    pub edge: Vec<usize>,
}

/// The services all user requests pass through, outermost first.
const EDGE: [&str; 2] = ["ts-ui-dashboard", "ts-gateway-service"];

impl Topology {
    /// The Train-Ticket-like topology, limited to its first `limit` services
    /// (all when `None`). Calls to services left out are dropped, and so are
    /// entries served by them.
    pub fn train_ticket(limit: Option<usize>) -> Result<Topology, TopologyError> {
        Topology::resolve(TRAIN_TICKET, ENTRIES, limit)
    }

    /// Number of services of the full default topology.
    pub fn train_ticket_size() -> usize {
        TRAIN_TICKET.len()
    }

    /// Resolves a specification (`entries` are (service, endpoint, weight)).
    pub fn resolve(
        specs: &[ServiceSpec],
        entries: &[(&str, &str, u32)],
        limit: Option<usize>,
    ) -> Result<Topology, TopologyError> {
        let n = limit.unwrap_or(specs.len()).min(specs.len());
        if n == 0 {
            return Err(TopologyError::Empty);
        }
        let kept = &specs[..n];
        // Validate every name against the FULL specification, so a typo is
        // found whatever the limit; then resolve against the kept services.
        let all_index: HashMap<&str, usize> =
            specs.iter().enumerate().map(|(i, s)| (s.name, i)).collect();
        for s in specs {
            for e in s.endpoints {
                endpoint_kind(s, e.name)?;
                check_calls(specs, &all_index, e.calls)?;
            }
        }
        let mut topo = Topology {
            services: Vec::with_capacity(n),
            call_lists: Vec::new(),
            entries: Vec::new(),
            edge: Vec::new(),
        };
        for s in kept {
            topo.services.push(Service {
                name: s.name,
                lang: s.lang,
                transport: s.transport,
                port: s.port,
                instances: s.instances.max(1),
                endpoints: Vec::new(),
            });
        }
        for (si, s) in kept.iter().enumerate() {
            for e in s.endpoints {
                let calls = topo.add_calls(kept, e.calls)?;
                let kind = endpoint_kind(s, e.name)?;
                topo.services[si].endpoints.push(Endpoint {
                    name: e.name,
                    kind,
                    calls,
                });
            }
        }
        for &(service, endpoint, weight) in entries {
            let Some(si) = kept.iter().position(|s| s.name == service) else {
                if all_index.contains_key(service) {
                    continue;
                }
                return Err(TopologyError::UnknownService(service.to_string()));
            };
            let ei = find_endpoint(&kept[si], endpoint)?;
            let can_grow = topo.can_grow(topo.services[si].endpoints[ei].calls);
            topo.entries.push(Entry {
                service: si,
                endpoint: ei,
                weight,
                can_grow,
            });
        }
        if topo.entries.is_empty() {
            return Err(TopologyError::NoEntries(n));
        }
        topo.edge = EDGE
            .iter()
            .filter_map(|name| topo.service_index(name))
            .collect();
        Ok(topo)
    }

    /// Index of the service called `name`.
    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// Resolves `calls` (dropping those that leave the kept services) and
    /// stores them; returns their list index.
    fn add_calls(
        &mut self,
        kept: &[ServiceSpec],
        calls: &'static [CallSpec],
    ) -> Result<usize, TopologyError> {
        let mut out = Vec::with_capacity(calls.len());
        for c in calls {
            let target = match c.target {
                TargetSpec::Remote { service, endpoint } => {
                    match kept.iter().position(|s| s.name == service) {
                        Some(si) => Target::Remote {
                            service: si,
                            endpoint: find_endpoint(&kept[si], endpoint)?,
                        },
                        None => continue,
                    }
                }
                TargetSpec::Db(db) => Target::Db(db),
                TargetSpec::Publish {
                    queue,
                    service,
                    endpoint,
                } => match kept.iter().position(|s| s.name == service) {
                    Some(si) => Target::Publish {
                        queue,
                        service: si,
                        endpoint: find_endpoint(&kept[si], endpoint)?,
                    },
                    None => continue,
                },
                TargetSpec::Local { name, calls } => Target::Local {
                    name,
                    calls: self.add_calls(kept, calls)?,
                },
            };
            out.push(Call {
                target,
                probability: c.probability,
                min: c.min,
                max: c.max.max(c.min),
                parallel: c.parallel,
                fanout: c.fanout,
            });
        }
        self.call_lists.push(out);
        Ok(self.call_lists.len() - 1)
    }

    /// Whether a fanout loop is reachable from call list `list`.
    fn can_grow(&self, list: usize) -> bool {
        let mut seen = vec![false; self.call_lists.len()];
        let mut stack = vec![list];
        while let Some(l) = stack.pop() {
            if std::mem::replace(&mut seen[l], true) {
                continue;
            }
            for c in &self.call_lists[l] {
                if c.fanout {
                    return true;
                }
                match c.target {
                    Target::Remote { service, endpoint }
                    | Target::Publish {
                        service, endpoint, ..
                    } => stack.push(self.services[service].endpoints[endpoint].calls),
                    Target::Local { calls, .. } => stack.push(calls),
                    Target::Db(_) => {}
                }
            }
        }
        false
    }
}

fn find_endpoint(s: &ServiceSpec, name: &str) -> Result<usize, TopologyError> {
    s.endpoints
        .iter()
        .position(|e| e.name == name)
        .ok_or_else(|| TopologyError::UnknownEndpoint {
            service: s.name.to_string(),
            endpoint: name.to_string(),
        })
}

fn check_calls(
    specs: &[ServiceSpec],
    index: &HashMap<&str, usize>,
    calls: &[CallSpec],
) -> Result<(), TopologyError> {
    for c in calls {
        match c.target {
            TargetSpec::Remote { service, endpoint }
            | TargetSpec::Publish {
                service, endpoint, ..
            } => {
                let si = *index
                    .get(service)
                    .ok_or_else(|| TopologyError::UnknownService(service.to_string()))?;
                find_endpoint(&specs[si], endpoint)?;
            }
            TargetSpec::Local { calls, .. } => check_calls(specs, index, calls)?,
            TargetSpec::Db(_) => {}
        }
    }
    Ok(())
}

fn endpoint_kind(s: &ServiceSpec, name: &'static str) -> Result<EndpointKind, TopologyError> {
    let bad = || TopologyError::BadEndpointName {
        service: s.name.to_string(),
        endpoint: name.to_string(),
    };
    if name.ends_with(" process") && !name.contains('/') {
        return Ok(EndpointKind::Consumer);
    }
    match s.transport {
        Transport::Http => {
            let (method, route) = name.split_once(' ').ok_or_else(bad)?;
            if !route.starts_with('/') || method.is_empty() {
                return Err(bad());
            }
            Ok(EndpointKind::Http { method, route })
        }
        Transport::Grpc => {
            let (service, method) = name.rsplit_once('/').ok_or_else(bad)?;
            if service.is_empty() || method.is_empty() || name.contains(' ') {
                return Err(bad());
            }
            Ok(EndpointKind::Grpc { service, method })
        }
    }
}

// ---------------------------------------------------------------------------
// The specification.

use Lang::{Go, Java, NodeJs, Python};
use Transport::{Grpc, Http};

const UI: &str = "ts-ui-dashboard";
const GATEWAY: &str = "ts-gateway-service";
const TRAVEL: &str = "ts-travel-service";
const TRAVEL2: &str = "ts-travel2-service";
const TICKETINFO: &str = "ts-ticketinfo-service";
const BASIC: &str = "ts-basic-service";
const STATION: &str = "ts-station-service";
const TRAIN: &str = "ts-train-service";
const ROUTE: &str = "ts-route-service";
const PRICE: &str = "ts-price-service";
const SEAT: &str = "ts-seat-service";
const ORDER: &str = "ts-order-service";
const ORDER_OTHER: &str = "ts-order-other-service";
const CONFIG: &str = "ts-config-service";
const AUTH: &str = "ts-auth-service";
const VERIFY: &str = "ts-verification-code-service";
const USER: &str = "ts-user-service";
const PRESERVE: &str = "ts-preserve-service";
const PRESERVE_OTHER: &str = "ts-preserve-other-service";
const SECURITY: &str = "ts-security-service";
const CONTACTS: &str = "ts-contacts-service";
const FOOD: &str = "ts-food-service";
const TRAIN_FOOD: &str = "ts-train-food-service";
const STATION_FOOD: &str = "ts-station-food-service";
const CONSIGN: &str = "ts-consign-service";
const CONSIGN_PRICE: &str = "ts-consign-price-service";
const ASSURANCE: &str = "ts-assurance-service";
const INSIDE_PAY: &str = "ts-inside-payment-service";
const PAYMENT: &str = "ts-payment-service";
const NOTIFICATION: &str = "ts-notification-service";
const CANCEL: &str = "ts-cancel-service";
const REBOOK: &str = "ts-rebook-service";
const EXECUTE: &str = "ts-execute-service";
const TRAVEL_PLAN: &str = "ts-travel-plan-service";
const ROUTE_PLAN: &str = "ts-route-plan-service";
const ADMIN_BASIC: &str = "ts-admin-basic-info-service";
const ADMIN_ORDER: &str = "ts-admin-order-service";
const ADMIN_ROUTE: &str = "ts-admin-route-service";
const ADMIN_TRAVEL: &str = "ts-admin-travel-service";
const ADMIN_USER: &str = "ts-admin-user-service";
const DELIVERY: &str = "ts-delivery-service";
const WAIT_ORDER: &str = "ts-wait-order-service";
const NEWS: &str = "ts-news-service";
const VOUCHER: &str = "ts-voucher-service";
const AVATAR: &str = "ts-avatar-service";

// Endpoint names used in more than one place.
const TRIPS_LEFT: &str = "POST /api/v1/travelservice/trips/left";
const TRIPS2_LEFT: &str = "POST /api/v1/travel2service/trips/left";
const TRIP_DETAIL: &str = "POST /api/v1/travelservice/trip_detail";
const TICKETINFO_EP: &str = "POST /api/v1/ticketinfoservice/ticketinfo";
const BASIC_TRAVEL: &str = "POST /api/v1/basicservice/basic/travel";
const STATION_ID: &str = "station.StationService/QueryIdByName";
const STATION_LIST: &str = "station.StationService/QueryAll";
const TRAIN_BY_NAME: &str = "GET /api/v1/trainservice/trains/byName/{name}";
const ROUTE_BY_ID: &str = "GET /api/v1/routeservice/routes/{routeId}";
const ROUTE_ALL: &str = "GET /api/v1/routeservice/routes";
const PRICE_QUERY: &str = "price.PriceService/QueryByRouteIdAndTrainType";
const SEAT_LEFT: &str = "POST /api/v1/seatservice/seats/left_tickets";
const SEAT_DISTRIBUTE: &str = "POST /api/v1/seatservice/seats";
const CONFIG_QUERY: &str = "config.ConfigService/Query";
const ORDER_TICKETS: &str = "POST /api/v1/orderservice/order/tickets";
const ORDER_OTHER_TICKETS: &str = "POST /api/v1/orderOtherService/orderOther/tickets";
const ORDER_GET: &str = "GET /api/v1/orderservice/order/{orderId}";
const ORDER_CREATE: &str = "POST /api/v1/orderservice/order";
const ORDER_UPDATE: &str = "PUT /api/v1/orderservice/order";
const ORDER_STATUS: &str = "GET /api/v1/orderservice/order/status/{orderId}/{status}";
const ORDER_SECURITY: &str = "GET /api/v1/orderservice/order/security/{checkDate}/{accountId}";
const ORDER_OTHER_SECURITY: &str =
    "GET /api/v1/orderOtherService/orderOther/security/{checkDate}/{accountId}";
const ORDER_REFRESH: &str = "POST /api/v1/orderservice/order/refresh";
const ORDER_ALL: &str = "GET /api/v1/orderservice/order";
const ORDER_OTHER_REFRESH: &str = "POST /api/v1/orderOtherService/orderOther/refresh";
const ORDER_OTHER_ALL: &str = "GET /api/v1/orderOtherService/orderOther";
const USER_BY_ID: &str = "GET /api/v1/userservice/users/id/{userId}";
const USER_ALL: &str = "GET /api/v1/userservice/users";
const CONTACTS_BY_ID: &str = "GET /api/v1/contactservice/contacts/{contactsId}";
const CONTACTS_BY_ACCOUNT: &str = "GET /api/v1/contactservice/contacts/account/{accountId}";
const SECURITY_CHECK: &str = "GET /api/v1/securityservice/securityConfigs/{accountId}";
const VERIFY_CODE: &str = "GET /api/v1/verifycode/verify/{verifyCode}";
const INSIDE_PAY_EP: &str = "POST /api/v1/inside_pay_service/inside_payment";
const INSIDE_DRAWBACK: &str =
    "GET /api/v1/inside_pay_service/inside_payment/drawback/{userId}/{money}";
const PAYMENT_EP: &str = "POST /api/v1/paymentservice/payment";
const FOOD_ORDER: &str = "POST /api/v1/foodservice/orders";
const TRAIN_FOOD_EP: &str = "GET /api/v1/trainfoodservice/trainfoods/{tripId}";
const STATION_FOOD_EP: &str = "POST /api/v1/stationfoodservice/stationfoodstores";
const CONSIGN_PUT: &str = "PUT /api/v1/consignservice/consigns";
const CONSIGN_PRICE_EP: &str =
    "GET /api/v1/consignpriceservice/consignprice/{weight}/{isWithinRegion}";
const ASSURANCE_CREATE: &str = "GET /api/v1/assuranceservice/assurances/{typeIndex}/{orderId}";
const TRAVEL_ROUTE: &str = "GET /api/v1/travelservice/routes/{tripId}";
const ADMIN_TRIP: &str = "GET /api/v1/travelservice/admin_trip";
const ADMIN_TRIP2: &str = "GET /api/v1/travel2service/admin_trip";
const EMAIL_PROCESS: &str = "email process";
const DELIVERY_PROCESS: &str = "food_delivery process";

// Call lists shared by several endpoints.
const QUERY_TRIP: &[CallSpec] = &[
    call(TICKETINFO, TICKETINFO_EP),
    call(SEAT, SEAT_LEFT).times(2, 2).par(),
];
const QUERY_TRIP2: &[CallSpec] = &[
    call(TICKETINFO, TICKETINFO_EP),
    call(SEAT, SEAT_LEFT).times(2, 2),
];
const ADMIN_TRIP_DETAIL: &[CallSpec] = &[
    call(ROUTE, ROUTE_BY_ID),
    call(TRAIN, TRAIN_BY_NAME),
    call(STATION, STATION_ID).times(2, 2),
];

/// The services, in the order `--services N` keeps them: the request path
/// of the most common flows first, so any prefix is a connected system.
#[rustfmt::skip]
const TRAIN_TICKET: &[ServiceSpec] = &[
    svc(UI, NodeJs, Http, 8080, 2, &[
        ep("GET /index.html", &[]),
        ep("GET /client_ticket_book.html", &[]),
    ]),
    svc(GATEWAY, Java, Http, 18888, 3, &[]),
    svc(TRAVEL, Java, Http, 12346, 2, &[
        ep(TRIPS_LEFT, &[
            sql("SELECT", "trip", "SELECT * FROM trip WHERE start_station_name = ? AND terminal_station_name = ?"),
            local("TravelServiceImpl.getTickets", QUERY_TRIP).times(1, 5).fanout(),
        ]),
        ep(TRIP_DETAIL, &[
            sql("SELECT", "trip", "SELECT * FROM trip WHERE trip_id = ?"),
            local("TravelServiceImpl.getTickets", QUERY_TRIP),
        ]),
        ep(TRAVEL_ROUTE, &[
            sql("SELECT", "trip", "SELECT * FROM trip WHERE trip_id = ?"),
            call(ROUTE, ROUTE_BY_ID),
        ]),
        ep(ADMIN_TRIP, &[
            sql("SELECT", "trip", "SELECT * FROM trip"),
            local("AdminTravelServiceImpl.getTripDetail", ADMIN_TRIP_DETAIL).times(3, 10).fanout(),
        ]),
    ]),
    svc(TICKETINFO, Java, Http, 15681, 2, &[
        ep(TICKETINFO_EP, &[call(BASIC, BASIC_TRAVEL)]),
    ]),
    svc(BASIC, Java, Http, 15680, 2, &[
        ep(BASIC_TRAVEL, &[
            call(STATION, STATION_ID).times(2, 2),
            call(TRAIN, TRAIN_BY_NAME),
            call(ROUTE, ROUTE_BY_ID),
            call(PRICE, PRICE_QUERY),
        ]),
    ]),
    svc(STATION, Java, Grpc, 12345, 2, &[
        ep(STATION_ID, &[
            redis("GET", "GET station:{stationName}"),
            sql("SELECT", "station", "SELECT * FROM station WHERE name = ?").p(0.2),
        ]),
        ep(STATION_LIST, &[sql("SELECT", "station", "SELECT * FROM station")]),
    ]),
    svc(TRAIN, Java, Http, 14567, 1, &[
        ep(TRAIN_BY_NAME, &[mongo("find", "trainType", r#"{"find": "trainType", "filter": {"name": "?"}, "$db": "ts"}"#)]),
        ep("GET /api/v1/trainservice/trains", &[mongo("find", "trainType", r#"{"find": "trainType", "$db": "ts"}"#)]),
    ]),
    svc(ROUTE, Java, Http, 11178, 1, &[
        ep(ROUTE_BY_ID, &[mongo("find", "routes", r#"{"find": "routes", "filter": {"_id": "?"}, "$db": "ts"}"#)]),
        ep(ROUTE_ALL, &[mongo("find", "routes", r#"{"find": "routes", "$db": "ts"}"#)]),
    ]),
    svc(PRICE, Java, Grpc, 16579, 1, &[
        ep(PRICE_QUERY, &[sql("SELECT", "price_config", "SELECT * FROM price_config WHERE route_id = ? AND train_type = ?")]),
    ]),
    svc(SEAT, Java, Http, 18898, 2, &[
        ep(SEAT_LEFT, &[
            call(ORDER, ORDER_TICKETS),
            call(CONFIG, CONFIG_QUERY),
        ]),
        ep(SEAT_DISTRIBUTE, &[
            call(ORDER, ORDER_TICKETS),
            call(CONFIG, CONFIG_QUERY),
        ]),
    ]),
    svc(ORDER, Java, Http, 12031, 3, &[
        ep(ORDER_TICKETS, &[sql("SELECT", "orders", "SELECT * FROM orders WHERE travel_date = ? AND train_number = ?")]),
        ep(ORDER_GET, &[sql("SELECT", "orders", "SELECT * FROM orders WHERE id = ?")]),
        ep(ORDER_CREATE, &[
            sql("SELECT", "orders", "SELECT * FROM orders WHERE id = ?"),
            sql("INSERT", "orders", "INSERT INTO orders (id, account_id, bought_date, travel_date, train_number, status, price) VALUES (?, ?, ?, ?, ?, ?, ?)"),
        ]),
        ep(ORDER_UPDATE, &[sql("UPDATE", "orders", "UPDATE orders SET status = ?, seat_number = ? WHERE id = ?")]),
        ep(ORDER_STATUS, &[
            sql("SELECT", "orders", "SELECT * FROM orders WHERE id = ?"),
            sql("UPDATE", "orders", "UPDATE orders SET status = ? WHERE id = ?"),
        ]),
        ep(ORDER_SECURITY, &[sql("SELECT", "orders", "SELECT * FROM orders WHERE account_id = ?")]),
        ep(ORDER_REFRESH, &[
            sql("SELECT", "orders", "SELECT * FROM orders WHERE account_id = ?"),
            call(STATION, STATION_ID).times(0, 4),
        ]),
        ep(ORDER_ALL, &[sql("SELECT", "orders", "SELECT * FROM orders")]),
    ]),
    svc(CONFIG, Java, Grpc, 15679, 1, &[
        ep(CONFIG_QUERY, &[
            redis("GET", "GET config:{configName}"),
            sql("SELECT", "config", "SELECT * FROM config WHERE name = ?").p(0.1),
        ]),
    ]),
    svc(AUTH, Java, Http, 12340, 2, &[
        ep("POST /api/v1/users/login", &[
            call(VERIFY, VERIFY_CODE),
            mongo("find", "user", r#"{"find": "user", "filter": {"username": "?"}, "$db": "ts"}"#),
            local("TokenServiceImpl.getToken", &[]),
        ]),
    ]),
    svc(VERIFY, Java, Http, 15678, 1, &[
        ep(VERIFY_CODE, &[redis("GET", "GET verifycode:{verifyCode}"), redis("DEL", "DEL verifycode:{verifyCode}")]),
        ep("GET /api/v1/verifycode/generate", &[redis("SET", "SET verifycode:{verifyCode} ? EX 600")]),
    ]),
    svc(USER, Java, Http, 12342, 1, &[
        ep(USER_BY_ID, &[mongo("find", "user", r#"{"find": "user", "filter": {"userId": "?"}, "$db": "ts"}"#)]),
        ep(USER_ALL, &[mongo("find", "user", r#"{"find": "user", "$db": "ts"}"#)]),
    ]),
    svc(PRESERVE, Java, Http, 14568, 2, &[
        ep("POST /api/v1/preserveservice/preserve", &[
            call(SECURITY, SECURITY_CHECK),
            call(CONTACTS, CONTACTS_BY_ID),
            call(TRAVEL, TRIP_DETAIL),
            call(SEAT, SEAT_DISTRIBUTE),
            call(ORDER, ORDER_CREATE),
            call(ASSURANCE, ASSURANCE_CREATE).p(0.5),
            call(FOOD, FOOD_ORDER).p(0.4),
            call(CONSIGN, CONSIGN_PUT).p(0.3),
            call(USER, USER_BY_ID),
            publish("email", NOTIFICATION, EMAIL_PROCESS),
        ]),
    ]),
    svc(SECURITY, Java, Http, 11188, 1, &[
        ep(SECURITY_CHECK, &[
            sql("SELECT", "security_config", "SELECT * FROM security_config"),
            call(ORDER, ORDER_SECURITY),
            call(ORDER_OTHER, ORDER_OTHER_SECURITY),
        ]),
    ]),
    svc(CONTACTS, Java, Http, 12347, 1, &[
        ep(CONTACTS_BY_ID, &[mongo("find", "contacts", r#"{"find": "contacts", "filter": {"_id": "?"}, "$db": "ts"}"#)]),
        ep(CONTACTS_BY_ACCOUNT, &[mongo("find", "contacts", r#"{"find": "contacts", "filter": {"accountId": "?"}, "$db": "ts"}"#)]),
        ep("POST /api/v1/contactservice/contacts", &[
            mongo("find", "contacts", r#"{"find": "contacts", "filter": {"accountId": "?", "documentNumber": "?"}, "$db": "ts"}"#),
            mongo("insert", "contacts", r#"{"insert": "contacts", "ordered": true, "$db": "ts", "documents": "?"}"#),
        ]),
    ]),
    svc(ORDER_OTHER, Java, Http, 12032, 2, &[
        ep(ORDER_OTHER_TICKETS, &[sql("SELECT", "orders_other", "SELECT * FROM orders_other WHERE travel_date = ? AND train_number = ?")]),
        ep(ORDER_OTHER_SECURITY, &[sql("SELECT", "orders_other", "SELECT * FROM orders_other WHERE account_id = ?")]),
        ep(ORDER_OTHER_REFRESH, &[
            sql("SELECT", "orders_other", "SELECT * FROM orders_other WHERE account_id = ?"),
            call(STATION, STATION_ID).times(0, 2),
        ]),
        ep(ORDER_OTHER_ALL, &[sql("SELECT", "orders_other", "SELECT * FROM orders_other")]),
    ]),
    svc(TRAVEL2, Java, Http, 16346, 1, &[
        ep(TRIPS2_LEFT, &[
            sql("SELECT", "trip2", "SELECT * FROM trip2 WHERE start_station_name = ? AND terminal_station_name = ?"),
            local("Travel2ServiceImpl.getTickets", QUERY_TRIP2).times(1, 4).fanout(),
        ]),
        ep(ADMIN_TRIP2, &[
            sql("SELECT", "trip2", "SELECT * FROM trip2"),
            local("AdminTravel2ServiceImpl.getTripDetail", ADMIN_TRIP_DETAIL).times(2, 6).fanout(),
        ]),
    ]),
    svc(FOOD, Java, Http, 18856, 1, &[
        ep("GET /api/v1/foodservice/foods/{date}/{startStation}/{endStation}/{tripId}", &[
            call(TRAIN_FOOD, TRAIN_FOOD_EP),
            call(TRAVEL, TRAVEL_ROUTE),
            call(STATION_FOOD, STATION_FOOD_EP),
        ]),
        ep(FOOD_ORDER, &[
            sql("INSERT", "food_order", "INSERT INTO food_order (id, order_id, food_type, station_name, store_name, food_name, price) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            publish("food_delivery", DELIVERY, DELIVERY_PROCESS),
        ]),
    ]),
    svc(TRAIN_FOOD, Java, Http, 19999, 1, &[
        ep(TRAIN_FOOD_EP, &[mongo("find", "trainfood", r#"{"find": "trainfood", "filter": {"tripId": "?"}, "$db": "ts"}"#)]),
    ]),
    svc(STATION_FOOD, Java, Http, 18855, 1, &[
        ep(STATION_FOOD_EP, &[mongo("find", "stationfoodstore", r#"{"find": "stationfoodstore", "filter": {"stationName": {"$in": "?"}}, "$db": "ts"}"#)]),
    ]),
    svc(CONSIGN, Java, Http, 16111, 1, &[
        ep(CONSIGN_PUT, &[
            call(CONSIGN_PRICE, CONSIGN_PRICE_EP),
            mongo("insert", "consign_record", r#"{"insert": "consign_record", "ordered": true, "$db": "ts", "documents": "?"}"#),
        ]),
        ep("GET /api/v1/consignservice/consigns/account/{accountId}", &[
            mongo("find", "consign_record", r#"{"find": "consign_record", "filter": {"accountId": "?"}, "$db": "ts"}"#),
        ]),
    ]),
    svc(CONSIGN_PRICE, Java, Http, 16110, 1, &[
        ep(CONSIGN_PRICE_EP, &[mongo("find", "consign_price", r#"{"find": "consign_price", "filter": {"index": 0}, "$db": "ts"}"#)]),
    ]),
    svc(ASSURANCE, Java, Http, 18889, 1, &[
        ep(ASSURANCE_CREATE, &[
            sql("SELECT", "assurance", "SELECT * FROM assurance WHERE order_id = ?"),
            sql("INSERT", "assurance", "INSERT INTO assurance (id, order_id, type) VALUES (?, ?, ?)"),
        ]),
    ]),
    svc(INSIDE_PAY, Java, Http, 18673, 1, &[
        ep(INSIDE_PAY_EP, &[
            call(ORDER, ORDER_GET),
            sql("SELECT", "inside_payment", "SELECT * FROM inside_payment WHERE user_id = ?"),
            sql("SELECT", "inside_money", "SELECT * FROM inside_money WHERE user_id = ?"),
            call(PAYMENT, PAYMENT_EP).p(0.3),
            sql("INSERT", "inside_payment", "INSERT INTO inside_payment (id, order_id, user_id, price, type) VALUES (?, ?, ?, ?, ?)"),
            call(ORDER, ORDER_STATUS),
        ]),
        ep(INSIDE_DRAWBACK, &[
            sql("SELECT", "inside_money", "SELECT * FROM inside_money WHERE user_id = ?"),
            sql("INSERT", "inside_money", "INSERT INTO inside_money (id, user_id, money, type) VALUES (?, ?, ?, ?)"),
        ]),
    ]),
    svc(PAYMENT, Java, Http, 19001, 1, &[
        ep(PAYMENT_EP, &[
            sql("SELECT", "payment", "SELECT * FROM payment WHERE order_id = ?"),
            sql("INSERT", "payment", "INSERT INTO payment (id, order_id, user_id, price) VALUES (?, ?, ?, ?)"),
        ]),
    ]),
    svc(NOTIFICATION, Java, Http, 17853, 1, &[
        ep(EMAIL_PROCESS, &[
            local("MailService.sendEmail", &[]),
            mongo("insert", "notification", r#"{"insert": "notification", "ordered": true, "$db": "ts", "documents": "?"}"#),
        ]),
    ]),
    svc(CANCEL, Java, Http, 18885, 1, &[
        ep("GET /api/v1/cancelservice/cancel/{orderId}/{loginId}", &[
            call(ORDER, ORDER_GET),
            call(ORDER, ORDER_STATUS),
            call(INSIDE_PAY, INSIDE_DRAWBACK),
            call(USER, USER_BY_ID),
            publish("email", NOTIFICATION, EMAIL_PROCESS),
        ]),
        ep("GET /api/v1/cancelservice/cancel/refound/{orderId}", &[call(ORDER, ORDER_GET)]),
    ]),
    svc(REBOOK, Java, Http, 18886, 1, &[
        ep("POST /api/v1/rebookservice/rebook", &[
            call(ORDER, ORDER_GET),
            call(TRAVEL, TRIP_DETAIL),
            call(SEAT, SEAT_DISTRIBUTE),
            call(INSIDE_PAY, INSIDE_PAY_EP).p(0.5),
            call(ORDER, ORDER_UPDATE),
        ]),
    ]),
    svc(EXECUTE, Java, Http, 12386, 1, &[
        ep("GET /api/v1/executeservice/execute/collected/{orderId}", &[
            call(ORDER, ORDER_GET),
            call(ORDER, ORDER_STATUS),
        ]),
        ep("GET /api/v1/executeservice/execute/execute/{orderId}", &[
            call(ORDER, ORDER_GET),
            call(ORDER, ORDER_STATUS),
        ]),
    ]),
    svc(TRAVEL_PLAN, Java, Http, 14322, 1, &[
        ep("POST /api/v1/travelplanservice/travelPlan/cheapest", &[
            call(ROUTE_PLAN, "POST /api/v1/routeplanservice/routePlan/cheapestRoute"),
            call(STATION, STATION_ID).times(2, 4),
        ]),
        ep("POST /api/v1/travelplanservice/travelPlan/minStation", &[
            call(ROUTE_PLAN, "POST /api/v1/routeplanservice/routePlan/minStopStations"),
        ]),
    ]),
    svc(ROUTE_PLAN, Java, Http, 14578, 1, &[
        ep("POST /api/v1/routeplanservice/routePlan/cheapestRoute", &[
            call(TRAVEL, TRIPS_LEFT),
            call(TRAVEL2, TRIPS2_LEFT),
        ]),
        ep("POST /api/v1/routeplanservice/routePlan/minStopStations", &[
            call(STATION, STATION_ID).times(2, 2),
            call(ROUTE, ROUTE_ALL),
            call(TRAVEL, TRIP_DETAIL).times(1, 3),
        ]),
    ]),
    svc(ADMIN_BASIC, Java, Http, 18767, 1, &[
        ep("GET /api/v1/adminbasicservice/adminbasic/stations", &[call(STATION, STATION_LIST)]),
        ep("GET /api/v1/adminbasicservice/adminbasic/trains", &[call(TRAIN, "GET /api/v1/trainservice/trains")]),
    ]),
    svc(ADMIN_ORDER, Java, Http, 16112, 1, &[
        ep("GET /api/v1/adminorderservice/adminorder", &[
            call(ORDER, ORDER_ALL),
            call(ORDER_OTHER, ORDER_OTHER_ALL),
        ]),
    ]),
    svc(ADMIN_ROUTE, Java, Http, 16113, 1, &[
        ep("GET /api/v1/adminrouteservice/adminroute", &[call(ROUTE, ROUTE_ALL)]),
    ]),
    svc(ADMIN_TRAVEL, Java, Http, 16114, 1, &[
        ep("GET /api/v1/admintravelservice/admintravel", &[
            call(TRAVEL, ADMIN_TRIP),
            call(TRAVEL2, ADMIN_TRIP2),
        ]),
    ]),
    svc(ADMIN_USER, Java, Http, 16115, 1, &[
        ep("GET /api/v1/adminuserservice/users", &[call(USER, USER_ALL)]),
    ]),
    svc(DELIVERY, Java, Http, 18808, 1, &[
        ep(DELIVERY_PROCESS, &[
            mongo("insert", "delivery", r#"{"insert": "delivery", "ordered": true, "$db": "ts", "documents": "?"}"#),
        ]),
    ]),
    svc(WAIT_ORDER, Java, Http, 17525, 1, &[
        ep("POST /api/v1/waitorderservice/order", &[
            call(CONTACTS, CONTACTS_BY_ID),
            call(TRAVEL, TRIP_DETAIL),
            sql("INSERT", "wait_list_order", "INSERT INTO wait_list_order (id, account_id, contacts_id, trip_id, status) VALUES (?, ?, ?, ?, ?)"),
        ]),
    ]),
    svc(NEWS, Go, Http, 12862, 1, &[ep("GET /news-service/news", &[])]),
    svc(VOUCHER, Python, Http, 16101, 1, &[
        ep("POST /getVoucher", &[
            sql("SELECT", "voucher", "SELECT * FROM voucher WHERE order_id = %s"),
            call(ORDER, ORDER_GET),
            sql("INSERT", "voucher", "INSERT INTO voucher (order_id, travelDate, contactName, trainNumber, seatClass, seatNumber, startStation, destStation, price) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"),
        ]),
    ]),
    svc(AVATAR, Python, Http, 17001, 1, &[ep("POST /api/v1/avatar", &[])]),
    svc(PRESERVE_OTHER, Java, Http, 14569, 1, &[
        ep("POST /api/v1/preserveotherservice/preserveOther", &[
            call(SECURITY, SECURITY_CHECK),
            call(CONTACTS, CONTACTS_BY_ID),
            call(TRAVEL2, TRIPS2_LEFT),
            call(ORDER_OTHER, ORDER_OTHER_TICKETS),
            call(USER, USER_BY_ID),
            publish("email", NOTIFICATION, EMAIL_PROCESS),
        ]),
    ]),
];

/// Entry endpoints and their share of traffic.
#[rustfmt::skip]
const ENTRIES: &[(&str, &str, u32)] = &[
    (UI, "GET /index.html", 3),
    (UI, "GET /client_ticket_book.html", 2),
    (TRAVEL, TRIPS_LEFT, 30),
    (TRAVEL2, TRIPS2_LEFT, 8),
    (AUTH, "POST /api/v1/users/login", 14),
    (VERIFY, "GET /api/v1/verifycode/generate", 6),
    (ORDER, ORDER_REFRESH, 10),
    (ORDER_OTHER, ORDER_OTHER_REFRESH, 4),
    (PRESERVE, "POST /api/v1/preserveservice/preserve", 8),
    (PRESERVE_OTHER, "POST /api/v1/preserveotherservice/preserveOther", 3),
    (CONTACTS, CONTACTS_BY_ACCOUNT, 5),
    (CONTACTS, "POST /api/v1/contactservice/contacts", 1),
    (FOOD, "GET /api/v1/foodservice/foods/{date}/{startStation}/{endStation}/{tripId}", 5),
    (INSIDE_PAY, INSIDE_PAY_EP, 5),
    (CANCEL, "GET /api/v1/cancelservice/cancel/{orderId}/{loginId}", 3),
    (CANCEL, "GET /api/v1/cancelservice/cancel/refound/{orderId}", 1),
    (REBOOK, "POST /api/v1/rebookservice/rebook", 2),
    (EXECUTE, "GET /api/v1/executeservice/execute/collected/{orderId}", 2),
    (EXECUTE, "GET /api/v1/executeservice/execute/execute/{orderId}", 2),
    (CONSIGN, "GET /api/v1/consignservice/consigns/account/{accountId}", 2),
    (TRAVEL_PLAN, "POST /api/v1/travelplanservice/travelPlan/cheapest", 2),
    (TRAVEL_PLAN, "POST /api/v1/travelplanservice/travelPlan/minStation", 1),
    (ADMIN_BASIC, "GET /api/v1/adminbasicservice/adminbasic/stations", 1),
    (ADMIN_BASIC, "GET /api/v1/adminbasicservice/adminbasic/trains", 1),
    (ADMIN_ORDER, "GET /api/v1/adminorderservice/adminorder", 1),
    (ADMIN_ROUTE, "GET /api/v1/adminrouteservice/adminroute", 1),
    (ADMIN_TRAVEL, "GET /api/v1/admintravelservice/admintravel", 1),
    (ADMIN_USER, "GET /api/v1/adminuserservice/users", 1),
    (WAIT_ORDER, "POST /api/v1/waitorderservice/order", 1),
    (NEWS, "GET /news-service/news", 2),
    (VOUCHER, "POST /getVoucher", 1),
    (AVATAR, "POST /api/v1/avatar", 1),
    (USER, USER_BY_ID, 2),
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_topology_resolves_at_every_size() {
        let full = Topology::train_ticket(None).unwrap();
        assert_eq!(full.services.len(), Topology::train_ticket_size());
        assert!(full.services.len() >= 40, "{}", full.services.len());
        assert_eq!(full.entries.len(), ENTRIES.len());
        assert_eq!(full.edge.len(), 2);
        let names: std::collections::HashSet<_> = full.services.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), full.services.len(), "service names repeat");
        for n in 1..=full.services.len() {
            let t = Topology::train_ticket(Some(n)).unwrap();
            assert_eq!(t.services.len(), n);
            assert!(!t.entries.is_empty());
        }
        assert_eq!(
            Topology::train_ticket(Some(0)).unwrap_err(),
            TopologyError::Empty
        );
        // More than exist means all.
        assert_eq!(
            Topology::train_ticket(Some(1000)).unwrap().services.len(),
            full.services.len()
        );
    }

    #[test]
    fn endpoints_have_the_shape_of_their_transport() {
        let t = Topology::train_ticket(None).unwrap();
        let station = &t.services[t.service_index(STATION).unwrap()];
        assert_eq!(
            station.endpoints[0].kind,
            EndpointKind::Grpc {
                service: "station.StationService",
                method: "QueryIdByName"
            }
        );
        let order = &t.services[t.service_index(ORDER).unwrap()];
        assert!(order.endpoints.iter().any(|e| e.kind
            == EndpointKind::Http {
                method: "GET",
                route: "/api/v1/orderservice/order/{orderId}"
            }));
        let notification = &t.services[t.service_index(NOTIFICATION).unwrap()];
        assert_eq!(notification.endpoints[0].kind, EndpointKind::Consumer);
    }

    #[test]
    fn some_entries_can_grow_into_large_traces() {
        let t = Topology::train_ticket(None).unwrap();
        assert!(t.entries.iter().any(|e| e.can_grow));
        assert!(t.entries.iter().any(|e| !e.can_grow));
    }

    #[test]
    fn a_subset_drops_calls_to_services_left_out() {
        let t = Topology::train_ticket(Some(3)).unwrap();
        for list in &t.call_lists {
            for c in list {
                if let Target::Remote { service, .. } | Target::Publish { service, .. } = c.target {
                    assert!(service < 3);
                }
            }
        }
    }

    #[test]
    fn typos_are_reported() {
        const BAD: &[ServiceSpec] = &[svc(
            "a",
            Java,
            Http,
            1,
            1,
            &[ep("GET /x", &[call("b", "GET /y")])],
        )];
        assert_eq!(
            Topology::resolve(BAD, &[("a", "GET /x", 1)], None).unwrap_err(),
            TopologyError::UnknownService("b".into())
        );
        const BAD_EP: &[ServiceSpec] = &[
            svc(
                "a",
                Java,
                Http,
                1,
                1,
                &[ep("GET /x", &[call("b", "GET /z")])],
            ),
            svc("b", Java, Http, 1, 1, &[ep("GET /y", &[])]),
        ];
        assert!(matches!(
            Topology::resolve(BAD_EP, &[("a", "GET /x", 1)], Some(1)),
            Err(TopologyError::UnknownEndpoint { .. })
        ));
        const BAD_NAME: &[ServiceSpec] = &[svc("a", Java, Grpc, 1, 1, &[ep("GET /x", &[])])];
        assert!(matches!(
            Topology::resolve(BAD_NAME, &[("a", "GET /x", 1)], None),
            Err(TopologyError::BadEndpointName { .. })
        ));
    }
}
