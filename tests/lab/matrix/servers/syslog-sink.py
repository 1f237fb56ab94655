#!/usr/bin/env python3
"""A syslog socket for servers that log only through syslog(3): syslog-sink.py SOCKET LOGFILE

Binds a Unix datagram socket (what /dev/log is) and appends each message to LOGFILE as
`<epoch> <message>`, the epoch being when the message arrived and the message as sent (without
its <priority> prefix). Runs until killed.
"""
import os
import re
import socket
import sys
import time

path, logfile = sys.argv[1], sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
os.chmod(path, 0o666)
with open(logfile, "a", buffering=1, encoding="utf-8", errors="replace") as out:
    while True:
        data = sock.recv(65536)
        text = re.sub(r"^<\d+>", "", data.decode("utf-8", "replace")).rstrip("\n\0")
        out.write("%d %s\n" % (int(time.time()), text.replace("\n", " ")))
