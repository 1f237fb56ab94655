//! Scenario helpers so the engine tests read like stories: a [`Scenario`] feeds observations at
//! wall-clock times of one day (UTC), and [`Session`] builds session records from a healthy
//! default by saying what went wrong.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::event::{Credentials, Event, EventKind, Verdict};
use super::{DiagnosisConfig, Engine};
use crate::observe::observation::{
    FirewallTimeouts, GatewaySample, LinkChange, Observation, ObservationKind, PhaseTiming,
    ProbeFailure, ProbePhase, ProbeResult,
};
use crate::observe::record::{
    AppDataShape, AuthOutcome, Close, DnsLookup, Protocol, Rcode, SessionRecord, Side, TlsAlert,
    TlsMode, TlsVersion,
};
use crate::time::Timestamp;

/// The client most stories are about.
pub const CLIENT: &str = "192.168.1.23";

/// A time of day on 2026-11-22, UTC: `t("14:03:12")` or `t("14:03:12.500")`.
pub fn t(hms: &str) -> Timestamp {
    Timestamp::parse_rfc3339(&format!("2026-11-22T{hms}Z")).expect("a valid time of day")
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub fn ip(text: &str) -> IpAddr {
    text.parse().expect("an IP address")
}

/// An engine being fed a story, with every event it produced.
pub struct Scenario {
    pub engine: Engine,
    pub events: Vec<Event>,
}

impl Scenario {
    /// Default thresholds; wan0 is the WAN, up, with address 198.51.100.7 and the default route,
    /// all learnt at 13:00:00.
    pub fn new() -> Self {
        Self::with_config(DiagnosisConfig::default())
    }

    pub fn with_config(config: DiagnosisConfig) -> Self {
        let mut s = Self {
            engine: Engine::new(config, 1),
            events: Vec::new(),
        };
        let at = t("13:00:00");
        s.feed(at, ObservationKind::WanInterfaces(vec!["wan0".into()]));
        s.link(
            at,
            LinkChange::LinkUp {
                interface: "wan0".into(),
            },
        );
        s.link(
            at,
            LinkChange::AddressAdded {
                interface: "wan0".into(),
                address: ip("198.51.100.7"),
            },
        );
        s.link(
            at,
            LinkChange::DefaultRouteAdded {
                interface: Some("wan0".into()),
                gateway: Some(ip("198.51.100.1")),
            },
        );
        s
    }

    /// Feeds one observation; returns (and keeps) its events.
    pub fn feed(&mut self, time: Timestamp, kind: ObservationKind) -> Vec<Event> {
        let out = self.engine.observe(Observation { time, kind });
        self.events.extend(out.iter().cloned());
        out
    }

    pub fn link(&mut self, time: Timestamp, change: LinkChange) -> Vec<Event> {
        self.feed(time, ObservationKind::Link(change))
    }

    pub fn wan_down(&mut self, time: Timestamp) -> Vec<Event> {
        self.link(
            time,
            LinkChange::LinkDown {
                interface: "wan0".into(),
            },
        )
    }

    pub fn wan_up(&mut self, time: Timestamp) -> Vec<Event> {
        self.link(
            time,
            LinkChange::LinkUp {
                interface: "wan0".into(),
            },
        )
    }

    /// wan0's address 198.51.100.7 is replaced by `new` (a PPPoE or DHCP renumbering).
    pub fn wan_renumbered(&mut self, time: Timestamp, new: &str) -> Vec<Event> {
        let mut out = self.link(
            time,
            LinkChange::AddressRemoved {
                interface: "wan0".into(),
                address: ip("198.51.100.7"),
            },
        );
        out.extend(self.link(
            time.plus(ms(200)),
            LinkChange::AddressAdded {
                interface: "wan0".into(),
                address: ip(new),
            },
        ));
        out
    }

    pub fn firewall_timeout(&mut self, time: Timestamp, established: Duration) -> Vec<Event> {
        self.feed(
            time,
            ObservationKind::FirewallTimeouts(FirewallTimeouts {
                tcp_established: established,
                source: "pfctl -st".into(),
            }),
        )
    }

    pub fn gateway(&mut self, time: Timestamp, loss_percent: f32) -> Vec<Event> {
        self.feed(
            time,
            ObservationKind::Gateway(GatewaySample {
                gateway: "WAN_DHCP".into(),
                latency: Some(ms(12)),
                stddev: Some(ms(2)),
                loss_percent,
            }),
        )
    }

    pub fn probe(&mut self, time: Timestamp, result: ProbeResult) -> Vec<Event> {
        self.feed(time, ObservationKind::Probe(result))
    }

    pub fn dns(&mut self, time: Timestamp, lookup: DnsLookup) -> Vec<Event> {
        self.feed(time, ObservationKind::DnsLookup(lookup))
    }

    /// The tracker finished the session at `time`.
    pub fn ended(&mut self, time: Timestamp, session: &Session) -> Vec<Event> {
        self.feed(time, ObservationKind::SessionEnded(session.0.clone()))
    }

    /// The tracker shows the open session at `time`.
    pub fn update(&mut self, time: Timestamp, session: &Session) -> Vec<Event> {
        self.feed(time, ObservationKind::SessionUpdate(session.0.clone()))
    }

    /// Every event of a kind so far.
    pub fn of_kind(&self, kind: EventKind) -> Vec<&Event> {
        self.events.iter().filter(|e| e.kind == kind).collect()
    }
}

/// The one session event among `events`, checked to be exactly one.
pub fn only_session(events: &[Event]) -> &Event {
    let sessions: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::SessionOk | EventKind::SessionFailed))
        .collect();
    assert_eq!(
        sessions.len(),
        1,
        "expected one session event, got {events:#?}"
    );
    sessions[0]
}

