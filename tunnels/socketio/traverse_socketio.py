"""Both halves of the `socketio` external tunnel: python-socketio's own
client and server, carrying the port-forward contract's bytes as Socket.IO
messages, so that traverse can judge a real fallback client (engine.io
opens on HTTP long-polling and upgrades to WebSocket where it can).

    traverse-socketio server LISTEN TARGET TIME_SCALE
    traverse-socketio client LOCAL CONNECT SERVER_NAME [PROXY [PROXY_AUTH_FILE]]

The server half listens on LISTEN and, for each Socket.IO connection, opens
a TCP connection to TARGET (the echo app). The client half listens on
LOCAL and, for each TCP stream it accepts, opens a Socket.IO connection to
http://SERVER_NAME/ by way of CONNECT (the first hop, or the server half),
or through the explicit proxy PROXY when one is given, with the
`user:password` in PROXY_AUTH_FILE when it holds any. Bytes travel as
binary `data` events, and the end of a stream as an `eof` event. The
client prints on stderr, whenever it changes, the transport engine.io
carries the bytes on (`transport: polling`, `transport: websocket`),
which the harness records as the cell's transport. The server's engine.io
pings (every 25 s: engine.io's default) run at the harness's TIME_SCALE,
so that they meet the scenario's idle timers as they would on a real
network; the 20 s a pong may take stays as it is.
"""

import asyncio
import os
import sys
from urllib.parse import quote

import aiohttp
import socketio
import uvicorn
from engineio.payload import Payload

# python-engineio decodes at most 16 packets from one long-poll payload
# and drops the connection past that ("Too many packets in payload"); the
# probe's 1 MiB echo is 64 messages, batched into few POSTs. Raised as its
# documentation advises for applications that send in bursts.
Payload.max_decode_packets = 1024

# The largest piece of a stream put in one message: as the built-in tunnels.
CHUNK = 16 * 1024


def host_port(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


async def pump(reader, send, end):
    """Sends what `reader` reads, piece by piece, then `end` once it ends."""
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        await send(data)
    await end()


# engine.io's defaults, in seconds, before the time scale.
PING_INTERVAL = 25
PING_TIMEOUT = 20

# The most one long-poll request may carry: the probe's 1 MiB echo, in
# base64, batched, with room to spare (engine.io's default is 1 MB).
MAX_PAYLOAD = 16 * 1024 * 1024


async def serve(listen, target, time_scale):
    # The server runs as an ASGI app under uvicorn, not under aiohttp:
    # engine.io's aiohttp driver reads a long-poll POST with one
    # `StreamReader.read(length)`, which returns what has arrived so far,
    # so a POST larger than a read (the probe's 1 MiB echo, batched) is
    # decoded cut short and the session dies ("Incorrect padding"). Its
    # ASGI driver reads the body to its end.
    sio = socketio.AsyncServer(
        async_mode="asgi",
        max_http_buffer_size=MAX_PAYLOAD,
        ping_interval=PING_INTERVAL * time_scale,
        # How late a pong may be is a tolerance for slow peers, which the
        # time scale does not make faster: it stays engine.io's 20 s.
        ping_timeout=PING_TIMEOUT,
    )
    streams = {}

    @sio.event
    async def connect(sid, environ):
        host, port = host_port(target)
        reader, writer = await asyncio.open_connection(host, port)
        streams[sid] = writer

        async def send(data):
            await sio.emit("data", data, to=sid)

        async def end():
            await sio.emit("eof", to=sid)

        asyncio.create_task(pump(reader, send, end))

    @sio.on("data")
    async def data(sid, payload):
        writer = streams.get(sid)
        if writer is not None:
            writer.write(payload)
            await writer.drain()

    @sio.on("eof")
    async def eof(sid):
        writer = streams.get(sid)
        if writer is not None and writer.can_write_eof():
            writer.write_eof()

    @sio.event
    async def disconnect(sid):
        writer = streams.pop(sid, None)
        if writer is not None:
            writer.close()

    host, port = host_port(listen)
    config = uvicorn.Config(
        socketio.ASGIApp(sio),
        host=host,
        port=port,
        ws="websockets-sansio",
        # The probe's messages are 16 KiB; websockets' 1 MiB cap is
        # engine.io's, so the echo fits either way.
        log_level="warning",
        lifespan="off",
    )
    await uvicorn.Server(config).serve()


def proxy_url(proxy, auth_file):
    """HTTP_PROXY's value: the proxy, with the credentials the file holds."""
    credentials = ""
    if auth_file:
        with open(auth_file, encoding="utf-8") as file:
            user, colon, password = file.read().partition(":")
        if colon:
            credentials = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return f"http://{credentials}{proxy}"


async def carry(reader, writer, connect, server_name, proxy, auth_file):
    """One probe stream over one Socket.IO connection."""
    if proxy:
        # aiohttp takes the proxy from the environment, as the library's
        # users configure it.
        os.environ["HTTP_PROXY"] = proxy_url(proxy, auth_file)
    session = aiohttp.ClientSession(trust_env=bool(proxy))
    sio = socketio.AsyncClient(http_session=session, reconnection=False)
    ended = asyncio.Event()

    said = None

    @sio.on("data")
    async def data(payload):
        # Said before the bytes go on, so the harness has read it by the
        # time the probe has them back: the transport that carried them.
        nonlocal said
        if sio.transport() != said:
            said = sio.transport()
            print(f"transport: {said}", file=sys.stderr, flush=True)
        writer.write(payload)
        await writer.drain()

    @sio.on("eof")
    async def eof():
        if writer.can_write_eof():
            writer.write_eof()
        ended.set()

    @sio.event
    async def disconnect(*_):
        ended.set()

    # The URL names the origin as a person would configure it; the socket
    # goes to CONNECT, as a resolver pointing the name there would send it.
    url = f"http://{connect}" if not proxy else f"http://{server_name}"
    try:
        await sio.connect(url, headers={"Host": server_name}, wait_timeout=10)

        async def send(chunk):
            await sio.emit("data", chunk)

        async def end():
            await sio.emit("eof")

        await pump(reader, send, end)
        await ended.wait()
    except Exception as error:  # what the library raised is the finding
        print(f"socketio client: {error!r}", file=sys.stderr, flush=True)
    finally:
        await sio.disconnect()
        await session.close()
        writer.close()


async def forward(local, connect, server_name, proxy, auth_file):
    async def accepted(reader, writer):
        await carry(reader, writer, connect, server_name, proxy, auth_file)

    host, port = host_port(local)
    server = await asyncio.start_server(accepted, host, port)
    async with server:
        await server.serve_forever()


def main(argv):
    if len(argv) == 4 and argv[0] == "server":
        asyncio.run(serve(argv[1], argv[2], float(argv[3])))
    elif len(argv) in (4, 5, 6) and argv[0] == "client":
        proxy = argv[4] if len(argv) >= 5 else ""
        auth_file = argv[5] if len(argv) == 6 else ""
        asyncio.run(forward(argv[1], argv[2], argv[3], proxy, auth_file))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
