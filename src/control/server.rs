//! The daemon's side of the control socket.
//!
//! Boring on purpose (after ntpd-rs's observer socket): an old path is removed only if it is a
//! socket nobody answers on, permissions are set explicitly, a semaphore caps clients, accept
//! errors are sorted, and every bad request gets an `Error` response instead of a panic.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use super::frame::{self, FrameError};
use super::{Request, Response, MAX_REQUEST, MAX_RESPONSE};

/// Answers one request. Called on the runtime thread, so it must be quick (take a lock, copy
/// a snapshot, render).
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// How long a client may take to send its request, and to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Back-off when the process is out of descriptors or memory.
const BACKOFF: Duration = Duration::from_millis(500);

/// Creates the socket at `path` with permissions `mode`. A leftover socket is replaced only
/// when no daemon answers on it; anything else at the path is refused.
/// Must be called inside a tokio runtime.
pub fn bind(path: &Path, mode: u32) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{}: another mailpulse daemon is answering on this socket",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| with_path(path, "cannot remove old socket", e))?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{}: exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(with_path(path, "cannot inspect", e)),
    }
    let listener = UnixListener::bind(path).map_err(|e| with_path(path, "cannot listen", e))?;
    // umask may have widened or narrowed it; the owner decides with `socket_mode`.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| with_path(path, "cannot set permissions on", e))?;
    Ok(listener)
}

fn with_path(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Accepts clients until an accept error that is not transient; at most `max_clients` are
/// served at once, the others wait in the listen queue.
pub async fn serve(listener: UnixListener, handler: Handler, max_clients: usize) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(max_clients.max(1)));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            // The semaphore is never closed; treat it as shutdown if it were.
            return Ok(());
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => match e.raw_os_error() {
                Some(libc::ECONNABORTED) | Some(libc::EINTR) => continue,
                Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOMEM)
                | Some(libc::ENOBUFS) => {
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
                _ => return Err(e),
            },
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            answer(stream, &handler).await;
            drop(permit);
        });
    }
}

/// Reads one request and writes one response; errors on the way end the connection.
async fn answer(mut stream: UnixStream, handler: &Handler) {
    let read = tokio::time::timeout(
        IO_TIMEOUT,
        frame::read_async::<Request>(&mut stream, MAX_REQUEST),
    );
    let response = match read.await {
        Err(_) => error(format!(
            "no complete request within {} s",
            IO_TIMEOUT.as_secs()
        )),
        Ok(Ok(request)) => handler(request),
        Ok(Err(FrameError::Io(_))) => return,
        Ok(Err(e @ (FrameError::TooLarge { .. } | FrameError::Truncated { .. }))) => {
            error(format!("bad request: {e}"))
        }
        Ok(Err(FrameError::Json(e))) => error(format!("bad request: not a mailpulse request: {e}")),
    };
    let response = match frame::encode(&response, MAX_RESPONSE) {
        Ok(bytes) => bytes,
        Err(e) => match frame::encode(
            &error(format!(
                "answer too large to send ({e}); ask for less, e.g. events --limit"
            )),
            MAX_RESPONSE,
        ) {
            Ok(bytes) => bytes,
            Err(_) => return,
        },
    };
    let write = async {
        use tokio::io::AsyncWriteExt;
        stream.write_all(&response).await?;
        stream.shutdown().await
    };
    // A client that went away or stalls is its own problem.
    let _ = tokio::time::timeout(IO_TIMEOUT, write).await;
}

fn error(message: String) -> Response {
    Response::Error { message }
}
