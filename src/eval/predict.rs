//! Prediction files in the formats the ALUE leaderboard accepts, one per task, named as
//! the leaderboard expects:
//!
//! | task | file | format |
//! |---|---|---|
//! | MQ2Q | `q2q.tsv` | header `QuestionPairID<TAB>prediction`, label 0/1 |
//! | MDD | `madar.tsv` | no header, one dialect label per line |
//! | SVREG | `v_reg.tsv` | header `ID<TAB>prediction`, the intensity |
//! | SEC | `E_c.tsv` | header `ID` and the 11 emotions, 0/1 per emotion |
//! | FID | `irony.tsv` | header `id<TAB>prediction`, row index and label 0/1 |
//! | OOLD | `offensive.tsv` | no header, `OFF` or `NOT_OFF` per line |
//! | OHSD | `hate.tsv` | no header, `HS` or `NOT_HS` per line |
//! | DIAG | `diagnostic.tsv` | header `pairID<TAB>prediction`, row index and NLI label |
//!
//! Rows follow the order of the leaderboard's input file. XNLI has no private test set.

use std::path::{Path, PathBuf};

use super::alue_data::{AlueTask, EMOTIONS};
use super::data::Example;
use super::files::write_atomic;
use super::heads::Predictions;
use crate::error::{Error, Result};

/// The leaderboard's file name for `task`, or `None` when it takes no submission.
pub fn file_name(task: AlueTask) -> Option<&'static str> {
    match task {
        AlueTask::Mq2q => Some("q2q.tsv"),
        AlueTask::Mdd => Some("madar.tsv"),
        AlueTask::Svreg => Some("v_reg.tsv"),
        AlueTask::Sec => Some("E_c.tsv"),
        AlueTask::Fid => Some("irony.tsv"),
        AlueTask::Oold => Some("offensive.tsv"),
        AlueTask::Ohsd => Some("hate.tsv"),
        AlueTask::Diag => Some("diagnostic.tsv"),
        AlueTask::Xnli => None,
    }
}

/// The submission text for `task`.
pub fn render(task: AlueTask, examples: &[Example], predictions: &Predictions) -> Result<String> {
    if examples.len() != predictions.len() {
        return Err(Error::shape(
            "leaderboard predictions",
            format!("{} rows", examples.len()),
            predictions.len().to_string(),
        ));
    }
    let labels = task.labels();
    let class_name = |c: usize| labels.get(c).cloned().unwrap_or_else(|| c.to_string());
    let mut out = String::new();
    match (task, predictions) {
        (AlueTask::Mq2q, Predictions::Classes(p)) => {
            out += "QuestionPairID\tprediction\n";
            for (e, &c) in examples.iter().zip(p) {
                out += &format!("{}\t{}\n", e.id, class_name(c));
            }
        }
        (AlueTask::Mdd | AlueTask::Oold | AlueTask::Ohsd, Predictions::Classes(p)) => {
            for &c in p {
                out += &format!("{}\n", class_name(c));
            }
        }
        (AlueTask::Fid | AlueTask::Diag, Predictions::Classes(p)) => {
            let id_column = if task == AlueTask::Fid {
                "id"
            } else {
                "pairID"
            };
            out += &format!("{id_column}\tprediction\n");
            for (i, &c) in p.iter().enumerate() {
                out += &format!("{i}\t{}\n", class_name(c));
            }
        }
        (AlueTask::Svreg, Predictions::Scores(p)) => {
            out += "ID\tprediction\n";
            for (e, v) in examples.iter().zip(p) {
                out += &format!("{}\t{v:.6}\n", e.id);
            }
        }
        (AlueTask::Sec, Predictions::Labels(p)) => {
            out += &format!("ID\t{}\n", EMOTIONS.join("\t"));
            for (e, flags) in examples.iter().zip(p) {
                let cells: Vec<&str> = flags.iter().map(|&f| if f { "1" } else { "0" }).collect();
                out += &format!("{}\t{}\n", e.id, cells.join("\t"));
            }
        }
        _ => {
            return Err(Error::Invalid(format!(
                "{} takes no leaderboard predictions of this kind",
                task.name()
            )))
        }
    }
    Ok(out)
}

/// Writes `task`'s submission file into `dir` (atomically) and returns its path.
pub fn write(
    dir: &Path,
    task: AlueTask,
    examples: &[Example],
    predictions: &Predictions,
) -> Result<PathBuf> {
    let name = file_name(task).ok_or_else(|| {
        Error::Invalid(format!("{} takes no leaderboard submission", task.name()))
    })?;
    let path = dir.join(name);
    write_atomic(&path, render(task, examples, predictions)?.as_bytes())?;
    Ok(path)
}
