//! Provider knowledge, keyed by the server's name: what a router owner should know about the
//! mail provider's password and TLS policies. It goes into an event's `advice` and never changes
//! a verdict (the verdict is what was observed).
//!
//! Facts and dates are the providers' own announcements (Google's end of "less secure apps",
//! Microsoft's end of basic authentication in Exchange Online, app-password pages); re-check
//! them before changing a date.

use crate::diagnose::event::Verdict;
use crate::observe::record::TlsVersion;

/// A mail provider with the host names it is recognised by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Outlook.com/Hotmail (personal) and Exchange Online share outlook.office365.com.
    Microsoft,
    Gmail,
    ICloud,
    Yahoo,
}

/// Exact mail host names (lower case) and the provider they belong to (§1.6 of the reference,
/// with the legacy names old clients still carry).
const HOSTS: &[(&str, Provider)] = &[
    ("outlook.office365.com", Provider::Microsoft),
    ("imap-mail.outlook.com", Provider::Microsoft),
    ("pop-mail.outlook.com", Provider::Microsoft),
    ("smtp-mail.outlook.com", Provider::Microsoft),
    ("smtp.office365.com", Provider::Microsoft),
    ("imap-legacy.office365.com", Provider::Microsoft),
    ("pop-legacy.office365.com", Provider::Microsoft),
    ("smtp-legacy.office365.com", Provider::Microsoft),
    ("pop3.live.com", Provider::Microsoft),
    ("smtp.live.com", Provider::Microsoft),
    ("imap.gmail.com", Provider::Gmail),
    ("pop.gmail.com", Provider::Gmail),
    ("smtp.gmail.com", Provider::Gmail),
    ("imap.googlemail.com", Provider::Gmail),
    ("imap.mail.me.com", Provider::ICloud),
    ("smtp.mail.me.com", Provider::ICloud),
    ("imap.mail.yahoo.com", Provider::Yahoo),
    ("pop.mail.yahoo.com", Provider::Yahoo),
    ("smtp.mail.yahoo.com", Provider::Yahoo),
];

/// Domain suffixes that identify a provider when the exact name is not in [`HOSTS`].
const SUFFIXES: &[(&str, Provider)] = &[
    (".office365.com", Provider::Microsoft),
    (".outlook.com", Provider::Microsoft),
    (".live.com", Provider::Microsoft),
    (".hotmail.com", Provider::Microsoft),
    (".gmail.com", Provider::Gmail),
    (".googlemail.com", Provider::Gmail),
    (".mail.me.com", Provider::ICloud),
    (".icloud.com", Provider::ICloud),
    (".mail.yahoo.com", Provider::Yahoo),
];

const MICROSOFT_AUTH: &str = "Microsoft no longer accepts passwords or app passwords over \
IMAP/POP: Outlook.com/Hotmail personal accounts since 16 Sep 2024, Exchange Online (work or \
school) since Basic authentication was switched off between 1 Oct 2022 and January 2023. A mail \
app that cannot sign in with OAuth (Modern Auth), such as iOS 5-9 Mail, Windows Live Mail or \
Outlook 2010/2013, is refused whatever password it is given; a new app password will not help.";

const MICROSOFT_TLS: &str = "Microsoft refuses TLS 1.0 and 1.1 on its regular IMAP/POP \
endpoints (Exchange Online since October 2020, fully by the end of April 2023); the opt-in \
legacy endpoints imap-legacy.office365.com and pop-legacy.office365.com are being retired \
between 1 Jul and 31 Dec 2026. The client needs TLS 1.2.";

const GMAIL_AUTH: &str = "Since 30 May 2022 Gmail accepts only an app password from mail apps \
that sign in with a password, and app passwords need 2-Step Verification turned on; iOS 10 and \
older devices need one. Changing the Google password revokes every app password.";

const ICLOUD_AUTH: &str = "Since 15 June 2017 iCloud Mail needs an app-specific password (with \
two-factor authentication on) for mail apps other than the device's own Apple ID account; \
changing the Apple ID password revokes them all. iCloud offers no POP.";

const YAHOO_AUTH: &str = "Since 20 Oct 2020 Yahoo rejects the account password from third-party \
mail apps: generate an app password under Account Security (two-step verification on).";

