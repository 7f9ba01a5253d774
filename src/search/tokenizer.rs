//! Words for the index and for queries: runs of letters, or runs of digits.
//! Like tantivy's `SimpleTokenizer`, but "garcia123" is two words, "garcia"
//! and "123", so that emails and usernames with numbers match their names
//! and do not flood the term dictionary with one-off words.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

#[derive(Clone, Default)]
pub struct WordTokenizer {
    token: Token,
}

pub struct WordStream<'a> {
    text: &'a str,
    /// Byte offset of the next character to read.
    at: usize,
    token: &'a mut Token,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.token.reset();
        WordStream {
            text,
            at: 0,
            token: &mut self.token,
        }
    }
}

/// Whether the character at byte `i` of `text` (not ASCII) is a letter or
/// digit, whether it is a digit, and its length in bytes.
#[cold]
fn class_of_char(text: &str, i: usize) -> (bool, bool, usize) {
    let c = text[i..]
        .chars()
        .next()
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    (c.is_alphanumeric(), c.is_numeric(), c.len_utf8())
}

/// What an ASCII byte is to a word; `WIDE` starts a character beyond
/// ASCII, classified by [`class_of_char`]. For ASCII (nearly every
/// character of an email, a username or a name) `is_ascii_alphanumeric`
/// and `is_ascii_digit` are `char::is_alphanumeric` and `char::is_numeric`.
const OTHER: u8 = 0;
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const WIDE: u8 = 3;

/// [`OTHER`], [`LETTER`], [`DIGIT`] or [`WIDE`], per byte: one load per
/// character instead of a few comparisons.
static CLASS: [u8; 256] = {
    let mut table = [WIDE; 256];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        table[b] = if byte.is_ascii_digit() {
            DIGIT
        } else if byte.is_ascii_alphabetic() {
            LETTER
        } else {
            OTHER
        };
        b += 1;
    }
    table
};

/// The next word of `text` from byte `at` on: its byte range, with `at`
/// moved past it.
#[inline]
pub(super) fn next_word(text: &str, at: &mut usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    // Skip to the next letter or digit.
    let digits = loop {
        let &b = bytes.get(*at)?;
        match CLASS[usize::from(b)] {
            LETTER => break false,
            DIGIT => break true,
            OTHER => *at += 1,
            _ => {
                let (word, digits, n) = class_of_char(text, *at);
                if word {
                    break digits;
                }
                *at += n;
            }
        }
    };
    // The word: letters, or digits, up to the first other character.
    let start = *at;
    let same = if digits { DIGIT } else { LETTER };
    while let Some(&b) = bytes.get(*at) {
        let class = CLASS[usize::from(b)];
        if class == same {
            *at += 1;
            continue;
        }
        if class != WIDE {
            break;
        }
        let (word, d, n) = class_of_char(text, *at);
        if !word || d != digits {
            break;
        }
        *at += n;
    }
    Some((start, *at))
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        self.token.position = self.token.position.wrapping_add(1);
        let Some((from, to)) = next_word(self.text, &mut self.at) else {
            return false;
        };
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.text.push_str(&self.text[from..to]);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// Fields in the `all` text: name, username, email, attributes.
pub const SLOTS: usize = 4;

/// Positions of one field's words in `all` start at `slot << SLOT_BITS`. A
/// field holds fewer words than `1 << SLOT_BITS` (254 characters at most,
/// the email's limit), except the last, attributes, which is open-ended.
/// (`all` does not index positions today: the `words` columns tell a word's
/// fields, see `exact`. The slots keep the fields apart all the same.)
pub const SLOT_BITS: u32 = 10;

/// The `all` text of a user: a header with the byte lengths of the first
/// three fields, then the four fields' texts. [`AllTokenizer`] reads it.
pub fn all_text(fields: [&str; SLOTS]) -> String {
    let [a, b, c, d] = fields;
    let mut out = String::with_capacity(16 + a.len() + b.len() + c.len() + d.len());
    out.push_str(&format!("{},{},{};", a.len(), b.len(), c.len()));
    for f in fields {
        out.push_str(f);
    }
    out
}

/// The words of an [`all_text`], each field's read as [`WordTokenizer`]
/// reads them and placed in the field's slot of positions: word `i` of
/// field `slot` is at `slot << SLOT_BITS | i`.
#[derive(Clone, Default)]
pub struct AllTokenizer {
    token: Token,
}

pub struct AllStream<'a> {
    /// The fields' texts, back to back.
    body: &'a str,
    /// Where each field ends in `body`.
    ends: [usize; SLOTS],
    slot: usize,
    at: usize,
    word: u32,
    token: &'a mut Token,
}

