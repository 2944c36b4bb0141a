//! The encoder API: representations equal a direct forward pass on the same ids, the input
//! order survives internal length sorting, ensembles concatenate their members, edge-case
//! text has defined results, and vocabulary expansion adds whole-word rows.

use std::path::{Path, PathBuf};

use gensen::encode::expand::expand_vocab;
use gensen::encode::{EncodeOptions, EncoderModel, GenSen, GenSenEnsemble};
use gensen::engine::cpu::Cpu;
use gensen::engine::device::DeviceChoice;
use gensen::engine::rng::Rng;
use gensen::engine::{Params, Pool, Tape};
use gensen::model::{Encoder, EncoderConfig};
use gensen::text::Tokenizer;
use gensen::train::checkpoint::save_safetensors;
use gensen::train::extract::{write_meta, EncoderMeta};

const TOKENIZER: &str = "tests/fixtures/text/tiny_bpe.model";

/// Writes a randomly initialised encoder folder with the fixture tokenizer.
fn encoder_folder(name: &str, seed: u64, pooling: Pool, max_length: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tokenizer = Tokenizer::load(TOKENIZER).unwrap();
    let config = EncoderConfig {
        vocab: tokenizer.vocab_size(),
        dim_word: 8,
        hidden: 12,
        layers: 2,
        bidirectional: true,
        pad_id: 1,
    };
    let mut params = Params::new(Cpu::<f32>::new(1));
    Encoder::init(&mut params, config.clone(), &mut Rng::new(seed)).unwrap();
    save_safetensors(
        &dir.join("model.safetensors"),
        &params.to_host().unwrap(),
        None,
    )
    .unwrap();
    std::fs::copy(TOKENIZER, dir.join("tokenizer.model")).unwrap();
    let meta = EncoderMeta {
        format: 1,
        dim: config.dim(),
        config,
        pooling,
        language: "en".into(),
        max_length,
        normalize: Some(Default::default()),
        bos_id: 0,
        eos_id: 2,
        unk_id: 3,
        expanded_words: vec![],
    };
    write_meta(&dir, &meta).unwrap();
    dir
}

const SENTENCES: [&str; 5] = [
    "the quick brown fox jumped over the lazy dog .",
    "hello world .",
    "this is a sentence .",
    "a",
    "the boy reads the book in the library every morning",
];

#[test]
fn representations_equal_a_direct_forward_and_keep_the_input_order() {
    let dir = encoder_folder("api-direct", 1, Pool::Max, 64);
    let model = EncoderModel::load(&dir, Cpu::<f32>::new(2)).unwrap();
    let mut tape = Tape::new(Cpu::<f32>::new(2));
    let opts = EncodeOptions {
        batch_size: 2,
        ..EncodeOptions::default()
    };
    let rep = model
        .get_representation(&mut tape, &SENTENCES, &opts)
        .unwrap();
    assert_eq!((rep.batch, rep.dim), (5, 24));

    for (i, s) in SENTENCES.iter().enumerate() {
        // One sentence alone through the encoder, straight from its token ids.
        let ids = model.tokenize(s, &opts).unwrap().ids;
        assert_eq!(ids.first(), Some(&0));
        assert_eq!(ids.last(), Some(&2));
        assert_eq!(rep.lengths[i], ids.len());
        tape.reset();
        tape.set_recording(false);
        let (enc, vec) = model.forward(&mut tape, &[&ids], Pool::Max).unwrap();
        let states = tape.value(enc.hidden).unwrap(); // (T, 1, dim)
        let direct = tape.value(vec).unwrap();
        for (a, b) in direct.iter().zip(rep.sentence_vector(i)) {
            assert!((a - b).abs() < 1e-5, "sentence {i}: {a} vs {b}");
        }
        for t in 0..rep.max_len {
            let got = rep.token_state(i, t);
            if t < ids.len() {
                for (a, b) in states[t * 24..(t + 1) * 24].iter().zip(got) {
                    assert!((a - b).abs() < 1e-5);
                }
            } else {
                assert!(
                    got.iter().all(|&v| v == 0.0),
                    "padding of sentence {i} at {t}"
                );
            }
        }
    }

    // Reversing the input reverses the output.
    let reversed: Vec<&str> = SENTENCES.iter().rev().copied().collect();
    let rev = model
        .get_representation(&mut tape, &reversed, &opts)
        .unwrap();
    for i in 0..5 {
        assert_eq!(rev.sentence_vector(4 - i), rep.sentence_vector(i));
    }
}

