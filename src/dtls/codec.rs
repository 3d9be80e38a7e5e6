//! Small helpers for writing TLS structures into a `Vec<u8>`: length-prefixed blocks whose
//! length is patched in afterwards, with overflow reported instead of truncated. Reading uses
//! [`crate::wire::Reader`] directly.

use super::Error;
use crate::dtls::error::DecodeError;
use crate::wire::Reader;

/// Appends a block prefixed by its length in `len_bytes` bytes (1, 2 or 3), filled by `body`.
pub(crate) fn block<F>(out: &mut Vec<u8>, len_bytes: usize, body: F) -> Result<(), Error>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), Error>,
{
    let at = out.len();
    out.resize(at + len_bytes, 0);
    body(out)?;
    let len = out.len() - at - len_bytes;
    if len >= 1 << (8 * len_bytes) {
        return Err(Error::Decode(DecodeError::Malformed(
            "block too long to encode",
        )));
    }
    let be = (len as u32).to_be_bytes();
    out[at..at + len_bytes].copy_from_slice(&be[4 - len_bytes..]);
    Ok(())
}

/// Appends `data` prefixed by its length in `len_bytes` bytes.
pub(crate) fn bytes(out: &mut Vec<u8>, len_bytes: usize, data: &[u8]) -> Result<(), Error> {
    block(out, len_bytes, |o| {
        o.extend_from_slice(data);
        Ok(())
    })
}

pub(crate) fn u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Reads a block prefixed by a 1-, 2- or 3-byte length.
pub(crate) fn read_block<'a>(r: &mut Reader<'a>, len_bytes: usize) -> Result<Reader<'a>, Error> {
    let len = match len_bytes {
        1 => usize::from(r.u8()?),
        2 => usize::from(r.u16()?),
        _ => r.u24()? as usize,
    };
    Ok(r.sub(len)?)
}

/// Reads a list of u16 values prefixed by a 2-byte length that must be even.
pub(crate) fn read_u16_list<T>(r: &mut Reader<'_>, f: impl Fn(u16) -> T) -> Result<Vec<T>, Error> {
    let mut list = read_block(r, 2)?;
    if list.remaining() % 2 != 0 {
        return Err(Error::Decode(DecodeError::Malformed("odd-length u16 list")));
    }
    let mut out = Vec::with_capacity(list.remaining() / 2);
    while !list.is_empty() {
        out.push(f(list.u16()?));
    }
    Ok(out)
}

/// Fails when a structure left bytes unread.
pub(crate) fn finish(r: &Reader<'_>, what: &'static str) -> Result<(), Error> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(Error::Decode(DecodeError::Malformed(what)))
    }
}