/// `body` and the field ends of an [`all_text`]; a text without a header
/// (none is written so) is all attributes.
fn split_all(text: &str) -> (&str, [usize; SLOTS]) {
    let parsed = text.split_once(';').and_then(|(head, body)| {
        let mut lens = head.split(',').map(|n| n.parse::<usize>().ok());
        let (a, b, c) = (lens.next()??, lens.next()??, lens.next()??);
        let ab = a.checked_add(b)?;
        let ends = [a, ab, ab.checked_add(c)?, body.len()];
        let on_chars = ends
            .iter()
            .all(|&e| e <= body.len() && body.is_char_boundary(e));
        (lens.next().is_none() && on_chars).then_some((body, ends))
    });
    parsed.unwrap_or((text, [0, 0, 0, text.len()]))
}

impl Tokenizer for AllTokenizer {
    type TokenStream<'a> = AllStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> AllStream<'a> {
        self.token.reset();
        let (body, ends) = split_all(text);
        AllStream {
            body,
            ends,
            slot: 0,
            at: 0,
            word: 0,
            token: &mut self.token,
        }
    }
}

impl TokenStream for AllStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        while self.slot < SLOTS {
            let end = self.ends[self.slot];
            if let Some((from, to)) = next_word(&self.body[..end], &mut self.at) {
                self.token.offset_from = from;
                self.token.offset_to = to;
                self.token.position = ((self.slot as u32) << SLOT_BITS | self.word) as usize;
                self.token.text.push_str(&self.body[from..to]);
                self.word += 1;
                return true;
            }
            self.slot += 1;
            self.at = end;
            self.word = 0;
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<(String, usize, usize)> {
        let mut t = WordTokenizer::default();
        let mut stream = t.token_stream(s);
        let mut out = Vec::new();
        while stream.advance() {
            let tok = stream.token();
            out.push((tok.text.clone(), tok.offset_from, tok.offset_to));
        }
        out
    }

    #[test]
    fn splits_at_punctuation_and_between_letters_and_digits() {
        let w: Vec<String> = words("olivia.garcia123@example.com")
            .into_iter()
            .map(|w| w.0)
            .collect();
        assert_eq!(w, ["olivia", "garcia", "123", "example", "com"]);
        assert_eq!(
            words("Zoë 42b"),
            [
                ("Zoë".into(), 0, 4),
                ("42".into(), 5, 7),
                ("b".into(), 7, 8)
            ]
        );
        assert!(words(" ..-- ").is_empty());
    }

    /// The byte-wise reading splits as a reading of decoded characters
    /// does, on every ASCII character and on letters, digits and marks of
    /// other scripts.
    #[test]
    fn reads_as_decoded_characters_would() {
        fn reference(s: &str) -> Vec<(String, usize, usize)> {
            let mut out = Vec::new();
            let mut chars = s.char_indices().peekable();
            while let Some((start, c)) = chars.next() {
                if !c.is_alphanumeric() {
                    continue;
                }
                let digits = c.is_numeric();
                let mut end = start + c.len_utf8();
                while let Some(&(i, d)) = chars.peek() {
                    if !d.is_alphanumeric() || d.is_numeric() != digits {
                        break;
                    }
                    end = i + d.len_utf8();
                    chars.next();
                }
                out.push((s[start..end].to_owned(), start, end));
            }
            out
        }
        let ascii: String = (0u8..128).map(char::from).collect();
        for text in [
            ascii.as_str(),
            "José García-López, São Paulo; ÆLFGIFU straße",
            "Zoë 李小龍 🦀 crab <b>& x²y ٣٤abc ⅷ9 \u{301}é",
            "a1b2c3 ..__-- 0x1F ß9ß",
            "",
        ] {
            assert_eq!(words(text), reference(text), "{text:?}");
        }
    }

    #[test]
    fn all_text_keeps_each_field_in_its_slot() {
        let mut t = AllTokenizer::default();
        let text = all_text(["Zoë Ada", "", "ada.l9@x.com", "hopper; 1,2;3"]);
        let mut stream = t.token_stream(&text);
        let mut got = Vec::new();
        while stream.advance() {
            let tok = stream.token();
            got.push((
                tok.position >> SLOT_BITS,
                tok.position & 1023,
                tok.text.clone(),
            ));
        }
        let want = [
            (0, 0, "Zoë"),
            (0, 1, "Ada"),
            (2, 0, "ada"),
            (2, 1, "l"),
            (2, 2, "9"),
            (2, 3, "x"),
            (2, 4, "com"),
            (3, 0, "hopper"),
            (3, 1, "1"),
            (3, 2, "2"),
            (3, 3, "3"),
        ];
        let want: Vec<_> = want.iter().map(|&(s, i, w)| (s, i, w.to_owned())).collect();
        assert_eq!(got, want);
        // Words never run across a field's end.
        let text = all_text(["ab", "cd", "", ""]);
        let mut stream = t.token_stream(&text);
        let mut words = Vec::new();
        while stream.advance() {
            words.push(stream.token().text.clone());
        }
        assert_eq!(words, ["ab", "cd"]);
        // A text without a header is read as attributes.
        let mut stream = t.token_stream("no header");
        assert!(stream.advance());
        assert_eq!(stream.token().position >> SLOT_BITS, 3);
    }
}
