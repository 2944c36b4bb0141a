//! Every loader on a tiny fixture in its benchmark's distributed format, and on a malformed
//! variant that must be rejected with the file and line at fault
//! (tests/fixtures/eval/make_loader_fixtures.py wrote both).

use std::path::{Path, PathBuf};

use gensen::eval::alue_data::{self, AlueTask};
use gensen::eval::bilingual_data;
use gensen::eval::data::Target;
use gensen::eval::senteval_data::{self, SentevalData, SentevalTask};
use gensen::Error;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval")
}

fn sizes(data: &SentevalData) -> Vec<usize> {
    match data {
        SentevalData::Corpus(all) => vec![all.len()],
        SentevalData::TrainTest { train, test } => vec![train.len(), test.len()],
        SentevalData::Splits { train, dev, test } => vec![train.len(), dev.len(), test.len()],
        SentevalData::Similarity(sets) => sets.iter().map(|(_, s)| s.len()).collect(),
    }
}

#[test]
fn senteval_tasks_load_from_the_downstream_layout() {
    let root = fixtures().join("senteval");
    let expected: [(SentevalTask, Vec<usize>); 16] = [
        (SentevalTask::Mr, vec![40]),
        (SentevalTask::Cr, vec![40]),
        (SentevalTask::Subj, vec![40]),
        (SentevalTask::Mpqa, vec![40]),
        (SentevalTask::Sst2, vec![40, 16, 16]),
        (SentevalTask::Sst5, vec![50, 26, 26]),
        (SentevalTask::Trec, vec![48, 18]),
        (SentevalTask::Mrpc, vec![40, 16]),
        (SentevalTask::SickE, vec![45, 15, 15]),
        (SentevalTask::SickR, vec![45, 15, 15]),
        (SentevalTask::StsB, vec![40, 15, 15]),
        (SentevalTask::Sts12, vec![7; 5]),
        (SentevalTask::Sts13, vec![7; 3]),
        (SentevalTask::Sts14, vec![7; 6]),
        (SentevalTask::Sts15, vec![7; 5]),
        (SentevalTask::Sts16, vec![7; 5]),
    ];
    for (task, counts) in expected {
        let data = senteval_data::load(&root, task).unwrap_or_else(|e| panic!("{task:?}: {e}"));
        assert_eq!(sizes(&data), counts, "{task:?}");
    }

    // MR carries a Latin-1 byte; positive files are class 1.
    let SentevalData::Corpus(mr) = senteval_data::load(&root, SentevalTask::Mr).unwrap() else {
        panic!("MR is a corpus")
    };
    assert!(mr.last().unwrap().text.ends_with("café"));
    assert_eq!(mr[0].target, Target::Class(1));
    assert_eq!(mr[39].target, Target::Class(0));

    // MRPC: byte-order mark and header skipped, CR removed, pair and quality read.
    let SentevalData::TrainTest { train, .. } =
        senteval_data::load(&root, SentevalTask::Mrpc).unwrap()
    else {
        panic!("MRPC has train and test")
    };
    assert_eq!(train[0].id, "1000-2000");
    assert!(train[0].pair.as_ref().is_some_and(|s| !s.ends_with('\r')));
    assert_eq!(train[1].target, Target::Class(1));

    // SICK-R keeps the score, SICK-E the label; TREC maps coarse classes in order.
    let SentevalData::Splits { dev, .. } = senteval_data::load(&root, SentevalTask::SickE).unwrap()
    else {
        panic!("SICK has splits")
    };
    assert_eq!(dev[2].target, Target::Class(2));
    let SentevalData::Splits { train, .. } =
        senteval_data::load(&root, SentevalTask::SickR).unwrap()
    else {
        panic!("SICK has splits")
    };
    assert!(matches!(train[0].target, Target::Score(s) if (1.0..=2.0).contains(&s)));
    let SentevalData::TrainTest { test, .. } =
        senteval_data::load(&root, SentevalTask::Trec).unwrap()
    else {
        panic!("TREC has train and test")
    };
    assert_eq!(test[1].target, Target::Class(1));
    assert!(test[1].text.ends_with('?') && !test[1].text.contains(':'));
}

#[test]
fn task_names_parse_with_senteval_spellings() {
    assert_eq!(
        "SICK-R".parse::<SentevalTask>().unwrap(),
        SentevalTask::SickR
    );
    assert_eq!("sts-b".parse::<SentevalTask>().unwrap(), SentevalTask::StsB);
    assert_eq!("mq2q".parse::<AlueTask>().unwrap(), AlueTask::Mq2q);
    assert!("SST3".parse::<SentevalTask>().is_err());
}

