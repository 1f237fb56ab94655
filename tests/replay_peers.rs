//! Replays real captures from other projects' public test suites (tests/data/peers, listed
//! with their sources in SOURCES.md) and checks every mail session against what really
//! happened in it, as tshark dissects the packets (expect.tsv, written by derive-expect.py,
//! never from mailpulse's output). A disagreement fails the test unless known.tsv explains it;
//! an explained one that now agrees fails too, so the list stays true.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/peers")
}

/// Tab-separated rows of a file in peers_dir, without the `#` header and blank lines.
fn rows(name: &str) -> Vec<Vec<String>> {
    let path = peers_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// One session as tshark saw it.
struct Truth {
    client_port: u16,
    server_port: u16,
    truth: String,
    close: String,
    closed_by: String,
}

/// A session's identity in a capture: client port, server port, and which of the sessions
/// with these ports it is (ports are reused in long captures), counted from 0.
type Key = (String, u16, u16, usize);

fn expected() -> BTreeMap<Key, Truth> {
    let mut seen: BTreeMap<(String, u16, u16), usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for row in rows("expect.tsv") {
        assert_eq!(row.len(), 9, "expect.tsv row {row:?}");
        let port = |i: usize| row[i].parse::<u16>().expect("a port");
        let (client_port, server_port) = (port(1), port(2));
        let n = seen
            .entry((row[0].clone(), client_port, server_port))
            .or_insert(0);
        out.insert(
            (row[0].clone(), client_port, server_port, *n),
            Truth {
                client_port,
                server_port,
                truth: row[3].clone(),
                close: row[5].clone(),
                closed_by: row[6].clone(),
            },
        );
        *n += 1;
    }
    out
}

/// The last view mailpulse printed of every session in a capture, in start order. The
/// reading must stop early exactly for the captures tshark calls damaged.
fn replay(capture: &str, damaged: bool) -> Vec<Value> {
    let path = peers_dir().join(capture);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = mailpulse::replay::run(&path, None, true, &mut out, &mut err);
    let err = String::from_utf8_lossy(&err);
    assert_eq!(code, 0, "mailpulse replay {capture}: {err}");
    assert_eq!(
        err.contains("warning"),
        damaged,
        "mailpulse replay {capture} (damaged by tshark's reading: {damaged}): {err}"
    );
    let mut sessions: BTreeMap<(String, String, u64, u64), Value> = BTreeMap::new();
    for line in String::from_utf8(out).expect("UTF-8 output").lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        if v["type"] != "session" {
            continue;
        }
        let key = (
            v["start"].as_str().unwrap_or("").to_string(),
            v["client"].as_str().unwrap_or("").to_string(),
            v["client_port"].as_u64().unwrap_or(0),
            v["server_port"].as_u64().unwrap_or(0),
        );
        sessions.insert(key, v);
    }
    sessions.into_values().collect()
}

/// Why mailpulse's view disagrees with the truth, or None when it agrees.
fn disagreement(t: &Truth, v: &Value) -> Option<String> {
    let s = |k: &str| v[k].as_str().unwrap_or("null").to_string();
    let (verdict, auth, close, closed_by) = (s("verdict"), s("auth"), s("close"), s("closed_by"));
    let said = format!("verdict {verdict}, auth {auth}, close {close}, closed by {closed_by}");
    let verdict_ok = match t.truth.as_str() {
        "login-ok" => auth == "ok" && verdict == "ok",
        "login-refused" => auth == "failed" && verdict == "auth-rejected",
        "server-refused" => verdict == "server-refused",
        "tls-failed" => verdict == "tls-rejected",
        "no-answer" => verdict != "ok",
        "server-silent" => !matches!(verdict.as_str(), "ok" | "auth-rejected" | "tls-rejected"),
        "server-slow" => verdict == "server-slow",
        "completed" => verdict == "ok",
        "cut-by-capture-end" => !matches!(verdict.as_str(), "auth-rejected" | "tls-rejected"),
        other => panic!("expect.tsv: unknown truth {other}"),
    };
    let close_ok = match t.close.as_str() {
        "none" => close == "open" || close == "timeout",
        c => close == c && closed_by == t.closed_by,
    };
    if verdict_ok && close_ok {
        None
    } else {
        Some(format!(
            "truth {} ({} by {}); mailpulse said {said}",
            t.truth, t.close, t.closed_by
        ))
    }
}

