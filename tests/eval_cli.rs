//! `gensen eval` end to end on the fixtures with the bag-of-words baseline (`--model
//! bow:DIM`), and its refusals of bad input (exit code 2, file and line named).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval")
}

fn gensen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gensen"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gensen-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn all_three_suites_run_and_write_reports() {
    let out = temp_dir("ok");
    let path = |name: &str| out.join(name).to_string_lossy().into_owned();

    let senteval_data = fixtures().join("senteval");
    let run = gensen(&[
        "eval",
        "senteval",
        "--model",
        "bow:32",
        "--model",
        "bow:16",
        "--data",
        senteval_data.to_str().unwrap(),
        "--tasks",
        "SST2,TREC,SICK-E,STS14",
        "--report",
        &path("senteval.json"),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(
        stdout.starts_with("task") && stdout.contains("STS14"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("senteval.json")).unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 4);

    let alue_data = fixtures().join("alue");
    let run = gensen(&[
        "eval",
        "alue",
        "--model",
        "bow:16",
        "--data",
        alue_data.to_str().unwrap(),
        "--epochs",
        "2",
        "--tasks",
        "MQ2Q,SEC,XNLI,DIAG",
        "--report",
        &path("alue.csv"),
        "--predict",
        &path("predictions"),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let csv = std::fs::read_to_string(path("alue.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4 + 2, "{csv}");
    assert!(csv.contains("ALUE average (with DIAG)"));
    assert!(out.join("predictions/q2q.tsv").is_file());
    assert!(out.join("predictions/E_c.tsv").is_file());
    assert!(
        text(&run.stderr).contains("epoch  2"),
        "{}",
        text(&run.stderr)
    );

    let bilingual_data = fixtures().join("bilingual");
    let run = gensen(&[
        "eval",
        "bilingual",
        "--model",
        "bow:16",
        "--data",
        bilingual_data.to_str().unwrap(),
        "--epochs",
        "2",
        "--report",
        &path("bilingual.md"),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let md = std::fs::read_to_string(path("bilingual.md")).unwrap();
    assert!(
        md.contains("| STS-bi | Pearson |") && md.contains("| NLI-bi | accuracy |"),
        "{md}"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_input_exits_with_code_2_and_says_where() {
    let malformed = fixtures().join("malformed/SST2/senteval");
    let run = gensen(&[
        "eval",
        "senteval",
        "--model",
        "bow:8",
        "--data",
        malformed.to_str().unwrap(),
        "--tasks",
        "SST2",
    ]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("sentiment-dev:4:"), "{stderr}");

    let data = fixtures().join("senteval");
    let data = data.to_str().unwrap();
    for (args, message) in [
        (vec!["--tasks", "SST3"], "unknown SentEval task 'SST3'"),
        (vec!["--report", "out.txt"], ".csv, .md, .json or .xlsx"),
        (vec!["--pool", "min"], "unknown pooling 'min'"),
    ] {
        let mut all = vec!["eval", "senteval", "--model", "bow:8", "--data", data];
        all.extend(args);
        let run = gensen(&all);
        assert_eq!(run.status.code(), Some(2), "{all:?}");
        assert!(text(&run.stderr).contains(message), "{}", text(&run.stderr));
    }
    let run = gensen(&[
        "eval", "alue", "--model", "bow:8", "--model", "bow:8", "--data", data,
    ]);
    assert_eq!(run.status.code(), Some(2));
}
