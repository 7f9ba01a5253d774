//! Words for the index and for queries: runs of letters, or runs of digits.
//! Like tantivy's `SimpleTokenizer`, but "garcia123" is two words, "garcia"
//! and "123", so that emails and usernames with numbers match their names
//! and do not flood the term dictionary with one-off words.

use std::iter::Peekable;
use std::str::CharIndices;

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

#[derive(Clone, Default)]
pub struct WordTokenizer {
    token: Token,
}

pub struct WordStream<'a> {
    text: &'a str,
    chars: Peekable<CharIndices<'a>>,
    token: &'a mut Token,
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.token.reset();
        WordStream {
            text,
            chars: text.char_indices().peekable(),
            token: &mut self.token,
        }
    }
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        self.token.position = self.token.position.wrapping_add(1);
        while let Some((start, c)) = self.chars.next() {
            if !c.is_alphanumeric() {
                continue;
            }
            let digits = c.is_numeric();
            let mut end = start + c.len_utf8();
            while let Some(&(i, d)) = self.chars.peek() {
                if !d.is_alphanumeric() || d.is_numeric() != digits {
                    break;
                }
                end = i + d.len_utf8();
                self.chars.next();
            }
            self.token.offset_from = start;
            self.token.offset_to = end;
            self.token.text.push_str(&self.text[start..end]);
            return true;
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
}
