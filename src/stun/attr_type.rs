//! Attribute type numbers.
//!
//! Types below 0x8000 are comprehension-required: a receiver that does not know one must fail
//! the message (RFC 8489 §14, §6.3.1).

/// MAPPED-ADDRESS, RFC 8489 §14.1.
pub const MAPPED_ADDRESS: u16 = 0x0001;
/// CHANGE-REQUEST, RFC 5780 §7.2.
pub const CHANGE_REQUEST: u16 = 0x0003;
/// USERNAME, RFC 8489 §14.3.
pub const USERNAME: u16 = 0x0006;
/// MESSAGE-INTEGRITY, RFC 8489 §14.5.
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
/// ERROR-CODE, RFC 8489 §14.8.
pub const ERROR_CODE: u16 = 0x0009;
/// UNKNOWN-ATTRIBUTES, RFC 8489 §14.13.
pub const UNKNOWN_ATTRIBUTES: u16 = 0x000a;
/// CHANNEL-NUMBER, RFC 8656 §18.1.
pub const CHANNEL_NUMBER: u16 = 0x000c;
/// LIFETIME, RFC 8656 §18.2.
pub const LIFETIME: u16 = 0x000d;
/// XOR-PEER-ADDRESS, RFC 8656 §18.3.
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
/// DATA, RFC 8656 §18.4.
pub const DATA: u16 = 0x0013;
/// REALM, RFC 8489 §14.9.
pub const REALM: u16 = 0x0014;
/// NONCE, RFC 8489 §14.10.
pub const NONCE: u16 = 0x0015;
/// XOR-RELAYED-ADDRESS, RFC 8656 §18.5.
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
/// REQUESTED-ADDRESS-FAMILY, RFC 8656 §18.6.
pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
/// EVEN-PORT, RFC 8656 §18.7.
pub const EVEN_PORT: u16 = 0x0018;
/// REQUESTED-TRANSPORT, RFC 8656 §18.8.
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
/// DONT-FRAGMENT, RFC 8656 §18.9.
pub const DONT_FRAGMENT: u16 = 0x001a;
/// MESSAGE-INTEGRITY-SHA256, RFC 8489 §14.6.
pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001c;
/// PASSWORD-ALGORITHM, RFC 8489 §14.12.
pub const PASSWORD_ALGORITHM: u16 = 0x001d;
/// USERHASH, RFC 8489 §14.4.
pub const USERHASH: u16 = 0x001e;
/// XOR-MAPPED-ADDRESS, RFC 8489 §14.2.
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// RESERVATION-TOKEN, RFC 8656 §18.10.
pub const RESERVATION_TOKEN: u16 = 0x0022;
/// PRIORITY, RFC 8445 §16.1.
pub const PRIORITY: u16 = 0x0024;
/// USE-CANDIDATE, RFC 8445 §16.1.
pub const USE_CANDIDATE: u16 = 0x0025;
/// PASSWORD-ALGORITHMS, RFC 8489 §14.11.
pub const PASSWORD_ALGORITHMS: u16 = 0x8002;
/// ALTERNATE-DOMAIN, RFC 8489 §14.16.
pub const ALTERNATE_DOMAIN: u16 = 0x8003;
/// SOFTWARE, RFC 8489 §14.14.
pub const SOFTWARE: u16 = 0x8022;
/// ALTERNATE-SERVER, RFC 8489 §14.15.
pub const ALTERNATE_SERVER: u16 = 0x8023;
/// FINGERPRINT, RFC 8489 §14.7.
pub const FINGERPRINT: u16 = 0x8028;
/// ICE-CONTROLLED, RFC 8445 §16.1.
pub const ICE_CONTROLLED: u16 = 0x8029;
/// ICE-CONTROLLING, RFC 8445 §16.1.
pub const ICE_CONTROLLING: u16 = 0x802a;
/// RESPONSE-ORIGIN, RFC 5780 §7.3.
pub const RESPONSE_ORIGIN: u16 = 0x802b;
/// OTHER-ADDRESS, RFC 5780 §7.4.
pub const OTHER_ADDRESS: u16 = 0x802c;
/// NOMINATION, the renomination counter of libwebrtc and Pion
/// (draft-thatcher-ice-renomination).
pub const NOMINATION: u16 = 0xc001;

/// Whether a receiver that does not understand `typ` must reject the message
/// (RFC 8489 §14: 0x0000-0x7FFF are comprehension-required).
pub fn is_comprehension_required(typ: u16) -> bool {
    typ < 0x8000
}