/// Checks the verdict, the credentials and evidence substrings of a session event.
pub fn assert_verdict(
    event: &Event,
    verdict: Verdict,
    credentials: Credentials,
    evidence: &[&str],
) {
    assert_eq!(event.verdict, Some(verdict), "verdict of {event:#?}");
    assert_eq!(
        event.credentials,
        Some(credentials),
        "credentials of {event:#?}"
    );
    let session = event.session.as_ref().expect("a session object");
    assert_eq!(session.verdict, verdict);
    assert_eq!(session.credentials, credentials);
    for needle in evidence {
        assert!(
            event.evidence.iter().any(|e| e.contains(needle)),
            "evidence lacks {needle:?}: {:#?}",
            event.evidence
        );
    }
}

/// A probe result for `imaps://host`, every phase quick.
pub fn probe_ok(host: &str, server: &str) -> ProbeResult {
    ProbeResult {
        target: format!("imaps://{host}"),
        host: host.into(),
        port: 993,
        protocol: Protocol::Imap,
        tls: TlsMode::Implicit,
        started: t("00:00:00"),
        phases: vec![
            PhaseTiming {
                phase: ProbePhase::Dns,
                duration: ms(20),
            },
            PhaseTiming {
                phase: ProbePhase::Connect,
                duration: ms(30),
            },
            PhaseTiming {
                phase: ProbePhase::Tls,
                duration: ms(80),
            },
            PhaseTiming {
                phase: ProbePhase::Greeting,
                duration: ms(40),
            },
        ],
        failure: None,
        addresses: vec![ip(server)],
        connected_to: Some(SocketAddr::new(ip(server), 993)),
        tls_version: Some(TlsVersion::TLS1_3),
        cipher: None,
        cert_not_after: None,
        cert_valid: Some(true),
        cert_error: None,
        greeting: Some("* OK ready".into()),
        capabilities: Vec::new(),
    }
}

/// A probe of `imaps://host` that failed at `phase` with `error`.
pub fn probe_failed(host: &str, server: &str, phase: ProbePhase, error: &str) -> ProbeResult {
    let mut p = probe_ok(host, server);
    p.phases.retain(|ph| ph.phase == ProbePhase::Dns);
    p.failure = Some(ProbeFailure {
        phase,
        error: error.into(),
    });
    p.connected_to = None;
    p
}

/// A probe of `imaps://host` whose `phase` took `took`.
pub fn probe_slow(host: &str, server: &str, phase: ProbePhase, took: Duration) -> ProbeResult {
    let mut p = probe_ok(host, server);
    for ph in &mut p.phases {
        if ph.phase == phase {
            ph.duration = took;
        }
    }
    p
}

/// A client's A lookup of `name`, answered with `answer` after `latency`.
pub fn lookup(
    client: &str,
    name: &str,
    start: Timestamp,
    latency: Duration,
    answer: &str,
) -> DnsLookup {
    DnsLookup {
        client: SocketAddr::new(ip(client), 53000),
        resolver: SocketAddr::new(ip("192.168.1.1"), 53),
        name: name.into(),
        qtype: 1,
        start,
        latency: Some(latency),
        rcode: Some(Rcode::NOERROR),
        answers: vec![ip(answer)],
        timed_out: false,
        retries: 0,
    }
}

