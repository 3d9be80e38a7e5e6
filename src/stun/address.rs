//! The address encodings of RFC 8489 §14.1 (MAPPED-ADDRESS and its kin) and §14.2
//! (XOR-MAPPED-ADDRESS and its kin).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::Error;
use super::header::{MAGIC_COOKIE, TransactionId};
use crate::wire::{Reader, Writer};

const FAMILY_V4: u8 = 0x01;
const FAMILY_V6: u8 = 0x02;

pub(crate) fn address_len(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => 8,
        SocketAddr::V6(_) => 20,
    }
}

/// The XOR pad of RFC 8489 §14.2: the cookie, then the transaction id.
fn xor_pad(id: &TransactionId) -> [u8; 16] {
    let mut pad = [0u8; 16];
    pad[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    pad[4..].copy_from_slice(id.as_bytes());
    pad
}

/// RFC 8489 §14.1/§14.2: reserved byte (ignored), family, port, address; XORed when `xor`.
pub(crate) fn parse_address(
    typ: u16,
    v: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, Error> {
    let bad = Error::BadAttribute { typ };
    let mut r = Reader::new(v);
    r.u8().map_err(|_| bad.clone())?; // RFC 8489 §14.1: MUST be ignored by receivers.
    let family = r.u8().map_err(|_| bad.clone())?;
    let mut port = r.u16().map_err(|_| bad.clone())?;
    let pad = xor.map(xor_pad);
    if pad.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match (family, r.remaining()) {
        (FAMILY_V4, 4) => {
            let mut b = r.array::<4>().map_err(|_| bad.clone())?;
            if let Some(pad) = pad {
                b.iter_mut().zip(pad).for_each(|(x, p)| *x ^= p);
            }
            IpAddr::V4(Ipv4Addr::from(b))
        }
        (FAMILY_V6, 16) => {
            let mut b = r.array::<16>().map_err(|_| bad.clone())?;
            if let Some(pad) = pad {
                b.iter_mut().zip(pad).for_each(|(x, p)| *x ^= p);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return Err(bad),
    };
    Ok(SocketAddr::new(ip, port))
}

pub(crate) fn write_address(
    w: &mut Writer<'_>,
    addr: &SocketAddr,
    xor: Option<&TransactionId>,
) -> Result<(), Error> {
    let pad = xor.map(xor_pad);
    let port_pad = if pad.is_some() {
        (MAGIC_COOKIE >> 16) as u16
    } else {
        0
    };
    w.u8(0)?;
    match addr.ip() {
        IpAddr::V4(ip) => {
            w.u8(FAMILY_V4)?;
            w.u16(addr.port() ^ port_pad)?;
            let mut b = ip.octets();
            if let Some(pad) = pad {
                b.iter_mut().zip(pad).for_each(|(x, p)| *x ^= p);
            }
            w.bytes(&b)?;
        }
        IpAddr::V6(ip) => {
            w.u8(FAMILY_V6)?;
            w.u16(addr.port() ^ port_pad)?;
            let mut b = ip.octets();
            if let Some(pad) = pad {
                b.iter_mut().zip(pad).for_each(|(x, p)| *x ^= p);
            }
            w.bytes(&b)?;
        }
    }
    Ok(())
}
