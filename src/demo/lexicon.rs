//! The demo's English/Arabic lexicon: word tables and the few Arabic inflections the
//! grammar needs (definite article, accusative tanween alef, feminine verb prefix).
//!
//! Arabic is written without short vowels, as normalised text is, so the accusative
//! indefinite shows only where Arabic spelling shows it: an alef after a masculine noun or
//! adjective, none after taa marbuta, a final hamza after alef, alif maqsura, or a colour
//! adjective (colours are diptotes and take no tanween).

/// What a noun denotes, as a bit; verbs and adjectives accept a set of kinds (a mask).
pub mod kind {
    pub const PERSON: u16 = 1 << 0;
    pub const ANIMAL: u16 = 1 << 1;
    pub const FOOD: u16 = 1 << 2;
    pub const FRUIT: u16 = 1 << 3;
    pub const DRINK: u16 = 1 << 4;
    pub const TEXT: u16 = 1 << 5;
    pub const VEHICLE: u16 = 1 << 6;
    pub const TOOL: u16 = 1 << 7;
    pub const CLOTHING: u16 = 1 << 8;
    pub const FURNITURE: u16 = 1 << 9;
    pub const OPENING: u16 = 1 << 10;
    pub const CONTAINER: u16 = 1 << 11;
    pub const PLANT: u16 = 1 << 12;
    /// Things a person can buy, carry or see.
    pub const THING: u16 = TEXT | VEHICLE | TOOL | CLOTHING | FURNITURE | OPENING | CONTAINER;
}

use kind::*;

/// Grammatical gender of an Arabic noun (it drives verb and adjective agreement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Masc,
    Fem,
}
use Gender::{Fem, Masc};

/// A common noun. Plurals are empty for mass nouns and for nouns never counted.
#[derive(Debug)]
pub struct Noun {
    pub en: &'static str,
    pub en_plural: &'static str,
    /// Indefinite singular, e.g. "كتاب".
    pub ar: &'static str,
    /// Plural used after the numbers 3-10, e.g. "كتب".
    pub ar_plural: &'static str,
    pub gender: Gender,
    pub kind: u16,
    /// A mass noun takes no English indefinite article ("drinks water").
    pub mass: bool,
}

const fn count(
    en: &'static str,
    en_plural: &'static str,
    ar: &'static str,
    ar_plural: &'static str,
    gender: Gender,
    kind: u16,
) -> Noun {
    Noun {
        en,
        en_plural,
        ar,
        ar_plural,
        gender,
        kind,
        mass: false,
    }
}

const fn person(en: &'static str, ar: &'static str, gender: Gender) -> Noun {
    Noun {
        en,
        en_plural: "",
        ar,
        ar_plural: "",
        gender,
        kind: PERSON,
        mass: false,
    }
}

const fn mass(en: &'static str, ar: &'static str, gender: Gender, kind: u16) -> Noun {
    Noun {
        en,
        en_plural: "",
        ar,
        ar_plural: "",
        gender,
        kind,
        mass: true,
    }
}

