//! Behaviour of the vault crate through its public API: envelopes (round trip, every way an
//! envelope must refuse to open, a pinned test vector), Shamir shares, generated passwords,
//! and that no Debug output shows secret material.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use warden_vault::envelope::{self, MIN_LEN};
use warden_vault::{
    Key, PasswordPolicy, Purpose, Share, VaultError, combine, envelope_key_id, generate, open,
    seal, split,
};

const ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const SECRET: &[u8] = b"pg-prod app_rw: Xq3.vT9_kLm2-Rz8";

fn key() -> Key {
    Key::generate().unwrap()
}

// --- envelopes ---

#[test]
fn seal_open_round_trip() {
    let key = key();
    let sealed = seal(&key, 9, Purpose::Secret, ID, 4, SECRET).unwrap();
    assert_eq!(sealed.len(), MIN_LEN + SECRET.len());
    assert_eq!(&sealed[..3], b"WV\x01");
    let opened = open(&key, Purpose::Secret, ID, 4, &sealed).unwrap();
    assert_eq!(opened.as_slice(), SECRET);
}

#[test]
fn empty_plaintext_round_trips() {
    let key = key();
    let sealed = seal(&key, 1, Purpose::DataKey, "k", 0, b"").unwrap();
    assert_eq!(sealed.len(), MIN_LEN);
    assert!(
        open(&key, Purpose::DataKey, "k", 0, &sealed)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn long_object_ids_round_trip() {
    let key = key();
    let id = "o".repeat(5_000);
    let sealed = seal(&key, 1, Purpose::Secret, &id, 1, SECRET).unwrap();
    assert_eq!(
        open(&key, Purpose::Secret, &id, 1, &sealed)
            .unwrap()
            .as_slice(),
        SECRET
    );
    assert!(matches!(
        open(&key, Purpose::Secret, &id[1..], 1, &sealed),
        Err(VaultError::Decrypt)
    ));
}

fn assert_decrypt_fails(result: Result<zeroize::Zeroizing<Vec<u8>>, VaultError>) {
    match result {
        Err(VaultError::Decrypt) => {}
        Err(other) => panic!("expected Decrypt, got {other:?}"),
        Ok(_) => panic!("expected Decrypt, the envelope opened"),
    }
}

#[test]
fn wrong_key_fails() {
    let sealed = seal(&key(), 1, Purpose::Secret, ID, 1, SECRET).unwrap();
    assert_decrypt_fails(open(&key(), Purpose::Secret, ID, 1, &sealed));
}

#[test]
fn other_object_id_fails() {
    let key = key();
    let sealed = seal(&key, 1, Purpose::Secret, ID, 1, SECRET).unwrap();
    assert_decrypt_fails(open(
        &key,
        Purpose::Secret,
        "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
        1,
        &sealed,
    ));
    assert_decrypt_fails(open(&key, Purpose::Secret, "", 1, &sealed));
}

#[test]
fn other_version_fails() {
    let key = key();
    let sealed = seal(&key, 1, Purpose::Secret, ID, 1, SECRET).unwrap();
    for version in [0, 2, u64::MAX, 1 << 32 | 1] {
        assert_decrypt_fails(open(&key, Purpose::Secret, ID, version, &sealed));
    }
}

#[test]
fn other_purpose_fails() {
    let key = key();
    for sealed_as in [Purpose::Secret, Purpose::DataKey, Purpose::RootKey] {
        let sealed = seal(&key, 1, sealed_as, ID, 1, SECRET).unwrap();
        for opened_as in [Purpose::Secret, Purpose::DataKey, Purpose::RootKey] {
            let result = open(&key, opened_as, ID, 1, &sealed);
            if sealed_as == opened_as {
                assert!(result.is_ok());
            } else {
                assert_decrypt_fails(result);
            }
        }
    }
}

#[test]
fn the_length_prefixes_keep_fields_apart() {
    // Without length prefixes, purpose "secret" + id "x" and a longer tag ending in "x"
    // could encode alike; here the id moves one byte between two fields and must fail.
    let key = key();
    let sealed = seal(&key, 1, Purpose::Secret, "ab", 1, SECRET).unwrap();
    assert_decrypt_fails(open(&key, Purpose::Secret, "a", 1, &sealed));
    assert_decrypt_fails(open(&key, Purpose::Secret, "abb", 1, &sealed));
}

#[test]
fn a_flipped_bit_anywhere_after_the_format_byte_fails() {
    let key = key();
    let sealed = seal(&key, 0x0102_0304, Purpose::Secret, ID, 7, SECRET).unwrap();
    let regions = [
        ("key id", 3..7),
        ("nonce", 7..31),
        ("ciphertext", 31..31 + SECRET.len()),
        ("tag", 31 + SECRET.len()..sealed.len()),
    ];
    for (name, range) in regions {
        for byte in range {
            for bit in [0, 3, 7] {
                let mut altered = sealed.clone();
                altered[byte] ^= 1 << bit;
                let result = open(&key, Purpose::Secret, ID, 7, &altered);
                assert!(
                    matches!(result, Err(VaultError::Decrypt)),
                    "{name}: byte {byte} bit {bit} gave {:?}",
                    result.map(|_| "an opened envelope")
                );
            }
        }
    }
}

#[test]
fn an_edited_key_id_is_read_but_does_not_open() {
    let key = key();
    let mut sealed = seal(&key, 5, Purpose::RootKey, "root", 1, &[1; 32]).unwrap();
    sealed[6] = 6;
    assert_eq!(envelope_key_id(&sealed).unwrap(), 6);
    assert_decrypt_fails(open(&key, Purpose::RootKey, "root", 1, &sealed));
}

#[test]
fn header_changes_are_named() {
    let key = key();
    let sealed = seal(&key, 1, Purpose::Secret, ID, 1, SECRET).unwrap();

    let mut magic = sealed.clone();
    magic[0] = b'X';
    assert!(matches!(
        open(&key, Purpose::Secret, ID, 1, &magic),
        Err(VaultError::EnvelopeMagic)
    ));
    let mut format = sealed.clone();
    format[2] = 2;
    assert!(matches!(
        open(&key, Purpose::Secret, ID, 1, &format),
        Err(VaultError::EnvelopeFormat(2))
    ));
    assert!(matches!(
        envelope_key_id(&format),
        Err(VaultError::EnvelopeFormat(2))
    ));
}

#[test]
fn truncated_envelopes_are_too_short() {
    let key = key();
    let sealed = seal(&key, 1, Purpose::Secret, ID, 1, b"").unwrap();
    for len in 0..sealed.len() {
        let err = open(&key, Purpose::Secret, ID, 1, &sealed[..len]).unwrap_err();
        assert!(
            matches!(err, VaultError::EnvelopeTooShort { len: l, min: 47 } if l == len),
            "{len}: {err:?}"
        );
        assert!(err.to_string().contains("too short"));
        assert!(envelope_key_id(&sealed[..len]).is_err());
    }
    // A longer envelope cut short of its tag no longer authenticates.
    let sealed = seal(&key, 1, Purpose::Secret, ID, 1, SECRET).unwrap();
    assert_decrypt_fails(open(
        &key,
        Purpose::Secret,
        ID,
        1,
        &sealed[..sealed.len() - 1],
    ));
}

#[test]
fn envelope_key_id_reads_the_header() {
    let key = key();
    for id in [0, 1, 0xdead_beef, u32::MAX] {
        let sealed = seal(&key, id, Purpose::DataKey, "dk", 1, &[0; 32]).unwrap();
        assert_eq!(envelope_key_id(&sealed).unwrap(), id);
    }
}

#[test]
fn two_seals_of_the_same_plaintext_differ() {
    let key = key();
    let a = seal(&key, 1, Purpose::Secret, ID, 1, SECRET).unwrap();
    let b = seal(&key, 1, Purpose::Secret, ID, 1, SECRET).unwrap();
    assert_ne!(a, b);
    assert_ne!(a[7..31], b[7..31], "nonces differ");
}

#[test]
fn the_decrypt_error_does_not_say_which_check_failed() {
    let message = VaultError::Decrypt.to_string();
    assert!(message.contains("could not be opened"), "{message}");
}

/// The pinned test vector: if this fails, the envelope format (or the AEAD) has changed and
/// envelopes already written would no longer open. The expected bytes were cross-checked
/// against libsodium's `crypto_aead_xchacha20poly1305_ietf_encrypt` with the same key,
/// nonce and associated data.
#[test]
fn pinned_test_vector() {
    let key = Key::from_bytes(std::array::from_fn(|i| u8::try_from(i).unwrap()));
    let nonce: [u8; 24] = std::array::from_fn(|i| 0x50 + u8::try_from(i).unwrap());
    let sealed = envelope::seal_with_nonce(
        &key,
        0x0000_0007,
        Purpose::Secret,
        ID,
        3,
        &nonce,
        b"correct horse battery staple",
    )
    .unwrap();
    assert_eq!(hex::encode(&sealed), PINNED);
    let opened = open(&key, Purpose::Secret, ID, 3, &sealed).unwrap();
    assert_eq!(opened.as_slice(), b"correct horse battery staple");
}

const PINNED: &str = concat!(
    "5756",                                                     // magic "WV"
    "01",                                                       // format 1
    "00000007",                                                 // key id 7
    "505152535455565758595a5b5c5d5e5f6061626364656667",         // nonce
    "cb6a62980a24e3f31b521c782ca0a5982fa7a122f036773da6970935", // ciphertext
    "a8302f0a4b51bfc518c23373c3ba204d",                         // tag
);

// --- keys ---

#[test]
fn key_text_round_trip_and_fingerprint() {
    let key = key();
    let text = key.to_text();
    let back = Key::from_text(text.expose_secret()).unwrap();
    assert_eq!(back.expose(), key.expose());
    assert_eq!(back.fingerprint(), key.fingerprint());
    let err = Key::from_text("vault-key:AAAA").unwrap_err();
    assert!(err.to_string().contains("warden-unseal-key-v1:"), "{err}");
}

// --- shares ---

const VAULT: &str = "prodvault01";

fn parse_all(texts: &[SecretString]) -> Vec<Share> {
    texts
        .iter()
        .map(|t| Share::parse(t.expose_secret()).unwrap())
        .collect()
}

#[test]
fn any_three_of_five_recombine() {
    let key = key();
    let texts = split(&key, 3, 5, VAULT).unwrap();
    assert_eq!(texts.len(), 5);
    let shares = parse_all(&texts);
    for (i, share) in shares.iter().enumerate() {
        assert_eq!(share.vault_id, VAULT);
        assert_eq!(share.threshold, 3);
        assert_eq!(usize::from(share.index), i + 1);
    }
    let mut combinations = 0;
    for a in 0..5 {
        for b in a + 1..5 {
            for c in b + 1..5 {
                let chosen = [shares[c].clone(), shares[a].clone(), shares[b].clone()];
                let back = combine(&chosen).unwrap();
                assert_eq!(back.expose(), key.expose(), "shares {a} {b} {c}");
                combinations += 1;
            }
        }
    }
    assert_eq!(combinations, 10);
    // More than the threshold works too.
    assert_eq!(combine(&shares).unwrap().expose(), key.expose());
}

#[test]
fn share_text_has_the_documented_form() {
    let texts = split(&key(), 2, 3, VAULT).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let text = text.expose_secret();
        let prefix = format!("wvs1-{VAULT}-2-{}-", i + 1);
        assert!(text.starts_with(&prefix), "{i}");
        let (signed, checksum) = text.rsplit_once('-').unwrap();
        assert_eq!(
            checksum,
            &hex::encode(Sha256::digest(signed.as_bytes()))[..8]
        );
        let data = &signed[prefix.len()..];
        assert_eq!(data.len(), 44);
        let bytes = URL_SAFE_NO_PAD.decode(data).unwrap();
        assert_eq!(bytes.len(), 33);
        assert_eq!(usize::from(bytes[0]), i + 1);
        // Surrounding whitespace and an upper-case checksum are accepted.
        let upper = format!("{signed}-{}", checksum.to_uppercase());
        assert!(Share::parse(&format!("  {upper}\n")).is_ok());
        assert_eq!(Share::parse(text).unwrap().to_text().expose_secret(), text);
    }
}

#[test]
fn two_of_three_need_one_more() {
    let texts = split(&key(), 3, 5, VAULT).unwrap();
    let shares = parse_all(&texts[..2]);
    let err = combine(&shares).unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::ShareTooFew {
                have: 2,
                threshold: 3,
                needed: 1
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("1 more share(s) needed"),
        "{err}"
    );
    assert!(matches!(combine(&[]), Err(VaultError::ShareNone)));
}

#[test]
fn a_typo_is_caught_by_the_checksum() {
    let texts = split(&key(), 3, 5, VAULT).unwrap();
    let text = texts[0].expose_secret();
    let data_start = format!("wvs1-{VAULT}-3-1-").len();
    // Every single-character substitution inside the data part, by another base64url
    // character, is caught.
    for pos in data_start..data_start + 44 {
        let original = text.as_bytes()[pos];
        let replacement = if original == b'A' { 'B' } else { 'A' };
        let mut typo = text.to_owned();
        typo.replace_range(pos..=pos, &replacement.to_string());
        let err = Share::parse(&typo).unwrap_err();
        assert!(matches!(err, VaultError::ShareChecksum), "{pos}: {err:?}");
        assert!(err.to_string().contains("mistyped"));
    }
    // Two adjacent characters swapped.
    let mut swapped = text.as_bytes().to_vec();
    let mut pos = data_start;
    while swapped[pos] == swapped[pos + 1] {
        pos += 1;
    }
    swapped.swap(pos, pos + 1);
    assert!(matches!(
        Share::parse(std::str::from_utf8(&swapped).unwrap()),
        Err(VaultError::ShareChecksum)
    ));
    // A dropped character.
    let mut dropped = text.to_owned();
    dropped.remove(data_start + 10);
    assert!(matches!(
        Share::parse(&dropped),
        Err(VaultError::ShareChecksum)
    ));
}

#[test]
fn malformed_shares_name_the_part() {
    let texts = split(&key(), 3, 5, VAULT).unwrap();
    let good = texts[0].expose_secret();
    let cases = [
        ("", "start with"),
        ("wvs2-prodvault01-3-1-AAAA-00000000", "format"),
        ("wvs1-prodvault01-3", "too few parts"),
        ("wvs1-PROD-3-1-AAAA-00000000", "vault id"),
        ("wvs1-prodvault01-x-1-AAAA-00000000", "threshold"),
        ("wvs1-prodvault01-3-0-AAAA-00000000", "index"),
        ("wvs1-prodvault01-3-1-AAAA-0000000", "checksum"),
        (&good.replacen("-3-1-", "-3-17-", 1), "index"),
    ];
    for (text, part) in cases {
        let err = Share::parse(text).unwrap_err();
        assert!(
            matches!(err, VaultError::ShareMalformed(_)),
            "{text}: {err:?}"
        );
        assert!(err.to_string().contains(part), "{text}: {err}");
    }
}

/// Rebuilds a share's text with `edit` applied to its decoded data bytes and the checksum
/// recomputed, as someone altering a share on purpose would.
fn rechecksummed(text: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let (signed, _) = text.rsplit_once('-').unwrap();
    let mut fields: Vec<&str> = signed.splitn(5, '-').collect();
    let mut data = URL_SAFE_NO_PAD.decode(fields[4]).unwrap();
    edit(&mut data);
    let encoded = URL_SAFE_NO_PAD.encode(&data);
    fields[4] = &encoded;
    let signed = fields.join("-");
    let checksum = &hex::encode(Sha256::digest(signed.as_bytes()))[..8];
    format!("{signed}-{checksum}")
}

#[test]
fn an_altered_rechecksummed_share_recombines_to_another_key() {
    let key = key();
    let texts = split(&key, 3, 5, VAULT).unwrap();
    let altered = rechecksummed(texts[1].expose_secret(), |data| data[5] ^= 0x01);
    let shares = vec![
        Share::parse(texts[0].expose_secret()).unwrap(),
        Share::parse(&altered).unwrap(),
        Share::parse(texts[2].expose_secret()).unwrap(),
    ];
    let other = combine(&shares).unwrap();
    assert_ne!(other.fingerprint(), key.fingerprint());
}

#[test]
fn a_rechecksummed_share_whose_data_disagrees_with_its_index_is_refused() {
    let texts = split(&key(), 3, 5, VAULT).unwrap();
    let altered = rechecksummed(texts[1].expose_secret(), |data| data[0] = 9);
    let err = Share::parse(&altered).unwrap_err();
    assert!(matches!(err, VaultError::ShareMalformed(_)), "{err:?}");
}

#[test]
fn shares_of_another_vault_are_refused() {
    let key = key();
    let ours = parse_all(&split(&key, 2, 3, VAULT).unwrap());
    let theirs = parse_all(&split(&key, 2, 3, "stagingvault").unwrap());
    let err = combine(&[ours[0].clone(), theirs[1].clone()]).unwrap_err();
    assert!(
        matches!(err, VaultError::ShareVaultMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("different vaults"));
}

#[test]
fn shares_of_another_split_are_refused() {
    let key = key();
    let a = parse_all(&split(&key, 2, 3, VAULT).unwrap());
    let b = parse_all(&split(&key, 3, 3, VAULT).unwrap());
    let err = combine(&[a[0].clone(), b[1].clone(), b[2].clone()]).unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::ShareThresholdMismatch { first: 2, other: 3 }
        ),
        "{err:?}"
    );
}