/// A lookup answered with `rcode` and no address.
pub fn lookup_rcode(client: &str, name: &str, start: Timestamp, rcode: Rcode) -> DnsLookup {
    let mut l = lookup(client, name, start, ms(40), "0.0.0.0");
    l.rcode = Some(rcode);
    l.answers.clear();
    l
}

/// A lookup that got no answer after `retries` repeats.
pub fn lookup_timeout(client: &str, name: &str, start: Timestamp, retries: u32) -> DnsLookup {
    let mut l = lookup(client, name, start, ms(0), "0.0.0.0");
    l.latency = None;
    l.rcode = None;
    l.answers.clear();
    l.timed_out = true;
    l.retries = retries;
    l
}

/// A session record under construction; starts as a healthy IMAPS mail check.
#[derive(Clone, Debug)]
pub struct Session(pub SessionRecord);

impl Session {
    /// A healthy IMAPS session from `client` to `name` (`server`), opened at `start`: connect
    /// 30 ms, TLS 1.2 in 120 ms, a dozen records each way, closed by the client with FIN 20 s
    /// later.
    pub fn imaps(id: u64, client: &str, name: &str, server: &str, start: Timestamp) -> Self {
        Session(SessionRecord {
            id,
            client: SocketAddr::new(ip(client), 50000 + (id % 10000) as u16),
            server: SocketAddr::new(ip(server), 993),
            protocol: Protocol::Imap,
            tls: TlsMode::Implicit,
            server_name: Some(name.into()),
            start,
            end: start.plus(secs(20)),
            syns_from_client: 1,
            tcp_connect: Some(ms(30)),
            tls_handshake: Some(ms(120)),
            tls_version: Some(TlsVersion::TLS1_2),
            tls_client_max: Some(TlsVersion::TLS1_2),
            tls_alert: None,
            app: AppDataShape {
                client_records: 9,
                server_records: 14,
                client_bytes: 1400,
                server_bytes: 48_000,
                handshake_done_at: Some(start.plus(ms(150))),
                server_stopped_mid_record: None,
                exchanges: Default::default(),
                incomplete: false,
            },
            greeting: Some(ms(60)),
            slowest_reply: Some((ms(90), start.plus(secs(1)))),
            last_reply_at: Some(start.plus(secs(1))),
            bytes_from_client: 2200,
            bytes_from_server: 52_000,
            packets_from_client: 30,
            packets_from_server: 40,
            retransmits_from_client: 0,
            retransmits_from_server: 0,
            unanswered_since: None,
            idle_before_unanswered: None,
            longest_stall: None,
            closed_by: Some(Side::Client),
            server_data_missing: None,
            client_closed_at: None,
            close: Close::Fin,
            auth: AuthOutcome::Unknown,
            auth_reply: None,
            login_required: false,
            tls_mismatch: None,
            client_waiting_at_close: None,
            server_side_unseen: false,
        })
    }

    /// The same on plaintext IMAP (port 143), where the login reply is readable.
    pub fn imap_plain(id: u64, client: &str, name: &str, server: &str, start: Timestamp) -> Self {
        let mut s = Self::imaps(id, client, name, server, start);
        s.0.server = SocketAddr::new(ip(server), 143);
        s.0.tls = TlsMode::None;
        s.0.tls_handshake = None;
        s.0.tls_version = None;
        s.0.tls_client_max = None;
        s.0.app = AppDataShape::default();
        s.0.auth = AuthOutcome::Ok;
        s.0.auth_reply = Some("a1 OK LOGIN completed".into());
        s
    }

    /// The last packet was at `end`.
    pub fn ends(mut self, end: Timestamp) -> Self {
        self.0.end = end;
        self
    }

    pub fn closed(mut self, close: Close, by: Option<Side>) -> Self {
        self.0.close = close;
        self.0.closed_by = by;
        self
    }

    pub fn auth_failed(mut self, reply: &str) -> Self {
        self.0.auth = AuthOutcome::Failed;
        self.0.auth_reply = Some(reply.into());
        self.0.closed_by = Some(Side::Server);
        self
    }

    /// `syns` SYNs, never answered, the last at `end`.
    pub fn syns_unanswered(mut self, syns: u32, end: Timestamp) -> Self {
        let s = &mut self.0;
        s.syns_from_client = syns;
        s.tcp_connect = None;
        s.tls_handshake = None;
        s.tls_version = None;
        s.app = AppDataShape::default();
        s.greeting = None;
        s.slowest_reply = None;
        s.last_reply_at = None;
        s.bytes_from_client = 0;
        s.bytes_from_server = 0;
        s.packets_from_client = u64::from(syns);
        s.packets_from_server = 0;
        s.unanswered_since = Some(s.start);
        s.end = end;
        s.close = Close::Timeout;
        s.closed_by = None;
        self
    }

