//! Gateway latency and loss from dpinger's status sockets, as OPNsense and pfSense run dpinger.
//!
//! dpinger (OPNsense and pfSense run one per gateway) listens on a Unix stream socket; on each
//! connection it writes one line, `[<identifier> ]<avg latency µs> <stddev µs> <loss %>\n`, and
//! closes. Socket names: OPNsense `dpinger_<gateway>.sock`, pfSense
//! `dpinger_<gateway>~<source ip>~<monitor ip>.sock`, both in /var/run.
//!
//! Blocking with timeouts, no async: connect is non-blocking (a listener whose backlog is full
//! fails at once instead of hanging), and reading the line has one deadline per socket. The
//! sockets are read one after the other, so a poll takes at most (number of sockets) × timeout;
//! the daemon runs it on a blocking thread. Portable Unix code: no OS-specific calls.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};

use crate::observe::observation::GatewaySample;

/// Longest status line accepted (an identifier of at most 62 bytes plus three numbers).
const MAX_LINE: usize = 256;

/// One socket's outcome.
#[derive(Debug)]
pub struct GatewayReading {
    /// From the socket's file name (the sample names it too; the tests find readings by it).
    #[cfg(test)]
    pub gateway: String,
    /// `Ok(None)`: dpinger is still warming up (it reports stddev 0 and loss 0 until it has
    /// data, and both web UIs skip such a reading). Errors name the socket.
    pub sample: io::Result<Option<GatewaySample>>,
}

/// Reads every socket matching `pattern` (a path whose file-name part may hold `*` and `?`,
/// e.g. `/var/run/dpinger_*.sock`). A missing directory means no gateways, not an error.
pub fn read_gateways(pattern: &str, timeout: Duration) -> io::Result<Vec<GatewayReading>> {
    Ok(matching_paths(pattern)?
        .into_iter()
        .map(|socket| {
            let file = socket.file_name().map(|f| f.to_string_lossy().into_owned());
            let gateway = gateway_name(file.as_deref().unwrap_or_default());
            let sample = read_socket(&socket, &gateway, timeout);
            GatewayReading {
                #[cfg(test)]
                gateway,
                sample,
            }
        })
        .collect())
}

/// Connects to one dpinger socket and parses its line, within `timeout`.
pub fn read_socket(
    path: &Path,
    gateway: &str,
    timeout: Duration,
) -> io::Result<Option<GatewaySample>> {
    let named = |e: io::Error, what: &str| {
        io::Error::new(
            e.kind(),
            format!("dpinger socket {}: {what}: {e}", path.display()),
        )
    };
    let mut stream = connect(path).map_err(|e| named(e, "connect"))?;
    let line = read_line(&mut stream, timeout).map_err(|e| named(e, "read"))?;
    parse_status(gateway, &line).map_err(|why| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("dpinger socket {}: {why}: {line:?}", path.display()),
        )
    })
}

fn connect(path: &Path) -> io::Result<UnixStream> {
    let fd: OwnedFd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    match socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr) {
        Ok(()) => {}
        Err(nix::errno::Errno::EAGAIN) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "not accepting connections (backlog full)",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Reads to EOF (dpinger closes after its line), at most `MAX_LINE` bytes, by the deadline.
fn read_line(stream: &mut UnixStream, timeout: Duration) -> io::Result<String> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; MAX_LINE + 1];
    let mut len = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
        }
        stream.set_read_timeout(Some(left))?;
        let Some(room) = buf.get_mut(len..) else {
            break;
        };
        match stream.read(room) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))
            }
            Err(e) => return Err(e),
        }
        if len > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "status line too long",
            ));
        }
    }
    let bytes = buf.get(..len).unwrap_or_default();
    Ok(String::from_utf8_lossy(bytes).trim_end().to_string())
}

