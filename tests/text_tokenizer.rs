//! The tokenizer wrapper against a model and ids produced by Python's sentencepiece
//! (tests/fixtures/text/make_tokenizer.py).

use std::path::PathBuf;
use std::sync::Arc;

use gensen::text::tokenizer::{model_pieces, vocab_listing};
use gensen::text::{Tokenizer, BOS, EOS, PAD, UNK};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/text")
        .join(name)
}

#[test]
fn ids_match_python_sentencepiece() {
    let tokenizer = Tokenizer::load(fixture("tiny_bpe.model")).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny_bpe_expected.json")).unwrap())
            .unwrap();
    let cases = expected.as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(tokenizer.encode(text).unwrap(), want, "{text:?}");
    }
}

#[test]
fn reserved_ids_vocab_size_and_round_trip() {
    let tokenizer = Tokenizer::load(fixture("tiny_bpe.model")).unwrap();
    assert_eq!(tokenizer.vocab_size(), 400);
    assert_eq!(tokenizer.piece_to_id("<s>"), Some(BOS));
    assert_eq!(tokenizer.piece_to_id("<pad>"), Some(PAD));
    assert_eq!(tokenizer.piece_to_id("</s>"), Some(EOS));
    assert_eq!(tokenizer.piece_to_id("<unk>"), Some(UNK));
    assert_eq!(tokenizer.piece_to_id("no-such-piece-here"), None);

    for text in [
        "the old man reads a new book",
        "الطفل السعيد يلعب قرب النهر ؟",
    ] {
        let ids = tokenizer.encode(text).unwrap();
        assert!(ids.iter().all(|&id| id > UNK), "{text:?} -> {ids:?}");
        assert_eq!(tokenizer.decode(&ids).unwrap(), text);
        // Specials around the ids are skipped by decode.
        let mut wrapped = vec![BOS];
        wrapped.extend(&ids);
        wrapped.extend([EOS, PAD, PAD]);
        assert_eq!(tokenizer.decode(&wrapped).unwrap(), text);
    }
    // Characters never seen in training map to <unk>.
    assert!(tokenizer.encode("ж").unwrap().contains(&UNK));
    assert!(tokenizer.decode(&[400]).is_err());
}

#[test]
fn from_bytes_matches_load_and_rejects_garbage() {
    let bytes = std::fs::read(fixture("tiny_bpe.model")).unwrap();
    let a = Tokenizer::from_bytes(&bytes).unwrap();
    let b = Tokenizer::load(fixture("tiny_bpe.model")).unwrap();
    assert_eq!(
        a.encode("a dog runs").unwrap(),
        b.encode("a dog runs").unwrap()
    );
    assert_eq!(a.checksum(), crc32fast::hash(&bytes));
    assert!(Tokenizer::from_bytes(b"not a model").is_err());
    let missing = Tokenizer::load(fixture("missing.model")).unwrap_err();
    assert!(missing.to_string().contains("missing.model"), "{missing}");
}

#[test]
fn vocab_listing_matches_python() {
    let bytes = std::fs::read(fixture("tiny_bpe.model")).unwrap();
    let pieces = model_pieces(&bytes).unwrap();
    assert_eq!(pieces.len(), 400);
    let python = std::fs::read_to_string(fixture("tiny_bpe.vocab")).unwrap();
    let ours = vocab_listing(&bytes).unwrap();
    for (mine, theirs) in ours.lines().zip(python.lines()) {
        let (p1, s1) = mine.split_once('\t').unwrap();
        let (p2, s2) = theirs.split_once('\t').unwrap();
        assert_eq!(p1, p2);
        assert_eq!(s1.parse::<f32>().unwrap(), s2.parse::<f32>().unwrap());
    }
    assert_eq!(ours.lines().count(), python.lines().count());
    assert!(model_pieces(&[0x0A, 0xFF]).is_err());
}

#[test]
fn one_tokenizer_serves_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tokenizer>();
    let tokenizer = Arc::new(Tokenizer::load(fixture("tiny_bpe.model")).unwrap());
    let expected = tokenizer
        .encode("the happy cat sleeps under the sun")
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let tokenizer = Arc::clone(&tokenizer);
            std::thread::spawn(move || {
                (0..200)
                    .map(|_| {
                        tokenizer
                            .encode("the happy cat sleeps under the sun")
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for handle in handles {
        assert!(handle.join().unwrap().iter().all(|ids| *ids == expected));
    }
}
