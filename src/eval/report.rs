//! The evaluation report: one row per task (metric, value, accuracy where it applies, best
//! epoch, training time, details) plus averages, rendered as a text table and written as
//! CSV, Markdown, JSON or XLSX according to the path's extension. Scores are percentages
//! (score x 100), as benchmark tables print them. Files are written atomically.

use std::path::Path;

use super::files::write_atomic;
use super::xlsx;
use crate::error::{Error, Result};

/// One task's result.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TaskResult {
    pub task: String,
    /// The metric `value` reports (e.g. "accuracy", "F1", "Pearson").
    pub metric: String,
    /// The score in percent.
    pub value: f64,
    /// Accuracy in percent, for classification tasks.
    pub accuracy: Option<f64>,
    /// Epoch (fine-tuning) or passes (probes) of the chosen model.
    pub best_epoch: Option<usize>,
    /// Wall-clock seconds spent training and scoring the task.
    pub seconds: f64,
    /// Further scores, e.g. Spearman or the validation score, in percent unless named
    /// otherwise.
    pub details: Vec<(String, f64)>,
}

/// A whole run's report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Report {
    /// "senteval", "alue" or "bilingual".
    pub suite: String,
    pub rows: Vec<TaskResult>,
    /// Named averages over rows, in percent.
    pub averages: Vec<(String, f64)>,
}

/// The column titles of every rendering.
const COLUMNS: [&str; 7] = [
    "task",
    "metric",
    "value",
    "accuracy",
    "best epoch",
    "seconds",
    "details",
];

/// ALUE's average over the tasks present, without and with DIAG: (name, value) pairs.
pub fn alue_averages(rows: &[TaskResult]) -> Vec<(String, f64)> {
    let mean = |with_diag: bool| {
        let values: Vec<f64> = rows
            .iter()
            .filter(|r| with_diag || r.task != "DIAG")
            .map(|r| r.value)
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let mut averages = Vec::new();
    if let Some(v) = mean(false) {
        averages.push(("ALUE average (without DIAG)".to_string(), v));
    }
    if rows.iter().any(|r| r.task == "DIAG") {
        if let Some(v) = mean(true) {
            averages.push(("ALUE average (with DIAG)".to_string(), v));
        }
    }
    averages
}

impl TaskResult {
    /// The row's cells as text, in [`COLUMNS`] order.
    fn cells(&self) -> [String; 7] {
        let details = self
            .details
            .iter()
            .map(|(name, v)| format!("{name}={v:.2}"))
            .collect::<Vec<_>>()
            .join("; ");
        [
            self.task.clone(),
            self.metric.clone(),
            format!("{:.2}", self.value),
            self.accuracy.map_or(String::new(), |a| format!("{a:.2}")),
            self.best_epoch.map_or(String::new(), |e| e.to_string()),
            format!("{:.1}", self.seconds),
            details,
        ]
    }
}

impl Report {
    /// All rows as text cells, averages last (name in the task column, value in value).
    fn table_cells(&self) -> Vec<[String; 7]> {
        let mut rows: Vec<[String; 7]> = self.rows.iter().map(TaskResult::cells).collect();
        for (name, value) in &self.averages {
            let mut row: [String; 7] = Default::default();
            row[0] = name.clone();
            row[1] = "average".to_string();
            row[2] = format!("{value:.2}");
            rows.push(row);
        }
        rows
    }

    /// A fixed-width text table for the terminal.
    pub fn to_table(&self) -> String {
        let rows = self.table_cells();
        let mut widths: Vec<usize> = COLUMNS.iter().map(|c| c.chars().count()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, &w)| format!("{c:<w$}"))
                .collect();
            padded.join(" | ").trim_end().to_string() + "\n"
        };
        let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        let mut out = line(&header);
        out += &(widths
            .iter()
            .map(|&w| "-".repeat(w))
            .collect::<Vec<_>>()
            .join("-+-")
            + "\n");
        for row in &rows {
            out += &line(row);
        }
        out
    }

    /// CSV with a header row; fields holding a comma, quote or line break are quoted.
    pub fn to_csv(&self) -> String {
        let quote = |cell: &str| {
            if cell.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", cell.replace('"', "\"\""))
            } else {
                cell.to_string()
            }
        };
        let mut out = COLUMNS.join(",") + "\n";
        for row in self.table_cells() {
            out += &(row.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",") + "\n");
        }
        out
    }

    /// A Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("| {} |\n", COLUMNS.join(" | "));
        out += &format!("|{}\n", "---|".repeat(COLUMNS.len()));
        for row in self.table_cells() {
            let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            out += &format!("| {} |\n", cells.join(" | "));
        }
        out
    }

    /// JSON with full precision: `{suite, rows: [...], averages: [[name, value], ...]}`.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map(|s| s + "\n")
            .map_err(|e| Error::Invalid(format!("report to JSON: {e}")))
    }

    /// An XLSX workbook with one sheet holding the table (numbers as numbers).
    pub fn to_xlsx(&self) -> Vec<u8> {
        let mut sheet: Vec<Vec<xlsx::Cell>> = Vec::new();
        sheet.push(
            COLUMNS
                .iter()
                .map(|c| xlsx::Cell::Text(c.to_string()))
                .collect(),
        );
        let number = |v: Option<f64>| v.map_or(xlsx::Cell::Empty, xlsx::Cell::Number);
        for (row, cells) in self.rows.iter().zip(self.table_cells()) {
            sheet.push(vec![
                xlsx::Cell::Text(row.task.clone()),
                xlsx::Cell::Text(row.metric.clone()),
                xlsx::Cell::Number(row.value),
                number(row.accuracy),
                number(row.best_epoch.map(|e| e as f64)),
                xlsx::Cell::Number(row.seconds),
                xlsx::Cell::Text(cells[6].clone()),
            ]);
        }
        for (name, value) in &self.averages {
            sheet.push(vec![
                xlsx::Cell::Text(name.clone()),
                xlsx::Cell::Text("average".into()),
                xlsx::Cell::Number(*value),
            ]);
        }
        xlsx::workbook(&self.suite, &sheet)
    }

    /// Writes the report in the format named by `path`'s extension (csv, md, json, xlsx).
    pub fn write(&self, path: &Path) -> Result<()> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        let bytes = match extension.as_deref() {
            Some("csv") => self.to_csv().into_bytes(),
            Some("md") => self.to_markdown().into_bytes(),
            Some("json") => self.to_json()?.into_bytes(),
            Some("xlsx") => self.to_xlsx(),
            _ => {
                return Err(Error::Invalid(format!(
                    "report {}: extension must be .csv, .md, .json or .xlsx",
                    path.display()
                )))
            }
        };
        write_atomic(path, &bytes)
    }
}
