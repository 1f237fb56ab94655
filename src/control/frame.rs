//! Length-prefixed JSON frames: a u64 big-endian byte count, then the JSON. The reader checks
//! the count against a cap before allocating anything.

use std::fmt;
use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a frame could not be read or written.
#[derive(Debug)]
pub enum FrameError {
    Io(io::Error),
    /// The peer closed before a whole frame arrived.
    Truncated {
        expected: u64,
        got: u64,
    },
    /// The length prefix is over the cap; nothing of the body was read.
    TooLarge {
        length: u64,
        max: u64,
    },
    /// The body is not the JSON expected.
    Json(serde_json::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::Truncated { expected, got } => {
                write!(f, "truncated message: {got} of {expected} bytes arrived")
            }
            FrameError::TooLarge { length, max } => {
                write!(f, "message of {length} bytes is over the {max}-byte limit")
            }
            FrameError::Json(e) => write!(f, "malformed message: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Serializes `value` into a frame, refusing bodies over `max`.
pub fn encode<T: Serialize>(value: &T, max: u64) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(value).map_err(FrameError::Json)?;
    let length = body.len() as u64;
    if length > max {
        return Err(FrameError::TooLarge { length, max });
    }
    let mut frame = Vec::with_capacity(body.len() + 8);
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(body).map_err(FrameError::Json)
}

/// Writes one frame (blocking).
pub fn write<T: Serialize>(w: &mut impl Write, value: &T, max: u64) -> Result<(), FrameError> {
    let frame = encode(value, max)?;
    w.write_all(&frame).map_err(FrameError::Io)?;
    w.flush().map_err(FrameError::Io)
}

/// Reads one frame (blocking).
pub fn read<T: DeserializeOwned>(r: &mut impl Read, max: u64) -> Result<T, FrameError> {
    let mut prefix = [0u8; 8];
    read_exact(r, &mut prefix, 8)?;
    let length = u64::from_be_bytes(prefix);
    if length > max {
        return Err(FrameError::TooLarge { length, max });
    }
    // `length <= max`, and the caps fit in usize on every target mailpulse builds for.
    let mut body = vec![0u8; usize::try_from(length).unwrap_or(0)];
    read_exact(r, &mut body, length)?;
    decode(&body)
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], expected: u64) -> Result<(), FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(FrameError::Truncated {
                    expected,
                    got: got as u64,
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(())
}

/// Reads one frame (async).
pub async fn read_async<T: DeserializeOwned>(
    r: &mut (impl AsyncRead + Unpin),
    max: u64,
) -> Result<T, FrameError> {
    let mut prefix = [0u8; 8];
    read_exact_async(r, &mut prefix, 8).await?;
    let length = u64::from_be_bytes(prefix);
    if length > max {
        return Err(FrameError::TooLarge { length, max });
    }
    let mut body = vec![0u8; usize::try_from(length).unwrap_or(0)];
    read_exact_async(r, &mut body, length).await?;
    decode(&body)
}

async fn read_exact_async(
    r: &mut (impl AsyncRead + Unpin),
    buf: &mut [u8],
    expected: u64,
) -> Result<(), FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]).await {
            Ok(0) => {
                return Err(FrameError::Truncated {
                    expected,
                    got: got as u64,
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_u64_big_endian_length_then_json() {
        let frame = encode(&serde_json::json!({"request": "status"}), 100).unwrap();
        let body = br#"{"request":"status"}"#;
        assert_eq!(frame[..8], (body.len() as u64).to_be_bytes());
        assert_eq!(&frame[8..], body);
    }

    #[test]
    fn oversized_prefix_is_refused_before_reading_the_body() {
        let mut input: &[u8] = &u64::MAX.to_be_bytes();
        let err = read::<serde_json::Value>(&mut input, 1024).unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                length: u64::MAX,
                max: 1024
            }
        ));
    }

    #[test]
    fn short_input_is_truncated_not_a_panic() {
        let mut input: &[u8] = &[0, 0, 0];
        assert!(matches!(
            read::<serde_json::Value>(&mut input, 1024),
            Err(FrameError::Truncated {
                expected: 8,
                got: 3
            })
        ));
        let mut frame = 10u64.to_be_bytes().to_vec();
        frame.extend_from_slice(b"{\"a\"");
        let mut input: &[u8] = &frame;
        assert!(matches!(
            read::<serde_json::Value>(&mut input, 1024),
            Err(FrameError::Truncated {
                expected: 10,
                got: 4
            })
        ));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::control::Request;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut input: &[u8] = &bytes;
            let _ = read::<Request>(&mut input, 128);
        }

        #[test]
        fn requests_round_trip(limit in proptest::option::of(0usize..10_000), failures: bool) {
            let request = Request::Events(crate::control::EventQuery {
                limit,
                failures,
                ..Default::default()
            });
            let bytes = encode(&request, 1 << 20).unwrap();
            let mut input: &[u8] = &bytes;
            prop_assert_eq!(read::<Request>(&mut input, 1 << 20).unwrap(), request);
        }
    }
}
