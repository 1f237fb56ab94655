//! The verdict rules: one small function per verdict, each returning a [`Finding`] with its
//! evidence or `None`, and [`judge`], the single place that applies their precedence.
//! The order, the thresholds and what each rule rests on are documented in docs/verdicts.md.

use std::time::Duration;

use super::event::Verdict;
use super::replies::ReplyDiffers;
use super::world::{hms, World};
use super::DiagnosisConfig;
use crate::observe::observation::{ProbeFailure, ProbePhase};
use crate::observe::record::{
    AuthOutcome, Close, Exchange, SessionRecord, Side, TlsMode, TlsVersion,
};
use crate::time::words::{secs, secs_precise};
use crate::time::Timestamp;

/// Slack before a failure window when looking for a WAN outage (a link that dropped a moment
/// before the client's data was sent still explains it).
pub const OUTAGE_SLACK: Duration = Duration::from_secs(2);
/// An idle gap at least this long before unanswered data is "a long quiet gap" when the
/// firewall's own timeout is not known or is longer (a NAT beyond the router may forget it).
pub const LONG_QUIET: Duration = Duration::from_secs(600);
/// Encrypted "refused login" shape: at most this many client records after the handshake
/// (CAPABILITY, LOGIN, LOGOUT, close_notify)…
pub const SHAPE_MAX_CLIENT_RECORDS: u32 = 4;
/// …carrying at most this many bytes (CAPABILITY, a LOGIN, LOGOUT, close_notify),
pub const SHAPE_MAX_CLIENT_BYTES: u64 = 800;
/// …answered by at most this many server records (TLS 1.3 session tickets, greeting,
/// CAPABILITY, NO, BYE),
pub const SHAPE_MAX_SERVER_RECORDS: u32 = 8;
/// A chattier server answers those requests with up to this many records: two for each (an
/// untagged answer and the tagged one) and four for session tickets, greeting and
/// close_notify. Such a session still looks like a refused login, but so does a short
/// accepted one (a login, a SELECT, a LOGOUT): a weak shape, `unknown`, never concluded.
pub const WEAK_SHAPE_MAX_SERVER_RECORDS: u32 = 2 * SHAPE_MAX_CLIENT_RECORDS + 4;
/// …of at most this many bytes,
pub const SHAPE_MAX_SERVER_BYTES: u64 = 4096;
/// …and closed within this long after the handshake (dovecot waits ~2 s before `NO`, and up
/// to 15 s for an address that failed before).
pub const SHAPE_MAX_AFTER_HANDSHAKE: Duration = Duration::from_secs(20);
/// A login's worth of requests: a capability query, a login in two steps (`USER` and `PASS`, a
/// SASL mechanism and its data), a goodbye and a close_notify. Answered with status lines
/// only, that is a refusal answered at once — or an accepted login that found nothing new:
/// a weak shape.
pub const LOGIN_STEPS_MAX_CLIENT_RECORDS: u32 = SHAPE_MAX_CLIENT_RECORDS + 1;
/// A client that said at most this many records after the handshake…
pub const LOGIN_MAX_CLIENT_RECORDS: u32 = 8;
/// …of at most this many bytes in all (ID, CAPABILITY, AUTHENTICATE and its data, LOGOUT,
/// close_notify) has not gone past a login.
pub const LOGIN_MAX_CLIENT_BYTES: u64 = 1024;
/// A reply held back this long, while the session's other replies were quick, is how servers
/// answer a failed login (dovecot's auth_failure_delay is 2 s).
pub const REFUSAL_DELAY: Duration = Duration::from_secs(1);
/// A TLS 1.3 alert on the wire: the record header, the alert's two bytes, the inner content
/// type and a 16-byte AEAD tag. The shortest command (POP3's `QUIT`) takes 28.
pub const TLS13_ALERT_RECORD: u16 = 24;
/// A server whose answers in sessions that went on past the login all came within `t` holds
/// back a refusal when it waits four times `t`, and this much longer than `t`, if that is less
/// than [`REFUSAL_DELAY`] (a server that refuses "at once" still looks the password up: half a
/// second where an accepted login takes 5 ms).
pub const LEARNED_REFUSAL_MARGIN: Duration = Duration::from_millis(250);

/// How long an answer held back must have waited to count as a refusal's delay at a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefusalDelay {
    pub at_least: Duration,
    /// The slowest answer the server gave in the sessions that went on past the login, when
    /// it lowered `at_least` below [`REFUSAL_DELAY`].
    pub accepted_within: Option<Duration>,
}

impl RefusalDelay {
    /// Nothing known of the server.
    pub const DEFAULT: RefusalDelay = RefusalDelay {
        at_least: REFUSAL_DELAY,
        accepted_within: None,
    };

    /// From the slowest answer the server gave in sessions that went on past the login.
    pub fn learned(accepted_within: Duration) -> RefusalDelay {
        let at_least = accepted_within
            .saturating_mul(4)
            .max(accepted_within.saturating_add(LEARNED_REFUSAL_MARGIN));
        if at_least >= REFUSAL_DELAY {
            return RefusalDelay::DEFAULT;
        }
        RefusalDelay {
            at_least,
            accepted_within: Some(accepted_within),
        }
    }
}

impl RefusalDelay {
    /// What the server taught, for the evidence ("" when nothing lowered the delay).
    fn taught(&self) -> String {
        self.accepted_within.map_or(String::new(), |t| {
            format!(
                "; this server answered every request within {} ms in the sessions that went on past the login",
                t.as_millis()
            )
        })
    }
}

impl Default for RefusalDelay {
    fn default() -> Self {
        RefusalDelay::DEFAULT
    }
}
/// A reply of status lines only (a refusal such as `NO [AUTHENTICATIONFAILED] …`, or a goodbye:
/// BYE and the tagged OK, a close_notify — up to 69 bytes with a CBC cipher and SHA-256) is at
/// most this long per request, TLS records included; a mailbox's status or a message is more.
pub const STATUS_REPLY_MAX_BYTES: u64 = 128;
/// The server's close_notify may come in the same segment as its last reply: before TLS 1.3 it
/// is an alert record of its own, up to 85 bytes (a CBC cipher with SHA-384: header, IV, the
/// alert, MAC, padding). The session's last reply may be this much longer and still be a
/// status line.
pub const CLOSE_NOTIFY_MAX_BYTES: u64 = 85;
/// A session that closed within this long after a delayed answer ended on it.
pub const CLOSE_AFTER_ANSWER: Duration = Duration::from_secs(5);
/// The requests a login can take at the end of a session: a SASL mechanism and its response,
/// a LOGIN fallback after it, then a goodbye. A server that penalises failed logins holds back
/// its answers to any of them (dovecot delays an AUTHENTICATE's continuation too once an
/// address has failed), so a delayed answer counts when it falls among these last requests.
pub const LOGIN_TAIL_REQUESTS: usize = 4;
/// A session whose SYN or client data has gone unacknowledged this long is visibly failing and
/// is judged from an update, without waiting for its end (the tracker reports a stall once,
/// 1.5 s after it starts; an ACK normally comes within a round trip plus the delayed-ACK 200 ms).
pub const STALL_VISIBLE: Duration = Duration::from_secs(1);
/// A session that ended while the WAN was down, or this soon after an outage or address change
/// that began while it was open, is taken to have been cut by it.
pub const CUT_TAIL: Duration = Duration::from_secs(15);
/// Quiet after the server's data stopped mid-record, before the client closed, that makes the
/// close a give-up on a stalled transfer rather than a user cancelling a download.
pub const CUT_QUIET: Duration = Duration::from_secs(3);
/// The "client gave up waiting" sign looks at sessions at most this long after the server's
/// last answer (longer quiet tails are idle connections the client dropped).
pub const GAVE_UP_MAX_TAIL: Duration = Duration::from_secs(120);

/// How the evidence of a lone refused-login shape begins (its event says the session may have
/// been a refused login, not that it failed).
pub const LONE_SHAPE: &str = "one short encrypted session";

/// Characters of a server reply quoted in evidence (the reply comes from the network).
pub const MAX_QUOTE: usize = 200;
/// Failed probes quoted in one verdict's evidence (the latest ones).
pub const MAX_PROBE_EVIDENCE: usize = 3;

