//! Probes against a real dovecot on 127.0.0.1 with a test CA: every phase and its facts.
//!
//! Expected values come from the RFCs (capability names, greeting forms), from dovecot's
//! documented behaviour and from `openssl` (certificate expiry, negotiated cipher names).

mod probe_support;

use std::time::Duration;

use mailpulse::observe::observation::{ProbePhase, ProbeResult};
use mailpulse::observe::record::{TlsMode, TlsVersion};
use mailpulse::probe::{self, ProbeOptions, Prober, Target};
use probe_support::{Dovecot, Pki, TlsRange};

fn options(pki: Option<&Pki>) -> ProbeOptions {
    ProbeOptions {
        timeout: Duration::from_secs(5),
        nameservers: Vec::new(),
        ca_file: pki.map(Pki::ca),
        // The test servers listen on loopback addresses and ports of their own.
        allow_any_target: true,
    }
}

/// `mailpulse probe` options for a test server on loopback.
fn cli(json: bool, ca: &std::path::Path) -> probe::CliOptions {
    probe::CliOptions {
        json,
        ca_file: Some(ca.to_path_buf()),
        allow_any_target: true,
        ..probe::CliOptions::default()
    }
}

fn probe_blocking(url: &str, options: &ProbeOptions) -> ProbeResult {
    let target = Target::parse(url).expect("valid test URL");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let prober = Prober::new(options).expect("prober setup");
            prober.run(&target).await
        })
}

fn phases(result: &ProbeResult) -> Vec<ProbePhase> {
    result.phases.iter().map(|p| p.phase).collect()
}

fn has_cap(result: &ProbeResult, cap: &str) -> bool {
    result
        .capabilities
        .iter()
        .any(|c| c.eq_ignore_ascii_case(cap))
}

#[test]
fn imaps_with_the_test_ca_reports_every_phase_and_a_valid_certificate() {
    let pki = Pki::new();
    let dovecot = Dovecot::start(&pki, TlsRange::Modern);
    let url = format!("imaps://127.0.0.1:{}", dovecot.imaps);
    let r = probe_blocking(&url, &options(Some(&pki)));

    assert_eq!(r.failure, None, "{r:#?}\n{}", dovecot.log());
    // An address literal needs no DNS phase.
    assert_eq!(
        phases(&r),
        [
            ProbePhase::Connect,
            ProbePhase::Tls,
            ProbePhase::Greeting,
            ProbePhase::Capabilities,
            ProbePhase::Logout
        ]
    );
    assert_eq!(r.target, url);
    assert_eq!(
        r.addresses,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        r.connected_to,
        Some(format!("127.0.0.1:{}", dovecot.imaps).parse().unwrap())
    );
    assert_eq!(r.tls, TlsMode::Implicit);
    // OpenSSL 3 and rustls both prefer TLS 1.3 (RFC 8446) when both sides allow it.
    assert_eq!(r.tls_version, Some(TlsVersion::TLS1_3));
    let cipher = r.cipher.clone().unwrap_or_default();
    assert!(cipher.starts_with("TLS13_"), "{cipher}");
    assert_eq!(r.cert_valid, Some(true), "{:?}", r.cert_error);
    assert_eq!(r.cert_error, None);
    assert_eq!(r.cert_not_after, Some(pki.openssl_not_after()));
    // RFC 9051 §7.1.1: the greeting is an untagged OK; dovecot says "Dovecot ... ready."
    let greeting = r.greeting.clone().unwrap_or_default();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    assert!(greeting.contains("ready"), "{greeting}");
    // RFC 3501 §7.2.1: IMAP4rev1 must be listed. Over TLS, dovecot offers AUTH=PLAIN and no
    // longer STARTTLS.
    assert!(has_cap(&r, "IMAP4rev1"), "{:?}", r.capabilities);
    assert!(has_cap(&r, "AUTH=PLAIN"), "{:?}", r.capabilities);
    assert!(!has_cap(&r, "STARTTLS"), "{:?}", r.capabilities);
    assert!(r.total() < Duration::from_secs(5));
}

#[test]
fn an_untrusted_certificate_is_reported_but_the_greeting_still_arrives() {
    let pki = Pki::new();
    let dovecot = Dovecot::start(&pki, TlsRange::Modern);
    let url = format!("imaps://127.0.0.1:{}", dovecot.imaps);
    // No ca_file: the test CA is not among the system roots.
    let r = probe_blocking(&url, &options(None));
    assert_eq!(r.failure, None, "{r:#?}");
    assert_eq!(r.cert_valid, Some(false));
    let why = r.cert_error.clone().unwrap_or_default();
    assert!(why.contains("unknown issuer"), "{why}");
    assert!(r.greeting.as_deref().unwrap_or("").starts_with("* OK"));
    assert_eq!(r.cert_not_after, Some(pki.openssl_not_after()));
}

