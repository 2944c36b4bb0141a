//! A minimal XLSX writer: one worksheet of text and number cells, inline strings, no
//! styles, packed in a ZIP archive with stored (uncompressed) entries. Spreadsheet programs
//! open it; a report of a few dozen rows needs nothing more.

/// One cell of the sheet.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

/// Escapes text for XML, dropping control characters XML 1.0 does not allow.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// The spreadsheet name of column `index` (0 -> A, 25 -> Z, 26 -> AA).
fn column_name(mut index: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII letters")
}

/// The worksheet XML for `rows`.
fn sheet_xml(rows: &[Vec<Cell>]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>",
    );
    for (r, row) in rows.iter().enumerate() {
        xml += &format!("<row r=\"{}\">", r + 1);
        for (c, cell) in row.iter().enumerate() {
            let reference = format!("{}{}", column_name(c), r + 1);
            match cell {
                Cell::Text(text) => {
                    xml += &format!(
                        "<c r=\"{reference}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">{}</t></is></c>",
                        escape(text)
                    )
                }
                Cell::Number(v) if v.is_finite() => {
                    xml += &format!("<c r=\"{reference}\"><v>{v}</v></c>")
                }
                Cell::Number(_) | Cell::Empty => {}
            }
        }
        xml += "</row>";
    }
    xml + "</sheetData></worksheet>"
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    if cleaned.is_empty() {
        "Sheet1".to_string()
    } else {
        escape(&cleaned)
    }
}

/// A workbook with one sheet called `name` holding `rows`, as XLSX bytes.
pub fn workbook(name: &str, rows: &[Vec<Cell>]) -> Vec<u8> {
    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
    const RELS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
    const DOC: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    const TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml";
    let content_types = format!(
        "{HEAD}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/xl/workbook.xml\" ContentType=\"{TYPE}.sheet.main+xml\"/>\
         <Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"{TYPE}.worksheet+xml\"/>\
         </Types>"
    );
    let package_rels = format!(
        "{HEAD}<Relationships xmlns=\"{RELS}\"><Relationship Id=\"rId1\" \
         Type=\"{DOC}/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"
    );
    let workbook = format!(
        "{HEAD}<workbook xmlns=\"{MAIN}\" xmlns:r=\"{DOC}\"><sheets><sheet name=\"{}\" \
         sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
        sheet_name(name)
    );
    let workbook_rels = format!(
        "{HEAD}<Relationships xmlns=\"{RELS}\"><Relationship Id=\"rId1\" \
         Type=\"{DOC}/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>"
    );
    zip_stored(&[
        ("[Content_Types].xml", content_types.into_bytes()),
        ("_rels/.rels", package_rels.into_bytes()),
        ("xl/workbook.xml", workbook.into_bytes()),
        ("xl/_rels/workbook.xml.rels", workbook_rels.into_bytes()),
        ("xl/worksheets/sheet1.xml", sheet_xml(rows).into_bytes()),
    ])
}

/// A ZIP archive of `entries` stored without compression (method 0), dated 1980-01-01.
pub fn zip_stored(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    const DOS_DATE: u16 = (1 << 5) | 1;
    let mut out = Vec::new();
    let mut central = Vec::new();
    let u16le = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let u32le = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32fast::hash(data);
        let (size, name_len) = (data.len() as u32, name.len() as u16);

        // Local file header, then the data.
        u32le(&mut out, 0x0403_4b50);
        for field in [20, 0, 0, 0, DOS_DATE] {
            u16le(&mut out, field); // version, flags, method, time, date
        }
        for field in [crc, size, size] {
            u32le(&mut out, field);
        }
        u16le(&mut out, name_len);
        u16le(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        // Central directory record.
        u32le(&mut central, 0x0201_4b50);
        for field in [20, 20, 0, 0, 0, DOS_DATE] {
            u16le(&mut central, field); // made by, needed, flags, method, time, date
        }
        for field in [crc, size, size] {
            u32le(&mut central, field);
        }
        for field in [name_len, 0, 0, 0, 0] {
            u16le(&mut central, field); // name, extra, comment, disk, internal attributes
        }
        u32le(&mut central, 0); // external attributes
        u32le(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset = out.len() as u32;
    let central_size = central.len() as u32;
    out.extend_from_slice(&central);

    // End of central directory.
    let count = entries.len() as u16;
    u32le(&mut out, 0x0605_4b50);
    for field in [0, 0, count, count] {
        u16le(&mut out, field);
    }
    u32le(&mut out, central_size);
    u32le(&mut out, central_offset);
    u16le(&mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_like_spreadsheets() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
    }
}