/// What one rule concluded, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub verdict: Verdict,
    pub evidence: Vec<String>,
}

impl Finding {
    fn new(verdict: Verdict, evidence: Vec<String>) -> Self {
        Self { verdict, evidence }
    }
}

/// How a session failed, read off the record alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Failure {
    /// Plain statements of what went wrong; empty when nothing did.
    pub signs: Vec<String>,
    /// The span in which the failure happened.
    pub from: Timestamp,
    pub to: Timestamp,
    /// The client's SYNs got no answer at all.
    pub syn_unanswered: bool,
    /// Client data got no answer.
    pub data_unanswered: bool,
    /// The unanswered data was retransmitted (no ACK came back: packets were lost).
    pub data_lost: bool,
    /// The client closed a short exchange this long after the server's last answer, as if
    /// it gave up waiting for a reply (at least `slow_server`).
    pub client_gave_up: Option<Duration>,
    /// The server's data stopped in the middle of a TLS record and the session then ended:
    /// a transfer cut off, whatever the close looked like.
    pub transfer_cut: bool,
}

/// What the failure signs read: the record, and what [`Failure::of`] works out once for all.
struct Reading<'a> {
    rec: &'a SessionRecord,
    /// The server reset the connection before the exchange finished. A server that closes
    /// with unread data in its buffer resets (dovecot after LOGOUT does): after a finished
    /// exchange that is an ending, not a refusal.
    server_reset: bool,
    /// How long a client may wait for an answer before giving up counts.
    slow_server: Duration,
}

/// The failure signs, in the order their statements are told. Each adds its statement when it
/// applies and may move the start of the failure window (a later sign's start wins).
const SIGNS: &[fn(&mut Failure, &Reading)] = &[
    Failure::login_refused,
    Failure::login_required,
    Failure::tls_alert_sent,
    Failure::syns_unanswered,
    Failure::client_data_unanswered,
    Failure::server_data_cut,
    Failure::reset_by_server,
    Failure::server_silent,
    Failure::gave_up_or_left,
    Failure::left_after_a_stall,
];

impl Failure {
    /// Reads the failure signs off a record; `now` bounds a session that is still open and
    /// `slow_server` is how long a client may wait for an answer before giving up counts.
    pub fn of(rec: &SessionRecord, now: Timestamp, slow_server: Duration) -> Failure {
        let mut f = Failure {
            from: rec.end,
            to: if rec.close == Close::Open {
                rec.end.max(now)
            } else {
                rec.end
            },
            ..Failure::default()
        };
        let reading = Reading {
            rec,
            server_reset: rec.close == Close::Rst
                && rec.closed_by == Some(Side::Server)
                && !reset_ends_the_exchange(rec),
            slow_server,
        };
        for sign in SIGNS {
            sign(&mut f, &reading);
        }
        f.from = f.from.min(f.to);
        f
    }

    /// The server refused the login, in plaintext.
    fn login_refused(&mut self, r: &Reading) {
        if r.rec.auth == AuthOutcome::Failed {
            self.signs.push("the server refused the login".into());
        }
    }

    /// The server would not go on before a login the client never tried.
    fn login_required(&mut self, r: &Reading) {
        let rec = r.rec;
        if rec.login_required && rec.auth != AuthOutcome::Ok {
            self.from = rec.start;
            self.signs.push(format!(
                "the server would not go on before a login: {}",
                clip(
                    rec.auth_reply.as_deref().unwrap_or("(reply not kept)"),
                    MAX_QUOTE
                )
            ));
        }
    }

    fn tls_alert_sent(&mut self, r: &Reading) {
        if let Some(alert) = r.rec.tls_alert {
            self.signs.push(format!("TLS alert {}", alert.name()));
        }
    }

    /// The client's SYNs got no answer (a reset is the server's answer; a capture without the
    /// server's side cannot tell).
    fn syns_unanswered(&mut self, r: &Reading) {
        let rec = r.rec;
        if rec.tcp_connect.is_none()
            && !r.server_reset
            && rec.syns_from_client > 0
            && !rec.server_side_unseen
        {
            self.syn_unanswered = true;
            self.from = rec.start;
            self.signs.push(syn_text(rec.syns_from_client));
        }
    }

    /// Data still unacknowledged when the last packet was seen is a failure when the server
    /// never closed (its side went silent) or after a while; in a session both sides closed,
    /// the final close_notify may simply not have been ACKed yet.
    fn client_data_unanswered(&mut self, r: &Reading) {
        let rec = r.rec;
        let server_never_closed = matches!(rec.close, Close::Open | Close::Timeout);
        let to = self.to;
        let stuck =
            |since: Timestamp| server_never_closed || to.saturating_since(since) >= STALL_VISIBLE;
        let Some(since) = rec
            .unanswered_since
            .filter(|s| !self.syn_unanswered && stuck(*s))
        else {
            return;
        };
        self.data_unanswered = true;
        self.from = since;
        // The tracker calls data unanswered until the server ACKs it: no ACK is loss.
        self.data_lost = true;
        let mut text = format!(
            "client data unanswered for {}",
            secs(self.to.saturating_since(since))
        );
        if rec.retransmits_from_client > 0 {
            text.push_str(&format!(
                " ({} retransmission{})",
                rec.retransmits_from_client,
                plural(rec.retransmits_from_client)
            ));
        }
        self.signs.push(text);
    }

    /// Servers write whole TLS records: data that stopped inside one was cut off, by a reset
    /// from the server's side or by a silence the client finally gave up on. So was data the
    /// client never got all of, when the server never resent the gap.
    /// (Data in flight when a server resets is not yet acknowledged either: a gap counts
    /// only after a silence.)
    fn server_data_cut(&mut self, r: &Reading) {
        let rec = r.rec;
        let cut = match (rec.app.server_stopped_mid_record, rec.server_data_missing) {
            (Some(at), _) => Some((at, "the server's data stopped in the middle of a TLS record", true)),
            (None, Some(at)) => Some((
                at,
                "the client never received all of the server's data (a gap the server did not resend)",
                false,
            )),
            (None, None) => None,
        };
        let Some((stopped, what, reset_is_enough)) = cut.filter(|_| rec.close != Close::Open)
        else {
            return;
        };
        let quiet = rec.end.saturating_since(stopped);
        let reset_from_server = rec.close == Close::Rst && rec.closed_by == Some(Side::Server);
        if quiet < CUT_QUIET && !(reset_from_server && reset_is_enough) {
            return;
        }
        self.transfer_cut = true;
        if !self.data_unanswered {
            self.from = stopped;
            // After such a silence, a goodbye that is not acknowledged either (however
            // briefly it was watched) means the path was still dead.
            self.data_lost = quiet >= CUT_QUIET && rec.unanswered_since.is_some();
        }
        self.signs.push(if quiet >= CUT_QUIET {
            format!(
                "{what} at {}, {} before the session ended",
                hms(stopped),
                secs(quiet)
            )
        } else {
            format!("{what} and the connection was reset")
        });
        if self.data_lost && !self.data_unanswered {
            self.signs
                .push("the client's goodbye was not acknowledged either".into());
        }
    }

    fn reset_by_server(&mut self, r: &Reading) {
        if r.server_reset {
            self.signs.push("reset by the server".into());
        }
    }

    /// A connected server that sent nothing, or an implicit-TLS handshake that never finished
    /// (without an alert saying why, and over: an open session may still finish it).
    fn server_silent(&mut self, r: &Reading) {
        let rec = r.rec;
        let connected = rec.tcp_connect.is_some();
        if connected && rec.bytes_from_server == 0 && !r.server_reset {
            self.from = rec.start;
            self.signs.push(format!(
                "the server sent nothing in {}",
                secs(rec.end.saturating_since(rec.start))
            ));
        } else if connected
            && rec.tls == TlsMode::Implicit
            && !handshake_done(rec)
            && rec.tls_alert.is_none()
            && !r.server_reset
            && rec.close != Close::Open
        {
            self.from = rec.start;
            self.signs.push("the TLS handshake never finished".into());
        }
    }

