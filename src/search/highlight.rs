//! Highlights computed from the hydrated user, not from stored index text:
//! each word of a field that the query matched (exactly, as a prefix or
//! within its typo allowance) is wrapped in `<mark>`; everything else is
//! HTML-escaped.

use tantivy::tokenizer::TokenStream;

use crate::domain::User;

use super::{QueryWord, analyzer, collect_strings};

fn matches(token: &str, w: &QueryWord) -> bool {
    let typos = usize::from(w.typos);
    token == w.text
        || (w.prefix && token.starts_with(&w.text))
        || (typos > 0
            // Lengths further apart than the allowance cannot be within it.
            && token.chars().count().abs_diff(w.text.chars().count()) <= typos
            && strsim::osa_distance(token, &w.text) <= typos)
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` with matched words marked, or None if nothing matched.
pub fn highlight(text: &str, words: &[QueryWord]) -> Option<String> {
    let mut a = analyzer();
    let mut stream = a.token_stream(text);
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    let mut any = false;
    while stream.advance() {
        let t = stream.token();
        if words.iter().any(|w| matches(&t.text, w)) && t.offset_from >= at {
            escape(&text[at..t.offset_from], &mut out);
            out.push_str("<mark>");
            escape(&text[t.offset_from..t.offset_to], &mut out);
            out.push_str("</mark>");
            at = t.offset_to;
            any = true;
        }
    }
    if !any {
        return None;
    }
    escape(&text[at..], &mut out);
    Some(out)
}

/// Highlights of every field of `u` the query matched.
pub fn highlights(u: &User, words: &[QueryWord]) -> Vec<(String, String)> {
    if words.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut field = |name: String, text: &str| {
        if let Some(h) = highlight(text, words) {
            out.push((name, h));
        }
    };
    if let Some(n) = &u.name {
        field("name".into(), n.as_str());
    }
    if let Some(n) = &u.username {
        field("username".into(), n.as_str());
    }
    field("email".into(), u.email.as_str());
    for (k, v) in u.attributes.as_map() {
        let mut text = String::new();
        collect_strings(v, &mut text);
        if !text.is_empty() {
            field(format!("attributes.{k}"), &text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analyze;

    #[test]
    fn marks_matches_and_escapes_the_rest() {
        let words = analyze("lovelace ad");
        assert_eq!(
            highlight("Ada <b>Lovelace</b> & co", &words).unwrap(),
            "<mark>Ada</mark> &lt;b&gt;<mark>Lovelace</mark>&lt;/b&gt; &amp; co"
        );
        // A typo within the allowance is marked too.
        let words = analyze("lovelase");
        assert_eq!(
            highlight("Ada Lovelace", &words).unwrap(),
            "Ada <mark>Lovelace</mark>"
        );
        assert_eq!(highlight("Grace Hopper", &words), None);
    }
}
