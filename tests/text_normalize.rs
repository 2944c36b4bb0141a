//! Normalization: expected outputs per language and step, and no panic on any input.

use gensen::engine::rng::Rng;
use gensen::text::normalize::{
    cap_repeats, is_web_token, normalize, remove_diacritics, remove_markup, remove_web_tokens,
    script_of, tokenize, Language, NormalizeOptions, Script,
};

fn norm(text: &str, language: Language) -> String {
    normalize(text, language, &NormalizeOptions::default())
}

#[test]
fn english_is_tokenized_lowercased_and_reduced_to_ascii() {
    let cases = [
        ("Hello, World!", "hello , world !"),
        ("The café's crème brûlée.", "the cafes creme brulee"),
        ("Don't   stop_me now...", "dont stop me now"),
        ("\"Quoted\" (words) [here]", "quoted words here"),
        ("Is it 3.5 or 42?", "is it 3 5 or 42 ?"),
        ("Sooooo goooood!!!!", "soo good ! !"),
        ("emoji 😀 and ♥ symbols", "emoji and symbols"),
        ("   ", ""),
    ];
    for (input, expected) in cases {
        assert_eq!(norm(input, Language::En), expected, "input {input:?}");
    }
}

#[test]
fn web_tokens_and_markup_are_removed() {
    let text =
        "<p>Read https://example.com/x?a=1 or www.site.org, mail me@mail.com @bob #news</p> ok";
    assert_eq!(norm(text, Language::En), "read or mail ok");
    assert!(is_web_token("http://a.b"));
    assert!(is_web_token("user@host.org"));
    assert!(is_web_token("@mention"));
    assert!(is_web_token("#وسم"));
    assert!(!is_web_token("@"));
    assert!(!is_web_token("a@b"));
    assert!(!is_web_token("plain"));
    assert_eq!(remove_web_tokens("a  #x   b"), "a b");
    assert_eq!(
        remove_markup("a<br/>b <i>c</i> 3 < 4 > 2"),
        "a b  c  3 < 4 > 2"
    );
    assert_eq!(remove_markup("x < y"), "x < y");
    assert_eq!(remove_markup("<unclosed"), "<unclosed");
}

#[test]
fn arabic_diacritics_and_tatweel_are_removed() {
    // "muhammadun rasulu" with full tashkeel, and a word stretched with tatweel.
    assert_eq!(remove_diacritics("مُحَمَّدٌ رَسُولُ"), "محمد رسول");
    assert_eq!(remove_diacritics("جميـــــل"), "جميل");
    assert_eq!(remove_diacritics("plain text"), "plain text");
}

#[test]
fn arabic_is_split_into_words_and_punctuation() {
    let cases = [
        ("مَرْحَباً بِكُمْ، كَيْفَ الحَالُ؟", "مرحبا بكم ، كيف الحال ؟"),
        ("جمييييييل جداً!!!", "جمييل جدا ! !"),
        ("«اقتباس» (بين) أقواس", "اقتباس بين أقواس"),
        ("عام ٢٠٢٤ رقم 7", "عام ٢٠٢٤ رقم 7"),
        ("الـــــــوطن العربي", "الوطن العربي"),
        // Latin letters in Arabic text stay, lowercased, split from Arabic letters.
        ("شركةGoogle الأمريكية", "شركة google الأمريكية"),
    ];
    for (input, expected) in cases {
        assert_eq!(norm(input, Language::Ar), expected, "input {input:?}");
    }
}

#[test]
fn english_rules_drop_arabic_letters_and_map_arabic_punctuation() {
    assert_eq!(norm("hello مرحبا world؟", Language::En), "hello world ?");
}

#[test]
fn bilingual_text_follows_each_run_script() {
    let cases = [
        // An Arabic sentence keeps Arabic punctuation.
        ("كيف حالك؟", "كيف حالك ؟"),
        // An English sentence gets English rules (accents dropped).
        ("Café time?", "cafe time ?"),
        // Mixed: each run by its own script.
        ("I love مِصْر، really؟", "i love مصر ، really ?"),
        ("Ünïcödé وعربي", "unicode وعربي"),
        // Neutral text before the first letter joins the first letter's run.
        ("؟ what", "? what"),
        // Digits alone take the English rules: Arabic-Indic digits become ASCII.
        ("123 ٤٥", "123 45"),
        ("عام ٢٠٢٤", "عام ٢٠٢٤"),
    ];
    for (input, expected) in cases {
        assert_eq!(norm(input, Language::Bi), expected, "input {input:?}");
    }
}