    /// With no other sign: a client that closed a short exchange at least `slow_server` after
    /// the server's last answer gave up waiting (the tracker cannot see a reply that never
    /// came); on plaintext, one that left after a slow greeting or reply never logged in.
    /// The client's data went unacknowledged for a while, was retransmitted until the path
    /// came back, and the client then closed without another answer from the server: it gave
    /// up on a transfer the path had broken (a user stopping a send while the line was down).
    fn left_after_a_stall(&mut self, r: &Reading) {
        let rec = r.rec;
        let Some((since, waited)) = rec.longest_stall else {
            return;
        };
        let recovered_at = since.plus(waited);
        let answered_after = rec.last_reply_at.is_some_and(|t| t > recovered_at);
        if !self.signs.is_empty()
            || rec.closed_by != Some(Side::Client)
            || waited < CUT_QUIET
            || rec.retransmits_from_client == 0
            || answered_after
        {
            return;
        }
        self.data_lost = true;
        self.from = since;
        self.to = recovered_at;
        self.signs.push(format!(
            "client data unacknowledged for {} ({} retransmission{}) from {}, then the client closed without another answer from the server",
            secs(waited),
            rec.retransmits_from_client,
            plural(rec.retransmits_from_client),
            hms(since)
        ));
    }

    fn gave_up_or_left(&mut self, r: &Reading) {
        let rec = r.rec;
        if !self.signs.is_empty() {
            return;
        }
        let Some(tail) = gave_up_tail(rec) else {
            return;
        };
        let slow = slow_phases(rec, r.slow_server);
        // In plaintext every request is visible: a client that had none outstanding
        // when it closed was not waiting for the server (a pause of its own). After STARTTLS
        // the client speaks first: one that said nothing after the handshake was not either.
        let silent_after_starttls = rec.tls == TlsMode::Starttls && rec.app.client_records == 0;
        let waiting = match rec.tls {
            TlsMode::None => rec.client_waiting_at_close.is_some(),
            _ => !silent_after_starttls,
        };
        if tail >= r.slow_server && silent_after_starttls {
            self.from = rec.client_closed_at.unwrap_or(rec.end).minus(tail);
            self.signs.push(format!(
                "the client sent nothing after the TLS handshake and closed {} later: after STARTTLS the client speaks first, so it stopped on its own, not waiting for the server",
                secs_precise(tail)
            ));
        } else if tail >= r.slow_server && waiting {
            self.client_gave_up = Some(tail);
            self.from = rec.client_closed_at.unwrap_or(rec.end).minus(tail);
            self.signs.push(format!(
                "the client closed {} after the server's last answer, as if it gave up waiting for a reply",
                secs_precise(tail)
            ));
        } else if rec.tls == TlsMode::None && !slow.is_empty() {
            // Plaintext shows that no login happened: the client left after a slow
            // greeting or reply. (Inside TLS a slow answer may be a delayed refusal.)
            self.from = rec.start;
            self.signs.push(format!(
                "the client left without logging in after: {}",
                slow.join(", ")
            ));
        }
    }

    pub fn failed(&self) -> bool {
        !self.signs.is_empty()
    }

    /// Strong enough to judge a still-open session now: its SYN or data unacknowledged for at
    /// least [`STALL_VISIBLE`].
    pub fn visible_stall(&self) -> bool {
        let waited = self.to.saturating_since(self.from) >= STALL_VISIBLE;
        waited && (self.syn_unanswered || self.data_unanswered)
    }
}

/// Everything a rule may look at.
pub struct Case<'a> {
    pub rec: &'a SessionRecord,
    pub world: &'a World,
    pub config: &'a DiagnosisConfig,
    pub failure: Failure,
    /// Earlier sessions of the encrypted refused-login shape from this client to this server
    /// within the window (their end times).
    pub earlier_shapes: Vec<Timestamp>,
    /// This session's reply that differed from the server's usual answer to the same request.
    pub reply_differs: Option<ReplyDiffers>,
    /// The repeat rests on sessions the server answered alike, one of them a weak shape.
    pub repeat_answered_alike: bool,
    /// Another port of this server that answered a connection around the failure (port, when).
    pub other_port_answered: Option<(u16, Timestamp)>,
    /// The server answered every request of this session as it answered the same client's
    /// requests in a session that went on past the login: an accepted login, not a refusal.
    pub answered_as_usual: bool,
    /// How long this server's refusals are held back, as far as known.
    pub refusal_delay: RefusalDelay,
    /// Probe results for this server around the failure (the window on both sides).
    probes: Vec<&'a super::world::ProbeMark>,
    /// The client's last lookup of this server before the session (looked up only for a
    /// failed session).
    lookup: Option<&'a super::world::DnsMark>,
}

impl<'a> Case<'a> {
    /// Gathers what the rules look at; the probe history is searched once here.
    pub fn new(
        rec: &'a SessionRecord,
        world: &'a World,
        config: &'a DiagnosisConfig,
        failure: Failure,
        earlier_shapes: Vec<Timestamp>,
        reply_differs: Option<ReplyDiffers>,
    ) -> Self {
        let w = config.window;
        let probes = world.probes_for(
            rec.server_name.as_deref(),
            rec.server.ip(),
            failure.from.minus(w),
            failure.to.plus(w),
        );
        let lookup = if failure.failed() {
            world
                .lookups_for(
                    rec.client.ip(),
                    rec.server_name.as_deref(),
                    rec.server.ip(),
                    rec.start.minus(w),
                    rec.start.plus(Duration::from_secs(1)),
                )
                .into_iter()
                .last()
        } else {
            None
        };
        Self {
            rec,
            world,
            config,
            failure,
            earlier_shapes,
            reply_differs,
            repeat_answered_alike: false,
            other_port_answered: None,
            answered_as_usual: false,
            refusal_delay: RefusalDelay::DEFAULT,
            probes,
            lookup,
        }
    }

    /// What is known of the WAN link at the time: "WAN link up" only when a link state was
    /// heard (replay without a timeline file has no link state and must not claim it).
    fn wan_note(&self) -> String {
        match self.world.wan_state() {
            "unknown" => {
                "WAN link state not known (no link timeline); no WAN change recorded".into()
            }
            _ => "WAN link up".into(),
        }
    }

    /// The refused-login shape of this session, described. A session answered as the same
    /// client's sessions that went on has none — unless an answer was held back as a refusal
    /// is: sizes alone can match (Courier's `-ERR Login failed.` is 4 bytes from its `+OK`),
    /// the server's own delay cannot.
    pub fn shape(&self) -> Option<String> {
        if self.answered_as_usual && delayed_answer(self.rec, self.refusal_delay).is_none() {
            return None;
        }
        refused_login_shape(self.rec, self.reply_differs, self.refusal_delay)
    }

    fn name(&self) -> Option<&str> {
        self.rec.server_name.as_deref()
    }

    fn server_label(&self) -> String {
        self.rec
            .server_name
            .clone()
            .unwrap_or_else(|| self.rec.server.ip().to_string())
    }

    /// Probe results for this server around the failure, oldest first.
    fn probes(&self) -> &[&'a super::world::ProbeMark] {
        &self.probes
    }

    /// Whether the probes said this server was failing when the session failed: each target's
    /// latest result at or before the failure began, and every result during it. A failure
    /// earlier in the window that a later probe saw recover is a past fault, not this one.
    fn probes_failing_at_failure(&self) -> bool {
        self.probes_failing_at_failure_where(|_, _| true)
    }

    /// Like [`Self::probes_failing_at_failure`], counting only failures on the way to the
    /// server (name, connection, TLS). A probe that got that far and then waited in vain for
    /// the greeting or a reply reached a server that is slow, which is no veto of `server-slow`;
    /// nor is a probe failing at a step this session itself passed later.
    fn path_failing_at_failure(&self) -> bool {
        self.probes_failing_at_failure_where(|f, at| {
            matches!(
                f.phase,
                ProbePhase::Dns | ProbePhase::Connect | ProbePhase::Tls
            ) && !self.session_passed_since(f.phase, at)
        })
    }

