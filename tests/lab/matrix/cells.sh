# shellcheck shell=bash
# The matrix's cells: which client talks to which server in which scenario, and how one cell runs.
# Sourced by run-matrix after the lab's libraries.

# Client variants: ID CLIENT-SCRIPT PROTOCOL TLS-MODE (a client's usual way of talking).
CLIENT_VARIANTS=(
    "curl-imaps curl imap implicit"
    "curl-pop3s curl pop3 implicit"
    "fetchmail-pop3s fetchmail pop3 implicit"
    "fetchmail-imap-starttls fetchmail imap starttls"
    "python-imaplib python-imaplib imap implicit"
    "python-poplib python-poplib pop3 implicit"
    "python-smtplib python-smtplib smtp starttls"
    "mbsync mbsync imap implicit"
    "offlineimap offlineimap imap starttls"
    "getmail-pop3s getmail pop3 implicit"
    "s-nail-imaps s-nail imap implicit"
    "ios-mail ios-mail imap implicit"
    "outlook-imap outlook imap starttls"
    "outlook-pop3 outlook pop3 starttls"
)

# Scenarios, in the order they run. The WAN outages come late: the daemon's failed probes during
# them count against the cells that follow within its window, so after the last one the runner
# waits a window's length before the slow wrong-again cells (a minute each), which come last.
MATRIX_SCENARIOS=(good wrong-once wrong-retry polite-retry wrong-then-right good-then-wrong tls-refused server-slow wan-down wrong-again)
# Servers without a per-address penalty for refused logins: no restart after a refusal.
read -r -a NO_RESTART <<<"${MATRIX_NO_RESTART:-courier cyrus postfix}"

# What the runner knows of a server beyond the contract: whether its logins are slow by
# construction (the lab's slow dovecot), and the lowest TLS version it accepts, measured once at
# start with openssl s_client from the internet namespace (the server's own answer, not mailpulse's).
read -r -a SLOW_SERVERS <<<"${MATRIX_SLOW_SERVERS:-slow}"
in_list() { local x=$1 y; shift; for y in "$@"; do [[ $x == "$y" ]] && return 0; done; return 1; }
declare -A TLS_MIN_OF=()
measure_tls_min() { # measure_tls_min NAME   -> TLS_MIN_OF[NAME] = 1.0 | 1.1 | 1.2 (1.2: refuses older)
    local addr port v flag
    addr=$(server_addr "$1")
    TLS_MIN_OF[$1]=1.2
    for port in 993 995 465; do
        grep -qxE -- "($addr|0\.0\.0\.0|\*|\[::\]):$port" <<<"$(in_ns "$NS_NET" ss -ltnH | awk '{print $4}')" || continue
        for v in 1.0:-tls1 1.1:-tls1_1; do
            flag=${v#*:}
            if in_ns "$NS_NET" env OPENSSL_CONF="$STATE/openssl-legacy.cnf" timeout 10 openssl s_client \
                "$flag" -cipher 'DEFAULT:@SECLEVEL=0' -connect "$addr:$port" -servername "$1.mail.test" \
                </dev/null >/dev/null 2>&1; then
                TLS_MIN_OF[$1]=${v%%:*}; break
            fi
        done
        return 0
    done
}
server_tls_min() { echo "${TLS_MIN_OF[$1]:-1.0}"; }

port_for() { # port_for PROTO TLS-MODE
    case $1/$2 in
    imap/implicit) echo 993 ;; imap/*) echo 143 ;;
    pop3/implicit) echo 995 ;; pop3/*) echo 110 ;;
    smtp/implicit) echo 465 ;; smtp/*) echo 587 ;;
    esac
}

declare -A CAPS_OF=()
client_caps() {
    [[ -n ${CAPS_OF[$1]:-} ]] || CAPS_OF[$1]=$("$MATRIX_DIR/clients/$1" --caps)
    echo "${CAPS_OF[$1]}"
}
cap_of() { # cap_of CAPS KEY
    tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'
}

# ---------------------------------------------------------------------------------------------
# Servers behind the contract

declare -A SERVER_OF=()
SERVER_NAMES=()
matrix_servers_init() {
    local ext=$MATRIX_DIR/server n
    if [[ -x $ext ]]; then
        for n in $("$ext" list); do SERVER_OF[$n]=$ext; done
    fi
    for n in $("$MATRIX_DIR/server-lab.sh" list); do
        [[ -n ${SERVER_OF[$n]:-} ]] || SERVER_OF[$n]=$MATRIX_DIR/server-lab.sh
    done
    local all=() up=()
    mapfile -t all < <(printf '%s\n' "${!SERVER_OF[@]}" | sort)
    : >"$OUT/server-failures.txt"
    for n in "${all[@]}"; do
        [[ -z $ONLY_SERVERS || ,$ONLY_SERVERS, == *,$n,* ]] || continue
        say "server $n (${SERVER_OF[$n]##*/}) up"
        # A server that does not come up is a failed result of the run, not a reason to stop it.
        if server "$n" up >"$OUT/server-$n.log" 2>&1; then
            up+=("$n")
        else
            say "server $n did not come up: $(tail -2 "$OUT/server-$n.log" | tr '\n' ' ')"
            echo "$n: $(tail -2 "$OUT/server-$n.log" | tr '\n' ' ')" >>"$OUT/server-failures.txt"
        fi
    done
    SERVER_NAMES=("${up[@]}")
    for n in "${SERVER_NAMES[@]}"; do
        measure_tls_min "$n"
        say "server $n accepts TLS $(server_tls_min "$n") and newer"
    done
}
server() { local name=$1 action=$2; shift 2; "${SERVER_OF[$name]}" "$action" "$name" "$@"; }
declare -A ADDR_OF=()
server_addr() {
    [[ -n ${ADDR_OF[$1]:-} ]] || ADDR_OF[$1]=$(server "$1" addr)
    echo "${ADDR_OF[$1]}"
}
# The ports the internet namespace listens on, read once per list of cells.
LISTENING=""
server_listens() { # server_listens ADDR PORT
    grep -qxE -- "($1|0\.0\.0\.0|\*|\[::\]):$2" <<<"$LISTENING"
}


