//! Which peer a connectivity check is for: the ufrag in its USERNAME (RFC 8445 §7.2.2).

/// The local ufrag a STUN Binding request is addressed to: the USERNAME value up to its colon
/// (RFC 8445 §7.2.2). `None` for anything else (responses, indications, DTLS, a request
/// without USERNAME or with attributes that overrun the datagram), which goes by address.
pub(super) fn request_ufrag(d: &[u8]) -> Option<&[u8]> {
    const HEADER: usize = 20;
    const USERNAME: u16 = 0x0006;
    const BINDING_REQUEST: u16 = 0x0001;
    if !crate::stun::is_stun(d) || u16::from_be_bytes([d[0], d[1]]) != BINDING_REQUEST {
        return None;
    }
    let end = HEADER + usize::from(u16::from_be_bytes([d[2], d[3]]));
    let body = d.get(HEADER..end)?;
    let mut rest = body;
    // Each step consumes at least 4 bytes, so this ends within len / 4 steps; USERNAME is the
    // first attribute in every ICE stack we know.
    while let [t0, t1, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let value = tail.get(..len)?;
        if u16::from_be_bytes([*t0, *t1]) == USERNAME {
            let ufrag = value.split(|&b| b == b':').next().unwrap_or(value);
            return Some(ufrag);
        }
        rest = tail.get(len.next_multiple_of(4)..).unwrap_or(&[]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(attrs: &[(u16, &[u8])], class_method: u16) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(v.len() as u16).to_be_bytes());
            body.extend_from_slice(v);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
        }
        let mut m = class_method.to_be_bytes().to_vec();
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&crate::stun::MAGIC_COOKIE.to_be_bytes());
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn the_ufrag_is_the_username_up_to_its_colon_rfc8445_section_7_2_2() {
        let m = request(&[(0x0024, &[0; 4]), (0x0006, b"srv1:cli9")], 0x0001);
        assert_eq!(request_ufrag(&m), Some(&b"srv1"[..]));
        let m = request(&[(0x0006, b"nocolon")], 0x0001);
        assert_eq!(request_ufrag(&m), Some(&b"nocolon"[..]));
    }

    #[test]
    fn responses_indications_and_requests_without_username_go_by_address() {
        assert_eq!(request_ufrag(&request(&[(6, b"a:b")], 0x0101)), None);
        assert_eq!(request_ufrag(&request(&[(6, b"a:b")], 0x0011)), None);
        assert_eq!(request_ufrag(&request(&[(0x24, &[0; 4])], 0x0001)), None);
        assert_eq!(request_ufrag(&[22, 0xfe, 0xfd]), None);
    }

    #[test]
    fn an_attribute_that_overruns_the_message_is_not_read() {
        let mut m = request(&[(0x0006, b"srv1:cli9")], 0x0001);
        m[22..24].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(request_ufrag(&m), None);
        // A header length past the datagram.
        let mut m = request(&[(0x0006, b"srv1:cli9")], 0x0001);
        m[2..4].copy_from_slice(&400u16.to_be_bytes());
        assert_eq!(request_ufrag(&m), None);
    }
}
