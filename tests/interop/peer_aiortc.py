"""aiortc peer for tests/peer_aiortc.rs: a whole RTCPeerConnection (ICE, DTLS, SCTP, data
channels) driven over JSON lines.

stdin, one command per line:
  {"cmd":"offer","channels":[CHANNEL...],"media":["audio","video"]}
                                           create the channels and (optionally) synthetic
                                           audio and video tracks, then an offer -> "offer";
                                           also a re-offer on a live connection
  {"cmd":"answer","sdp":S}                 the peer's answer to our offer -> "answered"
  {"cmd":"remote-offer","sdp":S,"channels":[CHANNEL...],"media":["audio","video"]}
                                           the peer's offer; create the channels and
                                           (optionally) synthetic tracks sent on the offered
                                           media lines; answer -> "answer"
  {"cmd":"create",CHANNEL...}              a channel on a connection that is already up
  {"cmd":"send","label":L,"text":T}        a text message
  {"cmd":"send","label":L,"textlen":N}     an N-byte text message made by text_pattern(N)
  {"cmd":"send","label":L,"binary":N}      an N-byte binary message made by pattern(N)
  {"cmd":"burst","label":L,"n":N}          N texts "burst I/N", as fast as they queue
  {"cmd":"bulk","label":L,"n":N,"size":S}  N binary messages of S bytes
  {"cmd":"close","label":L}                close one channel
  {"cmd":"stats"}                          -> "stats": DTLS role, state, version, cipher,
                                           SRTP profile and exporter output; the peer's
                                           SCTP port and max-message-size; the ICE pair
  {"cmd":"close-pc"}                       close the whole connection -> "pc-closed"
  {"cmd":"transceivers"}                   -> "transceivers": "mid kind currentDirection,..."
  {"cmd":"media-stats"}                    -> "media-stats": frames decoded per kind ("audio", "video")
  CHANNEL = {"label":L,"ordered":B,"maxRetransmits":N,"maxPacketLifeTime":MS,"protocol":P,
             "negotiated":B,"id":N}

stdout, one event per line ("ev" names it): ready, offer, answer, open, message, closed,
burst, state, stats, pc-closed, error. A message event carries len, binary and ok (the
payload matches the pattern for its length); a short text also comes back verbatim in "text".
Burst texts get no message event each: the last one yields a "burst" event saying whether all
came in order.

aioice leaves 127.0.0.1 and ::1 out of its host addresses, so the host-address function is
replaced to return exactly one address: 127.0.0.1, or the first argument (e.g. ::1). No STUN
server is configured (aiortc's default is a public one). The script exits when stdin ends.
"""

import asyncio
import json
import sys
import traceback

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

# The one host address to gather: 127.0.0.1, or the first argument (e.g. ::1).
HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
# Texts up to this size are reported verbatim in message events.
TEXT_ECHO_LIMIT = 200


