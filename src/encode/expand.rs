//! Vocabulary expansion: words the tokenizer would split into several pieces get their own
//! embedding row, mapped from pretrained word vectors by a linear map fitted on the words
//! both spaces know (ordinary least squares with an intercept).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::engine::rng::Rng;
use crate::error::{Error, Result};
use crate::model::Encoder;
use crate::text::tokenizer::{model_pieces, Tokenizer};
use crate::train::checkpoint::{load_safetensors, save_safetensors};
use crate::train::extract::{read_meta, write_meta, TOKENIZER_FILE, WEIGHTS_FILE};

/// SentencePiece's word-start marker.
const WORD_START: char = '\u{2581}';

/// Reads word vectors in word2vec/GloVe/fastText text format (with or without a
/// "count dim" header) or, for `.bin` files, word2vec's binary format. Only words in
/// `wanted` are kept (all when `None`), so huge files stay within memory.
pub fn read_vectors(
    path: &Path,
    wanted: Option<&HashSet<String>>,
) -> Result<HashMap<String, Vec<f32>>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::new(file);
    let binary = path.extension().is_some_and(|e| e == "bin");
    let mut out = HashMap::new();
    let keep = |w: &str| wanted.is_none_or(|s| s.contains(w));
    if binary {
        let mut header = String::new();
        reader
            .read_line(&mut header)
            .map_err(|e| Error::io(path, e))?;
        let mut parts = header.split_whitespace().map(str::parse::<usize>);
        let (Some(Ok(count)), Some(Ok(dim))) = (parts.next(), parts.next()) else {
            return Err(Error::parse(
                path,
                1,
                "word2vec binary header must be '<count> <dim>'",
            ));
        };
        let mut buf = vec![0u8; dim * 4];
        for i in 0..count {
            let mut word = Vec::new();
            reader
                .read_until(b' ', &mut word)
                .map_err(|e| Error::io(path, e))?;
            if word.last() != Some(&b' ') {
                return Err(Error::parse(
                    path,
                    0,
                    format!("truncated at vector {}", i + 1),
                ));
            }
            word.pop();
            let word = String::from_utf8_lossy(&word)
                .trim_start_matches('\n')
                .to_string();
            reader.read_exact(&mut buf).map_err(|_| {
                Error::parse(path, 0, format!("truncated at vector {} ('{word}')", i + 1))
            })?;
            if keep(&word) {
                let v = buf
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                out.insert(word, v);
            }
        }
        return Ok(out);
    }
    let mut dim = None;
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let line = line.map_err(|e| Error::parse(path, line_no, format!("unreadable: {e}")))?;
        let mut parts = line.split(' ').filter(|p| !p.is_empty());
        let Some(word) = parts.next() else {
            continue;
        };
        let values: Vec<&str> = parts.collect();
        if line_no == 1
            && values.len() == 1
            && word.parse::<usize>().is_ok()
            && values[0].parse::<usize>().is_ok()
        {
            dim = values[0].parse().ok();
            continue;
        }
        if *dim.get_or_insert(values.len()) != values.len() {
            return Err(Error::parse(
                path,
                line_no,
                format!("{} values, expected {}", values.len(), dim.unwrap_or(0)),
            ));
        }
        if !keep(word) {
            continue;
        }
        let v = values
            .iter()
            .map(|x| x.parse::<f32>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::parse(path, line_no, format!("bad number: {e}")))?;
        out.insert(word.to_string(), v);
    }
    Ok(out)
}

/// An affine map `y = [x, 1] W`, W of (in + 1, out).
#[derive(Clone, Debug)]
pub struct LinearMap {
    pub input: usize,
    pub output: usize,
    pub weights: Vec<f64>,
}

impl LinearMap {
    /// Maps one vector.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        (0..self.output)
            .map(|j| {
                let mut acc = self.weights[self.input * self.output + j];
                for (i, &xi) in x.iter().enumerate() {
                    acc += xi as f64 * self.weights[i * self.output + j];
                }
                acc as f32
            })
            .collect()
    }

    /// Coefficient of determination over all output dimensions.
    pub fn r_squared(&self, xs: &[&[f32]], ys: &[&[f32]]) -> f64 {
        let mut mean = vec![0.0; self.output];
        for y in ys {
            for (m, &v) in mean.iter_mut().zip(y.iter()) {
                *m += v as f64 / ys.len() as f64;
            }
        }
        let (mut res, mut tot) = (0.0, 0.0);
        for (x, y) in xs.iter().zip(ys) {
            let p = self.apply(x);
            for j in 0..self.output {
                res += (y[j] as f64 - p[j] as f64).powi(2);
                tot += (y[j] as f64 - mean[j]).powi(2);
            }
        }
        if tot == 0.0 {
            0.0
        } else {
            1.0 - res / tot
        }
    }
}

