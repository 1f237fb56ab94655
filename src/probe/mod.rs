//! Active probes of mail hosts: DNS, TCP connect, TLS, greeting, capabilities. No credentials.

use std::path::Path;

/// Runs `mailpulse probe URL [--json] [--ca-file PEM]`; returns the exit code.
pub fn cli_main(url: &str, json: bool, ca_file: Option<&Path>) -> i32 {
    let _ = (url, json, ca_file);
    70
}
