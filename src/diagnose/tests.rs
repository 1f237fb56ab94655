//! Engine scenarios: scripted timelines in, expected events, verdicts and evidence out.
//! Expected strings come from mailpulse(8) and its examples (the reply text is Dovecot's
//! and iCloud's real `NO [AUTHENTICATIONFAILED]` line as those servers send it).

use std::time::Duration;

use super::event::{Credentials, EventKind, Severity, Verdict};
use super::rules::{RefusalDelay, REFUSAL_DELAY, WEAK_SHAPE_MAX_SERVER_RECORDS};
use super::testkit::*;
use super::DiagnosisConfig;
use crate::observe::observation::{LinkChange, ObservationKind, ProbePhase};
use crate::observe::record::{Close, Rcode, Side, TlsMode, TlsVersion};
use crate::time::Timestamp;

const GMAIL: &str = "imap.gmail.com";
const GMAIL_IP: &str = "142.250.102.108";
const OUTLOOK: &str = "outlook.office365.com";
const OUTLOOK_IP: &str = "52.97.146.2";

// ---- auth-rejected -------------------------------------------------------------------------

#[test]
fn plaintext_authenticationfailed_is_auth_rejected_seen_with_the_reply_quoted() {
    let mut s = Scenario::new();
    let session = Session::imap_plain(1, CLIENT, "imap.mail.me.com", "17.42.251.41", t("14:00:00"))
        .auth_failed("a1 NO [AUTHENTICATIONFAILED] Authentication failed.")
        .ends(t("14:00:03"));
    let events = s.ended(t("14:00:03"), &session);
    let e = only_session(&events);
    assert_eq!(e.kind, EventKind::SessionFailed);
    assert_eq!(e.severity, Severity::Warning);
    assert_verdict(
        e,
        Verdict::AuthRejected,
        Credentials::Rejected,
        &["server replied: a1 NO [AUTHENTICATIONFAILED] Authentication failed."],
    );
    assert!(e.message.contains("refused the login"), "{}", e.message);
    let advice = e.advice.as_deref().expect("iCloud advice");
    assert!(advice.contains("app-specific password"), "{advice}");
}

#[test]
fn a_huge_server_reply_is_quoted_clipped() {
    let mut s = Scenario::new();
    let reply = format!("a1 NO {}", "é".repeat(5000));
    let session =
        Session::imap_plain(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).auth_failed(&reply);
    let e = s.ended(t("14:00:03"), &session);
    let quoted = &only_session(&e).evidence[0];
    assert!(quoted.starts_with("server replied: a1 NO é"));
    assert!(quoted.ends_with('…'));
    assert_eq!(quoted.chars().count(), "server replied: ".len() + 200 + 1);
}

#[test]
fn a_seen_refusal_beats_a_wan_outage_during_the_session() {
    let mut s = Scenario::new();
    s.wan_down(t("14:00:01"));
    s.wan_up(t("14:00:02"));
    let session = Session::imap_plain(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .auth_failed("a1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
        .stalled(t("14:00:01"), 2, t("14:00:04"));
    let e = s.ended(t("14:00:05"), &session);
    let e = only_session(&e);
    assert_verdict(
        e,
        Verdict::AuthRejected,
        Credentials::Rejected,
        &["Invalid credentials"],
    );
    assert!(e
        .evidence
        .iter()
        .any(|l| l.contains("lower precedence") && l.contains("wan-down")));
}

#[test]
fn repeated_short_encrypted_sessions_on_a_healthy_path_are_inferred_auth_rejected() {
    let mut s = Scenario::new();
    s.probe(t("13:59:50"), probe_ok(GMAIL, GMAIL_IP));
    let first = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .refused_login_shape(ms(2000), ms(2300));
    let e1 = s.ended(t("14:00:03"), &first);
    // One such session alone is not enough.
    assert_verdict(
        only_session(&e1),
        Verdict::Unknown,
        Credentials::Unknown,
        &["one short encrypted session", "not repeated within 300 s"],
    );
    let second = Session::imaps(2, CLIENT, GMAIL, GMAIL_IP, t("14:00:20"))
        .refused_login_shape(ms(2000), ms(2300));
    let e2 = s.ended(t("14:00:23"), &second);
    assert_eq!(
        e2.len(),
        2,
        "the second session, and the first revised: {e2:#?}"
    );
    let e = &e2[0];
    assert_eq!(e.session.as_ref().map(|v| v.start), Some(t("14:00:20")));
    assert_verdict(
        e,
        Verdict::AuthRejected,
        Credentials::Rejected,
        &[
            "inferred from the session's shape, not seen",
            "1 client record (83 bytes) and 2 server records (150 bytes)",
            "2 sessions of this shape",
            "delay failed logins",
        ],
    );
    assert!(
        e.message
            .contains("judged from the encrypted session's shape"),
        "{}",
        e.message
    );
    assert!(e
        .advice
        .as_deref()
        .is_some_and(|a| a.contains("2-Step Verification")));
    // The repeat confirms the first: it is revised once, and counted once.
    let revised = &e2[1];
    assert_eq!(
        revised.session.as_ref().map(|v| v.start),
        Some(t("14:00:00"))
    );
    assert_verdict(
        revised,
        Verdict::AuthRejected,
        Credentials::Rejected,
        &[
            "inferred from the session's shape, not seen",
            "confirmed by the same shape again at 14:00:22",
            "revises the verdict unknown given at 14:00:03",
        ],
    );
    let counters = s.engine.status().counters;
    assert_eq!(counters.sessions, 2);
    assert_eq!(counters.sessions_by_verdict.get("auth-rejected"), Some(&2));
    assert_eq!(counters.sessions_by_verdict.get("unknown"), Some(&0));
    let third = Session::imaps(3, CLIENT, GMAIL, GMAIL_IP, t("14:00:40"))
        .refused_login_shape(ms(2000), ms(2300));
    assert_eq!(
        s.ended(t("14:00:43"), &third).len(),
        1,
        "nothing left to revise"
    );
}

/// Under a flood the tracker's buffers run out and a good session's bytes are not all read:
/// its record counts look like a short refused login. Such a session is neither blamed on the
/// password, even when repeated, nor called `ok`.
#[test]
fn sessions_whose_bytes_were_not_all_read_are_not_inferred() {
    let mut s = Scenario::new();
    let mut verdicts = Vec::new();
    for (id, at) in [(1, "14:00:00"), (2, "14:00:10")] {
        let mut session = Session::imaps(id, CLIENT, GMAIL, GMAIL_IP, t(at))
            .refused_login_shape(ms(300), ms(1000));
        session.0.app.incomplete = true;
        let e = s.ended(t(at).plus(secs(2)), &session);
        let event = only_session(&e);
        assert!(
            event
                .evidence
                .iter()
                .any(|e| e.contains("not all of its bytes were read")),
            "{:?}",
            event.evidence
        );
        verdicts.push(event.verdict);
    }
    assert_eq!(verdicts, [Some(Verdict::Unknown), Some(Verdict::Unknown)]);
}

#[test]
fn short_encrypted_sessions_far_apart_are_not_inferred() {
    let mut s = Scenario::new();
    let first = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .refused_login_shape(ms(300), ms(1000));
    s.ended(t("14:00:02"), &first);
    let second = Session::imaps(2, CLIENT, GMAIL, GMAIL_IP, t("14:10:00"))
        .refused_login_shape(ms(300), ms(1000));
    let e = s.ended(t("14:10:02"), &second);
    assert_verdict(
        only_session(&e),
        Verdict::Unknown,
        Credentials::Unknown,
        &["not repeated"],
    );
}

#[test]
fn short_sessions_from_another_client_do_not_count_as_a_repeat() {
    let mut s = Scenario::new();
    let first = Session::imaps(1, "192.168.1.50", GMAIL, GMAIL_IP, t("14:00:00"))
        .refused_login_shape(ms(300), ms(1000));
    s.ended(t("14:00:02"), &first);
    let second = Session::imaps(2, CLIENT, GMAIL, GMAIL_IP, t("14:00:10"))
        .refused_login_shape(ms(300), ms(1000));
    let e = s.ended(t("14:00:12"), &second);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown));
}

#[test]
fn repeated_short_sessions_while_the_probe_fails_are_not_inferred() {
    let mut s = Scenario::new();
    s.probe(
        t("14:00:05"),
        probe_failed(GMAIL, GMAIL_IP, ProbePhase::Tls, "timed out after 10 s"),
    );
    for (id, start) in [(1, "14:00:00"), (2, "14:00:20")] {
        let session = Session::imaps(id, CLIENT, GMAIL, GMAIL_IP, t(start))
            .refused_login_shape(ms(300), ms(900));
        s.ended(t(start).plus(secs(2)), &session);
    }
    let last = s.events.last().unwrap();
    assert_verdict(
        last,
        Verdict::Unknown,
        Credentials::Unknown,
        &["repeated, but the WAN or the probes"],
    );
}

#[test]
fn an_unexplained_stall_gets_no_password_advice() {
    let mut s = Scenario::new();
    s.probe(t("14:03:15"), probe_ok(OUTLOOK, OUTLOOK_IP));
    let session = Session::imaps(1, CLIENT, OUTLOOK, OUTLOOK_IP, t("14:03:10"))
        .syns_unanswered(3, t("14:03:17"));
    let e = s.ended(t("14:03:40"), &session);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown));
    assert_eq!(only_session(&e).advice, None);
}

// ---- wan-down ------------------------------------------------------------------------------

/// The brief's story: a session to Outlook waits while the WAN is down 14:03:12–14:03:41.
fn wan_outage_story() -> (Scenario, Vec<super::event::Event>) {
    let mut s = Scenario::new();
    let session = Session::imaps(7, CLIENT, OUTLOOK, OUTLOOK_IP, t("14:03:05")).stalled(
        t("14:03:14"),
        4,
        t("14:03:33"),
    );
    s.wan_down(t("14:03:12"));
    let early = s.update(t("14:03:16"), &session.clone().open().ends(t("14:03:15")));
    s.wan_up(t("14:03:41"));
    let late = s.ended(t("14:03:45"), &session);
    assert!(
        late.is_empty(),
        "the same verdict must not be reported twice: {late:#?}"
    );
    (s, early)
}

#[test]
fn a_stall_while_the_wan_is_down_is_wan_down_and_is_reported_early() {
    let (s, early) = wan_outage_story();
    let e = only_session(&early);
    assert_eq!(
        e.time,
        t("14:03:16"),
        "verdict within ~2 s of the stall becoming visible"
    );
    assert_verdict(
        e,
        Verdict::WanDown,
        Credentials::NotAtFault,
        &["wan0 down since 14:03:12"],
    );
    assert_eq!(
        e.message,
        "The IMAP session from 192.168.1.23 to outlook.office365.com failed because the WAN link \
         was down; the password was not the problem."
    );
    assert_eq!(e.session.as_ref().unwrap().close, Close::Open);
    assert_eq!(s.engine.status().counters.sessions, 1);
    assert_eq!(s.of_kind(EventKind::WanDown).len(), 1);
    assert_eq!(s.of_kind(EventKind::WanUp).len(), 1);
    assert_eq!(s.of_kind(EventKind::SessionFailed).len(), 1);
}

/// Data sent a moment before the WAN went down stalls before the router has taken in the link
/// change: the first look says `upstream-unreachable`, the next one (the wait doubled) knows the
/// outage and revises it at once, not only when the session ends a minute later.
#[test]
fn an_early_verdict_is_revised_by_a_later_look_once_the_wan_is_known_down() {
    let mut s = Scenario::new();
    let session = |end: &str| {
        Session::imaps(3, CLIENT, OUTLOOK, OUTLOOK_IP, t("14:03:00"))
            .stalled(t("14:03:10"), 2, t(end))
            .open()
    };
    let first = s.update(t("14:03:11.500"), &session("14:03:11.500"));
    assert_eq!(
        only_session(&first).verdict,
        Some(Verdict::UpstreamUnreachable)
    );
    s.wan_down(t("14:03:11.600"));
    let second = s.update(t("14:03:13"), &session("14:03:13"));
    let e = only_session(&second);
    assert_verdict(
        e,
        Verdict::WanDown,
        Credentials::NotAtFault,
        &[
            "wan0 down since 14:03:11",
            "revises the verdict upstream-unreachable given at 14:03:11",
        ],
    );
    // Later looks and the end with the same verdict add no event; the session counts once.
    assert!(s.update(t("14:03:16"), &session("14:03:16")).is_empty());
    assert!(s
        .ended(
            t("14:04:10"),
            &session("14:04:10").closed(Close::Timeout, None)
        )
        .is_empty());
    let counters = s.engine.status().counters;
    assert_eq!(counters.sessions, 1);
    assert_eq!(counters.sessions_by_verdict.get("wan-down"), Some(&1));
    assert_eq!(
        counters.sessions_by_verdict.get("upstream-unreachable"),
        Some(&0)
    );
}

