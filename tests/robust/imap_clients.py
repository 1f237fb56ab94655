"""Many IMAP clients at once (run inside the client namespace).

usage: imap_clients.py COUNT CONCURRENCY SERVER [SOURCE_IP,...]
Each client: TLS on 993, LOGIN, SELECT INBOX, FETCH 1 BODY[], LOGOUT. Prints one JSON line:
{"ok": n, "failed": n, "errors": {...}, "seconds": s}.
"""

import asyncio
import json
import ssl
import sys
import time

USER, PASSWORD = "alice", "Correct-Horse-78"


async def one(server, source, ctx):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(server, 993, ssl=ctx, server_hostname="imap.mail.test",
                                local_addr=(source, 0) if source else None), 30)
    try:
        async def command(tag, text):
            writer.write(f"{tag} {text}\r\n".encode())
            await writer.drain()
            while True:
                line = await asyncio.wait_for(reader.readline(), 30)
                if not line:
                    raise ConnectionError("closed by server")
                if line.startswith(tag.encode() + b" "):
                    if not line.startswith(tag.encode() + b" OK"):
                        raise RuntimeError(line.decode(errors="replace").strip())
                    return

        greeting = await asyncio.wait_for(reader.readline(), 30)
        if not greeting.startswith(b"* OK"):
            raise RuntimeError("greeting: " + greeting.decode(errors="replace"))
        await command("a1", f"LOGIN {USER} {PASSWORD}")
        await command("a2", "SELECT INBOX")
        await command("a3", "FETCH 1 BODY[]")
        await command("a4", "LOGOUT")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except Exception:  # noqa: BLE001 - the server may close first
            pass


async def main():
    count, concurrency, server = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sources = sys.argv[4].split(",") if len(sys.argv) > 4 and sys.argv[4] else [None]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sem = asyncio.Semaphore(concurrency)
    result = {"ok": 0, "failed": 0, "errors": {}}

    async def guarded(i):
        async with sem:
            try:
                await one(server, sources[i % len(sources)], ctx)
                result["ok"] += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted and named
                result["failed"] += 1
                key = f"{type(e).__name__}: {e}"[:120]
                result["errors"][key] = result["errors"].get(key, 0) + 1

    start = time.monotonic()
    await asyncio.gather(*(guarded(i) for i in range(count)))
    result["seconds"] = round(time.monotonic() - start, 2)
    print(json.dumps(result))


asyncio.run(main())
