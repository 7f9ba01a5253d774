//! The exact words of a query of several, matched through the `all` field
//! and each scored as its exact term queries on each text field would score
//! it.
//!
//! `all` holds every word of name, username, email and attributes, in one
//! posting list per word; it finds the documents (a frequent word's list as
//! a bitset, see [`dense`](super::dense)). For the few that every word of
//! the query holds, the `words` columns ([`columns`]) give the word's
//! frequency in each field, and with each field's norms and statistics that
//! is each field's BM25 ([`bm25`]). The four per-field posting lists, each
//! walked and decoded only to score, were most of a two-word search;
//! positions in `all` would cost a block decode per document and a fifth of
//! the import's speed, and a multi-valued column costs more to read than
//! these columns.
//!
//! A search reads a document's values in order up to the first of its
//! word's hash: a document's name words come first, so that is mostly one
//! column. Where the columns cannot tell, the field's own posting list is
//! read for that document ([`scorer`]). Scores are those of
//! [`AnyOf`](super::any_of::AnyOf) over the word's per-field exact
//! `TermQuery`s, boosted alike, bit for bit: the same BM25 weights, boosts
//! multiplied in the same order, fields summed in the same order.
//! `search::tests::narrowing_by_all_changes_no_result` checks it.
//!
//! The files: `columns` (the per-document values, written at indexing),
//! `bm25` (tantivy's formula, its field part computed per generation),
//! `query` (the tantivy `Query` and `Weight`), `matches` (the documents
//! holding every word), `scorer` (a word's score in one of them).

mod bm25;
mod columns;
mod matches;
mod query;
mod scorer;
mod top;

pub(super) use super::tokenizer::SLOTS;
pub(super) use bm25::tf_norms;
#[cfg(test)]
pub(super) use columns::colliding_numbers;
pub(super) use columns::{WORD_COLUMNS, word_columns};
pub(super) use query::{ExactWord, ExactWords};
pub(super) use scorer::{Peak, Peaks};
pub(super) use top::top;
