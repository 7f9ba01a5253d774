//! The one error type of the search index: tantivy's and the file
//! system's failures, which the service maps to its own kinds. Nothing
//! here is a client's mistake: a query cannot fail to parse (see
//! [`query`](super::query)).

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
}
