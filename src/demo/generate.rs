//! Samplers over the grammar: single sentences (translation pairs), short stories
//! (skip-thought), NLI pairs whose label follows from the slot transformation that made the
//! hypothesis, and sentiment examples whose label follows from the adjective chosen.

use super::grammar::{Object, Predicate, Sentence, Subject};
use super::lexicon::{kind, ADJECTIVES, NAMES, NOUNS, NUMBERS, PLACES, TIMES, VERBS};
use crate::engine::rng::Rng;

/// How often the optional slots are filled.
#[derive(Clone, Copy, Debug)]
pub struct Odds {
    pub subject_adj: f64,
    pub object_adj: f64,
    pub place: f64,
    pub time: f64,
    pub negated: f64,
}

/// Plain sentences for the translation corpus.
pub const TRANSLATION_ODDS: Odds = Odds {
    subject_adj: 0.35,
    object_adj: 0.4,
    place: 0.3,
    time: 0.25,
    negated: 0.12,
};

/// NLI premises carry more modifiers, so there is something to drop, and no negation, so
/// dropping a modifier keeps the meaning entailed.
const PREMISE_ODDS: Odds = Odds {
    subject_adj: 0.5,
    object_adj: 0.5,
    place: 0.45,
    time: 0.35,
    negated: 0.0,
};

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.next_f64() < p
}

fn pick(rng: &mut Rng, items: &[usize]) -> Option<usize> {
    (!items.is_empty()).then(|| items[rng.below(items.len())])
}

fn position<T>(table: &[T], word: &str, en: impl Fn(&T) -> &str) -> Option<usize> {
    table.iter().position(|item| en(item) == word)
}

/// Index of the noun whose English singular is `word`.
pub fn noun_index(word: &str) -> Option<usize> {
    position(NOUNS, word, |n| n.en)
}

/// Index of the verb whose English third person is `word`.
pub fn verb_index(word: &str) -> Option<usize> {
    position(VERBS, word, |v| v.en)
}

/// Index of the adjective `word`.
pub fn adjective_index(word: &str) -> Option<usize> {
    position(ADJECTIVES, word, |a| a.en)
}

/// Index of the place `word`.
pub fn place_index(word: &str) -> Option<usize> {
    position(PLACES, word, |p| p.en)
}

/// Index of the time adverbial `phrase`.
pub fn time_index(phrase: &str) -> Option<usize> {
    position(TIMES, phrase, |t| t.0)
}

fn nouns_of(mask: u16) -> Vec<usize> {
    (0..NOUNS.len())
        .filter(|&i| NOUNS[i].kind & mask != 0)
        .collect()
}

/// The noun kind of a subject; names are people.
fn subject_kind(subject: Subject) -> u16 {
    match subject {
        Subject::Name(_) => kind::PERSON,
        Subject::Noun { noun, .. } => NOUNS[noun].kind,
    }
}

/// Adjectives fitting `kind`, none of them in `used` and none from an exclusion group in
/// `taken_groups` (group 0 clashes with nothing).
fn adjectives_for(kind: u16, taken_groups: &[u8], used: &[usize]) -> Vec<usize> {
    (0..ADJECTIVES.len())
        .filter(|&i| {
            let a = &ADJECTIVES[i];
            a.fits(kind) && !used.contains(&i) && (a.group == 0 || !taken_groups.contains(&a.group))
        })
        .collect()
}

fn maybe_adj(rng: &mut Rng, p: f64, kind: u16) -> Option<usize> {
    if chance(rng, p) {
        pick(rng, &adjectives_for(kind, &[], &[]))
    } else {
        None
    }
}

fn person_subject(rng: &mut Rng, p_adj: f64) -> Subject {
    if chance(rng, 0.3) {
        Subject::Name(rng.below(NAMES.len()))
    } else {
        let people = nouns_of(kind::PERSON);
        let noun = people[rng.below(people.len())];
        Subject::Noun {
            noun,
            adj: maybe_adj(rng, p_adj, kind::PERSON),
        }
    }
}

fn noun_subject(rng: &mut Rng, mask: u16, p_adj: f64) -> Subject {
    let nouns = nouns_of(mask);
    let noun = nouns[rng.below(nouns.len())];
    Subject::Noun {
        noun,
        adj: maybe_adj(rng, p_adj, NOUNS[noun].kind),
    }
}

