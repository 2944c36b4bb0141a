//! GenSen-Ar text normalization for Arabic, English and bilingual text.
//!
//! [`normalize`] chains the steps below, each public so callers can compose their own:
//!
//! 1. [`remove_markup`]: HTML tags such as `<br/>` become spaces.
//! 2. [`remove_web_tokens`]: URLs, e-mail addresses, @mentions and #hashtags are removed.
//! 3. [`remove_diacritics`]: Arabic tashkeel (short vowels, shadda, sukun, tanween, dagger
//!    alef, Quranic marks) and tatweel are removed.
//! 4. [`cap_repeats`]: a character repeated 3+ times in a row is kept twice ("جمييييل" ->
//!    "جمييل", "sooo" -> "soo").
//! 5. [`tokenize`]: per script run, words and the punctuation `? ! , ; :` (and Arabic
//!    `؟ ، ؛`) become space-separated tokens; optional lowercase; English runs are reduced
//!    to ASCII after canonical decomposition ("café" -> "cafe"; Arabic punctuation and
//!    Arabic-Indic digits become their ASCII forms); `_` and quotes become
//!    spaces, apostrophes vanish ("don't" -> "dont"); digits are kept unless
//!    `drop_digits`; every other symbol (emoji, brackets, `.`, `-`, ...) is a separator.
//!
//! With [`Language::Bi`] each run of text is handled by its own script: an Arabic letter
//! starts an Arabic run, a Latin letter an English run, and neutral characters (digits,
//! punctuation, spaces) stay in the current run. This is exact for Arabic vs English and
//! costs one table look-up per character, unlike statistical language identification.
//!
//! Every step is a single pass over chars with no regular expressions, is deterministic,
//! and accepts any `&str` (it cannot fail and never panics).

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The language a text is normalized as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Arabic (MSA and dialects): every run uses the Arabic rules.
    Ar,
    /// English: every run uses the English rules (non-ASCII letters are dropped).
    En,
    /// Bilingual: each run follows its own script.
    Bi,
}

impl FromStr for Language {
    type Err = Error;

    fn from_str(s: &str) -> Result<Language> {
        match s {
            "ar" => Ok(Language::Ar),
            "en" => Ok(Language::En),
            "bi" => Ok(Language::Bi),
            _ => Err(Error::Invalid(format!(
                "unknown language {s:?} (expected ar, en or bi)"
            ))),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Ar => "ar",
            Language::En => "en",
            Language::Bi => "bi",
        })
    }
}

/// Which optional rules [`normalize`] applies. The default is GenSen-Ar's behaviour except
/// that digits are kept (dropping every number loses information for little gain).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NormalizeOptions {
    /// Lowercase letters.
    pub lowercase: bool,
    /// Drop digits (ASCII and Arabic-Indic) instead of keeping them inside tokens.
    pub drop_digits: bool,
    /// Replace HTML tags by spaces.
    pub remove_markup: bool,
    /// Remove URLs, e-mail addresses, @mentions and #hashtags.
    pub remove_web_tokens: bool,
    /// Cap runs of one repeated character at this many; 0 keeps runs unchanged.
    pub max_repeat: usize,
    /// Reduce English runs to ASCII after canonical decomposition (drops accents and
    /// letters of other scripts in English text).
    pub ascii_english: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        NormalizeOptions {
            lowercase: true,
            drop_digits: false,
            remove_markup: true,
            remove_web_tokens: true,
            max_repeat: 2,
            ascii_english: true,
        }
    }
}

/// The writing system of a run of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// Arabic letters.
    Arabic,
    /// Latin letters (English rules).
    Latin,
}

/// Normalizes one sentence: all steps of this module in order.
pub fn normalize(text: &str, language: Language, opts: &NormalizeOptions) -> String {
    let mut text = if opts.remove_markup {
        remove_markup(text)
    } else {
        text.to_string()
    };
    if opts.remove_web_tokens {
        text = remove_web_tokens(&text);
    }
    text = remove_diacritics(&text);
    if opts.max_repeat > 0 {
        text = cap_repeats(&text, opts.max_repeat);
    }
    tokenize(&text, language, opts)
}