#[test]
fn a_duplicate_index_is_refused() {
    let shares = parse_all(&split(&key(), 3, 5, VAULT).unwrap());
    let err = combine(&[shares[0].clone(), shares[1].clone(), shares[0].clone()]).unwrap_err();
    assert!(
        matches!(err, VaultError::ShareDuplicate { index: 1 }),
        "{err:?}"
    );
    // The public index edited after parsing to dodge the duplicate check is caught too.
    let mut relabelled = shares[0].clone();
    relabelled.index = 4;
    let err = combine(&[shares[0].clone(), shares[1].clone(), relabelled]).unwrap_err();
    assert!(matches!(err, VaultError::ShareMalformed(_)), "{err:?}");
}

#[test]
fn split_parameters_are_checked() {
    let key = key();
    for (threshold, count, part) in [
        (4, 3, "greater than"),
        (0, 3, "at least 1"),
        (1, 0, "at least 1"),
        (2, 17, "at most 16"),
    ] {
        let err = split(&key, threshold, count, VAULT).unwrap_err();
        assert!(matches!(err, VaultError::SplitParams(_)), "{err:?}");
        assert!(err.to_string().contains(part), "{err}");
    }
    for bad in ["short", "Has-Caps-And-Dashes", &"a".repeat(33)] {
        assert!(matches!(
            split(&key, 2, 3, bad),
            Err(VaultError::VaultId { .. })
        ));
    }
    // The edges that are allowed.
    assert_eq!(split(&key, 1, 1, VAULT).unwrap().len(), 1);
    let all = parse_all(&split(&key, 16, 16, VAULT).unwrap());
    assert_eq!(combine(&all).unwrap().expose(), key.expose());
    let one = parse_all(&split(&key, 1, 3, VAULT).unwrap());
    assert_eq!(combine(&one[2..]).unwrap().expose(), key.expose());
}