#[test]
fn a_session_ending_after_the_outage_names_its_length() {
    let mut s = Scenario::new();
    s.wan_down(t("14:03:12"));
    let up = s.wan_up(t("14:03:41"));
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].kind, EventKind::WanUp);
    assert_eq!(up[0].severity, Severity::Notice);
    assert!(up[0].message.contains("after 29 s"), "{}", up[0].message);
    let session = Session::imaps(7, CLIENT, OUTLOOK, OUTLOOK_IP, t("14:03:05")).stalled(
        t("14:03:14"),
        4,
        t("14:03:33"),
    );
    let e = s.ended(t("14:03:45"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::WanDown,
        Credentials::NotAtFault,
        &["wan0 down 14:03:12–14:03:41 (29 s)", "4 retransmissions"],
    );
}

#[test]
fn a_session_that_ended_normally_long_before_a_wan_blip_is_ok() {
    let mut s = Scenario::new();
    let session = Session::imap_plain(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"));
    s.wan_down(t("14:10:00"));
    s.wan_up(t("14:10:03"));
    let e = s.ended(t("14:10:05"), &session);
    let e = only_session(&e);
    assert_eq!(e.kind, EventKind::SessionOk);
    assert_eq!(e.severity, Severity::Info);
    assert_verdict(e, Verdict::Ok, Credentials::Ok, &["login accepted"]);
}

#[test]
fn a_download_cut_by_a_short_wan_flap_is_wan_down() {
    // The lab's flap: the server's data stops when the link goes down; the client only ACKs,
    // gives up, and its FIN is answered once the link is back: no sign on the record itself.
    let mut s = Scenario::new();
    s.wan_down(t("14:00:02"));
    s.wan_up(t("14:00:06"));
    let session =
        Session::imaps(1, CLIENT, OUTLOOK, OUTLOOK_IP, t("14:00:00")).ends(t("14:00:06.300"));
    let e = s.ended(t("14:00:06.400"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::WanDown,
        Credentials::NotAtFault,
        &[
            "wan0 down 14:00:02–14:00:06 (4 s)",
            "ended 4 s later, closed by the client",
        ],
    );
}

#[test]
fn a_session_that_outlived_an_outage_by_far_is_not_wan_down() {
    let mut s = Scenario::new();
    s.wan_down(t("14:00:02"));
    s.wan_up(t("14:00:04"));
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).ends(t("14:05:00"));
    let e = s.ended(t("14:05:01"), &session);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Ok));
}

#[test]
fn a_failure_that_does_not_overlap_the_outage_is_not_wan_down() {
    let mut s = Scenario::new();
    s.wan_down(t("14:00:00"));
    s.wan_up(t("14:00:05"));
    // Refused by the server five minutes later: unrelated to the blip.
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:05:00")).refused();
    let e = s.ended(t("14:05:02"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::ServerRefused,
        Credentials::NotAtFault,
        &[],
    );
}

// ---- wan-address-changed -------------------------------------------------------------------

#[test]
fn a_wan_renumbering_during_the_session_is_wan_address_changed() {
    let mut s = Scenario::new();
    let changed = s.wan_renumbered(t("14:05:00"), "198.51.100.9");
    assert_eq!(changed.len(), 1, "one event per renumbering: {changed:#?}");
    assert_eq!(changed[0].kind, EventKind::WanAddressChanged);
    assert!(changed[0].message.contains("198.51.100.7 to 198.51.100.9"));
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:04:00")).stalled(
        t("14:05:10"),
        3,
        t("14:05:40"),
    );
    let e = s.ended(t("14:05:45"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::WanAddressChanged,
        Credentials::NotAtFault,
        &[
            "wan0 address changed from 198.51.100.7 to 198.51.100.9",
            "NAT mappings",
        ],
    );
}

/// LIVE-FINDINGS F6: the lab's renewal adds 203.0.113.3 and then removes 203.0.113.2 (as PPPoE
/// or DHCP with promote_secondaries does); the change is paired and reported at once, not as
/// a loss after the grace period.
#[test]
fn a_new_address_added_before_the_old_one_is_removed_is_a_change_reported_at_once() {
    let mut s = Scenario::new();
    let added = s.link(
        t("14:05:00"),
        LinkChange::AddressAdded {
            interface: "wan0".into(),
            address: ip("198.51.100.9"),
        },
    );
    assert!(
        added.is_empty(),
        "an address beside the others is no change yet"
    );
    let removed = s.link(
        t("14:05:00.050"),
        LinkChange::AddressRemoved {
            interface: "wan0".into(),
            address: ip("198.51.100.7"),
        },
    );
    assert_eq!(removed.len(), 1, "{removed:#?}");
    assert_eq!(removed[0].kind, EventKind::WanAddressChanged);
    assert!(removed[0].message.contains("198.51.100.7 to 198.51.100.9"));
    // No late "lost its address" after the grace period.
    let later = s.feed(t("14:05:30"), ObservationKind::Tick);
    assert!(later.is_empty(), "{later:#?}");
}

#[test]
fn a_default_route_change_is_an_event_and_a_lost_address_is_reported_after_a_grace() {
    let mut s = Scenario::new();
    let removed = s.link(
        t("14:00:00"),
        LinkChange::DefaultRouteRemoved {
            interface: Some("wan0".into()),
            gateway: None,
        },
    );
    assert_eq!(removed.len(), 1);
    assert!(removed[0].message.contains("default route removed"));
    let lost = s.link(
        t("14:01:00"),
        LinkChange::AddressRemoved {
            interface: "wan0".into(),
            address: ip("198.51.100.7"),
        },
    );
    assert!(lost.is_empty(), "a replacement may follow at once");
    let later = s.feed(t("14:01:11"), ObservationKind::Tick);
    assert_eq!(later.len(), 1);
    assert!(
        later[0].message.contains("lost its address 198.51.100.7"),
        "{}",
        later[0].message
    );
}

#[test]
fn the_first_addresses_and_route_learnt_are_not_changes() {
    let s = Scenario::new();
    assert!(s.events.is_empty(), "{:#?}", s.events);
}

// ---- upstream-unreachable ------------------------------------------------------------------

#[test]
fn unanswered_syns_with_a_failing_probe_are_upstream_unreachable() {
    let mut s = Scenario::new();
    s.probe(
        t("14:03:20"),
        probe_failed(GMAIL, GMAIL_IP, ProbePhase::Connect, "timed out after 10 s"),
    );
    let session =
        Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:03:10")).syns_unanswered(3, t("14:03:17"));
    let e = s.ended(t("14:03:40"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::UpstreamUnreachable,
        Credentials::NotAtFault,
        &[
            "3 SYNs, no answer",
            "probe imaps://imap.gmail.com failed at connect at 14:03:20",
        ],
    );
}

#[test]
fn a_blackholed_download_is_upstream_unreachable() {
    // The lab's blackhole capture: server data stops at 2 s, the client closes at 10 s and its
    // close_notify and FIN are retransmitted unanswered until the capture ends.
    let mut s = Scenario::new();
    let mut session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .stalled(t("14:00:09.981"), 1, t("14:00:10.197"))
        .open();
    session.0.closed_by = Some(Side::Client);
    session.0.idle_before_unanswered = Some(ms(8020));
    let e = s.ended(t("14:00:10.197"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::UpstreamUnreachable,
        Credentials::NotAtFault,
        &["client data unanswered", "no probe of this server ran"],
    );
}

/// LIVE-FINDINGS F3/F13: a probe that reached the server just before the blackhole began, or
/// after the client gave up, says nothing about the stall; the early judgement is
/// `upstream-unreachable`, not `unknown`.
#[test]
fn probes_ok_before_the_stall_or_after_it_do_not_clear_a_blackhole() {
    let mut s = Scenario::new();
    s.probe(t("14:00:07"), probe_ok(GMAIL, GMAIL_IP));
    let stalled = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .stalled(t("14:00:08"), 2, t("14:00:09.600"))
        .open();
    let early = s.update(t("14:00:09.600"), &stalled);
    assert_eq!(
        only_session(&early).verdict,
        Some(Verdict::UpstreamUnreachable)
    );
    // The path came back after the client had given up: the end is not revised.
    s.probe(t("14:00:20"), probe_ok(GMAIL, GMAIL_IP));
    let mut ended = stalled.clone();
    ended.0.close = Close::Fin;
    ended.0.closed_by = Some(Side::Client);
    assert!(s.ended(t("14:00:20.500"), &ended).is_empty());
}

/// A download the user cancels ends mid-record too, but at once; one that went silent for
/// seconds before the client closed was cut off.
#[test]
fn server_data_stopping_mid_record_is_a_cut_only_after_a_silence_or_a_server_reset() {
    let mut s = Scenario::new();
    let mut cancelled = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .closed(Close::Rst, Some(Side::Client));
    cancelled.0.app.server_stopped_mid_record = Some(t("14:00:19.800"));
    let e = s.ended(t("14:00:20"), &cancelled);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Ok));

    let mut stalled = Session::imaps(2, CLIENT, GMAIL, GMAIL_IP, t("14:01:00"));
    stalled.0.app.server_stopped_mid_record = Some(t("14:01:12"));
    let e = s.ended(t("14:01:20"), &stalled);
    let e = only_session(&e);
    assert_eq!(e.verdict, Some(Verdict::Unknown));
    assert!(e
        .evidence
        .iter()
        .any(|l| l.contains("middle of a TLS record")));

    // Reset right after the cut (a NAT mapping lost mid-transfer): not a refusal.
    let mut reset = Session::imaps(3, CLIENT, GMAIL, GMAIL_IP, t("14:02:00"))
        .closed(Close::Rst, Some(Side::Server));
    reset.0.app.client_records = 2;
    reset.0.app.server_stopped_mid_record = Some(t("14:02:19.800"));
    let e = s.ended(t("14:02:20"), &reset);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown));
}

/// Server data the client never received, then the server's reset seconds later (a NAT
/// mapping lost mid-transfer): a cut transfer, not a refusal and not a finished session.
#[test]
fn server_data_never_received_then_a_reset_is_a_cut_not_a_refusal() {
    let mut s = Scenario::new();
    let mut cut = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:02:00"))
        .closed(Close::Rst, Some(Side::Server))
        .ends(t("14:02:10"));
    cut.0.app.client_records = 4;
    cut.0.server_data_missing = Some(t("14:02:02"));
    let e = s.ended(t("14:02:11"), &cut);
    let e = only_session(&e);
    assert_eq!(e.verdict, Some(Verdict::Unknown));
    assert!(
        e.evidence
            .iter()
            .any(|l| l.contains("never received all of the server's data")),
        "{e:#?}"
    );
}

