//! The evidence ring: the captured mail packets' headers and handshakes, kept on disk as pcapng
//! in a bounded pair of files, so any verdict can be re-examined with `mailpulse replay`.
//!
//! Two files, `evidence.0.pcapng` (current) and `evidence.1.pcapng` (previous), each at most half
//! the configured size: when the current one is full it becomes the previous one and a new file
//! starts. Each frame is cut to `SNAP_LEN` bytes and passed through [`Redactor`], which keeps
//! headers, TLS records and the plaintext handshake but never a credential or message content
//! (`super::redact`). The files are readable by their owner only (0600).

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use super::redact::Redactor;
use crate::wire::{Frame, LinkType};

/// Bytes kept of each frame: enough for headers, a ClientHello and a login reply.
pub const SNAP_LEN: usize = 512;

/// Nanosecond timestamps (pcapng `if_tsresol` = 10^-9), matching what the writer stores.
const NANOSECOND_RESOLUTION: u8 = 9;

/// A bounded on-disk ring of captured frames.
pub struct EvidenceRing {
    dir: PathBuf,
    half_size: u64,
    current: Option<Segment>,
    redactor: Redactor,
}

/// One open pcapng file: the interfaces it has described, and how much it holds.
struct Segment {
    writer: PcapNgWriter<BufWriter<File>>,
    interfaces: Vec<(String, LinkType)>,
    written: u64,
}

impl EvidenceRing {
    /// A ring of at most `max_bytes` in `dir`. Nothing is created until the first frame.
    pub fn new(dir: &Path, max_bytes: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            half_size: (max_bytes / 2).max(64 * 1024),
            current: None,
            redactor: Redactor::new(),
        }
    }

    /// The files that hold evidence, newest first.
    pub fn files(&self) -> Vec<PathBuf> {
        [self.path(0), self.path(1)]
            .into_iter()
            .filter(|p| p.exists())
            .collect()
    }

    fn path(&self, n: u8) -> PathBuf {
        self.dir.join(format!("evidence.{n}.pcapng"))
    }

    /// Appends one frame seen on `interface`; an I/O error is returned for the caller to report
    /// (the ring then starts a fresh file on the next frame).
    pub fn record(&mut self, interface: &str, frame: &Frame<'_>) -> io::Result<()> {
        if self
            .current
            .as_ref()
            .is_some_and(|s| s.written >= self.half_size)
        {
            self.rotate()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open_segment()?);
        }
        let result = self.write_frame(interface, frame);
        if result.is_err() {
            // A half-written block would corrupt the file for replay: start afresh next time.
            self.current = None;
        }
        result
    }

    /// Pushes buffered frames to the file. On an error the file may end in a partial block,
    /// so the ring starts a fresh file on the next frame (as after a failed `record`).
    pub fn flush(&mut self) -> io::Result<()> {
        let result = match self.current.as_mut() {
            Some(segment) => segment.writer.get_mut().flush(),
            None => Ok(()),
        };
        if result.is_err() {
            self.current = None;
        }
        result
    }

    /// True while a file is open and its last write and flush succeeded: frames buffered by
    /// `record` only count as kept once a flush has carried them to disk.
    pub fn is_writing(&self) -> bool {
        self.current.is_some()
    }

    fn write_frame(&mut self, interface: &str, frame: &Frame<'_>) -> io::Result<()> {
        let Some(segment) = self.current.as_mut() else {
            return Ok(());
        };
        let Some(kept) = self.redactor.redact(frame, SNAP_LEN) else {
            return Ok(());
        };
        let interface_id = segment.interface_id(interface, frame.link_type)?;
        let nanos = u64::try_from(frame.time.unix_nanos()).unwrap_or(0);
        let block = EnhancedPacketBlock {
            interface_id,
            timestamp: Duration::from_nanos(nanos),
            original_len: frame.original_len,
            data: Cow::Owned(kept),
            options: vec![],
        };
        let written = segment.writer.write_pcapng_block(block).map_err(to_io)?;
        segment.written += written as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut segment) = self.current.take() {
            segment.writer.get_mut().flush()?;
        }
        fs::rename(self.path(0), self.path(1))
    }

    /// A new current file. One left from before (the previous run's, or one a write error
    /// abandoned) becomes the previous file rather than being truncated. Created exclusively
    /// (`O_EXCL`): a name planted in the state directory is never followed, whoever runs this.
    fn open_segment(&self) -> io::Result<Segment> {
        fs::create_dir_all(&self.dir)?;
        match fs::symlink_metadata(self.path(0)) {
            Ok(_) => fs::rename(self.path(0), self.path(1))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let file = create_owner_only(&self.path(0))?;
        Self::segment_on(file)
    }

    fn segment_on(file: File) -> io::Result<Segment> {
        let writer = PcapNgWriter::new(BufWriter::new(file)).map_err(to_io)?;
        Ok(Segment {
            writer,
            interfaces: Vec::new(),
            written: 0,
        })
    }
}

