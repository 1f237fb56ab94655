//! The Linux `sys` layer against the real kernel, inside network namespaces this test creates
//! (named `mps-…`, deleted by a guard even when an assertion fails).
//!
//! Needs root (namespaces, veth, AF_PACKET) and iproute2's `ip`; `dig` for the DNS query.
//! Missing any of them fails the test with its name, it never skips.
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use mailpulse::sys::capture::Capture;
use mailpulse::sys::discover::discover;
use mailpulse::sys::link::LinkMonitor;
use mailpulse::sys::{interface_gone, CaptureOptions, LinkChange, LinkRead};
use nix::sched::{setns, CloneFlags};

// ---------------------------------------------------------------------------------------------
// Namespace plumbing

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A network namespace that is deleted when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        require_root();
        let name = format!(
            "mps-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        run(&["ip", "netns", "add", &name]);
        Netns { name }
    }

    /// `ip -n <ns> <args>`, which must succeed.
    fn ip(&self, args: &str) {
        let mut argv = vec!["ip", "-n", &self.name];
        argv.extend(args.split_whitespace());
        run(&argv);
    }

    /// Runs `f` on a thread that has entered this namespace; sockets it opens live there.
    fn enter<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        thread::spawn(move || {
            let ns = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            setns(&ns, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "tests/sys_linux.rs needs root (network namespaces, veth, AF_PACKET); run as root"
    );
}

fn run(argv: &[&str]) {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{} is needed for this test: {e}", argv[0]));
    assert!(
        out.status.success(),
        "{} failed: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair: `a_if` in `a`, `b_if` in `b`, both up.
fn veth_pair(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    a.ip(&format!(
        "link add {a_if} type veth peer name {b_if} netns {}",
        b.name
    ));
    a.ip(&format!("link set {a_if} up"));
    b.ip(&format!("link set {b_if} up"));
}

// ---------------------------------------------------------------------------------------------
// Frame inspection (independent of the crate's own parsers)

/// (ip protocol, source port, destination port) of an untagged Ethernet IPv4/IPv6 frame.
fn ports(frame: &[u8]) -> Option<(u8, u16, u16)> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (proto, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(frame.get(14)? & 0x0f) * 4;
            (*frame.get(23)?, 14 + ihl)
        }
        0x86dd => (*frame.get(20)?, 54),
        _ => return None,
    };
    let port = |at: usize| Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    Some((proto, port(l4)?, port(l4 + 2)?))
}

fn now_nanos() -> i64 {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(d.as_nanos()).expect("fits")
}

/// One captured frame, copied out.
struct Captured {
    nanos: i64,
    data: Vec<u8>,
    original_len: u32,
}

// ---------------------------------------------------------------------------------------------
// Capture

#[test]
fn capture_keeps_mail_and_dns_and_drops_the_rest() {
    let server = Netns::new("cap-srv");
    let client = Netns::new("cap-cli");
    veth_pair(&server, "mpcap0", &client, "mpcap1");
    server.ip("addr add 10.77.0.1/24 dev mpcap0");
    server.ip("addr add fd77::1/64 dev mpcap0 nodad");
    client.ip("addr add 10.77.0.2/24 dev mpcap1");
    client.ip("addr add fd77::2/64 dev mpcap1 nodad");

    // Capture on the server's end of the veth.
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let capture_stop = stop.clone();
    let capture = server.enter(move || {
        let options = CaptureOptions {
            snap_len: 128,
            buffer_size: 1 << 20,
        };
        let mut capture = Capture::open("mpcap0", &options).expect("open capture on mpcap0");
        ready_tx.send(()).expect("signal ready");
        let mut frames = Vec::new();
        while !capture_stop.load(Ordering::Relaxed) {
            capture
                .read(&mut |f| {
                    frames.push(Captured {
                        nanos: f.time.unix_nanos(),
                        data: f.data.to_vec(),
                        original_len: f.original_len,
                    })
                })
                .expect("read frames");
            thread::sleep(Duration::from_millis(10));
        }
        capture
            .read(&mut |f| {
                frames.push(Captured {
                    nanos: f.time.unix_nanos(),
                    data: f.data.to_vec(),
                    original_len: f.original_len,
                })
            })
            .expect("read frames");
        (frames, capture.stats().expect("stats"))
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("capture opened");
    let started = now_nanos();

    // Servers in the server namespace: IMAPS (v4 and v6), a web port, a UDP port that is not
    // DNS. They answer, so the test knows the non-mail traffic really crossed the wire.
    let servers = server.enter(|| {
        let imaps4 = TcpListener::bind("10.77.0.1:993").expect("bind 993");
        let imaps6 = TcpListener::bind("[fd77::1]:993").expect("bind [::]:993");
        let web = TcpListener::bind("10.77.0.1:8080").expect("bind 8080");
        let mdns = UdpSocket::bind("10.77.0.1:5353").expect("bind 5353");
        let mut accepted = 0;
        for listener in [&imaps4, &imaps6, &web] {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.write_all(b"* OK ready\r\n").expect("greeting");
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest);
            accepted += 1;
        }
        mdns.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        let got = mdns.recv(&mut buf).expect("udp 5353 datagram");
        (accepted, got)
    });

    let clients = client.enter(|| {
        for addr in ["10.77.0.1:993", "[fd77::1]:993", "10.77.0.1:8080"] {
            let addr: SocketAddr = addr.parse().expect("addr");
            let mut conn = (0..50)
                .find_map(|_| {
                    TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                        .map_err(|_| thread::sleep(Duration::from_millis(50)))
                        .ok()
                })
                .unwrap_or_else(|| panic!("connect {addr}"));
            let mut line = [0u8; 12];
            conn.read_exact(&mut line).expect("greeting");
            assert_eq!(&line, b"* OK ready\r\n");
        }
        let udp = UdpSocket::bind("10.77.0.2:0").expect("udp");
        udp.send_to(b"not dns", "10.77.0.1:5353")
            .expect("send 5353");
    });
    clients.join().expect("clients");
    let (accepted, udp_len) = servers.join().expect("servers");
    assert_eq!(
        (accepted, udp_len),
        (3, 7),
        "the non-mail traffic must have happened"
    );

    // A real DNS query over UDP from dig (nobody answers it; one try is enough).
    let dig = Command::new("ip")
        .args([
            "netns",
            "exec",
            &client.name,
            "dig",
            "@10.77.0.1",
            "mail.example.com",
            "+tries=1",
            "+time=1",
        ])
        .output()
        .expect("dig is needed for this test (apt-get install bind9-dnsutils)");
    assert!(
        String::from_utf8_lossy(&dig.stdout).contains("timed out")
            || String::from_utf8_lossy(&dig.stdout).contains("no servers could be reached"),
        "dig should have sent a query: {}",
        String::from_utf8_lossy(&dig.stdout)
    );

    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (frames, stats) = capture.join().expect("capture thread");
    let ended = now_nanos();

    assert!(!frames.is_empty(), "no frames captured");
    let mut seen = BTreeSet::new();
    for f in &frames {
        let (proto, sport, dport) = ports(&f.data).expect("an IPv4/IPv6 frame with ports");
        let v6 = f.data[12..14] == [0x86, 0xdd];
        seen.insert((v6, proto, sport.min(dport)));
        assert!(
            matches!((proto, sport.min(dport)), (6, 993) | (17, 53)),
            "the filter let through proto {proto} ports {sport}->{dport}"
        );
        assert!(
            f.nanos >= started - 1_000_000_000 && f.nanos <= ended + 1_000_000_000,
            "timestamp {} outside the test's run [{started}, {ended}]",
            f.nanos
        );
        assert!(
            f.data.len() <= 128,
            "snap length 128 not applied: {}",
            f.data.len()
        );
        assert!(f.original_len as usize >= f.data.len());
    }
    let wanted: BTreeSet<_> = [(false, 6, 993), (true, 6, 993), (false, 17, 53)].into();
    assert_eq!(
        seen, wanted,
        "IMAPS over IPv4 and IPv6 and the DNS query must all be seen"
    );
    assert!(
        frames.windows(2).all(|w| w[0].nanos <= w[1].nanos),
        "timestamps go backwards"
    );
    assert!(
        stats.received >= frames.len() as u64,
        "kernel counted {} frames, we read {}",
        stats.received,
        frames.len()
    );
    assert_eq!(stats.dropped, 0);
}

/// An Ethernet frame with an optional 802.1Q tag, carrying an IPv4 TCP SYN to `dport`
/// (RFC 791/793 headers, checksums left zero: nobody checks them before the capture taps).
fn syn_frame(vlan: Option<u16>, dport: u16) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    if let Some(vid) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&[10, 79, 0, 2, 10, 79, 0, 1]);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    f
}