#[test]
fn unanswered_syns_without_any_probe_are_upstream_unreachable_and_say_so() {
    let mut s = Scenario::new();
    let session =
        Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:03:10")).syns_unanswered(3, t("14:03:17"));
    let e = s.ended(t("14:03:40"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::UpstreamUnreachable,
        Credentials::NotAtFault,
        &["no probe of this server ran"],
    );
}

#[test]
fn unanswered_syns_while_the_probe_reaches_the_server_are_unknown() {
    let mut s = Scenario::new();
    s.probe(t("14:03:15"), probe_ok(GMAIL, GMAIL_IP));
    let session =
        Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:03:10")).syns_unanswered(3, t("14:03:17"));
    let e = s.ended(t("14:03:40"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::Unknown,
        Credentials::Unknown,
        &[
            "3 SYNs, no answer",
            "probe imaps://imap.gmail.com ok",
            "ignoring this client",
        ],
    );
}

// ---- DNS -----------------------------------------------------------------------------------

#[test]
fn a_failed_lookup_of_a_mail_host_is_a_standalone_dns_failure_event_once_per_pair() {
    let mut s = Scenario::new();
    let a = s.dns(
        t("14:00:00"),
        lookup_rcode(CLIENT, GMAIL, t("14:00:00"), Rcode::SERVFAIL),
    );
    let mut aaaa_lookup = lookup_rcode(CLIENT, GMAIL, t("14:00:00"), Rcode::SERVFAIL);
    aaaa_lookup.qtype = 28;
    let aaaa = s.dns(t("14:00:00.050"), aaaa_lookup);
    assert!(aaaa.is_empty(), "the AAAA twin is not a second event");
    assert_eq!(a.len(), 1);
    let e = &a[0];
    assert_eq!(e.kind, EventKind::DnsFailure);
    assert_eq!(e.severity, Severity::Warning);
    assert_eq!(e.verdict, Some(Verdict::DnsFailure));
    assert_eq!(e.credentials, Some(Credentials::NotAtFault));
    assert_eq!(e.server_name.as_deref(), Some(GMAIL));
    assert_eq!(e.client, Some(ip(CLIENT)));
    assert!(e.session.is_none());
    assert!(e.evidence[0].contains("SERVFAIL"), "{:?}", e.evidence);
}

#[test]
fn lookups_of_names_that_are_not_mail_hosts_make_no_event() {
    let mut s = Scenario::new();
    let out = s.dns(
        t("14:00:00"),
        lookup_timeout(CLIENT, "www.example.org", t("14:00:00"), 2),
    );
    assert!(out.is_empty());
    let lab = s.dns(
        t("14:00:00"),
        lookup_rcode(CLIENT, "broken.mail.test", t("14:00:00"), Rcode::SERVFAIL),
    );
    assert_eq!(lab.len(), 1, "a name with a mail label counts");
    let ok = s.dns(
        t("14:00:01"),
        lookup(CLIENT, GMAIL, t("14:00:01"), ms(30), GMAIL_IP),
    );
    assert!(ok.is_empty(), "a quick answer is routine");
    let counters = s.engine.status().counters;
    assert_eq!((counters.dns_lookups, counters.dns_failures), (3, 2));
}

#[test]
fn a_timed_out_lookup_explains_the_session_that_follows() {
    let mut s = Scenario::new();
    let standalone = s.dns(
        t("14:00:05"),
        lookup_timeout(CLIENT, GMAIL, t("14:00:00"), 2),
    );
    assert_eq!(standalone[0].kind, EventKind::DnsFailure);
    assert!(standalone[0].evidence[0].contains("no answer (3 tries)"));
    // The client tried a stale address while the router's own probe reached the server.
    s.probe(t("14:00:06"), probe_ok(GMAIL, GMAIL_IP));
    let session = Session::imaps(1, CLIENT, GMAIL, "142.250.1.1", t("14:00:06"))
        .syns_unanswered(3, t("14:00:13"));
    let e = s.ended(t("14:00:30"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::DnsFailure,
        Credentials::NotAtFault,
        &["lookup of imap.gmail.com at 14:00:00 failed: no answer"],
    );
}

#[test]
fn a_slow_lookup_is_an_event_and_explains_a_session_the_client_gave_up_on() {
    let mut s = Scenario::new();
    let slow = s.dns(
        t("14:00:03.200"),
        lookup(CLIENT, GMAIL, t("14:00:00"), ms(3200), GMAIL_IP),
    );
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].kind, EventKind::DnsSlow);
    assert!(
        slow[0].message.contains("took 3.2 s"),
        "{}",
        slow[0].message
    );
    let mut session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:03.300"))
        .ends(t("14:00:04"))
        .closed(Close::Fin, Some(Side::Client));
    session.0.bytes_from_server = 0;
    session.0.tls_handshake = None;
    session.0.app = Default::default();
    let e = s.ended(t("14:00:05"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::DnsSlow,
        Credentials::NotAtFault,
        &["took 3.2 s (threshold 2.0 s)"],
    );
}

// ---- server-slow / server-refused / tls-rejected ---------------------------------------------

/// The lab's slow server: TLS quick, LOGIN acknowledged but not answered, the client quits
/// at 7 s (the tracker cannot see a reply that never came; the quiet tail is the sign).
fn login_never_answered(id: u64, start: Timestamp) -> Session {
    let mut s = Session::imaps(id, CLIENT, "slow.mail.test", "198.51.100.13", start)
        .refused_login_shape(ms(40), ms(6850));
    s.0.slowest_reply = Some((ms(40), start.plus(ms(400))));
    s.0.last_reply_at = Some(start.plus(ms(400)));
    s.0.closed_by = Some(Side::Client);
    s.0.app.client_records = 3;
    s
}

#[test]
fn a_login_reply_the_client_gave_up_waiting_for_is_server_slow() {
    let mut s = Scenario::new();
    let e = s.ended(t("14:00:08"), &login_never_answered(1, t("14:00:00")));
    assert_verdict(
        only_session(&e),
        Verdict::ServerSlow,
        Credentials::NotAtFault,
        &[
            "closed 6.6 s after the server's last answer",
            "threshold 5.0 s",
        ],
    );
}

/// LIVE-FINDINGS F5: the server answers and closes a second after the client gave up; how long
/// the client waited is measured to its own close, not to the session's last packet.
#[test]
fn a_server_closing_after_the_client_gave_up_is_still_server_slow() {
    let mut s = Scenario::new();
    let start = t("14:00:00");
    let mut session = login_never_answered(1, start).ends(start.plus(ms(8030)));
    session.0.client_closed_at = Some(start.plus(ms(7000)));
    session.0.app.server_records += 2;
    let e = s.ended(start.plus(ms(8100)), &session);
    assert_verdict(
        only_session(&e),
        Verdict::ServerSlow,
        Credentials::NotAtFault,
        &["closed 6.6 s after the server's last answer"],
    );
}

#[test]
fn repeated_give_ups_are_server_slow_not_inferred_auth_rejected() {
    let mut s = Scenario::new();
    s.ended(t("14:00:08"), &login_never_answered(1, t("14:00:00")));
    let e = s.ended(t("14:00:18"), &login_never_answered(2, t("14:00:10")));
    assert_eq!(only_session(&e).verdict, Some(Verdict::ServerSlow));
}

/// LIVE-FINDINGS F9: probes failed during an earlier fault in the window and then recovered;
/// the path was healthy when this session failed, so the earlier failures do not veto.
#[test]
fn probe_failures_that_recovered_before_the_session_do_not_count_against_it() {
    let mut s = Scenario::new();
    let server = "198.51.100.13";
    s.probe(
        t("13:59:50"),
        probe_failed("slow.mail.test", server, ProbePhase::Dns, "timed out"),
    );
    s.probe(t("13:59:55"), probe_ok("slow.mail.test", server));
    let e = s.ended(t("14:00:08"), &login_never_answered(1, t("14:00:00")));
    assert_eq!(only_session(&e).verdict, Some(Verdict::ServerSlow));
}

/// A probe failing to connect while the session waited is an unhealthy path: not server-slow.
#[test]
fn a_probe_failing_while_the_session_waited_vetoes_server_slow() {
    let mut s = Scenario::new();
    let server = "198.51.100.13";
    s.probe(t("13:59:50"), probe_ok("slow.mail.test", server));
    s.probe(
        t("14:00:03"),
        probe_failed("slow.mail.test", server, ProbePhase::Connect, "timed out"),
    );
    let e = s.ended(t("14:00:08"), &login_never_answered(1, t("14:00:00")));
    assert_ne!(only_session(&e).verdict, Some(Verdict::ServerSlow));
}

/// The latest probe before the session failed, and the session itself did not get as far as
/// the probe's failing step: the path may be what failed, so not server-slow.
#[test]
fn a_probe_failing_at_a_step_the_session_never_passed_vetoes_server_slow() {
    let mut s = Scenario::new();
    let server = "198.51.100.13";
    s.probe(
        t("13:59:55"),
        probe_failed(
            "slow.mail.test",
            server,
            ProbePhase::Tls,
            "handshake timed out",
        ),
    );
    let mut session = login_never_answered(1, t("14:00:00"));
    session.0.app.handshake_done_at = None;
    let e = s.ended(t("14:00:08"), &session);
    assert_ne!(only_session(&e).verdict, Some(Verdict::ServerSlow));
}

/// A probe that failed at DNS during an earlier fault, with no probe since: the session's own
/// connection and handshake came later and prove the path, so the stale failure is no veto.
/// (Seen live: a DNS scenario's probe failure 38 s earlier turned a slow server into unknown.)
#[test]
fn a_session_that_connected_after_a_failed_probe_outranks_it() {
    let mut s = Scenario::new();
    let server = "198.51.100.13";
    s.probe(
        t("13:59:22"),
        probe_failed(
            "slow.mail.test",
            server,
            ProbePhase::Dns,
            "timed out after 4 s",
        ),
    );
    let e = s.ended(t("14:00:08"), &login_never_answered(1, t("14:00:00")));
    assert_eq!(only_session(&e).verdict, Some(Verdict::ServerSlow));
}

/// A probe that connected and shook hands, then waited in vain for the server's reply, reached
/// a slow server: that is no veto of server-slow (the lab's slow server does this to the probe).
#[test]
fn a_probe_timing_out_after_tls_does_not_veto_server_slow() {
    let mut s = Scenario::new();
    let server = "198.51.100.13";
    s.probe(t("13:59:50"), probe_ok("slow.mail.test", server));
    s.probe(
        t("14:00:03"),
        probe_failed(
            "slow.mail.test",
            server,
            ProbePhase::Logout,
            "timed out after 4 s",
        ),
    );
    let e = s.ended(t("14:00:08"), &login_never_answered(1, t("14:00:00")));
    assert_eq!(only_session(&e).verdict, Some(Verdict::ServerSlow));
}

#[test]
fn a_refused_login_after_a_long_penalty_delay_is_still_inferred_not_slow() {
    // Dovecot's auth penalty can hold a NO for several seconds; the session closes right after.
    let mut s = Scenario::new();
    for (id, start) in [(1, "14:00:00"), (2, "14:00:20")] {
        let session = Session::imaps(id, CLIENT, GMAIL, GMAIL_IP, t(start))
            .refused_login_shape(ms(8000), ms(8200));
        s.ended(t(start).plus(secs(9)), &session);
    }
    let last = s.events.last().unwrap();
    assert_eq!(last.verdict, Some(Verdict::AuthRejected), "{last:#?}");
}

#[test]
fn a_plaintext_client_leaving_after_a_slow_greeting_is_server_slow() {
    let mut s = Scenario::new();
    let mut session = Session::imap_plain(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .ends(t("14:00:06.500"))
        .closed(Close::Fin, Some(Side::Client));
    session.0.greeting = Some(ms(6200));
    session.0.slowest_reply = None;
    session.0.last_reply_at = None;
    session.0.auth = crate::observe::record::AuthOutcome::Unknown;
    session.0.auth_reply = None;
    session.0.bytes_from_server = 120;
    let e = s.ended(t("14:00:07"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::ServerSlow,
        Credentials::NotAtFault,
        &["greeting took 6.2 s"],
    );
}

#[test]
fn a_slow_session_that_completed_is_ok_with_a_note() {
    let mut s = Scenario::new();
    let session = Session::imap_plain(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).reply(ms(6500));
    let e = s.ended(t("14:00:21"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::Ok,
        Credentials::Ok,
        &["completed despite"],
    );
}

#[test]
fn a_reset_instead_of_a_syn_ack_is_server_refused() {
    let mut s = Scenario::new();
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).refused();
    let e = s.ended(t("14:00:01"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::ServerRefused,
        Credentials::NotAtFault,
        &["connection refused"],
    );
}

#[test]
fn a_reset_after_the_greeting_is_server_refused() {
    let mut s = Scenario::new();
    let session =
        Session::imap_plain(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).server_reset(secs(2));
    let mut session = session;
    session.0.auth = crate::observe::record::AuthOutcome::Unknown;
    let e = s.ended(t("14:00:03"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::ServerRefused,
        Credentials::NotAtFault,
        &["reset the connection 2 s after it opened"],
    );
}

#[test]
fn a_protocol_version_alert_for_a_tls_1_0_client_is_tls_rejected_with_microsoft_advice() {
    let mut s = Scenario::new();
    let session = Session::imaps(1, CLIENT, OUTLOOK, OUTLOOK_IP, t("14:00:00"))
        .client_max(TlsVersion::TLS1_0)
        .alert(Side::Server, 70);
    let e = s.ended(t("14:00:01"), &session);
    let e = only_session(&e);
    assert_verdict(
        e,
        Verdict::TlsRejected,
        Credentials::NotAtFault,
        &[
            "TLS alert protocol_version (fatal) from the server",
            "at most TLS 1.0",
        ],
    );
    assert_eq!(
        e.session.as_ref().unwrap().tls_alert.as_deref(),
        Some("protocol_version")
    );
    assert!(e.advice.as_deref().unwrap().contains("TLS 1.0 and 1.1"));
}

#[test]
fn microsoft_closing_a_tls_1_0_session_at_once_is_tls_rejected() {
    let mut s = Scenario::new();
    let mut session = Session::imaps(1, CLIENT, OUTLOOK, OUTLOOK_IP, t("14:00:00"))
        .client_max(TlsVersion::TLS1_0)
        .tls_version(TlsVersion::TLS1_0)
        .refused_login_shape(ms(100), ms(400));
    session.0.app.client_records = 0;
    session.0.app.server_records = 1;
    let e = s.ended(t("14:00:01"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::TlsRejected,
        Credentials::NotAtFault,
        &["TLS 1.0 negotiated"],
    );
}

#[test]
fn a_server_reset_after_a_finished_exchange_is_ok() {
    // The lab's good IMAPS fetch: dovecot resets after LOGOUT because curl's close_notify
    // arrived after it closed (the manifest records close rst by the server, verdict ok).
    let mut s = Scenario::new();
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).server_reset(ms(83));
    let e = s.ended(t("14:00:01"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::Ok,
        Credentials::Unknown,
        &["finished exchange"],
    );
}

#[test]
fn a_normal_close_whose_last_data_was_not_yet_acknowledged_is_ok() {
    let mut s = Scenario::new();
    let mut session =
        Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).ends(t("14:00:04.174"));
    session.0.unanswered_since = Some(t("14:00:04.100"));
    session.0.retransmits_from_client = 1;
    let e = s.ended(t("14:00:05"), &session);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Ok));
}

#[test]
fn a_give_up_still_half_open_at_the_end_of_the_capture_is_server_slow() {
    let mut s = Scenario::new();
    let mut session = login_never_answered(1, t("14:00:00"));
    session.0.close = Close::Open;
    let e = s.ended(t("14:00:09"), &session);
    assert_eq!(only_session(&e).verdict, Some(Verdict::ServerSlow));
}

// ---- state-expired -------------------------------------------------------------------------

#[test]
fn data_unanswered_after_an_idle_gap_beyond_the_firewall_timeout_is_state_expired() {
    let mut s = Scenario::new();
    s.firewall_timeout(t("13:00:00"), secs(300));
    s.probe(t("14:30:10"), probe_ok(GMAIL, GMAIL_IP));
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).idle_then_stalled(
        secs(1800),
        t("14:30:05"),
        t("14:30:35"),
    );
    let e = s.ended(t("14:30:40"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::StateExpired,
        Credentials::NotAtFault,
        &[
            "idle for 1800 s",
            "your firewall forgets idle TCP sessions after 300 s (pfctl -st)",
        ],
    );
}

#[test]
fn an_idle_session_quiet_beyond_the_firewall_timeout_is_state_expired_while_open() {
    // The lab's IMAP IDLE case: conntrack forgets the session after 5 s; the capture ends with
    // the session open and quiet, the client unaware.
    let mut s = Scenario::new();
    s.firewall_timeout(t("13:00:00"), secs(5));
    let idle = Session::imap_plain(1, CLIENT, "imap.mail.test", "198.51.100.10", t("14:00:00"))
        .ends(t("14:00:01"))
        .open();
    let e = s.ended(t("14:00:40"), &idle);
    assert_verdict(
        only_session(&e),
        Verdict::StateExpired,
        Credentials::NotAtFault,
        &[
            "quiet for 39 s",
            "your firewall forgets idle TCP sessions after 5 s",
        ],
    );
    // Quiet for less than the timeout: nothing is wrong yet.
    let mut s = Scenario::new();
    s.firewall_timeout(t("13:00:00"), secs(300));
    let e = s.ended(t("14:00:40"), &idle);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Ok));
}

#[test]
fn a_long_quiet_gap_without_a_known_timeout_is_state_expired() {
    let mut s = Scenario::new();
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).idle_then_stalled(
        secs(900),
        t("14:15:05"),
        t("14:15:35"),
    );
    let e = s.ended(t("14:15:40"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::StateExpired,
        Credentials::NotAtFault,
        &["long quiet gap"],
    );
}

#[test]
fn a_short_idle_gap_with_a_failing_probe_is_upstream_unreachable_not_state_expired() {
    let mut s = Scenario::new();
    s.firewall_timeout(t("13:00:00"), secs(300));
    s.probe(
        t("14:00:40"),
        probe_failed(GMAIL, GMAIL_IP, ProbePhase::Connect, "timed out"),
    );
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).idle_then_stalled(
        secs(30),
        t("14:00:35"),
        t("14:00:50"),
    );
    let e = s.ended(t("14:00:55"), &session);
    assert_eq!(only_session(&e).verdict, Some(Verdict::UpstreamUnreachable));
}

// ---- ok, early verdicts, revisions ----------------------------------------------------------

#[test]
fn an_encrypted_session_that_completed_is_ok_with_unknown_credentials() {
    let mut s = Scenario::new();
    let e = s.ended(
        t("14:00:21"),
        &Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")),
    );
    assert_verdict(
        only_session(&e),
        Verdict::Ok,
        Credentials::Unknown,
        &["login outcome not visible"],
    );
    assert!(only_session(&e).advice.is_none());
}

#[test]
fn an_update_that_does_not_show_a_visible_stall_is_not_judged() {
    let mut s = Scenario::new();
    let open = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .open()
        .ends(t("14:00:05"));
    assert!(s.update(t("14:00:05"), &open).is_empty());
    // Unacknowledged for half a second: still nothing.
    let young = open
        .clone()
        .stalled(t("14:00:05.500"), 0, t("14:00:06"))
        .open();
    assert!(s.update(t("14:00:06"), &young).is_empty());
}

#[test]
fn an_early_verdict_revised_at_the_end_reports_once_more_and_counts_once() {
    let mut s = Scenario::new();
    let session =
        Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:03:10")).syns_unanswered(3, t("14:03:13"));
    let early = s.update(t("14:03:13"), &session.clone().open());
    assert_eq!(
        only_session(&early).verdict,
        Some(Verdict::UpstreamUnreachable)
    );
    // Another update of the same session: no second event.
    assert!(s.update(t("14:03:14"), &session.clone().open()).is_empty());
    // The burst probe then reached the server while the client was still trying: the end is
    // judged differently. (A probe after the client gave up would say nothing about it.)
    s.probe(t("14:03:13"), probe_ok(GMAIL, GMAIL_IP));
    let late = s.ended(t("14:03:40"), &session);
    let e = only_session(&late);
    assert_eq!(e.verdict, Some(Verdict::Unknown));
    assert!(e
        .evidence
        .iter()
        .any(|l| l.contains("revises the verdict upstream-unreachable given at 14:03:13")));
    let status = s.engine.status();
    assert_eq!(status.counters.sessions, 1);
    assert_eq!(status.counters.sessions_by_verdict.get("unknown"), Some(&1));
    assert_eq!(
        status
            .counters
            .sessions_by_verdict
            .get("upstream-unreachable"),
        Some(&0)
    );
    let clients = s.engine.clients();
    assert_eq!(clients[0].sessions, 1);
    assert_eq!(clients[0].last_verdict, Some(Verdict::Unknown));
}

#[test]
fn a_session_open_at_the_end_of_a_capture_with_a_stall_is_not_ok() {
    let mut s = Scenario::new();
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .stalled(t("14:00:10"), 3, t("14:00:20"))
        .open();
    let e = s.ended(t("14:00:21"), &session);
    let e = only_session(&e);
    assert_ne!(e.verdict, Some(Verdict::Ok));
    assert_eq!(e.session.as_ref().unwrap().close, Close::Open);
}

// ---- network events ------------------------------------------------------------------------

#[test]
fn probe_transitions_make_failed_slow_and_recovered_events_naming_the_phase() {
    let mut s = Scenario::new();
    assert!(s.probe(t("14:00:00"), probe_ok(GMAIL, GMAIL_IP)).is_empty());
    let failed = s.probe(
        t("14:00:30"),
        probe_failed(GMAIL, GMAIL_IP, ProbePhase::Tls, "alert protocol_version"),
    );
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, EventKind::ProbeFailed);
    assert_eq!(failed[0].severity, Severity::Warning);
    assert!(
        failed[0]
            .message
            .contains("failed at the tls step (alert protocol_version)"),
        "{}",
        failed[0].message
    );
    assert!(s
        .probe(
            t("14:01:00"),
            probe_failed(GMAIL, GMAIL_IP, ProbePhase::Tls, "x")
        )
        .is_empty());
    let slow = s.probe(
        t("14:01:30"),
        probe_slow(GMAIL, GMAIL_IP, ProbePhase::Greeting, ms(7000)),
    );
    assert_eq!(slow[0].kind, EventKind::ProbeSlow);
    assert!(
        slow[0].message.contains("greeting step (7.0 s)"),
        "{}",
        slow[0].message
    );
    let back = s.probe(t("14:02:00"), probe_ok(GMAIL, GMAIL_IP));
    assert_eq!(back[0].kind, EventKind::ProbeRecovered);
    assert_eq!(back[0].severity, Severity::Notice);
    assert!(
        back[0].message.contains("after 90 s"),
        "{}",
        back[0].message
    );
    let status = s.engine.status();
    assert_eq!(status.probes[0].state, "ok");
    assert_eq!(status.probes[0].last_ok, Some(t("14:02:00")));
}

