//! Operations already seen, parsed and validated, by their text.
//!
//! Clients send the same few operations over and over (a page's query,
//! with different variables). Parsing one costs more than answering it
//! from the store, and the full validation (twenty-odd visitors over the
//! document) about as much again. So the endpoint keeps the parsed
//! documents of operations that ran without an error, keyed by operation
//! name and text, and answers a repeat with the stored document through a
//! schema that checks only what can change between two runs of the same
//! text: the complexity and depth (which depend on the variables) and
//! fragment cycles. Variable values are still checked against their types
//! when the resolvers read them.
//!
//! The cache is bounded in entries and in the size of a text it keeps, so
//! a client sending ever-new operations only ever costs what it did before.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// How many operations are kept.
const ENTRIES: NonZeroUsize = NonZeroUsize::new(128).unwrap();
/// The longest operation text kept (the body limit bounds what is sent).
const TEXT_MAX: usize = 8 * 1024;

pub struct Documents {
    known: Mutex<LruCache<String, Arc<ExecutableDocument>>>,
}

/// What [`Documents::prepare`] found for one operation.
pub enum Seen {
    /// Ran before without an error: its document is set on the request.
    Known,
    /// Not seen (or not kept): to be remembered under this key, with this
    /// document, if it runs without an error. `None` when it will not be
    /// kept (too long, or it does not parse).
    Fresh(Option<(String, ExecutableDocument)>),
}

impl Documents {
    pub fn new() -> Self {
        Self {
            known: Mutex::new(LruCache::new(ENTRIES)),
        }
    }

    /// Sets the stored document on a request whose operation ran before;
    /// otherwise parses it (once: the request keeps the result).
    pub fn prepare(&self, request: &mut Request) -> Seen {
        if request.query.len() > TEXT_MAX {
            return Seen::Fresh(None);
        }
        let key = key(request);
        let stored = self.lock().get(&key).cloned();
        if let Some(doc) = stored {
            request.set_parsed_query(ExecutableDocument::clone(&doc));
            return Seen::Known;
        }
        match request.parsed_query() {
            Ok(doc) => Seen::Fresh(Some((key, doc.clone()))),
            Err(_) => Seen::Fresh(None),
        }
    }

    /// Keeps the document of an operation that ran without an error.
    pub fn remember(&self, key: String, doc: ExecutableDocument) {
        self.lock().put(key, Arc::new(doc));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<ExecutableDocument>>> {
        // Nothing panics while holding it; a poisoned cache is still sound.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The operation's name and its text: one document may hold several
/// operations, validated for the one selected.
fn key(request: &Request) -> String {
    let name = request.operation_name.as_deref().unwrap_or("");
    let mut key = String::with_capacity(name.len() + 1 + request.query.len());
    key.push_str(name);
    key.push('\n');
    key.push_str(&request.query);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(docs: &Documents, query: &str) -> (String, ExecutableDocument) {
        match docs.prepare(&mut Request::new(query)) {
            Seen::Fresh(Some(kept)) => kept,
            _ => panic!("{query} should be fresh and kept"),
        }
    }

    #[test]
    fn a_remembered_operation_is_known_under_its_name_and_text_only() {
        let docs = Documents::new();
        let (key, doc) = fresh(&docs, "query A { me { id } } query B { me { email } }");
        docs.remember(key, doc);
        let mut again = Request::new("query A { me { id } } query B { me { email } }");
        assert!(matches!(docs.prepare(&mut again), Seen::Known));
        assert!(again.parsed_query().is_ok());
        // The same text with another operation selected was not validated.
        let mut other =
            Request::new("query A { me { id } } query B { me { email } }").operation_name("B");
        assert!(matches!(docs.prepare(&mut other), Seen::Fresh(Some(_))));
    }

    #[test]
    fn unparsable_and_long_texts_are_not_kept() {
        let docs = Documents::new();
        assert!(matches!(
            docs.prepare(&mut Request::new("{ me { id ")),
            Seen::Fresh(None)
        ));
        let long = format!("{{ me {{ id {} }} }}", "email ".repeat(TEXT_MAX / 6));
        assert!(matches!(
            docs.prepare(&mut Request::new(long)),
            Seen::Fresh(None)
        ));
    }

    #[test]
    fn the_cache_is_bounded() {
        let docs = Documents::new();
        for i in 0..ENTRIES.get() + 10 {
            let (key, doc) = fresh(&docs, &format!("{{ a{i}: me {{ id }} }}"));
            docs.remember(key, doc);
        }
        assert_eq!(docs.len(), ENTRIES.get());
        // The oldest went first.
        assert!(matches!(
            docs.prepare(&mut Request::new("{ a0: me { id } }")),
            Seen::Fresh(Some(_))
        ));
    }
}
