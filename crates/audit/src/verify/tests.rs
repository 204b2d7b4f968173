//! Unit tests of the verifier: the quick event path against the full parser, line parsing,
//! hex decoding and the failures named for altered bundles.

use std::borrow::Cow;

use uuid::Uuid;

use super::parse::{decode_hash, parse_line, quick_event};
use super::*;
use crate::record::RecordActor;

fn full() -> Record<'static> {
    let mut r = Record {
        seq: 0,
        id: Uuid::from_u128(7),
        time: -1_700_000_000_123,
        actor: RecordActor {
            user: Some("al\"ice\\ é 😀".into()),
            token: Some(Uuid::from_u128(9)),
            ip: Some("::1".into()),
            user_agent: Some("curl/8\n\t\u{1}".into()),
        },
        action: "grant.revoke".into(),
        target: Some("grant:1".into()),
        outcome: "success".into(),
        reason: Some(String::new().into()),
        resource: Some("pg-prod".into()),
        request_id: Some(Uuid::from_u128(3)),
        grant_id: Some(Uuid::from_u128(1)),
        risk: Some(u32::MAX),
        details: [
            ("ro\"le".into(), "app_read".into()),
            ("b".into(), "".into()),
        ]
        .into_iter()
        .collect(),
        prev_hash: Digest::GENESIS,
        hash: Digest::GENESIS,
    };
    r.seal_after(41, Digest([0xa5; 32]));
    r
}

fn bare() -> Record<'static> {
    let mut r = full();
    r.actor = RecordActor::default();
    r.target = None;
    r.reason = None;
    r.resource = None;
    r.request_id = None;
    r.grant_id = None;
    r.risk = None;
    r.details.clear();
    r.seal_after(41, Digest([0xa5; 32]));
    r
}

fn line_of(r: Record<'_>) -> String {
    serde_json::to_string(&Line::Event(r)).unwrap()
}

/// If the quick path reads `text`, `Line` reads the same record from it.
fn agrees(text: &str) -> bool {
    let Some(quick) = quick_event(text) else {
        return false;
    };
    match serde_json::from_str::<Line<'_>>(text) {
        Ok(Line::Event(reference)) => assert_eq!(quick, reference, "{text}"),
        other => panic!("the quick path read {text}, serde gives {other:?}"),
    }
    true
}

#[test]
fn the_quick_path_reads_what_the_server_writes() {
    let mut plain = full();
    plain.actor.user = Some("alice é 😀".into());
    plain.actor.user_agent = Some("curl/8".into());
    plain.details = [("role".into(), "app_read".into())].into_iter().collect();
    plain.seal_after(41, plain.prev_hash);
    for r in [plain, bare()] {
        assert!(agrees(&line_of(r)));
    }
    let mut extreme = bare();
    extreme.seq = u64::MAX;
    extreme.time = i64::MIN;
    extreme.risk = Some(u32::MAX);
    assert!(agrees(&line_of(extreme.clone())));
    extreme.time = i64::MAX;
    assert!(agrees(&line_of(extreme)));
    // Escapes go to serde.
    assert!(quick_event(&line_of(full())).is_none());
}

#[test]
fn the_quick_path_declines_what_serde_reads_differently() {
    let line = line_of(bare());
    let cases = [
        line.replace("\"seq\":42", "\"seq\":042"),
        line.replace("\"seq\":42", "\"seq\":42.0"),
        line.replace("\"seq\":42", "\"seq\":4e1"),
        line.replace("\"seq\":42", "\"seq\":-42"),
        line.replace("\"seq\":42", "\"seq\":18446744073709551616"),
        line.replace("\"time\":-1700000000123", "\"time\":-0"),
        line.replace("\"time\":-1700000000123", "\"time\":-9223372036854775809"),
        line.replace("\"time\":-1700000000123", "\"time\":9223372036854775808"),
        line.replace("\"action\"", "\"act\\u0069on\""),
        line.replace(",\"outcome\"", ", \"outcome\""),
        line.replace(",\"outcome\"", ",\"reason\":null,\"outcome\""),
        line.replace(",\"outcome\"", ",\"extra\":1,\"outcome\""),
        line.replace(",\"outcome\"", ",\"action\":\"x\",\"outcome\""),
        line.replace(
            ",\"outcome\"",
            ",\"details\":{\"a\":\"1\",\"a\":\"2\"},\"outcome\"",
        ),
        line.replace(",\"outcome\"", ",\"risk\":4294967296,\"outcome\""),
        format!("{line} "),
    ];
    for case in &cases {
        assert_ne!(case, &line);
        assert!(quick_event(case).is_none(), "{case}");
    }
}

