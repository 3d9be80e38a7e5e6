"""aiortc relay-only (iceTransportPolicy "relay") for tests/turn_aiortc.rs, driven over JSON
lines.

Usage: python turn_aiortc.py TURN_URL USERNAME PASSWORD

stdin, one command per line: {"cmd":"offer"} -> a "chat" channel and an offer with aiortc's
relayed candidates -> "offer"; {"cmd":"answer","sdp":S} -> "answered"; {"cmd":"candidate",
"line":L} (a trickled candidate); {"cmd":"send","text":T}.
stdout, one event per line: ready, offer, answered, open, message (with "text"), state, error.
The only ICE server is the test's TURN server on loopback. The script exits when stdin ends.
"""

import asyncio
import json
import sys

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

URL, USER, PASSWORD = sys.argv[1:4]


def emit(**event):
    print(json.dumps(event, separators=(",", ":")), flush=True)


async def main():
    pc = RTCPeerConnection(
        RTCConfiguration(
            iceServers=[RTCIceServer(urls=URL, username=USER, credential=PASSWORD)],
            iceTransportPolicy=RTCIceTransportPolicy.RELAY,
        )
    )
    channel = pc.createDataChannel("chat")
    channel.on("open", lambda: emit(ev="open"))
    channel.on("message", lambda m: emit(ev="message", text=str(m)))
    pc.on("connectionstatechange", lambda: emit(ev="state", state=pc.connectionState))

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit(ev="ready")
    while line := await reader.readline():
        if not line.strip():
            continue
        m = json.loads(line)
        cmd = m.get("cmd")
        try:
            if cmd == "offer":
                await pc.setLocalDescription(await pc.createOffer())
                emit(ev="offer", sdp=pc.localDescription.sdp)
            elif cmd == "answer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=m["sdp"], type="answer"))
                emit(ev="answered")
            elif cmd == "candidate":
                candidate = candidate_from_sdp(m["line"].removeprefix("candidate:"))
                candidate.sdpMid = pc.sctp.mid if pc.sctp else "0"
                await pc.addIceCandidate(candidate)
            elif cmd == "send":
                channel.send(m["text"])
            else:
                emit(ev="error", what=f"unknown command {cmd}")
        except Exception as e:  # reported, not fatal: the test decides
            emit(ev="error", what=f"{cmd}: {e!r}")
    await pc.close()


asyncio.run(main())
