//! The pipeline's configuration file (config.json).
//!
//! One JSON file drives tokenizer training, tokenization, training and evaluation. Its keys
//! follow GenSen's multi-task configuration; `docs/CONFIG.md` documents each one. Loading
//! checks everything that can be checked before work starts: unknown keys, wrong types,
//! missing files, label mappings against class counts, and task names usable as folder
//! names. Relative paths are resolved against the config file's folder, so a config works
//! from any working directory.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::text::normalize::{Language, NormalizeOptions};
use crate::{Error, Result};

/// A whole config.json, validated, with every path made absolute (or relative to the
/// current directory when the config path itself was relative).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Optimisation settings.
    pub training: Training,
    /// How often to log, checkpoint and evaluate.
    #[serde(default)]
    pub management: Management,
    /// Tokenizer (SentencePiece) settings.
    pub vocab: Vocab,
    /// Model sizes and output folders.
    pub model: Model,
    /// The tasks trained together; at least one.
    pub tasks: Vec<Task>,
    /// The file this config was loaded from.
    #[serde(skip)]
    pub path: PathBuf,
}

/// The `training` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// The optimiser; only Adam, as GenSen.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Peak learning rate.
    #[serde(default = "default_lrate")]
    pub lrate: f64,
    /// Global gradient-norm clipping threshold; 0 disables clipping.
    #[serde(default = "default_clip")]
    pub clip_c: f64,
    /// Sentences (or sentence pairs) per minibatch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Seed of every random choice (initialisation, dropout, shuffles, task sampling).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Steps of linear warm-up from 0 to `lrate`.
    #[serde(default)]
    pub warmup_steps: u64,
    /// Learning-rate schedule after warm-up.
    #[serde(default)]
    pub lr_decay: LrDecay,
    /// Worker threads for the CPU backend and data loading; `None` means all cores.
    #[serde(default)]
    pub threads: Option<usize>,
    /// When set, every N-th step is a classification batch (as GenSen did with NLI) and the
    /// other steps sample among the remaining tasks.
    #[serde(default)]
    pub classification_every: Option<u64>,
    /// How many step checkpoints to keep on disk (the best one is kept in addition).
    #[serde(default = "default_keep_checkpoints")]
    pub keep_checkpoints: usize,
    /// Stop after this many steps; `None` trains until interrupted.
    #[serde(default)]
    pub max_steps: Option<u64>,
}

/// The optimiser named by `training.optimizer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Adam with the usual betas (0.9, 0.999).
    #[default]
    Adam,
}

/// The learning-rate schedule after warm-up (`training.lr_decay`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrDecay {
    /// Constant learning rate.
    #[default]
    None,
    /// Linear decay to 0 at `max_steps` (requires `max_steps`).
    Linear,
    /// `lrate * sqrt(warmup / step)` after warm-up.
    InverseSqrt,
}

/// The `management` section; all counters are in examples, as GenSen.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Management {
    /// Log the running loss every this many examples.
    #[serde(default = "default_monitor_loss")]
    pub monitor_loss: u64,
    /// Write a checkpoint every this many examples.
    #[serde(default = "default_checkpoint_freq")]
    pub checkpoint_freq: u64,
    /// Evaluate on the validation splits every this many examples.
    #[serde(default = "default_eval_freq")]
    pub eval_freq: u64,
}

impl Default for Management {
    fn default() -> Self {
        Management {
            monitor_loss: default_monitor_loss(),
            checkpoint_freq: default_checkpoint_freq(),
            eval_freq: default_eval_freq(),
        }
    }
}

/// The `vocab` section: the shared SentencePiece vocabulary.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vocab {
    /// The tokenizer is written as `<vocab_dir>/<model_prefix>.model` and `.vocab`.
    #[serde(default = "default_model_prefix")]
    pub model_prefix: String,
    /// Number of pieces, the four reserved ids included.
    #[serde(default = "default_vocab_size")]
    pub vocab_size: usize,
    /// BPE (default) or unigram.
    #[serde(default)]
    pub model_type: VocabModel,
    /// At most this many sentences (sampled uniformly) train the tokenizer.
    #[serde(default = "default_max_num_sentences")]
    pub max_num_sentences: usize,
    /// Pieces always kept whole (user-defined symbols).
    #[serde(default)]
    pub special_tokens: Vec<String>,
    /// Lowercase text during normalization.
    #[serde(default = "default_true")]
    pub lowercase: bool,
    /// Fraction of characters the vocabulary must cover; rarer characters become `<unk>`.
    #[serde(default = "default_character_coverage")]
    pub character_coverage: f32,
}

