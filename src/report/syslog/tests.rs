use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::control::tests_support::event;
use crate::diagnose::event::{Credentials, EventKind, Verdict};

#[test]
fn event_line_is_kind_tokens_then_sentence() {
    let mut e = event(7);
    e.message =
        "The WAN link was down from 14:03:12 for 29 s; the password was not the problem.".into();
    assert_eq!(
        event_line(&e),
        "session-failed client=192.168.1.20 server=outlook.office365.com verdict=wan-down \
         credentials=not-at-fault: The WAN link was down from 14:03:12 for 29 s; the password \
         was not the problem."
    );
}

#[test]
fn missing_fields_leave_their_tokens_out_and_server_falls_back_to_the_address() {
    let mut e = event(1);
    e.kind = EventKind::WanDown;
    e.client = None;
    e.verdict = None;
    e.credentials = None;
    e.server = None;
    e.server_name = None;
    e.message = "WAN link em0 went down.".into();
    assert_eq!(event_line(&e), "wan-down: WAN link em0 went down.");

    let mut e = event(2);
    e.server_name = None;
    e.verdict = Some(Verdict::AuthRejected);
    e.credentials = Some(Credentials::Rejected);
    e.message = "line one\nfake-line client=1.2.3.4".into();
    assert_eq!(
        event_line(&e),
        "session-failed client=192.168.1.20 server=52.97.1.1 verdict=auth-rejected \
         credentials=rejected: line one fake-line client=1.2.3.4"
    );
}

#[test]
fn priorities_follow_rfc5424() {
    // RFC 5424 §6.2.1: auth (4) × 8 + crit (2) = 34, as in the RFC's examples; daemon (3)
    // warning (4) = 28; local4 (20) notice (5) = 165 (RFC 5424 §6.5 example 2).
    assert_eq!(priority(Facility::Daemon, Severity::Warning), 28);
    assert_eq!(priority(Facility::Local4, Severity::Notice), 165);
    assert_eq!(priority(Facility::Daemon, Severity::Info), 30);
}

#[test]
fn rfc3164_header_pads_the_day_with_a_space() {
    // RFC 3164 §4.1.2: "Oct 11 22:14:15", and a single-digit day is "Oct  1".
    let tz = FixedOffset::east_opt(3600).unwrap();
    let t = tz.with_ymd_and_hms(2026, 11, 2, 9, 5, 7).unwrap();
    assert_eq!(
        format_rfc3164(
            Facility::Daemon,
            Severity::Warning,
            t,
            4242,
            "wan-down: down."
        ),
        "<28>Nov  2 09:05:07 mailpulse[4242]: wan-down: down."
    );
}

#[test]
fn rfc5424_header() {
    // RFC 5424 §6.5 example 1: "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ..."
    let t = Timestamp::parse_rfc3339("2003-10-11T22:14:15.003Z").unwrap();
    assert_eq!(
        format_rfc5424(
            Facility::Auth,
            Severity::Err,
            t,
            Some("mymachine.example.com"),
            77,
            "x"
        ),
        "<35>1 2003-10-11T22:14:15.003Z mymachine.example.com mailpulse 77 - - x"
    );
    assert_eq!(
        format_rfc5424(Facility::Daemon, Severity::Info, t, None, 1, "y"),
        "<30>1 2003-10-11T22:14:15.003Z - mailpulse 1 - - y"
    );
}

#[test]
fn long_messages_are_cut_at_a_character_boundary() {
    let tz = FixedOffset::east_opt(0).unwrap();
    let t = tz.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let long = "é".repeat(5000);
    let line = format_rfc3164(Facility::Daemon, Severity::Info, t, 1, &long);
    assert!(line.len() <= 4096 && line.len() > 4000);
}

#[test]
fn datagrams_reach_a_local_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let server = UnixDatagram::bind(&path).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();

    let t = Timestamp::parse_rfc3339("2026-11-22T14:03:12.345Z").unwrap();
    let e = event(3);
    let mut log = Syslog::new(&path, true, Facility::Local3, SyslogFormat::Rfc5424, false).unwrap();
    log.event(&e, t).unwrap();
    let mut buf = [0u8; 8192];
    let n = server.recv(&mut buf).unwrap();
    let expected = format!(
        "<156>1 2026-11-22T14:03:12.345Z - mailpulse {} - - session-failed client=192.168.1.20 \
         server=outlook.office365.com verdict=wan-down credentials=not-at-fault: event number 3",
        std::process::id()
    );
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), expected);

    let mut log = Syslog::new(&path, true, Facility::Daemon, SyslogFormat::Rfc3164, false).unwrap();
    log.message(Severity::Notice, "daemon-started: listening", t)
        .unwrap();
    let n = server.recv(&mut buf).unwrap();
    let got = std::str::from_utf8(&buf[..n]).unwrap();
    let stamp = local_time(t).format("%b %e %H:%M:%S").to_string();
    assert_eq!(
        got,
        format!(
            "<29>{stamp} mailpulse[{}]: daemon-started: listening",
            std::process::id()
        )
    );

    // syslogd gone: an error to count, not a panic.
    drop(server);
    std::fs::remove_file(&path).unwrap();
    assert!(log.message(Severity::Info, "x", t).is_err());
    assert_eq!(log.send_errors, 1);
}

#[test]
fn rfc3164_layout_matches_util_linux_logger() {
    // logger(1) is an independent implementation of the same header; it adds a HOSTNAME,
    // which local senders leave out, so that one token is dropped before comparing.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let server = UnixDatagram::bind(&path).unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let status = std::process::Command::new("logger")
        .args([
            "--rfc3164",
            "-t",
            "mailpulse",
            "--id=4242",
            "-p",
            "local4.notice",
            "-u",
        ])
        .arg(&path)
        .arg("wan-up: the WAN link igb0 is up again.")
        .status()
        .expect("logger(1) from util-linux (Debian bsdutils) is needed");
    assert!(status.success());
    let mut buf = [0u8; 4096];
    let n = server.recv(&mut buf).unwrap();
    let theirs = std::str::from_utf8(&buf[..n]).unwrap();
    // "<165>Nov 22 05:31:24 HOST mailpulse[4242]: ..."
    let (head, rest) = theirs.split_at(theirs.find('>').unwrap() + 1);
    let (stamp, rest) = rest.split_at(15);
    let (_host, rest) = rest.trim_start().split_once(' ').unwrap();
    let year = chrono::Utc::now().format("%Y").to_string();
    let naive =
        chrono::NaiveDateTime::parse_from_str(&format!("{year} {stamp}"), "%Y %b %e %H:%M:%S")
            .unwrap();
    let time = FixedOffset::east_opt(0)
        .unwrap()
        .from_local_datetime(&naive)
        .unwrap();
    let ours = format_rfc3164(
        Facility::Local4,
        Severity::Notice,
        time,
        4242,
        "wan-up: the WAN link igb0 is up again.",
    );
    assert_eq!(ours, format!("{head}{stamp} {rest}"));
}