#[test]
fn peer_captures_agree_with_what_happened() {
    let expected = expected();
    let known: BTreeMap<Key, String> = rows("known.tsv")
        .into_iter()
        .map(|r| {
            assert!(r.len() >= 5, "known.tsv row {r:?}");
            let port = |i: usize| r[i].parse::<u16>().expect("a port");
            let n = r[3].parse::<usize>().expect("an occurrence number");
            ((r[0].clone(), port(1), port(2), n), r[4].clone())
        })
        .collect();
    let damaged: BTreeSet<String> = rows("damaged.tsv")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    let captures: BTreeSet<String> = expected.keys().map(|k| k.0.clone()).collect();
    // Every capture kept is in expect.tsv, and every capture there is kept.
    let on_disk: BTreeSet<String> = std::fs::read_dir(peers_dir())
        .expect("tests/data/peers")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".pcap.gz"))
        .collect();
    assert_eq!(on_disk, captures, "captures on disk vs expect.tsv");

    let (mut agree, mut explained, mut failures) = (0, 0, Vec::new());
    let mut stale = Vec::new();
    for capture in &captures {
        let views = replay(capture, damaged.contains(capture));
        let mut used = vec![false; views.len()];
        for (key, truth) in expected.range((capture.clone(), 0, 0, 0)..) {
            if &key.0 != capture {
                break;
            }
            // The n-th view with these ports is the n-th session with them.
            let found = views
                .iter()
                .enumerate()
                .filter(|(_, v)| {
                    v["client_port"].as_u64() == Some(u64::from(truth.client_port))
                        && v["server_port"].as_u64() == Some(u64::from(truth.server_port))
                })
                .nth(key.3);
            let problem = match found {
                Some((i, v)) => {
                    used[i] = true;
                    disagreement(truth, v)
                }
                None => Some(format!(
                    "truth {}; mailpulse printed no session",
                    truth.truth
                )),
            };
            let what = format!("{capture} {}→{} #{}", key.1, key.2, key.3);
            match (problem, known.get(key)) {
                (None, None) => agree += 1,
                (None, Some(_)) => stale.push(what),
                (Some(_), Some(reason)) => {
                    explained += 1;
                    println!("explained: {what}: {reason}");
                }
                (Some(p), None) => failures.push(format!("{what}: {p}")),
            }
        }
        for (v, _) in views.iter().zip(&used).filter(|(_, u)| !**u) {
            failures.push(format!(
                "{capture}: mailpulse printed a session tshark does not have: {}:{} → {}",
                v["client"], v["client_port"], v["server_port"]
            ));
        }
    }
    for key in known.keys() {
        assert!(
            expected.contains_key(key),
            "known.tsv names no session: {key:?}"
        );
    }
    println!(
        "{} captures, {} sessions: {agree} agree, {explained} disagree as known.tsv explains, {} unexplained",
        captures.len(),
        expected.len(),
        failures.len()
    );
    assert!(
        stale.is_empty(),
        "known.tsv explains disagreements that are gone (remove them): {stale:#?}"
    );
    assert!(
        failures.is_empty(),
        "disagreements with tshark not in known.tsv:\n{}",
        failures.join("\n")
    );
}

/// Real captures of IP in PPPoE, MPLS, GRE (plain, PPTP, nested) and IP in IP, with no mail
/// in them: every frame tshark finds TCP or UDP in, mailpulse decodes to TCP or UDP too, and
/// none is undecodable (tunnels.tsv holds tshark's counts).
#[test]
fn tunnelled_frames_decode_as_tshark_decodes_them() {
    let rows = rows("tunnels.tsv");
    assert!(rows.len() >= 10, "tunnels.tsv lists the tunnel captures");
    for row in rows {
        let path = peers_dir().join("tunnels").join(&row[0]);
        let frames: usize = row[1].parse().expect("a count");
        let transport: usize = row[2].parse().expect("a count");
        let file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let (mut seen, mut tcp_udp, mut undecodable) = (0, 0, Vec::new());
        mailpulse::capture_file::read(file, &mut |f| {
            seen += 1;
            match mailpulse::wire::decode(f.link_type, f.data) {
                Ok(d) => {
                    if matches!(
                        d.transport,
                        mailpulse::wire::Transport::Tcp(_) | mailpulse::wire::Transport::Udp { .. }
                    ) {
                        tcp_udp += 1;
                    }
                }
                Err(mailpulse::wire::Error::NotIp(_)) => {}
                Err(e) => undecodable.push(format!("frame {seen}: {e}")),
            }
        })
        .unwrap_or_else(|e| panic!("{}: {e:?}", row[0]));
        assert_eq!(seen, frames, "{}: frames", row[0]);
        assert!(undecodable.is_empty(), "{}: {undecodable:?}", row[0]);
        assert_eq!(tcp_udp, transport, "{}: frames with TCP or UDP", row[0]);
    }
}