    fn probes_failing_at_failure_where(
        &self,
        counts: impl Fn(&ProbeFailure, Timestamp) -> bool,
    ) -> bool {
        let failing =
            |m: &super::world::ProbeMark| m.failure.as_ref().is_some_and(|f| counts(f, m.at));
        let (from, to) = (self.failure.from, self.failure.to);
        let mut latest_before: Vec<&super::world::ProbeMark> = Vec::new();
        for &mark in self.probes().iter().take_while(|m| m.at <= to) {
            if mark.at >= from {
                if failing(mark) {
                    return true;
                }
            } else if let Some(slot) = latest_before.iter_mut().find(|l| l.target == mark.target) {
                *slot = mark;
            } else {
                latest_before.push(mark);
            }
        }
        latest_before.into_iter().any(failing)
    }

    /// Whether this session itself got through `phase` after `since`: its own connection or
    /// handshake is later news about the path than a probe that failed there before it.
    fn session_passed_since(&self, phase: ProbePhase, since: Timestamp) -> bool {
        let rec = self.rec;
        let connected = rec.tcp_connect.map(|d| rec.start.plus(d));
        let passed_at = match phase {
            ProbePhase::Dns | ProbePhase::Connect => connected,
            ProbePhase::Tls | ProbePhase::Starttls => rec.app.handshake_done_at,
            ProbePhase::Greeting | ProbePhase::Capabilities | ProbePhase::Logout => None,
        };
        passed_at.is_some_and(|at| at > since)
    }

    /// A successful probe of this server while the session was failing: the server was
    /// reachable then. One before the failure began, or after it, says nothing about it.
    fn ok_probe_during_failure(&self) -> bool {
        let (from, to) = (self.failure.from, self.failure.to);
        self.probes()
            .iter()
            .any(|m| m.failure.is_none() && m.at >= from && m.at <= to)
    }

    /// The latest failed probes of this server around the failure (at most
    /// [`MAX_PROBE_EVIDENCE`]), described, oldest first.
    fn failed_probes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .probes()
            .iter()
            .rev()
            .filter(|m| m.failure.is_some())
            .take(MAX_PROBE_EVIDENCE)
            .map(|m| m.describe())
            .collect();
        out.reverse();
        out
    }

    /// The latest successful probe of this server around the failure, described.
    fn ok_probe(&self) -> Option<String> {
        self.probes()
            .iter()
            .rev()
            .find(|m| m.failure.is_none())
            .map(|m| m.describe())
    }

    /// A note when the gateway showed loss around the failure.
    fn gateway_note(&self) -> Option<String> {
        let w = self.config.window;
        self.world
            .gateway_loss_between(self.failure.from.minus(w), self.failure.to.plus(w))
            .map(|(name, loss, at)| {
                format!("gateway {name} lost {loss:.0}% of pings at {}", hms(at))
            })
    }

    /// WAN changes during the session (a healthy path has none).
    fn wan_trouble(&self) -> bool {
        !self
            .world
            .outages_between(self.rec.start.minus(OUTAGE_SLACK), self.failure.to)
            .is_empty()
            || !self
                .world
                .nat_changes_between(self.rec.start, self.failure.to)
                .is_empty()
    }
}

/// The rules in precedence order, highest first. The first that finds something decides; the
/// names of the others that also matched are added to the evidence.
const RULES: &[fn(&Case) -> Option<Finding>] = &[
    auth_rejected_seen,
    tls_rejected,
    wan_down,
    wan_address_changed,
    state_expired,
    port_blocked,
    upstream_unreachable,
    dns_failure,
    dns_slow,
    server_refused,
    server_slow,
    auth_rejected_inferred,
];

/// Applies the rules in precedence order; falls back to `ok` or `unknown`.
pub fn judge(case: &Case) -> Finding {
    let mut findings = RULES.iter().filter_map(|rule| rule(case));
    if let Some(mut winner) = findings.next() {
        let others: Vec<&str> = findings
            .map(|f| f.verdict.as_str())
            .filter(|v| *v != winner.verdict.as_str())
            .collect();
        if !others.is_empty() {
            winner.evidence.push(format!(
                "also consistent with (lower precedence): {}",
                others.join(", ")
            ));
        }
        return winner;
    }
    if case.rec.server_side_unseen {
        return Finding::new(
            Verdict::Unknown,
            vec![
                "the capture holds only the client's packets: its acknowledgements show the server answered".into(),
                "missing: the server's side of the session".into(),
            ],
        );
    }
    if let Some(shape) = case.shape() {
        let why = if weak_shape(case.rec, case.refusal_delay) && case.reply_differs.is_none() {
            "a refused login looks like this, but so does a short accepted login (one that \
             found nothing new, or a chattier server's login and mailbox), so it is not \
             concluded, even when repeated, unless the server answers another session of this \
             client alike with a refusal's sign"
                .to_string()
        } else if case.earlier_shapes.is_empty() {
            format!(
                "a refused login looks like this, but it was not repeated within {}, so it is not concluded",
                secs(case.config.repeat_window())
            )
        } else {
            "a refused login looks like this and it was repeated, but the WAN or the probes \
             were not healthy at the time, so it is not concluded"
                .to_string()
        };
        return Finding::new(
            Verdict::Unknown,
            vec![format!("{LONE_SHAPE}: {shape}"), why],
        );
    }
    if !case.failure.failed() {
        if let Some(finding) = shape_unreadable(case) {
            return finding;
        }
        return ok(case);
    }
    if case.rec.login_required && case.rec.auth != AuthOutcome::Ok {
        let mut evidence = case.failure.signs.clone();
        evidence.push(
            "no password was tried: the client is not set to log in (or to start TLS) before sending"
                .into(),
        );
        return Finding::new(Verdict::Unknown, evidence);
    }
    unknown(case)
}

/// A session that would have the refused-login shape, but some of whose bytes were never read
/// in order (a gap, a buffer budget spent under a flood): its counts are a lower bound, so it
/// is neither a refused login nor `ok`.
fn shape_unreadable(case: &Case) -> Option<Finding> {
    let rec = case.rec;
    if !rec.app.incomplete || rec.auth != AuthOutcome::Unknown {
        return None;
    }
    let mut whole = rec.clone();
    whole.app.incomplete = false;
    let shape = refused_login_shape(&whole, case.reply_differs, case.refusal_delay)?;
    Some(Finding::new(
        Verdict::Unknown,
        vec![
            format!("a short encrypted session: {shape}"),
            "not all of its bytes were read in order (a gap, or the buffers spent under a flood), so a refused login cannot be told from an accepted one".into(),
        ],
    ))
}

fn ok(case: &Case) -> Finding {
    let rec = case.rec;
    let mut evidence = Vec::new();
    match (rec.auth, rec.tls) {
        (AuthOutcome::Ok, _) => evidence.push("login accepted (seen)".into()),
        // In plaintext a login would have been read: there was none (a capability check, a
        // client that left, mail sent without logging in).
        (_, TlsMode::None) => {
            evidence.push("no login in this session (plaintext, none seen)".into())
        }
        _ => evidence.push("login outcome not visible (encrypted)".into()),
    }
    evidence.push(match rec.close {
        Close::Rst if rec.closed_by == Some(Side::Server) => {
            "reset by the server after a finished exchange (a server closing with unread data resets)".into()
        }
        Close::Open => "still open".into(),
        Close::Timeout => "no more packets seen; no unanswered data".into(),
        _ => format!(
            "closed by the {} after {}",
            side_name(rec.closed_by),
            secs(rec.end.saturating_since(rec.start))
        ),
    });
    let slow = slow_phases(rec, case.config.slow_server);
    if !slow.is_empty() {
        evidence.push(format!("completed despite: {}", slow.join(", ")));
    }
    Finding::new(Verdict::Ok, evidence)
}

fn unknown(case: &Case) -> Finding {
    let mut evidence = case.failure.signs.clone();
    if let Some(ok) = case.ok_probe() {
        evidence.push(format!("{ok}, so the path to the server worked"));
    } else if case.probes().is_empty() {
        evidence.push("missing: no probe of this server ran in the window".into());
    }
    evidence.push("missing: no WAN, DNS, probe or server signal explains the failure".into());
    if case.failure.syn_unanswered || case.failure.data_lost {
        evidence.push(
            "the server may be ignoring this client (for example a block list after failed logins)"
                .into(),
        );
    }
    Finding::new(Verdict::Unknown, evidence)
}