/// The script of a letter, or `None` for digits, punctuation, spaces and other scripts.
pub fn script_of(c: char) -> Option<Script> {
    if c.is_ascii_alphabetic() {
        return Some(Script::Latin);
    }
    if c.is_ascii() || !c.is_alphabetic() {
        return None;
    }
    match c as u32 {
        // Latin-1 letters, Latin Extended-A/B, Latin Extended Additional.
        0x00C0..=0x024F | 0x1E00..=0x1EFF => Some(Script::Latin),
        // Arabic, Arabic Supplement, Arabic Extended-A, presentation forms A and B.
        0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Some(Script::Arabic)
        }
        _ => None,
    }
}

/// Whether `c` is an Arabic diacritic (tashkeel or Quranic annotation) or the tatweel.
pub fn is_arabic_diacritic(c: char) -> bool {
    matches!(c as u32,
        0x0610..=0x061A     // Quranic honorifics and small letters
        | 0x064B..=0x065F   // tanween, fatha, damma, kasra, shadda, sukun, maddah, ...
        | 0x0670            // superscript (dagger) alef
        | 0x06D6..=0x06DC   // Quranic small high ligatures
        | 0x06DF..=0x06E8   // Quranic small marks
        | 0x06EA..=0x06ED   // Quranic low/high stops
        | 0x08D3..=0x08E1   // Arabic Extended-A annotations
        | 0x08E3..=0x08FF
        | 0x0640 // tatweel (kashida)
    )
}

/// Removes Arabic diacritics and tatweel (see [`is_arabic_diacritic`]).
pub fn remove_diacritics(text: &str) -> String {
    text.chars().filter(|&c| !is_arabic_diacritic(c)).collect()
}

/// Replaces HTML/XML tags (`<b>`, `</p>`, `<br/>`, `<!-- x -->`) by a space. A `<` that does
/// not open a tag closed on the same text is left alone.
pub fn remove_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let opens_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        let close = after.find(['>', '<']);
        match close {
            Some(end) if opens_tag && after.as_bytes()[end] == b'>' => {
                out.push(' ');
                rest = &after[end + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a whitespace-separated token is a URL, an e-mail address, a @mention or a
/// #hashtag.
pub fn is_web_token(token: &str) -> bool {
    if token.starts_with('@') || token.starts_with('#') {
        return token.chars().count() > 1;
    }
    let lower = token.to_ascii_lowercase();
    if lower.contains("://") || lower.starts_with("www.") {
        return true;
    }
    // An e-mail address: something@something.something.
    match token.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain
                    .split_once('.')
                    .is_some_and(|(host, tld)| !host.is_empty() && !tld.is_empty())
        }
        None => false,
    }
}

/// Removes URLs, e-mail addresses, @mentions and #hashtags (see [`is_web_token`]); the
/// remaining tokens are joined by single spaces.
pub fn remove_web_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for token in text.split_whitespace().filter(|t| !is_web_token(t)) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(token);
    }
    out
}

/// Caps runs of one repeated character at `max` (`max` >= 1).
pub fn cap_repeats(text: &str, max: usize) -> String {
    let max = max.max(1);
    let mut out = String::with_capacity(text.len());
    let mut last = None;
    let mut run = 0;
    for c in text.chars() {
        if Some(c) == last {
            run += 1;
        } else {
            last = Some(c);
            run = 1;
        }
        if run <= max {
            out.push(c);
        }
    }
    out
}

/// What [`tokenize`] does with one character.
enum CharClass {
    /// Part of a word.
    Word,
    /// A punctuation mark kept as its own token.
    Punct,
    /// Removed without separating its neighbours (apostrophes, zero-width marks).
    Vanish,
    /// Removed and separates its neighbours (spaces, `_`, quotes, stray symbols).
    Separator,
}

