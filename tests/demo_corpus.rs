//! The generated demo corpus: determinism, sizes, alignment of translations with the
//! lexicon, story continuity, NLI and sentiment labels that agree with the text, and a
//! config whose keys and paths the pipeline accepts.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use gensen::demo::grammar::{Lang, Object, Predicate, Sentence, Subject};
use gensen::demo::lexicon::{ADJECTIVES, NAMES, NOUNS, NUMBERS, PLACES, TIMES, VERBS};
use gensen::demo::{example_sentences, generate, write_corpus, CorpusSizes};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("gensen-demo-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(str::to_string).collect()
}

fn tiny_corpus(name: &str, seed: u64) -> (TempDir, PathBuf) {
    let dir = TempDir::new(name);
    let config = write_corpus(&dir.0, seed, &CorpusSizes::tiny()).unwrap();
    (dir, config)
}

fn is_arabic_letter(c: char) -> bool {
    ('\u{0621}'..='\u{064A}').contains(&c)
}

/// Words a translation may use outside the lexicon tables, with their Arabic stems.
const GLUE: &[(&str, &[&str])] = &[
    ("goes", &["ذهب"]),
    ("go", &["ذهب"]),
    ("has", &["عند"]),
    ("not", &["لا", "ليس"]),
    ("to", &["إلى"]),
    // Two is the dual ending (كتابان, تفاحتان).
    ("two", &["ان"]),
];
const FUNCTION_WORDS: &[&str] = &["the", "a", "an", "is", "does", "in", "at", "on"];

/// Every English word of the lexicon mapped to Arabic stems, any of which must appear in
/// the translation (stems drop taa marbuta, so duals and plurals in ات match too).
fn english_to_arabic() -> HashMap<String, Vec<String>> {
    let stem = |w: &str| w.strip_suffix('ة').unwrap_or(w).to_string();
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    let mut add = |en: &str, ar: Vec<String>| map.entry(en.to_string()).or_default().extend(ar);
    for n in NOUNS {
        add(n.en, vec![stem(n.ar)]);
        if !n.en_plural.is_empty() {
            add(n.en_plural, vec![n.ar_plural.to_string(), stem(n.ar)]);
        }
    }
    for v in VERBS {
        // The stem without the person prefix ي/ت.
        let stem: String = v.ar.chars().skip(1).collect();
        add(v.en, vec![stem.clone()]);
        add(v.en_base, vec![stem]);
    }
    for a in ADJECTIVES {
        add(a.en, vec![a.ar_masc.to_string(), a.ar_fem.to_string()]);
    }
    for n in NAMES {
        add(n.en, vec![n.ar.to_string()]);
    }
    for p in PLACES {
        add(p.en, vec![p.ar.to_string()]);
    }
    for &(en, masc, fem) in NUMBERS {
        let forms: Vec<String> = [masc, fem]
            .iter()
            .filter(|f| !f.is_empty())
            .map(|f| f.to_string())
            .collect();
        if !forms.is_empty() {
            add(en, forms);
        }
    }
    for &(en, ar) in GLUE {
        add(en, ar.iter().map(|s| s.to_string()).collect());
    }
    map
}

