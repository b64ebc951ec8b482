#!/usr/bin/env python3
"""Open SSE streams held by one app instance: memory per stream, idle RSS, start-up time.

Starts the release `showcase` binary (data in a temporary directory, loopback only),
measures its start-up time (spawn -> `/readyz` 200) and idle RSS, then opens N legacy
`GET /sse` streams (each one an MCP session with its keep-alive task), spread over
several loopback source addresses because an instance admits at most 1,000 sessions per
client address. It checks every stream got its `endpoint` event, reads the server's RSS
again, reports KiB per stream, then sends SIGTERM and times how long the instance takes
to end them all and exit.

    python3 bench/sse_streams.py --streams 10000 [--binary target/release/showcase]

Prints one line `sse: streams=… rss_idle_kib=… rss_streams_kib=… kib_per_stream=…
start_ready_ms=… sigterm_exit_ms=…` last. Exit code 1 when a stream failed.
"""

import argparse
import asyncio
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PER_ADDRESS = 1000  # the default per-client session limit (HttpConfig::session_limits)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(n, soft), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


async def open_stream(port, source, streams, errors):
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(source, 0)
        )
        writer.write(
            f"GET /sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        if not head.startswith(b"HTTP/1.1 200"):
            errors.append(head.split(b"\r\n")[0].decode(errors="replace"))
            writer.close()
            return
        buf = b""
        while b"event: endpoint" not in buf:
            chunk = await asyncio.wait_for(reader.read(4096), 30)
            if not chunk:
                errors.append("closed before the endpoint event")
                return
            buf += chunk
        streams.append((reader, writer))
    except Exception as e:  # noqa: BLE001 - every failure is reported
        errors.append(f"{type(e).__name__}: {e}")


async def until_closed(reader):
    start = time.monotonic()
    try:
        while await asyncio.wait_for(reader.read(4096), 30):
            pass
    except Exception:  # noqa: BLE001
        return None
    return time.monotonic() - start


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "showcase"))
    args = ap.parse_args()
    limit = raise_nofile(args.streams * 2 + 200)
    if limit < args.streams + 100:
        sys.exit(f"the open-files limit ({limit}) is too low for {args.streams} streams")
    port = free_port()
    data = tempfile.mkdtemp(prefix="widgetry-sse-")
    env = dict(os.environ, WIDGETRY_DATA_DIR=data, RUST_LOG="warn")
    for var in ("WIDGETRY_DATABASE_URL", "WIDGETRY_SESSION_STORE_URL"):
        env.pop(var, None)
    t0 = time.monotonic()
    server = subprocess.Popen(
        [args.binary, "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # it inherits the raised open-files limit
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:  # noqa: BLE001
                if time.monotonic() - t0 > 30:
                    sys.exit("the server was not ready within 30 s")
                time.sleep(0.005)
        start_ms = (time.monotonic() - t0) * 1000
        time.sleep(1)
        idle = rss_kib(server.pid)
        streams, errors = [], []
        sources = [f"127.0.0.{2 + i // PER_ADDRESS}" for i in range(args.streams)]
        for i in range(0, args.streams, 500):
            await asyncio.gather(*(open_stream(port, s, streams, errors)
                                   for s in sources[i:i + 500]))
        time.sleep(1)
        loaded = rss_kib(server.pid)
        per = (loaded - idle) / max(len(streams), 1)
        print(f"opened {len(streams)} streams ({len(errors)} failed); RSS {idle} -> {loaded} KiB")
        for e in sorted(set(errors))[:5]:
            print(f"  failure: {e}")
        t1 = time.monotonic()
        server.send_signal(signal.SIGTERM)
        closes = await asyncio.gather(*(until_closed(r) for r, _ in streams))
        server.wait(timeout=30)
        exit_ms = (time.monotonic() - t1) * 1000
        unclosed = sum(1 for c in closes if c is None)
        print(f"SIGTERM: every stream ended ({unclosed} did not), exit status {server.returncode}")
        print(
            f"sse: streams={len(streams)} failed={len(errors)} rss_idle_kib={idle} "
            f"rss_streams_kib={loaded} kib_per_stream={per:.1f} start_ready_ms={start_ms:.1f} "
            f"sigterm_exit_ms={exit_ms:.0f} unclosed_after_sigterm={unclosed}"
        )
        return 1 if errors or unclosed or server.returncode != 0 else 0
    finally:
        if server.poll() is None:
            server.kill()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
