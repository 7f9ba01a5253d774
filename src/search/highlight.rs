//! Highlights computed from the hydrated user, not from stored index text:
//! each word of a field that the query matched (exactly, as a prefix or
//! within its typo allowance) is wrapped in `<mark>`; everything else is
//! HTML-escaped.

use std::borrow::Cow;

use tantivy::tokenizer::{TextAnalyzer, TokenStream, Tokenizer};

use crate::domain::User;

use super::tokenizer::WordTokenizer;
use super::{LONG_WORD, QueryWord, analyzer, collect_strings};

fn matches(token: &str, w: &QueryWord) -> bool {
    let typos = usize::from(w.typos);
    token == w.text
        || (w.prefix && token.starts_with(&w.text))
        || (typos > 0
            // Lengths further apart than the allowance cannot be within it.
            && token.chars().count().abs_diff(w.text.chars().count()) <= typos
            && strsim::osa_distance(token, &w.text) <= typos)
}

/// Appends `s` HTML-escaped: runs without a special character are copied
/// whole.
fn escape(s: &str, out: &mut String) {
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // Special characters are ASCII, so `i` is a character boundary.
        out.push_str(&s[from..i]);
        out.push_str(entity);
        from = i + 1;
    }
    out.push_str(&s[from..]);
}

/// Reads the words of a text as the index's [`analyzer`] does, cheaply: an
/// ASCII word (nearly all of them) only needs lower-casing, which is all the
/// analyzer's filters do to it; other words go through the analyzer itself.
struct Words {
    tokenizer: WordTokenizer,
    analyzer: TextAnalyzer,
    folded: String,
}

impl Words {
    fn new() -> Self {
        Self {
            tokenizer: WordTokenizer::default(),
            analyzer: analyzer(),
            folded: String::new(),
        }
    }

    /// Calls `f` with each word of `text` as indexed, and its byte range.
    fn each(&mut self, text: &str, mut f: impl FnMut(&str, usize, usize)) {
        let mut stream = self.tokenizer.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            if t.text.len() >= LONG_WORD {
                continue;
            }
            self.folded.clear();
            if t.text.is_ascii() {
                self.folded.push_str(&t.text);
                self.folded.make_ascii_lowercase();
            } else {
                let mut one = self.analyzer.token_stream(&t.text);
                while one.advance() {
                    self.folded.push_str(&one.token().text);
                }
            }
            f(&self.folded, t.offset_from, t.offset_to);
        }
    }
}

/// `text` with matched words marked, or None if nothing matched.
fn highlight(words: &mut Words, text: &str, query: &[QueryWord]) -> Option<String> {
    let mut out = String::new();
    let mut at = 0;
    words.each(text, |word, from, to| {
        if query.iter().any(|w| matches(word, w)) {
            if out.is_empty() {
                out.reserve(text.len() + 16);
            }
            escape(&text[at..from], &mut out);
            out.push_str("<mark>");
            escape(&text[from..to], &mut out);
            out.push_str("</mark>");
            at = to;
        }
    });
    if at == 0 {
        return None;
    }
    escape(&text[at..], &mut out);
    Some(out)
}

/// A field's name and its text with the matched words marked.
pub type Highlight = (Cow<'static, str>, String);

/// Highlights the hits of one search: one word reader for all of them
/// (building an analyzer allocates).
pub struct Highlighter<'q> {
    words: &'q [QueryWord],
    reader: Words,
}

impl<'q> Highlighter<'q> {
    pub fn new(words: &'q [QueryWord]) -> Self {
        Self {
            words,
            reader: Words::new(),
        }
    }

    /// Highlights of every field of `u` the query matched, by field name.
    pub fn of(&mut self, u: &User) -> Vec<Highlight> {
        let words = self.words;
        if words.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let reader = &mut self.reader;
        let mut mark = |text: &str| highlight(reader, text, words);
        if let Some(h) = u.name.as_ref().and_then(|n| mark(n.as_str())) {
            out.push((Cow::Borrowed("name"), h));
        }
        if let Some(h) = u.username.as_ref().and_then(|n| mark(n.as_str())) {
            out.push((Cow::Borrowed("username"), h));
        }
        if let Some(h) = mark(u.email.as_str()) {
            out.push((Cow::Borrowed("email"), h));
        }
        let mut text = String::new();
        for (k, v) in u.attributes.as_map() {
            text.clear();
            collect_strings(v, &mut text);
            // The name is only built for a field that has highlights.
            if let Some(h) = mark(&text) {
                out.push((Cow::Owned(format!("attributes.{k}")), h));
            }
        }
        // By field name, so the JSON object is always in one order.
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyze;

    #[test]
    fn marks_matches_and_escapes_the_rest() {
        let words = analyze("lovelace ad");
        assert_eq!(
            highlight(&mut Words::new(), "Ada <b>Lovelace</b> & co", &words).unwrap(),
            "<mark>Ada</mark> &lt;b&gt;<mark>Lovelace</mark>&lt;/b&gt; &amp; co"
        );
        // A typo within the allowance is marked too.
        let words = analyze("lovelase");
        assert_eq!(
            highlight(&mut Words::new(), "Ada Lovelace", &words).unwrap(),
            "Ada <mark>Lovelace</mark>"
        );
        assert_eq!(highlight(&mut Words::new(), "Grace Hopper", &words), None);
    }

    /// The cheap reading gives the words the index's analyzer gives.
    #[test]
    fn words_are_read_as_the_analyzer_reads_them() {
        let long = "x".repeat(LONG_WORD);
        let just_short = "y".repeat(LONG_WORD - 1);
        for text in [
            "Ada LOVELACE ada.lovelace42@example.com",
            "José García, São Paulo; ÆLFGIFU straße",
            "Zoë 李小龍 🦀 crab <b>&",
            &format!("{long} {just_short} é{just_short}"),
            "",
        ] {
            let mut expected = Vec::new();
            let mut a = analyzer();
            let mut stream = a.token_stream(text);
            while stream.advance() {
                let t = stream.token();
                expected.push((t.text.clone(), t.offset_from, t.offset_to));
            }
            let mut got = Vec::new();
            Words::new().each(text, |w, from, to| got.push((w.to_owned(), from, to)));
            assert_eq!(got, expected, "{text:?}");
        }
    }
}