/// Every common noun of the demo.
#[rustfmt::skip]
pub const NOUNS: &[Noun] = &[
    person("boy", "ولد", Masc), person("girl", "بنت", Fem), person("man", "رجل", Masc),
    person("teacher", "معلم", Masc), person("student", "طالب", Masc),
    person("doctor", "طبيب", Masc), person("nurse", "ممرضة", Fem),
    person("farmer", "مزارع", Masc), person("mother", "أم", Fem), person("father", "أب", Masc),
    person("sister", "أخت", Fem), person("brother", "أخ", Masc), person("child", "طفل", Masc),
    person("driver", "سائق", Masc), person("king", "ملك", Masc), person("queen", "ملكة", Fem),
    person("friend", "صديق", Masc), person("grandmother", "جدة", Fem),
    person("grandfather", "جد", Masc), person("engineer", "مهندس", Masc),
    person("lady", "سيدة", Fem),
    count("cat", "cats", "قطة", "قطط", Fem, ANIMAL),
    count("dog", "dogs", "كلب", "كلاب", Masc, ANIMAL),
    count("horse", "horses", "حصان", "أحصنة", Masc, ANIMAL),
    count("bird", "birds", "طائر", "طيور", Masc, ANIMAL),
    count("cow", "cows", "بقرة", "بقرات", Fem, ANIMAL),
    count("rabbit", "rabbits", "أرنب", "أرانب", Masc, ANIMAL),
    count("sheep", "sheep", "خروف", "خراف", Masc, ANIMAL),
    count("duck", "ducks", "بطة", "بطات", Fem, ANIMAL),
    count("camel", "camels", "جمل", "جمال", Masc, ANIMAL),
    count("apple", "apples", "تفاحة", "تفاحات", Fem, FRUIT),
    count("orange", "oranges", "برتقالة", "برتقالات", Fem, FRUIT),
    count("banana", "bananas", "موزة", "موزات", Fem, FRUIT),
    count("cake", "cakes", "كعكة", "كعكات", Fem, FOOD),
    count("egg", "eggs", "بيضة", "بيضات", Fem, FOOD),
    count("sandwich", "sandwiches", "شطيرة", "شطائر", Fem, FOOD),
    mass("bread", "خبز", Masc, FOOD), mass("rice", "أرز", Masc, FOOD),
    mass("soup", "حساء", Masc, FOOD), mass("cheese", "جبن", Masc, FOOD),
    mass("meat", "لحم", Masc, FOOD), mass("fish", "سمك", Masc, FOOD),
    mass("water", "ماء", Masc, DRINK), mass("milk", "حليب", Masc, DRINK),
    mass("tea", "شاي", Masc, DRINK), mass("coffee", "قهوة", Fem, DRINK),
    mass("juice", "عصير", Masc, DRINK),
    count("book", "books", "كتاب", "كتب", Masc, TEXT),
    count("letter", "letters", "رسالة", "رسائل", Fem, TEXT),
    count("story", "stories", "قصة", "قصص", Fem, TEXT),
    count("newspaper", "newspapers", "جريدة", "جرائد", Fem, TEXT),
    count("magazine", "magazines", "مجلة", "مجلات", Fem, TEXT),
    count("car", "cars", "سيارة", "سيارات", Fem, VEHICLE),
    count("bus", "buses", "حافلة", "حافلات", Fem, VEHICLE),
    count("boat", "boats", "قارب", "قوارب", Masc, VEHICLE),
    count("train", "trains", "قطار", "قطارات", Masc, VEHICLE),
    count("pen", "pens", "قلم", "أقلام", Masc, TOOL),
    count("ball", "balls", "كرة", "كرات", Fem, TOOL),
    count("key", "keys", "مفتاح", "مفاتيح", Masc, TOOL),
    count("cup", "cups", "كوب", "أكواب", Masc, TOOL),
    count("phone", "phones", "هاتف", "هواتف", Masc, TOOL),
    count("lamp", "lamps", "مصباح", "مصابيح", Masc, TOOL),
    count("shirt", "shirts", "قميص", "قمصان", Masc, CLOTHING),
    count("hat", "hats", "قبعة", "قبعات", Fem, CLOTHING),
    count("chair", "chairs", "كرسي", "كراسي", Masc, FURNITURE),
    count("table", "tables", "طاولة", "طاولات", Fem, FURNITURE),
    count("door", "doors", "باب", "أبواب", Masc, OPENING),
    count("window", "windows", "نافذة", "نوافذ", Fem, OPENING),
    count("bag", "bags", "حقيبة", "حقائب", Fem, CONTAINER),
    count("box", "boxes", "صندوق", "صناديق", Masc, CONTAINER),
    count("flower", "flowers", "وردة", "ورود", Fem, PLANT),
    count("tree", "trees", "شجرة", "أشجار", Fem, PLANT),
    count("picture", "pictures", "صورة", "صور", Fem, TEXT),
];

/// A person's name (no article, no adjective).
#[derive(Debug)]
pub struct Name {
    pub en: &'static str,
    pub ar: &'static str,
    pub gender: Gender,
}

const fn name(en: &'static str, ar: &'static str, gender: Gender) -> Name {
    Name { en, ar, gender }
}

/// Names of the story characters.
#[rustfmt::skip]
pub const NAMES: &[Name] = &[
    name("Ahmed", "أحمد", Masc), name("Omar", "عمر", Masc), name("Youssef", "يوسف", Masc),
    name("Karim", "كريم", Masc), name("Ali", "علي", Masc), name("Hassan", "حسن", Masc),
    name("Sara", "سارة", Fem), name("Layla", "ليلى", Fem), name("Mariam", "مريم", Fem),
    name("Fatima", "فاطمة", Fem), name("Nour", "نور", Fem), name("Huda", "هدى", Fem),
];

