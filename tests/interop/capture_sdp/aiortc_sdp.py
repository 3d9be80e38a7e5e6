"""Captures SDPs from aiortc for the SDP fixtures (a one-off; the fixtures are committed).

Usage: .ci/venv/bin/python aiortc_sdp.py OUTDIR [CHROMIUM_OFFER]

Writes a data-channel offer, an audio+video+data offer and, given a Chromium offer, aiortc's
answer to it. No ICE servers: the default configuration would contact a public STUN server.
"""

import asyncio
import pathlib
import sys

import aiortc
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def offer(pc: RTCPeerConnection) -> str:
    # setLocalDescription waits for gathering: aiortc does not trickle.
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


async def main() -> None:
    out = pathlib.Path(sys.argv[1])
    data = new_pc()
    data.createDataChannel("chat")
    (out / "aiortc_data_offer.sdp").write_text(await offer(data), newline="")

    av = new_pc()
    av.addTransceiver("audio")
    av.addTransceiver("video")
    av.createDataChannel("chat")
    (out / "aiortc_av_offer.sdp").write_text(await offer(av), newline="")

    if len(sys.argv) > 2:
        answerer = new_pc()
        remote = pathlib.Path(sys.argv[2]).read_text()
        await answerer.setRemoteDescription(RTCSessionDescription(sdp=remote, type="offer"))
        await answerer.setLocalDescription(await answerer.createAnswer())
        (out / "aiortc_data_answer.sdp").write_text(answerer.localDescription.sdp, newline="")
        await answerer.close()

    await data.close()
    await av.close()
    print("aiortc", aiortc.__version__)


asyncio.run(main())