/// Opens a capture on `interface` in `ns`, signals, waits `settle`, then returns what it read.
fn capture_in(
    ns: &Netns,
    interface: &'static str,
) -> (
    thread::JoinHandle<Vec<Vec<u8>>>,
    std::sync::mpsc::Receiver<()>,
) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = ns.enter(move || {
        let mut capture = Capture::open(interface, &CaptureOptions::default()).expect("open");
        ready_tx.send(()).expect("ready");
        let mut frames = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            capture
                .read(&mut |f| frames.push(f.data.to_vec()))
                .expect("read");
            thread::sleep(Duration::from_millis(20));
        }
        frames
    });
    (handle, ready_rx)
}

/// 802.1Q-tagged frames through the kernel. Linux moves an in-band tag into skb metadata on
/// receive before any packet socket sees the frame, so the receiving side exercises the
/// capture's re-insertion from PACKET_AUXDATA; on the sending side the tag is still in the
/// bytes, which exercises the filter's VLAN half. Both must yield the frames exactly as sent,
/// tag included, and drop the tagged HTTPS one. (Raw frames are sent with Python's AF_PACKET
/// socket because this kernel has no 8021q module for real VLAN interfaces.)
#[test]
fn vlan_tagged_frames_are_filtered_and_keep_their_tag() {
    let server = Netns::new("vlan-srv");
    let client = Netns::new("vlan-cli");
    veth_pair(&server, "mpvl0", &client, "mpvl1");
    let (rx_side, rx_ready) = capture_in(&server, "mpvl0");
    let (tx_side, tx_ready) = capture_in(&client, "mpvl1");
    rx_ready
        .recv_timeout(Duration::from_secs(5))
        .expect("receive-side capture opened");
    tx_ready
        .recv_timeout(Duration::from_secs(5))
        .expect("send-side capture opened");

    let tagged_imaps = syn_frame(Some(10), 993);
    let tagged_https = syn_frame(Some(10), 443);
    let untagged_imaps = syn_frame(None, 993);
    let hex: Vec<String> = [&tagged_imaps, &tagged_https, &untagged_imaps]
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('mpvl1', 0))\nfor h in {hex:?}:\n    s.send(bytes.fromhex(h))\n"
    );
    run(&[
        "ip",
        "netns",
        "exec",
        &client.name,
        "python3",
        "-c",
        &script,
    ]);

    let wanted = vec![tagged_imaps, untagged_imaps];
    assert_eq!(
        rx_side.join().expect("rx capture"),
        wanted,
        "receive side (tag from auxdata)"
    );
    assert_eq!(
        tx_side.join().expect("tx capture"),
        wanted,
        "send side (tag in the bytes)"
    );
}