#[test]
fn gateway_loss_has_hysteresis() {
    let mut s = Scenario::new();
    assert!(s.gateway(t("14:00:00"), 0.0).is_empty());
    let loss = s.gateway(t("14:00:01"), 35.0);
    assert_eq!(loss[0].kind, EventKind::GatewayLoss);
    assert!(loss[0].message.contains("35%"));
    assert!(
        s.gateway(t("14:00:02"), 5.0).is_empty(),
        "between the levels nothing changes"
    );
    let back = s.gateway(t("14:00:05"), 0.0);
    assert_eq!(back[0].kind, EventKind::GatewayRecovered);
    assert_eq!(back[0].severity, Severity::Notice);
}

#[test]
fn ids_increase_from_the_first_id() {
    let mut s = Scenario::new();
    s.engine = super::Engine::new(DiagnosisConfig::default(), 100);
    s.feed(
        t("14:00:00"),
        ObservationKind::WanInterfaces(vec!["wan0".into()]),
    );
    s.wan_up(t("14:00:00"));
    let mut ids = Vec::new();
    ids.extend(s.wan_down(t("14:00:01")).iter().map(|e| e.id));
    ids.extend(s.wan_up(t("14:00:02")).iter().map(|e| e.id));
    let session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"));
    ids.extend(s.ended(t("14:00:21"), &session).iter().map(|e| e.id));
    assert_eq!(ids, vec![100, 101, 102]);
}

#[test]
fn link_changes_of_a_lan_interface_are_not_wan_events() {
    let mut s = Scenario::new();
    let out = s.link(
        t("14:00:00"),
        LinkChange::LinkDown {
            interface: "igb1".into(),
        },
    );
    assert!(out.is_empty());
    assert_eq!(s.engine.status().wan.state, "up");
}

#[test]
fn without_configured_wan_interfaces_the_default_route_carrier_is_the_wan() {
    let mut s = Scenario::new();
    s.engine = super::Engine::new(DiagnosisConfig::default(), 1);
    s.link(
        t("14:00:00"),
        LinkChange::LinkUp {
            interface: "pppoe0".into(),
        },
    );
    s.link(
        t("14:00:00"),
        LinkChange::DefaultRouteAdded {
            interface: Some("pppoe0".into()),
            gateway: None,
        },
    );
    let down = s.link(
        t("14:00:10"),
        LinkChange::LinkDown {
            interface: "pppoe0".into(),
        },
    );
    assert_eq!(down[0].kind, EventKind::WanDown);
    assert_eq!(s.engine.status().wan.state, "down");
}

// ---- status, clients, explain ----------------------------------------------------------------

