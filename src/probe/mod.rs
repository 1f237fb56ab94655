//! Active probes of mail hosts: DNS, TCP connect, TLS, greeting, capabilities. No credentials.