/// `auth-rejected`, seen: the server's refusal was read in plaintext.
pub fn auth_rejected_seen(case: &Case) -> Option<Finding> {
    if case.rec.auth != AuthOutcome::Failed {
        return None;
    }
    let reply = case
        .rec
        .auth_reply
        .as_deref()
        .map(|r| format!("server replied: {}", clip(r, MAX_QUOTE)))
        .unwrap_or_else(|| "server refused the login (reply not kept)".into());
    Some(Finding::new(
        Verdict::AuthRejected,
        vec![reply, "seen in plaintext".into()],
    ))
}

/// `tls-rejected`: a TLS alert during the handshake, or an old TLS version accepted by a
/// Microsoft endpoint and then closed at once (Microsoft's way of refusing TLS 1.0/1.1).
pub fn tls_rejected(case: &Case) -> Option<Finding> {
    let rec = case.rec;
    if let Some(mismatch) = &rec.tls_mismatch {
        let fix = match rec.tls {
            TlsMode::Implicit => "the client is set to SSL/TLS on a port where this server expects plaintext or STARTTLS: set it to STARTTLS, or use the server's SSL/TLS port",
            _ => "the client is set to SSL/TLS on a plaintext port: set it to STARTTLS, or use the server's SSL/TLS port (993, 995, 465)",
        };
        return Some(Finding::new(
            Verdict::TlsRejected,
            vec![clip(mismatch, MAX_QUOTE), fix.to_string()],
        ));
    }
    let offered = rec
        .tls_client_max
        .map(|v| format!("the client offered at most TLS {v}"));
    if let Some(alert) = rec.tls_alert {
        // close_notify and user_canceled are goodbyes, not refusals.
        if matches!(alert.description, 0 | 90) || handshake_done(rec) {
            return None;
        }
        let mut evidence = vec![format!(
            "TLS alert {} ({}) from the {} during the handshake",
            alert.name(),
            if alert.level == 2 { "fatal" } else { "warning" },
            side_name(Some(alert.from))
        )];
        evidence.extend(offered);
        return Some(Finding::new(Verdict::TlsRejected, evidence));
    }
    // A server that closes after the ClientHello without a ServerHello refused the handshake
    // (dovecot does this to a TLS 1.0 client, with no alert), on an implicit port as after
    // STARTTLS.
    if rec.tls_client_max.is_some()
        && rec.tcp_connect.is_some()
        && rec.tls_version.is_none()
        && !handshake_done(rec)
        && rec.closed_by == Some(Side::Server)
        && rec.close == Close::Fin
    {
        let mut evidence = vec![
            "the server closed the connection after the client's ClientHello without answering it (no ServerHello, no alert)"
                .to_string(),
        ];
        evidence.extend(offered);
        return Some(Finding::new(Verdict::TlsRejected, evidence));
    }
    let old = rec.tls_version.is_some_and(|v| v < TlsVersion::TLS1_2);
    let microsoft = case
        .name()
        .and_then(super::advice::provider)
        .is_some_and(|p| p == super::advice::Provider::Microsoft);
    let closed_at_once = handshake_done(rec)
        && rec.closed_by == Some(Side::Server)
        && rec.app.server_records <= 2
        && after_handshake(rec).is_some_and(|d| d <= Duration::from_secs(5));
    if old && microsoft && closed_at_once {
        let mut evidence = vec![format!(
            "TLS {} negotiated, then one short server message and a close by the server",
            rec.tls_version.map(|v| v.to_string()).unwrap_or_default()
        )];
        evidence.extend(offered);
        evidence
            .push("Microsoft answers TLS 1.0/1.1 clients with an error line and a close".into());
        return Some(Finding::new(Verdict::TlsRejected, evidence));
    }
    None
}

/// `wan-down`: a WAN link outage overlapping the failure window.
pub fn wan_down(case: &Case) -> Option<Finding> {
    let f = &case.failure;
    if f.failed() {
        let outages = case.world.outages_between(f.from.minus(OUTAGE_SLACK), f.to);
        if outages.is_empty() {
            return None;
        }
        let mut evidence: Vec<String> = outages.iter().map(|o| o.describe()).collect();
        evidence.extend(f.signs.iter().cloned());
        return Some(Finding::new(Verdict::WanDown, evidence));
    }
    // No sign on the record (a download cut off leaves none: the client only ACKs, then
    // closes), but an outage began while it was open and it ended during it or just after.
    let rec = case.rec;
    let now = case.world.now();
    let cut = case
        .world
        .outages_between(rec.start, rec.end)
        .into_iter()
        .find(|o| o.start >= rec.start && rec.end <= o.end.unwrap_or(now).plus(CUT_TAIL))?;
    Some(Finding::new(
        Verdict::WanDown,
        vec![
            cut.describe(),
            format!(
                "the session was open when the WAN went down and ended {} later, closed by the {}",
                secs(rec.end.saturating_since(cut.start)),
                side_name(rec.closed_by)
            ),
        ],
    ))
}

/// `wan-address-changed`: the WAN address or default route changed while the session was open.
pub fn wan_address_changed(case: &Case) -> Option<Finding> {
    let f = &case.failure;
    let rec = case.rec;
    let changes = case.world.nat_changes_between(rec.start, f.to);
    let cut = |at: Timestamp| rec.end <= at.plus(CUT_TAIL);
    if changes.is_empty() || (!f.failed() && !changes.iter().any(|c| cut(c.at))) {
        return None;
    }
    let mut evidence: Vec<String> = changes
        .iter()
        .map(|c| format!("{} at {}", c.description, hms(c.at)))
        .collect();
    evidence.push("NAT mappings made before the change were lost".into());
    evidence.extend(f.signs.iter().cloned());
    Some(Finding::new(Verdict::WanAddressChanged, evidence))
}

/// `state-expired`: after a long idle gap the client's data went unanswered while the WAN and
/// the probes were fine.
pub fn state_expired(case: &Case) -> Option<Finding> {
    let f = &case.failure;
    let Some(idle) = case.rec.idle_before_unanswered else {
        return idle_state_forgotten(case);
    };
    if !f.data_unanswered || case.probes_failing_at_failure() || case.wan_trouble() {
        return None;
    }
    let firewall = case.world.firewall.as_ref();
    let beyond_firewall = firewall.is_some_and(|fw| idle >= fw.tcp_established);
    if !beyond_firewall && idle < LONG_QUIET {
        return None;
    }
    let mut evidence = vec![format!(
        "idle for {} before the client's data went unanswered",
        secs(idle)
    )];
    match firewall {
        Some(fw) if beyond_firewall => evidence.push(format!(
            "your firewall forgets idle TCP sessions after {} ({})",
            secs(fw.tcp_established),
            fw.source
        )),
        Some(fw) => evidence.push(format!(
            "the router keeps idle sessions for {}, so a NAT or firewall beyond it probably forgot this one",
            secs(fw.tcp_established)
        )),
        None => evidence.push(
            "a long quiet gap: a firewall or NAT state on the way probably expired".into(),
        ),
    }
    evidence.extend(f.signs.iter().cloned());
    evidence.push(case.wan_note());
    if let Some(ok) = case.ok_probe() {
        evidence.push(ok);
    }
    Some(Finding::new(Verdict::StateExpired, evidence))
}

/// `state-expired` for a session still open (or expired by the tracker) that has been quiet
/// longer than the firewall keeps idle TCP states: the router has forgotten it, so the server's
/// next message (an IDLE notice, a keepalive) cannot reach the client. Only with a known timeout.
fn idle_state_forgotten(case: &Case) -> Option<Finding> {
    let rec = case.rec;
    let fw = case.world.firewall.as_ref()?;
    if case.failure.failed()
        || !matches!(rec.close, Close::Open | Close::Timeout)
        || case.wan_trouble()
    {
        return None;
    }
    let quiet = case.world.now().saturating_since(rec.end);
    if quiet < fw.tcp_established {
        return None;
    }
    Some(Finding::new(
        Verdict::StateExpired,
        vec![
            format!(
                "quiet for {} since the last packet at {}",
                secs(quiet),
                hms(rec.end)
            ),
            format!(
                "your firewall forgets idle TCP sessions after {} ({})",
                secs(fw.tcp_established),
                fw.source
            ),
            "the server's next message cannot reach the client".to_string(),
        ],
    ))
}

