//! Probes that fail, each in the phase where it went wrong, plus the DNS phase and SMTP
//! submission with STARTTLS, against small servers on 127.0.0.1 started by each test.

mod probe_support;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailpulse::observe::observation::{ProbePhase, ProbeResult};
use mailpulse::observe::record::{TlsMode, TlsVersion};
use mailpulse::probe::{self, ProbeOptions, Prober, Target};
use probe_support::{free_port, Pki};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

fn opts(timeout: Duration) -> ProbeOptions {
    ProbeOptions {
        timeout,
        nameservers: Vec::new(),
        ca_file: None,
        // The test servers listen on loopback addresses and ports of their own.
        allow_any_target: true,
    }
}

fn phases(r: &ProbeResult) -> Vec<ProbePhase> {
    r.phases.iter().map(|p| p.phase).collect()
}

fn failure(r: &ProbeResult) -> (ProbePhase, String) {
    let f = r
        .failure
        .clone()
        .unwrap_or_else(|| panic!("expected a failure: {r:#?}"));
    (f.phase, f.error)
}

async fn probe_url(url: &str, options: &ProbeOptions) -> ProbeResult {
    let prober = Prober::new(options).expect("prober setup");
    prober.run(&Target::parse(url).expect("valid URL")).await
}

/// Reads one CR LF line byte by byte (so nothing past it is consumed before a TLS upgrade).
async fn read_line<S: AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        if byte[0] == b'\n' {
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            return Some(text);
        }
        line.push(byte[0]);
    }
}

async fn write<S: AsyncWrite + Unpin>(s: &mut S, text: &str) {
    let _ = s.write_all(text.as_bytes()).await;
}

#[tokio::test]
async fn nothing_listening_fails_at_connect_with_connection_refused() {
    let port = free_port();
    let r = probe_url(
        &format!("imaps://127.0.0.1:{port}"),
        &opts(Duration::from_secs(2)),
    )
    .await;
    assert_eq!(
        failure(&r),
        (
            ProbePhase::Connect,
            format!("connection refused (127.0.0.1:{port})")
        )
    );
    assert_eq!(phases(&r), [ProbePhase::Connect]);
    assert_eq!(r.connected_to, None);
}

#[tokio::test]
async fn a_server_that_never_greets_times_out_in_the_greeting_phase() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        // Accept and hold the connection open, saying nothing.
        let (sock, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(sock);
    });
    let started = Instant::now();
    let r = probe_url(
        &format!("imap://127.0.0.1:{port}"),
        &opts(Duration::from_millis(300)),
    )
    .await;
    assert_eq!(
        failure(&r),
        (ProbePhase::Greeting, "timed out after 300 ms".to_string())
    );
    let greeting = r.phase(ProbePhase::Greeting).unwrap();
    assert!(greeting >= Duration::from_millis(300), "{greeting:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_endless_greeting_line_is_cut_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent_by_server = sent.clone();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        write(&mut sock, "* OK ").await;
        let chunk = vec![b'A'; 4096];
        while sock.write_all(&chunk).await.is_ok() {
            sent_by_server.fetch_add(chunk.len(), Ordering::Relaxed);
        }
    });
    let r = probe_url(
        &format!("imap://127.0.0.1:{port}"),
        &opts(Duration::from_secs(5)),
    )
    .await;
    assert_eq!(
        failure(&r),
        (
            ProbePhase::Greeting,
            "line longer than 8192 bytes".to_string()
        )
    );
    assert_eq!(r.greeting, None);
    assert!(r.phase(ProbePhase::Greeting).unwrap() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_endless_capability_reply_is_cut_off_at_the_byte_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        write(&mut sock, "+OK POP3 ready\r\n").await;
        let _ = read_line(&mut sock).await; // CAPA
        write(&mut sock, "+OK\r\n").await;
        while sock.write_all(b"X-CAPABILITY\r\n").await.is_ok() {}
    });
    let r = probe_url(
        &format!("pop3://127.0.0.1:{port}"),
        &opts(Duration::from_secs(5)),
    )
    .await;
    assert_eq!(
        failure(&r),
        (
            ProbePhase::Capabilities,
            "more than 262144 bytes from the server".to_string()
        )
    );
    assert_eq!(r.greeting.as_deref(), Some("+OK POP3 ready"));
}

/// `openssl s_server` accepting TLS 1.1 only; killed on drop.
struct OpensslServer {
    child: Child,
    port: u16,
}

