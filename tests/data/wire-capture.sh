#!/bin/sh
# capture.sh LINKTYPE ADDR TLSFLAG OUT  -- one openssl s_client session to s_server on ADDR:993
set -e
lt=$1; addr=$2; tlsflag=$3; out=$4
tcpdump -i any -y "$lt" -n -U -s 0 -w "$out" "port 993" 2>/dev/null &
td=$!
sleep 1
openssl s_server -quiet -accept "$addr:993" -cert cert.pem -key key.pem -naccept 1 >/dev/null 2>&1 &
srv=$!
sleep 0.5
printf 'a1 LOGOUT\r\n' | openssl s_client -quiet -connect "$addr:993" -servername imap.wire.test $tlsflag >/dev/null 2>&1 || true
sleep 0.5
kill $srv 2>/dev/null || true
sleep 0.5
kill -INT $td
wait $td 2>/dev/null || true
