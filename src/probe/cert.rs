//! The certificate facts the probe reads itself: the leaf's `notAfter` (RFC 5280 §4.1.2.5) and
//! whether it names itself as its issuer (self-signed, §4.1.2.4 and §4.1.2.6).
//!
//! A minimal DER walk over `Certificate → tbsCertificate → validity`; every length is checked
//! against what is left, so a hostile certificate yields `None`, never a panic.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::time::Timestamp;

const TAG_SEQUENCE: u8 = 0x30;
const TAG_INTEGER: u8 = 0x02;
const TAG_VERSION: u8 = 0xa0; // [0] EXPLICIT Version
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;

/// One DER element: its tag, its contents and what follows it.
struct Element<'a> {
    tag: u8,
    contents: &'a [u8],
    rest: &'a [u8],
}

/// Reads one element (single-byte tags; definite lengths up to 4 length bytes, as DER needs).
fn element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_len) = after_tag.split_first()?;
    let (len, body) = if first < 0x80 {
        (usize::from(first), after_len)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (len_bytes, body) = after_len.split_at_checked(n)?;
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, body)
    };
    let (contents, rest) = body.split_at_checked(len)?;
    Some(Element {
        tag,
        contents,
        rest,
    })
}

fn expect_tag(input: &[u8], tag: u8) -> Option<Element<'_>> {
    element(input).filter(|e| e.tag == tag)
}

/// The issuer of a DER certificate's TBSCertificate (version, serial and signature skipped);
/// the elements after it are the validity and the subject.
fn issuer(der: &[u8]) -> Option<Element<'_>> {
    let cert = expect_tag(der, TAG_SEQUENCE)?;
    let tbs = expect_tag(cert.contents, TAG_SEQUENCE)?;
    let mut fields = tbs.contents;
    if fields.first() == Some(&TAG_VERSION) {
        fields = element(fields)?.rest;
    }
    let serial = expect_tag(fields, TAG_INTEGER)?;
    let signature = expect_tag(serial.rest, TAG_SEQUENCE)?;
    expect_tag(signature.rest, TAG_SEQUENCE)
}

/// The `notAfter` of a DER certificate, or `None` when the structure is not one.
pub fn not_after(der: &[u8]) -> Option<Timestamp> {
    let validity = expect_tag(issuer(der)?.rest, TAG_SEQUENCE)?;
    let not_before = element(validity.contents)?;
    let not_after = element(not_before.rest)?;
    parse_time(not_after.tag, not_after.contents)
}

/// Whether the certificate's issuer is its own subject (byte for byte, as a self-signed
/// certificate has it); `false` when the structure is not a certificate.
pub fn is_self_issued(der: &[u8]) -> bool {
    let issued = || -> Option<bool> {
        let issuer = issuer(der)?;
        let validity = expect_tag(issuer.rest, TAG_SEQUENCE)?;
        let subject = expect_tag(validity.rest, TAG_SEQUENCE)?;
        Some(issuer.contents == subject.contents)
    };
    issued().unwrap_or(false)
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`; RFC 5280
/// requires the `Z` and whole seconds.
fn parse_time(tag: u8, text: &[u8]) -> Option<Timestamp> {
    let text = std::str::from_utf8(text).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| digits.get(range)?.parse::<u32>().ok();
    let (year, rest_at) = match (tag, digits.len()) {
        (TAG_UTC_TIME, 12) => {
            let yy = num(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (TAG_GENERALIZED_TIME, 14) => (num(0..4)?, 4),
        _ => return None,
    };
    let field = |i: usize| num(rest_at + 2 * i..rest_at + 2 * i + 2);
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, field(0)?, field(1)?)?;
    let time = NaiveTime::from_hms_opt(field(2)?, field(3)?, field(4)?)?;
    let secs = NaiveDateTime::new(date, time).and_utc().timestamp();
    Some(Timestamp::from_unix(secs, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wraps `contents` in a DER element (short or long length form).
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(contents);
        out
    }

    fn cert_with_validity(version: bool, not_before: &[u8], not_after: &[u8]) -> Vec<u8> {
        let mut tbs = Vec::new();
        if version {
            tbs.extend(tlv(TAG_VERSION, &tlv(TAG_INTEGER, &[2])));
        }
        tbs.extend(tlv(TAG_INTEGER, &[0x01, 0x02]));
        tbs.extend(tlv(TAG_SEQUENCE, &[0x06, 0x01, 0x2a]));
        tbs.extend(tlv(TAG_SEQUENCE, &[0u8; 150])); // an issuer long enough for long form
        let mut validity = not_before.to_vec();
        validity.extend_from_slice(not_after);
        tbs.extend(tlv(TAG_SEQUENCE, &validity));
        tbs.extend(tlv(TAG_SEQUENCE, &[])); // subject
        let mut cert = tlv(TAG_SEQUENCE, &tbs);
        cert.extend(tlv(TAG_SEQUENCE, &[])); // signatureAlgorithm
        tlv(TAG_SEQUENCE, &cert)
    }

    #[test]
    fn reads_utc_time_and_generalized_time() {
        // 2027-11-22 05:10:03 UTC is 1826860203 s after the epoch (date -u -d @1826860203).
        let der = cert_with_validity(
            true,
            &tlv(TAG_UTC_TIME, b"261122051003Z"),
            &tlv(TAG_UTC_TIME, b"271122051003Z"),
        );
        assert_eq!(
            not_after(&der),
            Some(Timestamp::from_unix(1_826_860_203, 0))
        );
        // RFC 5280: UTCTime years 50..99 are 19xx. 1999-12-31 23:59:59 = 946684799.
        let der = cert_with_validity(
            false,
            &tlv(TAG_UTC_TIME, b"990101000000Z"),
            &tlv(TAG_UTC_TIME, b"991231235959Z"),
        );
        assert_eq!(not_after(&der), Some(Timestamp::from_unix(946_684_799, 0)));
        // Dates from 2050 on are GeneralizedTime. 2050-01-01 00:00:00 = 2524608000.
        let der = cert_with_validity(
            true,
            &tlv(TAG_UTC_TIME, b"261122051003Z"),
            &tlv(TAG_GENERALIZED_TIME, b"20500101000000Z"),
        );
        assert_eq!(
            not_after(&der),
            Some(Timestamp::from_unix(2_524_608_000, 0))
        );
    }

    #[test]
    fn malformed_input_gives_none_without_panicking() {
        let good = cert_with_validity(
            true,
            &tlv(TAG_UTC_TIME, b"261122051003Z"),
            &tlv(TAG_UTC_TIME, b"271122051003Z"),
        );
        // Every truncation fails cleanly.
        for len in 0..good.len() {
            assert_eq!(not_after(&good[..len]), None, "truncated to {len}");
        }
        // Local times, fractional seconds and impossible dates are refused.
        for bad in [&b"2711220510Z"[..], b"271122051003+0100", b"271322051003Z"] {
            let der = cert_with_validity(true, &tlv(TAG_UTC_TIME, bad), &tlv(TAG_UTC_TIME, bad));
            assert_eq!(not_after(&der), None);
        }
        // A length claiming more than is there, and an over-long length-of-length.
        assert_eq!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00]), None);
        assert_eq!(not_after(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = not_after(&bytes);
        }
    }
}
