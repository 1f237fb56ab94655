//! The command line (mailpulse(8), "Command line"): one binary, one subcommand per job, exit codes
//! from sysexits.

mod exitcode;
pub mod output;

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config::{self, Target};
use crate::control::{client, EventQuery, Request, Response};
use crate::time::Timestamp;

/// mailpulse: was it the password, or the network?
#[derive(Debug, Parser)]
#[command(name = "mailpulse", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the monitor (defaults work with no configuration file).
    Daemon {
        #[command(flatten)]
        config: ConfigArg,
        /// Stay in the foreground and copy every report line to stderr.
        #[arg(long)]
        foreground: bool,
    },
    /// Validate the configuration: exit 0, or 78 with file:line:col: message.
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The WAN, the probes per target, counters and uptime.
    Status {
        #[command(flatten)]
        out: JsonArg,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Events, oldest first.
    Events {
        #[command(flatten)]
        out: JsonArg,
        /// Only failures.
        #[arg(long)]
        failures: bool,
        /// Only events since T: an RFC 3339 time, or a duration back from now ("10m", "2h").
        #[arg(long, value_name = "T", value_parser = parse_since_arg)]
        since: Option<Timestamp>,
        /// At most N events (the most recent).
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Only events about this LAN client.
        #[arg(long, value_name = "IP")]
        client: Option<IpAddr>,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// LAN mail clients seen, with their last verdict.
    Clients {
        #[command(flatten)]
        out: JsonArg,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// One client's recent sessions and the network around them, in plain words.
    Explain {
        /// The client's address.
        #[arg(value_name = "IP")]
        client: IpAddr,
        #[command(flatten)]
        out: JsonArg,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Probe one mail server now (no daemon needed, no credentials sent).
    Probe {
        /// imaps://host[:port], imap://, pop3s://, pop3://, smtps:// or submission://
        #[arg(value_name = "URL", value_parser = parse_target_arg)]
        url: String,
        #[command(flatten)]
        out: JsonArg,
        /// Extra PEM trust anchors, added to the system roots.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Exit 0 even when the certificate does not validate (it is still reported).
        #[arg(long, visible_alias = "insecure")]
        ignore_cert: bool,
        /// Allow any port and the router's own, link-local or multicast addresses.
        #[arg(long)]
        allow_any_target: bool,
    },
    /// Offline analysis of a pcap or pcapng capture.
    Replay {
        /// The capture file.
        #[arg(value_name = "CAPTURE")]
        capture: PathBuf,
        /// The daemon's timeline file (timeline.jsonl in its state directory), whose recorded
        /// link, WAN, gateway, probe and firewall observations join the capture's packets.
        #[arg(long, value_name = "TIMELINE")]
        timeline: Option<PathBuf>,
        #[command(flatten)]
        out: JsonArg,
    },
    /// Ask the daemon to re-read its configuration and apply it; prints what was applied.
    /// Exit 0, or 78 with file:line:col: message when the file is refused (the daemon keeps
    /// its configuration).
    Reload {
        #[command(flatten)]
        out: JsonArg,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Prometheus text exposition of the daemon's counters.
    Metrics {
        #[command(flatten)]
        socket: SocketArgs,
    },
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// Configuration file [default: the system path, e.g. /usr/local/etc/mailpulse/mailpulse.toml]
    #[arg(short = 'c', long = "config", value_name = "PATH")]
    path: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct JsonArg {
    /// Machine-readable JSON (what configd and the web UI read).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct SocketArgs {
    /// The daemon's control socket [default: `socket` from the configuration]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Configuration file to read the socket path from.
    #[arg(short = 'c', long = "config", value_name = "PATH")]
    config: Option<PathBuf>,
}

fn parse_target_arg(text: &str) -> Result<String, String> {
    Target::parse(text)
        .map(|t| t.to_string())
        .map_err(|e| e.to_string())
}

fn parse_since_arg(text: &str) -> Result<Timestamp, String> {
    parse_since(text, crate::sys::clock::now())
}

/// `--since`: an RFC 3339 time, or a duration back from `now`.
pub fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    match humantime::parse_duration(text.trim()) {
        Ok(d) => Ok(now.minus(d)),
        Err(_) => Err(format!(
            "{text:?} is neither an RFC 3339 time (2026-11-22T14:00:00Z) nor a duration (10m, 2h)"
        )),
    }
}

/// Runs the command line; returns the process exit code (sysexits).
pub fn main() -> i32 {
    run(std::env::args_os())
}

/// Runs with the given arguments (the first is the program name).
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap exits 2 on usage errors; sysexits says 64. Help and --version are not errors.
            return if e.exit_code() == 0 {
                exitcode::OK
            } else {
                exitcode::USAGE
            };
        }
    };
    match cli.command {
        Command::Daemon { config, foreground } => {
            crate::daemon::main(config.path.as_deref(), foreground)
        }
        Command::CheckConfig { config } => check_config(config.path.as_deref()),
        Command::Status { out, socket } => ask(&socket, Request::Status, out.json),
        Command::Events {
            out,
            failures,
            since,
            limit,
            client,
            socket,
        } => {
            let query = EventQuery {
                since,
                limit,
                failures,
                client,
            };
            ask(&socket, Request::Events(query), out.json)
        }
        Command::Clients { out, socket } => ask(&socket, Request::Clients, out.json),
        Command::Explain {
            client,
            out,
            socket,
        } => ask(&socket, Request::Explain { client }, out.json),
        Command::Probe {
            url,
            out,
            ca_file,
            ignore_cert,
            allow_any_target,
        } => crate::probe::cli_main(
            &url,
            &crate::probe::CliOptions {
                json: out.json,
                ca_file,
                ignore_cert,
                allow_any_target,
            },
        ),
        Command::Replay {
            capture,
            timeline,
            out,
        } => crate::replay::main(&capture, timeline.as_deref(), out.json),
        Command::Metrics { socket } => ask(&socket, Request::Metrics, false),
        Command::Reload { out, socket } => ask(&socket, Request::Reload, out.json),
    }
}

fn check_config(path: Option<&Path>) -> i32 {
    let loaded = match config::load(path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return e.exit_code();
        }
    };
    let file = loaded.path().display().to_string();
    for w in &loaded.warnings {
        eprintln!("{file}: {w}");
    }
    match &loaded.source {
        config::Source::File(_) => println!("{file}: ok: {}", loaded.config.summary()),
        config::Source::Defaults { .. } => println!(
            "{file}: no such file; the built-in defaults apply: {}",
            loaded.config.summary()
        ),
    }
    exitcode::OK
}

