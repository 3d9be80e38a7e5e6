//! RTP header extension blocks (RFC 8285): the one-byte (`0xBEDE`) and two-byte (`0x100X`)
//! forms, iteration over their elements, lookup by id, and a writer.

use super::{Error, ExtensionValue};
use crate::wire::Writer;

/// RFC 8285 §4.2: the "defined by profile" value of a one-byte-header extension block.
pub const ONE_BYTE_PROFILE: u16 = 0xbede;
/// RFC 8285 §4.3: two-byte-header blocks use `0x100` in the top 12 bits, then 4 app bits.
pub const TWO_BYTE_PROFILE: u16 = 0x1000;
const TWO_BYTE_MASK: u16 = 0xfff0;
/// RFC 8285 §4.2: the largest element a one-byte header can carry (L = 15).
pub const ONE_BYTE_MAX_LEN: usize = 16;
/// RFC 8285 §4.2: id 15 is reserved; ids 1..=14 are usable in the one-byte form.
pub const ONE_BYTE_MAX_ID: u8 = 14;
const ONE_BYTE_STOP_ID: u8 = 15;

/// Which RFC 8285 element layout a header extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionForm {
    /// One-byte headers: 4-bit id (1..=14), 4-bit length minus one (1..=16 bytes of data).
    OneByte,
    /// Two-byte headers: 8-bit id (1..=255), 8-bit length (0..=255); the low 4 bits of the
    /// profile ("appbits") are application-defined and carried through.
    TwoByte {
        /// RFC 8285 §4.3: the 4 application-dependent bits of the profile field.
        appbits: u8,
    },
}

impl ExtensionForm {
    /// The form a block's 16-bit profile field names, or `None` for a non-RFC 8285 extension.
    pub fn from_profile(profile: u16) -> Option<Self> {
        if profile == ONE_BYTE_PROFILE {
            Some(Self::OneByte)
        } else if profile & TWO_BYTE_MASK == TWO_BYTE_PROFILE {
            Some(Self::TwoByte {
                appbits: (profile & 0x0f) as u8,
            })
        } else {
            None
        }
    }

    /// The profile field that announces this form.
    pub fn profile(self) -> u16 {
        match self {
            Self::OneByte => ONE_BYTE_PROFILE,
            Self::TwoByte { appbits } => TWO_BYTE_PROFILE | u16::from(appbits & 0x0f),
        }
    }

    /// Bytes of element header (1 or 2).
    fn header_len(self) -> usize {
        match self {
            Self::OneByte => 1,
            Self::TwoByte { .. } => 2,
        }
    }

    /// Whether an element with this id and data length can be written in this form.
    pub fn fits(self, id: u8, len: usize) -> bool {
        match self {
            // RFC 8285 §4.2: id 0 is padding and 15 reserved; L=0 means one byte, so an
            // empty value cannot be carried.
            Self::OneByte => {
                (1..=ONE_BYTE_MAX_ID).contains(&id) && (1..=ONE_BYTE_MAX_LEN).contains(&len)
            }
            // RFC 8285 §4.3: id 0 is padding; the length is 0..=255 bytes.
            Self::TwoByte { .. } => id != 0 && len <= 255,
        }
    }

    /// The one-byte form when every element fits it (it is smaller and every receiver
    /// supports it), else the two-byte form. `None` when some element fits neither.
    pub fn choose(mut elements: impl Iterator<Item = (u8, usize)>) -> Option<Self> {
        let mut form = Self::OneByte;
        elements.try_for_each(|(id, len)| {
            if form == Self::OneByte && !form.fits(id, len) {
                form = Self::TwoByte { appbits: 0 };
            }
            form.fits(id, len).then_some(())
        })?;
        Some(form)
    }
}

/// One header extension element: its local id (mapped to a meaning by the SDP `extmap`) and
/// its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The local identifier.
    pub id: u8,
    /// The element's data.
    pub data: &'a [u8],
}

/// Where the next element sits in a block: `(id, data start, data len, next position)`.
/// Returns `None` at the end or on a malformed element: RFC 8285 gives no way to resync.
pub(crate) fn next_element(
    form: ExtensionForm,
    data: &[u8],
    mut pos: usize,
) -> Option<(u8, usize, usize, usize)> {
    loop {
        let first = *data.get(pos)?;
        match form {
            ExtensionForm::OneByte => {
                let id = first >> 4;
                if id == 0 {
                    // RFC 8285 §4.2: a zero byte is padding; skip it.
                    pos += 1;
                    continue;
                }
                if id == ONE_BYTE_STOP_ID {
                    // RFC 8285 §4.2: on id 15, processing of the block MUST terminate.
                    return None;
                }
                let len = usize::from(first & 0x0f) + 1;
                let start = pos + 1;
                return (start + len <= data.len()).then_some((id, start, len, start + len));
            }
            ExtensionForm::TwoByte { .. } => {
                if first == 0 {
                    // RFC 8285 §4.3: padding bytes are zero and are skipped.
                    pos += 1;
                    continue;
                }
                let len = usize::from(*data.get(pos + 1)?);
                let start = pos + 2;
                return (start + len <= data.len()).then_some((first, start, len, start + len));
            }
        }
    }
}

/// The range of the first element with `id` in a block's data.
pub(crate) fn find(form: ExtensionForm, data: &[u8], id: u8) -> Option<std::ops::Range<usize>> {
    let mut pos = 0;
    while let Some((eid, start, len, next)) = next_element(form, data, pos) {
        if eid == id {
            return Some(start..start + len);
        }
        pos = next;
    }
    None
}