impl OpensslServer {
    fn tls11_only(pki: &Pki) -> OpensslServer {
        let port = free_port();
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-tls1_1",
                "-cipher",
                "DEFAULT@SECLEVEL=0",
            ])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(pki.cert())
            .arg("-key")
            .arg(pki.key())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is not installed");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(30));
        }
        OpensslServer { child, port }
    }
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_tls_1_1_only_server_fails_the_tls_phase_with_alert_protocol_version() {
    let pki = Pki::new();
    let server = OpensslServer::tls11_only(&pki);
    let r = probe_url(
        &format!("imaps://127.0.0.1:{}", server.port),
        &opts(Duration::from_secs(5)),
    )
    .await;
    // RFC 8446 §6.2 / RFC 5246 §7.2.2: a server that cannot agree on a version answers with
    // the protocol_version alert (70); `openssl s_client -tls1_2` reports the same alert.
    assert_eq!(
        failure(&r),
        (ProbePhase::Tls, "alert protocol_version".to_string())
    );
    assert_eq!(phases(&r), [ProbePhase::Connect, ProbePhase::Tls]);
    assert_eq!(r.tls_version, None);
}

/// An SMTP submission server: greeting, EHLO, optional STARTTLS (rustls with the test
/// certificate), EHLO again, QUIT. Records every command it receives.
async fn submission_server(
    pki: Option<&Pki>,
    delay: Duration,
) -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = pki.map(|pki| tls_acceptor(&pki.cert(), &pki.key()));
    let handle = tokio::spawn(async move {
        let mut commands = Vec::new();
        let (mut plain, _) = listener.accept().await.unwrap();
        slow_write(delay, &mut plain, "220-mx.test ESMTP test\r\n220 ready\r\n").await;
        let Some(ehlo) = read_line(&mut plain).await else {
            return commands;
        };
        commands.push(ehlo);
        let starttls = if acceptor.is_some() {
            "250-STARTTLS\r\n"
        } else {
            ""
        };
        slow_write(
            delay,
            &mut plain,
            &format!("250-mx.test\r\n250-PIPELINING\r\n{starttls}250 8BITMIME\r\n"),
        )
        .await;
        let Some(next) = read_line(&mut plain).await else {
            return commands;
        };
        commands.push(next.clone());
        match (&acceptor, next.as_str()) {
            (Some(acceptor), "STARTTLS") => {
                slow_write(delay, &mut plain, "220 2.0.0 go ahead\r\n").await;
                let mut tls = acceptor.accept(plain).await.unwrap();
                while let Some(line) = read_line(&mut tls).await {
                    commands.push(line.clone());
                    match line.as_str() {
                        l if l.starts_with("EHLO") => {
                            slow_write(delay, &mut tls, "250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n")
                                .await;
                        }
                        "QUIT" => {
                            slow_write(delay, &mut tls, "221 2.0.0 bye\r\n").await;
                            let _ = tls.shutdown().await;
                            break;
                        }
                        _ => slow_write(delay, &mut tls, "502 5.5.1 no\r\n").await,
                    }
                }
            }
            _ => {
                slow_write(delay, &mut plain, "221 2.0.0 bye\r\n").await;
                while let Some(line) = read_line(&mut plain).await {
                    commands.push(line);
                }
            }
        }
        commands
    });
    (port, handle)
}

async fn slow_write<S: AsyncWrite + Unpin>(delay: Duration, s: &mut S, text: &str) {
    tokio::time::sleep(delay).await;
    write(s, text).await;
}

fn tls_acceptor(cert: &Path, key: &Path) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn submission_upgrades_with_starttls_sends_ehlo_again_and_never_logs_in() {
    let pki = Pki::new();
    let (port, server) = submission_server(Some(&pki), Duration::ZERO).await;
    let options = ProbeOptions {
        ca_file: Some(pki.ca()),
        ..opts(Duration::from_secs(5))
    };
    let r = probe_url(&format!("submission://127.0.0.1:{port}"), &options).await;
    assert_eq!(r.failure, None, "{r:#?}");
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
    assert_eq!(r.greeting.as_deref(), Some("220-mx.test ESMTP test"));
    // RFC 3207 §4.2: the client must discard what it knew and send EHLO again; only the
    // post-TLS list is kept.
    assert_eq!(r.capabilities, ["AUTH PLAIN LOGIN"]);
    let commands = server.await.unwrap();
    assert_eq!(
        commands,
        [
            "EHLO mailpulse.invalid",
            "STARTTLS",
            "EHLO mailpulse.invalid",
            "QUIT"
        ]
    );
}

#[tokio::test]
async fn submission_without_starttls_fails_in_the_starttls_phase() {
    let (port, server) = submission_server(None, Duration::ZERO).await;
    let r = probe_url(
        &format!("submission://127.0.0.1:{port}"),
        &opts(Duration::from_secs(5)),
    )
    .await;
    let (phase, error) = failure(&r);
    assert_eq!(phase, ProbePhase::Starttls);
    assert!(error.contains("does not offer STARTTLS"), "{error}");
    assert_eq!(r.tls, TlsMode::None);
    assert_eq!(r.capabilities, ["PIPELINING", "8BITMIME"]);
    drop(r);
    // Nothing but EHLO was sent (in particular no AUTH in plaintext).
    let commands = server.await.unwrap();
    assert_eq!(
        commands.first().map(String::as_str),
        Some("EHLO mailpulse.invalid")
    );
    assert!(
        !commands.iter().any(|c| c.starts_with("AUTH")),
        "{commands:?}"
    );
}

