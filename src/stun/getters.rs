//! Typed getters on [`Message`] for the common attributes.

use std::net::SocketAddr;

use super::attr::{Attribute, ErrorCode};
use super::attr_type as t;
use super::message::Message;

/// Typed getters for the common attributes; each returns the first occurrence.
impl<'a> Message<'a> {
    /// XOR-MAPPED-ADDRESS.
    pub fn xor_mapped_address(&self) -> Option<SocketAddr> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::XorMappedAddress(x) => Some(*x),
            _ => None,
        })
    }

    /// The reflexive address: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS (RFC 8489 §14.1: old
    /// servers send only the latter).
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        self.xor_mapped_address().or_else(|| {
            self.attributes().iter().find_map(|a| match a {
                Attribute::MappedAddress(x) => Some(*x),
                _ => None,
            })
        })
    }

    /// USERNAME.
    pub fn username(&self) -> Option<&str> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::Username(s) => Some(&**s),
            _ => None,
        })
    }

    /// REALM.
    pub fn realm(&self) -> Option<&str> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::Realm(s) => Some(&**s),
            _ => None,
        })
    }

    /// NONCE.
    pub fn nonce(&self) -> Option<&str> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::Nonce(s) => Some(&**s),
            _ => None,
        })
    }

    /// SOFTWARE.
    pub fn software(&self) -> Option<&str> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::Software(s) => Some(&**s),
            _ => None,
        })
    }

    /// ERROR-CODE.
    pub fn error_code(&self) -> Option<&ErrorCode<'a>> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::ErrorCode(e) => Some(e),
            _ => None,
        })
    }

    /// UNKNOWN-ATTRIBUTES.
    pub fn unknown_attributes(&self) -> Option<&[u16]> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::UnknownAttributes(l) => Some(&l[..]),
            _ => None,
        })
    }

    /// PRIORITY.
    pub fn priority(&self) -> Option<u32> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::Priority(p) => Some(*p),
            _ => None,
        })
    }

    /// Whether USE-CANDIDATE is present.
    pub fn use_candidate(&self) -> bool {
        self.get(t::USE_CANDIDATE).is_some()
    }

    /// ICE-CONTROLLING's tie-breaker.
    pub fn ice_controlling(&self) -> Option<u64> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::IceControlling(v) => Some(*v),
            _ => None,
        })
    }

    /// ICE-CONTROLLED's tie-breaker.
    pub fn ice_controlled(&self) -> Option<u64> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::IceControlled(v) => Some(*v),
            _ => None,
        })
    }

    /// NOMINATION.
    pub fn nomination(&self) -> Option<u32> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::Nomination(v) => Some(*v),
            _ => None,
        })
    }

    /// CHANGE-REQUEST's (change IP, change port) flags.
    pub fn change_request(&self) -> Option<(bool, bool)> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::ChangeRequest { ip, port } => Some((*ip, *port)),
            _ => None,
        })
    }

    /// RESPONSE-ORIGIN.
    pub fn response_origin(&self) -> Option<SocketAddr> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::ResponseOrigin(x) => Some(*x),
            _ => None,
        })
    }

    /// OTHER-ADDRESS.
    pub fn other_address(&self) -> Option<SocketAddr> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::OtherAddress(x) => Some(*x),
            _ => None,
        })
    }

    /// ALTERNATE-SERVER.
    pub fn alternate_server(&self) -> Option<SocketAddr> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::AlternateServer(x) => Some(*x),
            _ => None,
        })
    }

    /// XOR-RELAYED-ADDRESS (TURN).
    pub fn xor_relayed_address(&self) -> Option<SocketAddr> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::XorRelayedAddress(x) => Some(*x),
            _ => None,
        })
    }

    /// Every XOR-PEER-ADDRESS (TURN allows several), in order.
    pub fn xor_peer_addresses(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.attributes().iter().filter_map(|a| match a {
            Attribute::XorPeerAddress(x) => Some(*x),
            _ => None,
        })
    }

    /// LIFETIME in seconds (TURN).
    pub fn lifetime(&self) -> Option<u32> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::Lifetime(v) => Some(*v),
            _ => None,
        })
    }

    /// DATA (TURN).
    pub fn data(&self) -> Option<&[u8]> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::Data(d) => Some(&**d),
            _ => None,
        })
    }

    /// CHANNEL-NUMBER (TURN).
    pub fn channel_number(&self) -> Option<u16> {
        self.attributes().iter().find_map(|a| match a {
            Attribute::ChannelNumber(v) => Some(*v),
            _ => None,
        })
    }
}
