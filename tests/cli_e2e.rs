//! The `gensen` command end to end on the tiny generated corpus: train, extract-encoder,
//! encode (every output format, checked against the library), the three evaluation
//! suites on their fixtures, and the errors a user meets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gensen::config::Config;
use gensen::demo::{write_corpus, CorpusSizes};
use gensen::encode::{EncodeOptions, GenSen, WeightPrecision};
use gensen::engine::device::DeviceChoice;

fn gensen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gensen"))
        .args(args)
        .output()
        .expect("run gensen")
}

fn ok(args: &[&str]) -> String {
    let out = gensen(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "gensen {args:?} failed:\n{stderr}");
    stderr
}

/// Reads a float32 `.npy` file: (shape, values).
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let values: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (shape, values)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_pipeline_through_the_command_line() {
    let dir = scratch("cli-pipeline");
    let config_path = write_corpus(&dir, 90, &CorpusSizes::tiny()).unwrap();
    let config_arg = config_path.to_str().unwrap();
    ok(&["train-tokenizer", "--config", config_arg]);
    ok(&["tokenize", "--config", config_arg, "-w", "2"]);
    ok(&[
        "train",
        "--config",
        config_arg,
        "--device",
        "cpu",
        "--max-steps",
        "30",
    ]);

    let config = Config::load(&config_path).unwrap();
    let metrics = std::fs::read_to_string(config.model.model_dir.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    for key in ["step", "task", "loss"] {
        assert!(
            first.get(key).is_some(),
            "metrics line lacks {key}: {first}"
        );
    }

    // Resuming continues the step count rather than starting over.
    let resumed = ok(&[
        "train",
        "--config",
        config_arg,
        "--device",
        "cpu",
        "--resume",
        "--max-steps",
        "35",
    ]);
    assert!(resumed.contains("resumed at step 30"), "{resumed}");

    let encoder = dir.join("encoder");
    let model_dir = config.model.model_dir.to_str().unwrap().to_string();
    ok(&[
        "extract-encoder",
        "-t",
        &model_dir,
        "-s",
        encoder.to_str().unwrap(),
    ]);

    // Encode through the command line and through the library: identical vectors.
    let sentences = [
        "the boy reads a book",
        "",
        "الولد يقرأ كتابا",
        "   ",
        "the cat sleeps in the garden",
    ];
    let input = dir.join("sentences.txt");
    std::fs::write(&input, sentences.join("\n") + "\n").unwrap();
    let npy = dir.join("vectors.npy");
    let hidden = dir.join("hidden.npy");
    let enc = encoder.to_str().unwrap();
    let input_arg = input.to_str().unwrap();
    // `gensen encode` of the sentences file with the fixture encoder: the models, then the
    // output and any further flags.
    let encode = |models: usize, output: &Path, extra: &[&str]| -> Output {
        let mut args = vec!["encode"];
        for _ in 0..models {
            args.extend(["--model", enc]);
        }
        args.extend(["--input", input_arg, "--output", output.to_str().unwrap()]);
        args.extend(extra);
        gensen(&args)
    };
    let encode_ok = |models: usize, output: &Path, extra: &[&str]| {
        let out = encode(models, output, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "gensen encode {extra:?} failed:\n{stderr}"
        );
    };
    encode_ok(
        1,
        &npy,
        &[
            "--hidden-states",
            hidden.to_str().unwrap(),
            "--device",
            "cpu",
        ],
    );
    let (shape, values) = read_npy(&npy);
    let mut api = GenSen::load(&encoder, DeviceChoice::Cpu, 2).unwrap();
    let rep = api
        .get_representation(&sentences, &EncodeOptions::default())
        .unwrap();
    assert_eq!(shape, vec![sentences.len(), rep.dim]);
    assert_eq!(values, rep.sentence);
    let (hshape, hvalues) = read_npy(&hidden);
    assert_eq!(hshape, vec![sentences.len(), rep.max_len, rep.dim]);
    assert_eq!(hvalues, rep.hidden);

    // Text formats carry the same numbers.
    let jsonl = dir.join("vectors.jsonl");
    encode_ok(1, &jsonl, &[]);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), sentences.len());
    assert_eq!(lines[2]["sentence"], sentences[2]);
    let v0: Vec<f32> = lines[0]["vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(v0, rep.sentence_vector(0));
    let tsv = dir.join("vectors.tsv");
    encode_ok(1, &tsv, &[]);
    assert_eq!(
        std::fs::read_to_string(&tsv).unwrap().lines().count(),
        sentences.len()
    );

    // An ensemble of the same model twice doubles the dimension.
    let twice = dir.join("twice.npy");
    encode_ok(2, &twice, &[]);
    let (tshape, tvalues) = read_npy(&twice);
    assert_eq!(tshape, vec![sentences.len(), 2 * rep.dim]);
    assert_eq!(&tvalues[rep.dim..2 * rep.dim], rep.sentence_vector(0));

    // f16 weights on batches of one: the same vectors up to the weights' rounding, and
    // through the API with the same setting, identical.
    let half = dir.join("half.npy");
    encode_ok(
        1,
        &half,
        &["--batch-size", "1", "--weights", "f16", "--device", "cpu"],
    );
    let (hshape, hvalues) = read_npy(&half);
    assert_eq!(hshape, shape);
    let worst = hvalues
        .iter()
        .zip(&values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst > 0.0 && worst < 5e-3, "f16 against f32: {worst}");
    api.set_weight_precision(WeightPrecision::F16).unwrap();
    let one_by_one = EncodeOptions {
        batch_size: 1,
        ..EncodeOptions::default()
    };
    let rep16 = api.get_representation(&sentences, &one_by_one).unwrap();
    assert_eq!(hvalues, rep16.sentence);
    let out = encode(1, &half, &["--weights", "f8"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("f8"));

    // The three evaluation suites on their fixtures.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval");
    for suite in ["senteval", "alue", "bilingual"] {
        let report = dir.join(format!("{suite}.json"));
        ok(&[
            "eval",
            suite,
            "--model",
            enc,
            "--data",
            fixtures.join(suite).to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--device",
            "cpu",
        ]);
        let text = std::fs::read_to_string(&report).unwrap();
        assert!(text.contains("\"metric\""), "{suite} report: {text}");
    }
}

#[test]
fn user_mistakes_exit_with_code_two_and_name_the_problem() {
    let dir = scratch("cli-errors");
    std::fs::create_dir_all(&dir).unwrap();

    let out = gensen(&[
        "train",
        "--config",
        dir.join("missing.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));

    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"training\": {\"lrate\": \"fast\"}}").unwrap();
    let out = gensen(&["train", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json"));

    let out = gensen(&[
        "encode",
        "--model",
        dir.to_str().unwrap(),
        "--output",
        "x.npy",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("encoder.json"));

    // Without a GPU, asking for one is a clear error, not a panic.
    if !gensen::engine::cuda::cuda_available() {
        let config = write_corpus(&dir.join("corpus"), 1, &CorpusSizes::tiny()).unwrap();
        let out = gensen(&[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--device",
            "cuda",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn ctrl_c_saves_a_checkpoint_before_exiting() {
    let dir = scratch("cli-sigint");
    let config_path = write_corpus(&dir, 7, &CorpusSizes::tiny()).unwrap();
    let config_arg = config_path.to_str().unwrap();
    ok(&["train-tokenizer", "--config", config_arg]);
    ok(&["tokenize", "--config", config_arg]);
    let child = Command::new(env!("CARGO_BIN_EXE_gensen"))
        .args([
            "train",
            "--config",
            config_arg,
            "--device",
            "cpu",
            "--max-steps",
            "1000000",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it train a little, then interrupt it as a terminal's Ctrl-C would.
    let config = Config::load(&config_path).unwrap();
    let metrics = config.model.model_dir.join("metrics.jsonl");
    let start = std::time::Instant::now();
    while std::fs::metadata(&metrics).map_or(0, |m| m.len()) == 0 && start.elapsed().as_secs() < 60
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("checkpoint saved"), "{stderr}");
    let saved =
        gensen::train::checkpoint::list(&config.model.model_dir.join("checkpoints")).unwrap();
    let (step, dir) = saved.last().expect("a checkpoint").clone();
    assert!(step > 0);
    gensen::train::checkpoint::read_meta(&dir).unwrap();
}