#[test]
fn status_reports_wan_probes_and_counters_by_verdict() {
    let mut s = Scenario::new();
    s.probe(
        t("14:00:00"),
        probe_failed(GMAIL, GMAIL_IP, ProbePhase::Connect, "refused"),
    );
    s.ended(
        t("14:00:21"),
        &Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")),
    );
    s.ended(
        t("14:00:31"),
        &Session::imaps(2, CLIENT, GMAIL, GMAIL_IP, t("14:00:30")).refused(),
    );
    s.wan_down(t("14:01:00"));
    let status = s.engine.status();
    assert_eq!(status.wan.state, "down");
    assert_eq!(status.wan.interfaces[0].name, "wan0");
    assert_eq!(status.wan.interfaces[0].addresses, vec![ip("198.51.100.7")]);
    assert_eq!(status.probes[0].state, "failed");
    assert_eq!(status.probes[0].consecutive_failures, 1);
    assert_eq!(status.counters.sessions, 2);
    assert_eq!(status.counters.sessions_by_verdict.get("ok"), Some(&1));
    assert_eq!(
        status.counters.sessions_by_verdict.get("server-refused"),
        Some(&1)
    );
    assert_eq!(status.counters.wan_transitions, 1);
    assert_eq!(status.counters.events, s.events.len() as u64);
}

#[test]
fn clients_lists_each_client_with_its_last_verdict_most_recent_first() {
    let mut s = Scenario::new();
    s.ended(
        t("14:00:21"),
        &Session::imaps(1, "192.168.1.50", GMAIL, GMAIL_IP, t("14:00:00")),
    );
    s.ended(
        t("14:01:01"),
        &Session::imaps(2, CLIENT, GMAIL, GMAIL_IP, t("14:01:00")).refused(),
    );
    let clients = s.engine.clients();
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[0].client, ip(CLIENT));
    assert_eq!(clients[0].last_verdict, Some(Verdict::ServerRefused));
    assert_eq!(clients[0].failures, 1);
    assert_eq!(clients[1].last_verdict, Some(Verdict::Ok));
    assert_eq!(clients[1].failures, 0);
}

#[test]
fn explain_tells_the_wan_outage_story_in_time_order() {
    let (s, _) = wan_outage_story();
    let story = s.engine.explain(ip(CLIENT)).story;
    let expected = [
        "Times are UTC.",
        "At 14:03:12 the WAN link wan0 went down for 29 s.",
        "The IMAP session from 192.168.1.23 to outlook.office365.com was waiting for an answer and gave up at 14:03:33.",
        "It failed because the WAN link was down.",
        "The password it then asked for was not the problem.",
    ];
    assert_eq!(story, expected, "{story:#?}");
    assert_eq!(s.engine.explain(ip(CLIENT)).events.len(), 2);
}

#[test]
fn explain_of_a_session_still_open_does_not_say_it_gave_up() {
    let mut s = Scenario::new();
    s.wan_down(t("14:03:12"));
    let open = Session::imaps(7, CLIENT, OUTLOOK, OUTLOOK_IP, t("14:03:05"))
        .stalled(t("14:03:14"), 2, t("14:03:15"))
        .open();
    s.update(t("14:03:16"), &open);
    let story = s.engine.explain(ip(CLIENT)).story;
    assert_eq!(
        story[1],
        "At 14:03:12 the WAN link wan0 went down, and it is still down."
    );
    assert_eq!(
        story[2],
        "The IMAP session from 192.168.1.23 to outlook.office365.com had been waiting for an \
         answer since 14:03:14 (still open at 14:03:16)."
    );
}

#[test]
fn explain_joins_dns_probe_and_session_and_ignores_other_clients() {
    let mut s = Scenario::new();
    s.dns(
        t("14:00:00"),
        lookup_rcode(CLIENT, GMAIL, t("14:00:00"), Rcode::SERVFAIL),
    );
    s.probe(t("14:00:01"), probe_ok(GMAIL, GMAIL_IP));
    s.probe(
        t("14:00:02"),
        probe_failed(GMAIL, GMAIL_IP, ProbePhase::Dns, "SERVFAIL"),
    );
    s.ended(
        t("14:00:21"),
        &Session::imaps(9, "192.168.1.50", GMAIL, GMAIL_IP, t("14:00:00")),
    );
    let story = s.engine.explain(ip(CLIENT)).story;
    assert_eq!(story.len(), 3, "{story:#?}");
    assert!(story[1].starts_with("At 14:00:00 this client's DNS lookup of imap.gmail.com failed"));
    assert!(story[2].starts_with(
        "At 14:00:02 the router's own check of imaps://imap.gmail.com failed at the dns step"
    ));
    let unknown = s.engine.explain(ip("10.9.9.9")).story;
    assert!(unknown[0].contains("No mail sessions"));
}

#[test]
fn the_session_object_carries_every_field_with_millisecond_rounding() {
    let mut s = Scenario::new();
    let mut session =
        Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).ends(t("14:00:20.0006"));
    session.0.tcp_connect = Some(Duration::from_micros(30_499));
    session.0.tls_handshake = Some(Duration::from_micros(120_500));
    let e = s.ended(t("14:00:21"), &session);
    let view = only_session(&e).session.clone().unwrap();
    assert_eq!(view.object_type, "session");
    assert_eq!(view.duration_ms, 20_001);
    assert_eq!(view.tcp_connect_ms, Some(30));
    assert_eq!(view.tls_handshake_ms, Some(121));
    assert_eq!(view.client_port, session.0.client.port());
    assert_eq!(view.server_port, 993);
    assert_eq!(view.tls_version, Some(TlsVersion::TLS1_2));
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["closed_by"], "client");
    assert_eq!(json["verdict"], "ok");
    assert_eq!(json["start"], "2026-11-22T14:00:00.000Z");
}

// ---- boundedness ---------------------------------------------------------------------------

