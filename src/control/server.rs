//! The daemon's side of the control socket.
//!
//! Boring on purpose (after ntpd-rs's observer socket): an old path is removed only if it is a
//! socket nobody answers on, permissions are set explicitly, accept errors are sorted, and every
//! bad request gets an `Error` response instead of a panic.
//!
//! Clients are served concurrently, each within its own deadline. A new connection is never
//! made to wait for a slot: over `max_clients` open connections, the oldest one that has said
//! nothing for [`IDLE_GRACE`] is closed; connections younger than that are still accepted, up
//! to [`HARD_CAP_FACTOR`] × `max_clients`, where the oldest connection still waiting for its
//! request is closed whatever its age. So clients that connect and say nothing, or keep
//! reconnecting, cannot delay anyone else's `status` (docs/threat-model.md), and a burst of
//! honest clients whose requests are already on their way is not cut short.

use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::{UnixListener, UnixStream};
use tokio::task::AbortHandle;

use super::frame::{self, FrameError};
use super::{Request, Response, MAX_REQUEST, MAX_RESPONSE};

/// Answers one request. Called on the runtime thread, so it must be quick (take a lock, copy
/// a snapshot, render).
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// How long a client may take to send its request, and to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection over the soft cap may stay silent before a newcomer closes it. An
/// honest client writes its request right after connecting; this only spares requests that
/// are in flight while the server is busy accepting.
const IDLE_GRACE: Duration = Duration::from_millis(100);
/// The most connections ever open, as a multiple of `max_clients`.
const HARD_CAP_FACTOR: usize = 8;
/// Connections the kernel queues before they are accepted. Short enough that a flood of
/// connects cannot put thousands ahead of an honest client, long enough that a hundred clients
/// connecting at once are queued: a non-blocking connect to a full Unix socket queue fails with
/// EAGAIN at once instead of waiting (the web UI's PHP and Python clients connect that way).
const LISTEN_BACKLOG: i32 = 128;
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
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| with_path(path, "cannot listen", e))?;
    // A short queue: connections waiting to be accepted are served in arrival order, so a
    // client that floods the queue would put every later client behind all of its own. With
    // a short one, a connect that finds it full waits in the kernel beside the flood's
    // connects and gets its turn within a few accepts.
    nix::sys::socket::listen(
        &listener,
        nix::sys::socket::Backlog::new(LISTEN_BACKLOG).map_err(io::Error::from)?,
    )
    .map_err(|e| with_path(path, "cannot listen", io::Error::from(e)))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| with_path(path, "cannot listen", e))?;
    let listener =
        UnixListener::from_std(listener).map_err(|e| with_path(path, "cannot listen", e))?;
    // umask may have widened or narrowed it; the owner decides with `socket_mode`.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| with_path(path, "cannot set permissions on", e))?;
    Ok(listener)
}

fn with_path(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Accepts clients until an accept error that is not transient. Over `max_clients` open
/// connections a new client closes an idle one instead of waiting (see the module docs).
pub async fn serve(listener: UnixListener, handler: Handler, max_clients: usize) -> io::Result<()> {
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    let soft_cap = max_clients.max(1);
    let hard_cap = soft_cap.saturating_mul(HARD_CAP_FACTOR);
    loop {
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
        {
            let mut table = lock(&open);
            table.make_room(soft_cap, hard_cap, Instant::now());
            let id = table.next_id;
            table.next_id += 1;
            let handler = handler.clone();
            let registration = Registration {
                open: open.clone(),
                id,
            };
            // The task is registered under the lock it would need to remove itself, so its
            // removal (on its first poll at the earliest) always finds the entry.
            let task = tokio::spawn(async move {
                answer(stream, &handler, &registration).await;
                drop(registration);
            });
            table.conns.push_back(Connection {
                id,
                accepted: Instant::now(),
                waiting_for_request: true,
                task: task.abort_handle(),
            });
        }
        // Let the new task read a request that is already there before the next accept can
        // count it as idle: accepts that are ready would otherwise run back to back.
        tokio::task::yield_now().await;
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct OpenConnections {
    next_id: u64,
    conns: VecDeque<Connection>,
}

struct Connection {
    id: u64,
    accepted: Instant,
    /// Still reading its request (an idle client looks like this).
    waiting_for_request: bool,
    task: AbortHandle,
}

impl OpenConnections {
    /// Closes connections until one more fits: first those silent for [`IDLE_GRACE`] while
    /// over `soft_cap`, then, at `hard_cap`, the oldest still waiting for its request (or the
    /// oldest of all when every one is being answered).
    fn make_room(&mut self, soft_cap: usize, hard_cap: usize, now: Instant) {
        while self.conns.len() >= soft_cap {
            let idle = self.conns.iter().position(|c| {
                c.waiting_for_request && now.saturating_duration_since(c.accepted) >= IDLE_GRACE
            });
            let victim = match idle {
                Some(i) => i,
                None if self.conns.len() >= hard_cap => self
                    .conns
                    .iter()
                    .position(|c| c.waiting_for_request)
                    .unwrap_or(0),
                None => return,
            };
            if let Some(conn) = self.conns.remove(victim) {
                // Dropping the task drops its stream, which closes the connection.
                conn.task.abort();
            }
        }
    }
}

/// A connection's entry in [`OpenConnections`], removed when its task ends or is aborted.
struct Registration {
    open: Arc<Mutex<OpenConnections>>,
    id: u64,
}

impl Registration {
    fn request_read(&self) {
        if let Some(conn) = lock(&self.open).conns.iter_mut().find(|c| c.id == self.id) {
            conn.waiting_for_request = false;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.open).conns.retain(|c| c.id != self.id);
    }
}

/// The table holds no invariant a panic could break half-way, so a poisoned lock is used as is.
fn lock(open: &Mutex<OpenConnections>) -> std::sync::MutexGuard<'_, OpenConnections> {
    open.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads one request and writes one response; errors on the way end the connection.
async fn answer(mut stream: UnixStream, handler: &Handler, registration: &Registration) {
    let read = tokio::time::timeout(
        IO_TIMEOUT,
        frame::read_async::<Request>(&mut stream, MAX_REQUEST),
    )
    .await;
    registration.request_read();
    let response = match read {
        Err(_) => error(format!(
            "no complete request within {}",
            crate::time::words::secs(IO_TIMEOUT)
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