impl Segment {
    /// The pcapng interface id for this interface and link type, describing it on first use.
    fn interface_id(&mut self, name: &str, link_type: LinkType) -> io::Result<u32> {
        if let Some(id) = self
            .interfaces
            .iter()
            .position(|(n, l)| n == name && *l == link_type)
        {
            return Ok(id as u32);
        }
        let block = InterfaceDescriptionBlock {
            linktype: DataLink::from(link_type.0),
            snaplen: SNAP_LEN as u32,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(name.to_string())),
                InterfaceDescriptionOption::IfTsResol(NANOSECOND_RESOLUTION),
            ],
        };
        self.written += self.writer.write_pcapng_block(block).map_err(to_io)? as u64;
        self.interfaces.push((name.to_string(), link_type));
        Ok(self.interfaces.len() as u32 - 1)
    }
}

/// Creates `path` readable and writable by its owner only, exclusively (`O_EXCL`): a name
/// planted in the state directory is never followed. The mode is set again because the umask
/// may have narrowed the creation mode in other ways than intended.
fn create_owner_only(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

fn to_io(error: pcap_file::PcapError) -> io::Error {
    match error {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn frame(data: &[u8], secs: i64) -> Frame<'_> {
        Frame {
            time: Timestamp::from_unix(secs, 123_456_789),
            link_type: LinkType::ETHERNET,
            data,
            original_len: data.len() as u32,
        }
    }

    /// An Ethernet/IPv4/UDP (DNS) frame of `len` bytes; the ring keeps DNS as captured.
    fn udp_frame(len: usize) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        let ip_len = (len - 14) as u16;
        f.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 1, 0x40, 0]);
        f.extend_from_slice(&[64, 17, 0, 0, 192, 168, 1, 20, 192, 168, 1, 1]);
        let udp_len = ip_len - 20;
        f.extend_from_slice(&[0xc3, 0x50, 0, 53, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
        f.extend((f.len()..len).map(|i| i as u8));
        f
    }

    #[test]
    fn stays_within_its_bound_and_keeps_the_newest_frames() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = EvidenceRing::new(dir.path(), 256 * 1024);
        let payload = udp_frame(1500);
        for i in 0..2000 {
            ring.record("lan0", &frame(&payload, i)).unwrap();
        }
        ring.flush().unwrap();
        let total: u64 = ring
            .files()
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
        assert!(total <= 256 * 1024 + 4096, "ring holds {total} bytes");
        assert_eq!(ring.files().len(), 2);
    }

    #[test]
    fn files_are_pcapng_with_nanosecond_timestamps_and_cut_frames() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = EvidenceRing::new(dir.path(), 1 << 20);
        let payload = udp_frame(2000);
        ring.record("lan0", &frame(&payload, 1_700_000_000))
            .unwrap();
        ring.flush().unwrap();

        let bytes = fs::read(dir.path().join("evidence.0.pcapng")).unwrap();
        let mut reader = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).unwrap();
        let mut first_packet = None;
        while let Some(block) = reader.next_block() {
            if let Some(packet) = block.unwrap().into_enhanced_packet() {
                first_packet = Some(packet.into_owned());
                break;
            }
        }
        let packet = first_packet.expect("an enhanced packet block");
        assert_eq!(packet.data.len(), SNAP_LEN);
        assert_eq!(packet.original_len, 2000);
        assert_eq!(&packet.data[..], &payload[..SNAP_LEN]);
        assert_eq!(packet.timestamp.as_nanos(), 1_700_000_000_123_456_789);
        let idb = &reader.interfaces()[0];
        assert!(idb
            .options
            .contains(&InterfaceDescriptionOption::IfTsResol(9)));
    }

    /// Regression: the ring held `a1 LOGIN alice <password>` of plaintext IMAP, mode 0640.
    #[test]
    fn a_plaintext_login_never_reaches_the_file_and_the_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut ring = EvidenceRing::new(dir.path(), 1 << 20);
        let tcp = |flags: u8, payload: &[u8]| {
            let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
            let total = (40 + payload.len()) as u16;
            f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0]);
            f.extend_from_slice(&[64, 6, 0, 0, 192, 168, 1, 20, 203, 0, 113, 5]);
            f.extend_from_slice(&[0xc3, 0x50, 0, 143, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags]);
            f.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
            f.extend_from_slice(payload);
            f
        };
        ring.record("lan0", &frame(&tcp(0x02, b""), 1)).unwrap();
        ring.record(
            "lan0",
            &frame(&tcp(0x18, b"a1 LOGIN alice Tr0ub4dor\r\n"), 2),
        )
        .unwrap();
        ring.flush().unwrap();
        let path = dir.path().join("evidence.0.pcapng");
        let bytes = fs::read(&path).unwrap();
        assert!(
            !bytes.windows(8).any(|w| w == b"Tr0ub4do"),
            "password on disk"
        );
        assert!(
            bytes.windows(8).any(|w| w == b"a1 LOGIN"),
            "the verb is kept"
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// Regression (tests/robust diskfull): buffered frames hid a full disk. A flush that fails
    /// must be reported and must leave the ring not writing, so the daemon's status keeps
    /// the error until a later flush really reaches the disk.
    #[test]
    fn a_failed_flush_is_an_error_and_stops_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut ring = EvidenceRing::new(dir.path(), 1 << 20);
        // Every write to /dev/full fails with ENOSPC, as on a full state directory.
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        ring.current = Some(EvidenceRing::segment_on(full).unwrap());
        // Small frames stay in the buffer: record succeeds, the disk has not been touched.
        ring.record("lan0", &frame(&[0u8; 60], 1_700_000_000))
            .unwrap();
        assert!(ring.is_writing());
        let err = ring.flush().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert!(!ring.is_writing());
    }

    /// Each start used to truncate the current file: the evidence behind the verdicts just
    /// before a restart (a crash, an upgrade) was gone. It becomes the previous file instead.
    #[test]
    fn a_new_ring_keeps_the_last_runs_file_as_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        // DNS frames: the ring keeps them as captured, so their bytes can be looked for.
        let (old_frame, new_frame) = (udp_frame(200), udp_frame(61));
        let mut first = EvidenceRing::new(dir.path(), 1 << 20);
        for i in 0..10 {
            first.record("lan0", &frame(&old_frame, i)).unwrap();
        }
        first.flush().unwrap();
        drop(first);
        let before = fs::read(dir.path().join("evidence.0.pcapng")).unwrap();

        let mut second = EvidenceRing::new(dir.path(), 1 << 20);
        second.record("lan0", &frame(&new_frame, 100)).unwrap();
        second.flush().unwrap();
        assert_eq!(
            fs::read(dir.path().join("evidence.1.pcapng")).unwrap(),
            before,
            "the previous run's evidence must survive a restart whole"
        );
        let now = fs::read(dir.path().join("evidence.0.pcapng")).unwrap();
        assert!(now.windows(new_frame.len()).any(|w| w == new_frame));
        assert!(!now.windows(old_frame.len()).any(|w| w == old_frame));
    }

    /// A link planted in the state directory is moved aside, never written through.
    #[test]
    fn a_planted_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"keep me").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("evidence.0.pcapng")).unwrap();
        let mut ring = EvidenceRing::new(dir.path(), 1 << 20);
        ring.record("lan0", &frame(&[0u8; 60], 1)).unwrap();
        ring.flush().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep me");
        assert!(!fs::symlink_metadata(dir.path().join("evidence.0.pcapng"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