/// The provider a server name belongs to, if it is a known one.
pub fn provider(server_name: &str) -> Option<Provider> {
    let name = server_name.trim_end_matches('.').to_ascii_lowercase();
    HOSTS
        .iter()
        .find(|(host, _)| *host == name)
        .or_else(|| SUFFIXES.iter().find(|(suffix, _)| name.ends_with(suffix)))
        .map(|(_, p)| *p)
}

/// Whether the name is a known provider's mail host.
pub fn is_known_mail_host(server_name: &str) -> bool {
    provider(server_name).is_some()
}

/// The advice for a verdict on a session to `server_name`, or `None` when the provider has
/// nothing useful to add. `tls_client_max` is the highest TLS version the client offered.
pub fn advice(
    server_name: Option<&str>,
    verdict: Verdict,
    tls_client_max: Option<TlsVersion>,
) -> Option<String> {
    let provider = provider(server_name?)?;
    let old_tls = tls_client_max.is_some_and(|v| v < TlsVersion::TLS1_2);
    match (provider, verdict) {
        (Provider::Microsoft, Verdict::TlsRejected) => Some(MICROSOFT_TLS.to_string()),
        (Provider::Microsoft, _) if old_tls => Some(MICROSOFT_TLS.to_string()),
        (p, Verdict::AuthRejected | Verdict::Unknown) => Some(auth_text(p).to_string()),
        _ => None,
    }
}

fn auth_text(provider: Provider) -> &'static str {
    match provider {
        Provider::Microsoft => MICROSOFT_AUTH,
        Provider::Gmail => GMAIL_AUTH,
        Provider::ICloud => ICLOUD_AUTH,
        Provider::Yahoo => YAHOO_AUTH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_reference_table_map_to_their_provider() {
        assert_eq!(provider("outlook.office365.com"), Some(Provider::Microsoft));
        assert_eq!(provider("POP3.LIVE.COM."), Some(Provider::Microsoft));
        assert_eq!(provider("imap.gmail.com"), Some(Provider::Gmail));
        assert_eq!(provider("imap.mail.me.com"), Some(Provider::ICloud));
        assert_eq!(provider("imap.mail.yahoo.com"), Some(Provider::Yahoo));
        assert_eq!(provider("mail.example.org"), None);
        // A look-alike that merely contains a provider's name is not that provider.
        assert_eq!(provider("gmail.com.example.org"), None);
    }

    #[test]
    fn microsoft_auth_advice_names_both_cut_off_dates() {
        let text = advice(Some("outlook.office365.com"), Verdict::AuthRejected, None).unwrap();
        assert!(text.contains("16 Sep 2024"), "{text}");
        assert!(text.contains("1 Oct 2022"), "{text}");
        assert!(text.contains("app password"), "{text}");
    }

    #[test]
    fn tls_advice_for_old_clients_to_microsoft_mentions_the_retirement() {
        let text = advice(
            Some("outlook.office365.com"),
            Verdict::TlsRejected,
            Some(TlsVersion::TLS1_0),
        )
        .unwrap();
        assert!(text.contains("TLS 1.0 and 1.1"), "{text}");
        assert!(text.contains("31 Dec 2026"), "{text}");
    }

    #[test]
    fn provider_advice_per_provider() {
        let gmail = advice(Some("imap.gmail.com"), Verdict::AuthRejected, None).unwrap();
        assert!(gmail.contains("2-Step Verification") && gmail.contains("30 May 2022"));
        let icloud = advice(Some("imap.mail.me.com"), Verdict::AuthRejected, None).unwrap();
        assert!(icloud.contains("app-specific password") && icloud.contains("15 June 2017"));
        let yahoo = advice(Some("imap.mail.yahoo.com"), Verdict::AuthRejected, None).unwrap();
        assert!(yahoo.contains("app password") && yahoo.contains("20 Oct 2020"));
    }

    #[test]
    fn network_verdicts_get_no_provider_advice() {
        assert_eq!(advice(Some("imap.gmail.com"), Verdict::WanDown, None), None);
        assert_eq!(
            advice(Some("mail.example.org"), Verdict::AuthRejected, None),
            None
        );
        assert_eq!(advice(None, Verdict::AuthRejected, None), None);
    }
}