#[test]
fn a_flood_of_observations_keeps_every_structure_capped() {
    use super::clients::{MAX_CLIENTS, MAX_CLIENT_HISTORY, MAX_NETWORK_HISTORY};
    use super::world::{
        MAX_ADDRESSES, MAX_DNS, MAX_GATEWAYS, MAX_GATEWAY_SAMPLES, MAX_INTERFACES, MAX_NAT_CHANGES,
        MAX_OUTAGES, MAX_PROBE_HISTORY, MAX_TARGETS,
    };
    // A tenth of the run already overflows every cap (the largest, MAX_JUDGED, is 8 192 sessions);
    // `scripts/check` sets MAILPULSE_FULL_SCALE for the full million.
    let observations: u64 = if std::env::var_os("MAILPULSE_FULL_SCALE").is_some() {
        1_000_000
    } else {
        100_000
    };
    let mut s = Scenario::new();
    let mut now = t("14:00:00");
    for i in 0..observations {
        now = now.plus(ms(7));
        let client = format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        let kind = match i % 10 {
            0 => {
                let session = Session::imaps(
                    i,
                    &client,
                    &format!("imap.host{}.example", i % 5000),
                    GMAIL_IP,
                    now,
                )
                .syns_unanswered(3, now.plus(secs(3)))
                .open();
                ObservationKind::SessionUpdate(session.0)
            }
            1 => ObservationKind::SessionEnded(
                Session::imaps(i, &client, GMAIL, GMAIL_IP, now)
                    .refused_login_shape(ms(300), ms(900))
                    .0,
            ),
            // The previous session's client: a client known only from DNS lookups does not
            // push clients with verdicts out of the table.
            2 => ObservationKind::DnsLookup(lookup_timeout(
                &format!(
                    "10.{}.{}.{}",
                    (i >> 16) & 0xff,
                    (i >> 8) & 0xff,
                    (i - 1) & 0xff
                ),
                &format!("imap.n{i}.example"),
                now,
                1,
            )),
            3 => ObservationKind::Probe(probe_failed(
                &format!("h{}.example", i % 500),
                GMAIL_IP,
                ProbePhase::Connect,
                "x",
            )),
            4 => ObservationKind::Probe(probe_ok(&format!("h{}.example", i % 500), GMAIL_IP)),
            5 => ObservationKind::Gateway(crate::observe::observation::GatewaySample {
                gateway: format!("GW{}", i % 40),
                latency: None,
                stddev: None,
                loss_percent: if i % 20 == 5 { 50.0 } else { 0.0 },
            }),
            6 => ObservationKind::Link(if i % 20 == 6 {
                LinkChange::LinkDown {
                    interface: "wan0".into(),
                }
            } else {
                LinkChange::LinkUp {
                    interface: "wan0".into(),
                }
            }),
            7 => ObservationKind::Link(LinkChange::AddressRemoved {
                interface: if i % 20 == 7 {
                    "wan0".into()
                } else {
                    format!("if{}", i % 100)
                },
                address: ip("198.51.100.7"),
            }),
            8 => ObservationKind::Link(LinkChange::AddressAdded {
                interface: "wan0".into(),
                address: if i % 20 == 8 {
                    ip("198.51.100.7")
                } else {
                    std::net::IpAddr::V6(std::net::Ipv6Addr::from(u128::from(i)))
                },
            }),
            9 if i % 20 == 9 => ObservationKind::SessionEnded(
                // A session that went on, to ever more servers: what they answered is learnt.
                Session::imaps(
                    i,
                    &client,
                    GMAIL,
                    &format!("172.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff),
                    now,
                )
                .exchanges(&[(40, 200, 1), (60, 400, 5), (40, 300, 2), (40, 9000, 3)])
                .0,
            ),
            9 => ObservationKind::SessionEnded(
                // ...and to one server, many times.
                Session::imaps(i, &client, GMAIL, GMAIL_IP, now)
                    .exchanges(&[(40, 200, 1), (60, 400, 5), (40, 300, 2)])
                    .0,
            ),
            _ => ObservationKind::Tick,
        };
        s.engine
            .observe(crate::observe::observation::Observation { time: now, kind });
    }
    let caps = [
        ("interfaces", MAX_INTERFACES),
        ("outages", MAX_OUTAGES),
        ("nat_changes", MAX_NAT_CHANGES),
        ("gateways", MAX_GATEWAYS),
        ("gateway_samples", MAX_GATEWAY_SAMPLES),
        ("targets", MAX_TARGETS),
        ("probe_history", MAX_PROBE_HISTORY),
        ("dns", MAX_DNS),
        ("clients", MAX_CLIENTS),
        ("client_history", MAX_CLIENT_HISTORY),
        ("network", MAX_NETWORK_HISTORY),
        ("judged", super::MAX_JUDGED),
        ("judged_order", super::MAX_JUDGED),
        ("shapes", super::MAX_SHAPES),
        ("reply_servers", super::replies::MAX_SERVERS),
        ("reply_sessions_max", super::replies::MAX_PER_SERVER),
        ("answer_servers", super::replies::MAX_SERVERS),
        ("answer_times_max", super::replies::MAX_PER_SERVER),
        ("answered_ports", super::MAX_ANSWERED_PORTS),
        ("session_names", super::MAX_SESSION_NAMES),
        ("session_name_set", super::MAX_SESSION_NAMES),
        ("dns_recent", super::MAX_DNS_RECENT),
        ("verdict_counters", Verdict::ALL.len()),
    ];
    let sizes = s.engine.sizes();
    for (name, cap) in caps {
        let size = sizes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let size = size.unwrap_or_else(|| panic!("no size reported for {name}"));
        assert!(size <= cap, "{name}: {size} > {cap}");
        assert!(
            size > 0 || name == "judged" || name == "judged_order",
            "{name} was never exercised"
        );
    }
    assert_eq!(
        sizes.len(),
        caps.len(),
        "every structure is checked: {sizes:?}"
    );
    let addresses = s.engine.status().wan.interfaces[0].addresses.len();
    assert!(addresses <= MAX_ADDRESSES, "{addresses}");
}

// ---- the refused-login inference on encrypted sessions ---------------------------------------

/// Python's imaplib against dovecot over IMAPS (tests/data/imaps-imaplib-wrong-password.pcap):
/// CAPABILITY, LOGIN, LOGOUT; the server's TLS 1.3 tickets, greeting and capability replies make
/// nine records, more than the narrow shape's eight; the NO came 2 s after the LOGIN.
fn imaplib_refused(id: u64, start: Timestamp, reply: Duration) -> Session {
    let mut s = Session::imaps(id, CLIENT, "imap.mail.test", "198.51.100.10", start)
        .refused_login_shape(reply, reply.saturating_add(ms(5)))
        .exchanges(&[
            (40, 214, 0),
            (60, 78, reply.as_millis() as u64),
            (36, 115, 0),
        ]);
    s = s.app_counts(3, 121, 9, 1048);
    s
}

#[test]
fn a_delayed_refusal_from_a_chatty_server_is_never_ok_and_is_inferred_when_repeated() {
    let mut s = Scenario::new();
    let first = imaplib_refused(1, t("14:00:00"), ms(2000));
    let e = s.ended(t("14:00:03"), &first);
    assert_verdict(
        only_session(&e),
        Verdict::Unknown,
        Credentials::Unknown,
        &[
            "a refused login looks like this",
            "9 server records",
            "the server took 2.0 s to answer request 2 of 3",
            "closed by the server (FIN)",
        ],
    );
    let second = imaplib_refused(2, t("14:00:05"), ms(6000));
    let e = s.ended(t("14:00:12"), &second);
    assert_verdict(
        &e[0],
        Verdict::AuthRejected,
        Credentials::Rejected,
        &[
            "inferred from the session's shape",
            "2 sessions of this shape",
        ],
    );
}

#[test]
fn a_delay_that_the_path_shares_is_not_a_refusal_sign() {
    // A congested line: the handshake took as long as the slow reply.
    let mut s = Scenario::new();
    for (id, start) in [(1, "14:00:00"), (2, "14:00:10")] {
        let mut session = imaplib_refused(id, t(start), ms(2000));
        session.0.tls_handshake = Some(ms(1100));
        // More server records than the chatty weak shape allows: only the delay could make it
        // a refusal with a sign (status lines only still make it a weak shape).
        session.0.app.server_records = WEAK_SHAPE_MAX_SERVER_RECORDS + 1;
        let e = s.ended(t(start).plus(secs(3)), &session);
        let event = only_session(&e);
        assert_eq!(event.verdict, Some(Verdict::Unknown), "{e:#?}");
        assert!(
            !event.evidence.iter().any(|l| l.contains("the server took")),
            "{e:#?}"
        );
    }
}

/// A session that went on past the login: CAPABILITY, LOGIN (answered with 431 bytes), SELECT,
/// FETCH..., to the same server.
fn went_on(id: u64, start: Timestamp) -> Session {
    let mut s = Session::imaps(id, CLIENT, "imap.mail.test", "198.51.100.10", start).exchanges(&[
        (40, 214, 0),
        (60, 431, 4),
        (43, 323, 5),
        (40, 9000, 3),
    ]);
    s.0.app.client_records = 9;
    s
}

#[test]
fn a_login_reply_unlike_the_servers_usual_one_is_a_refusal_sign() {
    let mut s = Scenario::new();
    s.ended(t("13:59:00"), &went_on(1, t("13:58:30")));
    // This server answers a refusal at once; its reply has another size than the usual one.
    for (id, start) in [(2, "14:00:00"), (3, "14:00:10")] {
        let session = imaplib_refused(id, t(start), ms(2)).exchanges(&[
            (40, 214, 0),
            (60, 78, 2),
            (36, 115, 0),
        ]);
        s.ended(t(start).plus(secs(1)), &session);
    }
    let last = &s.events[s.events.len() - 2];
    assert_verdict(
        last,
        Verdict::AuthRejected,
        Credentials::Rejected,
        &["the server answered request 2 with 78 bytes, where it answered the same request with 431 bytes in a session that went on"],
    );
}

#[test]
fn a_short_login_and_logout_answered_as_usual_stays_ok() {
    let mut s = Scenario::new();
    s.ended(t("13:59:00"), &went_on(1, t("13:58:30")));
    for (id, start) in [(2, "14:00:00"), (3, "14:00:10")] {
        let session = imaplib_refused(id, t(start), ms(2)).exchanges(&[
            (40, 214, 0),
            (60, 431, 4),
            (36, 115, 0),
        ]);
        let e = s.ended(t(start).plus(secs(1)), &session);
        assert_eq!(only_session(&e).verdict, Some(Verdict::Ok), "{e:#?}");
    }
}

#[test]
fn smtp_submission_refused_for_want_of_a_login_is_not_ok_and_not_a_rejected_password() {
    let mut s = Scenario::new();
    let mut session = Session::imap_plain(1, CLIENT, "smtp.example.org", GMAIL_IP, t("14:00:00"))
        .ends(t("14:00:01"))
        .closed(Close::Fin, Some(Side::Client));
    session.0.server = std::net::SocketAddr::new(ip(GMAIL_IP), 587);
    session.0.protocol = crate::observe::record::Protocol::Smtp;
    session.0.auth = crate::observe::record::AuthOutcome::Unknown;
    session.0.auth_reply = Some("530 5.7.0 Must issue a STARTTLS command first".into());
    session.0.login_required = true;
    let e = s.ended(t("14:00:01"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::Unknown,
        Credentials::Unknown,
        &[
            "the server would not go on before a login: 530 5.7.0 Must issue a STARTTLS command first",
            "no password was tried",
        ],
    );
}

#[test]
fn a_reset_on_a_session_picked_up_without_a_plausible_start_is_not_server_refused() {
    let mut s = Scenario::new();
    let mut session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).server_reset(ms(5));
    session.0.syns_from_client = 0;
    session.0.tcp_connect = None;
    session.0.bytes_from_client = 0;
    session.0.packets_from_client = 0;
    let e = s.ended(t("14:00:01"), &session);
    assert_ne!(
        only_session(&e).verdict,
        Some(Verdict::ServerRefused),
        "{e:#?}"
    );
}

#[test]
fn a_plaintext_session_without_a_login_does_not_speak_of_one() {
    let mut s = Scenario::new();
    let mut session = Session::imap_plain(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"));
    session.0.auth = crate::observe::record::AuthOutcome::Unknown;
    session.0.auth_reply = None;
    let e = s.ended(t("14:00:21"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::Ok,
        Credentials::Unknown,
        &["no login in this session"],
    );
    assert!(!only_session(&e)
        .evidence
        .iter()
        .any(|l| l.contains("login outcome")));
}

/// A plaintext client that paused on its own (nothing asked of the server) and then closed:
/// the quiet tail is the client's, not a server too slow to answer.
#[test]
fn a_plaintext_client_closing_after_its_own_pause_is_not_server_slow() {
    let mut s = Scenario::new();
    let mut session = Session::imap_plain(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"))
        .closed(Close::Fin, Some(Side::Client));
    session.0.auth = crate::observe::record::AuthOutcome::Unknown;
    session.0.auth_reply = None;
    session.0.bytes_from_server = 300;
    session.0.slowest_reply = Some((ms(20), t("14:00:01")));
    session.0.last_reply_at = Some(t("14:00:01"));
    session.0.end = t("14:00:31");
    session.0.client_waiting_at_close = None;
    let e = s.ended(t("14:00:31"), &session);
    assert_ne!(
        only_session(&e).verdict,
        Some(Verdict::ServerSlow),
        "{e:#?}"
    );
    // The same with a request outstanding when the client closed is the client giving up.
    let mut s = Scenario::new();
    session.0.client_waiting_at_close = Some(t("14:00:02"));
    let e = s.ended(t("14:00:31"), &session);
    assert_eq!(
        only_session(&e).verdict,
        Some(Verdict::ServerSlow),
        "{e:#?}"
    );
}

/// A port dropped on the way while the same host answers on another: the host is up and the
/// port is blocked — not an unreachable upstream.
#[test]
fn syns_dropped_on_one_port_while_the_host_answers_another_are_a_blocked_port() {
    let mut s = Scenario::new();
    s.ended(
        t("14:00:05"),
        &Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00")).ends(t("14:00:05")),
    );
    let mut blocked =
        Session::imaps(2, CLIENT, GMAIL, GMAIL_IP, t("14:00:10")).syns_unanswered(3, t("14:00:13"));
    blocked.0.server = std::net::SocketAddr::new(ip(GMAIL_IP), 587);
    let e = s.ended(t("14:00:40"), &blocked);
    assert_verdict(
        only_session(&e),
        Verdict::ServerRefused,
        Credentials::NotAtFault,
        &[
            "3 SYNs, no answer",
            "answered a connection on port 993 at 14:00:00",
            "port 587 is blocked",
        ],
    );
    // Alone, the same silence is an unreachable upstream.
    let mut s = Scenario::new();
    let e = s.ended(t("14:00:40"), &blocked);
    assert_eq!(only_session(&e).verdict, Some(Verdict::UpstreamUnreachable));
}

#[test]
fn another_clients_session_that_went_on_is_no_measure_of_this_clients_replies() {
    // Another app on another host sends other commands in the same order and sizes close to
    // these (POP3's CAPA and USER): its replies say nothing about this client's login.
    let mut s = Scenario::new();
    let mut other = went_on(1, t("13:58:30"));
    other.0.client = std::net::SocketAddr::new(ip("192.168.1.99"), 50001);
    s.ended(t("13:59:00"), &other);
    let mut session = imaplib_refused(2, t("14:00:00"), ms(2)).exchanges(&[
        (40, 214, 0),
        (60, 78, 2),
        (36, 115, 0),
    ]);
    session.0.app.server_records = WEAK_SHAPE_MAX_SERVER_RECORDS + 1;
    let e = s.ended(t("14:00:01"), &session);
    let event = only_session(&e);
    // Status lines only after CAPABILITY: a weak shape, but no reply-size sign.
    assert_eq!(event.verdict, Some(Verdict::Unknown), "{e:#?}");
    assert!(
        !event
            .evidence
            .iter()
            .any(|l| l.contains("in a session that went on")),
        "{e:#?}"
    );
}

#[test]
fn a_client_that_resets_right_after_its_goodbye_still_has_the_refused_login_shape() {
    // fetchmail after `-ERR`: QUIT, close_notify, then a reset a moment later; the
    // close_notify is never acknowledged. That is no stall.
    let mut s = Scenario::new();
    let mut session = imaplib_refused(1, t("14:00:00"), ms(3));
    session.0.close = Close::Rst;
    session.0.closed_by = Some(Side::Client);
    session.0.unanswered_since = Some(session.0.end.minus(ms(1)));
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_verdict(
        only_session(&e),
        Verdict::Unknown,
        Credentials::Unknown,
        &["a refused login looks like this"],
    );
}

#[test]
fn two_login_answers_held_back_in_one_session_are_a_repeated_refusal() {
    // A client that tries a second mechanism after the first is refused (AUTHENTICATE, then
    // LOGIN): the server holds back both answers.
    let mut s = Scenario::new();
    let mut session = Session::imaps(1, CLIENT, "imap.mail.test", "198.51.100.10", t("14:00:00"))
        .refused_login_shape(ms(3000), ms(6500))
        .exchanges(&[(40, 214, 0), (60, 60, 3000), (45, 55, 3000), (36, 115, 0)]);
    session = session.app_counts(4, 181, 9, 900);
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_verdict(
        only_session(&e),
        Verdict::AuthRejected,
        Credentials::Rejected,
        &["held back 2 of this session's login answers"],
    );
}

#[test]
fn one_login_answer_held_back_is_not_yet_a_repeat() {
    let mut s = Scenario::new();
    let session = imaplib_refused(1, t("14:00:00"), ms(2000));
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
}

#[test]
fn a_weak_shape_is_never_ok_and_never_concluded_even_when_repeated() {
    // CAPABILITY, LOGIN, LOGOUT answered with nine records at once: a refusal on a server
    // that does not delay it, or a short accepted login. Not `ok`, and not blamed on the
    // password when a polling client does it again.
    let mut s = Scenario::new();
    for (id, start) in [(1, "14:00:00"), (2, "14:01:00"), (3, "14:02:00")] {
        let session = imaplib_refused(id, t(start), ms(3));
        let e = s.ended(session.0.end.plus(secs(1)), &session);
        assert_verdict(
            only_session(&e),
            Verdict::Unknown,
            Credentials::Unknown,
            &["so does a short accepted login"],
        );
    }
}

#[test]
fn a_client_that_leaves_after_its_data_stalled_and_got_no_answer_is_not_ok() {
    // A message being sent when the line went down: the client's data was retransmitted for
    // 4 s until the path came back, then the user stopped; the server answered nothing more.
    let mut s = Scenario::new();
    let mut session = Session::imaps(1, CLIENT, GMAIL, GMAIL_IP, t("14:00:00"));
    let rec = &mut session.0;
    rec.longest_stall = Some((t("14:00:02"), secs(4)));
    rec.retransmits_from_client = 5;
    rec.last_reply_at = Some(t("14:00:01"));
    rec.closed_by = Some(Side::Client);
    rec.close = Close::Fin;
    rec.end = t("14:00:10");
    let e = s.ended(t("14:00:11"), &session);
    assert_verdict(
        only_session(&e),
        Verdict::UpstreamUnreachable,
        Credentials::NotAtFault,
        &["then the client closed without another answer from the server"],
    );
    // The same stall followed by the server's answer is a path that recovered: ok.
    let mut answered = Session::imaps(2, CLIENT, GMAIL, GMAIL_IP, t("14:01:00"));
    answered.0.longest_stall = Some((t("14:01:02"), secs(4)));
    answered.0.retransmits_from_client = 5;
    answered.0.last_reply_at = Some(t("14:01:07"));
    let e = s.ended(t("14:01:30"), &answered);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Ok), "{e:#?}");
}

#[test]
fn the_close_is_timed_from_the_servers_last_answer_when_two_are_held_back_alike() {
    // iOS Mail's AUTHENTICATE then LOGIN, each answer held back 5 s: the first is the slowest
    // by a millisecond, and the session closed 5 s after it but at once after the second.
    let mut s = Scenario::new();
    let mut session = Session::imaps(1, CLIENT, "imap.mail.test", "198.51.100.10", t("14:00:00"))
        .refused_login_shape(ms(5004), ms(10_020))
        .exchanges(&[(36, 199, 0), (56, 42, 5004), (58, 42, 5003), (32, 110, 0)]);
    session = session.app_counts(4, 182, 8, 700);
    session.0.last_reply_at = Some(session.0.end.minus(ms(5)));
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_eq!(
        only_session(&e).verdict,
        Some(Verdict::AuthRejected),
        "{e:#?}"
    );
}

#[test]
fn a_good_login_held_back_after_a_refusal_is_not_blamed_on_the_password() {
    // The user fixes a typo: the server still holds back this address's next login (dovecot's
    // penalty), then the client selects the mailbox and fetches a message.
    let mut s = Scenario::new();
    let first = imaplib_refused(1, t("14:00:00"), ms(2000));
    s.ended(first.0.end.plus(secs(1)), &first);
    let mut good = Session::imaps(2, CLIENT, "imap.mail.test", "198.51.100.10", t("14:00:08"))
        .refused_login_shape(ms(4000), ms(4100))
        .exchanges(&[
            (39, 213, 0),
            (76, 430, 4000),
            (41, 363, 3),
            (52, 2000, 0),
            (35, 120, 1),
        ]);
    good = good.app_counts(6, 237, 14, 3200);
    good.0.last_reply_at = Some(good.0.end.minus(ms(5)));
    let e = s.ended(good.0.end.plus(secs(1)), &good);
    let event = only_session(&e);
    assert_ne!(event.verdict, Some(Verdict::AuthRejected), "{e:#?}");
    assert_ne!(event.credentials, Some(Credentials::Rejected), "{e:#?}");
}

/// A POP3 client's refused login on a server that answers at once: CAPA, USER, PASS (its
/// `-ERR` after `login_wait`), QUIT, close_notify — a login's worth of requests answered with
/// status lines only.
fn pop3s_refused(id: u64, start: Timestamp, login_wait: Duration) -> Session {
    let wait = login_wait.as_millis() as u64;
    let mut s = Session::imaps(id, CLIENT, "pop.mail.test", "198.51.100.11", start)
        .refused_login_shape(login_wait, login_wait.saturating_add(ms(5)))
        .exchanges(&[
            (28, 111, 0),
            (34, 27, 0),
            (45, 58, wait),
            (28, 39, 0),
            (24, 24, 0),
        ]);
    s.0.closed_by = Some(Side::Client);
    s = s.app_counts(5, 134, 8, 830);
    s
}

#[test]
fn a_refusal_answered_at_once_with_status_lines_is_never_ok() {
    let mut s = Scenario::new();
    let session = pop3s_refused(1, t("14:00:00"), ms(500));
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    let event = only_session(&e);
    assert_verdict(
        event,
        Verdict::Unknown,
        Credentials::Unknown,
        &["5 client records", "so does a short accepted login"],
    );
    // Its sentence and the client's story say what it looks like, not that it failed.
    assert!(
        event.message.contains("ended as a refused login does")
            && !event.message.contains("failed"),
        "{}",
        event.message
    );
    let story = s.engine.explain(ip(CLIENT)).story.join(" ");
    assert!(
        story.contains("It ended as a refused login does") && !story.contains("failed because"),
        "{story}"
    );
}

#[test]
fn two_quick_refusals_answered_alike_are_still_not_concluded() {
    // Two sessions answered alike at once: two refusals, or a polling client's two short
    // accepted logins. Nothing says which.
    let mut s = Scenario::new();
    for (id, start) in [(1, "14:00:00"), (2, "14:01:00")] {
        let session = pop3s_refused(id, t(start), ms(500));
        let e = s.ended(session.0.end.plus(secs(1)), &session);
        assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
    }
}

#[test]
fn a_quick_refusal_answered_like_a_delayed_one_is_a_repeat_either_way_round() {
    for (first_wait, second_wait) in [(ms(500), ms(4500)), (ms(4500), ms(500))] {
        let mut s = Scenario::new();
        let first = pop3s_refused(1, t("14:00:00"), first_wait);
        let e = s.ended(first.0.end.plus(secs(1)), &first);
        assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
        let second = pop3s_refused(2, t("14:00:10"), second_wait);
        let e = s.ended(second.0.end.plus(secs(1)), &second);
        assert_verdict(
            &e[0],
            Verdict::AuthRejected,
            Credentials::Rejected,
            &["2 sessions of this shape", "answered these sessions alike"],
        );
        // The first session's `unknown` is revised.
        let revised: Vec<_> = e
            .iter()
            .filter(|ev| {
                ev.evidence
                    .iter()
                    .any(|l| l.contains("revises the verdict unknown"))
            })
            .collect();
        assert_eq!(revised.len(), 1, "{e:#?}");
        assert_eq!(revised[0].verdict, Some(Verdict::AuthRejected));
    }
}

#[test]
fn a_short_accepted_session_is_not_blamed_by_a_later_refusal_answered_otherwise() {
    // USER, PASS (+OK), STAT (+OK 0 0), QUIT, close_notify: a poll that found no mail, as
    // short as a refusal. A refusal a minute later answers PASS with another size and has no
    // STAT: not alike, so the poll is never revised to a refused login.
    let mut s = Scenario::new();
    let mut poll = Session::imaps(1, CLIENT, "pop.mail.test", "198.51.100.11", t("14:00:00"))
        .refused_login_shape(ms(4), ms(10))
        .exchanges(&[
            (34, 27, 0),
            (43, 38, 4),
            (28, 36, 1),
            (28, 39, 0),
            (24, 24, 0),
        ]);
    poll = poll.app_counts(5, 157, 8, 720);
    let e = s.ended(poll.0.end.plus(secs(1)), &poll);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
    let refused = pop3s_refused(2, t("14:01:00"), ms(4500));
    let e = s.ended(refused.0.end.plus(secs(1)), &refused);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
    assert!(e.iter().all(|ev| ev.verdict != Some(Verdict::AuthRejected)));
}

#[test]
fn a_message_sent_after_a_login_is_more_than_a_login_worth_of_requests() {
    // SMTP submission: EHLO, AUTH, MAIL, RCPT, DATA, the message, QUIT — status lines only,
    // but seven requests: mail went out, not a refused login.
    let mut s = Scenario::new();
    let mut sent = Session::imaps(1, CLIENT, "smtp.mail.test", "198.51.100.12", t("14:00:00"))
        .refused_login_shape(ms(13), ms(40))
        .exchanges(&[
            (40, 198, 0),
            (63, 59, 0),
            (59, 36, 6),
            (49, 36, 13),
            (28, 59, 0),
            (95, 59, 4),
            (28, 61, 0),
        ]);
    sent = sent.app_counts(7, 327, 9, 718);
    let e = s.ended(sent.0.end.plus(secs(1)), &sent);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Ok), "{e:#?}");
}