/// Places where the intransitive `verb` can happen (swimming needs water).
fn places_for_verb(verb: usize) -> Vec<usize> {
    if VERBS[verb].en == "swims" {
        ["river", "sea", "beach"]
            .iter()
            .filter_map(|p| place_index(p))
            .collect()
    } else {
        (0..PLACES.len()).collect()
    }
}

/// A random sentence of any template.
pub fn sentence(rng: &mut Rng, odds: &Odds) -> Sentence {
    let transitive: Vec<usize> = (0..VERBS.len())
        .filter(|&v| VERBS[v].objects != 0)
        .collect();
    let intransitive: Vec<usize> = (0..VERBS.len())
        .filter(|&v| VERBS[v].objects == 0)
        .collect();
    let mut takes_place = false;
    let mut takes_time = true;
    let mut verb_places: Vec<usize> = (0..PLACES.len()).collect();

    let template = rng.below(20);
    let (subject, predicate) = match template {
        0..=8 => {
            let subject = person_subject(rng, odds.subject_adj);
            let verb = transitive[rng.below(transitive.len())];
            let candidates: Vec<usize> = nouns_of(VERBS[verb].objects)
                .into_iter()
                .filter(|&n| Subject::Noun { noun: n, adj: None } != strip_adj(subject))
                .collect();
            let noun = candidates[rng.below(candidates.len())];
            // People are mostly met as definite ("helps the teacher").
            let p_definite = if NOUNS[noun].kind == kind::PERSON {
                0.8
            } else {
                0.25
            };
            let object = Object {
                noun,
                adj: maybe_adj(rng, odds.object_adj, NOUNS[noun].kind),
                definite: chance(rng, p_definite),
            };
            takes_place = true;
            (subject, Predicate::Act { verb, object })
        }
        9..=10 => {
            let verb = intransitive[rng.below(intransitive.len())];
            let subject = if VERBS[verb].animal && chance(rng, 0.3) {
                noun_subject(rng, kind::ANIMAL, odds.subject_adj)
            } else {
                person_subject(rng, odds.subject_adj)
            };
            takes_place = true;
            verb_places = places_for_verb(verb);
            (subject, Predicate::Intransitive { verb })
        }
        11..=12 => {
            let subject = person_subject(rng, odds.subject_adj);
            (
                subject,
                Predicate::GoTo {
                    place: rng.below(PLACES.len()),
                },
            )
        }
        13..=15 => {
            takes_time = false;
            let subject = if chance(rng, 0.5) {
                person_subject(rng, odds.subject_adj)
            } else {
                noun_subject(rng, !kind::PERSON, odds.subject_adj)
            };
            let (groups, used) = subject_adjectives(subject);
            let adjs = adjectives_for(subject_kind(subject), &groups, &used);
            match pick(rng, &adjs) {
                Some(adj) => (subject, Predicate::Is { adj }),
                None => (
                    subject,
                    Predicate::At {
                        place: rng.below(PLACES.len()),
                    },
                ),
            }
        }
        16..=17 => {
            let subject = if chance(rng, 0.6) {
                person_subject(rng, odds.subject_adj)
            } else {
                noun_subject(rng, kind::ANIMAL | kind::THING, odds.subject_adj)
            };
            (
                subject,
                Predicate::At {
                    place: rng.below(PLACES.len()),
                },
            )
        }
        _ => {
            takes_time = false;
            let subject = person_subject(rng, odds.subject_adj);
            let countable: Vec<usize> = (0..NOUNS.len())
                .filter(|&n| !NOUNS[n].en_plural.is_empty())
                .collect();
            let noun = countable[rng.below(countable.len())];
            (
                subject,
                Predicate::Has {
                    number: 1 + rng.below(NUMBERS.len()),
                    noun,
                },
            )
        }
    };

    let mut s = Sentence::new(subject, predicate);
    s.negated = !matches!(predicate, Predicate::Has { .. }) && chance(rng, odds.negated);
    if takes_place && chance(rng, odds.place) {
        s.place = pick(rng, &verb_places);
    }
    if takes_time && chance(rng, odds.time) {
        s.time = Some(rng.below(TIMES.len()));
    }
    s
}

fn strip_adj(subject: Subject) -> Subject {
    match subject {
        Subject::Noun { noun, .. } => Subject::Noun { noun, adj: None },
        name => name,
    }
}

/// The exclusion groups and indices of the subject's adjective.
fn subject_adjectives(subject: Subject) -> (Vec<u8>, Vec<usize>) {
    match subject {
        Subject::Noun { adj: Some(a), .. } => (vec![ADJECTIVES[a].group], vec![a]),
        _ => (Vec::new(), Vec::new()),
    }
}

