//! Loaders for SentEval's `data/downstream` folder, file by file as its download script
//! lays it out. Sentences are kept as the files give them (already tokenized and, for STS,
//! lowercased by that script).

use std::path::{Path, PathBuf};

use super::data::{Example, Target};
use super::files::{read_lines, tab_fields, Line};
use crate::error::{Error, Result};

/// The SentEval transfer tasks this crate evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SentevalTask {
    Mr,
    Cr,
    Subj,
    Mpqa,
    Sst2,
    Sst5,
    Trec,
    Mrpc,
    SickE,
    SickR,
    StsB,
    Sts12,
    Sts13,
    Sts14,
    Sts15,
    Sts16,
}

impl SentevalTask {
    /// Every task, in SentEval's order.
    pub const ALL: [SentevalTask; 16] = [
        SentevalTask::Mr,
        SentevalTask::Cr,
        SentevalTask::Subj,
        SentevalTask::Mpqa,
        SentevalTask::Sst2,
        SentevalTask::Sst5,
        SentevalTask::Trec,
        SentevalTask::Mrpc,
        SentevalTask::SickE,
        SentevalTask::SickR,
        SentevalTask::StsB,
        SentevalTask::Sts12,
        SentevalTask::Sts13,
        SentevalTask::Sts14,
        SentevalTask::Sts15,
        SentevalTask::Sts16,
    ];

    /// The name SentEval reports the task under.
    pub fn name(self) -> &'static str {
        match self {
            SentevalTask::Mr => "MR",
            SentevalTask::Cr => "CR",
            SentevalTask::Subj => "SUBJ",
            SentevalTask::Mpqa => "MPQA",
            SentevalTask::Sst2 => "SST2",
            SentevalTask::Sst5 => "SST5",
            SentevalTask::Trec => "TREC",
            SentevalTask::Mrpc => "MRPC",
            SentevalTask::SickE => "SICKEntailment",
            SentevalTask::SickR => "SICKRelatedness",
            SentevalTask::StsB => "STSBenchmark",
            SentevalTask::Sts12 => "STS12",
            SentevalTask::Sts13 => "STS13",
            SentevalTask::Sts14 => "STS14",
            SentevalTask::Sts15 => "STS15",
            SentevalTask::Sts16 => "STS16",
        }
    }

    /// The sub-datasets of an unsupervised STS year, as SentEval lists them.
    pub fn sts_datasets(self) -> &'static [&'static str] {
        match self {
            SentevalTask::Sts12 => &[
                "MSRpar",
                "MSRvid",
                "SMTeuroparl",
                "surprise.OnWN",
                "surprise.SMTnews",
            ],
            SentevalTask::Sts13 => &["FNWN", "headlines", "OnWN"],
            SentevalTask::Sts14 => &[
                "deft-forum",
                "deft-news",
                "headlines",
                "images",
                "OnWN",
                "tweet-news",
            ],
            SentevalTask::Sts15 => &[
                "answers-forums",
                "answers-students",
                "belief",
                "headlines",
                "images",
            ],
            SentevalTask::Sts16 => &[
                "answer-answer",
                "headlines",
                "plagiarism",
                "postediting",
                "question-question",
            ],
            _ => &[],
        }
    }
}

impl std::str::FromStr for SentevalTask {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.to_ascii_lowercase();
        let alias = match wanted.as_str() {
            "sick-e" | "sicke" => "sickentailment",
            "sick-r" | "sickr" => "sickrelatedness",
            "sts-b" | "stsb" => "stsbenchmark",
            other => other,
        };
        SentevalTask::ALL
            .into_iter()
            .find(|t| t.name().to_ascii_lowercase() == alias)
            .ok_or_else(|| Error::Invalid(format!("unknown SentEval task '{s}'")))
    }
}

/// A task's data in the shape its protocol needs.
#[derive(Clone, Debug, PartialEq)]
pub enum SentevalData {
    /// One labelled corpus, scored by cross-validation (MR, CR, SUBJ, MPQA).
    Corpus(Vec<Example>),
    /// A training and a test set; the penalty is chosen by cross-validation on the
    /// training set (TREC, MRPC).
    TrainTest {
        train: Vec<Example>,
        test: Vec<Example>,
    },
    /// Training, development and test sets (SST, SICK, STS Benchmark).
    Splits {
        train: Vec<Example>,
        dev: Vec<Example>,
        test: Vec<Example>,
    },
    /// Named sub-datasets of scored pairs, with no training (STS12-16).
    Similarity(Vec<(String, Vec<Example>)>),
}

/// The `downstream` folder: `root` itself, or `root/downstream`, or
/// `root/data/downstream`, whichever holds the task folders.
pub fn downstream_dir(root: &Path) -> PathBuf {
    for candidate in [
        root.join("data").join("downstream"),
        root.join("downstream"),
    ] {
        if candidate.is_dir() {
            return candidate;
        }
    }
    root.to_path_buf()
}