/// `server-refused` for a blocked port: SYNs to this port went unanswered while the same host
/// answered a connection on another port around that time, with no WAN change. Something on
/// the way (a firewall, the provider's) drops this port silently; the host is up.
pub fn port_blocked(case: &Case) -> Option<Finding> {
    let f = &case.failure;
    let (port, at) = case.other_port_answered?;
    if !f.syn_unanswered || case.wan_trouble() {
        return None;
    }
    let mut evidence = f.signs.clone();
    evidence.push(format!(
        "the same host ({}) answered a connection on port {port} at {}",
        case.rec.server.ip(),
        hms(at)
    ));
    evidence.push(format!(
        "port {} is blocked: dropped silently on the way (a firewall), not refused by a host that is down",
        case.rec.server.port()
    ));
    Some(Finding::new(Verdict::ServerRefused, evidence))
}

/// `upstream-unreachable`: link up, SYNs or data unanswered, and no probe said the server was
/// reachable.
pub fn upstream_unreachable(case: &Case) -> Option<Finding> {
    let f = &case.failure;
    if !(f.syn_unanswered || f.data_lost) || case.ok_probe_during_failure() {
        return None;
    }
    let mut evidence = f.signs.clone();
    evidence.push(case.wan_note());
    let failed = case.failed_probes();
    if failed.is_empty() {
        evidence.push("no probe of this server ran in the window".into());
    }
    evidence.extend(failed);
    evidence.extend(case.gateway_note());
    Some(Finding::new(Verdict::UpstreamUnreachable, evidence))
}

/// `dns-failure`: the client's lookup of the server failed just before the failed session.
pub fn dns_failure(case: &Case) -> Option<Finding> {
    if !case.failure.failed() {
        return None;
    }
    let lookup = case.lookup?;
    let why = lookup.failure()?;
    let mut evidence = vec![format!(
        "the client's lookup of {} at {} failed: {why}",
        lookup.name,
        hms(lookup.start)
    )];
    evidence.extend(case.failure.signs.iter().cloned());
    Some(Finding::new(Verdict::DnsFailure, evidence))
}

/// `dns-slow`: the client's lookup of the server was slower than `slow_dns` just before the
/// failed session.
pub fn dns_slow(case: &Case) -> Option<Finding> {
    if !case.failure.failed() {
        return None;
    }
    let lookup = case.lookup?;
    let latency = lookup.latency?;
    if latency <= case.config.slow_dns || lookup.failure().is_some() {
        return None;
    }
    let mut evidence = vec![format!(
        "the client's lookup of {} took {} (threshold {})",
        lookup.name,
        secs_precise(latency),
        secs_precise(case.config.slow_dns)
    )];
    evidence.extend(case.failure.signs.iter().cloned());
    Some(Finding::new(Verdict::DnsSlow, evidence))
}

/// `server-refused`: the server reset the connection (refused the connect, or dropped it after
/// the greeting) while the WAN was fine.
pub fn server_refused(case: &Case) -> Option<Finding> {
    let rec = case.rec;
    // A session picked up mid-stream must have carried data both ways before a reset can say
    // anything about the server (a spoofed reset says nothing).
    let plausible =
        rec.syns_from_client > 0 || (rec.bytes_from_client > 0 && rec.bytes_from_server > 0);
    if !plausible
        || rec.close != Close::Rst
        || rec.closed_by != Some(Side::Server)
        || reset_ends_the_exchange(rec)
        || case.failure.transfer_cut
        || case.wan_trouble()
    {
        return None;
    }
    let mut evidence = vec![if rec.tcp_connect.is_none() {
        "the server answered the connection attempt with a reset (connection refused)".to_string()
    } else {
        format!(
            "the server reset the connection {} after it opened, having sent {} bytes",
            secs(rec.end.saturating_since(rec.start)),
            rec.bytes_from_server
        )
    }];
    evidence.push(case.wan_note());
    evidence.extend(case.probes().last().map(|m| m.describe()));
    Some(Finding::new(Verdict::ServerRefused, evidence))
}

/// `server-slow`: the path was healthy but the greeting, handshake or a reply took longer than
/// `slow_server`, or the client gave up waiting for one.
pub fn server_slow(case: &Case) -> Option<Finding> {
    let f = &case.failure;
    let rec = case.rec;
    if !f.failed() || case.wan_trouble() || case.path_failing_at_failure() {
        return None;
    }
    let limit = case.config.slow_server;
    let mut evidence = slow_phases(rec, limit);
    if let Some(tail) = f.client_gave_up {
        evidence.push(format!(
            "the client closed {} after the server's last answer, as if it gave up waiting for a reply",
            secs_precise(tail)
        ));
    } else if rec.tcp_connect.is_some() && rec.bytes_from_server == 0 {
        let waited = f.to.saturating_since(f.from);
        if waited >= limit {
            evidence.push(format!(
                "no greeting from the server in {}",
                secs_precise(waited)
            ));
        }
    }
    if evidence.is_empty() {
        return None;
    }
    evidence.push(format!("threshold {}", secs_precise(limit)));
    evidence.extend(
        case.gateway_note()
            .map(|g| format!("{g}: the path may be slow too")),
    );
    Some(Finding::new(Verdict::ServerSlow, evidence))
}

