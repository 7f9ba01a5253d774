//! The search index: tantivy in `<data>/index/`, a disposable view of the
//! store. It holds only what search needs (tokenised text, filter and facet
//! values); hits are hydrated from the store by the service.
//!
//! Each commit carries, as its payload, the sequence number of the last
//! store change it reflects, so a restart resumes exactly there. An index
//! that is missing, unreadable or of another schema version is wiped and
//! reported as needing a rebuild.
//!
//! This module never imports axum or redb; it never writes the store.
//!
//! # Layout
//!
//! - `schema`: the fields, the analysers, a user's document; what fixes
//!   the index format ([`SCHEMA_VERSION`]).
//! - `index`: [`SearchIndex`]'s life: open, apply, commit, reload, merge.
//! - `sealed_dir`: the index's files sealed on disk when a data key is
//!   set, and resealing them offline for a key rotation.
//! - `view`: one reader generation and its per-segment columns.
//! - `lexicon`: live document counts from the term dictionaries.
//! - `query`: a [`SearchRequest`] as a tantivy query; `exact`,
//!   `any_of`, `dense` are the query types and bitsets it uses.
//! - `run`: preparing and running a search; `tally` counts its facets.
//! - `highlight`: marking the matched words in a hydrated user.
//! - `tokenizer`: the word tokenizers the analysers are built on.
//! - `fuzz`: the fuzzing hook, compiled in for the regression replays.

mod any_of;
mod dense;
mod error;
mod exact;
mod fuzz;
mod highlight;
mod index;
mod lexicon;
mod query;
mod run;
mod schema;
mod sealed_dir;
mod tally;
mod tokenizer;
mod view;

#[cfg(test)]
mod sealed_tests;
#[cfg(test)]
mod tests;

pub use error::SearchError;
#[doc(hidden)]
pub use fuzz::{FuzzError, fuzz_build_query};
pub use highlight::{Highlight, Highlighter};
pub use index::{IndexOp, Opened, SearchIndex};
pub use query::{QueryWord, SearchRequest, Sort, analyze};
pub use run::{Facets, Found, Prepared};
pub use schema::{SCHEMA_VERSION, analyzer, collect_strings, group_key};
pub(crate) use sealed_dir::reseal_index;