/// A verb in the English third person singular and base form, and the Arabic masculine
/// present (the feminine swaps the prefix ي for ت).
#[derive(Debug)]
pub struct Verb {
    pub en: &'static str,
    pub en_base: &'static str,
    pub ar: &'static str,
    /// Kinds of object a transitive verb takes; 0 for an intransitive verb.
    pub objects: u16,
    /// Intransitive activities in this group exclude one another (one cannot sleep and
    /// swim at once); a different verb of the group contradicts.
    pub exclusive: bool,
    /// Whether an animal can be the subject.
    pub animal: bool,
}

const fn tr(en: &'static str, en_base: &'static str, ar: &'static str, objects: u16) -> Verb {
    Verb {
        en,
        en_base,
        ar,
        objects,
        exclusive: false,
        animal: false,
    }
}

const fn intr(
    en: &'static str,
    en_base: &'static str,
    ar: &'static str,
    exclusive: bool,
    animal: bool,
) -> Verb {
    Verb {
        en,
        en_base,
        ar,
        objects: 0,
        exclusive,
        animal,
    }
}

/// Transitive and intransitive verbs.
#[rustfmt::skip]
pub const VERBS: &[Verb] = &[
    tr("reads", "read", "يقرأ", TEXT), tr("writes", "write", "يكتب", TEXT),
    tr("eats", "eat", "يأكل", FOOD | FRUIT), tr("drinks", "drink", "يشرب", DRINK),
    tr("buys", "buy", "يشتري", THING | FOOD | FRUIT | DRINK | PLANT | ANIMAL),
    tr("carries", "carry", "يحمل", TEXT | TOOL | CONTAINER | FRUIT | PLANT),
    tr("opens", "open", "يفتح", OPENING | CONTAINER | TEXT),
    tr("cleans", "clean", "ينظف", VEHICLE | FURNITURE | OPENING | CONTAINER),
    tr("washes", "wash", "يغسل", CLOTHING | VEHICLE | FRUIT),
    tr("drives", "drive", "يقود", VEHICLE),
    tr("sees", "see", "يرى", PERSON | ANIMAL | VEHICLE | PLANT),
    tr("likes", "like", "يحب", PERSON | ANIMAL | FOOD | FRUIT | DRINK | TEXT | PLANT),
    tr("draws", "draw", "يرسم", PERSON | ANIMAL | PLANT | VEHICLE),
    tr("cooks", "cook", "يطبخ", FOOD), tr("feeds", "feed", "يطعم", ANIMAL),
    tr("helps", "help", "يساعد", PERSON), tr("visits", "visit", "يزور", PERSON),
    tr("wears", "wear", "يلبس", CLOTHING), tr("plants", "plant", "يزرع", PLANT),
    tr("finds", "find", "يجد", TOOL | CONTAINER | CLOTHING | ANIMAL),
    tr("throws", "throw", "يرمي", TOOL),
    intr("sleeps", "sleep", "ينام", true, true), intr("runs", "run", "يركض", true, true),
    intr("swims", "swim", "يسبح", true, true), intr("dances", "dance", "يرقص", true, false),
    intr("laughs", "laugh", "يضحك", false, false), intr("sings", "sing", "يغني", false, false),
    intr("waits", "wait", "ينتظر", false, false), intr("works", "work", "يعمل", false, false),
    intr("plays", "play", "يلعب", false, true),
];

/// An adjective: English, Arabic masculine and feminine, the kinds of noun it describes,
/// its exclusion group (adjectives of one nonzero group contradict each other) and its
/// sentiment (-1, 0, +1).
#[derive(Debug)]
pub struct Adjective {
    pub en: &'static str,
    pub ar_masc: &'static str,
    pub ar_fem: &'static str,
    pub applies: u16,
    pub group: u8,
    pub sentiment: i8,
    /// Colours (أحمر, حمراء) are diptotes: no tanween alef in the accusative.
    pub diptote: bool,
}

const fn adj(
    en: &'static str,
    ar_masc: &'static str,
    ar_fem: &'static str,
    applies: u16,
    group: u8,
    sentiment: i8,
) -> Adjective {
    Adjective {
        en,
        ar_masc,
        ar_fem,
        applies,
        group,
        sentiment,
        diptote: false,
    }
}

