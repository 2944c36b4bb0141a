//! Loaders for the ALUE tasks on the files as their organisers distribute them. Each file is
//! found by name anywhere beneath the data folder, so a download can be used as it unpacks.

use std::path::{Path, PathBuf};

use super::data::{Example, Target};
use super::files::{find_file, read_csv, read_lines, tab_fields};
use super::senteval_data::non_empty;
use crate::error::{Error, Result};

/// The ALUE tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlueTask {
    Mq2q,
    Mdd,
    Svreg,
    Sec,
    Fid,
    Oold,
    Ohsd,
    Xnli,
    Diag,
}

/// How a task is posed and scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// One sentence, one of several classes.
    Single,
    /// A sentence pair, one of several classes.
    Pair,
    /// One sentence, a real-valued score.
    Regression,
    /// One sentence, any subset of labels.
    MultiLabel,
}

/// The metric a task reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// F1 of the class at this index of the label list.
    F1 {
        positive: usize,
    },
    MacroF1,
    Pearson,
    Jaccard,
    Accuracy,
    Matthews,
}

impl Metric {
    /// The metric's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::F1 { .. } => "F1",
            Metric::MacroF1 => "macro-F1",
            Metric::Pearson => "Pearson",
            Metric::Jaccard => "Jaccard",
            Metric::Accuracy => "accuracy",
            Metric::Matthews => "Matthews",
        }
    }
}

/// MADAR's 26 dialect labels (25 cities and MSA).
pub const MADAR_LABELS: [&str; 26] = [
    "ALE", "ALG", "ALX", "AMM", "ASW", "BAG", "BAS", "BEI", "BEN", "CAI", "DAM", "DOH", "FES",
    "JED", "JER", "KHA", "MOS", "MSA", "MUS", "RAB", "RIY", "SAL", "SAN", "SFX", "TRI", "TUN",
];

/// SemEval 2018 E-c's eleven emotions, in the files' column order.
pub const EMOTIONS: [&str; 11] = [
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "love",
    "optimism",
    "pessimism",
    "sadness",
    "surprise",
    "trust",
];

/// NLI labels in GenSen's order.
pub const NLI_LABELS: [&str; 3] = ["entailment", "neutral", "contradiction"];

impl AlueTask {
    /// Every task, in ALUE's order.
    pub const ALL: [AlueTask; 9] = [
        AlueTask::Mq2q,
        AlueTask::Mdd,
        AlueTask::Svreg,
        AlueTask::Sec,
        AlueTask::Fid,
        AlueTask::Oold,
        AlueTask::Ohsd,
        AlueTask::Xnli,
        AlueTask::Diag,
    ];

    /// The task's name on the leaderboard.
    pub fn name(self) -> &'static str {
        match self {
            AlueTask::Mq2q => "MQ2Q",
            AlueTask::Mdd => "MDD",
            AlueTask::Svreg => "SVREG",
            AlueTask::Sec => "SEC",
            AlueTask::Fid => "FID",
            AlueTask::Oold => "OOLD",
            AlueTask::Ohsd => "OHSD",
            AlueTask::Xnli => "XNLI",
            AlueTask::Diag => "DIAG",
        }
    }

    /// How the task is posed.
    pub fn kind(self) -> TaskKind {
        match self {
            AlueTask::Mq2q | AlueTask::Xnli | AlueTask::Diag => TaskKind::Pair,
            AlueTask::Svreg => TaskKind::Regression,
            AlueTask::Sec => TaskKind::MultiLabel,
            _ => TaskKind::Single,
        }
    }

    /// The metric ALUE reports for the task.
    pub fn metric(self) -> Metric {
        match self {
            AlueTask::Mq2q | AlueTask::Fid | AlueTask::Oold | AlueTask::Ohsd => {
                Metric::F1 { positive: 1 }
            }
            AlueTask::Mdd => Metric::MacroF1,
            AlueTask::Svreg => Metric::Pearson,
            AlueTask::Sec => Metric::Jaccard,
            AlueTask::Xnli => Metric::Accuracy,
            AlueTask::Diag => Metric::Matthews,
        }
    }

    /// The label names; for binary tasks index 1 is the positive class.
    pub fn labels(self) -> Vec<String> {
        let names: &[&str] = match self {
            AlueTask::Mq2q | AlueTask::Fid => &["0", "1"],
            AlueTask::Oold => &["NOT_OFF", "OFF"],
            AlueTask::Ohsd => &["NOT_HS", "HS"],
            AlueTask::Mdd => &MADAR_LABELS,
            AlueTask::Sec => &EMOTIONS,
            AlueTask::Xnli | AlueTask::Diag => &NLI_LABELS,
            AlueTask::Svreg => &[],
        };
        names.iter().map(|s| s.to_string()).collect()
    }
}