#[test]
fn the_quick_path_agrees_with_serde_on_mutated_lines() {
    let mut r = full();
    r.actor.user = Some("alice".into());
    r.actor.user_agent = Some("curl/8".into());
    r.details = [("role".into(), "app_read".into()), ("b".into(), "".into())]
        .into_iter()
        .collect();
    r.seal_after(41, r.prev_hash);
    let mut lines = vec![line_of(r), line_of(bare())];
    lines.push(lines[1].replace("-1700000000123", "0"));
    let bytes: &[u8] = b"\"\\{}[],: 0179-+.eEaAfFgnul\x01\x7f";
    let mut accepted = 0;
    for line in &lines {
        let original = line.as_bytes();
        for at in 0..original.len() {
            let mut variants = Vec::new();
            for &b in bytes {
                let mut v = original.to_vec();
                v[at] = b;
                variants.push(v.clone());
                v.insert(at, b);
                variants.push(v);
            }
            let mut removed = original.to_vec();
            removed.remove(at);
            variants.push(removed);
            for variant in variants {
                if let Ok(text) = std::str::from_utf8(&variant) {
                    accepted += usize::from(agrees(text));
                }
            }
        }
    }
    // Some mutations stay valid (another digit, another letter in a text).
    assert!(accepted > 1_000, "{accepted}");
}

#[test]
fn text_without_escapes_is_borrowed() {
    let mut r = full();
    r.actor.user = Some("alice".into());
    r.actor.user_agent = Some("curl/8".into());
    r.details = [("role".into(), "app_read".into())].into_iter().collect();
    r.seal_after(41, r.prev_hash);
    let text = serde_json::to_string(&Line::Event(r)).unwrap();
    let Some(r) = quick_event(&text) else {
        panic!("{text}")
    };
    let borrowed = |c: &Option<Cow<'_, str>>| matches!(c, Some(Cow::Borrowed(_)));
    assert!(borrowed(&r.actor.user) && borrowed(&r.actor.ip) && borrowed(&r.actor.user_agent));
    assert!(borrowed(&r.target) && borrowed(&r.reason) && borrowed(&r.resource));
    assert!(matches!(r.action, Cow::Borrowed(_)) && matches!(r.outcome, Cow::Borrowed(_)));
    assert!(
        r.details
            .iter()
            .all(|(k, v)| matches!((k, v), (Cow::Borrowed(_), Cow::Borrowed(_))))
    );
    assert!(r.is_intact());
}

#[test]
fn hash_decoding_matches_digest_from_hex() {
    let base = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789";
    assert_eq!(
        decode_hash(base.as_bytes()).map(Digest),
        Digest::from_hex(base).ok()
    );
    for byte in 0..=255u8 {
        for at in [0, 1, 63] {
            let mut text = base.as_bytes().to_vec();
            text[at] = byte;
            let reference = std::str::from_utf8(&text)
                .ok()
                .and_then(|t| Digest::from_hex(t).ok());
            assert_eq!(decode_hash(&text).map(Digest), reference, "{byte} at {at}");
        }
    }
    assert_eq!(decode_hash(&base.as_bytes()[1..]), None);
    assert_eq!(decode_hash(b""), None);
}

#[test]
fn lines_that_are_not_text_or_are_cut_say_so() {
    let text = serde_json::to_string(&Line::Event(full())).unwrap();
    // Cut inside the 4-byte emoji: a cut when it is the unterminated last line.
    let at = text.find('😀').unwrap() + 2;
    let cut = &text.as_bytes()[..at];
    assert!(matches!(
        parse_line(3, cut, false),
        Err(Failure::Truncated { line: 3, .. })
    ));
    assert!(matches!(
        parse_line(3, cut, true),
        Err(Failure::Malformed { line: 3, .. })
    ));
    let mut bad = text.into_bytes();
    bad[at - 2] = 0xff;
    assert!(matches!(
        parse_line(3, &bad, false),
        Err(Failure::Malformed { line: 3, .. })
    ));
}
