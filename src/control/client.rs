//! The CLI's side of the control socket (blocking; the CLI has no runtime).

use std::fmt;
use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::frame::{self, FrameError};
use super::{Request, Response, MAX_REQUEST, MAX_RESPONSE};

/// How long to wait for the daemon's answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the daemon could not be asked; each maps to a sysexits code.
#[derive(Debug)]
pub enum ClientError {
    /// No socket, or nobody listening on it (69, EX_UNAVAILABLE).
    NotRunning { path: PathBuf, detail: String },
    /// The socket's permissions keep this user out (77, EX_NOPERM).
    PermissionDenied { path: PathBuf },
    /// Connected, but the exchange failed or timed out (69).
    Io { path: PathBuf, error: io::Error },
    /// The daemon's answer was not understood (70, EX_SOFTWARE).
    Protocol { path: PathBuf, message: String },
}

impl ClientError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::NotRunning { .. } | ClientError::Io { .. } => 69,
            ClientError::PermissionDenied { .. } => 77,
            ClientError::Protocol { .. } => 70,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotRunning { path, detail } => write!(
                f,
                "the mailpulse daemon is not running (cannot connect to {}: {detail})",
                path.display()
            ),
            ClientError::PermissionDenied { path } => write!(
                f,
                "permission denied on {}: run as root or as a member of the socket's group",
                path.display()
            ),
            ClientError::Io { path, error } => {
                write!(
                    f,
                    "talking to the daemon at {} failed: {error}",
                    path.display()
                )
            }
            ClientError::Protocol { path, message } => write!(
                f,
                "the daemon at {} sent an answer this mailpulse does not understand: {message}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// Sends one request to the daemon at `path` and returns its answer.
pub fn request(path: &Path, request: &Request) -> Result<Response, ClientError> {
    request_with_timeout(path, request, TIMEOUT)
}

/// [`request`] with a chosen timeout for each read and write.
pub fn request_with_timeout(
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let mut stream = UnixStream::connect(path).map_err(|e| connect_error(path, e))?;
    let io = |error: io::Error| ClientError::Io {
        path: path.to_path_buf(),
        error,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let framed = |e: FrameError| match e {
        FrameError::Io(error) => ClientError::Io {
            path: path.to_path_buf(),
            error,
        },
        other => ClientError::Protocol {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    };
    frame::write(&mut stream, request, MAX_REQUEST).map_err(framed)?;
    frame::read(&mut stream, MAX_RESPONSE).map_err(framed)
}

fn connect_error(path: &Path, e: io::Error) -> ClientError {
    let path = path.to_path_buf();
    match e.kind() {
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path },
        io::ErrorKind::NotFound => ClientError::NotRunning {
            path,
            detail: "no such socket".into(),
        },
        io::ErrorKind::ConnectionRefused => ClientError::NotRunning {
            path,
            detail: "nobody is listening".into(),
        },
        _ => ClientError::NotRunning {
            path,
            detail: e.to_string(),
        },
    }
}