/// The socket to use: `--socket`, else the configuration's `socket`, else the default.
fn socket_path(args: &SocketArgs) -> Result<PathBuf, i32> {
    if let Some(p) = &args.socket {
        return Ok(p.clone());
    }
    match config::load(args.config.as_deref()) {
        Ok(loaded) => Ok(loaded.config.daemon.socket),
        // Asked for a file explicitly: its problems are the user's to fix first.
        Err(e) if args.config.is_some() => {
            eprintln!("{e}");
            Err(e.exit_code())
        }
        // The default file is broken: say so, and try the default socket anyway.
        Err(e) => {
            eprintln!("warning: {e}");
            Ok(PathBuf::from(crate::sys::paths::DEFAULT_SOCKET))
        }
    }
}

fn ask(socket: &SocketArgs, request: Request, json: bool) -> i32 {
    let path = match socket_path(socket) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let response = match client::request(&path, &request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mailpulse: {e}");
            return e.exit_code();
        }
    };
    let printed = match (response, json) {
        (Response::Error { message }, _) => {
            eprintln!("mailpulse: the daemon could not answer: {message}");
            return exitcode::SOFTWARE;
        }
        (Response::ReloadRefused { message }, json) => {
            if json {
                let _ = print_json(&serde_json::json!({ "refused": message }));
            }
            eprintln!("{message}");
            return exitcode::CONFIG;
        }
        (Response::Reloaded(r), true) => print_json(&r),
        (Response::Reloaded(r), false) => print(&format!("{}\n", r.summary)),
        (Response::Metrics(text), _) => print(&text),
        (Response::Status(s), true) => print_json(&s),
        (Response::Status(s), false) => print(&output::status(&s)),
        (Response::Events(e), true) => print_json(&e),
        (Response::Events(e), false) => print(&output::events(&e)),
        (Response::Clients(c), true) => print_json(&c),
        (Response::Clients(c), false) => print(&output::clients(&c)),
        (Response::Explain(x), true) => print_json(&x),
        (Response::Explain(x), false) => print(&output::explanation(&x)),
    };
    match printed {
        Ok(()) => exitcode::OK,
        // stdout closed (`| head`): nothing more to say.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exitcode::OK,
        Err(e) => {
            eprintln!("mailpulse: cannot write the answer: {e}");
            exitcode::SOFTWARE
        }
    }
}

fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

fn print_json<T: Serialize>(value: &T) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_rfc3339_and_durations() {
        let now = Timestamp::parse_rfc3339("2026-11-22T14:00:00Z").unwrap();
        assert_eq!(
            parse_since("2026-11-22T13:00:00+01:00", now),
            Timestamp::parse_rfc3339("2026-11-22T12:00:00Z").ok_or(String::new())
        );
        assert_eq!(
            parse_since("10m", now),
            Timestamp::parse_rfc3339("2026-11-22T13:50:00Z").ok_or(String::new())
        );
        assert_eq!(
            parse_since("2h", now),
            Timestamp::parse_rfc3339("2026-11-22T12:00:00Z").ok_or(String::new())
        );
        assert!(parse_since("yesterday", now)
            .unwrap_err()
            .contains("neither"));
    }

    #[test]
    fn the_command_line_parses_as_designed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "mailpulse",
            "events",
            "--json",
            "--failures",
            "--since",
            "10m",
            "--limit",
            "5",
            "--client",
            "192.168.1.20",
            "--socket",
            "/tmp/s",
        ])
        .unwrap();
        match cli.command {
            Command::Events {
                out,
                failures,
                since,
                limit,
                client,
                socket,
            } => {
                assert!(out.json && failures && since.is_some());
                assert_eq!(limit, Some(5));
                assert_eq!(client, "192.168.1.20".parse().ok());
                assert_eq!(socket.socket.as_deref(), Some(Path::new("/tmp/s")));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["mailpulse", "explain", "not-an-ip"]).is_err());
        assert!(Cli::try_parse_from(["mailpulse", "probe", "https://x"]).is_err());
        assert!(Cli::try_parse_from([
            "mailpulse",
            "probe",
            "imaps://imap.gmail.com",
            "--ca-file",
            "/x.pem",
            "--json"
        ])
        .is_ok());
        assert!(Cli::try_parse_from([
            "mailpulse",
            "replay",
            "c.pcap",
            "--timeline",
            "j.jsonl",
            "--json"
        ])
        .is_ok());
        assert!(
            Cli::try_parse_from(["mailpulse", "daemon", "-c", "/x.toml", "--foreground"]).is_ok()
        );
    }
}
