//! One probe, phase by phase: DNS, TCP connect, TLS (implicit, or after STARTTLS), greeting,
//! capabilities, logout. Each phase is timed with the monotonic clock and bounded by the
//! timeout; the first failure ends the probe and is reported with its phase.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, NameServerConfigGroup, Protocol as DnsProtocol,
    ResolverConfig, ResolverOpts,
};
use hickory_resolver::TokioAsyncResolver;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::conn::{Conn, Io};
use super::dialogue::Dialogue;
use super::target::{address_refusal, Host, Target, TlsPolicy};
use super::tls::{handshake_facts, TlsSetup, TrustError};
use crate::observe::observation::{PhaseTiming, ProbeFailure, ProbePhase, ProbeResult};
use crate::observe::record::TlsMode;
use crate::time::words::secs_or_millis;

/// The whole probe may take at most this many times the per-phase timeout, so a server that
/// answers each step just in time still cannot hold a probe for long.
pub const WHOLE_PROBE_FACTOR: u32 = 3;

/// What every probe shares (the `[probe]` configuration, less the schedule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Bounds each phase; the whole probe is bounded by [`WHOLE_PROBE_FACTOR`] times it.
    pub timeout: Duration,
    /// DNS servers to ask; empty means those in /etc/resolv.conf.
    pub nameservers: Vec<SocketAddr>,
    /// Extra PEM trust anchors, added to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Probe any port and any address, including the router's own (`[probe] allow_any_target`).
    pub allow_any_target: bool,
}

impl Default for ProbeOptions {
    /// mailpulse.toml(5)'s defaults: 10 s, the system resolver, the system roots.
    fn default() -> Self {
        ProbeOptions {
            timeout: Duration::from_secs(10),
            nameservers: Vec::new(),
            ca_file: None,
            allow_any_target: false,
        }
    }
}

/// Why a [`Prober`] could not be built.
#[derive(Debug)]
pub enum SetupError {
    /// The CA file is missing, unreadable or holds no certificate.
    Trust(TrustError),
    /// /etc/resolv.conf could not be read or parsed.
    Resolver(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Trust(e) => e.fmt(f),
            SetupError::Resolver(why) => write!(f, "/etc/resolv.conf: {why}"),
        }
    }
}

impl std::error::Error for SetupError {}

/// The pieces every scheduled probe shares: one DNS resolver and one TLS client configuration
/// (trust anchors parsed once). Cheap to clone (all shared); build a new one on config reload.
///
/// The daemon owns the schedule, not this type: it calls [`Prober::run`] for each target every
/// `[probe] interval`, and again in a short burst when a LAN client's session to that host
/// fails, so the engine can tell a server or path problem from a client one.
#[derive(Clone)]
pub struct Prober {
    resolver: TokioAsyncResolver,
    tls: TlsSetup,
    timeout: Duration,
    allow_any_target: bool,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("timeout", &self.timeout)
            .field("trust_anchors", &self.tls.anchors)
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// Builds the resolver and TLS configuration from `options`.
    pub fn new(options: &ProbeOptions) -> Result<Prober, SetupError> {
        let tls = TlsSetup::new(options.ca_file.as_deref()).map_err(SetupError::Trust)?;
        let resolver = build_resolver(options)?;
        Ok(Prober {
            resolver,
            tls,
            timeout: options.timeout,
            allow_any_target: options.allow_any_target,
        })
    }

    /// Probes `target` once. Never sends credentials.
    pub async fn run(&self, target: &Target) -> ProbeResult {
        let mut run = Run::new(target, self.timeout);
        // The outcome is in `run.result`; `Err` only says where it stopped.
        let _ = self.phases(target, &mut run).await;
        run.result
    }

    async fn phases(&self, target: &Target, run: &mut Run) -> Result<(), Stop> {
        let host = target.host_str();
        let addresses = self.allowed_addresses(target, run).await?;
        let (tcp, peer) = run
            .phase(
                ProbePhase::Connect,
                connect(&addresses, target.port, run.limit()),
            )
            .await?;
        run.result.connected_to = Some(peer);

        let mut dialogue = Dialogue::new(target.protocol());
        let mut conn = match target.scheme.tls_policy() {
            TlsPolicy::Implicit => {
                let io = run
                    .phase(ProbePhase::Tls, self.handshake(Box::new(tcp), &host))
                    .await?;
                run.record_tls(io.1);
                run.result.tls = TlsMode::Implicit;
                Conn::new(io.0, 0)
            }
            TlsPolicy::StarttlsIfOffered | TlsPolicy::StarttlsRequired => {
                Conn::new(Box::new(tcp), 0)
            }
        };

        let greeting = run
            .phase(ProbePhase::Greeting, dialogue.greeting(&mut conn))
            .await?;
        run.result.greeting = Some(greeting);
        let caps = run
            .phase(ProbePhase::Capabilities, dialogue.capabilities(&mut conn))
            .await?;

        let policy = target.scheme.tls_policy();
        let upgrade = policy != TlsPolicy::Implicit && dialogue.offers_starttls(&caps);
        run.result.capabilities = caps;
        if upgrade {
            conn = self.starttls(conn, &host, &mut dialogue, run).await?;
        } else if policy == TlsPolicy::StarttlsRequired {
            let word = "STARTTLS";
            return Err(run.fail(
                ProbePhase::Starttls,
                format!("the server does not offer {word}; submission needs it"),
            ));
        }

        let logout = run
            .phase(ProbePhase::Logout, dialogue.logout(&mut conn))
            .await;
        // close_notify / FIN, without waiting long for it.
        let _ = tokio::time::timeout(Duration::from_millis(200), conn.shutdown()).await;
        logout
    }