impl std::str::FromStr for AlueTask {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        AlueTask::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::Invalid(format!("unknown ALUE task '{s}'")))
    }
}

/// One ALUE task's data.
#[derive(Clone, Debug, PartialEq)]
pub struct AlueData {
    pub task: AlueTask,
    /// Labelled training examples (XNLI's for DIAG).
    pub train: Vec<Example>,
    /// Labelled examples to score on (the public test or dev file); `None` when the task
    /// distributes none, in which case the caller holds out part of `train`.
    pub eval: Option<Vec<Example>>,
    /// The leaderboard's input when found: examples whose predictions are submitted.
    pub leaderboard: Option<Vec<Example>>,
}

/// Finds a required file beneath `root`.
fn require(root: &Path, name: &str) -> Result<PathBuf> {
    find_file(root, name)?
        .ok_or_else(|| Error::Invalid(format!("no file named '{name}' beneath {}", root.display())))
}

/// Loads an optional file beneath `root` with `load`.
fn optional(
    root: &Path,
    name: &str,
    load: impl Fn(&Path) -> Result<Vec<Example>>,
) -> Result<Option<Vec<Example>>> {
    find_file(root, name)?.map(|path| load(&path)).transpose()
}

/// Loads `task` from files beneath `root`.
pub fn load(root: &Path, task: AlueTask) -> Result<AlueData> {
    let labels = task.labels();
    let (train, eval, leaderboard) = match task {
        AlueTask::Mq2q => (
            q2q_train(&require(root, "q2q_similarity_workshop_v2.1.tsv")?)?,
            None,
            optional(root, "q2q_no_labels_v1.0.tsv", q2q_private)?,
        ),
        AlueTask::Mdd => {
            let load = |path: &Path| text_label_tsv(path, &labels);
            let test = optional(root, "MADAR-Corpus-26-test.tsv", load)?;
            let eval = match test {
                Some(test) => Some(test),
                None => optional(root, "MADAR-Corpus-26-dev.tsv", load)?,
            };
            (
                load(&require(root, "MADAR-Corpus-26-train.tsv")?)?,
                eval.clone(),
                eval,
            )
        }
        AlueTask::Svreg => (
            valence(&require(root, "2018-Valence-reg-Ar-train.txt")?)?,
            optional(root, "2018-Valence-reg-Ar-dev.txt", valence)?,
            optional(root, "vreg_no_labels_v1.0.tsv", id_tweet_private)?,
        ),
        AlueTask::Sec => (
            emotions(&require(root, "2018-E-c-Ar-train.txt")?)?,
            optional(root, "2018-E-c-Ar-dev.txt", emotions)?,
            optional(root, "emotion_no_labels_v1.0.tsv", id_tweet_private)?,
        ),
        AlueTask::Fid => {
            let test = optional(root, "IDAT_test_text.csv", irony)?;
            (
                irony(&require(root, "IDAT_training_text.csv")?)?,
                test.clone(),
                test,
            )
        }
        AlueTask::Oold | AlueTask::Ohsd => {
            let column = if task == AlueTask::Oold { 1 } else { 2 };
            let load = |path: &Path| osact(path, column, &labels);
            (
                load(&require(root, "OSACT2020-sharedTask-train.txt")?)?,
                optional(root, "OSACT2020-sharedTask-dev.txt", load)?,
                optional(root, "tweets_v1.0.txt", tweets_private)?,
            )
        }
        AlueTask::Xnli => (
            nli_tsv(&require(root, "arabic_train.tsv")?)?,
            optional(root, "arabic_dev.tsv", nli_tsv)?,
            None,
        ),
        AlueTask::Diag => {
            let diagnostic = nli_tsv(&require(root, "diagnostic.tsv")?)?;
            let labelled = super::data::all_labelled(&diagnostic);
            (
                nli_tsv(&require(root, "arabic_train.tsv")?)?,
                labelled.then(|| diagnostic.clone()),
                Some(diagnostic),
            )
        }
    };
    Ok(AlueData {
        task,
        train,
        eval,
        leaderboard,
    })
}

