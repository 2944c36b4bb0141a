//! The bilingual benchmark's files, in a format this project defines (no public
//! distribution exists): a `bilingual/` folder holding
//! - `nli.train.tsv`, `nli.dev.tsv`, `nli.test.tsv`: `premise<TAB>hypothesis<TAB>label`,
//!   label `entailment`, `neutral` or `contradiction`, no header; premise and hypothesis
//!   may be in different languages;
//! - `sts.test.tsv`: `sentence1<TAB>sentence2<TAB>score`, score in [0, 5], no header.
//!
//! Lines starting with `#` are comments.

use std::path::{Path, PathBuf};

use super::alue_data::NLI_LABELS;
use super::data::{Example, Target};
use super::files::{read_lines, tab_fields, Line};
use super::senteval_data::{non_empty, parse_score};
use crate::error::{Error, Result};

/// The bilingual NLI splits.
#[derive(Clone, Debug, PartialEq)]
pub struct BilingualNli {
    pub train: Vec<Example>,
    /// Validation examples when `nli.dev.tsv` exists.
    pub dev: Option<Vec<Example>>,
    pub test: Vec<Example>,
}

/// The `bilingual` folder: `root/bilingual` when it exists, else `root`.
pub fn bilingual_dir(root: &Path) -> PathBuf {
    let nested = root.join("bilingual");
    if nested.is_dir() {
        nested
    } else {
        root.to_path_buf()
    }
}

/// Non-comment lines of a file.
fn data_lines(path: &Path) -> Result<Vec<Line>> {
    Ok(read_lines(path)?
        .into_iter()
        .filter(|l| !l.text.starts_with('#'))
        .collect())
}

/// Loads one NLI file.
pub fn load_nli_file(path: &Path) -> Result<Vec<Example>> {
    let mut examples = Vec::new();
    for line in data_lines(path)? {
        let fields = tab_fields(path, &line, 3)?;
        let label = fields[2].trim();
        let class = NLI_LABELS.iter().position(|&l| l == label).ok_or_else(|| {
            Error::parse(
                path,
                line.number,
                format!("unknown label '{label}' (expected entailment, neutral or contradiction)"),
            )
        })?;
        examples.push(Example::pair(
            line.number.to_string(),
            fields[0],
            fields[1],
            Target::Class(class),
        ));
    }
    non_empty(path, examples)
}

/// Loads bilingual NLI from `root` (or `root/bilingual`).
pub fn load_nli(root: &Path) -> Result<BilingualNli> {
    let dir = bilingual_dir(root);
    let dev_path = dir.join("nli.dev.tsv");
    Ok(BilingualNli {
        train: load_nli_file(&dir.join("nli.train.tsv"))?,
        dev: dev_path
            .exists()
            .then(|| load_nli_file(&dev_path))
            .transpose()?,
        test: load_nli_file(&dir.join("nli.test.tsv"))?,
    })
}

/// Loads bilingual STS pairs from `root` (or `root/bilingual`).
pub fn load_sts(root: &Path) -> Result<Vec<Example>> {
    let path = bilingual_dir(root).join("sts.test.tsv");
    let mut examples = Vec::new();
    for line in data_lines(&path)? {
        let fields = tab_fields(&path, &line, 3)?;
        let score = parse_score(&path, line.number, fields[2], 0.0, 5.0)?;
        examples.push(Example::pair(
            line.number.to_string(),
            fields[0],
            fields[1],
            Target::Score(score),
        ));
    }
    non_empty(&path, examples)
}
