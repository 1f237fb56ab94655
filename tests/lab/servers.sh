# shellcheck shell=bash
# mailpulse lab: certificates, mail servers (dovecot), DNS servers (unbound). Sourced after lib.sh.

# ---------------------------------------------------------------------------------------------
# A lab CA and one server certificate for every mail name. Made fresh at each `lab up`.
make_pki() {
    local d=$STATE/pki
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
        -subj "/O=mailpulse lab/CN=mailpulse lab CA" \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/O=mailpulse lab/CN=imap.mail.test" \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    cat >"$d/server.ext" <<'EOF'
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:imap.mail.test, DNS:pop.mail.test, DNS:tls12.mail.test, DNS:slow.mail.test, DNS:dead.mail.test, DNS:broken.mail.test, DNS:mail.test
EOF
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 30 -sha256 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
    chmod 644 "$d/ca.crt" "$d/server.crt"
}

# OpenSSL settings for the lab's clients. Debian's default security level (2) refuses TLS 1.0
# handshakes outright (SHA-1 signatures); an old iPad does not care, so the lab's clients use this
# file through OPENSSL_CONF. Without it `curl --tls-max 1.0` fails locally before sending a
# ClientHello, which is not the fault we want to show.
write_openssl_conf() {
    cat >"$STATE/openssl-legacy.cnf" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1
CipherString = DEFAULT:@SECLEVEL=0
EOF
}

# ---------------------------------------------------------------------------------------------
# Mailboxes: alice and bob, a few small messages in INBOX and one large message in "Big" so a
# fetch lasts long enough to be cut in the middle.
make_maildirs() {
    local u i dir
    printf '%s:{PLAIN}%s::::::\n%s:{PLAIN}%s::::::\n' \
        "$USER_A" "$PASS_A" "$USER_B" "$PASS_B" >"$STATE/users"
    chmod 644 "$STATE/users"
    for u in "$USER_A" "$USER_B"; do
        dir=$STATE/mail/$u/Maildir
        mkdir -p "$dir"/{cur,new,tmp} "$dir/.Big"/{cur,new,tmp}
        for i in 1 2 3; do
            {
                printf 'From: Lab Sender <sender@mail.test>\r\nTo: %s@mail.test\r\n' "$u"
                printf 'Subject: lab message %s\r\nDate: Sun, 22 Nov 2026 06:00:0%s +0000\r\n' "$i" "$i"
                printf 'Message-ID: <lab-%s-%s@mail.test>\r\n\r\n' "$u" "$i"
                printf 'Hello %s, this is message %s of the mailpulse lab.\r\n' "$u" "$i"
                for _ in $(seq 1 40); do printf 'The quick brown fox jumps over the lazy dog.\r\n'; done
            } >"$dir/cur/100000000$i.M$i.lab:2,"
        done
        {
            printf 'From: Lab Sender <sender@mail.test>\r\nTo: %s@mail.test\r\n' "$u"
            printf 'Subject: large attachment\r\nMessage-ID: <lab-%s-big@mail.test>\r\n\r\n' "$u"
            # 2 MB of base64: long enough that a throttled fetch is still running after seconds.
            head -c 1500000 /dev/urandom | base64 -w 76 | sed 's/$/\r/'
        } >"$dir/.Big/cur/1000000001.Mbig.lab:2,"
    done
    chown -R nobody:nogroup "$STATE/mail"
}

# Deliver one more message to alice's INBOX from the server side (used to wake an IDLE session).
deliver_new_message() {
    local f=$STATE/mail/$USER_A/Maildir/new/$(date +%s).Mnew$RANDOM.lab
    printf 'From: sender@mail.test\r\nSubject: new mail while idle\r\n\r\nhello\r\n' >"$f"
    chown nobody:nogroup "$f"
}

# The "slow" server's password check: dovecot's checkpassword protocol (fd 3 carries
# "user\0password\0"), with a real 8 s sleep before the answer, like an overloaded directory.
write_slow_checkpassword() {
    cat >"$STATE/slow-checkpassword" <<EOF
#!/bin/bash
sleep 8
IFS= read -r -d '' user <&3 || exit 111
IFS= read -r -d '' pass <&3 || exit 111
if { [[ \$user == "$USER_A" && \$pass == "$PASS_A" ]] || [[ \$user == "$USER_B" && \$pass == "$PASS_B" ]]; }; then
    exec "\$@"
fi
exit 1
EOF
    chmod 755 "$STATE/slow-checkpassword"
}

