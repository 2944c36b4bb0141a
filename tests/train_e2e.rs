//! End to end on the tiny generated corpus: tokenizer, shards, multi-task training,
//! validation, checkpoints, resume and encoder extraction.

use std::path::{Path, PathBuf};

use gensen::config::Config;
use gensen::demo::{write_corpus, CorpusSizes};
use gensen::encode::{EncodeOptions, GenSen};
use gensen::engine::cpu::Cpu;
use gensen::engine::device::DeviceChoice;
use gensen::train::extract::extract_encoder;
use gensen::train::{checkpoint, Event, MetricsLog, RunOptions, Summary, Trainer};

/// A fresh folder under the target directory, removed first if a previous run left it.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Writes the tiny corpus into `dir`, trains its tokenizer and tokenizes it.
fn prepare(dir: &Path) -> Config {
    let config_path = write_corpus(dir, 90, &CorpusSizes::tiny()).unwrap();
    let config = Config::load(&config_path).unwrap();
    gensen::pipeline::train_tokenizer(&config, false).unwrap();
    gensen::pipeline::tokenize(&config, 2).unwrap();
    config
}

fn train(config: &Config, steps: u64, resume: bool, events: &mut Vec<Event>) -> Summary {
    let mut trainer = Trainer::new(Cpu::<f32>::new(2), config.clone()).unwrap();
    if resume {
        assert!(trainer.resume(&mut |e| events.push(e)).unwrap().is_some());
    }
    let options = RunOptions {
        max_steps: Some(steps),
        interrupt: None,
    };
    trainer.run(&options, &mut |e| events.push(e)).unwrap()
}

fn mean_loss(summary: &Summary, task: &str, range: std::ops::Range<u64>) -> f64 {
    let v: Vec<f64> = summary
        .losses
        .iter()
        .filter(|(s, t, _)| t == task && range.contains(s))
        .map(|l| l.2 as f64)
        .collect();
    assert!(!v.is_empty(), "no steps of {task} in {range:?}");
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn every_loss_falls_and_nli_beats_chance() {
    let dir = scratch("e2e-learn");
    let config = prepare(&dir);
    let mut events = Vec::new();
    let steps = 600;
    let summary = train(&config, steps, false, &mut events);
    assert_eq!(summary.step, steps);

    for task in &config.tasks {
        let early = mean_loss(&summary, &task.taskname, 1..60);
        let late = mean_loss(&summary, &task.taskname, steps - 60..steps + 1);
        assert!(
            late < 0.8 * early,
            "{}: loss {early:.3} -> {late:.3}",
            task.taskname
        );
    }

    // Held-out NLI pairs (the val split is never trained on). Chance is 1/3; measured
    // 0.6-0.7 after 600 steps, so 0.45 leaves room for platform differences.
    let nli_accuracy = events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Validation { task, accuracy, .. } if task == "bi-nli" => *accuracy,
            _ => None,
        })
        .expect("a validation of bi-nli");
    assert!(
        nli_accuracy > 0.45,
        "held-out NLI accuracy {nli_accuracy:.3}"
    );

    // The metrics log keeps training and validation records apart.
    let mut log = MetricsLog::open(&dir.join("log")).unwrap();
    for e in &events {
        log.record(e).unwrap();
    }
    let text = std::fs::read_to_string(dir.join("log/metrics.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records
        .iter()
        .any(|r| r["split"] == "val" && r["task"] == "bi-nli" && r["accuracy"].is_number()));
    assert!(records
        .iter()
        .any(|r| r["split"] == "train" && r["loss"].is_number() && r["step"].is_number()));

    // The extracted encoder loads and encodes the same sentence identically twice, and a
    // sentence and its translation closer than unrelated text.
    let encoder_dir = dir.join("encoder");
    extract_encoder(&config.model.model_dir, &encoder_dir).unwrap();
    let mut gensen = GenSen::load(&encoder_dir, DeviceChoice::Cpu, 2).unwrap();
    let rep = gensen
        .get_representation(
            &["the boy reads a book", "the boy reads a book"],
            &EncodeOptions::default(),
        )
        .unwrap();
    assert_eq!(rep.sentence_vector(0), rep.sentence_vector(1));
    assert_eq!(rep.dim, 256);
}

#[test]
fn same_seed_same_losses_and_resume_matches_an_uninterrupted_run() {
    let straight_dir = scratch("e2e-straight");
    let config = prepare(&straight_dir);
    let straight = train(&config, 40, false, &mut Vec::new());

    // The same run again gives bit-identical losses.
    let again_dir = scratch("e2e-again");
    let again = train(&prepare(&again_dir), 40, false, &mut Vec::new());
    assert_eq!(straight.losses, again.losses);

    // 20 steps, then a new process resumes from the step-20 checkpoint up to 40.
    let split_dir = scratch("e2e-split");
    let config = prepare(&split_dir);
    let first = train(&config, 20, false, &mut Vec::new());
    let mut events = Vec::new();
    let second = train(&config, 40, true, &mut events);
    assert!(
        matches!(events[0], Event::Resumed { step: 20, .. }),
        "{:?}",
        events[0]
    );
    let mut joined = first.losses.clone();
    joined.extend(second.losses.clone());
    assert_eq!(joined, straight.losses);

    // A corrupted newest checkpoint is reported and the previous one is used instead.
    let root = config.model.model_dir.join("checkpoints");
    let newest = checkpoint::list(&root).unwrap().last().unwrap().1.clone();
    let weights = newest.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&weights, bytes).unwrap();
    let err = checkpoint::load(&newest, true)
        .err()
        .expect("corruption detected");
    assert!(err.to_string().contains("checksum"), "{err}");
    let mut trainer = Trainer::new(Cpu::<f32>::new(2), config.clone()).unwrap();
    let mut events = Vec::new();
    let resumed = trainer.resume(&mut |e| events.push(e)).unwrap();
    assert_eq!(resumed, Some(20));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::SkippedCheckpoint { .. })));
}

#[test]
fn extraction_round_trips_the_encoder_weights() {
    let dir = scratch("e2e-extract");
    let config = prepare(&dir);
    train(&config, 5, false, &mut Vec::new());
    let ckpt = checkpoint::resolve(&config.model.model_dir).unwrap();
    let full = checkpoint::load(&ckpt, false).unwrap();
    let out = dir.join("encoder");
    let done = extract_encoder(&config.model.model_dir, &out).unwrap();
    assert_eq!(done.tensors, 1 + 4 * 2); // embedding + 4 tensors per direction
    let (kept, _) = checkpoint::load_safetensors(&out.join("model.safetensors")).unwrap();
    for (name, tensor) in &kept {
        assert_eq!(Some(tensor), full.weights.get(name), "{name}");
    }
    assert!(kept.contains_key("encoder.weight_ih_l0_reverse"));
    assert!(!kept
        .keys()
        .any(|k| k.starts_with("decoders.") || k.starts_with("heads.")));

    // A folder missing its tokenizer is reported by name.
    std::fs::remove_file(out.join("tokenizer.model")).unwrap();
    let err = GenSen::load(&out, DeviceChoice::Cpu, 1)
        .err()
        .expect("incomplete folder");
    assert!(err.to_string().contains("tokenizer.model"), "{err}");
}
