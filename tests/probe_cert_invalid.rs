//! A certificate that does not validate is not a healthy probe (docs/threat-model.md,
//! "Invalid certificates"). Before, `mailpulse probe` printed "NOT valid" and still ended with
//! `OK` and exit 0, and the daemon showed the target as `ok`.
//!
//! Real dovecot servers (tests/probe_support) with a self-signed certificate, an expired one
//! and one for another name; each is probed for real, through `mailpulse probe`'s code and
//! through the engine the daemon runs, whose status (and its JSON) must say `cert-invalid`.

mod probe_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mailpulse::control::StatusReport;
use mailpulse::diagnose::event::EventKind;
use mailpulse::diagnose::{DiagnosisConfig, Engine};
use mailpulse::observe::observation::{Observation, ObservationKind, ProbeResult};
use mailpulse::probe::{self, ProbeOptions, Prober, Target};
use mailpulse::time::Timestamp;
use probe_support::{run, Dovecot, Pki, TlsRange};

/// A certificate for `pki`'s key, signed by that key itself.
fn self_signed(pki: &Pki) -> PathBuf {
    let d = pki.dir.path();
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-key",
            "server.key",
            "-out",
            "self.pem",
            "-days",
            "20",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        d,
    );
    d.join("self.pem")
}

/// A certificate from `pki`'s CA for `pki`'s key, but for the name other.test only.
fn other_name(pki: &Pki) -> PathBuf {
    let d = pki.dir.path();
    std::fs::write(d.join("other.cnf"), "subjectAltName=DNS:other.test\n").unwrap();
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "other.pem",
            "-days",
            "20",
            "-extfile",
            "other.cnf",
        ],
        d,
    );
    d.join("other.pem")
}

struct Cli {
    code: i32,
    out: String,
    err: String,
}

fn cli(url: &str, ca: &Path, ignore_cert: bool) -> Cli {
    let options = probe::CliOptions {
        ca_file: Some(ca.to_path_buf()),
        ignore_cert,
        // The test servers listen on loopback ports of their own.
        allow_any_target: true,
        ..probe::CliOptions::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = probe::cli_main_to(url, &options, &mut out, &mut err);
    Cli {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

fn probe_result(url: &str, ca: &Path) -> ProbeResult {
    let options = ProbeOptions {
        timeout: Duration::from_secs(5),
        ca_file: Some(ca.to_path_buf()),
        allow_any_target: true,
        ..ProbeOptions::default()
    };
    let prober = Prober::new(&options).expect("prober");
    let target = Target::parse(url).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(prober.run(&target))
}

/// Checks one server: the CLI fails with the reason unless told to ignore it, and the
/// engine's status says `cert-invalid` with a `probe-cert-invalid` event.
fn assert_refused(server: &Dovecot, pki: &Pki, reason: &str) {
    let url = format!("imaps://127.0.0.1:{}", server.imaps);
    let r = cli(&url, &pki.ca(), false);
    assert_eq!(r.code, 69, "{reason}: exit code\n{}{}", r.out, r.err);
    let last = r.out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("CERTIFICATE NOT VALID: {reason}")),
        "{reason}: last line {last:?}\n{}",
        r.out
    );
    assert!(
        r.err.contains("not valid") && r.err.contains(reason),
        "{reason}: {}",
        r.err
    );

    let ignored = cli(&url, &pki.ca(), true);
    assert_eq!(
        ignored.code, 0,
        "--ignore-cert\n{}{}",
        ignored.out, ignored.err
    );
    assert_eq!(
        ignored.out.lines().last(),
        Some("OK (certificate not valid, ignored)"),
        "{}",
        ignored.out
    );
    assert!(
        ignored.out.contains(&format!("NOT valid: {reason}")),
        "{}",
        ignored.out
    );

    // The daemon's engine: a reachable server with a bad certificate is not healthy.
    let result = probe_result(&url, &pki.ca());
    assert_eq!(
        result.failure, None,
        "the probe itself got through: {result:#?}"
    );
    assert_eq!(result.cert_valid, Some(false));
    let mut engine = Engine::new(DiagnosisConfig::default(), 1);
    let events = engine.observe(Observation {
        time: Timestamp::from_unix(1_800_000_000, 0),
        kind: ObservationKind::Probe(result),
    });
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::ProbeCertInvalid], "{events:#?}");
    assert!(events[0].message.contains(reason), "{}", events[0].message);
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["kind"], "probe-cert-invalid");

    let status = engine.status();
    assert_eq!(status.probes.len(), 1);
    assert_eq!(status.probes[0].state, "cert-invalid");
    let report = StatusReport {
        engine: status,
        ..StatusReport::default()
    };
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["engine"]["probes"][0]["state"], "cert-invalid",
        "{json:#}"
    );
    let text = mailpulse::cli::output::status(&report);
    assert!(text.contains("cert-invalid"), "mailpulse status:\n{text}");
}

#[test]
fn a_self_signed_certificate_fails_the_probe() {
    let pki = Pki::new();
    let cert = self_signed(&pki);
    let server = Dovecot::start_with_cert(&pki, TlsRange::Modern, &cert);
    assert_refused(&server, &pki, "self-signed");
}

#[test]
fn an_expired_certificate_fails_the_probe() {
    let pki = Pki::new();
    let server = Dovecot::start_with_cert(&pki, TlsRange::Modern, &pki.expired_cert());
    assert_refused(&server, &pki, "expired");
}

#[test]
fn a_certificate_for_another_name_fails_the_probe() {
    let pki = Pki::new();
    let cert = other_name(&pki);
    let server = Dovecot::start_with_cert(&pki, TlsRange::Modern, &cert);
    assert_refused(&server, &pki, "wrong name");
}

#[test]
fn a_valid_certificate_is_ok_and_healthy() {
    let pki = Pki::new();
    let server = Dovecot::start(&pki, TlsRange::Modern);
    let url = format!("imaps://127.0.0.1:{}", server.imaps);
    let r = cli(&url, &pki.ca(), false);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(r.out.lines().last(), Some("OK"));
    let mut engine = Engine::new(DiagnosisConfig::default(), 1);
    engine.observe(Observation {
        time: Timestamp::from_unix(1_800_000_000, 0),
        kind: ObservationKind::Probe(probe_result(&url, &pki.ca())),
    });
    assert_eq!(engine.status().probes[0].state, "ok");
}

#[test]
fn an_unknown_issuer_fails_the_probe() {
    // The CA-signed certificate, probed without the CA: nobody trusts its issuer.
    let pki = Pki::new();
    let server = Dovecot::start(&pki, TlsRange::Modern);
    let url = format!("imaps://127.0.0.1:{}", server.imaps);
    let options = probe::CliOptions {
        allow_any_target: true,
        ..probe::CliOptions::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = probe::cli_main_to(&url, &options, &mut out, &mut err);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, 69, "{out}");
    assert!(
        out.lines()
            .last()
            .is_some_and(|l| l.starts_with("CERTIFICATE NOT VALID: unknown issuer")),
        "{out}"
    );
}