/// The data of the first element with `id` in a one-byte block's data: [`find`]'s rules
/// (padding skipped, id 15 ends the block, an overrunning element ends it) as one loop over
/// what is left of the block, with no form to match and no offsets to check per element.
#[inline]
pub(crate) fn find_one_byte(data: &[u8], id: u8) -> Option<&[u8]> {
    let mut rest = data;
    while let [first, tail @ ..] = rest {
        let eid = first >> 4;
        if eid == 0 {
            // RFC 8285 §4.2: a zero byte is padding; skip it.
            rest = tail;
            continue;
        }
        if eid == ONE_BYTE_STOP_ID {
            return None;
        }
        let (value, next) = tail.split_at_checked(usize::from(first & 0x0f) + 1)?;
        if eid == id {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// An iterator over the elements of a header extension block. It ends at the end of the
/// block, at id 15 in the one-byte form, or at the first element that overruns the block.
#[derive(Debug, Clone)]
pub struct Extensions<'a> {
    form: Option<ExtensionForm>,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Extensions<'a> {
    /// Elements of a block with `profile` whose data (after the 4-byte block header) is `data`.
    /// A profile that is not RFC 8285 yields nothing.
    pub fn new(profile: u16, data: &'a [u8]) -> Self {
        Self {
            form: ExtensionForm::from_profile(profile),
            data,
            pos: 0,
        }
    }

    /// An iterator that yields nothing (a packet without an extension block).
    pub fn empty() -> Self {
        Self {
            form: None,
            data: &[],
            pos: 0,
        }
    }

    /// The form of the block, if it is an RFC 8285 block.
    pub fn form(&self) -> Option<ExtensionForm> {
        self.form
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Extension<'a>;

    fn next(&mut self) -> Option<Extension<'a>> {
        let form = self.form?;
        match next_element(form, self.data, self.pos) {
            Some((id, start, len, next)) => {
                self.pos = next;
                Some(Extension {
                    id,
                    data: &self.data[start..start + len],
                })
            }
            None => {
                self.form = None;
                None
            }
        }
    }
}

impl std::iter::FusedIterator for Extensions<'_> {}

/// Bytes a block with these `(id, data length)` elements takes in `form`, including the
/// 4-byte block header and the zero padding to a 32-bit boundary (RFC 3550 §5.3.1).
pub fn block_len(form: ExtensionForm, elements: impl Iterator<Item = usize>) -> usize {
    let body: usize = elements.map(|len| form.header_len() + len).sum();
    4 + body.next_multiple_of(4)
}

/// Writes a header extension block (profile, length in words, elements, zero padding).
pub(crate) fn write_block(
    w: &mut Writer<'_>,
    form: ExtensionForm,
    elements: &[(u8, ExtensionValue<'_>)],
) -> Result<(), Error> {
    let total = block_len(form, elements.iter().map(|(_, v)| v.len()));
    let words =
        u16::try_from((total - 4) / 4).map_err(|_| Error::TooLarge("header extension block"))?;
    w.u16(form.profile())?;
    w.u16(words)?;
    let start = w.position();
    for (id, value) in elements {
        let len = value.len();
        if !form.fits(*id, len) {
            return Err(Error::TooLarge("header extension element"));
        }
        match form {
            ExtensionForm::OneByte => w.u8((id << 4) | (len - 1) as u8)?,
            ExtensionForm::TwoByte { .. } => {
                w.u8(*id)?;
                w.u8(len as u8)?;
            }
        }
        value.write(w.reserve(len)?)?;
    }
    let body = w.position() - start;
    w.zeros(body.next_multiple_of(4) - body)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_padding_is_skipped_and_id_15_stops() {
        // id 1 len 1, a padding byte, id 2 len 2, id 15, then bytes that must be ignored.
        let data = [0x10, 0xaa, 0x00, 0x21, 0xbb, 0xcc, 0xf0, 0x30, 0x01];
        let got: Vec<_> = Extensions::new(ONE_BYTE_PROFILE, &data).collect();
        assert_eq!(
            got,
            [
                Extension {
                    id: 1,
                    data: &[0xaa]
                },
                Extension {
                    id: 2,
                    data: &[0xbb, 0xcc]
                }
            ]
        );
    }

    #[test]
    fn an_element_overrunning_the_block_ends_iteration() {
        let data = [0x10, 0xaa, 0x23, 0x01];
        assert_eq!(Extensions::new(ONE_BYTE_PROFILE, &data).count(), 1);
        let data = [0x05, 0x09, 0x01];
        assert_eq!(Extensions::new(0x1000, &data).count(), 0);
    }

    #[test]
    fn form_choice_prefers_one_byte() {
        assert_eq!(
            ExtensionForm::choose([(1, 1), (14, 16)].into_iter()),
            Some(ExtensionForm::OneByte)
        );
        assert_eq!(
            ExtensionForm::choose([(1, 1), (15, 3)].into_iter()),
            Some(ExtensionForm::TwoByte { appbits: 0 })
        );
        assert_eq!(
            ExtensionForm::choose([(1, 0)].into_iter()),
            Some(ExtensionForm::TwoByte { appbits: 0 })
        );
        assert_eq!(ExtensionForm::choose([(0, 1)].into_iter()), None);
        assert_eq!(
            ExtensionForm::from_profile(0x100f),
            Some(ExtensionForm::TwoByte { appbits: 15 })
        );
        assert_eq!(ExtensionForm::from_profile(0x1234), None);
    }
}