/// The SentencePiece model type (`vocab.model_type`): `bpe` (default, as GenSen-Ar) or
/// `unigram`; the trainer's own enum, so no conversion is needed.
pub use crate::text::spm::ModelType as VocabModel;

/// The `model` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Sentence-vector size (the encoder's hidden size times directions).
    #[serde(default = "default_dim")]
    pub dim_src: usize,
    /// Decoder hidden size.
    #[serde(default = "default_dim")]
    pub dim_trg: usize,
    /// Source embedding size.
    #[serde(default = "default_dim_word")]
    pub dim_word_src: usize,
    /// Target embedding size.
    #[serde(default = "default_dim_word")]
    pub dim_word_trg: usize,
    /// Encoder GRU layers.
    #[serde(default = "default_layers")]
    pub n_layers_src: usize,
    /// Bidirectional encoder.
    #[serde(default = "default_true")]
    pub bidirectional: bool,
    /// Dropout probability.
    #[serde(default = "default_dropout")]
    pub dropout: f32,
    /// Source sentences are cut to this many pieces (before `<s>` and `</s>` are added).
    #[serde(default = "default_max_length")]
    pub max_src_length: usize,
    /// Target sentences are cut to this many pieces (before `<s>` / `</s>` are added).
    #[serde(default = "default_max_length")]
    pub max_trg_length: usize,
    /// Pooling of the encoder states into the sentence vector.
    #[serde(default)]
    pub pooling_strategy: Pooling,
    /// Normalize text (GenSen-Ar rules) before tokenization.
    #[serde(default = "default_true")]
    pub normalize: bool,
    /// Checkpoints, logs and (by default) shards go here.
    pub model_dir: PathBuf,
    /// The tokenizer's folder; default `<model_dir>/vocab`.
    #[serde(default)]
    pub vocab_dir: Option<PathBuf>,
    /// Shards go to `<data_dir>/<taskname>/`; default `<model_dir>/data`.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
}

/// How encoder states become one sentence vector (`model.pooling_strategy`): `last`
/// (default), `max` or `mean`; the engine's own enum.
pub use crate::engine::Pool as Pooling;

/// What a task trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum TaskType {
    /// Translation-like: a source sentence and a target sentence decoded from its vector.
    #[serde(rename = "seq2seq")]
    Seq2seq,
    /// One sentence and a class label.
    #[serde(rename = "classification")]
    Classification,
    /// Two sentences and a class label (NLI).
    #[serde(rename = "pair-classification")]
    PairClassification,
}

impl TaskType {
    /// Whether examples carry a label.
    pub fn has_labels(self) -> bool {
        self != TaskType::Seq2seq
    }
}

/// One entry of `tasks`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Unique name, also the shard folder's name.
    pub taskname: String,
    /// seq2seq, classification or pair-classification.
    pub tasktype: TaskType,
    /// Language of the source side: ar, en or bi (decided per script run).
    pub language: Language,
    /// Language of the target side of seq2seq tasks; default `language`.
    #[serde(default)]
    pub language_trg: Option<Language>,
    /// Training file (the source side for seq2seq).
    pub train_src: PathBuf,
    /// Training target file (seq2seq only), line-aligned with `train_src`.
    #[serde(default)]
    pub train_trg: Option<PathBuf>,
    /// Validation file.
    #[serde(default)]
    pub val_src: Option<PathBuf>,
    /// Validation target file (seq2seq only).
    #[serde(default)]
    pub val_trg: Option<PathBuf>,
    /// JSON file mapping label names to class ids (`{"entailment": 0, ...}`) or a list of
    /// names (id = position). Required for classification tasks.
    #[serde(default)]
    pub labels_mapping: Option<PathBuf>,
    /// Number of classes; must agree with the mapping.
    #[serde(default)]
    pub num_of_classes: Option<usize>,
    /// Relative sampling weight of the task (uniform when all are 1).
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// The label mapping read from `labels_mapping`.
    #[serde(skip)]
    pub labels: BTreeMap<String, u32>,
}

