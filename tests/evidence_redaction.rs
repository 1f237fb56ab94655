//! The evidence ring never holds a password or a message (docs/threat-model.md, "Personal
//! data"): the real daemon, running as a real unprivileged user, captures real logins made by
//! curl against a real dovecot (IMAP, POP3, and its submission service for SMTP AUTH), and then
//! no file in its state directory contains the password, in plain or base64 form, nor the
//! fetched mail's subject or body. While it runs, its control socket is also checked to answer
//! `status` promptly with 64 silent connections open.
//!
//! Two network namespaces of its own (`mps2-…`, deleted by a guard): `c` holds the client,
//! `s` holds dovecot and the daemon, which captures on `lan0`. Needs root, iproute2, dovecot
//! (dovecot-core, dovecot-imapd, dovecot-pop3d, dovecot-submissiond), curl, useradd/userdel
//! and grep; a missing one fails the test with its name.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Kx7-quartz-Meadow-91";
const USER: &str = "alice";
const SUBJECT: &str = "Subject-Marker-4417";
const BODY: &str = "Body-Marker-the-vault-code-is-5512";

fn run(argv: &[&str]) -> String {
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("mps2-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        run(&["ip", "netns", "add", &name]);
        Netns(name)
    }
    fn ip(&self, args: &str) {
        let mut argv = vec!["ip", "-n", &self.0];
        argv.extend(args.split_whitespace());
        run(&argv);
    }
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A system user made with `useradd -r`, removed on drop.
struct SystemUser(String);

impl SystemUser {
    fn new() -> SystemUser {
        let name = format!("mps2ev{}", std::process::id());
        let _ = Command::new("userdel").arg(&name).status();
        run(&["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", &name]);
        SystemUser(name)
    }
}

impl Drop for SystemUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).status();
    }
}

/// A child stopped with SIGTERM (then SIGKILL) on drop.
struct Running(Child);

