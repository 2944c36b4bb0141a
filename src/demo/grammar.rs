//! A sentence as slots (subject, predicate, modifiers) and its rendering in English (SVO)
//! and Arabic (SVO, with gender agreement of verb and adjectives, the definite article on
//! noun and adjective alike, and the accusative on indefinite objects and after ليس).
//!
//! Generators build [`Sentence`] values and transform slots (drop a modifier, negate,
//! swap an adjective), so the relation between two sentences is known by construction.

use super::lexicon::{
    definite, noun_accusative, noun_dual, Gender, ADJECTIVES, NAMES, NOUNS, NUMBERS, PLACES, TIMES,
    VERBS,
};

/// Who or what a sentence is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// Index into `NAMES`.
    Name(usize),
    /// Index into `NOUNS`, always definite, with an optional adjective index.
    Noun { noun: usize, adj: Option<usize> },
}

/// A verb's object (index into `NOUNS`) with an optional adjective.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object {
    pub noun: usize,
    pub adj: Option<usize>,
    pub definite: bool,
}

/// What the sentence says of its subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Predicate {
    /// "reads a book": a transitive verb and its object.
    Act { verb: usize, object: Object },
    /// "sleeps".
    Intransitive { verb: usize },
    /// "goes to the market".
    GoTo { place: usize },
    /// "is tall" (an Arabic nominal sentence).
    Is { adj: usize },
    /// "is in the garden".
    At { place: usize },
    /// "has three books"; `number` is 1..=10 and the noun countable.
    Has { number: usize, noun: usize },
}

/// One sentence as slots; `place` and `time` are trailing modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sentence {
    pub subject: Subject,
    pub predicate: Predicate,
    pub negated: bool,
    pub place: Option<usize>,
    pub time: Option<usize>,
}

/// The language a sentence is rendered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ar,
}

impl Subject {
    fn gender(self) -> Gender {
        match self {
            Subject::Name(i) => NAMES[i].gender,
            Subject::Noun { noun, .. } => NOUNS[noun].gender,
        }
    }
}

impl Sentence {
    /// A sentence with no modifiers.
    pub fn new(subject: Subject, predicate: Predicate) -> Self {
        Sentence {
            subject,
            predicate,
            negated: false,
            place: None,
            time: None,
        }
    }

    /// The sentence in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.english(),
            Lang::Ar => self.arabic(),
        }
    }

    /// English: "the tall boy does not read a red book in the library in the morning".
    pub fn english(&self) -> String {
        let mut words: Vec<String> = vec![english_subject(self.subject)];
        let not = if self.negated { "not " } else { "" };
        let verb_phrase = |verb: usize| {
            let v = &VERBS[verb];
            if self.negated {
                format!("does not {}", v.en_base)
            } else {
                v.en.to_string()
            }
        };
        match self.predicate {
            Predicate::Act { verb, object } => {
                words.push(verb_phrase(verb));
                words.push(english_object(object));
            }
            Predicate::Intransitive { verb } => words.push(verb_phrase(verb)),
            Predicate::GoTo { place } => {
                let go = if self.negated { "does not go" } else { "goes" };
                words.push(format!("{go} to the {}", PLACES[place].en));
            }
            Predicate::Is { adj } => words.push(format!("is {not}{}", ADJECTIVES[adj].en)),
            Predicate::At { place } => {
                let p = &PLACES[place];
                words.push(format!("is {not}{} the {}", p.en_prep, p.en));
            }
            Predicate::Has { number, noun } => {
                let n = &NOUNS[noun];
                let counted = if number == 1 { n.en } else { n.en_plural };
                words.push(format!("has {} {counted}", NUMBERS[number - 1].0));
            }
        }
        if let Some(place) = self.place {
            let p = &PLACES[place];
            words.push(format!("{} the {}", p.en_prep, p.en));
        }
        if let Some(time) = self.time {
            words.push(TIMES[time].0.to_string());
        }
        words.join(" ")
    }

    /// Arabic: "الولد الطويل لا يقرأ كتابا أحمر في المكتبة في الصباح".
    pub fn arabic(&self) -> String {
        let gender = self.subject.gender();
        let subject = arabic_subject(self.subject);
        let negation = if self.negated { "لا " } else { "" };
        // ليس agrees with the subject and puts its predicate in the accusative.
        let laysa = match gender {
            Gender::Masc => "ليس ",
            Gender::Fem => "ليست ",
        };
        let mut words: Vec<String> = Vec::new();
        match self.predicate {
            Predicate::Act { verb, object } => {
                words.push(subject);
                words.push(format!("{negation}{}", VERBS[verb].ar(gender)));
                words.push(arabic_object(object));
            }
            Predicate::Intransitive { verb } => {
                words.push(subject);
                words.push(format!("{negation}{}", VERBS[verb].ar(gender)));
            }
            Predicate::GoTo { place } => {
                let go = match gender {
                    Gender::Masc => "يذهب",
                    Gender::Fem => "تذهب",
                };
                words.push(subject);
                words.push(format!("{negation}{go} إلى {}", definite(PLACES[place].ar)));
            }
            Predicate::Is { adj } => {
                let a = &ADJECTIVES[adj];
                words.push(subject);
                if self.negated {
                    words.push(format!("{laysa}{}", a.ar_accusative(gender)));
                } else {
                    words.push(a.ar(gender).to_string());
                }
            }
            Predicate::At { place } => {
                let p = &PLACES[place];
                words.push(subject);
                let neg = if self.negated { laysa } else { "" };
                words.push(format!("{neg}{} {}", p.ar_prep, definite(p.ar)));
            }
            Predicate::Has { number, noun } => {
                words.push(format!("عند {subject}"));
                words.push(arabic_count(number, noun));
            }
        }
        if let Some(place) = self.place {
            let p = &PLACES[place];
            words.push(format!("{} {}", p.ar_prep, definite(p.ar)));
        }
        if let Some(time) = self.time {
            words.push(TIMES[time].1.to_string());
        }
        words.join(" ")
    }
}