/// A DNS server on 127.0.0.1 (UDP) that knows one name: `mail.test` → 127.0.0.1 and ::1.
/// Answers other names with NXDOMAIN. Counts the queries it receives.
struct FakeDns {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FakeDns {
    fn start() -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, s) = (queries.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = dns_answer(&buf[..n]) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        FakeDns {
            addr,
            queries,
            stop,
        }
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Builds the answer to one query (RFC 1035 §4.1): header, the question copied, and for
/// mail.test one A or AAAA record with a compression pointer to the question name.
fn dns_answer(query: &[u8]) -> Option<Vec<u8>> {
    let header = query.get(..12)?;
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question = query.get(12..pos + 4)?;
    let known = labels == ["mail", "test"];
    let rdata: Option<Vec<u8>> = match (known, qtype) {
        (true, 1) => Some(vec![127, 0, 0, 1]),
        (true, 28) => Some(
            "::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec(),
        ),
        _ => None,
    };
    let mut out = Vec::new();
    out.extend_from_slice(&header[..2]); // ID
    let rcode = if known { 0 } else { 3 }; // NOERROR / NXDOMAIN
    out.extend_from_slice(&[0x85, 0x80 | rcode]); // QR AA RD RA
    out.extend_from_slice(&[0, 1, 0, u8::from(rdata.is_some()), 0, 0, 0, 0]);
    out.extend_from_slice(question);
    if let Some(rdata) = rdata {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 60]); // IN, TTL 60
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

/// A plaintext IMAP server with no STARTTLS, serving any number of connections.
async fn plain_imap_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                write(&mut sock, "* OK test server ready\r\n").await;
                while let Some(line) = read_line(&mut sock).await {
                    let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
                    match command {
                        "CAPABILITY" => {
                            write(
                                &mut sock,
                                &format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"),
                            )
                            .await;
                        }
                        "LOGOUT" => {
                            write(&mut sock, &format!("* BYE bye\r\n{tag} OK done\r\n")).await;
                            break;
                        }
                        _ => write(&mut sock, &format!("{tag} BAD no\r\n")).await,
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn dns_uses_the_configured_nameserver_records_both_families_and_caches_nothing() {
    let dns = FakeDns::start();
    let port = plain_imap_server().await;
    let options = ProbeOptions {
        nameservers: vec![dns.addr],
        ..opts(Duration::from_secs(3))
    };
    let prober = Prober::new(&options).unwrap();
    let target = Target::parse(&format!("imap://mail.test:{port}")).unwrap();

    let r = prober.run(&target).await;
    assert_eq!(r.failure, None, "{r:#?}");
    assert_eq!(phases(&r).first(), Some(&ProbePhase::Dns));
    let mut addresses = r.addresses.clone();
    addresses.sort();
    let expected: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    assert_eq!(addresses, expected);
    // Only 127.0.0.1 listens: whatever the order, the probe ends up there.
    assert_eq!(
        r.connected_to,
        Some(SocketAddr::from(([127, 0, 0, 1], port)))
    );
    assert_eq!(r.tls, TlsMode::None);
    assert_eq!(r.tls_version, None);
    assert_eq!(r.greeting.as_deref(), Some("* OK test server ready"));
    assert_eq!(r.capabilities, ["IMAP4rev1", "AUTH=PLAIN"]);

    // A second probe asks again (A and AAAA): the lookup is measured, not cached.
    let before = dns.queries.load(Ordering::Relaxed);
    assert!(before >= 2, "{before} queries");
    let r = prober.run(&target).await;
    assert_eq!(r.failure, None);
    assert!(dns.queries.load(Ordering::Relaxed) >= before + 2);

    let r = prober
        .run(&Target::parse("imaps://nosuch.test").unwrap())
        .await;
    let (phase, error) = failure(&r);
    assert_eq!(phase, ProbePhase::Dns);
    assert!(error.contains("nosuch.test"), "{error}");
    assert_eq!(phases(&r), [ProbePhase::Dns]);
}

#[tokio::test]
async fn an_unanswered_dns_query_times_out_in_the_dns_phase() {
    // A UDP socket that reads queries and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let options = ProbeOptions {
        nameservers: vec![silent.local_addr().unwrap()],
        ..opts(Duration::from_millis(400))
    };
    let started = Instant::now();
    let r = probe_url("imaps://mail.test", &options).await;
    let (phase, _) = failure(&r);
    assert_eq!(phase, ProbePhase::Dns, "{r:#?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn cli_exit_codes_follow_sysexits() {
    let run = |url: &str, ca: Option<&Path>| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let options = probe::CliOptions {
            ca_file: ca.map(Path::to_path_buf),
            allow_any_target: true,
            ..probe::CliOptions::default()
        };
        let code = probe::cli_main_to(url, &options, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    // 64: the message names the bad part.
    let (code, _, err) = run("imaps://imap.gmail.com:99999", None);
    assert_eq!(code, 64);
    assert!(err.contains("\"99999\""), "{err}");
    // 66: the message names the missing file.
    let (code, _, err) = run("imaps://127.0.0.1", Some(Path::new("/nonexistent/ca.pem")));
    assert_eq!(code, 66);
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    // 69: the probe ran and failed; the last line says where and why.
    let port = free_port();
    let (code, out, _) = run(&format!("pop3s://127.0.0.1:{port}"), None);
    assert_eq!(code, 69);
    assert_eq!(
        out.lines().last(),
        Some(format!("FAILED at connect: connection refused (127.0.0.1:{port})").as_str()),
        "{out}"
    );
}

#[tokio::test]
async fn an_ipv6_literal_target_connects_over_ipv6() {
    let listener = TcpListener::bind("[::1]:0")
        .await
        .expect("IPv6 loopback ::1 is needed for this test");
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        write(&mut sock, "+OK ready\r\n").await;
        while let Some(line) = read_line(&mut sock).await {
            match line.as_str() {
                "CAPA" => write(&mut sock, "+OK\r\nUSER\r\nUIDL\r\n.\r\n").await,
                "QUIT" => {
                    write(&mut sock, "+OK bye\r\n").await;
                    break;
                }
                _ => write(&mut sock, "-ERR no\r\n").await,
            }
        }
    });
    let r = probe_url(
        &format!("pop3://[::1]:{port}"),
        &opts(Duration::from_secs(3)),
    )
    .await;
    assert_eq!(r.failure, None, "{r:#?}");
    assert_eq!(r.target, format!("pop3://[::1]:{port}"));
    assert_eq!(r.host, "::1");
    assert_eq!(
        r.connected_to,
        Some(format!("[::1]:{port}").parse().unwrap())
    );
    assert_eq!(r.capabilities, ["USER", "UIDL"]);
    // No STLS offered: pop3:// stays in plaintext and says so.
    assert_eq!(r.tls, TlsMode::None);
    assert!(!phases(&r).contains(&ProbePhase::Starttls));
}

#[tokio::test]
async fn bytes_pushed_after_the_starttls_reply_stop_the_upgrade() {
    // A server (or a man in the middle) that sends data right behind its STARTTLS go-ahead:
    // that data would be taken as if it came over TLS, so the probe refuses.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        write(&mut sock, "* OK ready\r\n").await;
        while let Some(line) = read_line(&mut sock).await {
            let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
            match command {
                "CAPABILITY" => {
                    write(
                        &mut sock,
                        &format!("* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK done\r\n"),
                    )
                    .await;
                }
                "STARTTLS" => {
                    write(&mut sock, &format!("{tag} OK go\r\n* injected\r\n")).await;
                }
                _ => break,
            }
        }
    });
    let r = probe_url(
        &format!("imap://127.0.0.1:{port}"),
        &opts(Duration::from_secs(3)),
    )
    .await;
    let (phase, error) = failure(&r);
    assert_eq!(phase, ProbePhase::Starttls);
    assert!(error.contains("after its STARTTLS reply"), "{error}");
    assert_eq!(r.tls_version, None);
}

#[tokio::test]
async fn a_server_slow_at_every_step_is_stopped_by_the_whole_probe_budget() {
    // Each reply takes 0.7 s, under the 1 s phase timeout, but six steps do not fit in the
    // whole-probe budget of 3 x 1 s: the last phase gets what is left.
    let pki = Pki::new();
    let (port, _server) = submission_server(Some(&pki), Duration::from_millis(700)).await;
    let options = ProbeOptions {
        ca_file: Some(pki.ca()),
        ..opts(Duration::from_secs(1))
    };
    let started = Instant::now();
    let r = probe_url(&format!("submission://127.0.0.1:{port}"), &options).await;
    let (phase, error) = failure(&r);
    assert_eq!(phase, ProbePhase::Logout, "{r:#?}");
    assert!(error.contains("(the whole probe may take 3 s)"), "{error}");
    assert!(started.elapsed() < Duration::from_millis(3500));
    assert!(r.total() <= Duration::from_millis(3100), "{:?}", r.total());
}
