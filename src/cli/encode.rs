//! `gensen encode`: sentence vectors for a file of sentences (one per line).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gensen::data::AtomicFile;
use gensen::encode::npy::NpyWriter;
use gensen::encode::{concat, EncodeOptions, GenSen, Representation, WeightPrecision};
use gensen::engine::device::DeviceChoice;
use gensen::engine::Pool;
use gensen::text::Language;

/// Arguments of `gensen encode`.
#[derive(clap::Args)]
pub struct Args {
    /// Encoder folder(s); several are concatenated as an ensemble.
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// Pooling of sentence vectors (default: the model's).
    #[arg(long)]
    pub pool: Option<String>,
    /// Normalization language: ar, en or bi (default: the model's).
    #[arg(long)]
    pub language: Option<String>,
    /// Encode the text as given.
    #[arg(long)]
    pub no_normalize: bool,
    /// Do not add <s> and </s>.
    #[arg(long)]
    pub no_start_end: bool,
    /// Sentences encoded at once.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Input file, one sentence per line (default: standard input).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output: .npy (float32), .jsonl or .tsv, by extension.
    #[arg(long)]
    pub output: PathBuf,
    /// Also write per-token states (sentences x max tokens x dim) to this .npy file.
    #[arg(long)]
    pub hidden_states: Option<PathBuf>,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// CPU threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// GRU weights read by batches of up to four sentences on the CPU: f32, or f16
    /// (half the memory traffic: lower latency, outputs within about 1e-3 of f32).
    #[arg(long, default_value = "f32")]
    pub weights: String,
}

enum Format {
    Npy,
    Jsonl,
    Tsv,
}

fn format_of(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => Ok(Format::Npy),
        Some("jsonl") => Ok(Format::Jsonl),
        Some("tsv") => Ok(Format::Tsv),
        _ => Err(gensen::Error::Invalid(format!(
            "{}: the output must end in .npy, .jsonl or .tsv",
            path.display()
        ))
        .into()),
    }
}

/// Reads one sentence per line; invalid UTF-8 is an error naming the line.
fn read_lines(input: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let name = input.map_or("<stdin>".into(), |p| p.display().to_string());
    let reader: Box<dyn BufRead> = match input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).map_err(|e| gensen::Error::io(p, e))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut lines = Vec::new();
    for (i, bytes) in reader.split(b'\n').enumerate() {
        let mut bytes = bytes.with_context(|| format!("reading {name}"))?;
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = String::from_utf8(bytes)
            .map_err(|_| gensen::Error::parse(&name, i + 1, "invalid UTF-8"))?;
        lines.push(line);
    }
    Ok(lines)
}

/// Writes rows of sentence vectors in the chosen text or binary format, atomically.
enum Sink {
    Npy(NpyWriter),
    Text(Format, AtomicFile),
}

impl Sink {
    fn create(path: &Path, rows: usize, dim: usize) -> anyhow::Result<Sink> {
        Ok(match format_of(path)? {
            Format::Npy => Sink::Npy(NpyWriter::create(path, &[rows, dim])?),
            text => Sink::Text(text, AtomicFile::create(path)?),
        })
    }

    fn write(&mut self, sentences: &[String], rep: &Representation) -> anyhow::Result<()> {
        let (format, out) = match self {
            Sink::Npy(npy) => return Ok(npy.write(&rep.sentence)?),
            Sink::Text(format, out) => (format, out),
        };
        for (i, s) in sentences.iter().enumerate() {
            let v = rep.sentence_vector(i);
            let line = match format {
                Format::Jsonl => serde_json::json!({"sentence": s, "vector": v}).to_string(),
                _ => {
                    let nums: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                    format!("{}\t{}", s.replace('\t', " "), nums.join("\t"))
                }
            };
            out.write(format!("{line}\n").as_bytes())?;
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Npy(npy) => npy.finish()?,
            Sink::Text(_, out) => out.finish()?,
        }
        Ok(())
    }
}

/// Runs `gensen encode`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    let opts = EncodeOptions {
        pool: args.pool.as_deref().map(str::parse::<Pool>).transpose()?,
        language: args
            .language
            .as_deref()
            .map(str::parse::<Language>)
            .transpose()?,
        normalize: !args.no_normalize,
        add_start_end: !args.no_start_end,
        batch_size: args.batch_size,
    };
    // Fail on a bad output name or option before any work.
    format_of(&args.output)?;
    let precision: WeightPrecision = args.weights.parse()?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut models = args
        .models
        .iter()
        .map(|dir| {
            let mut model = GenSen::load(dir, args.device, threads)
                .with_context(|| format!("loading {}", dir.display()))?;
            model.set_weight_precision(precision)?;
            Ok(model)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let dim: usize = models.iter().map(GenSen::dim).sum();

    let sentences = read_lines(args.input.as_deref())?;
    // Tokenize everything first: the longest tokenization sizes the hidden-state array.
    let mut max_len = 0;
    let mut truncated = 0;
    for s in &sentences {
        let mut longest = 0;
        let mut cut = false;
        for m in &models {
            let t = m.tokenize(s, &opts)?;
            longest = longest.max(t.ids.len());
            cut |= t.truncated;
        }
        max_len = max_len.max(longest);
        truncated += usize::from(cut);
    }

    let mut sink = Sink::create(&args.output, sentences.len(), dim)?;
    let mut hidden = match &args.hidden_states {
        Some(path) => Some(NpyWriter::create(path, &[sentences.len(), max_len, dim])?),
        None => None,
    };
    for chunk in sentences.chunks(args.batch_size) {
        let parts = models
            .iter_mut()
            .map(|m| m.get_representation(chunk, &opts))
            .collect::<gensen::Result<Vec<_>>>()?;
        let rep = concat(&parts);
        sink.write(chunk, &rep)?;
        if let Some(h) = hidden.as_mut() {
            // Pad each chunk's states to the global longest tokenization.
            let mut padded = vec![0.0f32; chunk.len() * max_len * dim];
            for i in 0..chunk.len() {
                for t in 0..rep.max_len {
                    let dst = (i * max_len + t) * dim;
                    padded[dst..dst + dim].copy_from_slice(rep.token_state(i, t));
                }
            }
            h.write(&padded)?;
        }
    }
    sink.finish()?;
    if let Some(h) = hidden {
        h.finish()?;
    }
    eprintln!(
        "encoded {} sentences ({dim} dimensions) into {}; {truncated} truncated to the model's maximum length",
        sentences.len(),
        args.output.display()
    );
    Ok(())
}