# ---------------------------------------------------------------------------------------------
# The live daemon: live.sh's configuration with the engine's default window (60 s: the matrix's
# cells use an address each, so one cell's sessions never count against another's) and a probe
# target for every server.

eval "$(declare -f live_write_config | sed '1s/^live_write_config/lab_live_write_config/')"
live_write_config() {
    lab_live_write_config
    local targets="" n
    # Each server is probed on a port it serves (a probe of a port nobody listens on fails
    # for ever, and failed probes rightly veto a refused-login conclusion).
    LISTENING=$(in_ns "$NS_NET" ss -ltnH | awk '{print $4}')
    for n in "${SERVER_NAMES[@]}"; do targets+="\"$(probe_scheme "$n")://$n.mail.test\", "; done
    sed -i -e "s|^window = .*|window = \"${MATRIX_WINDOW:-60s}\"|" \
        -e '/^targets = /,/]$/d' "$LIVE_CONF"
    sed -i "/^\[probe\]/a targets = [${targets%, }]" "$LIVE_CONF"
}
matrix_live_start() { live_start "$1"; }
probe_scheme() { # probe_scheme SERVER: the first of imaps, pop3s, smtps, submission it serves
    local addr port scheme
    addr=$(server_addr "$1")
    for port in 993:imaps 995:pop3s 465:smtps 587:submission; do
        scheme=${port#*:}; port=${port%%:*}
        server_listens "$addr" "$port" && { echo "$scheme"; return; }
    done
    echo imaps
}

# ---------------------------------------------------------------------------------------------
# The list of cells: "VARIANT SERVER SCENARIO", one a line.

matrix_all_cells() {
    local scen v id client proto tls caps port srv addr tmin cmax
    LISTENING=$(in_ns "$NS_NET" ss -ltnH | awk '{print $4}')
    for scen in "${MATRIX_SCENARIOS[@]}"; do
        [[ -z $ONLY_SCENARIOS || ,$ONLY_SCENARIOS, == *,$scen,* ]] || continue
        for v in "${CLIENT_VARIANTS[@]}"; do
            read -r id client proto tls <<<"$v"
            [[ -z $ONLY_CLIENTS || ,$ONLY_CLIENTS, == *,$id,* || ,$ONLY_CLIENTS, == *,$client,* ]] || continue
            caps=$(client_caps "$client")
            port=$(port_for "$proto" "$tls")
            cmax=$(cap_of "$caps" tlsmax); cmax=${cmax:-1.3}
            for srv in "${SERVER_NAMES[@]}"; do
                [[ -z $ONLY_SERVERS || ,$ONLY_SERVERS, == *,$srv,* ]] || continue
                addr=$(server_addr "$srv")
                server_listens "$addr" "$port" || continue
                tmin=$(server_tls_min "$srv")
                case $scen in
                server-slow) in_list "$srv" "${SLOW_SERVERS[@]}" || continue ;;
                tls-refused)
                    [[ $tmin != 1.0 && $tls != plain ]] || continue
                    [[ $(cap_of "$caps" tls10) == yes || $cmax < $tmin ]] || continue ;;
                *)
                    in_list "$srv" "${SLOW_SERVERS[@]}" && continue
                    # A client whose TLS stops below the server's minimum only ever meets a TLS
                    # refusal there: that is the tls-refused cell, not six copies of it.
                    [[ $cmax < $tmin && $tls != plain ]] && continue ;;
                esac
                echo "$id $srv $scen"
            done
        done
    done
}

