//! Any OS other than Linux and FreeBSD: the same items, each returning
//! `ErrorKind::Unsupported` (or "unknown"), so the crate builds and the daemon says plainly
//! what it cannot do.

use std::io;

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not supported on this operating system"),
    )
}

/// Live capture: unsupported.
pub mod capture {
    use std::io;
    use std::os::fd::{AsRawFd, RawFd};

    use crate::sys::{CaptureOptions, CaptureStats};
    use crate::wire::Frame;

    /// Never constructed.
    #[derive(Debug)]
    pub struct Capture {
        _never: std::convert::Infallible,
    }

    /// Nothing to reserve.
    pub fn reserve_for_reopen(_count: usize) -> io::Result<()> {
        Ok(())
    }

    impl Capture {
        /// Always `Unsupported`.
        pub fn open(_interface: &str, _options: &CaptureOptions) -> io::Result<Capture> {
            Err(super::unsupported("live capture"))
        }

        /// Unreachable: no `Capture` exists.
        pub fn read(&mut self, _on_frame: &mut dyn FnMut(Frame<'_>)) -> io::Result<usize> {
            match self._never {}
        }

        /// Unreachable: no `Capture` exists.
        pub fn stats(&self) -> io::Result<CaptureStats> {
            match self._never {}
        }
    }

    impl AsRawFd for Capture {
        fn as_raw_fd(&self) -> RawFd {
            match self._never {}
        }
    }
}

/// Link monitoring: unsupported.
pub mod link {
    use std::io;
    use std::os::fd::{AsRawFd, RawFd};

    use crate::sys::{LinkRead, LinkSnapshot};

    /// Never constructed.
    #[derive(Debug)]
    pub struct LinkMonitor {
        _never: std::convert::Infallible,
    }

    impl LinkMonitor {
        /// Always `Unsupported`.
        pub fn open() -> io::Result<LinkMonitor> {
            Err(super::unsupported("link monitoring"))
        }

        /// Unreachable: no `LinkMonitor` exists.
        pub fn read(&mut self) -> io::Result<LinkRead> {
            match self._never {}
        }

        /// Unreachable: no `LinkMonitor` exists.
        pub fn snapshot(&mut self) -> io::Result<LinkSnapshot> {
            match self._never {}
        }
    }

    impl AsRawFd for LinkMonitor {
        fn as_raw_fd(&self) -> RawFd {
            match self._never {}
        }
    }
}

/// Firewall timeouts: unknown.
pub mod firewall {
    use crate::observe::observation::FirewallTimeouts;

    /// Nothing to open.
    pub fn open_before_drop() {}

    /// Always `None`.
    pub fn tcp_established_timeout() -> Option<FirewallTimeouts> {
        None
    }
}

/// Privilege drop: unsupported.
pub mod privs {
    use std::io;

    /// Always false.
    pub fn user_exists(_user: &str) -> bool {
        false
    }

    /// Always `Unsupported`.
    pub fn drop_privileges(_user: &str) -> io::Result<()> {
        Err(super::unsupported("dropping privileges"))
    }

    /// Nothing to harden with.
    pub fn harden() -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_says_unsupported() {
        let options = crate::sys::CaptureOptions::default();
        let err = capture::Capture::open("eth0", &options).expect_err("unsupported");
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert_eq!(
            link::LinkMonitor::open().expect_err("unsupported").kind(),
            io::ErrorKind::Unsupported
        );
        assert_eq!(firewall::tcp_established_timeout(), None);
        assert!(!privs::user_exists("root"));
        assert_eq!(
            privs::drop_privileges("nobody")
                .expect_err("unsupported")
                .kind(),
            io::ErrorKind::Unsupported
        );
    }
}
