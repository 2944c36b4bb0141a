//! The report: averages, the four file formats chosen by extension, atomic writing.

use gensen::eval::report::{alue_averages, Report, TaskResult};

fn row(task: &str, metric: &str, value: f64, accuracy: Option<f64>) -> TaskResult {
    TaskResult {
        task: task.to_string(),
        metric: metric.to_string(),
        value,
        accuracy,
        best_epoch: Some(3),
        seconds: 1.25,
        details: vec![("Spearman".into(), 70.5)],
    }
}

fn report() -> Report {
    let rows = vec![
        row("MQ2Q", "F1", 80.0, Some(82.0)),
        row("SVREG", "Pearson", 60.0, None),
        row("XNLI, \"ar\"", "accuracy", 70.0, Some(70.0)),
        row("DIAG", "Matthews", 10.0, Some(40.0)),
    ];
    let averages = alue_averages(&rows);
    Report {
        suite: "alue".into(),
        rows,
        averages,
    }
}

#[test]
fn alue_average_is_given_with_and_without_diag() {
    let averages = report().averages;
    assert_eq!(averages.len(), 2);
    assert_eq!(averages[0].0, "ALUE average (without DIAG)");
    assert!((averages[0].1 - 70.0).abs() < 1e-12);
    assert!((averages[1].1 - 55.0).abs() < 1e-12);
}

/// Reads the stored entries of a ZIP archive: (name, data), checking each CRC-32.
fn unzip_stored(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let end = bytes.len() - 22;
    assert_eq!(u32_at(end), 0x0605_4b50, "end of central directory");
    let (count, mut at) = (u16_at(end + 10), u32_at(end + 16));
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(at), 0x0201_4b50);
        let (crc, size, name_len) = (u32_at(at + 16), u32_at(at + 24), u16_at(at + 28));
        let offset = u32_at(at + 42);
        let name = String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap();
        assert_eq!(u32_at(offset), 0x0403_4b50);
        let data_at = offset + 30 + u16_at(offset + 26) + u16_at(offset + 28);
        let data = bytes[data_at..data_at + size].to_vec();
        assert_eq!(crc32fast::hash(&data) as usize, crc, "{name}");
        entries.push((name, data));
        at += 46 + name_len;
    }
    entries
}

#[test]
fn report_is_written_in_the_format_its_extension_names() {
    let dir = std::env::temp_dir().join(format!("gensen-report-{}", std::process::id()));
    let report = report();

    let table = report.to_table();
    assert!(table.lines().next().unwrap().starts_with("task"));
    assert!(table.contains("ALUE average (with DIAG)"));

    report.write(&dir.join("r.csv")).unwrap();
    let csv = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    assert!(csv.starts_with("task,metric,value,accuracy,best epoch,seconds,details\n"));
    assert!(
        csv.contains("MQ2Q,F1,80.00,82.00,3,1.2,Spearman=70.50\n"),
        "{csv}"
    );
    assert!(csv.contains("\"XNLI, \"\"ar\"\"\",accuracy"), "{csv}");

    report.write(&dir.join("r.md")).unwrap();
    let md = std::fs::read_to_string(dir.join("r.md")).unwrap();
    assert!(md.contains("| SVREG | Pearson | 60.00 |  | 3 |"), "{md}");

    report.write(&dir.join("r.json")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    assert_eq!(json["suite"], "alue");
    assert_eq!(json["rows"][3]["task"], "DIAG");
    assert_eq!(json["rows"][1]["accuracy"], serde_json::Value::Null);
    assert_eq!(json["averages"][1][1], 55.0);

    report.write(&dir.join("r.xlsx")).unwrap();
    let entries = unzip_stored(&std::fs::read(dir.join("r.xlsx")).unwrap());
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "[Content_Types].xml");
    assert!(names.contains(&"xl/worksheets/sheet1.xml"));
    let sheet = String::from_utf8(entries.last().unwrap().1.clone()).unwrap();
    assert!(sheet.contains("<c r=\"C2\"><v>80</v></c>"), "{sheet}");
    assert!(sheet.contains("XNLI, &quot;ar&quot;"));

    // No temporary file is left beside the outputs.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["r.csv", "r.json", "r.md", "r.xlsx"]);

    let err = report.write(&dir.join("r.txt")).unwrap_err();
    assert!(err.to_string().contains(".csv, .md, .json or .xlsx"));
    std::fs::remove_dir_all(&dir).unwrap();
}