const fn colour(
    en: &'static str,
    ar_masc: &'static str,
    ar_fem: &'static str,
    applies: u16,
) -> Adjective {
    Adjective {
        en,
        ar_masc,
        ar_fem,
        applies,
        group: 10,
        sentiment: 0,
        diptote: true,
    }
}

const PEOPLE: u16 = PERSON | ANIMAL;
const SIZED: u16 = ANIMAL | VEHICLE | CONTAINER | FURNITURE | OPENING | TEXT | PLANT;
const MADE: u16 = VEHICLE | TOOL | CLOTHING | CONTAINER | TEXT | FURNITURE;
const EATEN: u16 = FOOD | FRUIT | DRINK;
const COLOURED: u16 = THING | PLANT;

/// Every adjective of the demo.
#[rustfmt::skip]
pub const ADJECTIVES: &[Adjective] = &[
    adj("tall", "طويل", "طويلة", PERSON, 1, 0),
    adj("short", "قصير", "قصيرة", PERSON, 1, 0),
    adj("happy", "سعيد", "سعيدة", PEOPLE, 2, 1),
    adj("sad", "حزين", "حزينة", PEOPLE, 2, -1),
    adj("tired", "متعب", "متعبة", PEOPLE, 0, -1),
    adj("hungry", "جائع", "جائعة", PEOPLE, 0, 0),
    adj("clever", "ذكي", "ذكية", PEOPLE, 0, 1),
    adj("kind", "لطيف", "لطيفة", PERSON, 0, 1),
    adj("busy", "مشغول", "مشغولة", PERSON, 0, 0),
    adj("angry", "غاضب", "غاضبة", PERSON, 0, -1),
    adj("big", "كبير", "كبيرة", SIZED, 3, 0),
    adj("small", "صغير", "صغيرة", SIZED, 3, 0),
    adj("new", "جديد", "جديدة", MADE, 4, 1),
    adj("old", "قديم", "قديمة", MADE, 4, 0),
    adj("clean", "نظيف", "نظيفة", MADE | OPENING, 5, 1),
    adj("dirty", "متسخ", "متسخة", MADE | OPENING, 5, -1),
    adj("broken", "مكسور", "مكسورة", TOOL | FURNITURE | VEHICLE | OPENING, 0, -1),
    adj("beautiful", "جميل", "جميلة", PERSON | ANIMAL | PLANT | CLOTHING | TEXT, 6, 1),
    adj("ugly", "قبيح", "قبيحة", ANIMAL | PLANT | CLOTHING, 6, -1),
    adj("delicious", "لذيذ", "لذيذة", EATEN, 0, 1),
    adj("fresh", "طازج", "طازجة", EATEN, 0, 1),
    adj("hot", "ساخن", "ساخنة", FOOD | DRINK, 7, 0),
    adj("cold", "بارد", "باردة", FOOD | DRINK, 7, 0),
    adj("heavy", "ثقيل", "ثقيلة", CONTAINER | FURNITURE, 8, 0),
    adj("light", "خفيف", "خفيفة", CONTAINER | FURNITURE, 8, 0),
    adj("interesting", "ممتع", "ممتعة", TEXT, 9, 1),
    adj("boring", "ممل", "مملة", TEXT, 9, -1),
    colour("red", "أحمر", "حمراء", COLOURED | FRUIT),
    colour("blue", "أزرق", "زرقاء", COLOURED),
    colour("green", "أخضر", "خضراء", COLOURED | FRUIT),
    colour("yellow", "أصفر", "صفراء", COLOURED | FRUIT),
    colour("black", "أسود", "سوداء", COLOURED | ANIMAL),
    colour("white", "أبيض", "بيضاء", COLOURED | ANIMAL),
];

/// A place: English and Arabic nouns and the prepositions each language uses for "at".
#[derive(Debug)]
pub struct Place {
    pub en: &'static str,
    pub ar: &'static str,
    pub en_prep: &'static str,
    pub ar_prep: &'static str,
}

const fn place(
    en: &'static str,
    ar: &'static str,
    en_prep: &'static str,
    ar_prep: &'static str,
) -> Place {
    Place {
        en,
        ar,
        en_prep,
        ar_prep,
    }
}

