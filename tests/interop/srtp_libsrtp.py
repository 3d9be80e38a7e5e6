"""libsrtp (through pylibsrtp) as the peer for kaon's SRTP interop test.

Usage: srtp_libsrtp.py PROFILE MASTER_KEY_HEX MASTER_SALT_HEX MODE
  PROFILE  the IANA number: 1, 2 (AES-CM HMAC-SHA1 80/32), 7, 8 (AEAD AES-128/256-GCM)
  MODE     protect | unprotect | protect_rtcp | unprotect_rtcp

Reads one hex packet per line on stdin and writes one line per packet on stdout: the hex
result, or "ERR <libsrtp message>". All packets go through one libsrtp session, in order, so
rollover counters and replay windows carry from one packet to the next.
"""

import sys

import pylibsrtp
from pylibsrtp import Policy, Session

PROFILES = {
    1: Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    2: Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    7: Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    8: Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}


def main() -> None:
    profile, key, salt, mode = sys.argv[1:5]
    inbound = mode.startswith("unprotect")
    policy = Policy(
        key=bytes.fromhex(key) + bytes.fromhex(salt),
        ssrc_type=Policy.SSRC_ANY_INBOUND if inbound else Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=PROFILES[int(profile)],
    )
    session = Session(policy=policy)
    op = getattr(session, mode)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            print(op(bytes.fromhex(line)).hex())
        except pylibsrtp.Error as e:
            print(f"ERR {e}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
