//! Malformed descriptions give a typed error naming the line, limits are enforced, and what
//! is merely unusual (LF endings, blank lines, unknown attributes, extra spaces) is accepted.

use kaon::sdp::{
    Attribute, Error, ErrorKind, MAX_ATTRIBUTES, MAX_LINE_LEN, MAX_LINES, MAX_MEDIA, MAX_SDP_LEN,
    SessionDescription,
};

const HEAD: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

fn err(text: &str) -> Error {
    SessionDescription::parse(text).expect_err("should be refused")
}

fn with(lines: &str) -> String {
    format!("{HEAD}{lines}")
}

#[test]
fn minimal_description_parses_and_writes_back() {
    let sdp = SessionDescription::parse(HEAD).unwrap();
    assert!(sdp.media.is_empty() && sdp.attributes.is_empty());
    assert_eq!(sdp.to_string(), HEAD);
}

#[test]
fn description_without_v_is_refused_at_line_one() {
    assert_eq!(
        err("o=- 1 2 IN IP4 127.0.0.1\r\n"),
        Error {
            line: 1,
            kind: ErrorKind::MissingVersion
        }
    );
    assert_eq!(err("").kind, ErrorKind::MissingVersion);
    assert_eq!(
        err("v=1\r\n").kind,
        ErrorKind::UnsupportedVersion("1".into())
    );
}

#[test]
fn missing_required_lines_are_named() {
    assert_eq!(err("v=0\r\ns=-\r\nt=0 0\r\n").kind, ErrorKind::Missing('o'));
    assert_eq!(
        err("v=0\r\no=- 1 2 IN IP4 ::1\r\nt=0 0\r\n").kind,
        ErrorKind::Missing('s')
    );
    assert_eq!(
        err("v=0\r\no=- 1 2 IN IP4 ::1\r\ns=-\r\n").kind,
        ErrorKind::Missing('t')
    );
}

#[test]
fn bad_m_lines_are_refused_with_their_line_number() {
    let e = err(&with("m=audio 9\r\n"));
    assert_eq!(e.line, 5);
    assert!(matches!(e.kind, ErrorKind::BadMedia(_)));
    assert_eq!(
        err(&with("m=audio 70000 RTP/AVP 0\r\n")).kind,
        ErrorKind::BadMedia("bad port")
    );
    assert_eq!(
        err(&with("m=audio -1 RTP/AVP 0\r\n")).kind,
        ErrorKind::BadMedia("bad port")
    );
    assert_eq!(
        err(&with("m=audio 9/x RTP/AVP 0\r\n")).kind,
        ErrorKind::BadMedia("bad port count")
    );
}

#[test]
fn malformed_session_lines_are_typed() {
    assert_eq!(
        err("v=0\r\no=- x 2 IN IP4 ::1\r\n").kind,
        ErrorKind::BadOrigin
    );
    assert_eq!(err(&with("c=IN IP4\r\n")).kind, ErrorKind::BadConnection);
    assert_eq!(err(&with("b=AS\r\n")).kind, ErrorKind::BadBandwidth);
    assert_eq!(err(&with("t=now 0\r\n")).kind, ErrorKind::BadTiming);
    assert_eq!(err(&with("x=1\r\n")).kind, ErrorKind::UnknownLineType('x'));
    assert_eq!(err(&with("hello\r\n")).kind, ErrorKind::MalformedLine);
    assert_eq!(err(&with(" a=mid:0\r\n")).kind, ErrorKind::MalformedLine);
    assert_eq!(err(&with("s=again\r\n")).kind, ErrorKind::Duplicate('s'));
    assert_eq!(err("v=0\r\nr=1d 1h 0\r\n").kind, ErrorKind::Misplaced('r'));
    assert_eq!(err(&with("v=0\r\n")).kind, ErrorKind::Misplaced('v'));
    let e = err(&with("m=audio 9 RTP/AVP 0\r\nt=0 0\r\n"));
    assert_eq!((e.line, e.kind), (6, ErrorKind::Misplaced('t')));
    assert_eq!(
        err(&with(
            "m=audio 9 RTP/AVP 0\r\nc=IN IP4 ::1\r\nc=IN IP4 ::1\r\n"
        ))
        .kind,
        ErrorKind::Duplicate('c')
    );
}