/// Every adjective in a sentence.
fn adjectives_in(s: &Sentence) -> Vec<usize> {
    let mut adjs = Vec::new();
    if let Subject::Noun { adj: Some(a), .. } = s.subject {
        adjs.push(a);
    }
    match s.predicate {
        Predicate::Act {
            object: Object { adj: Some(a), .. },
            ..
        } => adjs.push(a),
        Predicate::Is { adj } => adjs.push(adj),
        _ => {}
    }
    adjs
}

// ---------------------------------------------------------------------------------------
// Stories

/// What people do at a place: (place, verb, kinds of object).
#[rustfmt::skip]
const ACTIVITIES: &[(&str, &str, u16)] = &[
    ("market", "buys", kind::FRUIT | kind::FOOD | kind::CLOTHING | kind::CONTAINER | kind::PLANT),
    ("library", "reads", kind::TEXT), ("library", "writes", kind::TEXT),
    ("school", "reads", kind::TEXT), ("school", "writes", kind::TEXT),
    ("school", "draws", kind::ANIMAL | kind::PLANT),
    ("garden", "plants", kind::PLANT), ("garden", "feeds", kind::ANIMAL),
    ("garden", "sees", kind::ANIMAL | kind::PLANT),
    ("kitchen", "cooks", kind::FOOD), ("kitchen", "eats", kind::FOOD | kind::FRUIT),
    ("kitchen", "drinks", kind::DRINK),
    ("restaurant", "eats", kind::FOOD), ("restaurant", "drinks", kind::DRINK),
    ("farm", "feeds", kind::ANIMAL), ("farm", "sees", kind::ANIMAL),
    ("street", "sees", kind::VEHICLE), ("street", "drives", kind::VEHICLE),
    ("beach", "sees", kind::VEHICLE | kind::ANIMAL),
];

/// A resolved activity: place, verb and object kinds as indices.
#[derive(Clone, Copy)]
struct Activity {
    place: usize,
    verb: usize,
    objects: u16,
}

fn activities() -> Vec<Activity> {
    ACTIVITIES
        .iter()
        .filter_map(|&(place, verb, objects)| {
            Some(Activity {
                place: place_index(place)?,
                verb: verb_index(verb)?,
                objects,
            })
        })
        .collect()
}

/// The natural next thing to do with an object just met through `verb`.
fn follow_up(verb: usize, noun: usize) -> Option<usize> {
    let noun_kind = NOUNS[noun].kind;
    let preferred = match (VERBS[verb].en, noun_kind) {
        ("buys", kind::FOOD | kind::FRUIT) | ("cooks", _) => "eats",
        ("buys", kind::DRINK) => "drinks",
        ("buys", kind::CLOTHING) => "wears",
        ("buys", kind::PLANT) => "plants",
        ("buys", kind::VEHICLE) | ("sees", kind::VEHICLE) => "drives",
        ("writes", _) => "reads",
        ("sees", _) => "draws",
        ("drives", _) => "cleans",
        _ => "likes",
    };
    [preferred, "likes", "carries", "sees"]
        .iter()
        .filter_map(|v| verb_index(v))
        .find(|&v| VERBS[v].objects & noun_kind != 0)
}