impl Running {
    fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} not ready within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn start_dovecot(dir: &Path, ns: &Netns) -> Running {
    for sub in [
        "run",
        "home/Maildir/cur",
        "home/Maildir/new",
        "home/Maildir/tmp",
    ] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("home/Maildir/cur/1700000000.M1P1.test:2,S"),
        format!("From: bob@test\r\nTo: alice@test\r\nSubject: {SUBJECT}\r\n\r\n{BODY}\r\n"),
    )
    .unwrap();
    run(&[
        "chown",
        "-R",
        "65534:65534",
        &dir.join("home").display().to_string(),
    ]);
    std::fs::write(
        dir.join("passwd"),
        format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
    )
    .unwrap();
    let p = |s: &str| dir.join(s).display().to_string();
    let conf = format!(
        "base_dir = {run}\nstate_dir = {run}\nlog_path = {log}\n\
         protocols = imap pop3 submission\nlisten = 10.77.0.1\nssl = no\n\
         disable_plaintext_auth = no\nauth_mechanisms = plain login\n\
         hostname = mail.test\nsubmission_relay_host = 127.0.0.1\nsubmission_relay_port = 9\n\
         passdb {{\n  driver = passwd-file\n  args = {passwd}\n}}\n\
         userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={home}\n}}\n\
         mail_location = maildir:{home}/Maildir\n\
         service imap-login {{\n  inet_listener imap {{\n    port = 143\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
         service pop3-login {{\n  inet_listener pop3 {{\n    port = 110\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
         service submission-login {{\n  inet_listener submission {{\n    port = 587\n  }}\n}}\n",
        run = p("run"),
        log = p("dovecot.log"),
        passwd = p("passwd"),
        home = p("home"),
    );
    std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
    let child = ns
        .command("dovecot")
        .args(["-F", "-c"])
        .arg(dir.join("dovecot.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dovecot is needed for this test (dovecot-core, -imapd, -pop3d, -submissiond)");
    let server = Running(child);
    let log = dir.join("dovecot.log");
    wait_for("dovecot", Duration::from_secs(15), || {
        let ports = ["143", "110", "587"];
        let out = ns.command("ss").args(["-ltn"]).output();
        out.is_ok_and(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            ports
                .iter()
                .all(|p| text.contains(&format!("10.77.0.1:{p} ")))
        }) || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Fatal"))
    });
    server
}

fn curl(ns: &Netns, args: &[&str]) -> std::process::Output {
    ns.command("curl")
        .args(["--silent", "--show-error", "--max-time", "15"])
        .args(args)
        .output()
        .expect("curl is needed for this test")
}

#[test]
fn no_password_or_message_reaches_the_state_directory() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "tests/evidence_redaction.rs needs root (namespaces, capture, useradd); run as root"
    );
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let client = Netns::new("c");
    let server = Netns::new("s");
    client.ip(&format!(
        "link add cl0 type veth peer name lan0 netns {}",
        server.0
    ));
    client.ip("addr add 10.77.0.2/24 dev cl0");
    client.ip("link set cl0 up");
    client.ip("link set lo up");
    server.ip("addr add 10.77.0.1/24 dev lan0");
    server.ip("link set lan0 up");
    server.ip("link set lo up");
    // The WAN side: a second veth pair, its far end in the client's namespace.
    server.ip(&format!(
        "link add wan0 type veth peer name up0 netns {}",
        client.0
    ));
    client.ip("link set up0 up");
    server.ip("addr add 198.51.100.2/24 dev wan0");
    server.ip("link set wan0 up");
    server.ip("route add default via 198.51.100.1");

    let dovecot_dir = work.path().join("dovecot");
    let mut dovecot = start_dovecot(&dovecot_dir, &server);

    let user = SystemUser::new();
    let state = work.path().join("state");
    let socket = work.path().join("mailpulse.sock");
    let config = work.path().join("mailpulse.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\nuser = \"{}\"\nsyslog = false\n\
             [lan]\ninterfaces = [\"lan0\"]\n[wan]\ninterfaces = [\"wan0\"]\n\
             [probe]\ntargets = []\n[capture]\nevidence_ring = \"1MB\"\n",
            socket.display(),
            state.display(),
            user.0
        ),
    )
    .unwrap();
    let log = std::fs::File::create(work.path().join("daemon.log")).unwrap();
    let mut daemon = Running(
        server
            .command(env!("CARGO_BIN_EXE_mailpulse"))
            .args(["daemon", "-c"])
            .arg(&config)
            .arg("--foreground")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the daemon"),
    );
    wait_for(
        "the daemon's control socket",
        Duration::from_secs(20),
        || {
            mailpulse::control::client::request(&socket, &mailpulse::control::Request::Status)
                .is_ok()
        },
    );

    // The real daemon's control socket, with 64 silent connections open, still answers
    // `status` within 1 s (tests/control_starvation.rs explains the bound; before, twelve
    // such connections cost 5 s).
    let idle: Vec<std::os::unix::net::UnixStream> = (0..64)
        .map(|_| std::os::unix::net::UnixStream::connect(&socket).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let answer = mailpulse::control::client::request(&socket, &mailpulse::control::Request::Status);
    let took = started.elapsed();
    assert!(
        answer.is_ok(),
        "status with 64 idle connections: {answer:?}"
    );
    assert!(took < Duration::from_secs(1), "status took {took:?}");
    drop(idle);

    let auth = format!("{USER}:{PASSWORD}");
    let message = work.path().join("message.txt");
    std::fs::File::create(&message)
        .unwrap()
        .write_all(b"Subject: hi\r\n\r\nhello\r\n")
        .unwrap();
    let msg = message.display().to_string();
    let sessions: Vec<(&str, Vec<&str>)> = vec![
        // IMAP AUTHENTICATE PLAIN and LOGIN (base64), each fetching the mail.
        (
            "imap PLAIN",
            vec![
                "--login-options",
                "AUTH=PLAIN",
                "-u",
                &auth,
                "imap://10.77.0.1/INBOX/;UID=1",
            ],
        ),
        (
            "imap LOGIN",
            vec![
                "--login-options",
                "AUTH=LOGIN",
                "-u",
                &auth,
                "imap://10.77.0.1/INBOX/;UID=1",
            ],
        ),
        (
            "pop3 PLAIN",
            vec![
                "--login-options",
                "AUTH=PLAIN",
                "-u",
                &auth,
                "pop3://10.77.0.1/1",
            ],
        ),
        (
            "pop3 LOGIN",
            vec![
                "--login-options",
                "AUTH=LOGIN",
                "-u",
                &auth,
                "pop3://10.77.0.1/1",
            ],
        ),
        (
            "smtp PLAIN",
            vec![
                "--login-options",
                "AUTH=PLAIN",
                "-u",
                &auth,
                "--mail-from",
                "alice@test",
                "--mail-rcpt",
                "bob@test",
                "-T",
                &msg,
                "smtp://10.77.0.1:587",
            ],
        ),
        (
            "smtp LOGIN",
            vec![
                "--login-options",
                "AUTH=LOGIN",
                "-u",
                &auth,
                "--mail-from",
                "alice@test",
                "--mail-rcpt",
                "bob@test",
                "-T",
                &msg,
                "smtp://10.77.0.1:587",
            ],
        ),
    ];
    for (what, args) in &sessions {
        let out = curl(&client, args);
        eprintln!(
            "{what}: {args:?} -> {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if what.starts_with("imap") || what.starts_with("pop3") {
            // Ground truth from the server's side: the mail was fetched.
            assert!(
                String::from_utf8_lossy(&out.stdout).contains(BODY),
                "{what}: curl did not fetch the mail: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // The plaintext commands curl does not send: IMAP `LOGIN user password` and POP3
    // USER/PASS, by Python's imaplib and poplib.
    let script = format!(
        "import imaplib, poplib\n\
         i = imaplib.IMAP4('10.77.0.1', 143); i.login('{USER}', '{PASSWORD}'); i.select('INBOX')\n\
         t, d = i.fetch('1', '(RFC822)'); assert b'{BODY}' in d[0][1], d; i.logout()\n\
         p = poplib.POP3('10.77.0.1', 110); p.user('{USER}'); p.pass_('{PASSWORD}')\n\
         assert b'{BODY}' in b'\\n'.join(p.retr(1)[1]); p.quit()\n"
    );
    let out = client
        .command("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 is needed for this test");
    assert!(
        out.status.success(),
        "imaplib/poplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // dovecot's own log says every login succeeded (SMTP: the relay is absent on purpose;
    // only the AUTH exchange matters here).
    let dovecot_log = std::fs::read_to_string(dovecot_dir.join("dovecot.log")).unwrap();
    for (service, mech, count) in [
        ("imap-login", "LOGIN", 1),
        ("imap-login", "PLAIN", 2),
        ("pop3-login", "LOGIN", 1),
        ("pop3-login", "PLAIN", 2),
        ("submission-login", "PLAIN", 1),
        ("submission-login", "LOGIN", 1),
    ] {
        let seen = dovecot_log
            .lines()
            .filter(|l| l.contains(service) && l.contains(&format!("Login: user=<{USER}>")))
            .filter(|l| mech.is_empty() || l.contains(&format!("method={mech}")))
            .count();
        assert!(
            seen >= count,
            "dovecot logged {seen} {service} {mech} logins, expected {count}:\n{dovecot_log}"
        );
    }
    // Two housekeeping seconds carry the ring to disk; then the daemon stops.
    std::thread::sleep(Duration::from_secs(3));
    daemon.stop();
    dovecot.stop();

    let ring = state.join("evidence.0.pcapng");
    let ring_bytes = std::fs::read(&ring).expect("the evidence ring was written");
    if std::env::var_os("MPS2_KEEP").is_some() {
        let _ = std::fs::copy(&ring, "/tmp/mps2-ring.pcapng");
    }
    let contains = |needle: &[u8]| ring_bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(b"Dovecot (Debian) ready"),
        "the ring holds the greetings (it is not empty)"
    );
    assert!(contains(b"LOGIN"), "the ring holds the command verbs");

    let secrets = [
        PASSWORD.to_string(),
        base64(PASSWORD.as_bytes()),
        base64(format!("\0{USER}\0{PASSWORD}").as_bytes()),
        base64(format!("{USER}\0{USER}\0{PASSWORD}").as_bytes()),
        SUBJECT.to_string(),
        BODY.to_string(),
    ];
    let patterns = work.path().join("secrets.txt");
    std::fs::write(&patterns, secrets.join("\n") + "\n").unwrap();
    let files: Vec<PathBuf> = walk(&state);
    assert!(
        files.iter().any(|f| f.ends_with("journal.jsonl")),
        "the journal is among the files searched: {files:?}"
    );
    let grep = Command::new("grep")
        .args(["-r", "-a", "-F", "-o", "-f"])
        .arg(&patterns)
        .arg(&state)
        .output()
        .expect("grep is needed for this test");
    assert_eq!(
        grep.status.code(),
        Some(1),
        "secrets found in the state directory ({files:?}):\n{}",
        String::from_utf8_lossy(&grep.stdout)
    );
    let mode = std::fs::metadata(&ring).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "evidence ring mode");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
