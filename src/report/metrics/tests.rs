use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::*;
use crate::control::InterfaceCapture;
use crate::diagnose::status::ProbeStatus;
use crate::observe::observation::{PhaseTiming, ProbeFailure, ProbePhase, ProbeResult};
use crate::observe::record::{Protocol, TlsMode};
use crate::sys::CaptureStats;
use crate::time::Timestamp;

fn probe(target: &str, phases: &[(ProbePhase, u64)], failed: bool) -> ProbeStatus {
    ProbeStatus {
        target: target.into(),
        state: if failed { "failed" } else { "ok" }.into(),
        last: Some(ProbeResult {
            target: target.into(),
            host: "h".into(),
            port: 993,
            protocol: Protocol::Imap,
            tls: TlsMode::Implicit,
            started: Timestamp::from_unix(1_700_000_000, 0),
            phases: phases
                .iter()
                .map(|&(phase, ms)| PhaseTiming {
                    phase,
                    duration: Duration::from_millis(ms),
                })
                .collect(),
            failure: failed.then(|| ProbeFailure {
                phase: ProbePhase::Tls,
                error: "alert protocol_version".into(),
            }),
            addresses: vec![],
            connected_to: None,
            tls_version: None,
            cipher: None,
            cert_not_after: None,
            cert_valid: None,
            cert_error: None,
            greeting: None,
            capabilities: vec![],
        }),
        last_ok: None,
        consecutive_failures: u32::from(failed),
    }
}

fn report() -> StatusReport {
    let mut s = StatusReport {
        uptime_seconds: 3600,
        ..StatusReport::default()
    };
    s.engine.wan.state = "up".into();
    s.engine.counters.wan_transitions = 3;
    s.engine.counters.sessions_by_verdict =
        BTreeMap::from([("ok".to_string(), 40), ("wan-down".to_string(), 2)]);
    s.events_by_kind = BTreeMap::from([("session-failed".to_string(), 2)]);
    s.engine.probes = vec![
        probe(
            "imaps://imap.gmail.com",
            &[
                (ProbePhase::Dns, 12),
                (ProbePhase::Connect, 30),
                (ProbePhase::Tls, 1500),
            ],
            false,
        ),
        probe("imaps://odd\"name\\x", &[(ProbePhase::Dns, 5)], true),
    ];
    s.captures = vec![
        InterfaceCapture {
            interface: "igb1".into(),
            stats: Some(CaptureStats {
                received: 1000,
                dropped: 7,
            }),
            error: None,
        },
        InterfaceCapture {
            interface: "igb2".into(),
            stats: None,
            error: Some("no such device".into()),
        },
    ];
    s.tracker.sessions_open = 5;
    s.tracker.sessions_evicted = 1;
    s.tracker.client_cap_evicted = 2;
    s.tracker.buffer_bytes = 4096;
    s.tracker.buffer_refused = 3;
    s.journal.healthy = true;
    s
}

/// Splits `name{a="x",b="y"} value` by hand, undoing the escapes (the exposition format's own
/// grammar), so the test does not trust the renderer.
fn parse_sample(line: &str) -> (String, Vec<(String, String)>, String) {
    let (head, value) = line.rsplit_once(' ').expect("sample has a value");
    let Some((name, rest)) = head.split_once('{') else {
        return (head.to_string(), vec![], value.to_string());
    };
    let body = rest.strip_suffix('}').expect("labels end with }");
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut val = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(c) => val.push(c),
                    None => panic!("dangling backslash"),
                },
                c => val.push(c),
            }
        }
        labels.push((key, val));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    (name.to_string(), labels, value.to_string())
}

#[test]
fn every_sample_belongs_to_a_declared_family_and_parses() {
    let text = render(&report());
    let mut helped = HashSet::new();
    let mut typed = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            typed.insert(name.to_string(), kind.to_string());
        } else {
            let (name, labels, value) = parse_sample(line);
            assert!(typed.contains_key(&name), "no TYPE before {line}");
            assert!(helped.contains(&name), "no HELP before {line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
            if typed[&name] == "counter" {
                assert!(name.ends_with("_total"), "{name}");
            }
            samples.insert((name, labels), value);
        }
    }
    let get = |name: &str, labels: &[(&str, &str)]| -> String {
        let key = (
            name.to_string(),
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        );
        samples
            .get(&key)
            .cloned()
            .unwrap_or_else(|| panic!("missing {key:?}"))
    };
    assert_eq!(get("mailpulse_uptime_seconds", &[]), "3600");
    assert_eq!(get("mailpulse_sessions_total", &[("verdict", "ok")]), "40");
    assert_eq!(
        get("mailpulse_sessions_total", &[("verdict", "wan-down")]),
        "2"
    );
    assert_eq!(
        get("mailpulse_sessions_total", &[("verdict", "state-expired")]),
        "0"
    );
    assert_eq!(
        get("mailpulse_events_total", &[("kind", "session-failed")]),
        "2"
    );
    assert_eq!(
        get(
            "mailpulse_probe_up",
            &[("target", "imaps://imap.gmail.com")]
        ),
        "1"
    );
    assert_eq!(
        get("mailpulse_probe_up", &[("target", "imaps://odd\"name\\x")]),
        "0"
    );
    assert_eq!(
        get(
            "mailpulse_probe_phase_seconds",
            &[("target", "imaps://imap.gmail.com"), ("phase", "tls")]
        ),
        "1.5"
    );
    assert_eq!(
        get(
            "mailpulse_probe_phase_seconds",
            &[("target", "imaps://imap.gmail.com"), ("phase", "dns")]
        ),
        "0.012"
    );
    assert_eq!(
        get("mailpulse_capture_packets_total", &[("interface", "igb1")]),
        "1000"
    );
    assert_eq!(
        get("mailpulse_capture_drops_total", &[("interface", "igb1")]),
        "7"
    );
    assert_eq!(get("mailpulse_wan_up", &[]), "1");
    assert_eq!(get("mailpulse_wan_transitions_total", &[]), "3");
    assert_eq!(get("mailpulse_tracker_sessions_open", &[]), "5");
    assert_eq!(get("mailpulse_tracker_sessions_evicted_total", &[]), "1");
    assert_eq!(get("mailpulse_tracker_client_cap_evicted_total", &[]), "2");
    assert_eq!(get("mailpulse_tracker_buffer_bytes", &[]), "4096");
    assert_eq!(get("mailpulse_tracker_buffer_refused_total", &[]), "3");
    // A capture without counters exports nothing rather than a fake zero.
    assert!(!text.contains("igb2"));
}

#[test]
fn label_escaping_follows_the_exposition_format() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("x\ny"), r"x\ny");
    let text = render(&report());
    assert!(
        text.contains(r#"mailpulse_probe_up{target="imaps://odd\"name\\x"} 0"#),
        "{text}"
    );
}

#[test]
fn unknown_wan_state_exports_no_wan_up_sample() {
    let mut s = report();
    s.engine.wan.state = "unknown".into();
    let text = render(&s);
    assert!(text.contains("# TYPE mailpulse_wan_up gauge"));
    assert!(!text.lines().any(|l| l.starts_with("mailpulse_wan_up")));
    s.engine.wan.state = "down".into();
    assert!(render(&s).lines().any(|l| l == "mailpulse_wan_up 0"));
}

/// The `phase` label is the phase as the JSON spells it.
#[test]
fn phase_labels_are_the_json_names() {
    use ProbePhase::*;
    for phase in [Dns, Connect, Greeting, Starttls, Tls, Capabilities, Logout] {
        assert_eq!(serde_json::to_value(phase).unwrap(), phase.name());
    }
}