// --- passwords ---

const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

#[test]
fn passwords_follow_the_policy() {
    for symbols in [true, false] {
        for length in [16, 17, 24, 64, 128] {
            let policy = PasswordPolicy { length, symbols };
            for _ in 0..50 {
                let password = generate(&policy).unwrap();
                let p = password.expose_secret();
                assert_eq!(p.len(), length);
                assert!(
                    p.chars()
                        .all(|c| ALPHABET.contains(c) || (symbols && "-_.~".contains(c))),
                    "{p}"
                );
                assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p}");
                assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
                assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
                assert_eq!(symbols, p.chars().any(|c| "-_.~".contains(c)), "{p}");
                assert!(!p.starts_with('-') && !p.starts_with('~'), "{p}");
            }
        }
    }
}

#[test]
fn a_thousand_passwords_are_distinct() {
    let policy = PasswordPolicy::default();
    assert_eq!(
        policy,
        PasswordPolicy {
            length: 24,
            symbols: true
        }
    );
    let all: HashSet<String> = (0..1_000)
        .map(|_| generate(&policy).unwrap().expose_secret().to_owned())
        .collect();
    assert_eq!(all.len(), 1_000);
}

#[test]
fn policy_bounds_are_refused() {
    for length in [0, 8, 15, 129, 1_000] {
        let policy = PasswordPolicy {
            length,
            symbols: true,
        };
        assert!(matches!(
            policy.check(),
            Err(VaultError::PasswordPolicy { .. })
        ));
        assert!(matches!(
            generate(&policy),
            Err(VaultError::PasswordPolicy { .. })
        ));
    }
    assert!(
        PasswordPolicy {
            length: 16,
            symbols: false
        }
        .check()
        .is_ok()
    );
    assert!(
        PasswordPolicy {
            length: 128,
            symbols: true
        }
        .check()
        .is_ok()
    );
}