    /// Client data sent at `since` went unanswered, retransmitted `retransmits` times, the
    /// last packet at `end`.
    pub fn stalled(mut self, since: Timestamp, retransmits: u32, end: Timestamp) -> Self {
        let s = &mut self.0;
        s.unanswered_since = Some(since);
        s.retransmits_from_client = retransmits;
        s.end = end;
        s.close = Close::Timeout;
        s.closed_by = None;
        self
    }

    /// Like [`Session::stalled`], after the session had been quiet for `idle`.
    pub fn idle_then_stalled(mut self, idle: Duration, since: Timestamp, end: Timestamp) -> Self {
        self = self.stalled(since, 5, end);
        self.0.idle_before_unanswered = Some(idle);
        self
    }

    /// A TLS alert `description` from `from` during the handshake.
    pub fn alert(mut self, from: Side, description: u8) -> Self {
        let s = &mut self.0;
        s.tls_alert = Some(TlsAlert {
            from,
            level: 2,
            description,
        });
        s.tls_handshake = None;
        s.tls_version = None;
        s.app = AppDataShape::default();
        s.closed_by = Some(from);
        s.end = s.start.plus(ms(200));
        self
    }

    /// The highest TLS version the client offered.
    pub fn client_max(mut self, v: TlsVersion) -> Self {
        self.0.tls_client_max = Some(v);
        self
    }

    /// The encrypted refused-login shape: greeting, one LOGIN, a short answer after `reply`,
    /// closed by the server `after` the handshake.
    pub fn refused_login_shape(mut self, reply: Duration, after: Duration) -> Self {
        let s = &mut self.0;
        let done = s.start.plus(ms(150));
        s.app = AppDataShape {
            client_records: 1,
            server_records: 2,
            client_bytes: 83,
            server_bytes: 150,
            handshake_done_at: Some(done),
            server_stopped_mid_record: None,
            exchanges: Default::default(),
            incomplete: false,
        };
        s.slowest_reply = Some((reply, done.plus(reply)));
        s.last_reply_at = Some(done.plus(reply));
        s.end = done.plus(after);
        s.closed_by = Some(Side::Server);
        s.close = Close::Fin;
        s.bytes_from_client = 600;
        s.bytes_from_server = 4200;
        self
    }

    /// The requests after the handshake and the server's replies: (request bytes, reply bytes,
    /// milliseconds the reply took; a reply of 0 bytes is none).
    pub fn exchanges(mut self, list: &[(usize, usize, u64)]) -> Self {
        let mut log = crate::observe::record::Exchanges::default();
        for &(request, reply, wait) in list {
            log.client_data(request);
            if reply > 0 {
                log.server_data(reply, ms(wait));
            }
        }
        self.0.app.exchanges = log;
        self
    }

    /// The server reset the connection `after` it opened.
    pub fn server_reset(mut self, after: Duration) -> Self {
        let s = &mut self.0;
        s.close = Close::Rst;
        s.closed_by = Some(Side::Server);
        s.end = s.start.plus(after);
        self
    }

    /// What each side said after the handshake: records and bytes.
    pub fn app_counts(
        mut self,
        client_records: u32,
        client_bytes: u64,
        server_records: u32,
        server_bytes: u64,
    ) -> Self {
        let app = &mut self.0.app;
        app.client_records = client_records;
        app.client_bytes = client_bytes;
        app.server_records = server_records;
        app.server_bytes = server_bytes;
        self
    }

    /// The server answered the SYN with a reset.
    pub fn refused(mut self) -> Self {
        let end = self.0.start.plus(ms(20));
        self = self.syns_unanswered(1, end);
        let s = &mut self.0;
        s.unanswered_since = None;
        s.close = Close::Rst;
        s.closed_by = Some(Side::Server);
        s.packets_from_server = 1;
        self
    }

    /// The server's slowest answer to client data.
    pub fn reply(mut self, took: Duration) -> Self {
        let at = self.0.start.plus(took);
        self.0.slowest_reply = Some((took, at));
        self.0.last_reply_at = Some(at);
        self
    }

    pub fn tls_version(mut self, v: TlsVersion) -> Self {
        self.0.tls_version = Some(v);
        self
    }

    /// Still open (an update, or the capture ended).
    pub fn open(mut self) -> Self {
        self.0.close = Close::Open;
        self.0.closed_by = None;
        self
    }
}
