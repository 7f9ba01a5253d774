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

/// The same for any character: ASCII (nearly every character of an email,
/// a username or a name) is classified from its byte, without decoding;
/// for it `is_ascii_alphanumeric` and `is_ascii_digit` are
/// `char::is_alphanumeric` and `char::is_numeric`.
#[inline(always)]
fn class_at(text: &str, i: usize) -> (bool, bool, usize) {
    let b = text.as_bytes()[i];
    if b.is_ascii() {
        (b.is_ascii_alphanumeric(), b.is_ascii_digit(), 1)
    } else {
        class_of_char(text, i)
    }
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        self.token.position = self.token.position.wrapping_add(1);
        let text = self.text;
        let len = text.len();
        // Skip to the next letter or digit.
        let digits = loop {
            if self.at >= len {
                return false;
            }
            let (word, digits, n) = class_at(text, self.at);
            if word {
                break digits;
            }
            self.at += n;
        };
        // The word: letters, or digits, up to the first other character.
        let start = self.at;
        while self.at < len {
            let (word, d, n) = class_at(text, self.at);
            if !word || d != digits {
                break;
            }
            self.at += n;
        }
        self.token.offset_from = start;
        self.token.offset_to = self.at;
        self.token.text.push_str(&text[start..self.at]);
        true
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
}