fn classify(c: char, opts: &NormalizeOptions) -> CharClass {
    match c {
        '?' | '!' | ',' | ';' | ':' | '؟' | '،' | '؛' => CharClass::Punct,
        '\'' | '\u{2018}' | '\u{2019}' | '`' | '\u{00B4}' => CharClass::Vanish,
        // Zero-width and bidirectional marks, common in Arabic web text.
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' => {
            CharClass::Vanish
        }
        '\u{061C}' | '\u{FEFF}' | '\u{00AD}' => CharClass::Vanish,
        _ if c.is_numeric() => {
            if opts.drop_digits {
                CharClass::Separator
            } else {
                CharClass::Word
            }
        }
        _ if c.is_alphabetic() => CharClass::Word,
        _ if unicode_normalization::char::is_combining_mark(c) => CharClass::Word,
        _ => CharClass::Separator,
    }
}

/// Appends `c` to a word of the given script's run.
fn push_word_char(out: &mut String, c: char, script: Script, opts: &NormalizeOptions) {
    let mut push = |c: char| {
        if opts.lowercase {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    };
    if script == Script::Latin && opts.ascii_english {
        if c.is_ascii() {
            push(c);
        } else if let Some(digit) = arabic_indic_digit(c) {
            push(char::from(b'0' + digit));
        } else {
            unicode_normalization::char::decompose_canonical(c, |d| {
                if d.is_ascii() {
                    push(d)
                }
            });
        }
    } else {
        push(c);
    }
}

/// The value of an Arabic-Indic or Eastern Arabic-Indic digit.
fn arabic_indic_digit(c: char) -> Option<u8> {
    match c as u32 {
        0x0660..=0x0669 => Some((c as u32 - 0x0660) as u8),
        0x06F0..=0x06F9 => Some((c as u32 - 0x06F0) as u8),
        _ => None,
    }
}

/// Splits text into space-separated word and punctuation tokens, run by run in the script
/// `language` selects (see the module documentation).
pub fn tokenize(text: &str, language: Language, opts: &NormalizeOptions) -> String {
    let mut script = match language {
        Language::Ar => Script::Arabic,
        Language::En => Script::Latin,
        // Text before the first letter belongs to the first letter's run.
        Language::Bi => text.chars().find_map(script_of).unwrap_or(Script::Latin),
    };
    let mut out = String::with_capacity(text.len());
    // Whether a space must precede the next token, and the script of the word being built.
    let mut pending_space = false;
    let mut in_word: Option<Option<Script>> = None;
    for c in text.chars() {
        let letter_script = script_of(c);
        if language == Language::Bi {
            if let Some(s) = letter_script {
                script = s;
            }
        }
        match classify(c, opts) {
            CharClass::Word => {
                // Arabic and Latin letters glued together are split into two tokens.
                let split = matches!(
                    (in_word, letter_script),
                    (Some(Some(prev)), Some(now)) if prev != now
                );
                if in_word.is_none() || split {
                    pending_space = true;
                }
                let len_before = out.len();
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                let after_space = out.len();
                push_word_char(&mut out, c, script, opts);
                if out.len() == after_space {
                    // The character vanished (non-ASCII in an English run): no token started.
                    out.truncate(len_before);
                } else {
                    pending_space = false;
                    in_word = Some(letter_script.or(in_word.flatten()));
                }
            }
            CharClass::Punct => {
                if !out.is_empty() {
                    out.push(' ');
                }
                let mapped = if script == Script::Latin && opts.ascii_english {
                    match c {
                        '؟' => '?',
                        '،' => ',',
                        '؛' => ';',
                        other => other,
                    }
                } else {
                    c
                };
                out.push(mapped);
                pending_space = true;
                in_word = None;
            }
            CharClass::Vanish => {}
            CharClass::Separator => {
                pending_space = true;
                in_word = None;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_compose_into_normalize() {
        let opts = NormalizeOptions::default();
        let text = "<b>Hello</b>   WORLD!!!";
        let by_steps = tokenize(
            &cap_repeats(
                &remove_diacritics(&remove_web_tokens(&remove_markup(text))),
                2,
            ),
            Language::En,
            &opts,
        );
        assert_eq!(by_steps, normalize(text, Language::En, &opts));
        assert_eq!(by_steps, "hello world ! !");
    }
}