#[test]
fn ensembles_concatenate_their_members() {
    let a = encoder_folder("api-ens-a", 2, Pool::Last, 64);
    let b = encoder_folder("api-ens-b", 3, Pool::Mean, 64);
    let opts = EncodeOptions::default();
    let ra = GenSen::load(&a, DeviceChoice::Cpu, 1)
        .unwrap()
        .get_representation(&SENTENCES, &opts)
        .unwrap();
    let rb = GenSen::load(&b, DeviceChoice::Cpu, 1)
        .unwrap()
        .get_representation(&SENTENCES, &opts)
        .unwrap();
    let mut ens = GenSenEnsemble::new(vec![
        GenSen::load(&a, DeviceChoice::Cpu, 1).unwrap(),
        GenSen::load(&b, DeviceChoice::Cpu, 1).unwrap(),
    ])
    .unwrap();
    assert_eq!(ens.dim(), 48);
    let r = ens.get_representation(&SENTENCES, &opts).unwrap();
    assert_eq!(r.dim, 48);
    for i in 0..SENTENCES.len() {
        assert_eq!(&r.sentence_vector(i)[..24], ra.sentence_vector(i));
        assert_eq!(&r.sentence_vector(i)[24..], rb.sentence_vector(i));
        assert_eq!(&r.token_state(i, 1)[..24], ra.token_state(i, 1));
    }
    assert!(GenSenEnsemble::new(vec![]).is_err());
}

#[test]
fn edge_case_text_has_defined_results() {
    let dir = encoder_folder("api-edges", 4, Pool::Last, 8);
    let mut model = GenSen::load(&dir, DeviceChoice::Cpu, 1).unwrap();
    let long = "word ".repeat(100);
    let inputs = [
        "",
        "   \t ",
        long.as_str(),
        "mixed العربية and english",
        "\u{0}\u{202e}\u{fffd}",
    ];
    let rep = model
        .get_representation(&inputs, &EncodeOptions::default())
        .unwrap();
    // Empty and blank text still encodes as "<s> </s>".
    assert_eq!(rep.lengths[0], 2);
    assert_eq!(rep.lengths[1], 2);
    // Long text is cut to the maximum length (8 pieces with <s> and </s>) and reported.
    assert_eq!(rep.lengths[2], 8);
    assert!(
        rep.truncated.contains(&2) && !rep.truncated.contains(&0) && !rep.truncated.contains(&1)
    );
    assert!(rep.sentence.iter().all(|v| v.is_finite()));

    // Without start/end tokens an empty sentence has no tokens: zero vectors.
    let bare = EncodeOptions {
        add_start_end: false,
        ..EncodeOptions::default()
    };
    let rep = model
        .get_representation(&["", "hello world"], &bare)
        .unwrap();
    assert_eq!(rep.lengths[0], 0);
    assert!(rep.sentence_vector(0).iter().all(|&v| v == 0.0));
    assert!(rep.sentence_vector(1).iter().any(|&v| v != 0.0));

    // Random code points never panic.
    let mut rng = Rng::new(9);
    let noise: Vec<String> = (0..50)
        .map(|_| {
            (0..rng.below(40))
                .filter_map(|_| char::from_u32(rng.below(0x3000) as u32))
                .collect()
        })
        .collect();
    let rep = model
        .get_representation(&noise, &EncodeOptions::default())
        .unwrap();
    assert_eq!(rep.batch, 50);
}

