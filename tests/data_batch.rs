//! Batches: time-major layout with specials and padding, length grouping, determinism
//! from the seed, and resuming from a saved state.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use gensen::config::TaskType;
use gensen::data::batch::{sequential, Batch, BatchIter, Side, POOL_BATCHES};
use gensen::data::shard::{Encoded, Fingerprint, ShardWriter};
use gensen::data::{Split, TaskData};
use gensen::text::{BOS, EOS, PAD};

fn fingerprint() -> Fingerprint {
    Fingerprint {
        sources: vec![],
        tokenizer_crc32: 0,
        normalization: String::new(),
        max_src_length: 64,
        max_trg_length: 64,
        labels: vec![],
    }
}

/// Example i's sentence: length from a fixed pseudo-random pattern, ids encode (i, position)
/// so a batch's content can be traced back to its example.
fn sentence(i: usize, salt: usize) -> Vec<u32> {
    let len = 1 + (i * 7 + salt * 3) % 23;
    (0..len)
        .map(|t| (4 + (i * 31 + t + salt) % 300) as u32)
        .collect()
}

fn write_task(name: &str, task_type: TaskType, n: usize) -> TaskData {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("gensen-batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut writer = ShardWriter::create(&dir, Split::Train, task_type, 400).unwrap();
    for i in 0..n {
        let example = Encoded {
            src: sentence(i, 0),
            src2: (task_type == TaskType::PairClassification).then(|| sentence(i, 1)),
            trg: (task_type == TaskType::Seq2seq).then(|| sentence(i, 2)),
            label: task_type.has_labels().then_some((i % 3) as u32),
        };
        writer.push(&example).unwrap();
    }
    writer.finish(fingerprint(), Default::default()).unwrap();
    TaskData::open(&dir).unwrap()
}

#[test]
fn sides_are_time_major_with_specials_and_padding() {
    let side = Side::from_sentences(&[vec![10, 11, 12], vec![20]], true);
    assert_eq!((side.max_len, side.batch), (5, 2));
    assert_eq!(side.lens, vec![5, 3]);
    // Row t holds position t of every sentence.
    #[rustfmt::skip]
    let expected = vec![
        BOS, BOS,
        10,  20,
        11,  EOS,
        12,  PAD,
        EOS, PAD,
    ];
    assert_eq!(side.ids, expected);
    assert_eq!(side.mask(), vec![1., 1., 1., 1., 1., 1., 1., 0., 1., 0.]);
    assert_eq!(side.sentence(1), vec![BOS, 20, EOS]);

    let bare = Side::from_sentences(&[vec![7], vec![8, 9]], false);
    assert_eq!(bare.ids, vec![7, 8, PAD, 9]);
    assert_eq!(bare.lens, vec![1, 2]);
    let empty = Side::from_sentences(&[], true);
    assert_eq!((empty.batch, empty.max_len), (0, 0));
}

#[test]
fn seq2seq_batches_hold_source_and_shifted_targets() {
    let data = write_task("s2s", TaskType::Seq2seq, 30);
    let batch = Batch::gather(&data, &[4, 17, 9]);
    for (b, &i) in [4usize, 17, 9].iter().enumerate() {
        let mut src = vec![BOS];
        src.extend(sentence(i, 0));
        src.push(EOS);
        assert_eq!(batch.src.sentence(b), src);
        let trg = sentence(i, 2);
        let trg_in = batch.trg_in.as_ref().unwrap();
        let trg_out = batch.trg_out.as_ref().unwrap();
        assert_eq!(trg_in.sentence(b), [&[BOS][..], &trg].concat());
        assert_eq!(trg_out.sentence(b), [&trg[..], &[EOS]].concat());
        assert_eq!(trg_in.lens, trg_out.lens);
    }
    assert!(batch.src2.is_none() && batch.labels.is_none());
    assert_eq!(batch.indices, vec![4, 17, 9]);

    let pairs = write_task("pairs", TaskType::PairClassification, 10);
    let batch = Batch::gather(&pairs, &[2, 5]);
    assert_eq!(batch.labels, Some(vec![2, 2]));
    let src2 = batch.src2.unwrap();
    assert_eq!(
        src2.sentence(0),
        [&[BOS][..], &sentence(2, 1), &[EOS]].concat()
    );
    assert!(batch.trg_in.is_none());
}

#[test]
fn an_epoch_covers_every_example_once_in_length_grouped_batches() {
    let n = 1000;
    let batch_size = 8;
    let mut iter = BatchIter::new(
        write_task("epoch", TaskType::Classification, n),
        batch_size,
        90,
    );
    let batches = iter.batches_per_epoch();
    let mut seen = HashSet::new();
    let mut padding = 0usize;
    for _ in 0..batches {
        let batch = iter.next_batch();
        assert!(batch.len() <= batch_size && !batch.is_empty());
        assert_eq!(iter.epoch(), 0);
        for &i in &batch.indices {
            assert!(seen.insert(i), "example {i} served twice");
        }
        padding += batch.src.max_len * batch.len() - batch.src.lens.iter().sum::<u32>() as usize;
    }
    assert_eq!(seen.len(), n);

    // Sorting within pools pads far less than random batches of the same examples would.
    let data = iter.data().clone();
    let mut random_padding = 0usize;
    for chunk in (0..n as u32).collect::<Vec<_>>().chunks(batch_size) {
        let batch = Batch::gather(&data, chunk);
        random_padding +=
            batch.src.max_len * batch.len() - batch.src.lens.iter().sum::<u32>() as usize;
    }
    assert!(
        padding * 5 < random_padding,
        "padding {padding} vs {random_padding}"
    );
    assert!(n > batch_size * POOL_BATCHES, "several pools are exercised");

    // The next batch starts a new, differently shuffled epoch.
    let first_of_next = iter.next_batch();
    assert_eq!(iter.epoch(), 1);
    let mut again = BatchIter::new(data, batch_size, 90);
    assert_ne!(first_of_next.indices, again.next_batch().indices);
}

#[test]
fn the_stream_is_determined_by_the_seed() {
    let data = Arc::new(write_task("seed", TaskType::PairClassification, 300));
    let take = |seed: u64| {
        let mut iter = BatchIter::new(Arc::clone(&data), 16, seed);
        (0..50).map(|_| iter.next_batch()).collect::<Vec<_>>()
    };
    assert_eq!(take(7), take(7));
    assert_ne!(take(7)[0].indices, take(8)[0].indices);
}

#[test]
fn restoring_a_state_continues_exactly_where_it_stopped() {
    let data = Arc::new(write_task("restore", TaskType::Seq2seq, 200));
    let mut uninterrupted = BatchIter::new(Arc::clone(&data), 12, 5);
    let reference: Vec<Batch> = (0..60).map(|_| uninterrupted.next_batch()).collect();

    // Stop mid-epoch (17 batches per epoch), save through JSON, resume in a new iterator.
    let mut first = BatchIter::new(Arc::clone(&data), 12, 5);
    for _ in 0..23 {
        first.next_batch();
    }
    let saved = serde_json::to_string(&first.state()).unwrap();
    let mut resumed = BatchIter::new(Arc::clone(&data), 12, 5);
    resumed
        .restore(&serde_json::from_str(&saved).unwrap())
        .unwrap();
    let rest: Vec<Batch> = (23..60).map(|_| resumed.next_batch()).collect();
    assert_eq!(&reference[23..], &rest[..]);

    // A state from another seed or batch size is refused.
    let other = BatchIter::new(Arc::clone(&data), 12, 6);
    assert!(resumed.restore(&other.state()).is_err());
    let other = BatchIter::new(data, 10, 5);
    assert!(resumed.restore(&other.state()).is_err());
}

#[test]
fn sequential_batches_keep_file_order() {
    let data = write_task("sequential", TaskType::Classification, 23);
    let batches: Vec<Batch> = sequential(&data, 10).collect();
    assert_eq!(batches.len(), 3);
    let order: Vec<u32> = batches.iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(order, (0..23).collect::<Vec<u32>>());
    assert_eq!(batches[2].len(), 3);
    assert_eq!(
        batches[1].labels.as_ref().unwrap(),
        &[1, 2, 0, 1, 2, 0, 1, 2, 0, 1]
    );
}