/// `auth-rejected`, inferred: the encrypted refused-login shape, repeated by this client to this
/// server within the window, on a healthy path.
pub fn auth_rejected_inferred(case: &Case) -> Option<Finding> {
    let shape = case.shape()?;
    let held_back = refusals_held_back(case.rec, case.refusal_delay);
    let repeated = !case.earlier_shapes.is_empty() || held_back >= 2;
    // A weak shape's earlier shapes are only sessions answered alike that had a sign.
    if !repeated || case.wan_trouble() || case.probes_failing_at_failure() {
        return None;
    }
    let repeat = if case.earlier_shapes.is_empty() {
        format!("the server held back {held_back} of this session's login answers, as servers do after each failed login: the login was refused more than once")
    } else {
        format!(
            "{} sessions of this shape from {} to {} within {} (earlier at {})",
            case.earlier_shapes.len().saturating_add(1),
            case.rec.client.ip(),
            case.server_label(),
            secs(case.config.repeat_window()),
            case.earlier_shapes
                .iter()
                .map(|t| hms(*t))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut evidence = vec![
        "inferred from the session's shape, not seen".to_string(),
        shape,
        repeat,
        format!("{}; no failed probe", case.wan_note()),
    ];
    if case.repeat_answered_alike {
        evidence.push(
            "the server answered these sessions alike (the same records each way, replies of the same sizes) and one of them showed a refusal's sign: the same answer each time"
                .into(),
        );
    }
    if let Some((reply, _)) = case.rec.slowest_reply {
        if reply >= Duration::from_millis(1500) {
            evidence.push(format!(
                "the server took {} to answer, as servers that delay failed logins do",
                secs_precise(reply)
            ));
        }
    }
    Some(Finding::new(Verdict::AuthRejected, evidence))
}

/// The encrypted refused-login shape, described feature by feature, or `None` when the session
/// does not have it. It needs: TLS (implicit or STARTTLS) with the handshake done, no alert, no
/// login seen, nothing unanswered, closed (FIN or RST) within [`SHAPE_MAX_AFTER_HANDSHAKE`] of
/// the handshake, and a client that said little after the handshake (at most
/// [`LOGIN_MAX_CLIENT_RECORDS`] records and [`LOGIN_MAX_CLIENT_BYTES`] bytes: a capability
/// query, a login, a goodbye). Then one of three signs that the server refused rather than
/// accepted:
/// - a short exchange on both sides (the narrow shape: at most [`SHAPE_MAX_CLIENT_RECORDS`]
///   client records of [`SHAPE_MAX_CLIENT_BYTES`], [`SHAPE_MAX_SERVER_RECORDS`] server records
///   of [`SHAPE_MAX_SERVER_BYTES`]);
/// - a delayed answer: one reply took at least [`REFUSAL_DELAY`] while every reply before the
///   login's last [`LOGIN_TAIL_REQUESTS`] requests came in under a quarter of that (servers hold
///   back a refusal, not the path), and the session closed within [`CLOSE_AFTER_ANSWER`] of it;
/// - a reply of another size than the one this server gave the same request in a session that
///   went on past the login.
pub fn refused_login_shape(
    rec: &SessionRecord,
    differs: Option<ReplyDiffers>,
    delay: RefusalDelay,
) -> Option<String> {
    let app = &rec.app;
    let encrypted = matches!(rec.tls, TlsMode::Implicit | TlsMode::Starttls);
    let closed = matches!(rec.close, Close::Fin | Close::Rst);
    let after = after_handshake(rec)?;
    // The server said little too: a refusal and a goodbye, never a mailbox or a message.
    let said_little = (1..=LOGIN_MAX_CLIENT_RECORDS).contains(&app.client_records)
        && app.client_bytes <= LOGIN_MAX_CLIENT_BYTES
        && app.server_records >= 1
        && app.server_bytes <= SHAPE_MAX_SERVER_BYTES;
    let base = encrypted
        && closed
        && !app.incomplete
        && rec.tls_alert.is_none()
        && rec.auth == AuthOutcome::Unknown
        && !stalled_at_end(rec)
        && said_little
        && after <= SHAPE_MAX_AFTER_HANDSHAKE;
    if !base {
        return None;
    }
    let narrow = narrow_shape(rec);
    let delayed = delayed_answer(rec, delay).map(|d| d.described);
    if !narrow && delayed.is_none() && differs.is_none() && !weak_shape(rec, delay) {
        return None;
    }
    let mut text = format!(
        "TLS handshake done, then {} client record{} ({} bytes) and {} server record{} ({} bytes), closed by the {} ({}) {} after the handshake",
        app.client_records,
        plural(app.client_records),
        app.client_bytes,
        app.server_records,
        plural(app.server_records),
        app.server_bytes,
        side_name(rec.closed_by),
        if rec.close == Close::Rst { "reset" } else { "FIN" },
        secs_precise(after)
    );
    if let Some(d) = delayed {
        text.push_str(&format!("; {d}"));
    }
    if let Some(d) = differs {
        text.push_str(&format!(
            "; the server answered request {} with {} bytes, where it answered the same request with {} bytes in a session that went on",
            d.request, d.reply, d.usual
        ));
    }
    Some(text)
}

/// A shape with no sign of its own that a refused login's answers alone could explain, with
/// no delay: never `ok`, never concluded alone or repeated, but a repeat when the server
/// answered a session with a sign alike ([`super::replies::answered_alike`]). Either
/// - the narrow shape but for a chattier server ([`WEAK_SHAPE_MAX_SERVER_RECORDS`]), or
/// - a login's worth of requests ([`LOGIN_STEPS_MAX_CLIENT_RECORDS`]) answered, after the
///   first answer (a greeting's capabilities), with status lines only: a refusal answered at
///   once, or an accepted login that found nothing new.
pub fn weak_shape(rec: &SessionRecord, delay: RefusalDelay) -> bool {
    let app = &rec.app;
    let narrow_client = app.client_records <= SHAPE_MAX_CLIENT_RECORDS
        && app.client_bytes <= SHAPE_MAX_CLIENT_BYTES
        && app.server_bytes <= SHAPE_MAX_SERVER_BYTES;
    let chatty_server = narrow_client
        && app.server_records > SHAPE_MAX_SERVER_RECORDS
        && app.server_records <= WEAK_SHAPE_MAX_SERVER_RECORDS;
    let status_only = !narrow_shape(rec)
        && app.client_records <= LOGIN_STEPS_MAX_CLIENT_RECORDS
        && app.server_bytes <= SHAPE_MAX_SERVER_BYTES
        && status_lines_after_first(rec);
    (chatty_server || status_only) && delayed_answer(rec, delay).is_none()
}

/// Both sides short: at most [`SHAPE_MAX_CLIENT_RECORDS`] client records of
/// [`SHAPE_MAX_CLIENT_BYTES`], at most [`SHAPE_MAX_SERVER_RECORDS`] server records of
/// [`SHAPE_MAX_SERVER_BYTES`].
fn narrow_shape(rec: &SessionRecord) -> bool {
    let app = &rec.app;
    app.client_records <= SHAPE_MAX_CLIENT_RECORDS
        && app.client_bytes <= SHAPE_MAX_CLIENT_BYTES
        && app.server_records <= SHAPE_MAX_SERVER_RECORDS
        && app.server_bytes <= SHAPE_MAX_SERVER_BYTES
}

/// Every request after the first was answered, with at most [`STATUS_REPLY_MAX_BYTES`] (the
/// last with a close_notify too): a refusal, an `+OK`, a goodbye — never a mailbox's listing
/// or a message. Needs every exchange of the session kept.
fn status_lines_after_first(rec: &SessionRecord) -> bool {
    let exchanges = &rec.app.exchanges;
    let kept = exchanges.kept();
    let last = kept.len().saturating_sub(1);
    (exchanges.total as usize) == kept.len()
        && kept.len() >= 2
        && kept.iter().enumerate().skip(1).all(|(i, e)| {
            let close_notify = if i == last { CLOSE_NOTIFY_MAX_BYTES } else { 0 };
            e.reply > 0 && u64::from(e.reply) <= STATUS_REPLY_MAX_BYTES + close_notify
        })
}

/// Client data that went unacknowledged for [`STALL_VISIBLE`] or more before the session ended.
/// A goodbye the client sent a moment before it reset the connection itself is never
/// acknowledged, and is no stall.
fn stalled_at_end(rec: &SessionRecord) -> bool {
    rec.unanswered_since
        .is_some_and(|since| rec.end.saturating_since(since) >= STALL_VISIBLE)
}

/// The delayed-answer sign, described: the slowest reply took at least [`REFUSAL_DELAY`] and
/// at least four times the path's own delays (TCP connect, TLS handshake), every reply held
/// back as long (a quarter of it or more) answered one of the session's last
/// [`LOGIN_TAIL_REQUESTS`] requests (the login's steps, then perhaps a goodbye), the server
/// answered the requests after the last of them with status lines only (a refusal, a goodbye:
/// [`STATUS_REPLY_MAX_BYTES`] a request), at least one
/// reply came quickly (the path itself is fast), and the session closed within
/// [`CLOSE_AFTER_ANSWER`] after the server's last answer. Without a per-request record (an older record), the slowest
/// reply alone.
fn delayed_answer(rec: &SessionRecord, delay: RefusalDelay) -> Option<DelayedAnswer> {
    let (wait, at) = rec.slowest_reply?;
    // Two answers held back alike (a mechanism, then its LOGIN fallback): the slowest by a
    // millisecond may be the first; the session ends after the last.
    let last_answer = rec.last_reply_at.map_or(at, |t| t.max(at));
    let path = rec
        .tcp_connect
        .unwrap_or_default()
        .max(rec.tls_handshake.unwrap_or_default());
    if wait < delay.at_least
        || wait < path.saturating_mul(4)
        || rec.end.saturating_since(last_answer) > CLOSE_AFTER_ANSWER
    {
        return None;
    }
    let closed_after = secs_precise(rec.end.saturating_since(at));
    let kept = rec.app.exchanges.kept();
    let answered: Vec<(usize, u32)> = kept
        .iter()
        .enumerate()
        .filter(|(_, e)| e.reply > 0)
        .map(|(i, e)| (i, e.wait_ms))
        .collect();
    let Some(&(slow_at, slowest)) = answered.iter().max_by_key(|(i, w)| (*w, usize::MAX - i))
    else {
        return Some(DelayedAnswer::slowest_alone(wait, &closed_after));
    };
    let tail_from = kept.len().saturating_sub(LOGIN_TAIL_REQUESTS);
    // Held back: as long as the slowest, near enough, or a refusal's delay itself (1 s, or
    // what the server taught): a first refusal held 1.5 s is one, however long the next.
    let refusal_ms = u32::try_from(delay.at_least.as_millis()).unwrap_or(u32::MAX);
    let held_back = |w: u32| w.saturating_mul(4) >= slowest || w >= refusal_ms;
    let complete = (rec.app.exchanges.total as usize) <= kept.len();
    // The slowest is among them.
    let held: Vec<(usize, u32)> = answered
        .iter()
        .copied()
        .filter(|(_, w)| held_back(*w))
        .collect();
    let held_back_in_tail = held.iter().all(|(i, _)| *i >= tail_from);
    let others = answered
        .iter()
        .filter(|(_, w)| !held_back(*w))
        .map(|(_, w)| *w)
        .max();
    let quick_somewhere = answered.len() == 1 || others.is_some();
    let last_held = held.iter().map(|(i, _)| *i).max().unwrap_or(slow_at);
    let status_lines_only = status_lines_after(kept, last_held);
    if !complete || !held_back_in_tail || !quick_somewhere || !status_lines_only {
        return None;
    }
    let also = match held.len().saturating_sub(1) {
        0 => String::new(),
        n => format!(" (it held back {n} more of the login's last requests too)"),
    };
    // Servers hold back the answers to failed logins (and, once an address has failed, the
    // next login's steps): each answer held back a full refusal delay is a refusal counted.
    let held_for_refusal = held.iter().filter(|(_, w)| *w >= refusal_ms).count();
    let described = format!(
        "the server took {} to answer request {} of {}{also}, where its other answers took at most {} ms and the connection and handshake {} ms, and the session closed {closed_after} later{}",
        secs_precise(Duration::from_millis(u64::from(slowest))),
        slow_at + 1,
        kept.len(),
        others.unwrap_or(0),
        path.as_millis(),
        delay.taught(),
    );
    Some(DelayedAnswer {
        described,
        held_back: held_for_refusal,
    })
}

/// After a refusal a client says goodbye (or tries again, and is held back again): what the
/// server sends after the last held-back answer (`last_held`) is status lines only. More, and
/// the login went on (a server that penalises an address holds back its next good login too:
/// the user who fixed the password is not blamed for the typo before).
fn status_lines_after(kept: &[Exchange], last_held: usize) -> bool {
    let after = &kept[(last_held + 1).min(kept.len())..];
    let said_after: u64 = after.iter().map(|e| u64::from(e.reply)).sum();
    // The last of them may carry the server's close_notify too.
    said_after <= STATUS_REPLY_MAX_BYTES * after.len().max(1) as u64 + CLOSE_NOTIFY_MAX_BYTES
}

/// The delayed-answer sign: what it looked like, and how many of the login's answers the
/// server held back for a refusal's delay.
struct DelayedAnswer {
    described: String,
    held_back: usize,
}

impl DelayedAnswer {
    /// Without a per-request record (an older record): the slowest reply alone.
    fn slowest_alone(wait: Duration, closed_after: &str) -> Self {
        DelayedAnswer {
            described: format!(
                "the server took {} to answer a request, and the session closed {closed_after} later",
                secs_precise(wait)
            ),
            held_back: 1,
        }
    }
}

/// Refusals within this one session: answers the server held back for a refusal's delay,
/// when the session has the refused-login shape with that sign. Two or more are a repeated
/// refusal on their own (a client trying a second mechanism, or a server penalising an
/// address that failed before).
pub fn refusals_held_back(rec: &SessionRecord, delay: RefusalDelay) -> usize {
    delayed_answer(rec, delay).map_or(0, |d| d.held_back)
}

/// How long before its end the client closed a short, unfinished exchange after the server's
/// last known answer; `None` when the session is not such an exchange. The tracker cannot see
/// a reply that never came to acknowledged data, so the quiet tail is the sign: a refused login
/// closes right after the server's answer, a client that gives up on a slow server closes after
/// waiting. The last answer known is the slowest reply's time (or the end of the handshake).
fn gave_up_tail(rec: &SessionRecord) -> Option<Duration> {
    // The client's FIN or RST was seen (the session may still be half open: a server busy
    // with a slow login has not closed its side).
    if rec.closed_by != Some(Side::Client)
        || rec.unanswered_since.is_some()
        || rec.tls_alert.is_some()
        || rec.auth != AuthOutcome::Unknown
        || rec.tcp_connect.is_none()
        || rec.bytes_from_server == 0
    {
        return None;
    }
    let short = match rec.tls {
        TlsMode::Implicit | TlsMode::Starttls => {
            rec.app.client_records <= SHAPE_MAX_CLIENT_RECORDS
                && rec.app.server_bytes <= SHAPE_MAX_SERVER_BYTES
        }
        TlsMode::None => rec.bytes_from_server <= SHAPE_MAX_SERVER_BYTES,
    };
    let last_answer = [
        rec.last_reply_at,
        rec.app.handshake_done_at,
        rec.greeting
            .map(|g| rec.start.plus(rec.tcp_connect.unwrap_or_default()).plus(g)),
    ]
    .into_iter()
    .flatten()
    .max()?;
    // The wait ended when the client closed, not when the server got round to closing too.
    let gave_up_at = rec.client_closed_at.unwrap_or(rec.end);
    let tail = gave_up_at.saturating_since(last_answer);
    (short && tail <= GAVE_UP_MAX_TAIL).then_some(tail)
}

/// An encrypted session that went past the login (the client said more after the handshake
/// than a login takes), whose replies show what this server answers when it accepts one.
pub fn went_past_login(rec: &SessionRecord) -> bool {
    matches!(rec.tls, TlsMode::Implicit | TlsMode::Starttls)
        && rec.tls_alert.is_none()
        && (rec.app.client_records > LOGIN_MAX_CLIENT_RECORDS
            || rec.app.client_bytes > LOGIN_MAX_CLIENT_BYTES)
}

/// The exchange went past the login: a login was seen to succeed, or the client sent more
/// records than a refused login takes.
fn exchange_finished(rec: &SessionRecord) -> bool {
    rec.auth == AuthOutcome::Ok
        || (matches!(rec.tls, TlsMode::Implicit | TlsMode::Starttls)
            && rec.app.client_records > SHAPE_MAX_CLIENT_RECORDS)
}

/// A server's reset after this is an ending, not a refusal: the exchange went past the login,
/// or the client had closed TLS after every request was answered.
fn reset_ends_the_exchange(rec: &SessionRecord) -> bool {
    exchange_finished(rec) || client_closed_tls(rec)
}

/// The client's last record was its close_notify, sent after the server had answered every
/// request: a TLS 1.3 record of [`TLS13_ALERT_RECORD`] bytes is an alert, no command fits in
/// it. stunnel resets the connection when both sides' close_notify cross.
fn client_closed_tls(rec: &SessionRecord) -> bool {
    let exchanges = &rec.app.exchanges;
    let kept = exchanges.kept();
    rec.tls_version == Some(TlsVersion::TLS1_3)
        && exchanges.total as usize == kept.len()
        && kept.split_last().is_some_and(|(last, before)| {
            last.reply == 0
                && last.request == TLS13_ALERT_RECORD
                && !before.is_empty()
                && before.iter().all(|e| e.reply > 0)
        })
}

fn handshake_done(rec: &SessionRecord) -> bool {
    rec.app.handshake_done_at.is_some() || rec.tls_handshake.is_some()
}

/// Time from the end of the TLS handshake to the end of the session.
fn after_handshake(rec: &SessionRecord) -> Option<Duration> {
    let done = rec.app.handshake_done_at.or_else(|| {
        let hs = rec.tls_handshake?;
        Some(rec.start.plus(rec.tcp_connect.unwrap_or_default()).plus(hs))
    })?;
    Some(rec.end.saturating_since(done))
}

/// Phases slower than `limit`, described ("TLS handshake took 8.2 s").
fn slow_phases(rec: &SessionRecord, limit: Duration) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(g) = rec.greeting.filter(|g| *g > limit) {
        out.push(format!("greeting took {}", secs_precise(g)));
    }
    if let Some(h) = rec.tls_handshake.filter(|h| *h > limit) {
        out.push(format!("TLS handshake took {}", secs_precise(h)));
    }
    if let Some((r, at)) = rec.slowest_reply.filter(|(r, _)| *r > limit) {
        out.push(format!(
            "a reply (the login reply, if it was one) took {} (answered at {})",
            secs_precise(r),
            hms(at)
        ));
    }
    out
}

/// At most `max` characters of `text`, with "…" when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn syn_text(syns: u32) -> String {
    format!("{syns} SYN{}, no answer", plural(syns))
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// "client", "server" or "nobody".
pub fn side_name(side: Option<Side>) -> &'static str {
    match side {
        Some(Side::Client) => "client",
        Some(Side::Server) => "server",
        None => "nobody",
    }
}