/// A short story of 5-8 sentences about one named character and one companion at one
/// place: going there, doing something with an object, doing more with the same object,
/// going home. Each sentence makes the next one predictable.
pub fn story(rng: &mut Rng) -> Vec<Sentence> {
    let activities = activities();
    let hero = Subject::Name(rng.below(NAMES.len()));
    let people = nouns_of(kind::PERSON);
    let friend = Subject::Noun {
        noun: people[rng.below(people.len())],
        adj: None,
    };
    let first = activities[rng.below(activities.len())];
    let place = first.place;
    let here: Vec<Activity> = activities
        .iter()
        .copied()
        .filter(|a| a.place == place)
        .collect();
    let moods: Vec<usize> = ["happy", "tired", "hungry", "busy"]
        .iter()
        .filter_map(|a| adjective_index(a))
        .collect();
    let (morning, evening, night) = (
        time_index("in the morning"),
        time_index("in the evening"),
        time_index("at night"),
    );

    let mut optional = [
        chance(rng, 0.5),
        chance(rng, 0.5),
        chance(rng, 0.5),
        chance(rng, 0.5),
    ];
    if optional.iter().all(|&o| !o) {
        optional[2] = true;
    }
    let mut story = Vec::with_capacity(8);

    let mut arrive = Sentence::new(hero, Predicate::GoTo { place });
    arrive.time = if chance(rng, 0.5) { morning } else { None };
    story.push(arrive);
    if optional[0] {
        story.push(Sentence::new(friend, Predicate::At { place }));
    }

    let noun = pick(rng, &nouns_of(first.objects)).unwrap_or(0);
    let object = Object {
        noun,
        adj: maybe_adj(rng, 0.5, NOUNS[noun].kind),
        definite: false,
    };
    story.push(Sentence::new(
        hero,
        Predicate::Act {
            verb: first.verb,
            object,
        },
    ));
    if let Some(verb) = follow_up(first.verb, noun) {
        let object = Object {
            noun,
            adj: None,
            definite: true,
        };
        story.push(Sentence::new(hero, Predicate::Act { verb, object }));
    }

    if optional[1] {
        let other = here[rng.below(here.len())];
        let noun = pick(rng, &nouns_of(other.objects)).unwrap_or(0);
        let object = Object {
            noun,
            adj: None,
            definite: false,
        };
        story.push(Sentence::new(
            friend,
            Predicate::Act {
                verb: other.verb,
                object,
            },
        ));
    }
    if optional[2] {
        if let Some(adj) = pick(rng, &moods) {
            story.push(Sentence::new(hero, Predicate::Is { adj }));
        }
    }
    if let Some(home) = place_index("house") {
        let mut leave = Sentence::new(hero, Predicate::GoTo { place: home });
        leave.time = if chance(rng, 0.5) { evening } else { None };
        story.push(leave);
    }
    if optional[3] {
        if let Some(verb) = verb_index("sleeps") {
            let mut sleep = Sentence::new(hero, Predicate::Intransitive { verb });
            sleep.time = night;
            story.push(sleep);
        }
    }
    story
}

// ---------------------------------------------------------------------------------------
// NLI

/// An NLI label; the discriminant is the class id written to the labels mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    Entailment = 0,
    Neutral = 1,
    Contradiction = 2,
}

impl Label {
    /// Every label, in class-id order.
    pub const ALL: [Label; 3] = [Label::Entailment, Label::Neutral, Label::Contradiction];

    /// The label's name in the data files.
    pub fn name(self) -> &'static str {
        match self {
            Label::Entailment => "entailment",
            Label::Neutral => "neutral",
            Label::Contradiction => "contradiction",
        }
    }
}

/// An optional slot of a sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    SubjectAdj,
    ObjectAdj,
    Place,
    Time,
}

fn filled_slots(s: &Sentence) -> Vec<Slot> {
    let mut slots = Vec::new();
    if let Subject::Noun { adj: Some(_), .. } = s.subject {
        slots.push(Slot::SubjectAdj);
    }
    if let Predicate::Act {
        object: Object { adj: Some(_), .. },
        ..
    } = s.predicate
    {
        slots.push(Slot::ObjectAdj);
    }
    if s.place.is_some() {
        slots.push(Slot::Place);
    }
    if s.time.is_some() {
        slots.push(Slot::Time);
    }
    slots
}

fn clear(s: &mut Sentence, slot: Slot) {
    match slot {
        Slot::SubjectAdj => {
            if let Subject::Noun { adj, .. } = &mut s.subject {
                *adj = None;
            }
        }
        Slot::ObjectAdj => {
            if let Predicate::Act { object, .. } = &mut s.predicate {
                object.adj = None;
            }
        }
        Slot::Place => s.place = None,
        Slot::Time => s.time = None,
    }
}

/// Drops each filled slot except `keep` with probability `p`. Dropping a modifier from a
/// positive sentence keeps it entailed by the original.
fn drop_some(rng: &mut Rng, s: &mut Sentence, p: f64, keep: Option<Slot>) {
    for slot in filled_slots(s) {
        if Some(slot) != keep && chance(rng, p) {
            clear(s, slot);
        }
    }
}

/// Entailment: the hypothesis drops at least one modifier of the premise.
fn entailed(rng: &mut Rng, premise: &Sentence) -> Option<Sentence> {
    let slots = filled_slots(premise);
    let must = *slots.get(rng.below(slots.len().max(1)))?;
    let mut h = *premise;
    clear(&mut h, must);
    drop_some(rng, &mut h, 0.4, None);
    Some(h)
}

