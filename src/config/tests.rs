use std::path::Path;
use std::time::Duration;

use super::*;

fn parse_str(text: &str) -> Result<Config, String> {
    parse(text, Path::new("t.toml")).map_err(|e| e.to_string())
}

#[test]
fn empty_file_gives_the_design_defaults() {
    let c = parse_str("").unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.daemon.socket, Path::new(paths::DEFAULT_SOCKET));
    assert_eq!(c.daemon.user.name, "mailpulse");
    assert!(!c.daemon.user.explicit);
    assert!(c.daemon.syslog);
    assert_eq!(c.daemon.syslog_facility, Facility::Daemon);
    assert_eq!(
        c.daemon.syslog_socket,
        Path::new(paths::DEFAULT_SYSLOG_SOCKET)
    );
    assert_eq!(c.daemon.log_level, LogLevel::Info);
    assert_eq!(c.wan.dpinger_sockets, "/var/run/dpinger_*.sock");
    assert_eq!(c.probe.interval, Duration::from_secs(30));
    assert_eq!(c.probe.timeout, Duration::from_secs(10));
    let urls: Vec<String> = c.probe.targets.iter().map(|t| t.to_string()).collect();
    assert_eq!(urls, DEFAULT_TARGETS);
    assert_eq!(c.diagnosis.window, Duration::from_secs(60));
    assert_eq!(c.diagnosis.slow_dns, Duration::from_secs(2));
    assert_eq!(c.diagnosis.slow_server, Duration::from_secs(5));
    assert_eq!(c.probe.ca_file, None);
}

#[test]
fn the_design_example_parses() {
    let text = r#"
[daemon]
socket = "/var/run/mailpulse.sock"
state_dir = "/var/db/mailpulse"
user = "mailpulse"
syslog = true
syslog_facility = "daemon"
log_level = "info"

[wan]
interfaces = []
dpinger_sockets = "/var/run/dpinger_*.sock"

[lan]
interfaces = []

[probe]
interval = "30s"
timeout = "10s"
targets = [ "imaps://outlook.office365.com", "pop3s://outlook.office365.com",
            "imaps://imap.gmail.com", "imaps://imap.mail.me.com", "imaps://imap.mail.yahoo.com" ]
nameservers = []
ca_file = ""

[diagnosis]
window = "60s"
slow_dns = "2s"
slow_server = "5s"
"#;
    let c = parse_str(text).unwrap();
    assert!(c.daemon.user.explicit);
    assert_eq!(c.probe.targets.len(), 5);
    assert_eq!(c.probe.targets[1].port, 995);
}

#[test]
fn extensions_parse() {
    let c = parse_str(
        "[daemon]\nsyslog_format = \"rfc5424\"\nsyslog_socket = \"/tmp/log\"\njournal_max_size = \"1MiB\"\n\
         [capture]\nevidence_ring = \"16MB\"\nmax_sessions = 100\n\
         [probe]\nnameservers = [\"192.0.2.53\", \"[2001:db8::53]:5353\"]\nca_file = \"/etc/ca.pem\"\n",
    )
    .unwrap();
    assert_eq!(c.daemon.syslog_format, SyslogFormat::Rfc5424);
    assert_eq!(c.daemon.syslog_socket, Path::new("/tmp/log"));
    assert_eq!(c.daemon.journal_max_size, ByteSize(1 << 20));
    assert_eq!(c.capture.evidence_ring, ByteSize(16_000_000));
    assert_eq!(c.capture.max_sessions, 100);
    assert_eq!(
        c.probe.nameservers,
        vec![
            "192.0.2.53:53".parse().unwrap(),
            "[2001:db8::53]:5353".parse().unwrap()
        ]
    );
    assert_eq!(c.probe.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
}

#[test]
fn unknown_key_names_key_and_section_with_position() {
    let err = parse_str("[daemon]\nsyslog = true\ncolour = \"blue\"\n").unwrap_err();
    assert!(
        err.starts_with("t.toml:3:1: unknown key `colour` in [daemon]; expected one of socket, state_dir, user,"),
        "{err}"
    );
    let err = parse_str("[deamon]\n").unwrap_err();
    assert!(
        err.starts_with("t.toml:1:2: unknown section `deamon`; expected one of daemon, wan"),
        "{err}"
    );
}

#[test]
fn bad_values_name_key_value_and_position() {
    assert_eq!(
        parse_str("[probe]\ninterval = \"30x\"\n").unwrap_err(),
        "t.toml:2:12: [probe] interval: invalid duration \"30x\" (expected a number and a unit, e.g. \"30s\", \"5m\" or \"1h 30m\")"
    );
    let err = parse_str("[probe]\ntargets = [\"https://mail.example\"]\n").unwrap_err();
    assert!(err.starts_with("t.toml:2:"), "{err}");
    assert!(err.contains("[probe] targets: invalid probe target \"https://mail.example\": unknown scheme \"https\""), "{err}");
    let err = parse_str("[daemon]\nsyslog_facility = \"deamon\"\n").unwrap_err();
    assert!(err.starts_with("t.toml:2:19: [daemon] syslog_facility: invalid syslog facility \"deamon\"; expected one of kern,"), "{err}");
    let err = parse_str("[daemon]\nlog_level = \"loud\"\n").unwrap_err();
    assert!(
        err.contains("invalid log level \"loud\"; expected one of error, warn, info, debug, trace"),
        "{err}"
    );
    let err = parse_str("[lan]\ninterfaces = [\"em 0\"]\n").unwrap_err();
    assert!(err.contains("invalid interface name \"em 0\""), "{err}");
}

#[test]
fn malformed_toml_has_a_position() {
    let err = parse_str("[daemon\nsocket = 1\n").unwrap_err();
    assert!(err.starts_with("t.toml:1:"), "{err}");
}

#[test]
fn user_default_missing_warns_explicit_missing_fails() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = |_: &str| false;
    // No file at the default path is covered by load(None); an explicit file:
    let file = dir.path().join("m.toml");
    std::fs::write(&file, "[daemon]\nsyslog = false\n").unwrap();
    let loaded = load_with(Some(&file), &nobody).unwrap();
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.message.contains("no account named \"mailpulse\"")));

    std::fs::write(&file, "[daemon]\nuser = \"mailpulse\"\n").unwrap();
    let err = load_with(Some(&file), &nobody).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:2:8: [daemon] user: no account named \"mailpulse\" on this system (create it, or set user = \"\" to stay root)",
            file.display()
        )
    );

    std::fs::write(&file, "[daemon]\nuser = \"\"\n").unwrap();
    let loaded = load_with(Some(&file), &nobody).unwrap();
    assert!(loaded.config.daemon.user.stays_root());
    assert!(loaded
        .warnings
        .iter()
        .all(|w| !w.message.contains("account")));
}

