//! Test-only writer of FreeBSD 14 LP64 routing messages, from the header layouts alone.
//!
//! Every offset below is copied from FreeBSD's headers (route.h `struct rt_msghdr`,
//! if.h `struct if_msghdr`, `struct if_data`, `struct ifa_msghdr`, `struct
//! if_announcemsghdr`) and if_dl.h / netinet/in.h / netinet6/in6.h for the sockaddrs. It shares
//! no code with the parser, so a parser mistake cannot hide behind a matching writer mistake.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Writes `value` at `offset` (native byte order, as the kernel does).
fn put(buf: &mut [u8], offset: usize, value: &[u8]) {
    buf[offset..offset + value.len()].copy_from_slice(value);
}

/// route.h SA_SIZE with sizeof(long) == 8, written independently: round up to a multiple of
/// 8, and an empty sockaddr still takes 8.
fn padded(sa: &[u8]) -> Vec<u8> {
    let size = if sa.is_empty() {
        8
    } else {
        sa.len().div_ceil(8) * 8
    };
    let mut out = sa.to_vec();
    out.resize(size, 0);
    out
}

/// `struct sockaddr_in` (16 bytes): sin_len, sin_family = AF_INET (2), sin_port, sin_addr@4.
pub fn sin(addr: Ipv4Addr) -> Vec<u8> {
    let mut sa = vec![0u8; 16];
    sa[0] = 16;
    sa[1] = 2;
    put(&mut sa, 4, &addr.octets());
    sa
}

/// `struct sockaddr_in6` (28 bytes): sin6_len, AF_INET6 (28), port, flowinfo, sin6_addr@8.
pub fn sin6(addr: Ipv6Addr) -> Vec<u8> {
    let mut sa = vec![0u8; 28];
    sa[0] = 28;
    sa[1] = 28;
    put(&mut sa, 8, &addr.octets());
    sa
}

/// An IPv4 netmask as the kernel sends it: a `sockaddr_in` of the mask.
pub fn mask4(prefix: u8) -> Vec<u8> {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    sin(Ipv4Addr::from(bits))
}

/// An IPv6 netmask as a `sockaddr_in6`.
pub fn mask6(prefix: u8) -> Vec<u8> {
    let bits = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    sin6(Ipv6Addr::from(bits))
}

/// `struct sockaddr_dl` as if_attach builds it: sdl_len = max(8 + nlen + alen, 54),
/// AF_LINK (18), sdl_index@2, sdl_type@4 (IFT_ETHER 6), sdl_nlen@5, sdl_alen@6, sdl_slen@7,
/// sdl_data@8 = name then MAC.
pub fn sdl(index: u16, name: &str) -> Vec<u8> {
    let mac = [0x02, 0, 0, 0, 0, 1];
    let len = (8 + name.len() + mac.len()).max(54);
    let mut sa = vec![0u8; len];
    sa[0] = len as u8;
    sa[1] = 18;
    put(&mut sa, 2, &index.to_ne_bytes());
    sa[4] = 6;
    sa[5] = name.len() as u8;
    sa[6] = mac.len() as u8;
    put(&mut sa, 8, name.as_bytes());
    put(&mut sa, 8 + name.len(), &mac);
    sa
}

/// Appends the sockaddrs (each padded) and sets msglen (u16@0).
fn finish(mut msg: Vec<u8>, sockaddrs: &[Vec<u8>]) -> Vec<u8> {
    for sa in sockaddrs {
        msg.extend(padded(sa));
    }
    let len = msg.len() as u16;
    put(&mut msg, 0, &len.to_ne_bytes());
    msg
}

/// `struct rt_msghdr` (152 bytes): version@2 = 5, type@3, rtm_index u16@4, rtm_flags i32@8,
/// rtm_addrs i32@12, rtm_pid@16, rtm_seq@20, rtm_errno@24.
pub fn rt_msghdr(
    rtm_type: u8,
    index: u16,
    flags: i32,
    addrs: i32,
    errno: i32,
    sockaddrs: &[Vec<u8>],
) -> Vec<u8> {
    let mut msg = vec![0u8; 152];
    msg[2] = 5;
    msg[3] = rtm_type;
    put(&mut msg, 4, &index.to_ne_bytes());
    put(&mut msg, 8, &flags.to_ne_bytes());
    put(&mut msg, 12, &addrs.to_ne_bytes());
    put(&mut msg, 16, &1234i32.to_ne_bytes());
    put(&mut msg, 24, &errno.to_ne_bytes());
    finish(msg, sockaddrs)
}

/// `struct if_msghdr` (168 bytes): ifm_addrs@4, ifm_flags@8, ifm_index u16@12, if_data@16 with
/// ifi_type@0 (6), ifi_link_state@4, ifi_datalen u16@6 (152), ifi_mtu u32@8.
pub fn if_msghdr(
    index: u16,
    flags: i32,
    link_state: u8,
    addrs: i32,
    sockaddrs: &[Vec<u8>],
) -> Vec<u8> {
    let mut msg = vec![0u8; 168];
    msg[2] = 5;
    msg[3] = 0xe;
    put(&mut msg, 4, &addrs.to_ne_bytes());
    put(&mut msg, 8, &flags.to_ne_bytes());
    put(&mut msg, 12, &index.to_ne_bytes());
    msg[16] = 6;
    msg[16 + 4] = link_state;
    put(&mut msg, 16 + 6, &152u16.to_ne_bytes());
    put(&mut msg, 16 + 8, &1500u32.to_ne_bytes());
    finish(msg, sockaddrs)
}

/// `struct ifa_msghdr` (20 bytes): ifam_addrs@4, ifam_flags@8, ifam_index u16@12,
/// ifam_metric@16.
pub fn ifa_msghdr(rtm_type: u8, index: u16, addrs: i32, sockaddrs: &[Vec<u8>]) -> Vec<u8> {
    let mut msg = vec![0u8; 20];
    msg[2] = 5;
    msg[3] = rtm_type;
    put(&mut msg, 4, &addrs.to_ne_bytes());
    put(&mut msg, 12, &index.to_ne_bytes());
    finish(msg, sockaddrs)
}

/// `struct if_announcemsghdr` (24 bytes): ifan_index u16@4, ifan_name[16]@6, ifan_what u16@22.
pub fn if_announcemsghdr(index: u16, name: &str, what: u16) -> Vec<u8> {
    let mut msg = vec![0u8; 24];
    msg[2] = 5;
    msg[3] = 0x11;
    put(&mut msg, 4, &index.to_ne_bytes());
    put(&mut msg, 6, name.as_bytes());
    put(&mut msg, 22, &what.to_ne_bytes());
    finish(msg, &[])
}
