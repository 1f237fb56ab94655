# shellcheck shell=bash
# Courier IMAP and POP3 (courier-imap, courier-pop, courier-authdaemon with a userdb), the way
# Debian's init scripts start them: couriertcpd in front of imaplogin/courierpop3login, and
# couriertls for 993/995. Courier's paths are compiled in (/etc/courier, the authdaemon socket
# in /run/courier/authdaemon), so servers/courier-run gives it a mount namespace of its own in
# which the profile's directories are bind-mounted there: nothing on the host is touched.

PROFILE_ADDR[courier]=$SRV4.21
PROFILE_PORTS[courier]="imap:143 imaps:993 pop3:110 pop3s:995"
PROFILE_KIND[courier]=courier

up_courier() {
    local name=$1 d addr f
    d=$(profile_dir "$name"); addr=${PROFILE_ADDR[$name]}
    need_tools couriertcpd:courier-base couriertls:courier-base makeuserdb:courier-authlib-userdb \
        /usr/lib/courier/courier-authlib/authdaemond:courier-authdaemon \
        /usr/lib/courier-authlib/libauthuserdb.so:courier-authlib-userdb openssl:openssl
    need_unpacked usr/lib/courier/courier/imaplogin usr/lib/courier/courier/courierpop3login
    mkdir -p "$d/etc" "$d/authdaemon" "$d/mail/$MX_USER"
    chmod 755 "$d/mail"
    write_maildir "$d/mail/$MX_USER/Maildir" nobody:nogroup
    chown nobody:nogroup "$d/mail/$MX_USER"
    # The packaged settings, with this profile's address, certificate and files.
    for f in imapd imapd-ssl pop3d pop3d-ssl; do cp "$MX_ROOT/etc/courier/$f" "$d/etc/$f"; done
    cat >>"$d/etc/imapd" <<EOF

# matrix profile $name
ADDRESS=$addr
IMAP_STARTTLS=YES
IMAP_SHAREDINDEXFILE=$d/etc/shared/index
EOF
    cat >>"$d/etc/pop3d" <<EOF

# matrix profile $name
ADDRESS=$addr
EOF
    for f in imapd-ssl pop3d-ssl; do
        cat >>"$d/etc/$f" <<EOF

# matrix profile $name
SSLADDRESS=$addr
TLS_CERTFILE=$d/tls.pem
TLS_DHPARAMS=$d/dhparams.pem
TLS_CACHEFILE=
EOF
    done
    cat >"$d/etc/authdaemonrc" <<EOF
authmodulelist="authuserdb"
daemons=3
authdaemonvar=/run/courier/authdaemon
DEBUG_LOGIN=0
DEFAULTOPTIONS=""
LOGGEROPTS=""
EOF
    printf '%s\tuid=65534|gid=65534|home=%s|mail=%s|systempw=%s\n' "$MX_USER" \
        "$d/mail/$MX_USER" "$d/mail/$MX_USER/Maildir" "$(openssl passwd -6 "$MX_PASS")" >"$d/etc/userdb"
    chmod 600 "$d/etc/userdb"
    # imaplogin runs STARTTLS's couriertls after dropping root: the key must be courier's too.
    chgrp courier "$d/tls.pem"
    openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out "$d/dhparams.pem" 2>/dev/null
    profile_bg "$name" courier "$MATRIX_DIR/servers/courier-run" "$d" "$MX_ROOT"
    wait_listening "$name" 143 993 110 995
}

# Courier's login processes write to stderr (Debian's init scripts pass it to syslog through
# courierlogger); courier-run gives each listener its own file and stamps each line with the
# epoch second it arrived:
#   1733340000 INFO: LOGIN FAILED, user=alice, ip=[::ffff:203.0.113.2]
#   1733340000 INFO: LOGIN, user=alice, ip=[::ffff:203.0.113.2], port=[40000], protocol=IMAP
truth_courier() {
    local d f proto
    d=$(profile_dir "$1")
    for f in imap imaps pop3 pop3s; do
        [[ -f $d/$f.log ]] || continue
        proto=${f%s}
        awk -v proto="$proto" '
            function ip() { if (match($0, /ip=\[[^]]*\]/)) { s = substr($0, RSTART + 4, RLENGTH - 5); sub(/^::ffff:/, "", s); return s } return "?" }
            / INFO: LOGIN FAILED, / { print $1, proto, "failed", ip(); next }
            / INFO: LOGIN, / { print $1, proto, "ok", ip() }' "$d/$f.log"
    done
}
