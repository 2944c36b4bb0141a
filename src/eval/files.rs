//! Reading benchmark files as they are distributed (UTF-8 with or without BOM, some in
//! Latin-1, CRLF line ends, tab-separated or RFC 4180 CSV) and writing results atomically.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One line of a text file with its 1-based line number.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub number: usize,
    pub text: String,
}

/// Decodes UTF-8, falling back to Latin-1 (every byte is a character) for lines that are
/// not valid UTF-8: SentEval's MR, CR and TREC files carry such bytes.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// Reads a whole file as bytes, without a UTF-8 byte-order mark.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let mut bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    Ok(bytes)
}

/// The lines of a text file, line ends (LF or CRLF) removed, a final empty line dropped.
pub fn read_lines(path: &Path) -> Result<Vec<Line>> {
    let bytes = read_bytes(path)?;
    let mut lines: Vec<Line> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            Line {
                number: index + 1,
                text: decode(raw),
            }
        })
        .collect();
    if lines.last().is_some_and(|line| line.text.is_empty()) {
        lines.pop();
    }
    Ok(lines)
}

/// Splits a tab-separated line and checks it has at least `min_fields` fields.
pub fn tab_fields<'a>(path: &Path, line: &'a Line, min_fields: usize) -> Result<Vec<&'a str>> {
    let fields: Vec<&str> = line.text.split('\t').collect();
    if fields.len() < min_fields {
        return Err(Error::parse(
            path,
            line.number,
            format!(
                "expected at least {min_fields} tab-separated fields, found {}",
                fields.len()
            ),
        ));
    }
    Ok(fields)
}

/// One CSV record with the line on which it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// Parses RFC 4180 CSV: fields separated by `,`, optionally quoted with `"`, quotes doubled
/// inside quoted fields, which may span lines (tweets contain line breaks).
pub fn read_csv(path: &Path) -> Result<Vec<Record>> {
    let text = decode(&read_bytes(path)?);
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut record_line) = (1, 1);
    let mut quoted = false;
    let mut field_started_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !field_started_quoted => {
                quoted = true;
                field_started_quoted = true;
            }
            '"' => {
                return Err(Error::parse(
                    path,
                    record_line,
                    "quote inside an unquoted field",
                ));
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                field_started_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                field_started_quoted = false;
                let done = std::mem::take(&mut fields);
                if !(done.len() == 1 && done[0].is_empty()) {
                    records.push(Record {
                        line: record_line,
                        fields: done,
                    });
                }
                line += 1;
                record_line = line;
            }
            _ if field_started_quoted => {
                return Err(Error::parse(
                    path,
                    record_line,
                    "text after a closing quote",
                ));
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(Error::parse(path, record_line, "quoted field never closed"));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push(Record {
            line: record_line,
            fields,
        });
    }
    Ok(records)
}

/// Finds the file called `name` anywhere beneath `root` (the first in sorted path order),
/// so a benchmark's download can be used as it unpacks.
pub fn find_file(root: &Path, name: &str) -> Result<Option<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if entry.file_name() == name {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found.into_iter().next())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).map_err(|e| Error::io(&temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_handles_quotes_doubled_quotes_and_line_breaks() {
        let dir = std::env::temp_dir().join(format!("gensen-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.csv");
        std::fs::write(&path, "id,text\r\n1,\"a, \"\"b\"\"\nc\"\n2,plain\n").unwrap();
        let records = read_csv(&path).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].fields, vec!["1", "a, \"b\"\nc"]);
        assert_eq!(records[2].line, 4);
        std::fs::write(&path, "id,text\n1,\"open\n").unwrap();
        assert!(matches!(read_csv(&path), Err(Error::Parse { line: 2, .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
