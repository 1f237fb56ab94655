//! conntrack's idle timeout for established TCP (the Linux counterpart of pf's
//! `tcp.established`).

use std::path::Path;
use std::time::Duration;

use crate::observe::observation::FirewallTimeouts;

/// The sysctl, as a file. It is per network namespace: the daemon reads its own.
const CONNTRACK_ESTABLISHED: &str = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established";

/// Nothing to open: the sysctl file is readable by every user (mode 0444/0644), so it is read
/// after the privilege drop as before it.
pub fn open_before_drop() {}

/// conntrack's established-TCP timeout; `None` when conntrack is not loaded or the file does not
/// hold a number of seconds.
pub fn tcp_established_timeout() -> Option<FirewallTimeouts> {
    read_timeout(Path::new(CONNTRACK_ESTABLISHED))
}

fn read_timeout(path: &Path) -> Option<FirewallTimeouts> {
    let text = std::fs::read_to_string(path).ok()?;
    let seconds = parse_seconds(&text)?;
    Some(FirewallTimeouts {
        tcp_established: Duration::from_secs(seconds),
        source: "net.netfilter.nf_conntrack_tcp_timeout_established".to_string(),
    })
}

/// The file holds one decimal number of seconds and a newline.
fn parse_seconds(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proc_format() {
        assert_eq!(parse_seconds("432000\n"), Some(432_000)); // the kernel default, 5 days
        assert_eq!(parse_seconds("30"), Some(30));
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("-1\n"), None);
        assert_eq!(parse_seconds("5d\n"), None);
    }

    #[test]
    fn missing_file_is_none_and_a_present_one_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(read_timeout(&dir.path().join("absent")), None);
        let file = dir.path().join("nf_conntrack_tcp_timeout_established");
        std::fs::write(&file, "120\n").expect("write");
        let got = read_timeout(&file).expect("a timeout");
        assert_eq!(got.tcp_established, Duration::from_secs(120));
        assert_eq!(
            got.source,
            "net.netfilter.nf_conntrack_tcp_timeout_established"
        );
    }
}