// --- nothing secret in Debug ---

#[test]
fn debug_output_shows_no_secret() {
    let key = key();
    let forms = [
        hex::encode(key.expose()),
        hex::encode(key.expose()).to_uppercase(),
        STANDARD.encode(key.expose()),
        URL_SAFE_NO_PAD.encode(key.expose()),
        format!("{:?}", key.expose()),
    ];
    let key_debug = format!("{key:?} {key:#?}");
    let key_text = key.to_text();
    let text_debug = format!("{key_text:?}");
    for form in &forms {
        assert!(!key_debug.contains(form.as_str()), "{key_debug}");
        assert!(!text_debug.contains(form.as_str()), "{text_debug}");
    }
    assert!(key_debug.contains(&key.fingerprint()));

    let texts = split(&key, 2, 3, VAULT).unwrap();
    for text in &texts {
        let share = Share::parse(text.expose_secret()).unwrap();
        let share_debug = format!("{share:?} {share:#?} {text:?}");
        let (signed, _) = text.expose_secret().rsplit_once('-').unwrap();
        let data = &signed[format!("wvs1-{VAULT}-2-{}-", share.index).len()..];
        assert_eq!(data.len(), 44);
        assert!(!share_debug.contains(text.expose_secret()), "{share_debug}");
        assert!(!share_debug.contains(data), "{share_debug}");
        assert!(share_debug.contains("redacted"));
    }

    let password = generate(&PasswordPolicy::default()).unwrap();
    assert!(!format!("{password:?}").contains(password.expose_secret()));
}
