//! Follows a TLS connection's records in both directions: the hellos (SNI, versions), alerts
//! in clear, where each side starts encrypting, and the application-data records after the
//! handshake. Handshake messages may span records and TCP segments; they are collected in a
//! bounded buffer, charged to the tracker's byte budget ([`super::budget`]), until the first
//! message of each side is complete, and the buffer is freed then.

use super::budget::Charge;
use crate::observe::record::{Side, TlsAlert, TlsVersion};
use crate::time::Timestamp;
use crate::wire::tls::{
    self, content_type, handshake_type, Alert, ClientHello, RecordHeader, ServerHello,
};

/// A hello larger than this is not followed (real ones are under 2 KB; post-quantum key
/// shares bring ClientHellos near 2 KB, certificates come after the ServerHello).
const MAX_HELLO: usize = 16 * 1024;
/// SNI longer than a DNS name can be is not kept.
const MAX_SNI: usize = 253;

/// One direction's record walker.
#[derive(Debug, Default)]
struct Direction {
    header: [u8; tls::RECORD_HEADER_LEN],
    header_len: usize,
    /// Body bytes of the current record still to come.
    body_left: usize,
    current: Option<RecordHeader>,
    /// The hello of this side was read (or given up on).
    hello_done: bool,
    hello_buf: Vec<u8>,
    /// What `hello_buf` holds against the budget.
    hello_charge: Charge,
    alert_buf: [u8; 2],
    alert_len: usize,
    /// This side sent ChangeCipherSpec: its later records are encrypted.
    cipher_changed: bool,
    /// When this side sent its first encrypted record.
    encrypted_at: Option<Timestamp>,
    /// The bytes are not TLS (or the walk lost its place).
    broken: bool,
    /// The current record is application data after the handshake: count it when complete.
    count_current: bool,
}

impl Direction {
    /// Room for `more` bytes in the hello buffer, paid from the budget before it is allocated
    /// (growing by doubling, up to [`MAX_HELLO`]); false when the budget cannot pay.
    fn reserve_hello(&mut self, more: usize) -> bool {
        let needed = self.hello_buf.len() + more;
        let capacity = self.hello_buf.capacity();
        if needed <= capacity {
            return true;
        }
        let target = needed.max(capacity * 2).clamp(256, MAX_HELLO).max(needed);
        if !self.hello_charge.try_add(target - capacity) {
            return false;
        }
        self.hello_buf.reserve_exact(target - self.hello_buf.len());
        true
    }

    fn free_hello(&mut self) {
        self.hello_buf = Vec::new();
        self.hello_charge.release();
    }
}

/// What the TLS walk has learned about a session.
#[derive(Debug, Default)]
pub struct TlsTrack {
    client: Direction,
    server: Direction,
    pub client_hello_at: Option<Timestamp>,
    pub sni: Option<String>,
    pub client_max: Option<TlsVersion>,
    pub version: Option<TlsVersion>,
    pub alert: Option<TlsAlert>,
    /// ClientHello → the server's first encrypted record.
    pub handshake_time: Option<std::time::Duration>,
    /// Both sides have sent encrypted records.
    pub done_at: Option<Timestamp>,
    pub client_records: u32,
    pub server_records: u32,
    pub client_bytes: u64,
    pub server_bytes: u64,
}

impl TlsTrack {
    /// The walk lost its place or the bytes are not TLS on this side.
    pub fn is_broken(&self, side: Side) -> bool {
        self.dir(side).broken
    }

    /// This side's bytes so far end inside a record (its header or its body).
    pub fn record_incomplete(&self, side: Side) -> bool {
        let dir = self.dir(side);
        !dir.broken && (dir.current.is_some() || dir.header_len > 0)
    }

    fn dir(&self, side: Side) -> &Direction {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }

