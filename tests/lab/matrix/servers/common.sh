# shellcheck shell=bash
# Shared parts of the matrix's server profiles: registry, addresses, certificates, mailbox
# content, DNS records. Sourced by tests/lab/matrix/server after tests/lab/lib.sh.

# The one account every profile has.
MX_USER=alice
MX_PASS=alice-secret-1

# Profile registry, filled by servers/profile-*.sh:
#   PROFILE_ADDR[name]   IPv4 address on the internet namespace's loopback (198.51.100.20-.39)
#   PROFILE_PORTS[name]  "proto:port ..." as printed by `server ports`
#   PROFILE_KIND[name]   which up_KIND / down_KIND / truth_KIND functions serve it
declare -A PROFILE_ADDR=() PROFILE_PORTS=() PROFILE_KIND=()

MX_STATE=$STATE/matrix
# Debian packages that cannot be installed next to the lab's dovecot (they declare
# Conflicts: imap-server / pop3-server) are unpacked here by servers/install-debs.
MX_ROOT=${MPL_MATRIX_ROOT:-/opt/mailpulse-lab/root}

profile_known() {
    [[ -n ${PROFILE_ADDR[$1]:-} ]] || die "unknown profile '$1' (known: $(printf '%s ' "${!PROFILE_ADDR[@]}"))"
}

profile_dir() { echo "$MX_STATE/$1"; }