#[test]
fn capture_survives_link_down_and_reports_a_deleted_interface() {
    let ns = Netns::new("cap-gone");
    let peer = Netns::new("cap-peer");
    veth_pair(&ns, "mpgone0", &peer, "mpgone1");
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = ns.enter(move || {
        let mut capture =
            Capture::open("mpgone0", &CaptureOptions::default()).expect("open capture");
        let mut results = Vec::new();
        done_tx.send(()).expect("ready");
        // After each step of the main thread, read once and report the outcome.
        while let Ok(step) = rx.recv() {
            thread::sleep(Duration::from_millis(300));
            let outcome = capture.read(&mut |_| {});
            results.push((
                step,
                outcome.map_err(|e| (interface_gone(&e), e.to_string())),
            ));
            done_tx.send(()).expect("done");
        }
        results
    });
    done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("capture opened");
    for (step, cmd) in [
        ("down", "link set mpgone0 down"),
        ("up", "link set mpgone0 up"),
        ("deleted", "link del mpgone0"),
    ] {
        ns.ip(cmd);
        tx.send(step).expect("step");
        done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("step read");
    }
    drop(tx);
    let results = worker.join().expect("worker");
    assert!(
        matches!(results[0], ("down", Ok(0))),
        "down is not an error: {:?}",
        results[0]
    );
    assert!(
        matches!(results[1], ("up", Ok(0))),
        "up is not an error: {:?}",
        results[1]
    );
    match &results[2] {
        ("deleted", Err((true, msg))) => assert!(msg.contains("mpgone0"), "{msg}"),
        other => panic!("a deleted interface must be a NotFound error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Link monitor

/// Reads the monitor until `expected` changes arrived (or 3 s passed), then 300 ms more to
/// catch extras; returns everything read.
fn collect(monitor: &mut LinkMonitor, expected: usize) -> Vec<LinkChange> {
    let mut changes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut quiet_until: Option<Instant> = None;
    loop {
        match monitor.read().expect("read link monitor") {
            LinkRead::Changes(c) => changes.extend(c),
            LinkRead::ResyncNeeded => panic!("unexpected ENOBUFS"),
        }
        let now = Instant::now();
        if changes.len() >= expected && quiet_until.is_none() {
            quiet_until = Some(now + Duration::from_millis(300));
        }
        if quiet_until.is_some_and(|q| now >= q) || now >= deadline {
            return changes;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// An action on the namespaces and the changes the monitor must report for it.
type Step<'a> = (Box<dyn Fn() + 'a>, Vec<LinkChange>);

fn sorted(mut v: Vec<LinkChange>) -> Vec<String> {
    let mut s: Vec<String> = v.drain(..).map(|c| format!("{c:?}")).collect();
    s.sort();
    s
}

#[test]
fn link_monitor_reports_exactly_the_changes_made() {
    let ns = Netns::new("link");
    let peer = Netns::new("link-peer");
    // No IPv6 link-local addresses: they would add changes the test did not make.
    ns.ip("link add mplnk0 type veth peer name mplnk1");
    ns.ip("link set mplnk0 addrgenmode none");
    ns.ip(&format!("link set mplnk1 netns {}", peer.name));
    peer.ip("link set mplnk1 addrgenmode none");
    peer.ip("link set mplnk1 up");
    ns.ip("link set mplnk0 up");
    ns.ip("addr add 10.78.0.1/24 dev mplnk0");

    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    let worker = ns.enter(move || {
        let mut monitor = LinkMonitor::open().expect("open link monitor");
        let snapshot = monitor.snapshot().expect("snapshot");
        out_tx.send(Err(snapshot)).expect("send snapshot");
        while let Ok(expected) = rx.recv() {
            if expected == usize::MAX {
                let snapshot = monitor.snapshot().expect("snapshot");
                out_tx.send(Err(snapshot)).expect("send snapshot");
                continue;
            }
            out_tx
                .send(Ok(collect(&mut monitor, expected)))
                .expect("send changes");
        }
    });
    let recv = || {
        out_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("worker answered")
    };

    let Err(first) = recv() else {
        panic!("snapshot expected")
    };
    let mplnk0 = first
        .interfaces
        .iter()
        .find(|i| i.name == "mplnk0")
        .expect("mplnk0 in the snapshot");
    assert!(mplnk0.up && mplnk0.running && !mplnk0.loopback);
    assert_eq!(
        mplnk0.addresses,
        vec![("10.78.0.1".parse::<IpAddr>().unwrap(), 24)]
    );
    let lo = first
        .interfaces
        .iter()
        .find(|i| i.name == "lo")
        .expect("lo");
    assert!(lo.loopback && !lo.up, "a new namespace's lo is down");
    assert!(first.default_routes.is_empty());

    let name = || "mplnk0".to_string();
    let ip = |a: &str| a.parse::<IpAddr>().unwrap();
    let steps: Vec<Step<'_>> = vec![
        (
            Box::new(|| ns.ip("link set mplnk0 down")),
            vec![LinkChange::LinkDown { interface: name() }],
        ),
        (
            Box::new(|| ns.ip("link set mplnk0 up")),
            vec![LinkChange::LinkUp { interface: name() }],
        ),
        // Carrier loss: the far end goes down, ours stays administratively up.
        (
            Box::new(|| peer.ip("link set mplnk1 down")),
            vec![LinkChange::LinkDown { interface: name() }],
        ),
        (
            Box::new(|| peer.ip("link set mplnk1 up")),
            vec![LinkChange::LinkUp { interface: name() }],
        ),
        (
            Box::new(|| ns.ip("addr add 10.78.1.1/24 dev mplnk0")),
            vec![LinkChange::AddressAdded {
                interface: name(),
                address: ip("10.78.1.1"),
            }],
        ),
        (
            Box::new(|| ns.ip("addr add fd78::1/64 dev mplnk0 nodad")),
            vec![LinkChange::AddressAdded {
                interface: name(),
                address: ip("fd78::1"),
            }],
        ),
        (
            Box::new(|| ns.ip("route add default via 10.78.0.2")),
            vec![LinkChange::DefaultRouteAdded {
                interface: Some(name()),
                gateway: Some(ip("10.78.0.2")),
            }],
        ),
        (
            Box::new(|| ns.ip("-6 route add default via fd78::2")),
            vec![LinkChange::DefaultRouteAdded {
                interface: Some(name()),
                gateway: Some(ip("fd78::2")),
            }],
        ),
    ];
    for (i, (action, expected)) in steps.iter().enumerate() {
        action();
        tx.send(expected.len()).expect("step");
        let Ok(got) = recv() else {
            panic!("changes expected")
        };
        assert_eq!(sorted(got), sorted(expected.clone()), "step {i}");
    }

    // The snapshot now shows the WAN, and discovery picks it.
    tx.send(usize::MAX).expect("snapshot");
    let Err(snapshot) = recv() else {
        panic!("snapshot expected")
    };
    assert_eq!(
        snapshot.default_routes.len(),
        2,
        "{:?}",
        snapshot.default_routes
    );
    assert_eq!(discover(&snapshot).wan, vec!["mplnk0"]);
    assert!(
        discover(&snapshot).lan.is_empty(),
        "the only private interface is the WAN"
    );

    let steps: Vec<Step<'_>> = vec![
        (
            Box::new(|| ns.ip("route del default via 10.78.0.2")),
            vec![LinkChange::DefaultRouteRemoved {
                interface: Some(name()),
                gateway: Some(ip("10.78.0.2")),
            }],
        ),
        (
            Box::new(|| ns.ip("addr del 10.78.1.1/24 dev mplnk0")),
            vec![LinkChange::AddressRemoved {
                interface: name(),
                address: ip("10.78.1.1"),
            }],
        ),
        // Administratively down with a default route: the kernel flushes the IPv4 route
        // without a message; the monitor must still report it gone.
        (
            Box::new(|| ns.ip("route add default via 10.78.0.2")),
            vec![LinkChange::DefaultRouteAdded {
                interface: Some(name()),
                gateway: Some(ip("10.78.0.2")),
            }],
        ),
        (
            Box::new(|| ns.ip("link set mplnk0 down")),
            vec![
                LinkChange::LinkDown { interface: name() },
                LinkChange::DefaultRouteRemoved {
                    interface: Some(name()),
                    gateway: Some(ip("10.78.0.2")),
                },
                LinkChange::DefaultRouteRemoved {
                    interface: Some(name()),
                    gateway: Some(ip("fd78::2")),
                },
                // IPv6 addresses go with the link (keep_addr_on_down is 0 by default).
                LinkChange::AddressRemoved {
                    interface: name(),
                    address: ip("fd78::1"),
                },
            ],
        ),
        (
            Box::new(|| ns.ip("link del mplnk0")),
            vec![
                LinkChange::AddressRemoved {
                    interface: name(),
                    address: ip("10.78.0.1"),
                },
                LinkChange::InterfaceGone { interface: name() },
            ],
        ),
    ];
    for (i, (action, expected)) in steps.iter().enumerate() {
        action();
        tx.send(expected.len()).expect("step");
        let Ok(got) = recv() else {
            panic!("changes expected")
        };
        assert_eq!(
            sorted(got),
            sorted(expected.clone()),
            "second part, step {i}"
        );
    }
    drop(tx);
    worker.join().expect("worker");
}

/// More changes than the receive buffer holds, unread: the kernel reports ENOBUFS, the monitor
/// says `ResyncNeeded`, and a new snapshot shows the true state.
#[test]
fn link_monitor_overflow_asks_for_a_resync() {
    let ns = Netns::new("flood");
    let peer = Netns::new("flood-peer");
    veth_pair(&ns, "mpfl0", &peer, "mpfl1");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (out_tx, out_rx) = std::sync::mpsc::channel();
    let worker = ns.enter(move || {
        let mut monitor = LinkMonitor::open().expect("open link monitor");
        out_tx.send(()).expect("ready");
        rx.recv().expect("flood done");
        let mut reads = Vec::new();
        for _ in 0..100 {
            let read = monitor.read().expect("read");
            let resync = read == LinkRead::ResyncNeeded;
            reads.push(read);
            if resync {
                break;
            }
        }
        (reads, monitor.snapshot().expect("snapshot after overflow"))
    });
    out_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("monitor opened");
    // 4000 addresses in one `ip -batch` run: far more RTM_NEWADDR than 1 MiB of buffer holds.
    let batch: String = (0..4000)
        .map(|i| format!("addr add 10.80.{}.{}/32 dev mpfl0\n", i / 250, i % 250 + 1))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("flood.batch");
    std::fs::write(&file, batch).expect("write batch");
    ns.ip(&format!("-batch {}", file.display()));
    tx.send(()).expect("go");
    let (reads, snapshot) = worker.join().expect("worker");
    assert_eq!(
        reads.last(),
        Some(&LinkRead::ResyncNeeded),
        "no ENOBUFS after 4000 changes"
    );
    let flooded = snapshot
        .interfaces
        .iter()
        .find(|i| i.name == "mpfl0")
        .expect("mpfl0");
    let v4 = flooded
        .addresses
        .iter()
        .filter(|(a, _)| a.is_ipv4())
        .count();
    assert_eq!(v4, 4000, "the resync snapshot shows every address");
}