/// Loads `task` from a SentEval `data/downstream` folder.
pub fn load(root: &Path, task: SentevalTask) -> Result<SentevalData> {
    let root = downstream_dir(root);
    let dir = |name: &str| root.join(name);
    match task {
        SentevalTask::Mr => binary_corpus(&dir("MR"), "rt-polarity.pos", "rt-polarity.neg"),
        SentevalTask::Cr => binary_corpus(&dir("CR"), "custrev.pos", "custrev.neg"),
        SentevalTask::Subj => binary_corpus(&dir("SUBJ"), "subj.objective", "subj.subjective"),
        SentevalTask::Mpqa => binary_corpus(&dir("MPQA"), "mpqa.pos", "mpqa.neg"),
        SentevalTask::Sst2 | SentevalTask::Sst5 => {
            let (sub, classes) = match task {
                SentevalTask::Sst2 => ("binary", 2),
                _ => ("fine", 5),
            };
            let folder = dir("SST").join(sub);
            let load = |split: &str| sst_file(&folder.join(format!("sentiment-{split}")), classes);
            Ok(SentevalData::Splits {
                train: load("train")?,
                dev: load("dev")?,
                test: load("test")?,
            })
        }
        SentevalTask::Trec => Ok(SentevalData::TrainTest {
            train: trec_file(&dir("TREC").join("train_5500.label"))?,
            test: trec_file(&dir("TREC").join("TREC_10.label"))?,
        }),
        SentevalTask::Mrpc => Ok(SentevalData::TrainTest {
            train: mrpc_file(&dir("MRPC").join("msr_paraphrase_train.txt"))?,
            test: mrpc_file(&dir("MRPC").join("msr_paraphrase_test.txt"))?,
        }),
        SentevalTask::SickE | SentevalTask::SickR => {
            let entailment = task == SentevalTask::SickE;
            let load =
                |split: &str| sick_file(&dir("SICK").join(format!("SICK_{split}.txt")), entailment);
            Ok(SentevalData::Splits {
                train: load("train")?,
                dev: load("trial")?,
                test: load("test_annotated")?,
            })
        }
        SentevalTask::StsB => {
            let folder = dir("STS").join("STSBenchmark");
            let load = |split: &str| sts_benchmark_file(&folder.join(format!("sts-{split}.csv")));
            Ok(SentevalData::Splits {
                train: load("train")?,
                dev: load("dev")?,
                test: load("test")?,
            })
        }
        _ => {
            let folder = dir("STS").join(format!("{}-en-test", task.name()));
            let mut sets = Vec::new();
            for name in task.sts_datasets() {
                sets.push((name.to_string(), sts_year_files(&folder, name)?));
            }
            Ok(SentevalData::Similarity(sets))
        }
    }
}

/// One sentence per line; an empty line is an error (it would be an empty sentence).
fn sentence_lines(path: &Path) -> Result<Vec<Line>> {
    let lines = read_lines(path)?;
    if let Some(empty) = lines.iter().find(|l| l.text.trim().is_empty()) {
        return Err(Error::parse(
            path,
            empty.number,
            "empty line where a sentence was expected",
        ));
    }
    if lines.is_empty() {
        return Err(Error::parse(path, 0, "no sentences"));
    }
    Ok(lines)
}

/// Two files of sentences, the first labelled 1 and the second 0 (SentEval's convention).
fn binary_corpus(dir: &Path, positive: &str, negative: &str) -> Result<SentevalData> {
    let mut examples = Vec::new();
    for (file, class) in [(positive, 1), (negative, 0)] {
        let path = dir.join(file);
        for line in sentence_lines(&path)? {
            let id = format!("{file}:{}", line.number);
            examples.push(Example::single(id, line.text.trim(), Target::Class(class)));
        }
    }
    Ok(SentevalData::Corpus(examples))
}

/// SST: binary files hold `sentence<TAB>label`; fine-grained ones `label sentence`.
fn sst_file(path: &Path, classes: usize) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for line in sentence_lines(path)? {
        let (text, label) = if classes == 2 {
            let fields = tab_fields(path, &line, 2)?;
            (fields[0], fields[1])
        } else {
            let text = line.text.trim();
            let (label, text) = text
                .split_once(' ')
                .ok_or_else(|| Error::parse(path, line.number, "expected 'label sentence'"))?;
            (text, label)
        };
        let class = label
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&c| c < classes)
            .ok_or_else(|| {
                Error::parse(
                    path,
                    line.number,
                    format!("label '{label}' is not a class in 0..{classes}"),
                )
            })?;
        examples.push(Example::single(
            line.number.to_string(),
            text.trim(),
            Target::Class(class),
        ));
    }
    Ok(examples)
}

/// TREC's six coarse question classes, in SentEval's order.
pub const TREC_CLASSES: [&str; 6] = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"];