/// Parses `[identifier ]latency_us stddev_us loss_percent`: the last three tokens are the
/// numbers, anything before them is the identifier (which may contain spaces). `None` while
/// dpinger is warming up (stddev 0 and loss 0, the rule OPNsense and pfSense use). With 100 %
/// loss the latency figures mean nothing and are `None`.
pub fn parse_status(gateway: &str, line: &str) -> Result<Option<GatewaySample>, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let [.., latency, stddev, loss] = tokens.as_slice() else {
        return Err("expected three numbers (latency µs, stddev µs, loss %)".to_string());
    };
    let number = |t: &str, what: &str| {
        t.parse::<u64>()
            .map_err(|_| format!("{what} {t:?} is not a whole number"))
    };
    let latency = number(latency, "latency")?;
    let stddev = number(stddev, "stddev")?;
    let loss = number(loss, "loss")?;
    if loss > 100 {
        return Err(format!("loss {loss} % is above 100"));
    }
    if stddev == 0 && loss == 0 {
        return Ok(None);
    }
    let measured = loss < 100;
    Ok(Some(GatewaySample {
        gateway: gateway.to_string(),
        latency: measured.then(|| Duration::from_micros(latency)),
        stddev: measured.then(|| Duration::from_micros(stddev)),
        loss_percent: loss as f32,
    }))
}

/// The gateway's name from the socket's file name: after `dpinger_`, up to the first `~`
/// (pfSense) or `.sock` (OPNsense). A name in neither form is returned without `.sock`.
pub fn gateway_name(file_name: &str) -> String {
    let stem = file_name.strip_suffix(".sock").unwrap_or(file_name);
    let name = stem.strip_prefix("dpinger_").unwrap_or(stem);
    name.split('~').next().unwrap_or(name).to_string()
}

/// The paths matching `pattern`, sorted. Wildcards only in the file-name part.
fn matching_paths(pattern: &str) -> io::Result<Vec<PathBuf>> {
    let pattern_path = Path::new(pattern);
    let dir = match pattern_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(file_pattern) = pattern_path.file_name().and_then(|f| f.to_str()) else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| glob_match(file_pattern, n))
        })
        .map(|e| e.path())
        .collect();
    paths.sort();
    Ok(paths)
}

