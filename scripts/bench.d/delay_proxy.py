#!/usr/bin/env python3
"""A TCP proxy on loopback that adds a fixed delay in each direction.

    delay_proxy.py --upstream HOST:PORT [--listen-port N] [--delay-ms 10]

Every chunk read from one side is written to the other side `delay` later,
while reading goes on: the link gets 2 × delay of round-trip time but keeps
its throughput (up to the queue's bound of in-flight bytes per direction).
Prints "listening on PORT" once ready, runs until SIGTERM/SIGINT.
"""

import argparse
import asyncio
import signal
import sys

CHUNK = 256 * 1024
IN_FLIGHT_CHUNKS = 1024  # per direction: up to 256 MB in flight, far above delay × bandwidth


async def pump(reader, writer, delay):
    """Copies reader → writer, each chunk held back until `delay` after it was read."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue(IN_FLIGHT_CHUNKS)

    async def receive():
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((loop.time() + delay, b""))

    async def send():
        try:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    receiving = asyncio.create_task(receive())
    try:
        await send()
    finally:
        receiving.cancel()


async def handle(client_reader, client_writer, upstream, delay):
    host, port = upstream
    try:
        server_reader, server_writer = await asyncio.open_connection(host, port)
    except OSError as error:
        print(f"delay_proxy: cannot reach upstream {host}:{port}: {error}", file=sys.stderr)
        client_writer.close()
        return
    await asyncio.gather(
        pump(client_reader, server_writer, delay),
        pump(server_reader, client_writer, delay),
    )
    for w in (client_writer, server_writer):
        w.close()


async def main():
    parser = argparse.ArgumentParser(description="TCP proxy adding a delay in each direction.")
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--listen-port", type=int, default=0, help="loopback port to listen on (default: a free one)")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="delay added in each direction (default 10)")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--upstream must be HOST:PORT, got '{args.upstream}'")
    delay = args.delay_ms / 1000.0

    server = await asyncio.start_server(
        lambda r, w: handle(r, w, (host, int(port)), delay), "127.0.0.1", args.listen_port)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
