//! Test servers for the probe tests, all on 127.0.0.1: a test CA and server certificate made by
//! `openssl`, and real dovecot instances run from a temporary directory.
//!
//! A missing `openssl` or `dovecot` fails the test with its name; nothing is skipped.

#![allow(dead_code)] // each test file uses part of this module

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use mailpulse::time::Timestamp;

/// Runs a command and fails the test, naming the program, if it is missing or fails.
pub fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for localhost, mail.test, 127.0.0.1 and ::1.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    /// Makes the CA and the server certificate with openssl (P-256 keys).
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:localhost,DNS:mail.test,IP:127.0.0.1,IP:::1\n\
             basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write ext.cnf");
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-subj",
                "/CN=mailpulse test CA",
            ],
            d,
        );
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
            d,
        );
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "20",
                "-extfile",
                "ext.cnf",
            ],
            d,
        );
        // The same key, certified until yesterday: `-days -1` puts notAfter a day before
        // notBefore (now).
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "expired.pem",
                "-days",
                "-1",
                "-extfile",
                "ext.cnf",
            ],
            d,
        );
        Pki { dir }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }
    /// A certificate for the same key that expired yesterday.
    pub fn expired_cert(&self) -> PathBuf {
        self.dir.path().join("expired.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// The server certificate's notAfter as `openssl x509 -enddate` prints it.
    pub fn openssl_not_after(&self) -> Timestamp {
        openssl_not_after(&self.cert())
    }
}

/// A certificate's notAfter as `openssl x509 -enddate` prints it.
pub fn openssl_not_after(cert: &Path) -> Timestamp {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in"])
        .arg(cert)
        .output()
        .expect("run openssl x509 -enddate");
    let text = String::from_utf8_lossy(&out.stdout);
    // "notAfter=Dec 12 05:16:45 2026 GMT"
    let value = text
        .trim()
        .strip_prefix("notAfter=")
        .unwrap_or_else(|| panic!("unexpected openssl output {text:?}"));
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    let dt = NaiveDateTime::parse_from_str(&value, "%b %d %H:%M:%S %Y GMT")
        .unwrap_or_else(|e| panic!("parse {value:?}: {e}"));
    Timestamp::from_unix(dt.and_utc().timestamp(), 0)
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Which TLS versions a dovecot instance accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsRange {
    /// TLS 1.2 and 1.3 (dovecot's own settings).
    Modern,
    /// At most TLS 1.2 (OpenSSL `MaxProtocol`, passed in through `import_environment`).
    Max12,
    /// TLS 1.0 and 1.1 only, like a server that was never updated.
    Max11,
}

/// A dovecot serving IMAP, IMAPS, POP3 and POP3S on 127.0.0.1; stopped on drop.
pub struct Dovecot {
    child: Child,
    pub dir: tempfile::TempDir,
    pub imap: u16,
    pub imaps: u16,
    pub pop3: u16,
    pub pop3s: u16,
}

impl Dovecot {
    /// Starts dovecot with `pki`'s certificate and waits until all four ports accept.
    pub fn start(pki: &Pki, tls: TlsRange) -> Dovecot {
        Dovecot::start_with_cert(pki, tls, &pki.cert())
    }

    /// Starts dovecot serving `cert` (with `pki`'s key).
    pub fn start_with_cert(pki: &Pki, tls: TlsRange, cert: &Path) -> Dovecot {
        assert!(
            Path::new("/usr/sbin/dovecot").exists() || which("dovecot"),
            "dovecot is not installed (Debian packages dovecot-core, dovecot-imapd, dovecot-pop3d)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        for sub in ["run", "state", "home"] {
            std::fs::create_dir(d.join(sub)).expect("mkdir");
        }
        let (imap, imaps, pop3, pop3s) = (free_port(), free_port(), free_port(), free_port());
        let (min_protocol, openssl_conf) = match tls {
            TlsRange::Modern => ("TLSv1.2", None),
            TlsRange::Max12 => ("TLSv1.2", Some("MaxProtocol = TLSv1.2\n")),
            TlsRange::Max11 => (
                "TLSv1",
                Some("MaxProtocol = TLSv1.1\nCipherString = DEFAULT@SECLEVEL=0\n"),
            ),
        };
        let mut import = String::from("TZ");
        if let Some(section) = openssl_conf {
            let path = d.join("openssl.cnf");
            std::fs::write(
                &path,
                format!(
                    "openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n\
                     [ssl_sect]\nsystem_default = system_default_sect\n\
                     [system_default_sect]\n{section}"
                ),
            )
            .expect("write openssl.cnf");
            import.push_str(&format!(" OPENSSL_CONF={}", path.display()));
        }
        let p = |s: &str| d.join(s).display().to_string();
        let conf = format!(
            "base_dir = {run}\nstate_dir = {state}\nlog_path = {log}\n\
             protocols = imap pop3\nlisten = 127.0.0.1\n\
             ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\nssl_min_protocol = {min_protocol}\n\
             disable_plaintext_auth = yes\nauth_mechanisms = plain\n\
             import_environment = {import}\n\
             passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
             userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={home}\n}}\n\
             mail_location = maildir:{home}/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n\
               inet_listener imaps {{\n    port = {imaps}\n    ssl = yes\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = {pop3}\n  }}\n\
               inet_listener pop3s {{\n    port = {pop3s}\n    ssl = yes\n  }}\n}}\n",
            run = p("run"),
            state = p("state"),
            log = p("dovecot.log"),
            home = p("home"),
            cert = cert.display(),
            key = pki.key().display(),
        );
        let conf_path = d.join("dovecot.conf");
        std::fs::write(&conf_path, conf).expect("write dovecot.conf");
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dovecot is not installed or cannot start");
        let mut server = Dovecot {
            child,
            dir,
            imap,
            imaps,
            pop3,
            pop3s,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in [self.imap, self.imaps, self.pop3, self.pop3s] {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    break;
                }
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("dovecot exited ({status}): {}", self.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "dovecot did not listen on {addr} within 10 s: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// dovecot's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Whether the log says `needle` within `wait`: dovecot's login process writes its
    /// error line through the log process, which may land after the client has its answer.
    pub fn log_says(&self, needle: &str, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its login and auth processes; SIGKILL only as a fallback.
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