/// Another adjective of the same exclusion group fitting `kind`.
fn rival_adjective(rng: &mut Rng, adj: usize, kind: u16) -> Option<usize> {
    let group = ADJECTIVES[adj].group;
    let rivals: Vec<usize> = (0..ADJECTIVES.len())
        .filter(|&i| i != adj && group != 0 && ADJECTIVES[i].group == group)
        .filter(|&i| ADJECTIVES[i].fits(kind))
        .collect();
    pick(rng, &rivals)
}

/// Contradiction: negate, or replace one slot by an incompatible value (an adjective of the
/// same exclusion group, another place, another exclusive activity, another number).
fn contradicted(rng: &mut Rng, premise: &Sentence) -> Option<Sentence> {
    // Each option remembers the optional slot it changed: that slot must stay.
    let mut options: Vec<(Sentence, Option<Slot>)> = Vec::new();
    let p = *premise;

    if !matches!(p.predicate, Predicate::Has { .. }) {
        options.push((Sentence { negated: true, ..p }, None));
    }
    if let Subject::Noun { noun, adj: Some(a) } = p.subject {
        if let Some(b) = rival_adjective(rng, a, NOUNS[noun].kind) {
            let subject = Subject::Noun { noun, adj: Some(b) };
            options.push((Sentence { subject, ..p }, Some(Slot::SubjectAdj)));
        }
    }
    match p.predicate {
        Predicate::Act { verb, object } => {
            let kind = NOUNS[object.noun].kind;
            if let Some(b) = object.adj.and_then(|a| rival_adjective(rng, a, kind)) {
                let predicate = Predicate::Act {
                    verb,
                    object: Object {
                        adj: Some(b),
                        ..object
                    },
                };
                options.push((Sentence { predicate, ..p }, Some(Slot::ObjectAdj)));
            }
            if let Some(place) = p.place {
                let place = Some(other_place(rng, place));
                options.push((Sentence { place, ..p }, Some(Slot::Place)));
            }
        }
        Predicate::Intransitive { verb } if VERBS[verb].exclusive => {
            let animal = subject_kind(p.subject) == kind::ANIMAL;
            // The rival activity must suit the subject and the place.
            let rivals: Vec<usize> = (0..VERBS.len())
                .filter(|&v| v != verb && VERBS[v].exclusive && (VERBS[v].animal || !animal))
                .filter(|&v| {
                    p.place
                        .is_none_or(|place| places_for_verb(v).contains(&place))
                })
                .collect();
            if let Some(verb) = pick(rng, &rivals) {
                options.push((
                    Sentence {
                        predicate: Predicate::Intransitive { verb },
                        ..p
                    },
                    None,
                ));
            }
        }
        Predicate::Is { adj } => {
            if let Some(adj) = rival_adjective(rng, adj, subject_kind(p.subject)) {
                options.push((
                    Sentence {
                        predicate: Predicate::Is { adj },
                        ..p
                    },
                    None,
                ));
            }
        }
        Predicate::At { place } => {
            let predicate = Predicate::At {
                place: other_place(rng, place),
            };
            options.push((Sentence { predicate, ..p }, None));
        }
        Predicate::Has { number, noun } => {
            // Another number in 1..=10.
            let number = 1 + (number + rng.below(NUMBERS.len() - 1)) % NUMBERS.len();
            options.push((
                Sentence {
                    predicate: Predicate::Has { number, noun },
                    ..p
                },
                None,
            ));
        }
        _ => {}
    }

    let (mut h, keep) = *options.get(rng.below(options.len().max(1)))?;
    drop_some(rng, &mut h, 0.3, keep);
    Some(h)
}

/// A place other than `place`.
fn other_place(rng: &mut Rng, place: usize) -> usize {
    (place + 1 + rng.below(PLACES.len() - 1)) % PLACES.len()
}