/// The record sizes of the matrix's real fetchmail captures (POP3S) against a server: its
/// answers to CAPA and USER, and its refusal's exchanges and counts (client records and bytes,
/// server records and bytes) — fetchmail-pop3s × courier and × dovecot-nodelay.
struct FetchmailSizes {
    capa: usize,
    user: usize,
    retr: usize,
    refused: [(usize, usize, u64); 5],
    refused_counts: (u32, u64, u32, u64),
}

const COURIER: FetchmailSizes = FetchmailSizes {
    capa: 150,
    user: 46,
    retr: 1190,
    refused: [
        (28, 150, 0),
        (34, 46, 0),
        (45, 42, 5002),
        (28, 50, 0),
        (24, 48, 0),
    ],
    refused_counts: (5, 134, 7, 341),
};

const DOVECOT_NODELAY: FetchmailSizes = FetchmailSizes {
    capa: 111,
    user: 27,
    retr: 1155,
    refused: [
        (28, 111, 0),
        (34, 27, 0),
        (45, 58, 501),
        (28, 39, 0),
        (24, 24, 0),
    ],
    refused_counts: (5, 134, 8, 830),
};

/// fetchmail's session that went on: CAPA, USER, PASS (`+OK`), STAT, LIST, RETR….
fn fetchmail_went_on(sizes: &FetchmailSizes) -> Session {
    let mut s = Session::imaps(1, CLIENT, "pop.mail.test", "198.51.100.11", t("13:50:00"))
        .exchanges(&[
            (28, sizes.capa, 0),
            (34, sizes.user, 0),
            (43, 38, 4),
            (28, 36, 1),
            (30, 34, 0),
            (30, sizes.retr, 0),
            (30, 34, 0),
            (30, sizes.retr, 0),
        ]);
    s = s.app_counts(14, 355, 60, 316_000);
    s
}

fn fetchmail_refused(id: u64, start: Timestamp, sizes: &FetchmailSizes) -> Session {
    let wait = ms(sizes.refused.iter().map(|e| e.2).max().unwrap_or(0));
    let (cr, cb, sr, sb) = sizes.refused_counts;
    let mut s = Session::imaps(id, CLIENT, "pop.mail.test", "198.51.100.11", start)
        .refused_login_shape(wait, wait.saturating_add(ms(5)))
        .exchanges(&sizes.refused);
    s = s.app_counts(cr, cb, sr, sb);
    s
}

#[test]
fn a_refusal_held_back_is_not_answered_as_usual_however_close_its_size() {
    // The client fetched mail before (the seed story: it worked, then the password changed).
    // Courier's `-ERR Login failed.` is 4 bytes from its `+OK`: the sizes match the usual
    // session, the 5 s the server held the answer back does not.
    let mut s = Scenario::new();
    let went_on = fetchmail_went_on(&COURIER);
    s.ended(went_on.0.end.plus(secs(1)), &went_on);
    let first = fetchmail_refused(2, t("14:00:00"), &COURIER);
    let e = s.ended(first.0.end.plus(secs(1)), &first);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
    let second = fetchmail_refused(3, t("14:00:20"), &COURIER);
    let e = s.ended(second.0.end.plus(secs(1)), &second);
    assert_eq!(e[0].verdict, Some(Verdict::AuthRejected), "{e:#?}");
}

#[test]
fn a_quick_refusal_20_bytes_from_the_usual_answer_is_not_answered_as_usual() {
    // dovecot answering "at once": `-ERR [AUTH] Authentication failed.` against `+OK Logged
    // in.`, 20 bytes apart. Not the same answer, so not `ok`; and the half second it took is a
    // refusal's delay at a server that answered every request of a session that went on
    // within 4 ms: a shape with a sign, not concluded alone.
    let mut s = Scenario::new();
    let went_on = fetchmail_went_on(&DOVECOT_NODELAY);
    s.ended(went_on.0.end.plus(secs(1)), &went_on);
    let session = fetchmail_refused(2, t("14:00:00"), &DOVECOT_NODELAY);
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_verdict(
        only_session(&e),
        Verdict::Unknown,
        Credentials::Unknown,
        &[
            "the server took 0.5 s to answer request 3 of 5",
            "this server answered every request within 4 ms in the sessions that went on past the login",
            "it was not repeated within",
        ],
    );
}

/// Another LAN client's session that went on past the login at the same server.
fn went_on_from_another_client(sizes: &FetchmailSizes) -> Session {
    let mut went_on = fetchmail_went_on(sizes);
    went_on.0.client = "192.168.1.50:40000".parse().unwrap();
    went_on
}

#[test]
fn quick_refusals_repeated_at_a_server_known_to_answer_at_once_are_auth_rejected() {
    // A server that refuses "at once" still takes half a second (dovecot with no
    // auth_failure_delay), where it answered another client's accepted login in 4 ms. The
    // client itself was never seen to work (a new account with a mistyped password).
    let mut s = Scenario::new();
    let went_on = went_on_from_another_client(&DOVECOT_NODELAY);
    s.ended(went_on.0.end.plus(secs(1)), &went_on);
    let first = fetchmail_refused(2, t("14:00:00"), &DOVECOT_NODELAY);
    let e = s.ended(first.0.end.plus(secs(1)), &first);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
    let second = fetchmail_refused(3, t("14:01:00"), &DOVECOT_NODELAY);
    let e = s.ended(second.0.end.plus(secs(1)), &second);
    assert_eq!(
        e.len(),
        2,
        "the second and the revision of the first: {e:#?}"
    );
    for event in &e {
        assert_verdict(
            event,
            Verdict::AuthRejected,
            Credentials::Rejected,
            &["this server answered every request within 4 ms in the sessions that went on past the login"],
        );
    }
}