#[test]
fn an_expired_certificate_is_reported_but_the_greeting_still_arrives() {
    let pki = Pki::new();
    let dovecot = Dovecot::start_with_cert(&pki, TlsRange::Modern, &pki.expired_cert());
    let r = probe_blocking(
        &format!("pop3s://127.0.0.1:{}", dovecot.pop3s),
        &options(Some(&pki)),
    );
    assert_eq!(r.failure, None, "{r:#?}\n{}", dovecot.log());
    assert_eq!(r.cert_valid, Some(false));
    let why = r.cert_error.clone().unwrap_or_default();
    assert!(why.contains("expired"), "{why}");
    assert!(r.greeting.as_deref().unwrap_or("").starts_with("+OK"));
    // The expiry read from the DER is yesterday's date, as openssl prints it.
    let openssl_says = probe_support::openssl_not_after(&pki.expired_cert());
    assert_eq!(r.cert_not_after, Some(openssl_says));
    assert!(openssl_says < r.started);
}

#[test]
fn imap_upgrades_with_starttls_and_asks_for_capabilities_again() {
    let pki = Pki::new();
    let dovecot = Dovecot::start(&pki, TlsRange::Modern);
    let r = probe_blocking(
        &format!("imap://127.0.0.1:{}", dovecot.imap),
        &options(Some(&pki)),
    );
    assert_eq!(r.failure, None, "{r:#?}\n{}", dovecot.log());
    assert_eq!(
        phases(&r),
        [
            ProbePhase::Connect,
            ProbePhase::Greeting,
            ProbePhase::Capabilities,
            ProbePhase::Starttls,
            ProbePhase::Tls,
            ProbePhase::Capabilities,
            ProbePhase::Logout
        ]
    );
    assert_eq!(r.tls, TlsMode::Starttls);
    assert_eq!(r.tls_version, Some(TlsVersion::TLS1_3));
    assert_eq!(r.cert_valid, Some(true), "{:?}", r.cert_error);
    // The list kept is the one from after TLS (RFC 3501 §6.2.1: capabilities may change).
    assert!(has_cap(&r, "IMAP4rev1"), "{:?}", r.capabilities);
    assert!(has_cap(&r, "AUTH=PLAIN"), "{:?}", r.capabilities);
    assert!(!has_cap(&r, "LOGINDISABLED"), "{:?}", r.capabilities);
}

#[test]
fn pop3s_and_pop3_with_stls() {
    let pki = Pki::new();
    let dovecot = Dovecot::start(&pki, TlsRange::Modern);
    let opts = options(Some(&pki));

    let r = probe_blocking(&format!("pop3s://127.0.0.1:{}", dovecot.pop3s), &opts);
    assert_eq!(r.failure, None, "{r:#?}\n{}", dovecot.log());
    assert_eq!(r.tls, TlsMode::Implicit);
    // RFC 1939 §4: the greeting is a positive response.
    assert!(r.greeting.as_deref().unwrap_or("").starts_with("+OK"));
    // RFC 2449 capabilities; dovecot advertises RFC 3206 AUTH-RESP-CODE.
    for cap in ["UIDL", "TOP", "AUTH-RESP-CODE", "SASL PLAIN"] {
        assert!(has_cap(&r, cap), "{cap} missing from {:?}", r.capabilities);
    }

    let r = probe_blocking(&format!("pop3://127.0.0.1:{}", dovecot.pop3), &opts);
    assert_eq!(r.failure, None, "{r:#?}\n{}", dovecot.log());
    assert_eq!(r.tls, TlsMode::Starttls);
    assert!(phases(&r).contains(&ProbePhase::Starttls));
    assert_eq!(r.tls_version, Some(TlsVersion::TLS1_3));
    assert!(has_cap(&r, "UIDL"), "{:?}", r.capabilities);
    // RFC 2595 §4: STLS is not offered once TLS is on.
    assert!(!has_cap(&r, "STLS"), "{:?}", r.capabilities);
}