/// Panics unless `ar` translates `en` word for word as far as the lexicon says.
fn assert_aligned(en: &str, ar: &str, map: &HashMap<String, Vec<String>>) {
    assert!(
        en.is_ascii() && !en.is_empty(),
        "English line not ASCII: {en:?}"
    );
    assert!(
        ar.chars().all(|c| c == ' ' || is_arabic_letter(c)) && ar.chars().any(is_arabic_letter),
        "Arabic line with other characters: {ar:?}"
    );
    let mut rest = format!(" {en} ");
    for &(phrase, arabic) in TIMES {
        let padded = format!(" {phrase} ");
        if rest.contains(&padded) {
            assert!(
                ar.contains(arabic),
                "{en:?} has {phrase:?} but {ar:?} lacks {arabic:?}"
            );
            rest = rest.replace(&padded, " ");
        }
    }
    for word in rest.split_whitespace() {
        if FUNCTION_WORDS.contains(&word) {
            continue;
        }
        let stems = map
            .get(word)
            .unwrap_or_else(|| panic!("{word:?} in {en:?} is no lexicon word"));
        assert!(
            stems.iter().any(|s| ar.contains(s.as_str())),
            "{en:?}: {word:?} should appear in {ar:?} as one of {stems:?}"
        );
    }
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_differs() {
    let (a, _) = tiny_corpus("det-a", 7);
    let (b, _) = tiny_corpus("det-b", 7);
    let (c, _) = tiny_corpus("det-c", 8);
    let mut names: Vec<PathBuf> = fs::read_dir(a.0.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.push(a.0.join("config.json"));
    assert!(
        names.len() >= 20,
        "expected every data file, found {names:?}"
    );
    for path in &names {
        let relative = path.strip_prefix(&a.0).unwrap();
        assert_eq!(
            fs::read(path).unwrap(),
            fs::read(b.0.join(relative)).unwrap(),
            "{relative:?}"
        );
    }
    for file in [
        "ar-en.train.en",
        "stories.train.cur.ar",
        "nli.train.tsv",
        "sentiment.train.tsv",
    ] {
        let read = |dir: &TempDir| fs::read(dir.0.join("data").join(file)).unwrap();
        assert_ne!(read(&a), read(&c), "{file} did not change with the seed");
    }
}

#[test]
fn line_counts_follow_the_sizes_and_no_temporary_file_remains() {
    let (dir, _) = tiny_corpus("counts", 1);
    let data = dir.0.join("data");
    let sizes = CorpusSizes::tiny();
    let count = |name: &str| lines(&data.join(name)).len();

    assert_eq!(
        count("ar-en.train.en") + count("ar-en.val.en"),
        sizes.translation_pairs
    );
    assert_eq!(count("ar-en.val.en"), 30);
    assert_eq!(
        count("nli.train.tsv") + count("nli.val.tsv") + count("nli.test.tsv"),
        600
    );
    assert_eq!((count("nli.val.tsv"), count("nli.test.tsv")), (60, 60));
    assert_eq!(
        count("sentiment.train.tsv") + count("sentiment.val.tsv"),
        sizes.classification
    );
    for lang in ["en", "ar"] {
        let pairs =
            count(&format!("stories.train.cur.{lang}")) + count(&format!("stories.val.cur.{lang}"));
        // 5-8 sentences a story give 4-7 pairs.
        assert!(
            (4 * sizes.stories..=7 * sizes.stories).contains(&pairs),
            "{lang}: {pairs}"
        );
    }

    let leftovers: Vec<String> = fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') || n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn translation_pairs_are_aligned_with_the_lexicon() {
    let (dir, _) = tiny_corpus("translation", 2);
    let data = dir.0.join("data");
    let map = english_to_arabic();
    for split in ["train", "val"] {
        let ar = lines(&data.join(format!("ar-en.{split}.ar")));
        let en = lines(&data.join(format!("ar-en.{split}.en")));
        assert_eq!(ar.len(), en.len(), "{split}: files not line-aligned");
        for (en, ar) in en.iter().zip(&ar) {
            assert_aligned(en, ar, &map);
        }
    }
    let train: HashSet<String> = lines(&data.join("ar-en.train.en")).into_iter().collect();
    assert!(lines(&data.join("ar-en.val.en"))
        .iter()
        .all(|s| !train.contains(s)));
}

#[test]
fn example_sentences_are_translations_unseen_in_training() {
    let examples = example_sentences();
    assert_eq!(
        examples.len(),
        10,
        "an example sentence lost a lexicon word"
    );
    let map = english_to_arabic();
    for (en, ar) in &examples {
        assert_aligned(en, ar, &map);
    }
    let (dir, _) = tiny_corpus("examples", 3);
    let data = dir.0.join("data");
    let mut seen: HashSet<String> = lines(&data.join("ar-en.train.en")).into_iter().collect();
    seen.extend(lines(&data.join("ar-en.val.en")));
    assert!(examples.iter().all(|(en, _)| !seen.contains(en)));
}

#[test]
fn arabic_agreement_and_inflection() {
    let noun = |w: &str| generate::noun_index(w).unwrap();
    let adj = |w: &str| generate::adjective_index(w).unwrap();
    let the = |w, a: Option<&str>| Subject::Noun {
        noun: noun(w),
        adj: a.map(adj),
    };
    let reads = |subject, object| {
        let verb = generate::verb_index("reads").unwrap();
        Sentence::new(subject, Predicate::Act { verb, object })
    };
    let red_book = Object {
        noun: noun("book"),
        adj: Some(adj("red")),
        definite: false,
    };
    let big_book = Object {
        noun: noun("book"),
        adj: Some(adj("big")),
        definite: false,
    };
    let the_story = Object {
        noun: noun("story"),
        adj: None,
        definite: true,
    };

    let cases: Vec<(Sentence, &str, &str)> = vec![
        (
            reads(the("boy", None), red_book),
            "the boy reads a red book",
            "الولد يقرأ كتابا أحمر",
        ),
        (
            reads(the("girl", Some("tall")), big_book),
            "the tall girl reads a big book",
            "البنت الطويلة تقرأ كتابا كبيرا",
        ),
        (
            Sentence {
                negated: true,
                ..reads(the("girl", None), the_story)
            },
            "the girl does not read the story",
            "البنت لا تقرأ القصة",
        ),
        (
            Sentence {
                negated: true,
                ..Sentence::new(the("car", None), Predicate::Is { adj: adj("red") })
            },
            "the car is not red",
            "السيارة ليست حمراء",
        ),
        (
            Sentence {
                negated: true,
                ..Sentence::new(the("boy", None), Predicate::Is { adj: adj("tall") })
            },
            "the boy is not tall",
            "الولد ليس طويلا",
        ),
        (
            Sentence::new(
                the("girl", None),
                Predicate::Has {
                    number: 2,
                    noun: noun("apple"),
                },
            ),
            "the girl has two apples",
            "عند البنت تفاحتان",
        ),
        (
            Sentence::new(
                the("boy", None),
                Predicate::Has {
                    number: 1,
                    noun: noun("book"),
                },
            ),
            "the boy has one book",
            "عند الولد كتاب واحد",
        ),
        (
            Sentence::new(
                the("boy", None),
                Predicate::Has {
                    number: 8,
                    noun: noun("apple"),
                },
            ),
            "the boy has eight apples",
            "عند الولد ثماني تفاحات",
        ),
        (
            Sentence::new(
                the("boy", None),
                Predicate::Has {
                    number: 5,
                    noun: noun("book"),
                },
            ),
            "the boy has five books",
            "عند الولد خمسة كتب",
        ),
        (
            Sentence::new(
                the("mother", None),
                Predicate::Has {
                    number: 2,
                    noun: noun("pen"),
                },
            ),
            "the mother has two pens",
            "عند الأم قلمان",
        ),
    ];
    for (sentence, en, ar) in cases {
        assert_eq!(sentence.render(Lang::En), en);
        assert_eq!(sentence.render(Lang::Ar), ar);
    }
}

#[test]
fn stories_continue_with_one_hero_and_one_companion() {
    let (dir, _) = tiny_corpus("stories", 4);
    let data = dir.0.join("data");
    for lang in ["en", "ar"] {
        for split in ["train", "val"] {
            let cur = lines(&data.join(format!("stories.{split}.cur.{lang}")));
            let next = lines(&data.join(format!("stories.{split}.next.{lang}")));
            assert_eq!(cur.len(), next.len(), "{lang} {split}: not line-aligned");
            for line in cur.iter().chain(&next) {
                let script_ok = match lang {
                    "en" => line.is_ascii(),
                    _ => line.chars().all(|c| c == ' ' || is_arabic_letter(c)),
                };
                assert!(script_ok && !line.is_empty(), "{lang} {split}: {line:?}");
            }

            // Chain the pairs back into stories: a pair continues the story when its
            // current sentence is the previous pair's next sentence.
            let mut stories: Vec<Vec<&str>> = Vec::new();
            for i in 0..cur.len() {
                if i == 0 || next[i - 1] != cur[i] {
                    stories.push(vec![&cur[i]]);
                }
                stories.last_mut().unwrap().push(&next[i]);
            }
            let expected = if split == "val" { 6 } else { 54 };
            assert_eq!(stories.len(), expected, "{lang} {split}: story count");
            for story in &stories {
                assert!((5..=8).contains(&story.len()), "{story:?}");
                // The subject is the first word, or "the X" / "الX" (one word in Arabic).
                let subjects: HashSet<String> = story
                    .iter()
                    .map(|s| {
                        let words: Vec<&str> = s.split(' ').collect();
                        if words[0] == "the" {
                            words[..2].join(" ")
                        } else {
                            words[0].to_string()
                        }
                    })
                    .collect();
                assert!(subjects.len() <= 2, "more than two characters in {story:?}");
                let names = subjects
                    .iter()
                    .filter(|s| NAMES.iter().any(|n| n.en == *s || n.ar == *s));
                assert_eq!(names.count(), 1, "one named hero expected in {story:?}");
            }
        }
    }
}

/// Words whose change contradicts: adjectives of one exclusion group, places, exclusive
/// activities, numbers. Maps a word to its class.
fn clash_classes() -> HashMap<&'static str, String> {
    let mut classes = HashMap::new();
    for a in ADJECTIVES.iter().filter(|a| a.group != 0) {
        classes.insert(a.en, format!("adjective group {}", a.group));
    }
    for p in PLACES {
        classes.insert(p.en, "place".to_string());
    }
    for v in VERBS.iter().filter(|v| v.exclusive) {
        classes.insert(v.en, "activity".to_string());
        classes.insert(v.en_base, "activity".to_string());
    }
    for &(en, _, _) in NUMBERS {
        classes.insert(en, "number".to_string());
    }
    classes
}

#[test]
fn nli_labels_follow_from_the_text() {
    let (dir, _) = tiny_corpus("nli", 5);
    let data = dir.0.join("data");
    let labels: HashMap<String, usize> =
        serde_json::from_str(&fs::read_to_string(data.join("nli_labels.json")).unwrap()).unwrap();
    let expected: HashMap<String, usize> =
        [("entailment", 0), ("neutral", 1), ("contradiction", 2)]
            .map(|(l, i)| (l.to_string(), i))
            .into();
    assert_eq!(labels, expected);

    let classes = clash_classes();
    let negations = ["not", "لا", "ليس", "ليست"];
    let mut same_language: HashMap<String, usize> = HashMap::new();
    for split in ["train", "val", "test"] {
        for (i, row) in lines(&data.join(format!("nli.{split}.tsv")))
            .iter()
            .enumerate()
        {
            let at = format!("nli.{split}.tsv:{}", i + 1);
            let cols: Vec<&str> = row.split('\t').collect();
            assert_eq!(cols.len(), 3, "{at}: {row:?}");
            let (label, premise, hypothesis) = (cols[0], cols[1], cols[2]);
            assert!(labels.contains_key(label), "{at}: label {label:?}");
            if premise.is_ascii() != hypothesis.is_ascii() {
                continue;
            }
            *same_language.entry(label.to_string()).or_insert(0) += 1;

            let ignored = |w: &&str| !["a", "an"].contains(w);
            let p: HashSet<&str> = premise.split(' ').filter(ignored).collect();
            let h: HashSet<&str> = hypothesis.split(' ').filter(ignored).collect();
            let added: Vec<&str> = h.difference(&p).copied().collect();
            let removed: Vec<&str> = p.difference(&h).copied().collect();
            // Premises are positive; only a contradiction may negate one side.
            let negated = |words: &HashSet<&str>| words.iter().any(|w| negations.contains(w));
            let one_side_negated = negated(&p) != negated(&h);
            let any_negated = negated(&p) || negated(&h);
            // A clash: the hypothesis brings a word of a class the premise filled otherwise.
            let clash = added.iter().any(|a| {
                removed
                    .iter()
                    .any(|r| classes.get(a).is_some_and(|c| classes.get(r) == Some(c)))
            });
            match label {
                "entailment" => {
                    assert!(added.is_empty(), "{at}: entailment adds {added:?}");
                    assert!(!any_negated, "{at}: negation in entailment {row:?}");
                }
                "neutral" => {
                    assert!(!added.is_empty() && !any_negated, "{at}: neutral {row:?}");
                    assert!(!clash, "{at}: neutral pair clashes: {row:?}");
                }
                _ => {
                    let differs = one_side_negated || !added.is_empty();
                    assert!(differs, "{at}: contradiction changes nothing: {row:?}");
                    if premise.is_ascii() {
                        let why = one_side_negated || clash;
                        assert!(why, "{at}: no negation or clash: {row:?}");
                    }
                }
            }
        }
    }
    for label in ["entailment", "neutral", "contradiction"] {
        assert!(
            same_language.get(label).copied().unwrap_or(0) > 50,
            "{same_language:?}"
        );
    }
}

#[test]
fn sentiment_labels_follow_from_the_adjective() {
    let (dir, _) = tiny_corpus("sentiment", 6);
    let data = dir.0.join("data");
    let labels = fs::read_to_string(data.join("sentiment_labels.json")).unwrap();
    assert_eq!(labels.trim(), r#"{"positive":0,"negative":1}"#);
    let charged: HashMap<&str, i8> = ADJECTIVES
        .iter()
        .filter(|a| a.sentiment != 0)
        .map(|a| (a.en, a.sentiment))
        .collect();
    let mut checked = 0;
    for split in ["train", "val"] {
        for row in lines(&data.join(format!("sentiment.{split}.tsv"))) {
            let (label, sentence) = row.split_once('\t').unwrap();
            assert!(["positive", "negative"].contains(&label), "{row:?}");
            assert!(!sentence.contains('\t'));
            if !sentence.is_ascii() {
                continue;
            }
            let found: Vec<i8> = sentence
                .split(' ')
                .filter_map(|w| charged.get(w).copied())
                .collect();
            assert_eq!(found.len(), 1, "one sentiment word expected: {row:?}");
            let negated = sentence.split(' ').any(|w| w == "not");
            let positive = (found[0] > 0) != negated;
            assert_eq!(label == "positive", positive, "{row:?}");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} English sentences");
}

#[test]
fn config_has_the_pipeline_keys_and_its_paths_exist() {
    let (dir, config_path) = tiny_corpus("config", 90);
    assert_eq!(config_path, dir.0.join("config.json"));
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&config_path).unwrap()).unwrap();
    let keys = |v: &serde_json::Value| -> HashSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    let set = |names: &[&str]| -> HashSet<String> { names.iter().map(|s| s.to_string()).collect() };

    assert_eq!(
        keys(&config),
        set(&["training", "management", "vocab", "model", "tasks"])
    );
    assert_eq!(
        keys(&config["training"]),
        set(&["optimizer", "lrate", "clip_c", "batch_size", "seed"])
    );
    assert_eq!(
        keys(&config["management"]),
        set(&["monitor_loss", "checkpoint_freq", "eval_freq"])
    );
    assert_eq!(
        keys(&config["vocab"]),
        set(&[
            "model_prefix",
            "vocab_size",
            "model_type",
            "max_num_sentences",
            "special_tokens",
            "lowercase"
        ])
    );
    assert_eq!(
        keys(&config["model"]),
        set(&[
            "dim_src",
            "dim_trg",
            "dim_word_src",
            "dim_word_trg",
            "n_layers_src",
            "bidirectional",
            "dropout",
            "max_src_length",
            "max_trg_length",
            "pooling_strategy",
            "model_dir",
            "vocab_dir",
        ])
    );
    assert_eq!(config["training"]["seed"], 90);
    let vocab_size = config["vocab"]["vocab_size"].as_u64().unwrap();
    assert!(
        (300..=4000).contains(&vocab_size),
        "vocab_size {vocab_size}"
    );

    let task_keys = set(&[
        "taskname",
        "tasktype",
        "language",
        "language_trg",
        "train_src",
        "train_trg",
        "val_src",
        "val_trg",
        "labels_mapping",
        "num_of_classes",
    ]);
    let tasks = config["tasks"].as_array().unwrap();
    let names: Vec<&str> = tasks
        .iter()
        .map(|t| t["taskname"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ar-en",
            "en-ar",
            "en-skipthought",
            "ar-skipthought",
            "bi-nli",
            "sentiment"
        ]
    );
    for task in tasks {
        assert!(keys(task).is_subset(&task_keys), "unknown key in {task}");
        assert!(
            task.get("val_src").is_some(),
            "no validation data in {task}"
        );
        for key in [
            "train_src",
            "train_trg",
            "val_src",
            "val_trg",
            "labels_mapping",
        ] {
            if let Some(path) = task.get(key) {
                let path = dir.0.join(path.as_str().unwrap());
                assert!(
                    path.is_file(),
                    "{key} of {} missing: {}",
                    task["taskname"],
                    path.display()
                );
            }
        }
        match task["tasktype"].as_str().unwrap() {
            "seq2seq" => assert!(task.get("train_trg").is_some() && task.get("val_trg").is_some()),
            _ => {
                let mapping = dir.0.join(task["labels_mapping"].as_str().unwrap());
                let mapping: HashMap<String, usize> =
                    serde_json::from_str(&fs::read_to_string(mapping).unwrap()).unwrap();
                assert_eq!(
                    task["num_of_classes"].as_u64().unwrap() as usize,
                    mapping.len()
                );
            }
        }
    }
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let dir = TempDir::new("errors");
    let sizes = CorpusSizes {
        val_fraction: 0.9,
        ..CorpusSizes::tiny()
    };
    assert!(matches!(
        write_corpus(&dir.0, 1, &sizes),
        Err(gensen::Error::Invalid(_))
    ));
    // A file where the corpus directory should be.
    let file = dir.0.join("not-a-dir");
    fs::write(&file, "x").unwrap();
    assert!(matches!(
        write_corpus(&file, 1, &CorpusSizes::tiny()),
        Err(gensen::Error::Io { .. })
    ));
}