/// offlineimap over STARTTLS tries a wrong password with AUTHENTICATE PLAIN, then with LOGIN
/// (the matrix's capture against dovecot with no auth_failure_delay): the first refusal came
/// in 0.5 s, the second, from an address that had just failed, in 4.5 s.
fn offlineimap_two_mechanisms(id: u64, start: Timestamp, first: u64, second: u64) -> Session {
    let mut s = Session::imaps(id, CLIENT, "pop.mail.test", "198.51.100.11", start)
        .refused_login_shape(ms(second), ms(second + 4))
        .exchanges(&[(40, 214, 0), (48, 26, 0), (56, 78, first), (60, 78, second)])
        .app_counts(4, 184, 8, 922);
    s.0.tls = TlsMode::Starttls;
    s.0.closed_by = Some(Side::Client);
    s
}

#[test]
fn two_mechanisms_refused_in_one_session_count_twice_where_the_server_taught_its_pace() {
    // Without knowing the server, the half-second answer is "quick" beside the 4.5 s one: one
    // refusal, a lone shape.
    let mut s = Scenario::new();
    let session = offlineimap_two_mechanisms(2, t("14:00:00"), 501, 4506);
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
    // Where the server answered every request of a session that went on within 4 ms, both
    // answers were held back: two refusals in one session.
    let mut s = Scenario::new();
    let went_on = went_on_from_another_client(&DOVECOT_NODELAY);
    s.ended(went_on.0.end.plus(secs(1)), &went_on);
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_verdict(
        only_session(&e),
        Verdict::AuthRejected,
        Credentials::Rejected,
        &[
            "it held back 1 more of the login's last requests too",
            "the server held back 2 of this session's login answers",
        ],
    );
}

#[test]
fn a_reset_after_the_clients_close_notify_is_an_ending_not_a_refusal() {
    // fetchmail over IMAP STARTTLS to a server behind stunnel (the matrix's capture): CAPABILITY,
    // LOGIN answered NO after 2 s, LOGOUT answered; the client's close_notify (a TLS 1.3 record
    // of 24 bytes) crossed the server's, and stunnel reset the connection.
    let mut s = Scenario::new();
    let mut session = Session::imaps(1, CLIENT, "tls12.mail.test", "198.51.100.12", t("14:00:00"))
        .refused_login_shape(ms(2003), ms(2010))
        .exchanges(&[(40, 214, 0), (62, 78, 2003), (36, 115, 0), (24, 0, 0)])
        .app_counts(4, 142, 8, 909)
        .tls_version(TlsVersion::TLS1_3)
        .closed(Close::Rst, Some(Side::Server));
    session.0.tls = TlsMode::Starttls;
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_verdict(
        only_session(&e),
        Verdict::Unknown,
        Credentials::Unknown,
        &[
            "a refused login looks like this",
            "closed by the server (reset)",
        ],
    );
    // A last record that can hold a command is a request the reset left unanswered.
    let mut cut =
        session
            .clone()
            .exchanges(&[(40, 214, 0), (62, 78, 2003), (36, 115, 0), (31, 0, 0)]);
    cut.0.id = 2;
    let e = s.ended(cut.0.end.plus(secs(1)), &cut);
    assert_eq!(
        only_session(&e).verdict,
        Some(Verdict::ServerRefused),
        "{e:#?}"
    );
}

#[test]
fn a_first_refusal_held_a_full_second_counts_however_long_the_next() {
    // dovecot's own delay: AUTHENTICATE refused after 1.5 s, the LOGIN fallback after 6 s (the
    // address had just failed). 1.5 s is a refusal's delay by itself, though under a quarter of
    // 6 s: two refusals in one session, whatever the server taught.
    let mut s = Scenario::new();
    let session = offlineimap_two_mechanisms(2, t("14:00:00"), 1501, 6005);
    let e = s.ended(session.0.end.plus(secs(1)), &session);
    assert_verdict(
        only_session(&e),
        Verdict::AuthRejected,
        Credentials::Rejected,
        &["the server held back 2 of this session's login answers"],
    );
}

#[test]
fn one_good_login_held_back_by_a_penalty_does_not_hide_the_servers_pace() {
    // Among the server's latest sessions that went on, a good login it held back 2 s because
    // the address had just failed (dovecot's penalty): with three or more, the slowest is left
    // out; with two, it is the server's pace as far as known (the fixed second stands).
    for (quick, want) in [(2, Verdict::AuthRejected), (1, Verdict::Unknown)] {
        let mut s = Scenario::new();
        let mut penalised = went_on_from_another_client(&DOVECOT_NODELAY);
        penalised.0.app.exchanges = fetchmail_went_on(&DOVECOT_NODELAY)
            .exchanges(&[(28, 111, 0), (34, 27, 0), (43, 38, 2000), (28, 36, 1)])
            .0
            .app
            .exchanges;
        s.ended(penalised.0.end.plus(secs(1)), &penalised);
        for i in 0..quick {
            let mut went_on = went_on_from_another_client(&DOVECOT_NODELAY);
            went_on.0.id = 10 + i;
            s.ended(went_on.0.end.plus(secs(1)), &went_on);
        }
        let first = fetchmail_refused(2, t("14:00:00"), &DOVECOT_NODELAY);
        s.ended(first.0.end.plus(secs(1)), &first);
        let second = fetchmail_refused(3, t("14:01:00"), &DOVECOT_NODELAY);
        let e = s.ended(second.0.end.plus(secs(1)), &second);
        assert_eq!(e[0].verdict, Some(want), "{quick} quick sessions: {e:#?}");
    }
}

#[test]
fn short_accepted_polls_answered_as_quickly_as_the_server_always_does_are_never_blamed() {
    // A client polling an empty mailbox: CAPA, USER, PASS, STAT (`+OK 0 0`), QUIT — status
    // lines only after the first answer, repeated alike. The `+OK` to PASS took 40 ms, ten
    // times the server's usual 4 ms (a busy moment), yet far from a refusal's delay: nothing
    // was held back, the weak shape, never concluded.
    let mut s = Scenario::new();
    let went_on = went_on_from_another_client(&DOVECOT_NODELAY);
    s.ended(went_on.0.end.plus(secs(1)), &went_on);
    for (id, start) in [(2, "14:00:00"), (3, "14:01:00"), (4, "14:02:00")] {
        let poll = Session::imaps(id, CLIENT, "pop.mail.test", "198.51.100.11", t(start))
            .refused_login_shape(ms(40), ms(45))
            .exchanges(&[
                (28, 111, 0),
                (34, 27, 0),
                (45, 38, 40),
                (28, 36, 1),
                (24, 24, 0),
            ])
            .app_counts(5, 159, 8, 766);
        let e = s.ended(poll.0.end.plus(secs(1)), &poll);
        assert_verdict(
            only_session(&e),
            Verdict::Unknown,
            Credentials::Unknown,
            &["so does a short accepted login"],
        );
    }
}

#[test]
fn a_refusal_delay_is_learned_only_below_the_fixed_one() {
    let learned = RefusalDelay::learned(ms(4));
    assert_eq!(learned.at_least, ms(254), "the margin over a quick server");
    assert_eq!(learned.accepted_within, Some(ms(4)));
    assert_eq!(
        RefusalDelay::learned(ms(100)).at_least,
        ms(400),
        "four times"
    );
    // A server that hashes passwords slowly (300 ms for an accepted login) keeps the fixed
    // second: a learned delay only ever lowers it.
    assert_eq!(RefusalDelay::learned(ms(300)), RefusalDelay::DEFAULT);
    assert_eq!(RefusalDelay::DEFAULT.at_least, REFUSAL_DELAY);
}

#[test]
fn a_goodbye_that_carries_the_servers_close_notify_is_still_a_status_line() {
    // The scripted Outlook over POP3 STARTTLS with a TLS 1.2 CBC cipher against Courier, with
    // the sizes of the matrix's good-then-wrong capture: the padding makes `+OK` and `-ERR` the
    // same size (73 bytes), so only the 5 s delay tells the refusal; the QUIT's answer came in
    // one segment with the server's close_notify alert (130 bytes).
    let mut s = Scenario::new();
    let mut went_on = Session::imaps(1, CLIENT, "pop.mail.test", "198.51.100.11", t("13:50:00"))
        .exchanges(&[
            (57, 73, 0),
            (73, 73, 5),
            (57, 57, 0),
            (57, 137, 0),
            (57, 1225, 0),
            (57, 1225, 0),
            (57, 1225, 0),
            (57, 65535, 0),
        ]);
    went_on.0.tls = TlsMode::Starttls;
    went_on = went_on.app_counts(9, 484, 68, 319_184);
    s.ended(went_on.0.end.plus(secs(1)), &went_on);
    for (id, start) in [(2, "14:00:00"), (3, "14:00:09")] {
        let mut refused = Session::imaps(id, CLIENT, "pop.mail.test", "198.51.100.11", t(start))
            .refused_login_shape(ms(5003), ms(5010))
            .exchanges(&[(57, 73, 0), (73, 73, 5003), (57, 130, 0)]);
        refused.0.tls = TlsMode::Starttls;
        refused.0.closed_by = Some(Side::Client);
        refused = refused.app_counts(3, 172, 3, 204);
        let e = s.ended(refused.0.end.plus(secs(1)), &refused);
        let want = if id == 2 {
            Verdict::Unknown
        } else {
            Verdict::AuthRejected
        };
        assert_eq!(e[0].verdict, Some(want), "{e:#?}");
    }
}

#[test]
fn sessions_answered_alike_but_for_the_servers_close_notify_are_alike() {
    // Python imaplib against dovecot answering a first refusal at once (the server closed after
    // the LOGOUT, with its close_notify: 9 records) and holding back the next 4.5 s (the client
    // closed first: 8 records, 19 bytes fewer). The sizes of the matrix's capture.
    let mut s = Scenario::new();
    let mut quick = imaplib_refused(1, t("14:00:00"), ms(500));
    quick.0.app.server_bytes = 1057;
    let e = s.ended(quick.0.end.plus(secs(1)), &quick);
    assert_eq!(only_session(&e).verdict, Some(Verdict::Unknown), "{e:#?}");
    let mut held = imaplib_refused(2, t("14:00:06"), ms(4500)).exchanges(&[
        (40, 214, 0),
        (60, 78, 4500),
        (36, 91, 0),
    ]);
    held.0.closed_by = Some(Side::Client);
    held.0.app.server_records = 8;
    held.0.app.server_bytes = 1038;
    let e = s.ended(held.0.end.plus(secs(1)), &held);
    assert_eq!(e[0].verdict, Some(Verdict::AuthRejected), "{e:#?}");
    assert_eq!(e.len(), 2, "the quick one is revised too: {e:#?}");
}

#[test]
fn a_client_silent_after_starttls_was_not_waiting_for_the_server() {
    // offlineimap stuck after STARTTLS: the handshake done, the server's session tickets, then
    // nothing from the client for 46 s until it was stopped. After STARTTLS the client speaks
    // first: not a slow server.
    let mut s = Scenario::new();
    let mut stuck = Session::imaps(1, CLIENT, "imap.mail.test", "198.51.100.10", t("14:00:00"));
    let rec = &mut stuck.0;
    rec.server = std::net::SocketAddr::new(ip("198.51.100.10"), 143);
    rec.tls = TlsMode::Starttls;
    rec.app.client_records = 0;
    rec.app.client_bytes = 0;
    rec.app.server_records = 3;
    rec.app.server_bytes = 551;
    rec.last_reply_at = Some(t("14:00:01"));
    rec.slowest_reply = Some((ms(1), t("14:00:01")));
    rec.end = t("14:00:47");
    rec.client_closed_at = Some(t("14:00:47"));
    let e = s.ended(t("14:00:48"), &stuck);
    let event = only_session(&e);
    assert_ne!(event.verdict, Some(Verdict::ServerSlow), "{e:#?}");
    assert_verdict(
        event,
        Verdict::Unknown,
        Credentials::Unknown,
        &["the client sent nothing after the TLS handshake"],
    );
}