def emit(ev: str, **fields) -> None:
    # ensure_ascii=False: non-ASCII text goes out as UTF-8, not as surrogate-pair escapes.
    sys.stdout.write(json.dumps({"ev": ev, **fields}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def socket_addr(addr) -> str:
    """host:port, with IPv6 hosts in brackets (as Rust prints a SocketAddr)."""
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def pattern(n: int) -> bytes:
    return bytes((i * 7 + n) % 256 for i in range(n))


def text_pattern(n: int) -> str:
    return "".join(chr(ord("a") + (i * 7 + n) % 26) for i in range(n))


class Peer:
    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channels = {}
        # label -> how many burst messages arrived in order so far
        self.bursts = {}
        # kind -> frames decoded from the remote tracks
        self.frames = {"audio": 0, "video": 0}

        @self.pc.on("track")
        def on_track(track):
            emit("track", kind=track.kind)

            async def consume():
                # recv() hands out decoded frames: counting them proves the media decodes.
                try:
                    while True:
                        await track.recv()
                        self.frames[track.kind] += 1
                except Exception:
                    pass

            asyncio.ensure_future(consume())

        @self.pc.on("datachannel")
        def on_datachannel(channel):
            self.watch(channel, remote=True)
            # A channel the peer opened is open when it reaches us.
            self.opened(channel, remote=True)

        @self.pc.on("connectionstatechange")
        def on_state():
            emit("state", state=self.pc.connectionState)

    def opened(self, channel, remote: bool) -> None:
        emit(
            "open",
            label=channel.label,
            id=channel.id,
            ordered=channel.ordered,
            maxRetransmits=channel.maxRetransmits,
            maxPacketLifeTime=channel.maxPacketLifeTime,
            protocol=channel.protocol,
            negotiated=channel.negotiated,
            remote=remote,
        )

    def watch(self, channel, remote: bool) -> None:
        label = channel.label
        self.channels[label] = channel

        if not remote:

            @channel.on("open")
            def on_open():
                self.opened(channel, remote=False)

        @channel.on("message")
        def on_message(message):
            if isinstance(message, str) and message.startswith("burst "):
                self.burst_message(label, message)
                return
            if isinstance(message, str):
                data = message.encode("utf-8")
                fields = {"binary": False, "ok": message == text_pattern(len(data))}
                if len(data) <= TEXT_ECHO_LIMIT:
                    fields["text"] = message
            else:
                data = bytes(message)
                fields = {"binary": True, "ok": data == pattern(len(data))}
            emit("message", label=label, len=len(data), **fields)

        @channel.on("close")
        def on_close():
            emit("closed", label=label)

    def burst_message(self, label: str, message: str) -> None:
        i, n = (int(x) for x in message[len("burst ") :].split("/"))
        in_order = self.bursts.get(label, 0)
        if i == in_order:
            self.bursts[label] = in_order + 1
        if i == n - 1:
            emit("burst", label=label, n=n, inOrder=self.bursts.pop(label, 0) == n)

    def create(self, spec: dict):
        channel = self.pc.createDataChannel(
            spec["label"],
            ordered=spec.get("ordered", True),
            maxRetransmits=spec.get("maxRetransmits"),
            maxPacketLifeTime=spec.get("maxPacketLifeTime"),
            protocol=spec.get("protocol", ""),
            negotiated=spec.get("negotiated", False),
            id=spec.get("id"),
        )
        self.watch(channel, remote=False)
        return channel

    def stats(self) -> dict:
        sctp = self.pc.sctp
        dtls = sctp.transport
        pair = getattr(dtls.transport._connection, "_nominated", {}).get(1)
        ssl = dtls._ssl
        profile = ssl.get_selected_srtp_profile()
        keying = ""
        for p in dtls._srtp_profiles:
            if p.openssl_profile == profile:
                # The DTLS-SRTP exporter output (RFC 5764 §4.2), as aiortc keys SRTP with it.
                n = 2 * (p.key_length + p.salt_length)
                keying = ssl.export_keying_material(b"EXTRACTOR-dtls_srtp", n).hex()
        return {
            "dtlsRole": dtls._role,
            "tlsVersion": ssl.get_protocol_version_name(),
            "cipher": ssl.get_cipher_name(),
            "srtpProfile": profile.decode(),
            "keying": keying,
            "dtlsState": dtls.state,
            "remoteMaxMessageSize": sctp._remote_max_message_size,
            "remotePort": sctp._remote_port,
            "local": socket_addr(pair.local_addr) if pair else "",
            "remote": socket_addr(pair.remote_addr) if pair else "",
        }

    async def handle(self, cmd: dict) -> None:
        what = cmd["cmd"]
        if what == "offer":
            for kind in cmd.get("media", []):
                # Synthetic tracks: silence and a plain green picture, no devices or files.
                self.pc.addTrack(AudioStreamTrack() if kind == "audio" else VideoStreamTrack())
            for spec in cmd.get("channels", []):
                self.create(spec)
            # setLocalDescription gathers; the candidates are in the SDP it leaves behind.
            await self.pc.setLocalDescription(await self.pc.createOffer())
            emit("offer", sdp=self.pc.localDescription.sdp)
        elif what == "answer":
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=cmd["sdp"], type="answer")
            )
            emit("answered")
        elif what == "remote-offer":
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=cmd["sdp"], type="offer")
            )
            for kind in cmd.get("media", []):
                # Attaches to the offered transceiver of that kind: sendrecv in the answer.
                self.pc.addTrack(AudioStreamTrack() if kind == "audio" else VideoStreamTrack())
            for spec in cmd.get("channels", []):
                self.create(spec)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            emit("answer", sdp=self.pc.localDescription.sdp)
        elif what == "create":
            self.create(cmd)
        elif what == "send":
            channel = self.channels[cmd["label"]]
            if "text" in cmd:
                channel.send(cmd["text"])
            elif "textlen" in cmd:
                channel.send(text_pattern(cmd["textlen"]))
            else:
                channel.send(pattern(cmd["binary"]))
        elif what == "burst":
            channel = self.channels[cmd["label"]]
            for i in range(cmd["n"]):
                channel.send(f"burst {i}/{cmd['n']}")
        elif what == "bulk":
            channel = self.channels[cmd["label"]]
            data = pattern(cmd["size"])
            for _ in range(cmd["n"]):
                channel.send(data)
        elif what == "close":
            self.channels[cmd["label"]].close()
        elif what == "stats":
            emit("stats", **self.stats())
        elif what == "media-stats":
            emit("media-stats", audio=self.frames["audio"], video=self.frames["video"])
        elif what == "transceivers":
            emit(
                "transceivers",
                list=",".join(
                    f"{t.mid} {t.kind} {t.currentDirection}"
                    for t in self.pc.getTransceivers()
                ),
            )
        elif what == "close-pc":
            await self.pc.close()
            emit("pc-closed", state=self.pc.connectionState)
        else:
            raise ValueError(f"unknown command {what!r}")


async def main() -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [HOST]
    peer = Peer()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit("ready")
    while True:
        line = await reader.readline()
        if not line:
            break  # stdin ended: the test is over (or gone)
        if not line.strip():
            continue
        try:
            await peer.handle(json.loads(line))
        except Exception as e:  # report, keep serving: the test decides
            traceback.print_exc()
            emit("error", what=f"{type(e).__name__}: {e}")
    await peer.pc.close()


if __name__ == "__main__":
    asyncio.run(main())
