//! What each server answered each client, request by request, in encrypted sessions that went
//! on past the login: a refused login's reply is compared with them (a server answers the same
//! request with the same number of bytes, so a reply of another size to the login is a
//! different answer). Kept per client as well as per server: only the same client (the same
//! mail app, as a rule) sends the same requests in the same order — another app's first
//! request may be another command of nearly the same size (POP3's `USER` and `CAPA`).
//! Bounded: [`MAX_SERVERS`] client and server pairs, [`MAX_PER_SERVER`] sessions each.
//!
//! How quickly each server answered in those sessions is kept per server, whatever the client
//! (answering is the server's habit): a server that answers an accepted login in 5 ms and
//! held back a short session's login answer for half a second refused it
//! ([`crate::diagnose::rules::RefusalDelay`]). Bounded the same way.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::diagnose::rules::RefusalDelay;
use crate::observe::record::{Exchange, SessionRecord};

/// Client and server pairs whose replies are remembered (the least recently taught is
/// forgotten first).
pub const MAX_SERVERS: usize = 128;
/// Sessions remembered per client and server (the latest).
pub const MAX_PER_SERVER: usize = 4;
/// Requests of sizes this close are taken for the same request (a longer tag, another
/// password length).
pub const REQUEST_SLACK: u16 = 64;
/// Replies further apart than this are different answers (tags and counters vary a little).
pub const REPLY_SLACK: u16 = 24;

/// Replies of two sessions this close are the same answer (a tag one digit longer, a counter).
pub const ALIKE_SLACK: u16 = 8;
/// A TLS 1.3 close_notify as counted in a session's server bytes: the alert, its inner content
/// type and a 16-byte tag. The server sends one when it closes first, and may not when the
/// client does.
pub const TLS13_CLOSE_NOTIFY_BYTES: u64 = 19;

/// Whether the server answered two sessions of one client alike: the same number of client
/// records, the same requests (within [`REQUEST_SLACK`]: another password's length) answered
/// with replies of the same sizes (within [`ALIKE_SLACK`] each), and the same server records
/// and bytes in all but for one close_notify (whoever closed first). A server answers the same
/// requests with the same bytes, so sessions answered alike had the same outcome: when one of
/// them shows a refusal's sign, the other was refused too. The last exchange each is left out
/// (a goodbye and a close_notify may come in one record or two).
pub fn answered_alike(a: &SessionRecord, b: &SessionRecord) -> bool {
    let (x, y) = (&a.app, &b.app);
    let (mine, theirs) = (x.exchanges.kept(), y.exchanges.kept());
    let compared = mine.len().min(theirs.len()).saturating_sub(1);
    let close_notifies = u64::from(x.server_records.abs_diff(y.server_records));
    x.client_records == y.client_records
        && close_notifies <= 1
        && x.client_bytes.abs_diff(y.client_bytes) <= u64::from(REQUEST_SLACK)
        && x.server_bytes.abs_diff(y.server_bytes)
            <= u64::from(ALIKE_SLACK) + close_notifies * TLS13_CLOSE_NOTIFY_BYTES
        && compared >= 1
        && mine[..compared].iter().zip(theirs).all(|(m, t)| {
            m.reply != 0
                && m.request.abs_diff(t.request) <= REQUEST_SLACK
                && m.reply.abs_diff(t.reply) <= ALIKE_SLACK
        })
}

/// A session's reply that differs from what the server answered the same request with in a
/// session that went on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyDiffers {
    /// 1-based position of the request after the handshake.
    pub request: usize,
    pub reply: u16,
    pub usual: u16,
}

/// What the sessions of a server that went on past the login say about another of its
/// sessions: a reply of another size, and how long the server holds back a refusal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    pub differs: Option<ReplyDiffers>,
    pub delay: RefusalDelay,
}

/// Adds `value` as `key`'s latest, `key` becoming the most recently taught: at most
/// [`MAX_SERVERS`] keys and [`MAX_PER_SERVER`] values each, the oldest going first.
fn remember<K: PartialEq, V>(list: &mut VecDeque<(K, VecDeque<V>)>, key: K, value: V) {
    let at = list.iter().position(|(k, _)| *k == key);
    let mut entry = match at.and_then(|i| list.remove(i)) {
        Some(entry) => entry,
        None => {
            if list.len() >= MAX_SERVERS {
                list.pop_front();
            }
            (key, VecDeque::new())
        }
    };
    if entry.1.len() >= MAX_PER_SERVER {
        entry.1.pop_front();
    }
    entry.1.push_back(value);
    list.push_back(entry);
}