#[test]
fn vocabulary_expansion_adds_whole_word_rows() {
    let dir = encoder_folder("api-expand", 5, Pool::Last, 64);
    let tokenizer = Tokenizer::load(TOKENIZER).unwrap();
    // Pretrained vectors: the model's own whole-word embeddings mapped by a known affine
    // map, plus vectors for words the tokenizer splits.
    let model = EncoderModel::load(&dir, Cpu::<f32>::new(1)).unwrap();
    let table = model.params.to_host().unwrap()[Encoder::EMBEDDING]
        .1
        .clone();
    let pieces = gensen::text::tokenizer::model_pieces(tokenizer.model_bytes()).unwrap();
    let mut lines = Vec::new();
    let mut rng = Rng::new(6);
    let shift: Vec<f32> = (0..8).map(|_| rng.uniform(-1.0, 1.0)).collect();
    for (id, p) in pieces.iter().enumerate().skip(4) {
        if let Some(word) = p.piece.strip_prefix('\u{2581}').filter(|w| w.len() > 1) {
            // Pretrained = 2 * embedding + shift, so the map back is exact.
            let v: Vec<String> = (0..8)
                .map(|j| (2.0 * table[id * 8 + j] + shift[j]).to_string())
                .collect();
            lines.push(format!("{word} {}", v.join(" ")));
        }
    }
    let new_words = ["zqxjkv", "wrdlbrmpft"];
    for w in new_words {
        assert!(
            tokenizer.encode(w).unwrap().len() > 1,
            "{w} must split into pieces"
        );
        let v: Vec<String> = (0..8).map(|j| (0.5 + j as f32 * 0.1).to_string()).collect();
        lines.push(format!("{w} {}", v.join(" ")));
    }
    assert!(
        lines.len() > 20,
        "too few shared words in the fixture tokenizer"
    );
    let vectors = dir.join("vectors.txt");
    std::fs::write(
        &vectors,
        format!("{} 8\n{}\n", lines.len(), lines.join("\n")),
    )
    .unwrap();

    let out = dir.join("expanded");
    let words: Vec<String> = ["zqxjkv", "wrdlbrmpft", "unseenword", "the"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let report = expand_vocab(&dir, &words, &vectors, &out).unwrap();
    assert_eq!(report.mapped, 2);
    assert_eq!(report.unknown, 1);
    assert!(report.held_out_r2 > 0.999, "R^2 {}", report.held_out_r2);

    let expanded = EncoderModel::load(&out, Cpu::<f32>::new(1)).unwrap();
    let base = tokenizer.vocab_size() as u32;
    let ids = expanded
        .tokenize("zqxjkv wrdlbrmpft", &EncodeOptions::default())
        .unwrap()
        .ids;
    assert_eq!(ids, vec![0, base, base + 1, 2]);
    // The new row is the mapped vector: (pretrained - shift) / 2.
    let rows = expanded.params.to_host().unwrap()[Encoder::EMBEDDING]
        .1
        .clone();
    let row = &rows[base as usize * 8..(base as usize + 1) * 8];
    for j in 0..8 {
        let want = (0.5 + j as f32 * 0.1 - shift[j]) / 2.0;
        assert!((row[j] - want).abs() < 1e-3, "{j}: {} vs {want}", row[j]);
    }
}

#[test]
fn f16_weights_serve_small_inference_batches_only() {
    use gensen::encode::WeightPrecision;
    let dir = encoder_folder("api-f16", 5, Pool::Mean, 64);
    let mut model = EncoderModel::load(&dir, Cpu::<f32>::new(2)).unwrap();
    let mut tape = Tape::new(Cpu::<f32>::new(2));
    let small = EncodeOptions {
        batch_size: 2,
        ..EncodeOptions::default()
    };
    let large = EncodeOptions {
        batch_size: 5,
        ..EncodeOptions::default()
    };
    let f32_small = model
        .get_representation(&mut tape, &SENTENCES, &small)
        .unwrap();
    let f32_large = model
        .get_representation(&mut tape, &SENTENCES, &large)
        .unwrap();
    assert_eq!(model.weight_precision(), WeightPrecision::F32);

    model.set_weight_precision(WeightPrecision::F16).unwrap();
    assert_eq!(model.weight_precision(), WeightPrecision::F16);
    let f16_small = model
        .get_representation(&mut tape, &SENTENCES, &small)
        .unwrap();
    let worst = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    // Batches of two read the f16 copies: close to f32, but not equal (the path was taken).
    let d = worst(&f16_small.hidden, &f32_small.hidden);
    assert!(
        d > 0.0 && d < 2e-3,
        "f16 hidden states differ from f32 by {d}"
    );
    // A batch of five is past the half-precision limit and reads the f32 weights.
    let f16_large = model
        .get_representation(&mut tape, &SENTENCES, &large)
        .unwrap();
    assert_eq!(f16_large, f32_large);
    // A recording forward (fine-tuning) differentiates the f32 weights, never the copies.
    let ids = model.tokenize(SENTENCES[0], &small).unwrap().ids;
    let mut one = |recording: bool| {
        tape.reset();
        tape.set_recording(recording);
        let (_, v) = model.forward(&mut tape, &[&ids], Pool::Mean).unwrap();
        let out = tape.value(v).unwrap();
        tape.set_recording(false);
        out
    };
    let (recorded, inferred) = (one(true), one(false));
    let f32_one = f32_small.sentence_vector(0);
    assert!(worst(&recorded, f32_one) < 1e-6);
    assert!(worst(&inferred, f32_one) > 1e-6);

    // Back to f32: the original outputs exactly.
    model.set_weight_precision(WeightPrecision::F32).unwrap();
    let again = model
        .get_representation(&mut tape, &SENTENCES, &small)
        .unwrap();
    assert_eq!(again, f32_small);
}

#[test]
fn changing_a_weight_drops_its_half_precision_copy() {
    let mut params = Params::new(Cpu::<f32>::new(1));
    let config = EncoderConfig {
        vocab: 10,
        dim_word: 4,
        hidden: 3,
        layers: 1,
        bidirectional: false,
        pad_id: 1,
    };
    let enc = Encoder::init(&mut params, config, &mut Rng::new(2)).unwrap();
    let w = enc.layers[0].w_hh[0];
    params.make_half(w).unwrap();
    assert!(params.get(w).half.is_some());
    let (shape, values) = params.to_host().unwrap()["encoder.weight_hh_l0"].clone();
    params
        .load("encoder.weight_hh_l0", &shape, &values)
        .unwrap();
    assert!(params.get(w).half.is_none(), "load keeps a stale copy");
    params.make_half(w).unwrap();
    let _ = params.get_mut(w);
    assert!(params.get(w).half.is_none(), "get_mut keeps a stale copy");
    // Vectors are not matrices.
    assert!(params.make_half(enc.layers[0].b_hh[0]).is_err());
}