    /// The addresses to connect to: the target's own, or its name's (the DNS phase). Unless any
    /// target is allowed, a refused target or one whose name resolves only to refused addresses
    /// fails the connect phase; refused addresses are dropped.
    async fn allowed_addresses(&self, target: &Target, run: &mut Run) -> Result<Vec<IpAddr>, Stop> {
        let addresses = match &target.host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => run.phase(ProbePhase::Dns, self.resolve(name)).await?,
        };
        run.result.addresses.clone_from(&addresses);
        // Checked again after DNS: a name may resolve to the router itself.
        if self.allow_any_target {
            return Ok(addresses);
        }
        let refusal = target.refusal();
        let (allowed, refused): (Vec<IpAddr>, Vec<IpAddr>) = addresses
            .into_iter()
            .partition(|ip| address_refusal(*ip).is_none());
        let why = refusal.or_else(|| {
            let ip = refused.first().filter(|_| allowed.is_empty())?;
            let host = target.host_str();
            address_refusal(*ip).map(|why| format!("{host} resolves to {ip}, {why}"))
        });
        if let Some(why) = why {
            let why =
                format!("target refused: {why} (set [probe] allow_any_target = true to probe it)");
            let refused = run.phase(ProbePhase::Connect, async { Err::<Vec<IpAddr>, _>(why) });
            return refused.await;
        }
        Ok(allowed)
    }

    /// STARTTLS, the TLS handshake over the same connection, and the capabilities asked again.
    async fn starttls(
        &self,
        mut conn: Conn,
        host: &str,
        dialogue: &mut Dialogue,
        run: &mut Run,
    ) -> Result<Conn, Stop> {
        run.phase(ProbePhase::Starttls, dialogue.starttls(&mut conn))
            .await?;
        let (plain, received) = match conn.into_upgradable() {
            Ok(parts) => parts,
            Err(why) => return Err(run.fail(ProbePhase::Starttls, why)),
        };
        let io = run
            .phase(ProbePhase::Tls, self.handshake(plain, host))
            .await?;
        run.record_tls(io.1);
        run.result.tls = TlsMode::Starttls;
        let mut conn = Conn::new(io.0, received);
        // RFC 3207 §4.2 / RFC 2595 §3.1: forget what was learned before TLS and ask again.
        let caps = run
            .phase(ProbePhase::Capabilities, dialogue.capabilities(&mut conn))
            .await?;
        run.result.capabilities = caps;
        Ok(conn)
    }

    async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let lookup = self
            .resolver
            .lookup_ip(format!("{name}."))
            .await
            .map_err(|e| describe_resolve_error(&e))?;
        let addresses: Vec<IpAddr> = lookup.iter().collect();
        if addresses.is_empty() {
            return Err(format!("{name} has no A or AAAA record"));
        }
        Ok(addresses)
    }

    async fn handshake(
        &self,
        io: Box<dyn Io>,
        host: &str,
    ) -> Result<(Box<dyn Io>, super::tls::HandshakeFacts), String> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("{host:?} cannot be sent as a TLS server name"))?;
        let connector = TlsConnector::from(Arc::clone(&self.tls.client_config));
        let stream = connector
            .connect(name, io)
            .await
            .map_err(|e| describe_handshake_error(&e))?;
        let facts = handshake_facts(&self.tls, stream.get_ref().1, host);
        Ok((Box::new(stream), facts))
    }
}

/// Marks that a phase failed; the failure itself is already in the result.
struct Stop;

/// One probe in progress: the result being filled in and the clock.
struct Run {
    result: ProbeResult,
    timeout: Duration,
    deadline: Instant,
}

impl Run {
    fn new(target: &Target, timeout: Duration) -> Run {
        let start = Instant::now();
        Run {
            result: empty_result(target),
            timeout,
            deadline: start + timeout.saturating_mul(WHOLE_PROBE_FACTOR),
        }
    }

