//! `mailpulse probe` output for people: one line per phase with its duration, then the TLS and
//! certificate facts, the greeting and capabilities, and a last line `OK`,
//! `CERTIFICATE NOT VALID: <why>` or `FAILED at <phase>: <why>`.

use std::fmt::Write;

use crate::observe::observation::{ProbePhase, ProbeResult};
use crate::observe::record::TlsMode;
use crate::time::words::millis_precise;

/// The whole report, ending with a newline. With `ignore_cert`, a certificate that does not
/// validate is still shown as not valid, but the last line is `OK (certificate not valid,
/// ignored)`.
pub fn human(result: &ProbeResult, ignore_cert: bool) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "probe {}  (started {})", result.target, result.started);
    phases(&mut out, result);
    facts(&mut out, result);
    outcome(&mut out, result, ignore_cert);
    out
}

/// One line per phase: its name, how long it took, and what it found (or `failed`).
fn phases(out: &mut String, result: &ProbeResult) {
    let last = result.phases.len().saturating_sub(1);
    for (i, timing) in result.phases.iter().enumerate() {
        // The failing phase is always the last one recorded.
        let failed = i == last && result.failure.is_some();
        let detail = match timing.phase {
            ProbePhase::Dns => result
                .addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            ProbePhase::Connect => result
                .connected_to
                .map(|a| a.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let detail = if failed { "failed".into() } else { detail };
        let line = format!(
            "  {:<13}{:>11}  {}",
            timing.phase.name(),
            millis_precise(timing.duration),
            detail
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The TLS version and cipher, the certificate, the greeting and the capabilities.
fn facts(out: &mut String, result: &ProbeResult) {
    if let Some(version) = result.tls_version {
        let mode = match result.tls {
            TlsMode::Starttls => " (after STARTTLS)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "tls          TLS {version}{mode}, {}",
            result.cipher.as_deref().unwrap_or("unknown cipher")
        );
    } else if result.failure.is_none() {
        let _ = writeln!(
            out,
            "tls          none (plaintext; the server offered no STARTTLS)"
        );
    }
    if let Some(valid) = result.cert_valid {
        let expiry = result
            .cert_not_after
            .map_or_else(|| "unknown".to_string(), |t| t.to_string());
        let validity = if valid {
            "valid".to_string()
        } else {
            format!(
                "NOT valid: {}",
                result.cert_error.as_deref().unwrap_or("no reason given")
            )
        };
        let _ = writeln!(out, "certificate  expires {expiry}, {validity}");
    }
    if let Some(greeting) = &result.greeting {
        let _ = writeln!(out, "greeting     {greeting}");
    }
    if !result.capabilities.is_empty() {
        let _ = writeln!(out, "capabilities {}", result.capabilities.join(" "));
    }
}

/// The total time, then `OK`, `CERTIFICATE NOT VALID: …` or `FAILED at …`.
fn outcome(out: &mut String, result: &ProbeResult, ignore_cert: bool) {
    let Some(failure) = &result.failure else {
        let _ = writeln!(out, "total        {}", millis_precise(result.total()));
        let last = match (result.cert_valid == Some(false), ignore_cert) {
            (true, false) => format!(
                "CERTIFICATE NOT VALID: {}",
                result.cert_error.as_deref().unwrap_or("no reason given")
            ),
            (true, true) => "OK (certificate not valid, ignored)".to_string(),
            (false, _) => "OK".to_string(),
        };
        let _ = writeln!(out, "{last}");
        return;
    };
    let _ = writeln!(out, "FAILED at {}: {}", failure.phase.name(), failure.error);
}