#[test]
fn explicit_missing_file_is_an_error_naming_it() {
    let err = load_with(Some(Path::new("/nonexistent/m.toml")), &|_| true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/m.toml: no such configuration file"
    );
    assert_eq!(err.exit_code(), 78);
}

#[test]
fn world_writable_file_draws_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, "").unwrap();
    std::fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    let loaded = load_with(Some(&file), &|_| true).unwrap();
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.message.contains("writable by every user")));
    std::fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let loaded = load_with(Some(&file), &|_| true).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.source, Source::File(file));
}

#[test]
fn cross_field_findings() {
    let c = parse_str(
        "[probe]\ninterval = \"5s\"\ntimeout = \"10s\"\ntargets = [\"imaps://a.example\", \"imaps://A.example:993\"]\n\
         [wan]\ninterfaces = [\"em0\"]\n[lan]\ninterfaces = [\"em0\", \"em1\"]\n\
         [diagnosis]\nwindow = \"5s\"\nslow_server = \"5s\"\n",
    )
    .unwrap();
    let found: Vec<String> = c.check().into_iter().map(|f| f.message).collect();
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found[0].contains("timeout (10s) is longer than interval (5s)"));
    // Both spellings name the same server and port once normalized.
    assert!(
        found[1].contains("imaps://a.example is listed twice"),
        "{}",
        found[1]
    );
    assert!(found[2].contains("\"em0\" is listed as both"));
    assert!(found[3].contains("slow_server (5s) is not shorter than window (5s)"));
    assert!(Config::default().check().is_empty());
}

#[test]
fn capture_and_journal_settings_reach_their_consumers() {
    let c = parse_str(
        "[capture]\nmax_sessions = 10\nsnap_len = 4096\nbuffer_size = \"8GiB\"\n\
         [daemon]\njournal_max_size = \"1MB\"\njournal_keep = 3\n",
    )
    .unwrap();
    assert_eq!(c.capture.tracker().max_sessions, 10);
    let o = c.capture.options();
    assert_eq!((o.snap_len, o.buffer_size), (4096, u32::MAX));
    let j = c.daemon.journal_options();
    assert_eq!((j.max_size, j.keep), (1_000_000, 3));
}

#[test]
fn a_missing_ca_file_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, "[probe]\nca_file = \"/nonexistent/ca.pem\"\n").unwrap();
    let loaded = load_with(Some(&file), &|_| true).unwrap();
    let messages: Vec<&str> = loaded.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        messages,
        ["[probe] ca_file /nonexistent/ca.pem is not a readable file; probes will use the system roots only"]
    );
}

#[test]
fn numeric_extensions_are_bounded() {
    let err = parse_str("[daemon]\nsocket_mode = 660\n").unwrap_err();
    assert_eq!(
        err,
        "t.toml:2:15: [daemon] socket_mode: 660 is not a permission mode; write it in octal, e.g. 0o660"
    );
    assert_eq!(
        parse_str("[daemon]\nsocket_mode = 0o640\n")
            .unwrap()
            .daemon
            .socket_mode,
        0o640
    );
    assert!(parse_str("[daemon]\njournal_keep = 5000\n")
        .unwrap_err()
        .contains("too many (0 to 100)"));
    assert!(parse_str("[daemon]\nmax_control_clients = 0\n")
        .unwrap_err()
        .contains("from 1 to 1024"));
    let c = parse_str("[daemon]\nsocket = \"mailpulse.sock\"\n").unwrap();
    assert!(c.check()[0]
        .message
        .contains("socket mailpulse.sock is a relative path"));
}

mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_text_gives_a_config_or_a_positioned_error(text in "\\PC{0,200}") {
            if let Err(e) = parse(&text, Path::new("f.toml")) {
                let shown = e.to_string();
                prop_assert!(shown.starts_with("f.toml:"), "{}", shown);
            }
        }
    }
}