    /// The time the next phase may take: the timeout, or what is left of the whole budget.
    fn limit(&self) -> Duration {
        self.timeout
            .min(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// Runs one phase under its time limit and records its duration, and its failure if any.
    async fn phase<T>(
        &mut self,
        phase: ProbePhase,
        work: impl Future<Output = Result<T, String>>,
    ) -> Result<T, Stop> {
        let limit = self.limit();
        let start = Instant::now();
        let outcome = tokio::time::timeout(limit, work).await;
        self.result.phases.push(PhaseTiming {
            phase,
            duration: start.elapsed(),
        });
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(why)) => Err(self.fail(phase, why)),
            Err(_) if limit < self.timeout => Err(self.fail(
                phase,
                format!(
                    "timed out after {} (the whole probe may take {})",
                    secs_or_millis(limit),
                    secs_or_millis(self.timeout.saturating_mul(WHOLE_PROBE_FACTOR))
                ),
            )),
            Err(_) => Err(self.fail(phase, format!("timed out after {}", secs_or_millis(limit)))),
        }
    }

    fn fail(&mut self, phase: ProbePhase, error: String) -> Stop {
        self.result.failure = Some(ProbeFailure { phase, error });
        Stop
    }

    fn record_tls(&mut self, facts: super::tls::HandshakeFacts) {
        self.result.tls_version = facts.version;
        self.result.cipher = facts.cipher;
        self.result.cert_not_after = facts.cert_not_after;
        self.result.cert_valid = facts.cert_valid;
        self.result.cert_error = facts.cert_error;
    }
}

/// A result with nothing measured yet, started now.
fn empty_result(target: &Target) -> ProbeResult {
    ProbeResult {
        target: target.to_string(),
        host: target.host_str(),
        port: target.port,
        protocol: target.protocol(),
        tls: TlsMode::None,
        // The probe is an I/O module and may read the wall clock (the engine may not).
        started: crate::sys::clock::now(),
        phases: Vec::new(),
        failure: None,
        addresses: Vec::new(),
        connected_to: None,
        tls_version: None,
        cipher: None,
        cert_not_after: None,
        cert_valid: None,
        cert_error: None,
        greeting: None,
        capabilities: Vec::new(),
    }
}

/// Tries each address in order until one accepts; each attempt may use what is left of `limit`.
async fn connect(
    addresses: &[IpAddr],
    port: u16,
    limit: Duration,
) -> Result<(TcpStream, SocketAddr), String> {
    let start = Instant::now();
    let mut errors = Vec::new();
    for ip in addresses {
        let peer = SocketAddr::new(*ip, port);
        let left = limit.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, TcpStream::connect(peer)).await {
            Ok(Ok(stream)) => return Ok((stream, peer)),
            Ok(Err(e)) => errors.push(format!("{} ({peer})", super::plain_io_error(&e))),
            Err(_) => errors.push(format!("timed out ({peer})")),
        }
    }
    if errors.is_empty() {
        return Err("no address to connect to".into());
    }
    Err(errors.join("; "))
}

fn build_resolver(options: &ProbeOptions) -> Result<TokioAsyncResolver, SetupError> {
    let (config, mut opts) = if options.nameservers.is_empty() {
        hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| SetupError::Resolver(e.to_string()))?
    } else {
        let mut group = NameServerConfigGroup::new();
        for addr in &options.nameservers {
            // UDP first, TCP for truncated answers, as a stub resolver does.
            for protocol in [DnsProtocol::Udp, DnsProtocol::Tcp] {
                let mut ns = NameServerConfig::new(*addr, protocol);
                ns.trust_negative_responses = true;
                group.push(ns);
            }
        }
        (
            ResolverConfig::from_parts(None, Vec::new(), group),
            ResolverOpts::default(),
        )
    };
    // Probes measure the lookup, so nothing is cached; both families are recorded.
    opts.cache_size = 0;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.timeout = options.timeout;
    opts.attempts = 1;
    Ok(TokioAsyncResolver::tokio(config, opts))
}

fn describe_resolve_error(err: &hickory_resolver::error::ResolveError) -> String {
    use hickory_resolver::error::ResolveErrorKind;
    match err.kind() {
        ResolveErrorKind::NoRecordsFound { query, .. } => {
            let name = query.name().to_string();
            let name = name.strip_suffix('.').unwrap_or(&name);
            format!("no such name or no address for {name}")
        }
        ResolveErrorKind::Timeout => "the name server did not answer (timed out)".into(),
        _ => err.to_string(),
    }
}

/// Plain words for a failed TLS handshake, naming a received alert as RFC 8446 does.
fn describe_handshake_error(err: &std::io::Error) -> String {
    if let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return super::tls::describe_tls_error(tls);
    }
    if err.kind() == std::io::ErrorKind::UnexpectedEof {
        return "connection closed by the server during the handshake".into();
    }
    super::plain_io_error(err)
}
