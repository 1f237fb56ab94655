//! Active probes of mail hosts: DNS, TCP connect, TLS, greeting, capabilities. No credentials.
//!
//! - [`target`]: the probe URLs (`imaps://host[:port]`, …).
//! - [`Prober`]: the shared resolver and TLS configuration; [`Prober::run`] probes one target
//!   and returns a [`ProbeResult`] for the engine. The daemon keeps one `Prober` (rebuilt on
//!   reload) and schedules `run` every `[probe] interval`, plus a burst after a LAN client's
//!   failed session to that host.
//! - [`cli_main`]: `mailpulse probe URL`, one probe printed for people or as JSON.
//!
//! Probes are I/O: they use tokio, read the monotonic clock for phase timings and the wall clock
//! for `started`. Nothing a server sends can grow memory without bound ([`conn`]).

mod cert;
mod conn;
mod dialogue;
mod output;
mod prober;
mod target;
mod tls;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use prober::{ProbeOptions, Prober, SetupError};
pub use target::{Target, TargetError};

use crate::observe::observation::ProbeResult;

/// sysexits(3) codes used by `mailpulse probe`.
mod exit {
    pub const OK: i32 = 0;
    pub const USAGE: i32 = 64;
    pub const NO_INPUT: i32 = 66;
    pub const UNAVAILABLE: i32 = 69;
    pub const SOFTWARE: i32 = 70;
}

/// What `mailpulse probe` was asked for besides the URL.
#[derive(Clone, Debug, Default)]
pub struct CliOptions {
    /// Print JSON instead of the report for people.
    pub json: bool,
    /// Extra PEM trust anchors (`--ca-file`).
    pub ca_file: Option<PathBuf>,
    /// A certificate that does not validate is reported but does not fail the probe
    /// (`--ignore-cert`, also `--insecure`).
    pub ignore_cert: bool,
    /// Any port, and the router's own, link-local or multicast addresses
    /// (`--allow-any-target`).
    pub allow_any_target: bool,
}

/// Runs `mailpulse probe URL [--json] [--ca-file PEM] [--ignore-cert] [--allow-any-target]`;
/// returns the exit code.
pub fn cli_main(url: &str, options: &CliOptions) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    cli_main_to(url, options, &mut stdout.lock(), &mut stderr.lock())
}

/// [`cli_main`] writing to the given streams (so it can be tested).
pub fn cli_main_to(url: &str, cli: &CliOptions, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let target = match allowed_target(url, cli) {
        Ok(t) => t,
        Err(message) => return refuse(url, cli.json, out, err, &message),
    };
    let prober = match cli_prober(cli, err) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "mailpulse probe: cannot start the runtime: {e}");
            return exit::SOFTWARE;
        }
    };
    let result = runtime.block_on(prober.run(&target));
    let written = if cli.json {
        serde_json::to_string_pretty(&result)
            .map_err(std::io::Error::other)
            .and_then(|text| writeln!(out, "{text}"))
    } else {
        out.write_all(output::human(&result, cli.ignore_cert).as_bytes())
    };
    if let Err(e) = written {
        let _ = writeln!(err, "mailpulse probe: cannot write the result: {e}");
        return exit::SOFTWARE;
    }
    outcome(&target, &result, cli, err)
}

/// The target `url` names, unless it is malformed or refused (a port or address probes may
/// not reach without `--allow-any-target`); otherwise why not.
fn allowed_target(url: &str, cli: &CliOptions) -> Result<Target, String> {
    let target = Target::parse(url).map_err(|e| e.to_string())?;
    if !cli.allow_any_target {
        if let Some(why) = target.refusal() {
            return Err(format!(
                "{target} is refused: {why} (--allow-any-target allows it)"
            ));
        }
    }
    Ok(target)
}

/// Refuses the request; with --json the refusal is still answered in JSON (configd hands
/// stdout to the web UI). Returns the exit code.
fn refuse(url: &str, json: bool, out: &mut dyn Write, err: &mut dyn Write, message: &str) -> i32 {
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({ "url": url, "error": message })
        );
    }
    let _ = writeln!(err, "mailpulse probe: {message}");
    exit::USAGE
}

/// The prober for `--ca-file` and `--allow-any-target`; on failure, says why and returns the
/// exit code.
fn cli_prober(cli: &CliOptions, err: &mut dyn Write) -> Result<Prober, i32> {
    let ca_file = cli.ca_file.as_deref();
    if let Some(path) = ca_file {
        if let Err(e) = std::fs::metadata(path) {
            let _ = writeln!(
                err,
                "mailpulse probe: --ca-file {}: {}",
                path.display(),
                plain_io_error(&e)
            );
            return Err(exit::NO_INPUT);
        }
    }
    let options = ProbeOptions {
        ca_file: ca_file.map(Path::to_path_buf),
        allow_any_target: cli.allow_any_target,
        ..ProbeOptions::default()
    };
    Prober::new(&options).map_err(|e| match e {
        SetupError::Trust(_) => {
            let _ = writeln!(err, "mailpulse probe: --ca-file {e}");
            exit::NO_INPUT
        }
        SetupError::Resolver(_) => {
            let _ = writeln!(err, "mailpulse probe: {e}");
            exit::UNAVAILABLE
        }
    })
}

/// The exit code for the probe's result: a failed probe, or a certificate that does not
/// validate (unless `--ignore-cert`, said on stderr), is `UNAVAILABLE`.
fn outcome(target: &Target, result: &ProbeResult, cli: &CliOptions, err: &mut dyn Write) -> i32 {
    let cert_refused = result.cert_valid == Some(false) && !cli.ignore_cert;
    if cert_refused {
        let _ = writeln!(
            err,
            "mailpulse probe: the certificate of {target} is not valid: {} (--ignore-cert to accept it)",
            result.cert_error.as_deref().unwrap_or("no reason given")
        );
    }
    if result.ok() && !cert_refused {
        exit::OK
    } else {
        exit::UNAVAILABLE
    }
}

/// An I/O error in plain lower-case words, without the "(os error N)" suffix.
pub(crate) fn plain_io_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::ConnectionReset => "connection reset by the server".into(),
        ErrorKind::ConnectionAborted => "connection aborted".into(),
        ErrorKind::TimedOut => "timed out".into(),
        ErrorKind::UnexpectedEof => "connection closed by the server".into(),
        ErrorKind::NotFound => "no such file".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::HostUnreachable => "host unreachable".into(),
        ErrorKind::NetworkUnreachable => "network unreachable".into(),
        ErrorKind::AddrNotAvailable => "address not available".into(),
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error") {
                Some(cut) => text.get(..cut).unwrap_or(&text).to_string(),
                None => text,
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}