#[test]
fn options_change_the_output() {
    let keep_case = NormalizeOptions {
        lowercase: false,
        ..NormalizeOptions::default()
    };
    assert_eq!(
        normalize("Hello World", Language::En, &keep_case),
        "Hello World"
    );
    let no_digits = NormalizeOptions {
        drop_digits: true,
        ..NormalizeOptions::default()
    };
    assert_eq!(
        normalize("room 101b and ٣ كتب", Language::Bi, &no_digits),
        "room b and كتب"
    );
    let keep_web = NormalizeOptions {
        remove_web_tokens: false,
        remove_markup: false,
        max_repeat: 0,
        ascii_english: false,
        ..NormalizeOptions::default()
    };
    assert_eq!(
        normalize("@bob <b>coool</b> naïve", Language::En, &keep_web),
        "bob b coool b naïve"
    );
}

#[test]
fn steps_are_individually_usable() {
    assert_eq!(cap_repeats("aaaabbbcc", 2), "aabbcc");
    assert_eq!(cap_repeats("aaaa", 1), "a");
    assert_eq!(cap_repeats("ههههههه", 2), "هه");
    assert_eq!(script_of('a'), Some(Script::Latin));
    assert_eq!(script_of('é'), Some(Script::Latin));
    assert_eq!(script_of('ب'), Some(Script::Arabic));
    assert_eq!(script_of('٣'), None);
    assert_eq!(script_of('?'), None);
    assert_eq!(script_of('ж'), None);
    let opts = NormalizeOptions::default();
    assert_eq!(tokenize("a,b;c:d", Language::En, &opts), "a , b ; c : d");
}

#[test]
fn normalization_is_idempotent_on_its_output() {
    for text in [
        "Hello, World! It's a café.",
        "مَرْحَباً بِكُمْ، كَيْفَ الحَالُ؟",
        "I love مِصْر، really؟ 123",
    ] {
        for language in [Language::Ar, Language::En, Language::Bi] {
            let once = norm(text, language);
            assert_eq!(norm(&once, language), once, "{language}: {text:?}");
        }
    }
}

/// A random string mixing ASCII, Arabic, diacritics, combining marks, symbols, control
/// characters, surrogate-adjacent and astral code points.
fn random_text(rng: &mut Rng) -> String {
    let len = rng.below(40);
    (0..len)
        .map(|_| {
            let c = match rng.below(8) {
                0 => rng.below(0x80) as u32,
                1 => 0x0600 + rng.below(0x100) as u32,
                2 => 0x064B + rng.below(8) as u32,
                3 => 0x0300 + rng.below(0x70) as u32,
                4 => [b' ', b'<', b'>', b'@', b'#', b'/', b':', b'\t'][rng.below(8)] as u32,
                5 => 0xD7F0 + rng.below(0x40) as u32,
                6 => 0x1F300 + rng.below(0x300) as u32,
                _ => rng.below(0x11_0000) as u32,
            };
            char::from_u32(c).unwrap_or('\u{FFFD}')
        })
        .collect()
}

#[test]
fn any_utf8_input_normalizes_without_panic_and_deterministically() {
    let mut rng = Rng::new(2024);
    let languages = [Language::Ar, Language::En, Language::Bi];
    let option_sets = [
        NormalizeOptions::default(),
        NormalizeOptions {
            lowercase: false,
            drop_digits: true,
            remove_markup: false,
            remove_web_tokens: false,
            max_repeat: 1,
            ascii_english: false,
        },
    ];
    for i in 0..20_000 {
        let text = random_text(&mut rng);
        let language = languages[i % 3];
        let opts = &option_sets[i % 2];
        let out = normalize(&text, language, opts);
        assert_eq!(out, normalize(&text, language, opts));
        // Tokens are separated by exactly one space, with none at the ends.
        assert!(
            !out.starts_with(' ') && !out.ends_with(' ') && !out.contains("  "),
            "{out:?}"
        );
    }
}