matrix_cells() { # matrix_cells ci|full
    if [[ $1 == full ]]; then
        matrix_all_cells
    else
        matrix_all_cells | /usr/bin/python3 "$MATRIX_DIR/judge.py" subset
    fi
}

# ---------------------------------------------------------------------------------------------
# One cell

# run_client PASSWORD RETRY [TLS [TIMEOUT]]   run the cell's client once in the client namespace;
# appends its exit code to RCS. TIMEOUT: the user's patience (the client is stopped with TERM).
run_client() {
    local pass=$1 retry=$2 tls=${3:-$C_TLS} t=${4:-45} rc=0 n=${#RCS[@]}
    printf '=== %s: %s %s %s %s %s alice *** %s (limit %ss)\n' "$(date +%T.%N)" "$C_CLIENT" \
        "$C_HOST" "$C_PORT" "$C_PROTO" "$tls" "$retry" "$t" >>"$CELL_DIR/client.log"
    in_ns "$NS_CLI" env MATRIX_CA="$STATE/pki/ca.crt" MATRIX_WORK="$CELL_DIR/work$n" \
        OPENSSL_CONF="$STATE/openssl-legacy.cnf" timeout "$t" "$MATRIX_DIR/clients/$C_CLIENT" \
        "$C_HOST" "$C_PORT" "$C_PROTO" "$tls" "$USER_A" "$pass" "$retry" \
        >>"$CELL_DIR/client.log" 2>&1 || rc=$?
    # The user gave up: `timeout` stops the wrapper only, and a client it started (a Python
    # program, say) would keep its connection open.
    ((rc == 124)) && stop_client_processes
    RCS+=("$rc")
    echo "=== exit $rc" >>"$CELL_DIR/client.log"
}

# Every process in the client namespace: TERM, then KILL for those that linger (offlineimap
# takes TERM as "finish the sync first"), as a user closing the app does.
stop_client_processes() {
    local p i
    for p in $(ip netns pids "$NS_CLI" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 10; i++)); do
        [[ -z $(ip netns pids "$NS_CLI" 2>/dev/null) ]] && return 0
        sleep 0.1
    done
    for p in $(ip netns pids "$NS_CLI" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
}

cell_good() { run_client "$PASS_A" no; }
cell_wrong-once() { run_client "$WRONG_PASS" no; }
cell_wrong-retry() { run_client "$WRONG_PASS" yes; }
# The client says goodbye after the NO (LOGOUT / QUIT, where it does) and the user tries again a
# few seconds later.
cell_polite-retry() { run_client "$WRONG_PASS" no; sleep 4; run_client "$WRONG_PASS" no; }
# The user notices the typo and tries again with the right password a few seconds later: the
# second session must not be blamed on the password (servers that penalise an address hold
# back its next good login too).
cell_wrong-then-right() { run_client "$WRONG_PASS" no; sleep 4; run_client "$PASS_A" no; }
# The client fetched mail, then the password stopped working (changed on the server, an app
# password revoked): its next two polls, a few seconds apart, are refused. The daemon has seen
# this client's good session first, as it would have in the field.
cell_good-then-wrong() {
    run_client "$PASS_A" no; sleep 4
    C_WRONG_FROM=$(now_epoch)
    run_client "$WRONG_PASS" no; sleep 4; run_client "$WRONG_PASS" no
}
cell_wrong-again() { run_client "$WRONG_PASS" no; sleep "$GAP"; run_client "$WRONG_PASS" no; }
cell_tls-refused() { run_client "$PASS_A" no "${C_TLS%%+*}+tls1.0"; }
# The slow server answers the login after 8 s; the user gives up after 7.
cell_server-slow() { run_client "$PASS_A" no "$C_TLS" 7; C_FAULT="server-slow (login answer after 8 s, client stopped at 7 s)"; }

# The WAN link goes down while the client fetches: over a slow line (32 kbit/s), cut as soon as
# the server has logged the login; the client is given 6 s more, then stopped (the user gives up).
cell_wan-down() {
    local pid rc=0 deadline i
    in_ns "$NS_NET" tc qdisc replace dev isp0 root tbf rate 32kbit burst 4kb latency 2s
    in_ns "$NS_RTR" tc qdisc replace dev wan0 root tbf rate 32kbit burst 4kb latency 2s
    printf '=== %s: %s %s %s %s %s alice *** no (WAN cut after login)\n' "$(date +%T.%N)" \
        "$C_CLIENT" "$C_HOST" "$C_PORT" "$C_PROTO" "$C_TLS" >>"$CELL_DIR/client.log"
    in_ns "$NS_CLI" env MATRIX_CA="$STATE/pki/ca.crt" MATRIX_WORK="$CELL_DIR/work0" MATRIX_LARGE=1 \
        OPENSSL_CONF="$STATE/openssl-legacy.cnf" timeout 60 "$MATRIX_DIR/clients/$C_CLIENT" \
        "$C_HOST" "$C_PORT" "$C_PROTO" "$C_TLS" "$USER_A" "$PASS_A" no >>"$CELL_DIR/client.log" 2>&1 &
    pid=$!
    deadline=$(($(date +%s) + 20))
    C_NOTE="no login logged within 20 s; WAN cut anyway"
    while kill -0 "$pid" 2>/dev/null && (($(date +%s) < deadline)); do
        if [[ $(server "$C_SERVER" truth "${C_SINCE%.*}") == *" ok "* ]]; then C_NOTE="WAN cut after the server logged the login"; break; fi
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        fault wan-link-down on
        FAULT_AT=$(now_epoch); C_FAULT="wan-link-down at $FAULT_AT"
        for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        # The user gives up: every process of the client (the wrapper, the program it runs).
        # $pid is only the background subshell; killing it alone would leave the client running.
        stop_client_processes
    else
        C_NOTE="the client finished before the WAN was cut"
    fi
    wait "$pid" || rc=$?
    RCS+=("$rc")
    echo "=== exit $rc" >>"$CELL_DIR/client.log"
    live_hold
    all_faults_off
}

# Waits until the daemon has said nothing new about the cell's client for 1.5 s (at most 10 s).
wait_live_quiet() {
    local last n t0 quiet=0
    t0=$(date +%s)
    last=$(grep -c "\"client\": \"$CLI4\"" "$LIVE_DIR/events.jsonl" 2>/dev/null || true)
    while ((quiet < 15 && $(date +%s) - t0 < 10)); do
        sleep 0.1
        n=$(grep -c "\"client\": \"$CLI4\"" "$LIVE_DIR/events.jsonl" 2>/dev/null || true)
        if [[ $n == "$last" ]]; then quiet=$((quiet + 1)); else quiet=0; last=$n; fi
    done
}

# Phase times of a cell (seconds since its start), in CELL_DIR/phases.txt.
tmark() { local t; t=$(date +%s.%N); [[ $1 == start ]] && T0=$t; printf '%s %.2f\n' "$1" "$(awk -v a="$T0" -v b="$t" 'BEGIN{print b - a}')" >>"$CELL_DIR/phases.txt"; }

run_cell() { # run_cell "VARIANT SERVER SCENARIO"; sets CELL_DIR
    local v id rest
    read -r C_VARIANT C_SERVER C_SCENARIO <<<"$1"
    for v in "${CLIENT_VARIANTS[@]}"; do
        read -r id rest <<<"$v"
        [[ $id == "$C_VARIANT" ]] && read -r C_CLIENT C_PROTO C_TLS <<<"$rest"
    done
    CELL_NO=$((CELL_NO + 1))
    CLI4=192.168.77.$((20 + CELL_NO % 200)); CLI6=fd77::$((20 + CELL_NO % 200))
    CELL_DIR=$OUT/cells/$(printf '%03d' "$CELL_NO")-$C_VARIANT-$C_SERVER-$C_SCENARIO
    mkdir -p "$CELL_DIR"
    C_HOST=$C_SERVER.mail.test; C_ADDR=$(server_addr "$C_SERVER"); C_PORT=$(port_for "$C_PROTO" "$C_TLS")
    C_FAULT=""; C_NOTE=""; FAULT_AT=""; C_WRONG_FROM=null; RCS=()
    if [[ ${LAST_SCENARIO:-} == wan-down && $C_SCENARIO != wan-down ]]; then
        say "waiting ${MATRIX_WINDOW:-60s} after the WAN outages (the daemon's window)"
        sleep "${MATRIX_WINDOW:-60s}"
    fi
    LAST_SCENARIO=$C_SCENARIO
    tmark start
    all_faults_off
    reset_client_ns
    tmark reset
    in_ns "$NS_RTR" conntrack -F >/dev/null 2>&1 || true
    live_settle_dns
    tmark dns
    C_SINCE=$(now_epoch)
    capture_start
    tmark capture
    "cell_$C_SCENARIO"
    tmark client
    local ended
    ended=$(now_epoch)
    capture_stop "$CELL_DIR/lan.pcap"
    all_faults_off
    tmark capture-stop
    wait_live_quiet
    tmark live
    jq -c --argjson since "$C_SINCE" --arg c4 "$CLI4" --arg c6 "$CLI6" \
        'select(.seen >= $since and (.event.client == $c4 or .event.client == $c6))' \
        "$LIVE_DIR/events.jsonl" >"$CELL_DIR/live.jsonl" 2>/dev/null || true
    jq -c --argjson since "$C_SINCE" 'select(.seen >= $since and .event.client == null)' \
        "$LIVE_DIR/events.jsonl" >"$CELL_DIR/router.jsonl" 2>/dev/null || true
    server "$C_SERVER" truth "${C_SINCE%.*}" >"$CELL_DIR/truth.txt" || true
    local rc=0
    timeout 60 "$MP" replay "$CELL_DIR/lan.pcap" --json >"$CELL_DIR/replay.jsonl" 2>"$CELL_DIR/replay.err" || rc=$?
    ((rc == 0)) || echo "mailpulse replay exited $rc" >>"$CELL_DIR/replay.err"
    tmark replay
    # Refused logins make a server slow down later logins from the same address (all cells share
    # the router's NAT address): restart it so the next cell starts clean.
    if grep -q ' failed ' "$CELL_DIR/truth.txt" && ! in_list "$C_SERVER" "${NO_RESTART[@]}"; then
        if ! { server "$C_SERVER" down && server "$C_SERVER" up; } >>"$OUT/server-$C_SERVER.log" 2>&1; then
            say "server $C_SERVER did not come back: $(tail -1 "$OUT/server-$C_SERVER.log")"
            echo "$C_SERVER: restart failed: $(tail -1 "$OUT/server-$C_SERVER.log")" >>"$OUT/server-failures.txt"
        fi
    fi
    tmark restart
    jq -n --arg variant "$C_VARIANT" --arg client "$C_CLIENT" --arg proto "$C_PROTO" --arg tls "$C_TLS" \
        --arg server "$C_SERVER" --arg host "$C_HOST" --arg addr "$C_ADDR" --argjson port "$C_PORT" \
        --arg scenario "$C_SCENARIO" --arg cli4 "$CLI4" --arg cli6 "$CLI6" \
        --argjson since "$C_SINCE" --argjson ended "$ended" --arg fault "$C_FAULT" --arg note "$C_NOTE" \
        --arg tls_min "$(server_tls_min "$C_SERVER")" \
        --arg tls_max "$(cap_of "$(client_caps "$C_CLIENT")" tlsmax)" \
        --argjson rcs "$(printf '%s\n' "${RCS[@]}" | jq -s .)" --argjson gap "$GAP" \
        --argjson wrong_from "$C_WRONG_FROM" \
        '{variant: $variant, client: $client, protocol: $proto, tls: $tls, server: $server,
          host: $host, server_addr: $addr, port: $port, scenario: $scenario, client_ip: $cli4,
          client_ip6: $cli6, since: $since, ended: $ended, fault: $fault, note: $note,
          server_tls_min: $tls_min, client_tls_max: (if $tls_max == "" then "1.3" else $tls_max end),
          exit_codes: $rcs, gap: $gap, wrong_from: $wrong_from}' >"$CELL_DIR/cell.json"
}
