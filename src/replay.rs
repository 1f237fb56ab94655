//! `mailpulse replay`: a capture file through the same tracker and engine as the daemon.
