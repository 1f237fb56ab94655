//! pf's idle timeout for established TCP, read with `pfctl -st` (kernel-interfaces.md §6).
//!
//! A missing pfctl, pf not loaded (`/dev/pf` absent), a non-zero exit, a hang past
//! [`PFCTL_DEADLINE`] or output without `tcp.established` all mean "unknown": `None`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::diagnose::observation::FirewallTimeouts;
use crate::sys::bsd::pfctl;

const PFCTL: &str = "/sbin/pfctl";
/// pfctl answers from one ioctl per timeout; anything slower is stuck.
const PFCTL_DEADLINE: Duration = Duration::from_secs(5);
/// `pfctl -st` prints about 25 short lines; more than this is not its output.
const MAX_OUTPUT: u64 = 64 * 1024;

/// pf's `tcp.established` timeout, or `None` when it cannot be read.
pub fn tcp_established_timeout() -> Option<FirewallTimeouts> {
    let text = run_pfctl()?;
    let timeouts = pfctl::parse_timeouts(&text);
    let tcp_established = timeouts.tcp_established()?;
    let mut source = "pfctl -st tcp.established".to_string();
    if let Some(level) = timeouts.optimization_hint() {
        source.push_str(&format!(" (as set optimization {level})"));
    }
    if timeouts.adaptive() {
        source.push_str(", shortened by adaptive timeouts when the state table fills");
    }
    Some(FirewallTimeouts {
        tcp_established,
        source,
    })
}

/// Runs `pfctl -st` with a deadline; its standard output, or `None`.
fn run_pfctl() -> Option<String> {
    let mut child = Command::new(PFCTL)
        .arg("-st")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < PFCTL_DEADLINE => {
                thread::sleep(Duration::from_millis(20))
            }
            _ => {
                // Our own child: kill and reap it so no zombie is left.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    if !status.success() {
        return None;
    }
    let mut text = String::new();
    child
        .stdout
        .take()?
        .take(MAX_OUTPUT)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}