    fn dir_mut(&mut self, side: Side) -> &mut Direction {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// Feeds in-order bytes from `side`, received at `time`.
    pub fn feed(&mut self, side: Side, time: Timestamp, mut data: &[u8]) {
        while !data.is_empty() && !self.dir(side).broken {
            let dir = self.dir_mut(side);
            if dir.current.is_none() {
                let take = (tls::RECORD_HEADER_LEN - dir.header_len).min(data.len());
                let (head, rest) = data.split_at(take);
                dir.header[dir.header_len..dir.header_len + take].copy_from_slice(head);
                dir.header_len += take;
                data = rest;
                if dir.header_len < tls::RECORD_HEADER_LEN {
                    return;
                }
                dir.header_len = 0;
                match RecordHeader::parse(&dir.header) {
                    Ok(header) => {
                        dir.current = Some(header);
                        dir.body_left = usize::from(header.length);
                        dir.alert_len = 0;
                        self.record_start(side, time, header);
                    }
                    Err(_) => {
                        let dir = self.dir_mut(side);
                        dir.broken = true;
                        dir.free_hello();
                        return;
                    }
                }
            }
            let dir = self.dir_mut(side);
            let take = dir.body_left.min(data.len());
            let (body, rest) = data.split_at(take);
            data = rest;
            dir.body_left -= take;
            self.record_body(side, time, body);
            let dir = self.dir_mut(side);
            if dir.body_left == 0 {
                if let Some(header) = dir.current.take() {
                    self.record_end(side, header);
                }
            }
        }
    }

    fn record_start(&mut self, side: Side, time: Timestamp, header: RecordHeader) {
        let dir = self.dir_mut(side);
        let encrypted = match header.content_type {
            content_type::APPLICATION_DATA => true,
            content_type::HANDSHAKE | content_type::ALERT => dir.cipher_changed,
            content_type::CHANGE_CIPHER_SPEC => {
                dir.cipher_changed = true;
                // No hello follows a cipher change: a part-read one is dropped.
                dir.free_hello();
                false
            }
            _ => false,
        };
        if !encrypted {
            return;
        }
        if dir.encrypted_at.is_none() {
            dir.encrypted_at = Some(time);
            if side == Side::Server {
                if let Some(hello) = self.client_hello_at {
                    self.handshake_time = Some(time.saturating_since(hello));
                }
            }
            if let (Some(a), Some(b)) = (self.client.encrypted_at, self.server.encrypted_at) {
                self.done_at = Some(a.max(b));
            }
            return;
        }
        // Counted when complete (as tshark shows records), so a record cut off by the end of
        // the capture or a dead path does not count.
        let count = self.done_at.is_some() && header.content_type == content_type::APPLICATION_DATA;
        self.dir_mut(side).count_current = count;
    }

    fn record_body(&mut self, side: Side, time: Timestamp, body: &[u8]) {
        let Some(header) = self.dir(side).current else {
            return;
        };
        let dir = self.dir_mut(side);
        match header.content_type {
            content_type::HANDSHAKE if !dir.hello_done && !dir.cipher_changed => {
                if dir.hello_buf.len() + body.len() > MAX_HELLO {
                    dir.hello_done = true;
                    dir.free_hello();
                    return;
                }
                // Parse straight from the segment when the message is all there.
                if dir.hello_buf.is_empty()
                    && tls::handshake_len(body).is_some_and(|n| n <= body.len())
                {
                    self.handshake_message(side, time, body);
                } else {
                    if !dir.reserve_hello(body.len()) {
                        // The budget is spent (a flood holds it): this hello is not read.
                        dir.hello_done = true;
                        dir.free_hello();
                        return;
                    }
                    dir.hello_buf.extend_from_slice(body);
                    if tls::handshake_len(&dir.hello_buf).is_some_and(|n| n <= dir.hello_buf.len())
                    {
                        let buf = std::mem::take(&mut dir.hello_buf);
                        self.handshake_message(side, time, &buf);
                        self.dir_mut(side).hello_charge.release();
                    }
                }
            }
            content_type::ALERT if !dir.cipher_changed && dir.encrypted_at.is_none() => {
                for &b in body {
                    if let Some(slot) = dir.alert_buf.get_mut(dir.alert_len) {
                        *slot = b;
                    }
                    dir.alert_len += 1;
                }
            }
            _ => {}
        }
    }

    fn record_end(&mut self, side: Side, header: RecordHeader) {
        if std::mem::take(&mut self.dir_mut(side).count_current) {
            let len = u64::from(header.length);
            match side {
                Side::Client => {
                    self.client_records += 1;
                    self.client_bytes += len;
                }
                Side::Server => {
                    self.server_records += 1;
                    self.server_bytes += len;
                }
            }
        }
        let dir = self.dir(side);
        if header.content_type != content_type::ALERT
            || dir.cipher_changed
            || dir.encrypted_at.is_some()
            || dir.alert_len != 2
            || self.alert.is_some()
        {
            return;
        }
        if let Ok(alert) = Alert::parse(&dir.alert_buf) {
            self.alert = Some(TlsAlert {
                from: side,
                level: alert.level,
                description: alert.description,
            });
        }
    }

    fn handshake_message(&mut self, side: Side, time: Timestamp, buf: &[u8]) {
        let Ok((msg_type, body, _)) = tls::split_handshake(buf) else {
            return;
        };
        match (side, msg_type) {
            (Side::Client, handshake_type::CLIENT_HELLO) => {
                self.client.hello_done = true;
                self.client_hello_at.get_or_insert(time);
                if let Ok(hello) = ClientHello::parse(body) {
                    if self.sni.is_none() {
                        // Any bytes a client sends are shown escaped, never dropped or raw.
                        self.sni = hello
                            .server_name
                            .filter(|n| n.len() <= MAX_SNI)
                            .map(|n| crate::text::clean(&n.to_ascii_lowercase()));
                    }
                    self.client_max = hello
                        .max_offered_version()
                        .map(TlsVersion)
                        .max(self.client_max);
                }
            }
            (Side::Server, handshake_type::SERVER_HELLO) => {
                self.server.hello_done = true;
                if let Ok(hello) = ServerHello::parse(body) {
                    if hello.hello_retry {
                        // RFC 8446 §4.1.4: a second ClientHello and ServerHello follow.
                        self.server.hello_done = false;
                        self.client.hello_done = false;
                    } else {
                        self.version = Some(TlsVersion(hello.version()));
                    }
                }
            }
            _ => self.dir_mut(side).hello_done = true,
        }
    }
}
