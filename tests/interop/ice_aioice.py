"""aioice peer for tests/ice_aioice.rs.

Speaks a line protocol on stdin/stdout:
  out: "ufrag U", "pwd P", "cand <candidate sdp>"..., "end"   (its credentials and candidates)
  in:  the same from the Rust agent
  out: "connected <local host:port> <remote host:port>" once ICE completes
then echoes every datagram it receives as b"echo:" + data, after sending b"hello from aioice",
and exits when it receives b"bye". Errors go to stderr; the exit code says whether it worked.

aioice leaves 127.0.0.1 out of its host addresses, so the host-address function is replaced to
return exactly the loopback address the test uses; no STUN server is configured (aioice's
default is a public one).
"""

import asyncio
import sys

import aioice
import aioice.ice
from aioice import Candidate, Connection

HOST = "127.0.0.1"


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def read_line(reader: asyncio.StreamReader) -> str:
    line = await reader.readline()
    if not line:
        raise ConnectionError("stdin closed")
    return line.decode().strip()


async def main(controlling: bool) -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [HOST]
    conn = Connection(ice_controlling=controlling, stun_server=None, use_ipv6=False)
    await conn.gather_candidates()
    emit(f"ufrag {conn.local_username}")
    emit(f"pwd {conn.local_password}")
    for c in conn.local_candidates:
        emit(f"cand {c.to_sdp()}")
    emit("end")

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await read_line(reader)
        if line == "end":
            break
        key, _, value = line.partition(" ")
        if key == "ufrag":
            conn.remote_username = value
        elif key == "pwd":
            conn.remote_password = value
        elif key == "cand":
            await conn.add_remote_candidate(Candidate.from_sdp(value))
    await conn.add_remote_candidate(None)

    await conn.connect()
    pair = conn._nominated.get(1)
    local = f"{pair.local_addr[0]}:{pair.local_addr[1]}" if pair else "?"
    remote = f"{pair.remote_addr[0]}:{pair.remote_addr[1]}" if pair else "?"
    emit(f"connected {local} {remote}")

    await conn.send(b"hello from aioice")
    while True:
        data = await conn.recv()
        if data == b"bye":
            break
        await conn.send(b"echo:" + data)
    emit("done")
    await conn.close()


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else "controlled"
    asyncio.run(asyncio.wait_for(main(role == "controlling"), timeout=30))