#[test]
fn malformed_known_attributes_are_refused_not_guessed() {
    for (line, name) in [
        ("a=sctp-port:x", "sctp-port"),
        ("a=max-message-size:-1", "max-message-size"),
        ("a=fingerprint:sha-256 ZZ:00", "fingerprint"),
        ("a=fingerprint:sha-256", "fingerprint"),
        ("a=setup:sometimes", "setup"),
        ("a=mid", "mid"),
        ("a=mid:", "mid"),
        ("a=rtpmap:96 VP8", "rtpmap"),
        ("a=rtpmap:300 VP8/90000", "rtpmap"),
        ("a=extmap:1/sideways urn:x", "extmap"),
        ("a=ssrc:12", "ssrc"),
        ("a=ssrc-group:FID 1 x", "ssrc-group"),
        ("a=msid:a b c", "msid"),
        ("a=rid:h both", "rid"),
        ("a=simulcast:send h;;l", "simulcast"),
        ("a=simulcast:send h send l", "simulcast"),
        ("a=rtcp-mux:yes", "rtcp-mux"),
        ("a=sendrecv:1", "sendrecv"),
    ] {
        let e = err(&with(&format!("m=audio 9 RTP/AVP 0\r\n{line}\r\n")));
        assert_eq!(e.line, 6, "{line}");
        match e.kind {
            ErrorKind::BadAttribute { name: n, .. } => assert_eq!(n, name, "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }
    assert_eq!(err(&with("a=\r\n")).kind, ErrorKind::BadAttributeName);
    assert_eq!(
        err(&with("a=na me:1\r\n")).kind,
        ErrorKind::BadAttributeName
    );
}

#[test]
fn unknown_attributes_are_kept_in_place_and_written_back() {
    let text = with("a=x-google-flag:conference\r\na=ice-lite\r\na=bare\r\na=empty:\r\n");
    let sdp = SessionDescription::parse(&text).unwrap();
    assert_eq!(
        sdp.attributes,
        [
            Attribute::Unknown {
                name: "x-google-flag".into(),
                value: Some("conference".into())
            },
            Attribute::IceLite,
            Attribute::Unknown {
                name: "bare".into(),
                value: None
            },
            Attribute::Unknown {
                name: "empty".into(),
                value: Some(String::new())
            },
        ]
    );
    assert_eq!(sdp.to_string(), text);
}

#[test]
fn lf_endings_blank_lines_and_extra_spaces_are_tolerated() {
    let text = "v=0\no=-  1 2 IN IP4 127.0.0.1\n\ns=-\nt=0 0 \nm=audio 9  RTP/AVP 0 8\na=group:BUNDLE  0 1 \na=mid:0 \n";
    let sdp = SessionDescription::parse(text).unwrap();
    assert_eq!(sdp.media[0].formats, ["0", "8"]);
    assert_eq!(sdp.media[0].mid(), Some("0"));
    let canonical = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8\r\na=group:BUNDLE 0 1\r\na=mid:0\r\n";
    assert_eq!(sdp.to_string(), canonical);
}

#[test]
fn free_text_keeps_its_whitespace() {
    let text = with("a=candidate:1 1 udp 1 192.0.2.1 9 typ host \r\na=x: spaced \r\n");
    let sdp = SessionDescription::parse(&text).unwrap();
    assert_eq!(
        sdp.attributes[0],
        Attribute::Candidate("1 1 udp 1 192.0.2.1 9 typ host ".into())
    );
    assert_eq!(sdp.to_string(), text);
}

#[test]
fn session_lines_in_any_order_are_written_in_rfc_order() {
    let text =
        "v=0\r\nt=0 0\r\na=ice-lite\r\ns=-\r\nc=IN IP4 0.0.0.0\r\no=- 1 2 IN IP4 0.0.0.0\r\n";
    let sdp = SessionDescription::parse(text).unwrap();
    let canonical =
        "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=ice-lite\r\n";
    assert_eq!(sdp.to_string(), canonical);
}

#[test]
fn oversized_inputs_are_refused_before_they_cost_memory() {
    let long = format!("{HEAD}{}", "a=x\r\n".repeat(MAX_SDP_LEN / 5));
    assert_eq!(err(&long).kind, ErrorKind::TooLong);
    let line = with(&format!("a=x:{}\r\n", "y".repeat(MAX_LINE_LEN)));
    assert_eq!(
        err(&line),
        Error {
            line: 5,
            kind: ErrorKind::LineTooLong
        }
    );
    let lines = format!("{HEAD}{}", "\n".repeat(MAX_LINES));
    assert_eq!(err(&lines).kind, ErrorKind::TooManyLines);
    let media = with(&"m=audio 0 RTP/AVP 0\r\n".repeat(MAX_MEDIA + 1));
    assert_eq!(
        err(&media),
        Error {
            line: 5 + MAX_MEDIA,
            kind: ErrorKind::TooManyMedia
        }
    );
    let attrs = with(&"a=x\r\n".repeat(MAX_ATTRIBUTES + 1));
    assert_eq!(err(&attrs).kind, ErrorKind::TooManyAttributes);
    let at_limit = with(&"a=x\r\n".repeat(MAX_ATTRIBUTES));
    assert_eq!(
        SessionDescription::parse(&at_limit)
            .unwrap()
            .attributes
            .len(),
        MAX_ATTRIBUTES
    );
}

#[test]
fn errors_say_where_and_what() {
    let e = err(&with("a=sctp-port:x\r\n"));
    assert_eq!(e.to_string(), "SDP line 5: malformed a=sctp-port: bad port");
    let top: kaon::Error = e.into();
    assert!(matches!(top, kaon::Error::Sdp(_)));
}

#[test]
fn single_attributes_parse_for_trickle() {
    let a = Attribute::parse("candidate:1 1 udp 2122194687 192.0.2.2 50664 typ host").unwrap();
    assert_eq!(
        a,
        Attribute::Candidate("1 1 udp 2122194687 192.0.2.2 50664 typ host".into())
    );
    assert_eq!(
        Attribute::parse("end-of-candidates").unwrap(),
        Attribute::EndOfCandidates
    );
    assert_eq!(Attribute::parse("mid:").unwrap_err().line, 1);
}
