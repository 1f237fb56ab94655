//! What each server answered, request by request, in encrypted sessions that went on past the
//! login: a refused login's reply is compared with them (a server answers the same request
//! with the same number of bytes, so a reply of another size to the login is a different
//! answer). Bounded: [`MAX_SERVERS`] servers, [`MAX_PER_SERVER`] sessions each.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::track::record::{Exchange, SessionRecord};

/// Servers whose replies are remembered (the least recently taught is forgotten first).
pub const MAX_SERVERS: usize = 128;
/// Sessions remembered per server (the latest).
pub const MAX_PER_SERVER: usize = 4;
/// Requests of sizes this close are taken for the same request (a longer tag, another
/// password length).
pub const REQUEST_SLACK: u16 = 64;
/// Replies further apart than this are different answers (tags and counters vary a little).
pub const REPLY_SLACK: u16 = 24;

/// A session's reply that differs from what the server answered the same request with in a
/// session that went on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyDiffers {
    /// 1-based position of the request after the handshake.
    pub request: usize,
    pub reply: u16,
    pub usual: u16,
}

#[derive(Debug, Default)]
pub struct ServerReplies {
    servers: VecDeque<(SocketAddr, VecDeque<Vec<Exchange>>)>,
}

impl ServerReplies {
    /// Remembers the exchanges of a session that went on past the login.
    pub fn learn(&mut self, rec: &SessionRecord) {
        let kept = rec.app.exchanges.kept();
        if kept.is_empty() {
            return;
        }
        let at = self.servers.iter().position(|(s, _)| *s == rec.server);
        let mut entry = match at.and_then(|i| self.servers.remove(i)) {
            Some(entry) => entry,
            None => {
                if self.servers.len() >= MAX_SERVERS {
                    self.servers.pop_front();
                }
                (rec.server, VecDeque::new())
            }
        };
        if entry.1.len() >= MAX_PER_SERVER {
            entry.1.pop_front();
        }
        entry.1.push_back(kept.to_vec());
        self.servers.push_back(entry);
    }

    /// The first request before the session's last one (its goodbye) that the server answered
    /// differently from a session that went on, walking from the first request while the
    /// requests have the same size.
    pub fn compare(&self, rec: &SessionRecord) -> Option<ReplyDiffers> {
        let kept = rec.app.exchanges.kept();
        let (_, sessions) = self.servers.iter().find(|(s, _)| *s == rec.server)?;
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

    #[cfg(test)]
    pub fn sizes(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("reply_servers", self.servers.len()),
            (
                "reply_sessions_max",
                self.servers.iter().map(|(_, s)| s.len()).max().unwrap_or(0),
            ),
        ]
    }
}