/// Fits `y = [x, 1] W` by least squares through the normal equations, solved by Cholesky
/// in f64 with a tiny ridge (1e-8 times the mean diagonal) that only matters for
/// degenerate inputs.
pub fn fit_linear_map(xs: &[&[f32]], ys: &[&[f32]]) -> Result<LinearMap> {
    let n = xs.len();
    if n == 0 || n != ys.len() {
        return Err(Error::Invalid(format!(
            "cannot fit a map on {n} inputs and {} targets",
            ys.len()
        )));
    }
    let (p, q) = (xs[0].len() + 1, ys[0].len());
    let row = |x: &[f32], i: usize| if i + 1 == p { 1.0 } else { x[i] as f64 };
    let mut ata = vec![0.0f64; p * p];
    let mut aty = vec![0.0f64; p * q];
    for (x, y) in xs.iter().zip(ys) {
        for i in 0..p {
            let xi = row(x, i);
            for k in 0..p {
                ata[i * p + k] += xi * row(x, k);
            }
            for j in 0..q {
                aty[i * q + j] += xi * y[j] as f64;
            }
        }
    }
    let ridge = 1e-8 * (0..p).map(|i| ata[i * p + i]).sum::<f64>() / p as f64;
    for i in 0..p {
        ata[i * p + i] += ridge.max(1e-12);
    }
    // Cholesky: ata = L L^T.
    let mut l = vec![0.0f64; p * p];
    for i in 0..p {
        for k in 0..=i {
            let s: f64 = (0..k).map(|m| l[i * p + m] * l[k * p + m]).sum();
            if i == k {
                let d = ata[i * p + i] - s;
                if d <= 0.0 {
                    return Err(Error::Invalid("least-squares system is singular".into()));
                }
                l[i * p + i] = d.sqrt();
            } else {
                l[i * p + k] = (ata[i * p + k] - s) / l[k * p + k];
            }
        }
    }
    let mut w = vec![0.0f64; p * q];
    for j in 0..q {
        // Forward then backward substitution for column j.
        let mut z = vec![0.0; p];
        for i in 0..p {
            let s: f64 = (0..i).map(|m| l[i * p + m] * z[m]).sum();
            z[i] = (aty[i * q + j] - s) / l[i * p + i];
        }
        for i in (0..p).rev() {
            let s: f64 = (i + 1..p).map(|m| l[m * p + i] * w[m * q + j]).sum();
            w[i * q + j] = (z[i] - s) / l[i * p + i];
        }
    }
    Ok(LinearMap {
        input: p - 1,
        output: q,
        weights: w,
    })
}

/// What [`expand_vocab`] did.
#[derive(Clone, Debug)]
pub struct ExpandReport {
    /// Words that received their own embedding row.
    pub mapped: usize,
    /// Listed words the tokenizer already keeps whole (or already expanded).
    pub known: usize,
    /// Listed words the pretrained vectors do not know (left to SentencePiece).
    pub unknown: usize,
    /// Words known to both spaces, used to fit the map.
    pub shared: usize,
    /// R^2 of the map on a held-out tenth of the shared words.
    pub held_out_r2: f64,
}

