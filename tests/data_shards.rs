//! Tokenization into shards: round trip through memory-mapped reads, manifest and skipping,
//! worker-count independence, file formats, bad lines and truncation.

use std::path::{Path, PathBuf};

use gensen::config::{Config, TaskType};
use gensen::data::shard::{Encoded, FileRecord, Fingerprint, ShardWriter};
use gensen::data::tokenize::{tokenize_config, SplitReport, TokenizeOptions};
use gensen::data::{Manifest, Split, TaskData};
use gensen::text::{normalize, Language, NormalizeOptions, Tokenizer};
use gensen::Error;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch copy of the data fixtures; returns its folder.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gensen-shards-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo().join("tests/fixtures/data")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn tokenizer() -> Tokenizer {
    Tokenizer::load(repo().join("tests/fixtures/text/tiny_bpe.model")).unwrap()
}

/// Rewrites the scratch config with `edit` applied, and loads it.
fn config_with(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> Config {
    let path = dir.join("config.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(&path, value.to_string()).unwrap();
    Config::load(&path).unwrap()
}

fn run(config: &Config, workers: usize, skip_bad_lines: bool) -> gensen::Result<Vec<SplitReport>> {
    let opts = TokenizeOptions {
        workers,
        skip_bad_lines,
        force: false,
    };
    tokenize_config(config, &tokenizer(), &opts, None)
}

fn report<'a>(reports: &'a [SplitReport], task: &str, split: Split) -> &'a SplitReport {
    reports
        .iter()
        .find(|r| r.task == task && r.split == split)
        .unwrap()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn shards_round_trip_every_task_type() {
    let dir = scratch("round-trip");
    let config = config_with(&dir, |_| {});
    let tok = tokenizer();
    let reports = run(&config, 2, false).unwrap();
    assert_eq!(
        reports.len(),
        5,
        "train and val of ar-en and bi-nli, train of dialects"
    );
    let opts = NormalizeOptions::default();
    let encode = |text: &str, language| tok.encode(&normalize(text, language, &opts)).unwrap();

    // seq2seq: each side normalized by its own language, line by line.
    let data = TaskData::open(config.shard_dir(&config.tasks[0])).unwrap();
    assert_eq!(data.task_type(), TaskType::Seq2seq);
    let src = lines(&dir.join("ar-en.train.ar"));
    let trg = lines(&dir.join("ar-en.train.en"));
    assert_eq!(data.len(), src.len());
    for i in 0..data.len() {
        assert_eq!(data.src(i).to_vec(), encode(&src[i], Language::Ar));
        assert_eq!(data.trg(i).unwrap().to_vec(), encode(&trg[i], Language::En));
    }
    assert!(data.labels().is_none());
    let val = TaskData::open_split(config.shard_dir(&config.tasks[0]), Split::Val).unwrap();
    assert_eq!(val.len(), 3);

    // Pairs: the `-` example is dropped and counted; labels follow the mapping.
    let r = report(&reports, "bi-nli", Split::Train);
    assert_eq!((r.examples, r.counts.unlabelled), (7, 1));
    let data = TaskData::open(config.shard_dir(&config.tasks[1])).unwrap();
    assert_eq!(data.labels().unwrap(), &[0, 2, 1, 0, 2, 1, 0]);
    assert_eq!(
        data.src2(1).unwrap().to_vec(),
        encode("the dog runs quickly", Language::Bi)
    );

    // The XNLI-style dev file: header consumed, columns found by name.
    let val = TaskData::open_split(config.shard_dir(&config.tasks[1]), Split::Val).unwrap();
    assert_eq!(val.labels().unwrap(), &[0, 2, 1]);
    assert_eq!(val.src(1).to_vec(), encode("القط ينام", Language::Bi));
    assert_eq!(report(&reports, "bi-nli", Split::Val).counts.lines, 4);

    // Classification.
    let data = TaskData::open(config.shard_dir(&config.tasks[2])).unwrap();
    assert_eq!(data.labels().unwrap(), &[0, 1, 2, 0, 1, 3]);
    assert!(data.src2(0).is_none() && data.trg(0).is_none());
    assert!(TaskData::open_split(config.shard_dir(&config.tasks[2]), Split::Val).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn manifest_records_sources_and_up_to_date_splits_are_skipped() {
    let dir = scratch("manifest");
    let config = config_with(&dir, |_| {});
    let first = run(&config, 2, false).unwrap();
    assert!(first.iter().all(|r| !r.up_to_date));

    let shard_dir = config.shard_dir(&config.tasks[0]);
    let manifest = Manifest::load(&shard_dir).unwrap();
    let train = &manifest.splits["train"];
    assert_eq!(train.id_bytes, 2);
    assert_eq!(train.examples, 10);
    let source = FileRecord::of(&dir.join("ar-en.train.ar")).unwrap();
    assert_eq!(train.fingerprint.sources[0], source);
    assert_eq!(train.fingerprint.tokenizer_crc32, tokenizer().checksum());
    for file in &train.files {
        let on_disk = FileRecord::of(&shard_dir.join(&file.path)).unwrap();
        assert_eq!(on_disk.crc32, file.crc32, "{}", file.path.display());
    }
    let before = std::fs::metadata(shard_dir.join("train.src.ids"))
        .unwrap()
        .modified()
        .unwrap();

    let second = run(&config, 2, false).unwrap();
    assert!(second.iter().all(|r| r.up_to_date));
    assert_eq!(report(&second, "ar-en", Split::Train).examples, 10);

    // Changing one source rebuilds only its split.
    std::fs::write(
        dir.join("nli.dev.tsv"),
        "gold_label\tsentence1\tsentence2\nneutral\ta\tb\n",
    )
    .unwrap();
    let third = run(&config, 2, false).unwrap();
    for r in &third {
        let changed = r.task == "bi-nli" && r.split == Split::Val;
        assert_eq!(r.up_to_date, !changed, "{} {:?}", r.task, r.split);
    }
    assert_eq!(report(&third, "bi-nli", Split::Val).examples, 1);
    let after = std::fs::metadata(shard_dir.join("train.src.ids"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);

    // A shard that lost bytes is not up to date, and opening it is refused.
    let ids = shard_dir.join("train.trg.ids");
    let bytes = std::fs::read(&ids).unwrap();
    std::fs::write(&ids, &bytes[..bytes.len() - 2]).unwrap();
    assert!(TaskData::open(&shard_dir).is_err());
    assert!(!run(&config, 1, false).unwrap()[0].up_to_date);
    assert_eq!(TaskData::open(&shard_dir).unwrap().len(), 10);
    assert!(!std::fs::read_dir(&shard_dir).unwrap().any(|e| e
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "tmp")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shards_do_not_depend_on_the_number_of_workers() {
    // Enough lines for several chunks, so workers finish out of order.
    let dir = scratch("workers");
    let en = lines(&dir.join("ar-en.train.en"));
    let ar = lines(&dir.join("ar-en.train.ar"));
    let (mut src, mut trg) = (String::new(), String::new());
    for i in 0..7000 {
        src.push_str(&format!("{} {}\n", ar[i % 10], ar[(i / 10) % 10]));
        trg.push_str(&format!("{} {}\n", en[i % 10], en[(i / 7) % 10]));
    }
    std::fs::write(dir.join("ar-en.train.ar"), src).unwrap();
    std::fs::write(dir.join("ar-en.train.en"), trg).unwrap();

    let mut digests = Vec::new();
    for workers in [1, 3] {
        let config = config_with(&dir, |v| {
            v["model"]["data_dir"] = format!("data-{workers}").into();
        });
        run(&config, workers, false).unwrap();
        let shard_dir = config.shard_dir(&config.tasks[0]);
        let digest: Vec<u32> = [
            "train.src.ids",
            "train.src.idx",
            "train.trg.ids",
            "train.trg.idx",
        ]
        .iter()
        .map(|f| FileRecord::of(&shard_dir.join(f)).unwrap().crc32)
        .collect();
        assert_eq!(TaskData::open(&shard_dir).unwrap().len(), 7000);
        digests.push(digest);
    }
    assert_eq!(digests[0], digests[1]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn long_sentences_are_truncated_and_counted() {
    let dir = scratch("truncate");
    let config = config_with(&dir, |v| {
        v["model"]["max_src_length"] = 3.into();
        v["model"]["max_trg_length"] = 4.into();
    });
    let reports = run(&config, 2, false).unwrap();
    let r = report(&reports, "ar-en", Split::Train);
    let data = TaskData::open(config.shard_dir(&config.tasks[0])).unwrap();
    let tok = tokenizer();
    let opts = NormalizeOptions::default();
    let src = lines(&dir.join("ar-en.train.ar"));
    let longer = src
        .iter()
        .filter(|s| {
            tok.encode(&normalize(s, Language::Ar, &opts))
                .unwrap()
                .len()
                > 3
        })
        .count();
    assert!(longer > 0);
    assert_eq!(r.counts.truncated_src, longer as u64);
    assert!(r.counts.truncated_trg > 0);
    for i in 0..data.len() {
        assert!(data.src(i).len() <= 3 && data.trg(i).unwrap().len() <= 4);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `content` as the dialects training file and tokenizes.
fn dialects_with(
    name: &str,
    content: &[u8],
    skip: bool,
) -> (PathBuf, gensen::Result<Vec<SplitReport>>) {
    let dir = scratch(name);
    std::fs::write(dir.join("dialects.train.tsv"), content).unwrap();
    let config = config_with(&dir, |_| {});
    let result = run(&config, 2, skip);
    (dir, result)
}

fn parse_error(result: gensen::Result<Vec<SplitReport>>) -> (PathBuf, usize, String) {
    match result {
        Err(Error::Parse { path, line, msg }) => (path, line, msg),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn bad_lines_fail_with_file_and_line() {
    let cases: [(&[u8], usize, &str); 5] = [
        (b"msa\tone\negy two\n", 2, "2 tab-separated columns"),
        (b"msa\tone\nmsa\ttwo\n\xff\xfe\tbad\n", 3, "invalid UTF-8"),
        (b"msa\tone\n\nmsa\tthree\n", 2, "empty line"),
        (b"msa\tone\nklingon\ttwo\n", 2, "unknown label \"klingon\""),
        (b"msa\t   \n", 1, "empty sentence"),
    ];
    for (i, (content, line, fragment)) in cases.into_iter().enumerate() {
        let (dir, result) = dialects_with(&format!("bad-{i}"), content, false);
        let (path, got_line, msg) = parse_error(result);
        assert!(path.ends_with("dialects.train.tsv"), "{}", path.display());
        assert_eq!(got_line, line, "{msg}");
        assert!(msg.contains(fragment), "{msg}");
        // Nothing half-written is left behind.
        let shard_dir = dir.join("runs/base/data/dialects");
        assert!(!shard_dir.join("train.src.ids").exists());
        assert!(!shard_dir.join("train.src.ids.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_bad_line_after_many_chunks_stops_all_threads_and_cleans_up() {
    let mut content = String::new();
    for i in 1..=9000 {
        if i == 7001 {
            content.push_str("msa no tab here\n");
        } else {
            content.push_str("egy\tالراجل بيقرا الكتاب\n");
        }
    }
    let (dir, result) = dialects_with("late-bad", content.as_bytes(), false);
    let (path, line, _) = parse_error(result);
    assert!(path.ends_with("dialects.train.tsv"));
    assert_eq!(line, 7001);
    let shard_dir = dir.join("runs/base/data/dialects");
    let leftovers: Vec<_> = std::fs::read_dir(&shard_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "manifest.json")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn skip_bad_lines_counts_and_reports_them() {
    let content = b"msa\tone\negy two\n\xff\tbad\n\nklingon\tx\nlev\tthree\n";
    let (dir, result) = dialects_with("skip", content, true);
    let reports = result.unwrap();
    let r = report(&reports, "dialects", Split::Train);
    assert_eq!(r.examples, 2);
    assert_eq!(r.counts.bad_lines, 4);
    assert_eq!(r.counts.lines, 6);
    assert_eq!(r.bad_line_messages.len(), 4);
    assert!(r.bad_line_messages[0].ends_with(
        "dialects.train.tsv:2: expected 2 tab-separated columns (label, sentence), found 1"
    ));
    let data = TaskData::open(dir.join("runs/base/data/dialects")).unwrap();
    assert_eq!(data.labels().unwrap(), &[0, 2]);

    // Clean splits stay up to date either way; the split with skipped lines is up to date
    // only for a skipping run, and a strict run stops at its first bad line.
    let config = Config::load(dir.join("config.json")).unwrap();
    let again = run(&config, 1, true).unwrap();
    assert!(again.iter().all(|r| r.up_to_date));
    let (_, line, _) = parse_error(run(&config, 1, false));
    assert_eq!(line, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn misaligned_seq2seq_files_are_an_error_even_when_skipping() {
    let dir = scratch("misaligned");
    std::fs::write(dir.join("ar-en.val.en"), "the new book\nthe small cat\n").unwrap();
    let config = config_with(&dir, |_| {});
    let (path, line, msg) = parse_error(run(&config, 1, true));
    assert!(path.ends_with("ar-en.val.en"), "{}", path.display());
    assert_eq!(line, 3);
    assert!(msg.contains("ends before"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nli_jsonl_files_are_read() {
    let dir = scratch("jsonl");
    let jsonl = concat!(
        r#"{"gold_label": "neutral", "sentence1": "the cat sees", "sentence2": "a cat", "pairID": "1"}"#,
        "\n",
        r#"{"gold_label": "-", "sentence1": "x", "sentence2": "y"}"#,
        "\n",
        r#"{"gold_label": "entailment", "sentence1": "the dog", "sentence2": "الكلب"}"#,
        "\n",
        r#"{"gold_label": "contradiction", "sentence1": "no second"}"#,
        "\n",
    );
    std::fs::write(dir.join("nli.train.jsonl"), jsonl).unwrap();
    let config = config_with(&dir, |v| {
        v["tasks"][1]["train_src"] = "nli.train.jsonl".into()
    });
    let (path, line, msg) = parse_error(run(&config, 1, false));
    assert!(
        path.ends_with("nli.train.jsonl") && line == 4,
        "{}:{line}",
        path.display()
    );
    assert!(msg.contains("sentence2"), "{msg}");

    let reports = run(&config, 1, true).unwrap();
    let r = report(&reports, "bi-nli", Split::Train);
    assert_eq!(
        (r.examples, r.counts.unlabelled, r.counts.bad_lines),
        (2, 1, 1)
    );
    let data = TaskData::open(config.shard_dir(&config.tasks[1])).unwrap();
    assert_eq!(data.labels().unwrap(), &[1, 0]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn large_vocabularies_store_u32_ids() {
    let dir = std::env::temp_dir().join(format!("gensen-shards-u32-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut writer =
        ShardWriter::create(&dir, Split::Train, TaskType::Classification, 70_000).unwrap();
    let examples = [vec![5, 69_999, 4], vec![], vec![65_536]];
    for (i, ids) in examples.iter().enumerate() {
        let example = Encoded {
            src: ids.clone(),
            label: Some(i as u32),
            ..Encoded::default()
        };
        writer.push(&example).unwrap();
    }
    let fingerprint = Fingerprint {
        sources: vec![],
        tokenizer_crc32: 0,
        normalization: String::new(),
        max_src_length: 64,
        max_trg_length: 64,
        labels: vec![],
    };
    let entry = writer.finish(fingerprint, Default::default()).unwrap();
    assert_eq!(entry.id_bytes, 4);
    let data = TaskData::open(&dir).unwrap();
    for (i, ids) in examples.iter().enumerate() {
        assert_eq!(&data.src(i).to_vec(), ids);
    }
    assert_eq!(data.labels().unwrap(), &[0, 1, 2]);
    assert_eq!(data.length_key(0), 3);
    let _ = std::fs::remove_dir_all(&dir);
}