/// Shell-style match of one file name: `*` any run (also empty), `?` one character, the rest
/// literal. Iterative with one backtrack point, so linear-ish and never recursive.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixListener;
    use std::thread;

    #[test]
    fn gateway_names_for_both_platforms() {
        assert_eq!(gateway_name("dpinger_WAN_DHCP.sock"), "WAN_DHCP"); // OPNsense
        assert_eq!(
            gateway_name("dpinger_WAN_DHCP~198.51.100.2~198.51.100.1.sock"),
            "WAN_DHCP"
        );
        assert_eq!(
            gateway_name("dpinger_WAN_DHCP6~fe80::1%igb0~2001:db8::1.sock"),
            "WAN_DHCP6"
        );
        assert_eq!(gateway_name("other.sock"), "other");
    }

    #[test]
    fn status_lines_as_dpinger_prints_them() {
        // "%s%lu %lu %lu\n" with the identifier "WAN_DHCP " (pfSense passes -i <gwname>).
        let s = parse_status("WAN_DHCP", "WAN_DHCP 12345 678 2")
            .unwrap()
            .unwrap();
        assert_eq!(s.gateway, "WAN_DHCP");
        assert_eq!(s.latency, Some(Duration::from_micros(12_345)));
        assert_eq!(s.stddev, Some(Duration::from_micros(678)));
        assert_eq!(s.loss_percent, 2.0);
        // Without -i: three numbers only.
        let s = parse_status("gw", "800 20 0").unwrap().unwrap();
        assert_eq!(s.latency, Some(Duration::from_micros(800)));
        // An identifier with spaces.
        assert!(parse_status("gw", "my gw 800 20 0").unwrap().is_some());
        // Warming up: "<id> 0 0 0", and any stddev 0 / loss 0 reading.
        assert_eq!(parse_status("gw", "gw 0 0 0").unwrap(), None);
        assert_eq!(parse_status("gw", "gw 1500 0 0").unwrap(), None);
        // All lost: a sample with no latency.
        let s = parse_status("gw", "gw 0 0 100").unwrap().unwrap();
        assert_eq!((s.latency, s.loss_percent), (None, 100.0));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for line in [
            "",
            "gw",
            "gw 1 2",
            "gw a b c",
            "gw 1 2 -3",
            "gw 1 2 101",
            "1 2 3.5",
        ] {
            assert!(parse_status("gw", line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("dpinger_*.sock", "dpinger_WAN.sock"));
        assert!(glob_match("dpinger_*.sock", "dpinger_.sock"));
        assert!(glob_match(
            "dpinger_*.sock",
            "dpinger_WAN~1.2.3.4~5.6.7.8.sock"
        ));
        assert!(!glob_match("dpinger_*.sock", "dpinger_WAN.pid"));
        assert!(!glob_match("dpinger_*.sock", "xdpinger_WAN.sock"));
        assert!(glob_match("a?c*", "abcdef"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaa"));
    }

    /// Serves `answer` once per connection from a real Unix socket, or never accepts.
    fn serve(path: &Path, answer: Option<&'static str>) -> thread::JoinHandle<()> {
        let listener = UnixListener::bind(path).expect("bind test socket");
        thread::spawn(move || {
            let Some(answer) = answer else {
                thread::sleep(Duration::from_secs(3)); // listening, never accepting
                drop(listener);
                return;
            };
            if let Ok((mut conn, _)) = listener.accept() {
                let _ = conn.write_all(answer.as_bytes());
            }
        })
    }

    #[test]
    fn reads_real_sockets_good_warming_garbage_silent_and_stale() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let servers = [
            serve(
                &d.join("dpinger_WAN_DHCP.sock"),
                Some("WAN_DHCP 15000 1200 1\n"),
            ),
            serve(
                &d.join("dpinger_WAN2~10.0.0.2~10.0.0.1.sock"),
                Some("WAN2 0 0 0\n"),
            ),
            serve(&d.join("dpinger_GARBAGE.sock"), Some("hello world\n")),
            serve(&d.join("dpinger_SILENT.sock"), None),
        ];
        // A socket file nobody listens on any more (dpinger died).
        drop(UnixListener::bind(d.join("dpinger_STALE.sock")).expect("bind"));
        std::fs::write(d.join("dpinger_WAN_DHCP.pid"), "123").expect("pid file");

        let pattern = format!("{}/dpinger_*.sock", d.display());
        let started = Instant::now();
        let readings = read_gateways(&pattern, Duration::from_millis(500)).expect("read");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a silent socket must not hang"
        );

        let by_name = |name: &str| {
            readings
                .iter()
                .find(|r| r.gateway == name)
                .unwrap_or_else(|| panic!("no reading for {name}: {readings:?}"))
        };
        assert_eq!(readings.len(), 5, "{readings:?}");
        let good = by_name("WAN_DHCP")
            .sample
            .as_ref()
            .expect("ok")
            .as_ref()
            .expect("ready");
        assert_eq!(good.latency, Some(Duration::from_millis(15)));
        assert_eq!(good.stddev, Some(Duration::from_micros(1200)));
        assert_eq!(good.loss_percent, 1.0);
        assert!(matches!(by_name("WAN2").sample, Ok(None)), "warming up");
        let garbage = by_name("GARBAGE").sample.as_ref().expect_err("garbage");
        assert_eq!(garbage.kind(), io::ErrorKind::InvalidData);
        assert!(
            garbage.to_string().contains("dpinger_GARBAGE.sock"),
            "{garbage}"
        );
        let silent = by_name("SILENT").sample.as_ref().expect_err("silent");
        assert_eq!(silent.kind(), io::ErrorKind::TimedOut, "{silent}");
        let stale = by_name("STALE").sample.as_ref().expect_err("stale");
        assert_eq!(stale.kind(), io::ErrorKind::ConnectionRefused, "{stale}");
        for server in servers {
            server.join().expect("server thread");
        }
    }

    #[test]
    fn missing_directory_is_no_gateways() {
        let readings = read_gateways(
            "/nonexistent-mailpulse-dir/dpinger_*.sock",
            Duration::from_millis(10),
        );
        assert!(readings.expect("not an error").is_empty());
    }
}