# write_dovecot_conf NAME LISTEN MIN_PROTOCOL CIPHERS PASSDB_BLOCK [IMAPS_PORT POP3S_PORT]
# (a TLS port of 0 means no implicit-TLS listener)
write_dovecot_conf() {
    local name=$1 listen=$2 minproto=$3 ciphers=$4 passdb=$5 d=$STATE/dovecot-$1
    local imaps=${6:-993} pop3s=${7:-995}
    mkdir -p "$d/run" "$d/state"
    chmod 755 "$d" "$d/run"
    cat >"$d/dovecot.conf" <<EOF
# dovecot instance "$name" of the mailpulse lab (generated; see tests/lab/servers.sh)
instance_name = $MPL_PREFIX-$name
base_dir = $d/run
state_dir = $d/state
log_path = $STATE/dovecot-$name.log
info_log_path = $STATE/dovecot-$name.log
protocols = imap pop3
listen = $listen
ssl = yes
ssl_cert = <$STATE/pki/server.crt
ssl_key = <$STATE/pki/server.key
ssl_min_protocol = $minproto
ssl_cipher_list = $ciphers
# Plain LOGIN on 143/110 is allowed, so a rejected password is visible on the wire.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
verbose_ssl = yes
# No anvil "auth penalty": without this, every failed login from the router's address delays
# the next logins from it by up to 15 s, and the scenarios would disturb each other.
login_trusted_networks = 203.0.113.0/24 2001:db8:1::/64 fd77::/64 127.0.0.0/8
mail_location = maildir:~/Maildir
first_valid_uid = 1
# Ask IDLE clients "still here?" often, so a dropped firewall state shows within seconds.
imap_idle_notify_interval = 10 secs
pop3_uidl_format = %08Xu%08Xv
login_greeting = mail.test ready ($name)
$passdb
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$STATE/mail/%u
}
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = $imaps
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = $pop3s
    ssl = yes
  }
}
EOF
}

start_dovecot() {
    bg_start "dovecot-$1" "$NS_NET" "$STATE/dovecot-$1.stdout" \
        env OPENSSL_CONF="$STATE/openssl-legacy.cnf" dovecot -F -c "$STATE/dovecot-$1/dovecot.conf"
}

# Dovecot remembers failed logins per client address (anvil's "auth penalty") and delays later
# logins from it by up to 15 s. Every client here shares the router's NAT address, so after a
# wrong-password scenario the main server is restarted to forget it. (Real, and worth knowing:
# after a few wrong passwords even the right one is answered slowly.)
restart_main_dovecot() {
    bg_stop dovecot-main
    start_dovecot main
    wait_for "dovecot main on $IMAP4:993" 15 listening "$NS_NET" t "$IMAP4" 993
    wait_for "dovecot main on $POP4:110" 15 listening "$NS_NET" t "$POP4" 110
}

start_dovecots() {
    local pw="passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $STATE/users
}"
    local slowpw="passdb {
  driver = checkpassword
  args = $STATE/slow-checkpassword
}"
    write_slow_checkpassword
    # main: imap.mail.test + pop.mail.test, accepts TLS 1.0 (old iPads) up to 1.3.
    write_dovecot_conf main "$IMAP4, $POP4, $IMAP6, $POP6" TLSv1 'ALL:@SECLEVEL=0' "$pw"
    # tls12: tls12.mail.test, TLS 1.2 and newer only. Ports 143/110 (STARTTLS) are dovecot's
    # own; 993/995 are stunnel in front of it (see start_stunnel for why), which forwards to
    # this instance on 127.0.0.1.
    write_dovecot_conf tls12 "$TLS12_4, $TLS12_6, 127.0.0.1" TLSv1.2 'DEFAULT' "$pw" 0 0
    # slow: slow.mail.test, every login takes 8 s (see write_slow_checkpassword).
    write_dovecot_conf slow "$SLOW4, $SLOW6" TLSv1 'ALL:@SECLEVEL=0' "$slowpw"
    local n
    for n in main tls12 slow; do start_dovecot "$n"; done
    wait_for "dovecot main on $IMAP4:993" 15 listening "$NS_NET" t "$IMAP4" 993
    wait_for "dovecot main on $POP4:110" 15 listening "$NS_NET" t "$POP4" 110
    wait_for "dovecot tls12 on $TLS12_4:143" 15 listening "$NS_NET" t "$TLS12_4" 143
    start_stunnel
    wait_for "dovecot slow on $SLOW4:993" 15 listening "$NS_NET" t "$SLOW4" 993
}

# TLS 1.2-only implicit TLS for tls12.mail.test:993/995. Dovecot 2.3 refuses a TLS 1.0
# ClientHello but closes the connection without sending the protocol_version alert that OpenSSL
# prepared (its TLS layer works on memory buffers and drops the pending alert; seen in this lab:
# the server just sends FIN). stunnel, like most TLS front ends (and most large providers'
# edges), writes the alert. So the refusal on 993/995 comes from stunnel, the mail from dovecot.
start_stunnel() {
    local c=$STATE/stunnel-tls12.conf
    cat >"$c" <<EOF
foreground = yes
pid =
output = $STATE/stunnel-tls12.log
debug = info
syslog = no
cert = $STATE/pki/server.crt
key = $STATE/pki/server.key
sslVersionMin = TLSv1.2
[imaps4]
accept = $TLS12_4:993
connect = 127.0.0.1:143
[imaps6]
accept = $TLS12_6:993
connect = 127.0.0.1:143
[pop3s4]
accept = $TLS12_4:995
connect = 127.0.0.1:110
[pop3s6]
accept = $TLS12_6:995
connect = 127.0.0.1:110
EOF
    bg_start stunnel-tls12 "$NS_NET" "$STATE/stunnel-tls12.stdout" stunnel "$c"
    wait_for "stunnel on $TLS12_4:993" 15 listening "$NS_NET" t "$TLS12_4" 993
}