impl Task {
    /// The target side's language (seq2seq).
    pub fn target_language(&self) -> Language {
        self.language_trg.unwrap_or(self.language)
    }

    /// The class id of a label name, if it is in the mapping.
    pub fn label_id(&self, label: &str) -> Option<u32> {
        self.labels.get(label).copied()
    }
}

fn default_lrate() -> f64 {
    1e-4
}
fn default_clip() -> f64 {
    1.0
}
fn default_batch_size() -> usize {
    48
}
fn default_seed() -> u64 {
    90
}
fn default_keep_checkpoints() -> usize {
    3
}
fn default_monitor_loss() -> u64 {
    9600
}
fn default_checkpoint_freq() -> u64 {
    512_000
}
fn default_eval_freq() -> u64 {
    512_000
}
fn default_model_prefix() -> String {
    "tokenizer".to_string()
}
fn default_vocab_size() -> usize {
    40_000
}
fn default_max_num_sentences() -> usize {
    30_000_000
}
fn default_true() -> bool {
    true
}
fn default_character_coverage() -> f32 {
    0.9995
}
fn default_dim() -> usize {
    2048
}
fn default_dim_word() -> usize {
    512
}
fn default_layers() -> usize {
    1
}
fn default_dropout() -> f32 {
    0.3
}
fn default_max_length() -> usize {
    64
}
fn default_weight() -> f64 {
    1.0
}