/// The index of `label` in `labels`, or a parse error at `path:line`.
fn class_of(path: &Path, line: usize, label: &str, labels: &[String]) -> Result<usize> {
    let label = label.trim();
    labels.iter().position(|l| l == label).ok_or_else(|| {
        Error::parse(
            path,
            line,
            format!(
                "unknown label '{label}' (expected one of {})",
                labels.join(" ")
            ),
        )
    })
}

/// The column named `name` in a header, or a parse error.
fn column(path: &Path, header: &[&str], name: &str) -> Result<usize> {
    header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::parse(path, 1, format!("header has no '{name}' column")))
}

/// MQ2Q training file: header `question1 question2 label`.
fn q2q_train(path: &Path) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let header = lines
        .first()
        .ok_or_else(|| Error::parse(path, 0, "empty file"))?;
    let header = tab_fields(path, header, 3)?;
    let (q1, q2, label) = (
        column(path, &header, "question1")?,
        column(path, &header, "question2")?,
        column(path, &header, "label")?,
    );
    let needed = q1.max(q2).max(label) + 1;
    let labels = AlueTask::Mq2q.labels();
    let mut examples = Vec::new();
    for line in &lines[1..] {
        let fields = tab_fields(path, line, needed)?;
        let class = class_of(path, line.number, fields[label], &labels)?;
        examples.push(Example::pair(
            line.number.to_string(),
            fields[q1],
            fields[q2],
            Target::Class(class),
        ));
    }
    non_empty(path, examples)
}

/// MQ2Q leaderboard input: header `QuestionPairID question1 question2`.
fn q2q_private(path: &Path) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let mut examples = Vec::new();
    for line in lines.iter().skip(1) {
        let fields = tab_fields(path, line, 3)?;
        examples.push(Example::pair(
            fields[0],
            fields[1],
            fields[2],
            Target::Unlabelled,
        ));
    }
    non_empty(path, examples)
}

/// `text<TAB>label` without a header (MADAR).
fn text_label_tsv(path: &Path, labels: &[String]) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for line in read_lines(path)? {
        let fields = tab_fields(path, &line, 2)?;
        let class = class_of(path, line.number, fields[1], labels)?;
        examples.push(Example::single(
            line.number.to_string(),
            fields[0],
            Target::Class(class),
        ));
    }
    non_empty(path, examples)
}

/// SemEval 2018 V-reg: header `ID Tweet Affect Dimension Intensity Score`.
fn valence(path: &Path) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let mut examples = Vec::new();
    for line in lines.iter().skip(1) {
        let fields = tab_fields(path, line, 4)?;
        let score = super::senteval_data::parse_score(path, line.number, fields[3], 0.0, 1.0)?;
        examples.push(Example::single(fields[0], fields[1], Target::Score(score)));
    }
    non_empty(path, examples)
}