/// TREC: `COARSE:fine question words`.
fn trec_file(path: &Path) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for line in sentence_lines(path)? {
        let text = line.text.trim();
        let parsed = text.split_once(':').and_then(|(coarse, rest)| {
            let class = TREC_CLASSES.iter().position(|&c| c == coarse)?;
            let (_fine, question) = rest.split_once(' ')?;
            Some((class, question))
        });
        let (class, question) = parsed.ok_or_else(|| {
            Error::parse(
                path,
                line.number,
                "expected 'CLASS:fine question' with CLASS one of ABBR DESC ENTY HUM LOC NUM",
            )
        })?;
        examples.push(Example::single(
            line.number.to_string(),
            question.trim(),
            Target::Class(class),
        ));
    }
    Ok(examples)
}

/// MRPC: a header, then `Quality<TAB>#1 ID<TAB>#2 ID<TAB>#1 String<TAB>#2 String`.
fn mrpc_file(path: &Path) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let mut examples = Vec::new();
    for line in lines.iter().skip(1) {
        let fields = tab_fields(path, line, 5)?;
        let class = match fields[0].trim() {
            "0" => 0,
            "1" => 1,
            other => {
                return Err(Error::parse(
                    path,
                    line.number,
                    format!("quality '{other}' is neither 0 nor 1"),
                ))
            }
        };
        let id = format!("{}-{}", fields[1], fields[2]);
        examples.push(Example::pair(
            id,
            fields[3],
            fields[4],
            Target::Class(class),
        ));
    }
    non_empty(path, examples)
}

/// SICK-E's labels, in SentEval's order.
pub const SICK_CLASSES: [&str; 3] = ["CONTRADICTION", "NEUTRAL", "ENTAILMENT"];

/// SICK: a header, then `pair_ID, sentence_A, sentence_B, relatedness_score,
/// entailment_judgment` separated by tabs.
fn sick_file(path: &Path, entailment: bool) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let mut examples = Vec::new();
    for line in lines.iter().skip(1) {
        let fields = tab_fields(path, line, 5)?;
        let target = if entailment {
            let label = fields[4].trim();
            let class = SICK_CLASSES
                .iter()
                .position(|&c| c == label)
                .ok_or_else(|| {
                    Error::parse(
                        path,
                        line.number,
                        format!("unknown entailment label '{label}'"),
                    )
                })?;
            Target::Class(class)
        } else {
            Target::Score(parse_score(path, line.number, fields[3], 1.0, 5.0)?)
        };
        examples.push(Example::pair(fields[0], fields[1], fields[2], target));
    }
    non_empty(path, examples)
}

/// STS Benchmark: no header; `genre, file, year, id, score, sentence1, sentence2`, then
/// optional source columns.
fn sts_benchmark_file(path: &Path) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for line in read_lines(path)? {
        let fields = tab_fields(path, &line, 7)?;
        let score = parse_score(path, line.number, fields[4], 0.0, 5.0)?;
        let id = format!("{}-{}", fields[1], fields[3]);
        examples.push(Example::pair(
            id,
            fields[5],
            fields[6],
            Target::Score(score),
        ));
    }
    non_empty(path, examples)
}

/// STS12-16: `STS.input.<set>.txt` (two sentences per line) and `STS.gs.<set>.txt` (one
/// score per line; an empty line means the pair has no gold score and is skipped).
fn sts_year_files(folder: &Path, dataset: &str) -> Result<Vec<Example>> {
    let input_path = folder.join(format!("STS.input.{dataset}.txt"));
    let gold_path = folder.join(format!("STS.gs.{dataset}.txt"));
    let inputs = read_lines(&input_path)?;
    let golds = read_lines(&gold_path)?;
    if inputs.len() != golds.len() {
        return Err(Error::parse(
            &gold_path,
            0,
            format!("{} scores for {} sentence pairs", golds.len(), inputs.len()),
        ));
    }
    let mut examples = Vec::new();
    for (input, gold) in inputs.iter().zip(&golds) {
        let fields = tab_fields(&input_path, input, 2)?;
        if gold.text.trim().is_empty() {
            continue;
        }
        let score = parse_score(&gold_path, gold.number, &gold.text, 0.0, 5.0)?;
        examples.push(Example::pair(
            input.number.to_string(),
            fields[0],
            fields[1],
            Target::Score(score),
        ));
    }
    non_empty(&gold_path, examples)
}

/// Parses a gold score and checks it lies in `[low, high]`.
pub(crate) fn parse_score(
    path: &Path,
    line: usize,
    text: &str,
    low: f64,
    high: f64,
) -> Result<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| (low..=high).contains(s))
        .ok_or_else(|| {
            Error::parse(
                path,
                line,
                format!("score '{}' is not a number in [{low}, {high}]", text.trim()),
            )
        })
}

/// Rejects a file that yielded no examples.
pub(crate) fn non_empty(path: &Path, examples: Vec<Example>) -> Result<Vec<Example>> {
    if examples.is_empty() {
        return Err(Error::parse(path, 0, "no examples"));
    }
    Ok(examples)
}
