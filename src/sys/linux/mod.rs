//! Linux: AF_PACKET capture, rtnetlink link monitor, conntrack timeout, privilege drop.

// AF_PACKET socket options, recvmsg and its control messages.
#[allow(unsafe_code)]
pub mod capture;
pub mod firewall;
// The rtnetlink socket: socket, bind, send, recvfrom, setsockopt.
#[allow(unsafe_code)]
pub mod link;
mod link_table;
mod netlink;
// prctl(2) and capset(2), which nix does not wrap.
#[allow(unsafe_code)]
pub mod privs;