# ---------------------------------------------------------------------------------------------
# DNS. The internet's server is unbound with local-data only (authoritative for mail.test; it
# never recurses anywhere). broken.mail.test is REFUSED there, so the router's forwarding
# resolver answers its clients SERVFAIL at once.
start_internet_dns() {
    local c=$STATE/unbound-net.conf name a4 a6
    {
        cat <<EOF
server:
    interface: $DNS4
    interface: $DNS6
    port: 53
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$STATE"
    pidfile: "$STATE/unbound-net.pid"
    logfile: "$STATE/unbound-net.log"
    use-syslog: no
    log-time-ascii: yes
    verbosity: 1
    log-queries: yes
    access-control: 0.0.0.0/0 allow
    access-control: ::/0 allow
    module-config: "iterator"
    # Answer only from local data: never recurse, never send a packet anywhere.
    local-zone: "." static
    local-zone: "mail.test." static
    local-data: "mail.test. 60 IN SOA ns.mail.test. hostmaster.mail.test. 1 3600 600 86400 60"
    local-data: "mail.test. 60 IN NS ns.mail.test."
    local-data: "ns.mail.test. 60 IN A $DNS4"
    local-data: "ns.mail.test. 60 IN AAAA $DNS6"
    local-zone: "broken.mail.test." refuse
EOF
        local rec
        for rec in "imap $IMAP4 $IMAP6" "pop $POP4 $POP6" "tls12 $TLS12_4 $TLS12_6" \
                   "slow $SLOW4 $SLOW6" "dead $DEAD4 $DEAD6"; do
            read -r name a4 a6 <<<"$rec"
            echo "    local-data: \"$name.mail.test. 60 IN A $a4\""
            echo "    local-data: \"$name.mail.test. 60 IN AAAA $a6\""
        done
    } >"$c"
    unbound-checkconf "$c" >/dev/null
    bg_start unbound-net "$NS_NET" "$STATE/unbound-net.stdout" unbound -d -c "$c"
    wait_for "internet DNS on $DNS4:53" 15 listening "$NS_NET" u "$DNS4" 53
}

# The router's resolver for the LAN (OPNsense runs unbound too): forwards everything to the
# internet DNS. DNSSEC validation is off (module-config iterator): mail.test is not signed.
start_router_dns() {
    local c=$STATE/unbound-rtr.conf
    cat >"$c" <<EOF
server:
    interface: $LAN4_RTR
    interface: $LAN6_RTR
    interface: 127.0.0.1
    port: 53
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$STATE"
    pidfile: "$STATE/unbound-rtr.pid"
    logfile: "$STATE/unbound-rtr.log"
    use-syslog: no
    log-time-ascii: yes
    verbosity: 1
    log-queries: yes
    log-servfail: yes
    access-control: 127.0.0.0/8 allow
    access-control: 192.168.77.0/24 allow
    access-control: fd77::/64 allow
    module-config: "iterator"
    domain-insecure: "mail.test"
    # unbound answers the special-use name "test." itself (NXDOMAIN) unless told not to.
    local-zone: "test." nodefault
    do-not-query-localhost: no
    # Give up on a dead upstream within seconds rather than minutes.
    infra-host-ttl: 30
remote-control:
    control-enable: yes
    control-interface: "$STATE/unbound-rtr.ctl"
forward-zone:
    name: "."
    forward-addr: $DNS4
EOF
    unbound-checkconf "$c" >/dev/null
    bg_start unbound-rtr "$NS_RTR" "$STATE/unbound-rtr.stdout" unbound -d -c "$c"
    wait_for "router DNS on $LAN4_RTR:53" 15 listening "$NS_RTR" u "$LAN4_RTR" 53
}

rtr_unbound_control() { in_ns "$NS_RTR" unbound-control -c "$STATE/unbound-rtr.conf" "$@"; }

# Forget everything the router's resolver has cached (each scenario starts from a cold cache).
flush_router_dns() {
    rtr_unbound_control flush_zone mail.test >/dev/null
    rtr_unbound_control flush_infra all >/dev/null
    rtr_unbound_control flush_bogus >/dev/null || true
    rtr_unbound_control flush_negative >/dev/null || true
}