/// SemEval 2018 E-c: header `ID Tweet anger ... trust`, one 0/1 column per emotion.
fn emotions(path: &Path) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let mut examples = Vec::new();
    for line in lines.iter().skip(1) {
        let fields = tab_fields(path, line, 2 + EMOTIONS.len())?;
        let mut flags = Vec::with_capacity(EMOTIONS.len());
        for (emotion, value) in EMOTIONS.iter().zip(&fields[2..2 + EMOTIONS.len()]) {
            flags.push(match value.trim() {
                "1" => true,
                "0" => false,
                other => {
                    return Err(Error::parse(
                        path,
                        line.number,
                        format!("{emotion} is '{other}', expected 0 or 1"),
                    ))
                }
            });
        }
        examples.push(Example::single(fields[0], fields[1], Target::Labels(flags)));
    }
    non_empty(path, examples)
}

/// Leaderboard input with header `ID Tweet` (V-reg and E-c private sets).
fn id_tweet_private(path: &Path) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let mut examples = Vec::new();
    for line in lines.iter().skip(1) {
        let fields = tab_fields(path, line, 2)?;
        examples.push(Example::single(fields[0], fields[1], Target::Unlabelled));
    }
    non_empty(path, examples)
}

/// IDAT irony CSV: header `id,text,label`, quoted text.
fn irony(path: &Path) -> Result<Vec<Example>> {
    let records = read_csv(path)?;
    let labels = AlueTask::Fid.labels();
    let mut examples = Vec::new();
    for record in records.iter().skip(1) {
        if record.fields.len() < 3 {
            return Err(Error::parse(
                path,
                record.line,
                format!(
                    "expected 3 comma-separated fields, found {}",
                    record.fields.len()
                ),
            ));
        }
        let class = class_of(path, record.line, &record.fields[2], &labels)?;
        examples.push(Example::single(
            record.fields[0].trim(),
            record.fields[1].as_str(),
            Target::Class(class),
        ));
    }
    non_empty(path, examples)
}

/// OSACT 2020: `tweet<TAB>OFF|NOT_OFF<TAB>HS|NOT_HS`, no header; `column` picks the task.
fn osact(path: &Path, column: usize, labels: &[String]) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for line in read_lines(path)? {
        let fields = tab_fields(path, &line, 3)?;
        let class = class_of(path, line.number, fields[column], labels)?;
        examples.push(Example::single(
            line.number.to_string(),
            fields[0],
            Target::Class(class),
        ));
    }
    non_empty(path, examples)
}

/// OSACT leaderboard input: one tweet per line.
fn tweets_private(path: &Path) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let examples = lines
        .into_iter()
        .map(|line| Example::single(line.number.to_string(), line.text, Target::Unlabelled))
        .collect();
    non_empty(path, examples)
}

/// XNLI and the diagnostic set: a header naming `sentence1`, `sentence2` and optionally
/// `pairID` and `gold_label` (or `label`); rows without a label column are unlabelled.
fn nli_tsv(path: &Path) -> Result<Vec<Example>> {
    let lines = read_lines(path)?;
    let header = lines
        .first()
        .ok_or_else(|| Error::parse(path, 0, "empty file"))?;
    let header = tab_fields(path, header, 2)?;
    let first = column(path, &header, "sentence1")?;
    let second = column(path, &header, "sentence2")?;
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let id = find("pairID");
    let label = find("gold_label").or_else(|| find("label"));
    let needed = [Some(first), Some(second), id, label]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
        + 1;
    let labels = AlueTask::Xnli.labels();
    let mut examples = Vec::new();
    for line in &lines[1..] {
        let fields = tab_fields(path, line, needed)?;
        let target = match label {
            Some(l) => Target::Class(class_of(path, line.number, fields[l], &labels)?),
            None => Target::Unlabelled,
        };
        let id = id.map_or_else(|| (line.number - 1).to_string(), |i| fields[i].to_string());
        examples.push(Example::pair(id, fields[first], fields[second], target));
    }
    non_empty(path, examples)
}