/// Neutral: the hypothesis adds a modifier the premise does not settle (an adjective from a
/// group the premise does not mention, a place, a time), and may drop others.
fn neutral(rng: &mut Rng, premise: &Sentence) -> Option<Sentence> {
    let used = adjectives_in(premise);
    let groups: Vec<u8> = used.iter().map(|&a| ADJECTIVES[a].group).collect();
    let mut options: Vec<(Sentence, Slot)> = Vec::new();

    if let Subject::Noun { noun, adj: None } = premise.subject {
        if let Some(a) = pick(rng, &adjectives_for(NOUNS[noun].kind, &groups, &used)) {
            let subject = Subject::Noun { noun, adj: Some(a) };
            options.push((
                Sentence {
                    subject,
                    ..*premise
                },
                Slot::SubjectAdj,
            ));
        }
    }
    match premise.predicate {
        Predicate::Act { verb, object } if object.adj.is_none() => {
            let adjs = adjectives_for(NOUNS[object.noun].kind, &groups, &used);
            if let Some(a) = pick(rng, &adjs) {
                let object = Object {
                    adj: Some(a),
                    ..object
                };
                let predicate = Predicate::Act { verb, object };
                options.push((
                    Sentence {
                        predicate,
                        ..*premise
                    },
                    Slot::ObjectAdj,
                ));
            }
            if premise.place.is_none() {
                let place = Some(rng.below(PLACES.len()));
                options.push((Sentence { place, ..*premise }, Slot::Place));
            }
        }
        Predicate::Act { .. } if premise.place.is_none() => {
            let place = Some(rng.below(PLACES.len()));
            options.push((Sentence { place, ..*premise }, Slot::Place));
        }
        Predicate::Intransitive { verb } if premise.place.is_none() => {
            let place = pick(rng, &places_for_verb(verb));
            options.push((Sentence { place, ..*premise }, Slot::Place));
        }
        _ => {}
    }
    let timeless = matches!(
        premise.predicate,
        Predicate::Is { .. } | Predicate::Has { .. }
    );
    if premise.time.is_none() && !timeless {
        let time = Some(rng.below(TIMES.len()));
        options.push((Sentence { time, ..*premise }, Slot::Time));
    }

    let (mut h, added) = *options.get(rng.below(options.len().max(1)))?;
    drop_some(rng, &mut h, 0.3, Some(added));
    Some(h)
}

/// An NLI example: label, premise and hypothesis.
pub fn nli_pair(rng: &mut Rng) -> (Label, Sentence, Sentence) {
    let label = Label::ALL[rng.below(3)];
    loop {
        let premise = sentence(rng, &PREMISE_ODDS);
        let hypothesis = match label {
            Label::Entailment => entailed(rng, &premise),
            Label::Neutral => neutral(rng, &premise),
            Label::Contradiction => contradicted(rng, &premise),
        };
        match hypothesis {
            // Contradiction is symmetric: swapping the sides keeps the label and stops a
            // negation from always sitting in the hypothesis.
            Some(h) if label == Label::Contradiction && chance(rng, 0.3) => {
                return (label, h, premise)
            }
            Some(h) => return (label, premise, h),
            None => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sentiment

/// A sentence carrying exactly one adjective with a sentiment, and whether the sentence is
/// positive (a positive adjective, not negated).
pub fn sentiment_example(rng: &mut Rng) -> (bool, Sentence) {
    let charged: Vec<usize> = (0..ADJECTIVES.len())
        .filter(|&a| ADJECTIVES[a].sentiment != 0)
        .collect();
    loop {
        let adj = charged[rng.below(charged.len())];
        let a = &ADJECTIVES[adj];
        let positive = a.sentiment > 0;
        let holders = nouns_of(a.applies);
        let Some(noun) = pick(rng, &holders) else {
            continue;
        };

        let s = match rng.below(3) {
            // "the cake is not delicious": negating a positive adjective makes it negative.
            0 => {
                let mut s = Sentence::new(Subject::Noun { noun, adj: None }, Predicate::Is { adj });
                s.negated = positive && chance(rng, 0.3);
                s
            }
            // "the girl finds a broken phone".
            1 => {
                let Some(verb) = pick(rng, &verbs_taking(NOUNS[noun].kind)) else {
                    continue;
                };
                let subject = person_subject(rng, 0.0);
                let object = Object {
                    noun,
                    adj: Some(adj),
                    definite: chance(rng, 0.3),
                };
                Sentence::new(subject, Predicate::Act { verb, object })
            }
            // "the sad boy reads a book".
            _ => {
                if NOUNS[noun].kind != kind::PERSON {
                    continue;
                }
                let mut s = sentence(
                    rng,
                    &Odds {
                        negated: 0.0,
                        ..TRANSLATION_ODDS
                    },
                );
                s.subject = Subject::Noun {
                    noun,
                    adj: Some(adj),
                };
                if adjectives_in(&s)
                    .iter()
                    .any(|&b| b != adj && ADJECTIVES[b].sentiment != 0)
                    || matches!(s.predicate, Predicate::Is { .. })
                {
                    continue;
                }
                s
            }
        };
        return (positive && !s.negated, s);
    }
}

fn verbs_taking(noun_kind: u16) -> Vec<usize> {
    (0..VERBS.len())
        .filter(|&v| VERBS[v].objects & noun_kind != 0)
        .collect()
}