fn english_subject(subject: Subject) -> String {
    match subject {
        Subject::Name(i) => NAMES[i].en.to_string(),
        Subject::Noun { noun, adj } => match adj {
            Some(a) => format!("the {} {}", ADJECTIVES[a].en, NOUNS[noun].en),
            None => format!("the {}", NOUNS[noun].en),
        },
    }
}

fn english_object(object: Object) -> String {
    let noun = &NOUNS[object.noun];
    let phrase = match object.adj {
        Some(a) => format!("{} {}", ADJECTIVES[a].en, noun.en),
        None => noun.en.to_string(),
    };
    if object.definite {
        format!("the {phrase}")
    } else if noun.mass {
        phrase
    } else if phrase.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {phrase}")
    } else {
        format!("a {phrase}")
    }
}

fn arabic_subject(subject: Subject) -> String {
    match subject {
        Subject::Name(i) => NAMES[i].ar.to_string(),
        Subject::Noun { noun, adj } => {
            let n = &NOUNS[noun];
            match adj {
                Some(a) => format!(
                    "{} {}",
                    definite(n.ar),
                    definite(ADJECTIVES[a].ar(n.gender))
                ),
                None => definite(n.ar),
            }
        }
    }
}

fn arabic_object(object: Object) -> String {
    let noun = &NOUNS[object.noun];
    match (object.definite, object.adj) {
        (true, None) => definite(noun.ar),
        (true, Some(a)) => {
            format!(
                "{} {}",
                definite(noun.ar),
                definite(ADJECTIVES[a].ar(noun.gender))
            )
        }
        (false, None) => noun_accusative(noun),
        (false, Some(a)) => {
            format!(
                "{} {}",
                noun_accusative(noun),
                ADJECTIVES[a].ar_accusative(noun.gender)
            )
        }
    }
}

/// "كتاب واحد", "كتابان", "ثلاثة كتب", "ثلاث تفاحات" (nominative: the counted noun is the
/// subject of the nominal sentence after عند).
fn arabic_count(number: usize, noun: usize) -> String {
    let n = &NOUNS[noun];
    let (_, with_masc, with_fem) = NUMBERS[number - 1];
    let numeral = match n.gender {
        Gender::Masc => with_masc,
        Gender::Fem => with_fem,
    };
    match number {
        1 => format!("{} {numeral}", n.ar),
        2 => noun_dual(n),
        _ => format!("{numeral} {}", n.ar_plural),
    }
}
