//! The examples every loader produces: one sentence or a sentence pair, an identifier and a
//! target (class, score, label set, or none for a leaderboard's private test set).

use crate::engine::rng::Rng;
use crate::error::{Error, Result};

/// What an example is labelled with.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Index of a class in the task's label list.
    Class(usize),
    /// A real-valued score (relatedness, valence intensity).
    Score(f64),
    /// One flag per label of a multi-label task.
    Labels(Vec<bool>),
    /// No gold label is distributed (private test sets).
    Unlabelled,
}

/// One example of a task.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The identifier the distributed file gives, or the 1-based line number.
    pub id: String,
    /// The sentence, or the first sentence of a pair.
    pub text: String,
    /// The second sentence of a pair.
    pub pair: Option<String>,
    pub target: Target,
}

impl Example {
    /// A single-sentence example.
    pub fn single(id: impl Into<String>, text: impl Into<String>, target: Target) -> Self {
        Example {
            id: id.into(),
            text: text.into(),
            pair: None,
            target,
        }
    }

    /// A sentence-pair example.
    pub fn pair(
        id: impl Into<String>,
        first: impl Into<String>,
        second: impl Into<String>,
        target: Target,
    ) -> Self {
        Example {
            id: id.into(),
            text: first.into(),
            pair: Some(second.into()),
            target,
        }
    }
}

/// The class indices of `examples`, or an error naming the first one without a class.
pub fn classes(examples: &[Example]) -> Result<Vec<usize>> {
    examples
        .iter()
        .map(|e| match e.target {
            Target::Class(c) => Ok(c),
            _ => Err(Error::Invalid(format!(
                "example {} has no class label",
                e.id
            ))),
        })
        .collect()
}

/// The scores of `examples`, or an error naming the first one without a score.
pub fn scores(examples: &[Example]) -> Result<Vec<f64>> {
    examples
        .iter()
        .map(|e| match e.target {
            Target::Score(s) => Ok(s),
            _ => Err(Error::Invalid(format!("example {} has no score", e.id))),
        })
        .collect()
}

/// The label sets of `examples`, or an error naming the first one without them.
pub fn label_sets(examples: &[Example]) -> Result<Vec<Vec<bool>>> {
    examples
        .iter()
        .map(|e| match &e.target {
            Target::Labels(l) => Ok(l.clone()),
            _ => Err(Error::Invalid(format!("example {} has no label set", e.id))),
        })
        .collect()
}

/// Whether every example carries a gold target.
pub fn all_labelled(examples: &[Example]) -> bool {
    !examples.is_empty() && examples.iter().all(|e| e.target != Target::Unlabelled)
}

/// Splits off a shuffled `fraction` of `examples` (at least one, leaving at least one):
/// returns (kept, held out). The same seed always holds out the same examples.
pub fn hold_out(
    examples: Vec<Example>,
    fraction: f64,
    rng: &mut Rng,
) -> Result<(Vec<Example>, Vec<Example>)> {
    if examples.len() < 2 {
        return Err(Error::Invalid(format!(
            "cannot hold out examples from a set of {}",
            examples.len()
        )));
    }
    let held = ((examples.len() as f64 * fraction).round() as usize).clamp(1, examples.len() - 1);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    rng.shuffle(&mut order);
    let mut held_flags = vec![false; examples.len()];
    for &i in &order[..held] {
        held_flags[i] = true;
    }
    let (mut kept, mut out) = (Vec::new(), Vec::new());
    for (example, held) in examples.into_iter().zip(held_flags) {
        if held {
            out.push(example);
        } else {
            kept.push(example);
        }
    }
    Ok((kept, out))
}

/// Every sentence of `examples` (both sides of pairs), for vocabulary expansion on the
/// words an evaluation will meet.
pub fn sentences_of(examples: &[Example]) -> impl Iterator<Item = &str> {
    examples
        .iter()
        .flat_map(|e| std::iter::once(e.text.as_str()).chain(e.pair.as_deref()))
}