impl Config {
    /// Reads, resolves and validates a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Config::from_json(&text, path)
    }

    /// Parses and validates config text as if it had been read from `path` (relative paths
    /// inside it are resolved against `path`'s folder).
    pub fn from_json(text: &str, path: &Path) -> Result<Config> {
        let err = |msg: String| Error::Config {
            path: path.to_path_buf(),
            msg,
        };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let mut config: Config =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                let key = e.path().to_string();
                let inner = e.into_inner();
                if key == "." {
                    err(inner.to_string())
                } else {
                    err(format!("key `{key}`: {inner}"))
                }
            })?;
        deserializer
            .end()
            .map_err(|e| err(format!("trailing text: {e}")))?;
        config.path = path.to_path_buf();
        config.resolve_paths();
        config.validate()?;
        Ok(config)
    }

    /// The tokenizer model file: `<vocab_dir>/<model_prefix>.model`.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.vocab_dir()
            .join(format!("{}.model", self.vocab.model_prefix))
    }

    /// The tokenizer's folder.
    pub fn vocab_dir(&self) -> PathBuf {
        self.model
            .vocab_dir
            .clone()
            .unwrap_or_else(|| self.model.model_dir.join("vocab"))
    }

    /// The folder holding one shard folder per task.
    pub fn data_dir(&self) -> PathBuf {
        self.model
            .data_dir
            .clone()
            .unwrap_or_else(|| self.model.model_dir.join("data"))
    }

    /// The shard folder of a task.
    pub fn shard_dir(&self, task: &Task) -> PathBuf {
        self.data_dir().join(&task.taskname)
    }

    /// Normalization options for text in `language`, or `None` when `model.normalize` is off.
    pub fn normalize_options(&self) -> Option<NormalizeOptions> {
        self.model.normalize.then(|| NormalizeOptions {
            lowercase: self.vocab.lowercase,
            ..NormalizeOptions::default()
        })
    }

    /// Worker threads to use: `training.threads` or every core.
    pub fn threads(&self) -> usize {
        self.training.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    fn resolve_paths(&mut self) {
        let base = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.model.model_dir);
        for dir in [&mut self.model.vocab_dir, &mut self.model.data_dir]
            .into_iter()
            .flatten()
        {
            resolve(dir);
        }
        for task in &mut self.tasks {
            resolve(&mut task.train_src);
            for p in [
                &mut task.train_trg,
                &mut task.val_src,
                &mut task.val_trg,
                &mut task.labels_mapping,
            ]
            .into_iter()
            .flatten()
            {
                resolve(p);
            }
        }
    }

    fn validate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let err = |msg: String| Error::Config {
            path: path.clone(),
            msg,
        };

        let t = &self.training;
        if !(t.lrate.is_finite() && t.lrate > 0.0) {
            return Err(err(format!(
                "key `training.lrate`: must be > 0, got {}",
                t.lrate
            )));
        }
        if !(t.clip_c.is_finite() && t.clip_c >= 0.0) {
            return Err(err(format!(
                "key `training.clip_c`: must be >= 0, got {}",
                t.clip_c
            )));
        }
        if t.batch_size == 0 {
            return Err(err("key `training.batch_size`: must be > 0".into()));
        }
        if t.threads == Some(0) {
            return Err(err("key `training.threads`: must be > 0".into()));
        }
        if t.classification_every == Some(0) {
            return Err(err(
                "key `training.classification_every`: must be > 0".into()
            ));
        }
        if t.lr_decay == LrDecay::Linear && t.max_steps.is_none() {
            return Err(err(
                "key `training.lr_decay`: \"linear\" decays to 0 at `training.max_steps`, \
                 which is not set"
                    .into(),
            ));
        }
        if t.lr_decay == LrDecay::InverseSqrt && t.warmup_steps == 0 {
            return Err(err(
                "key `training.lr_decay`: \"inverse_sqrt\" needs `training.warmup_steps` > 0"
                    .into(),
            ));
        }

        let v = &self.vocab;
        if v.vocab_size <= 4 {
            return Err(err(format!(
                "key `vocab.vocab_size`: must exceed the 4 reserved ids, got {}",
                v.vocab_size
            )));
        }
        if v.max_num_sentences == 0 {
            return Err(err("key `vocab.max_num_sentences`: must be > 0".into()));
        }
        if !(v.character_coverage > 0.0 && v.character_coverage <= 1.0) {
            return Err(err(format!(
                "key `vocab.character_coverage`: must be in (0, 1], got {}",
                v.character_coverage
            )));
        }
        if v.model_prefix.is_empty() || v.model_prefix.contains(['/', '\\']) {
            return Err(err(format!(
                "key `vocab.model_prefix`: must be a plain file name, got {:?}",
                v.model_prefix
            )));
        }

        let m = &self.model;
        for (key, value) in [
            ("dim_src", m.dim_src),
            ("dim_trg", m.dim_trg),
            ("dim_word_src", m.dim_word_src),
            ("dim_word_trg", m.dim_word_trg),
            ("n_layers_src", m.n_layers_src),
            ("max_src_length", m.max_src_length),
            ("max_trg_length", m.max_trg_length),
        ] {
            if value == 0 {
                return Err(err(format!("key `model.{key}`: must be > 0")));
            }
        }
        if m.bidirectional && !m.dim_src.is_multiple_of(2) {
            return Err(err(format!(
                "key `model.dim_src`: a bidirectional encoder needs an even size, got {}",
                m.dim_src
            )));
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return Err(err(format!(
                "key `model.dropout`: must be in [0, 1), got {}",
                m.dropout
            )));
        }

        if self.tasks.is_empty() {
            return Err(err("key `tasks`: at least one task is required".into()));
        }
        let mut names = HashSet::new();
        for (i, task) in self.tasks.iter_mut().enumerate() {
            validate_task(task, i, &err)?;
            if !names.insert(task.taskname.clone()) {
                return Err(err(format!(
                    "key `tasks[{i}].taskname`: {:?} is used by two tasks",
                    task.taskname
                )));
            }
        }
        Ok(())
    }
}