/// Places; every place is used with the definite article.
#[rustfmt::skip]
pub const PLACES: &[Place] = &[
    place("school", "مدرسة", "at", "في"), place("market", "سوق", "at", "في"),
    place("house", "بيت", "in", "في"), place("garden", "حديقة", "in", "في"),
    place("library", "مكتبة", "in", "في"), place("hospital", "مستشفى", "at", "في"),
    place("kitchen", "مطبخ", "in", "في"), place("beach", "شاطئ", "on", "على"),
    place("city", "مدينة", "in", "في"), place("village", "قرية", "in", "في"),
    place("restaurant", "مطعم", "at", "في"), place("office", "مكتب", "in", "في"),
    place("street", "شارع", "in", "في"), place("farm", "مزرعة", "on", "في"),
    place("station", "محطة", "at", "في"), place("river", "نهر", "in", "في"),
    place("sea", "بحر", "in", "في"), place("airport", "مطار", "at", "في"),
    place("museum", "متحف", "in", "في"),
];

/// Time adverbials (English, Arabic), placed at the end of a sentence in both languages.
#[rustfmt::skip]
pub const TIMES: &[(&str, &str)] = &[
    ("today", "اليوم"), ("now", "الآن"), ("in the morning", "في الصباح"),
    ("in the evening", "في المساء"), ("at night", "في الليل"), ("every day", "كل يوم"),
    ("in the afternoon", "بعد الظهر"), ("on Friday", "يوم الجمعة"),
    ("on Monday", "يوم الاثنين"), ("every morning", "كل صباح"),
];

/// Cardinal numbers 1-10: English, the Arabic form used with masculine nouns, the form used
/// with feminine nouns. For 3-10 the number takes the opposite gender of the counted
/// noun's singular (ثلاثة كتب, ثلاث تفاحات); 1 follows the noun as an adjective; 2 is the
/// dual ending on the noun, so its forms are empty.
#[rustfmt::skip]
pub const NUMBERS: &[(&str, &str, &str)] = &[
    ("one", "واحد", "واحدة"), ("two", "", ""), ("three", "ثلاثة", "ثلاث"),
    ("four", "أربعة", "أربع"), ("five", "خمسة", "خمس"), ("six", "ستة", "ست"),
    ("seven", "سبعة", "سبع"), ("eight", "ثمانية", "ثماني"), ("nine", "تسعة", "تسع"),
    ("ten", "عشرة", "عشر"),
];

/// "ال" + word.
pub fn definite(word: &str) -> String {
    format!("ال{word}")
}

/// A noun's indefinite accusative (object) form: the tanween alef unless the spelling
/// shows none (taa marbuta, final hamza after alef, alif maqsura).
pub fn noun_accusative(noun: &Noun) -> String {
    let w = noun.ar;
    if w.ends_with('ة') || w.ends_with("اء") || w.ends_with('ى') {
        w.to_string()
    } else {
        format!("{w}ا")
    }
}

/// The dual nominative: taa marbuta opens to taa before the ending ان.
pub fn noun_dual(noun: &Noun) -> String {
    match noun.ar.strip_suffix('ة') {
        Some(stem) => format!("{stem}تان"),
        None => format!("{}ان", noun.ar),
    }
}

impl Adjective {
    /// The form agreeing with a noun of `gender` (nominative or genitive, indefinite).
    pub fn ar(&self, gender: Gender) -> &'static str {
        match gender {
            Masc => self.ar_masc,
            Fem => self.ar_fem,
        }
    }

    /// The indefinite accusative agreeing with `gender`.
    pub fn ar_accusative(&self, gender: Gender) -> String {
        match gender {
            Masc if !self.diptote => format!("{}ا", self.ar_masc),
            _ => self.ar(gender).to_string(),
        }
    }

    /// Whether the adjective can describe a noun of kind `kind`.
    pub fn fits(&self, kind: u16) -> bool {
        self.applies & kind != 0
    }
}

impl Verb {
    /// The present tense agreeing with a third-person singular subject of `gender`.
    pub fn ar(&self, gender: Gender) -> String {
        match (gender, self.ar.strip_prefix('ي')) {
            (Fem, Some(rest)) => format!("ت{rest}"),
            _ => self.ar.to_string(),
        }
    }
}
