//! Highlights computed from the hydrated user, not from stored index text:
//! each word of a field that the query matched (exactly, as a prefix or
//! within its typo allowance) is wrapped in `<mark>`; everything else is
//! HTML-escaped.

use std::borrow::Cow;

use tantivy::tokenizer::{TextAnalyzer, TokenStream};

use crate::domain::User;

use super::query::QueryWord;
use super::schema::{LONG_WORD, analyzer, collect_strings};
use super::tokenizer::next_word;

fn matches(token: &str, w: &QueryWord) -> bool {
    let typos = usize::from(w.typos);
    token == w.text
        || (w.prefix && token.starts_with(&w.text))
        || (typos > 0
            // Lengths further apart than the allowance cannot be within it.
            && token.chars().count().abs_diff(w.text.chars().count()) <= typos
            && strsim::osa_distance(token, &w.text) <= typos)
}

/// The bytes `escape` replaces, as a table: one load per byte.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'"' as usize] = true;
    table[b'\'' as usize] = true;
    table
};

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

/// Whether `token`, ASCII letters and digits (as the tokenizer cuts an
/// ASCII word), lower-cased starts with `word`: `| 0x20` lower-cases an
/// ASCII letter and leaves a digit as it is.
fn starts_folded(token: &[u8], word: &[u8]) -> bool {
    token.len() >= word.len() && token.iter().zip(word).all(|(&t, &w)| t | 0x20 == w)
}

/// Matches the words of a text, as the index's [`analyzer`] reads them,
/// against a query's words, cheaply: an ASCII word (nearly all of them)
/// only needs lower-casing, which is all the analyzer's filters do to it,
/// and is compared without it; other words go through the analyzer itself.
struct Words {
    analyzer: TextAnalyzer,
    folded: String,
}

impl Words {
    fn new() -> Self {
        Self {
            analyzer: analyzer(),
            folded: String::new(),
        }
    }

    /// `token` (a word as the tokenizer cuts it) as the index holds it.
    fn fold(&mut self, token: &str) -> &str {
        self.folded.clear();
        if token.is_ascii() {
            self.folded.push_str(token);
            self.folded.make_ascii_lowercase();
        } else {
            let mut one = self.analyzer.token_stream(token);
            while one.advance() {
                self.folded.push_str(&one.token().text);
            }
        }
        &self.folded
    }

    /// Whether `token`, folded, [`matches`] a word of `query` (a word too
    /// long for the index never does).
    fn matches_any(&mut self, token: &str, query: &[QueryWord]) -> bool {
        if token.len() >= LONG_WORD {
            return false;
        }
        if token.is_ascii() {
            // Query words are folded (lower case): an ASCII token equals or
            // extends one, lower-cased, exactly when it does ignoring case.
            let t = token.as_bytes();
            let exact_or_prefix = query.iter().any(|w| {
                let q = w.text.as_bytes();
                (t.len() == q.len() || w.prefix) && starts_folded(t, q)
            });
            if exact_or_prefix || query.iter().all(|w| w.typos == 0) {
                return exact_or_prefix;
            }
        }
        let folded = self.fold(token);
        query.iter().any(|w| matches(folded, w))
    }

    /// Calls `f` with each word of `text` as indexed, and its byte range.
    #[cfg(test)]
    fn each(&mut self, text: &str, mut f: impl FnMut(&str, usize, usize)) {
        let mut cursor = 0;
        while let Some((from, to)) = next_word(text, &mut cursor) {
            if to - from < LONG_WORD {
                f(self.fold(&text[from..to]), from, to);
            }
        }
    }
}

/// `text` with matched words marked, or None if nothing matched.
fn highlight(words: &mut Words, text: &str, query: &[QueryWord]) -> Option<String> {
    // Most texts have nothing to escape: their runs are then copied whole.
    let plain = !text.bytes().any(|b| SPECIAL[usize::from(b)]);
    let copy = |s: &str, out: &mut String| {
        if plain {
            out.push_str(s);
        } else {
            escape(s, out);
        }
    };
    let mut out = String::new();
    let (mut at, mut cursor) = (0, 0);
    while let Some((from, to)) = next_word(text, &mut cursor) {
        if !words.matches_any(&text[from..to], query) {
            continue;
        }
        if out.is_empty() {
            // Room for a few marks.
            out.reserve(text.len() + 4 * "<mark></mark>".len());
        }
        copy(&text[at..from], &mut out);
        out.push_str("<mark>");
        copy(&text[from..to], &mut out);
        out.push_str("</mark>");
        at = to;
    }
    if out.is_empty() {
        return None;
    }
    copy(&text[at..], &mut out);
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

    /// Matching a token as cut, without folding it, is matching it folded.
    #[test]
    fn tokens_match_as_their_folded_forms_do() {
        let long = "Ab".repeat(LONG_WORD / 2);
        let tokens = [
            "Ada",
            "ADA",
            "Adams",
            "ad",
            "420",
            "Lovelace",
            "LOVELACE",
            "Lovelac",
            "lovelaces",
            "Lovelase",
            "42",
            "José",
            "JOSE",
            "Straße",
            "STRASSE",
            "Zoë",
            "ZOE",
            "李小龍",
            &long,
        ];
        let queries = [
            "ada lovelace",
            "lovel",
            "lovelase",
            "jose",
            "strasse",
            "zoe",
            "李小龍",
            "42 ad",
            &long,
        ];
        let mut words = Words::new();
        let mut hits = 0;
        for q in queries {
            let query = analyze(q);
            for t in tokens {
                let folded = words.fold(t).to_owned();
                let expected = t.len() < LONG_WORD && query.iter().any(|w| matches(&folded, w));
                assert_eq!(words.matches_any(t, &query), expected, "{t:?} for {q:?}");
                hits += usize::from(expected);
            }
        }
        // Not vacuous: exact, prefix, typo and folded matches are among them.
        assert!(hits >= 15, "{hits} matches");
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