#[test]
fn alue_tasks_are_found_anywhere_beneath_the_data_folder() {
    let root = fixtures().join("alue");
    // (task, train, eval, leaderboard)
    let expected = [
        (AlueTask::Mq2q, 30, None, Some(6)),
        (AlueTask::Mdd, 18, Some(6), Some(6)),
        (AlueTask::Svreg, 30, Some(10), Some(4)),
        (AlueTask::Sec, 30, Some(10), Some(4)),
        (AlueTask::Fid, 30, Some(10), Some(10)),
        (AlueTask::Oold, 32, Some(12), Some(5)),
        (AlueTask::Ohsd, 32, Some(12), Some(5)),
        (AlueTask::Xnli, 36, Some(12), None),
        (AlueTask::Diag, 36, Some(9), Some(9)),
    ];
    for (task, train, eval, leaderboard) in expected {
        let data = alue_data::load(&root, task).unwrap_or_else(|e| panic!("{task:?}: {e}"));
        assert_eq!(data.train.len(), train, "{task:?} train");
        assert_eq!(data.eval.as_ref().map(Vec::len), eval, "{task:?} eval");
        assert_eq!(
            data.leaderboard.as_ref().map(Vec::len),
            leaderboard,
            "{task:?} leaderboard"
        );
    }

    // FID: a quoted field holding a comma, doubled quotes and a line break.
    let fid = alue_data::load(&root, AlueTask::Fid).unwrap();
    assert!(fid.train[1].text.contains(", \"") && fid.train[1].text.contains('\n'));
    assert_eq!(fid.train[1].target, Target::Class(1));

    // OOLD and OHSD read different columns of the same rows.
    let oold = alue_data::load(&root, AlueTask::Oold).unwrap();
    let ohsd = alue_data::load(&root, AlueTask::Ohsd).unwrap();
    assert_eq!(oold.train[1].target, Target::Class(1));
    assert_eq!(ohsd.train[1].target, Target::Class(1));
    assert_eq!(ohsd.train[3].target, Target::Class(0));

    // SEC: eleven flags; SVREG: the intensity score.
    let sec = alue_data::load(&root, AlueTask::Sec).unwrap();
    let Target::Labels(flags) = &sec.train[1].target else {
        panic!("SEC has label sets")
    };
    assert_eq!(flags.iter().filter(|&&f| f).count(), 3);
    assert!(flags[4] && flags[5] && flags[6]);
    let svreg = alue_data::load(&root, AlueTask::Svreg).unwrap();
    assert_eq!(svreg.train[0].id, "2018-Ar-00000");
    assert!(matches!(svreg.train[0].target, Target::Score(s) if (0.2..0.4).contains(&s)));

    // A missing task file is reported by name.
    let err = alue_data::load(&root.join("data/xnli"), AlueTask::Mq2q).unwrap_err();
    assert!(
        err.to_string().contains("q2q_similarity_workshop_v2.1.tsv"),
        "{err}"
    );
}

#[test]
fn bilingual_files_load() {
    let root = fixtures().join("bilingual");
    let nli = bilingual_data::load_nli(&root).unwrap();
    assert_eq!(
        (
            nli.train.len(),
            nli.dev.as_ref().map(Vec::len),
            nli.test.len()
        ),
        (36, Some(12), 12)
    );
    assert_eq!(nli.train[1].target, Target::Class(1));
    assert_eq!(bilingual_data::load_sts(&root).unwrap().len(), 12);
}

#[test]
fn malformed_files_are_rejected_with_file_and_line() {
    let dir = fixtures();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("malformed/expected.json")).unwrap(),
    )
    .unwrap();
    let cases = manifest.as_array().unwrap();
    assert_eq!(cases.len(), 23);
    for case in cases {
        let task = case["task"].as_str().unwrap();
        let root = dir.join(case["root"].as_str().unwrap());
        let result = match case["suite"].as_str().unwrap() {
            "senteval" => senteval_data::load(&root, task.parse().unwrap()).map(|_| ()),
            "alue" => alue_data::load(&root, task.parse().unwrap()).map(|_| ()),
            _ if task == "NLI" => bilingual_data::load_nli(&root).map(|_| ()),
            _ => bilingual_data::load_sts(&root).map(|_| ()),
        };
        match result {
            Err(Error::Parse { path, line, msg }) => {
                let file = case["file"].as_str().unwrap();
                assert!(
                    path.ends_with(file),
                    "{task}: error names {path:?}, not {file}"
                );
                assert_eq!(line as u64, case["line"].as_u64().unwrap(), "{task}: {msg}");
            }
            other => panic!("{task}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn task_sentences_cover_both_sides_of_every_split() {
    let senteval_root = fixtures().join("senteval");
    let sentences =
        gensen::eval::senteval::task_sentences(&senteval_root, &[SentevalTask::Mrpc]).unwrap();
    assert_eq!(sentences.len(), 2 * (40 + 16));
    let alue_root = fixtures().join("alue");
    // MQ2Q: 30 training pairs and 6 leaderboard pairs.
    let sentences = gensen::eval::alue::task_sentences(&alue_root, &[AlueTask::Mq2q]).unwrap();
    assert_eq!(sentences.len(), 2 * (30 + 6));
}