/// Expands the encoder in `model_dir` with `words`, writing a new encoder folder.
pub fn expand_vocab(
    model_dir: &Path,
    words: &[String],
    embeddings: &Path,
    output_dir: &Path,
) -> Result<ExpandReport> {
    let mut meta = read_meta(model_dir)?;
    let tokenizer = Tokenizer::load(model_dir.join(TOKENIZER_FILE))?;
    let (mut weights, _) = load_safetensors(&model_dir.join(WEIGHTS_FILE))?;
    let (shape, table) =
        weights
            .get(Encoder::EMBEDDING)
            .cloned()
            .ok_or_else(|| Error::Checkpoint {
                path: model_dir.join(WEIGHTS_FILE),
                msg: format!("no '{}' tensor", Encoder::EMBEDDING),
            })?;
    let dim = shape[1];

    // Whole words the model knows: pieces "▁word", and earlier expansions.
    let mut model_words: HashMap<String, usize> = HashMap::new();
    for (id, piece) in model_pieces(tokenizer.model_bytes())?
        .iter()
        .enumerate()
        .skip(4)
    {
        if let Some(word) = piece
            .piece
            .strip_prefix(WORD_START)
            .filter(|w| !w.is_empty())
        {
            model_words.insert(word.to_string(), id);
        }
    }
    let base = tokenizer.vocab_size();
    for (i, w) in meta.expanded_words.iter().enumerate() {
        model_words.insert(w.clone(), base + i);
    }

    let mut wanted: HashSet<String> = model_words.keys().cloned().collect();
    wanted.extend(words.iter().cloned());
    let vectors = read_vectors(embeddings, Some(&wanted))?;

    let mut shared: Vec<&String> = model_words
        .keys()
        .filter(|w| vectors.contains_key(*w))
        .collect();
    shared.sort();
    if shared.len() < 2 {
        return Err(Error::Invalid(format!(
            "only {} words are known to both the encoder and {}: cannot fit a map",
            shared.len(),
            embeddings.display()
        )));
    }
    Rng::new(17).shuffle(&mut shared);
    let row = |w: &String| &table[model_words[w] * dim..(model_words[w] + 1) * dim];
    let held = (shared.len() / 10).max(1).min(shared.len() - 1);
    let (test, train) = shared.split_at(held);
    let xs = |ws: &[&String]| {
        ws.iter()
            .map(|w| vectors[*w].as_slice())
            .collect::<Vec<_>>()
    };
    let ys = |ws: &[&String]| ws.iter().map(|w| row(w)).collect::<Vec<_>>();
    let held_out_r2 = fit_linear_map(&xs(train), &ys(train))?.r_squared(&xs(test), &ys(test));
    let map = fit_linear_map(&xs(&shared), &ys(&shared))?;

    let (mut mapped, mut known, mut unknown) = (0, 0, 0);
    let mut new_rows = Vec::new();
    let mut seen = HashSet::new();
    for word in words {
        if !seen.insert(word) {
            continue;
        }
        let pieces = tokenizer.encode(word)?;
        if pieces.len() <= 1 || model_words.contains_key(word) {
            known += 1;
        } else if let Some(v) = vectors.get(word) {
            mapped += 1;
            new_rows.extend(map.apply(v));
            meta.expanded_words.push(word.clone());
        } else {
            unknown += 1;
        }
    }

    let mut new_table = table;
    new_table.extend(new_rows);
    let vocab = shape[0] + mapped;
    weights.insert(
        Encoder::EMBEDDING.to_string(),
        (vec![vocab, dim], new_table),
    );
    meta.config.vocab = vocab;
    std::fs::create_dir_all(output_dir).map_err(|e| Error::io(output_dir, e))?;
    save_safetensors(&output_dir.join(WEIGHTS_FILE), &weights, None)?;
    crate::data::write_atomic(&output_dir.join(TOKENIZER_FILE), tokenizer.model_bytes())?;
    write_meta(output_dir, &meta)?;
    Ok(ExpandReport {
        mapped,
        known,
        unknown,
        shared: shared.len(),
        held_out_r2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_known_affine_map() {
        let mut rng = Rng::new(5);
        let (p, q, n) = (6, 4, 200);
        let truth: Vec<f64> = (0..(p + 1) * q)
            .map(|_| rng.uniform(-1.0, 1.0) as f64)
            .collect();
        let map = LinearMap {
            input: p,
            output: q,
            weights: truth.clone(),
        };
        let xs: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..p).map(|_| rng.uniform(-2.0, 2.0)).collect())
            .collect();
        let ys: Vec<Vec<f32>> = xs.iter().map(|x| map.apply(x)).collect();
        let xr: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
        let yr: Vec<&[f32]> = ys.iter().map(Vec::as_slice).collect();
        let fit = fit_linear_map(&xr, &yr).unwrap();
        for (a, b) in fit.weights.iter().zip(&truth) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!(fit.r_squared(&xr, &yr) > 0.999_999);
    }
}