#[test]
fn a_tls_1_2_only_server_is_reported_as_tls_1_2() {
    let pki = Pki::new();
    let dovecot = Dovecot::start(&pki, TlsRange::Max12);
    let r = probe_blocking(
        &format!("imaps://127.0.0.1:{}", dovecot.imaps),
        &options(Some(&pki)),
    );
    assert_eq!(r.failure, None, "{r:#?}\n{}", dovecot.log());
    assert_eq!(r.tls_version, Some(TlsVersion::TLS1_2));
    // openssl s_client against this server says "ECDHE-ECDSA-AES256-GCM-SHA384", whose
    // RFC 5289 name is the one below (the key is P-256 ECDSA).
    assert_eq!(
        r.cipher.as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")
    );
    assert_eq!(r.cert_valid, Some(true), "{:?}", r.cert_error);
}

#[test]
fn a_dovecot_stuck_at_tls_1_1_fails_the_tls_phase() {
    let pki = Pki::new();
    let dovecot = Dovecot::start(&pki, TlsRange::Max11);
    let r = probe_blocking(
        &format!("imaps://127.0.0.1:{}", dovecot.imaps),
        &options(Some(&pki)),
    );
    let failure = r.failure.clone().expect("the probe must fail");
    assert_eq!(failure.phase, ProbePhase::Tls, "{r:#?}");
    // dovecot logs "SSL_accept() failed: ... unsupported protocol" and closes without flushing
    // the alert (seen in its log); so the probe sees the connection closed mid-handshake. An
    // OpenSSL s_server sends the alert: see probe_failures.rs.
    assert_eq!(
        failure.error,
        "connection closed by the server during the handshake"
    );
    // Usually its reason is the protocol; when the probe's close reaches the login process
    // before it logs, the line says only that it disconnected while still handshaking (seen
    // once under load: "TLS handshaking: Connection closed"). Either way no handshake finished.
    assert!(
        dovecot.log_says("unsupported protocol", Duration::from_secs(3))
            || dovecot.log().contains("TLS handshaking"),
        "{}",
        dovecot.log()
    );
    assert_eq!(r.tls_version, None);
    assert_eq!(r.greeting, None);
    assert_eq!(phases(&r), [ProbePhase::Connect, ProbePhase::Tls]);
}

#[test]
fn one_prober_serves_many_probes() {
    let pki = Pki::new();
    let dovecot = Dovecot::start(&pki, TlsRange::Modern);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let prober = Prober::new(&options(Some(&pki))).expect("prober");
    let targets: Vec<Target> = [
        format!("imaps://127.0.0.1:{}", dovecot.imaps),
        format!("imap://127.0.0.1:{}", dovecot.imap),
        format!("pop3s://127.0.0.1:{}", dovecot.pop3s),
    ]
    .iter()
    .map(|u| Target::parse(u).unwrap())
    .collect();
    // Concurrent probes share the resolver and the TLS configuration.
    let (a, b, c) = runtime.block_on(async {
        tokio::join!(
            prober.run(&targets[0]),
            prober.run(&targets[1]),
            prober.run(&targets[2])
        )
    });
    for r in [a, b, c] {
        assert_eq!(r.failure, None, "{r:#?}");
        assert_eq!(r.cert_valid, Some(true));
    }
}

#[test]
fn cli_prints_phases_and_ok_and_json() {
    let pki = Pki::new();
    let dovecot = Dovecot::start(&pki, TlsRange::Modern);
    let url = format!("imaps://127.0.0.1:{}", dovecot.imaps);
    let ca = pki.ca();

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = probe::cli_main_to(&url, &cli(false, &ca), &mut out, &mut err);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(code, 0, "{text}{}", String::from_utf8_lossy(&err));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"OK"), "{text}");
    for phase in ["connect", "tls", "greeting", "capabilities", "logout"] {
        assert!(
            lines
                .iter()
                .any(|l| l.trim_start().starts_with(phase) && l.contains(" ms")),
            "no timed line for {phase}:\n{text}"
        );
    }
    assert!(text.contains("TLS 1.3"), "{text}");
    assert!(text.contains("valid"), "{text}");
    assert!(
        text.contains(&pki.openssl_not_after().to_string()),
        "{text}"
    );
    assert!(text.contains("IMAP4rev1"), "{text}");

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = probe::cli_main_to(&url, &cli(true, &ca), &mut out, &mut err);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(json["target"], url.as_str());
    assert_eq!(json["tls_version"], "1.3");
    assert_eq!(json["cert_valid"], true);
    assert_eq!(json["failure"], serde_json::Value::Null);
    assert_eq!(json["protocol"], "imap");
    assert_eq!(json["phases"][0]["phase"], "connect");
}