/// The client's address and the server's address and port.
type Pair = (IpAddr, SocketAddr);

fn pair(rec: &SessionRecord) -> Pair {
    (rec.client.ip(), rec.server)
}

#[derive(Debug, Default)]
pub struct ServerReplies {
    servers: VecDeque<(Pair, VecDeque<Vec<Exchange>>)>,
    /// Per server, the slowest answer (ms) of each of its latest sessions that went on.
    answers: VecDeque<(SocketAddr, VecDeque<u32>)>,
}

impl ServerReplies {
    /// Remembers the exchanges of a session that went on past the login.
    pub fn learn(&mut self, rec: &SessionRecord) {
        let kept = rec.app.exchanges.kept();
        if kept.is_empty() {
            return;
        }
        remember(&mut self.servers, pair(rec), kept.to_vec());
        let slowest = kept.iter().map(|e| e.wait_ms).max().unwrap_or(0);
        remember(&mut self.answers, rec.server, slowest);
    }

    /// How long this server holds back a refusal, from how quickly it answered in the latest
    /// sessions that went on past the login (any client's): the slowest of them — but for the
    /// slowest of three or more, which may be a good login the server held back because the
    /// address had just failed (dovecot's penalty), not the server's pace.
    pub fn refusal_delay(&self, server: SocketAddr) -> RefusalDelay {
        let Some((_, times)) = self.answers.iter().find(|(s, _)| *s == server) else {
            return RefusalDelay::DEFAULT;
        };
        let mut sorted: Vec<u32> = times.iter().copied().collect();
        sorted.sort_unstable();
        let skip = usize::from(sorted.len() >= 3);
        sorted
            .iter()
            .rev()
            .nth(skip)
            .map_or(RefusalDelay::DEFAULT, |ms| {
                RefusalDelay::learned(Duration::from_millis(u64::from(*ms)))
            })
    }

    /// What this server's sessions that went on say about `rec`.
    pub fn baseline(&self, rec: &SessionRecord) -> Baseline {
        Baseline {
            differs: self.compare(rec),
            delay: self.refusal_delay(rec.server),
        }
    }

    /// The first request before the session's last one (its goodbye) that the server answered
    /// differently from a session of the same client that went on, walking from the first
    /// request while the requests have the same size.
    pub fn compare(&self, rec: &SessionRecord) -> Option<ReplyDiffers> {
        let kept = rec.app.exchanges.kept();
        let (_, sessions) = self.servers.iter().find(|(p, _)| *p == pair(rec))?;
        let before_last = &kept[..kept.len().saturating_sub(1)];
        sessions.iter().rev().find_map(|went_on| {
            for (i, (mine, usual)) in before_last.iter().zip(went_on).enumerate() {
                if mine.request.abs_diff(usual.request) > REQUEST_SLACK || mine.reply == 0 {
                    return None;
                }
                if mine.reply.abs_diff(usual.reply) > REPLY_SLACK {
                    return Some(ReplyDiffers {
                        request: i + 1,
                        reply: mine.reply,
                        usual: usual.reply,
                    });
                }
            }
            None
        })
    }

    /// Whether the server answered every request of this session before its last (the
    /// goodbye) as it answered the same client's requests in a session that went on: the
    /// same request sizes and the same reply sizes (within [`ALIKE_SLACK`]: a refusal and an
    /// acceptance can be 20 bytes apart, POP3's `-ERR [AUTH] Authentication failed.` and
    /// `+OK Logged in.`), the login's included.
    pub fn answered_as_usual(&self, rec: &SessionRecord) -> bool {
        let kept = rec.app.exchanges.kept();
        let Some((_, sessions)) = self.servers.iter().find(|(p, _)| *p == pair(rec)) else {
            return false;
        };
        let before_last = &kept[..kept.len().saturating_sub(1)];
        !before_last.is_empty()
            && sessions.iter().any(|went_on| {
                went_on.len() >= before_last.len()
                    && before_last.iter().zip(went_on).all(|(mine, usual)| {
                        mine.reply != 0
                            && mine.request.abs_diff(usual.request) <= REQUEST_SLACK
                            && mine.reply.abs_diff(usual.reply) <= ALIKE_SLACK
                    })
            })
    }

    #[cfg(test)]
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("reply_servers", self.servers.len()),
            (
                "reply_sessions_max",
                self.servers.iter().map(|(_, s)| s.len()).max().unwrap_or(0),
            ),
            ("answer_servers", self.answers.len()),
            (
                "answer_times_max",
                self.answers.iter().map(|(_, t)| t.len()).max().unwrap_or(0),
            ),
        ]
    }
}