fn validate_task(task: &mut Task, i: usize, err: &dyn Fn(String) -> Error) -> Result<()> {
    let key = |k: &str| format!("key `tasks[{i}].{k}`");
    let name_ok = !task.taskname.is_empty()
        && task.taskname != "."
        && task.taskname != ".."
        && task
            .taskname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(err(format!(
            "{}: {:?} must be non-empty ASCII letters, digits, '-', '_' or '.' (it names a folder)",
            key("taskname"),
            task.taskname
        )));
    }
    if !(task.weight.is_finite() && task.weight > 0.0) {
        return Err(err(format!(
            "{}: must be > 0, got {}",
            key("weight"),
            task.weight
        )));
    }

    // Files must exist before any work starts.
    let files = [
        ("train_src", Some(&task.train_src)),
        ("train_trg", task.train_trg.as_ref()),
        ("val_src", task.val_src.as_ref()),
        ("val_trg", task.val_trg.as_ref()),
        ("labels_mapping", task.labels_mapping.as_ref()),
    ];
    for (k, file) in files {
        if let Some(file) = file {
            if !file.is_file() {
                return Err(err(format!(
                    "{}: file {} does not exist",
                    key(k),
                    file.display()
                )));
            }
        }
    }

    match task.tasktype {
        TaskType::Seq2seq => {
            if task.train_trg.is_none() {
                return Err(err(format!(
                    "{}: required by seq2seq tasks",
                    key("train_trg")
                )));
            }
            if task.val_src.is_some() != task.val_trg.is_some() {
                return Err(err(format!(
                    "{}: seq2seq validation needs both val_src and val_trg",
                    key(if task.val_src.is_some() {
                        "val_trg"
                    } else {
                        "val_src"
                    })
                )));
            }
            for (k, set) in [
                ("labels_mapping", task.labels_mapping.is_some()),
                ("num_of_classes", task.num_of_classes.is_some()),
            ] {
                if set {
                    return Err(err(format!("{}: seq2seq tasks have no labels", key(k))));
                }
            }
        }
        TaskType::Classification | TaskType::PairClassification => {
            for (k, set) in [
                ("train_trg", task.train_trg.is_some()),
                ("val_trg", task.val_trg.is_some()),
                ("language_trg", task.language_trg.is_some()),
            ] {
                if set {
                    return Err(err(format!("{}: only seq2seq tasks have a target", key(k))));
                }
            }
            let Some(mapping) = &task.labels_mapping else {
                return Err(err(format!(
                    "{}: required by classification tasks",
                    key("labels_mapping")
                )));
            };
            task.labels = read_label_mapping(mapping, &key("labels_mapping"), err)?;
            let classes = task.labels.len();
            match task.num_of_classes {
                None => {
                    return Err(err(format!(
                        "{}: required by classification tasks",
                        key("num_of_classes")
                    )))
                }
                Some(n) if n != classes => {
                    return Err(err(format!(
                        "{}: is {n} but {} maps {classes} labels",
                        key("num_of_classes"),
                        mapping.display()
                    )))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Reads a label mapping: an object `{"name": id}` with ids exactly `0..n`, or a list of
/// names whose ids are their positions.
fn read_label_mapping(
    path: &Path,
    key: &str,
    err: &dyn Fn(String) -> Error,
) -> Result<BTreeMap<String, u32>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| err(format!("{key}: {} is not valid JSON: {e}", path.display())))?;
    let bad = |what: &str| err(format!("{key}: {}: {what}", path.display()));
    let mut labels = BTreeMap::new();
    match value {
        serde_json::Value::Object(map) => {
            for (name, id) in map {
                let id = id
                    .as_u64()
                    .and_then(|id| u32::try_from(id).ok())
                    .ok_or_else(|| {
                        bad(&format!("label {name:?} needs a non-negative integer id"))
                    })?;
                labels.insert(name, id);
            }
        }
        serde_json::Value::Array(names) => {
            for (id, name) in names.into_iter().enumerate() {
                let serde_json::Value::String(name) = name else {
                    return Err(bad("a label list must hold strings"));
                };
                if labels.insert(name.clone(), id as u32).is_some() {
                    return Err(bad(&format!("label {name:?} is listed twice")));
                }
            }
        }
        _ => {
            return Err(bad(
                "expected an object {\"label\": id} or a list of labels",
            ))
        }
    }
    if labels.is_empty() {
        return Err(bad("no labels"));
    }
    // Ids must be exactly 0..n so they index the classifier's outputs.
    let mut ids: Vec<u32> = labels.values().copied().collect();
    ids.sort_unstable();
    if ids.iter().enumerate().any(|(i, &id)| id as usize != i) {
        return Err(bad(&format!(
            "class ids must be 0..{} with each used once, got {ids:?}",
            labels.len()
        )));
    }
    Ok(labels)
}