# need_tools PROGRAM:PACKAGE...: a missing prerequisite fails with the package to install.
need_tools() {
    local pair bin missing=()
    for pair in "$@"; do
        bin=${pair%%:*}
        [[ $bin == /* && -e $bin ]] || command -v "$bin" >/dev/null 2>&1 || missing+=("$bin (package ${pair#*:})")
    done
    ((${#missing[@]} == 0)) || die "MISSING prerequisite: ${missing[*]} (see tests/lab/matrix/servers/packages.txt)"
}

# need_unpacked PATH...: files from servers/install-debs (run it once if they are missing).
need_unpacked() {
    local p
    for p in "$@"; do
        [[ -e $MX_ROOT/$p ]] && continue
        MPL_MATRIX_ROOT=$MX_ROOT "$MATRIX_DIR/servers/install-debs" >&2
        [[ -e $MX_ROOT/$p ]] || die "missing $MX_ROOT/$p (servers/install-debs did not provide it)"
    done
}

lab_is_up() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NS_NET" && [[ -s $STATE/pki/ca.key ]]
}

profile_up() {
    local name=$1 d
    profile_known "$name"
    lab_is_up || die "the lab is not up (tests/lab/lab up)"
    profile_down "$name" 2>/dev/null
    d=$(profile_dir "$name")
    rm -rf "$d"
    mkdir -p "$d"
    chmod 755 "$MX_STATE" "$d"
    in_ns "$NS_NET" ip addr replace "${PROFILE_ADDR[$name]}/32" dev lo
    make_profile_cert "$name"
    "up_${PROFILE_KIND[$name]}" "$name"
    dns_publish "$name"
}

profile_down() {
    local name=$1 f
    profile_known "$name"
    if declare -F "down_${PROFILE_KIND[$name]}" >/dev/null; then "down_${PROFILE_KIND[$name]}" "$name"; fi
    if [[ -d $PIDDIR ]]; then
        for f in "$PIDDIR/matrix-$name"--*.pid; do
            [[ -e $f ]] && profile_stop_part "$(basename "$f" .pid)"
        done
    fi
    if lab_is_up; then
        dns_withdraw "$name"
        in_ns "$NS_NET" ip addr del "${PROFILE_ADDR[$name]}/32" dev lo 2>/dev/null || true
    fi
    return 0
}

# bg_start under the profile's name, so that `server down` and the lab's teardown stop it.
# Daemons leave the process group bg_stop signals (postfix's master, couriertcpd start sessions
# of their own), but not the mount namespace that `ip netns exec` made for the command: its id,
# noted beside the pid file, finds every process of the part when it is stopped.
profile_bg() { # profile_bg NAME PART CMD...
    local name=$1 part=$2 pid mine i ns=""; shift 2
    bg_start "matrix-$name--$part" "$NS_NET" "$(profile_dir "$name")/$part.stdout" "$@"
    pid=$(cat "$PIDDIR/matrix-$name--$part.pid")
    mine=$(readlink /proc/self/ns/mnt)
    for ((i = 0; i < 50; i++)); do
        ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || break
        [[ $ns != "$mine" ]] && break
        sleep 0.05
    done
    [[ -n $ns && $ns != "$mine" ]] || die "$name: $part did not start in a mount namespace of its own"
    echo "$ns" >"$PIDDIR/matrix-$name--$part.mntns"
}

# Every process in mount namespace $1 that is also in the lab's internet namespace (network
# namespace id $2). Namespace ids are inode numbers that the kernel hands out again once a
# namespace is gone: both must match, and profile_stop_part pins the namespace while it kills.
mntns_pids() {
    local p
    for p in /proc/[0-9]*; do
        [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$1" && $(readlink "$p/ns/net" 2>/dev/null) == "$2" ]] \
            && echo "${p#/proc/}"
    done
    return 0
}

profile_stop_part() { # profile_stop_part PIDNAME
    local ns="" f=$PIDDIR/$1.mntns pids i netns="" pin first
    [[ -f $f ]] && ns=$(cat "$f")
    netns=$(in_ns "$NS_NET" readlink /proc/self/ns/net 2>/dev/null) || netns=""
    bg_stop "$1"
    if [[ -n $ns && -n $netns ]]; then
        pids=$(mntns_pids "$ns" "$netns")
        first=${pids%%$'\n'*}
        # Hold the namespace open while its processes are stopped, so its id cannot pass to a
        # new namespace (and a new process) half-way.
        if [[ -n $first ]] && exec {pin}<"/proc/$first/ns/mnt" 2>/dev/null; then
            if [[ $(readlink "/proc/self/fd/$pin") == "$ns" ]]; then
                for ((i = 0; i < 30; i++)); do
                    pids=$(mntns_pids "$ns" "$netns")
                    [[ -z $pids ]] && break
                    # shellcheck disable=SC2086
                    kill -TERM $pids 2>/dev/null || true
                    sleep 0.1
                done
                pids=$(mntns_pids "$ns" "$netns")
                # shellcheck disable=SC2086
                [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
            fi
            exec {pin}<&-
        fi
    fi
    rm -f "$f"
}

wait_listening() { # wait_listening NAME PORT...
    local name=$1 port; shift
    for port in "$@"; do
        wait_for "$name on ${PROFILE_ADDR[$name]}:$port" 20 listening "$NS_NET" t "${PROFILE_ADDR[$name]}" "$port"
    done
}

# A key and a certificate for NAME.mail.test from the lab's CA (tests/lab/servers.sh make_pki):
# tls.key, tls.crt, and tls.pem (key + certificate, for servers that want one file).
make_profile_cert() {
    local name=$1 d pki=$STATE/pki
    d=$(profile_dir "$1")
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/O=mailpulse lab/CN=$name.mail.test" \
        -keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null
    printf '%s\n' 'basicConstraints = CA:FALSE' 'keyUsage = digitalSignature, keyEncipherment' \
        'extendedKeyUsage = serverAuth' "subjectAltName = DNS:$name.mail.test" >"$d/tls.ext"
    openssl x509 -req -in "$d/tls.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -CAserial "$d/ca.srl" -days 30 -sha256 -extfile "$d/tls.ext" -out "$d/tls.crt" 2>/dev/null
    cat "$d/tls.key" "$d/tls.crt" >"$d/tls.pem"
    chmod 644 "$d/tls.crt"
    chmod 640 "$d/tls.key" "$d/tls.pem"
}

# Mailbox content: three small messages and one of ~300 KB (long enough to be cut mid-fetch on
# the lab's throttled WAN), as RFC 5322 files with CRLF line ends, named 1 2 3 4.
write_messages() { # write_messages DIR
    local dir=$1 i
    mkdir -p "$dir"
    for i in 1 2 3; do
        {
            printf 'From: Lab Sender <sender@mail.test>\r\nTo: %s@mail.test\r\n' "$MX_USER"
            printf 'Subject: matrix message %s\r\nDate: Sun, 22 Nov 2026 06:00:0%s +0000\r\n' "$i" "$i"
            printf 'Message-ID: <matrix-%s@mail.test>\r\n\r\n' "$i"
            printf 'Hello %s, this is message %s.\r\n' "$MX_USER" "$i"
            for _ in $(seq 1 20); do printf 'The quick brown fox jumps over the lazy dog.\r\n'; done
        } >"$dir/$i"
    done
    {
        printf 'From: Lab Sender <sender@mail.test>\r\nTo: %s@mail.test\r\n' "$MX_USER"
        printf 'Subject: large attachment\r\nDate: Sun, 22 Nov 2026 06:00:04 +0000\r\n'
        printf 'Message-ID: <matrix-big@mail.test>\r\n\r\n'
        head -c 225000 /dev/urandom | base64 -w 76 | sed 's/$/\r/'
    } >"$dir/4"
}

# A Maildir with the four messages in INBOX (cur/, already seen by no one).
write_maildir() { # write_maildir MAILDIR OWNER:GROUP
    local md=$1 tmp i
    tmp=$(mktemp -d "$MX_STATE/msgs.XXXXXX")
    write_messages "$tmp"
    mkdir -p "$md"/{cur,new,tmp}
    for i in 1 2 3 4; do mv "$tmp/$i" "$md/cur/100000000$i.M$i.matrix:2,"; done
    rmdir "$tmp"
    chown -R "$2" "$md"
}

# ---------------------------------------------------------------------------------------------
# DNS: NAME.mail.test lives in the internet's authoritative unbound (tests/lab/servers.sh
# start_internet_dns), so DNS faults hit these names as they hit the lab's own. That unbound
# has no remote control; its configuration (in the lab's state dir) gets one include line for
# $MX_STATE/dns.conf, and a SIGHUP makes it re-read both.

dns_records_write() { # rebuild dns.conf from the profiles that are up
    local f=$MX_STATE/dns.conf name
    mkdir -p "$MX_STATE"
    : >"$f.new"
    for name in "${!PROFILE_ADDR[@]}"; do
        [[ -e $MX_STATE/$name/dns-published ]] || continue
        echo "    local-data: \"$name.mail.test. 60 IN A ${PROFILE_ADDR[$name]}\"" >>"$f.new"
    done
    mv "$f.new" "$f"
}

dns_reload() {
    local conf=$STATE/unbound-net.conf pid
    grep -qxF "include: \"$MX_STATE/dns.conf\"" "$conf" \
        || printf 'include: "%s"\n' "$MX_STATE/dns.conf" >>"$conf"
    unbound-checkconf "$conf" >/dev/null || die "unbound-checkconf failed on $conf"
    pid=$(cat "$STATE/unbound-net.pid")
    kill -HUP "$pid"
}

# Rewrite and reload, one writer at a time (profiles of one lab may be started in parallel).
dns_update() {
    local lk
    exec {lk}>"$MX_STATE/dns.lock"
    flock "$lk"
    dns_records_write
    dns_reload
    exec {lk}>&-
}

dns_answer() { # dns_answer NAME   what the internet's server says now
    in_ns "$NS_NET" dig +short +time=1 +tries=1 @"$DNS4" "$1.mail.test" A 2>/dev/null || true
}

rtr_forget() { # the router's resolver must not keep an old answer (or a negative one)
    in_ns "$NS_RTR" unbound-control -c "$STATE/unbound-rtr.conf" flush "$1.mail.test" >/dev/null 2>&1 || true
    in_ns "$NS_RTR" unbound-control -c "$STATE/unbound-rtr.conf" flush_negative >/dev/null 2>&1 || true
}

dns_publish() {
    local name=$1 i
    touch "$MX_STATE/$name/dns-published"
    dns_update
    for ((i = 0; i < 100; i++)); do
        [[ $(dns_answer "$name") == "${PROFILE_ADDR[$name]}" ]] && break
        sleep 0.1
    done
    [[ $(dns_answer "$name") == "${PROFILE_ADDR[$name]}" ]] || die "$name.mail.test does not resolve after the DNS reload"
    rtr_forget "$name"
}

dns_withdraw() {
    local name=$1
    [[ -e $MX_STATE/$name/dns-published ]] || return 0
    rm -f "$MX_STATE/$name/dns-published"
    dns_update
    rtr_forget "$name"
}
