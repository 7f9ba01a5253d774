//! One word over several fields: a document matches when any of the word's
//! clauses does, and scores the sum of the clauses on it — what a `Should`
//! boolean query computes, moved differently.
//!
//! tantivy's union buffers windows of 4 096 documents and fills each window
//! from every clause. Inside an intersection (every word of a query must
//! match) that is the dearest part of a search: each seek to the next
//! candidate refills a whole window, so every posting of every clause is
//! read and scored even when the other words leave a few hundred documents.
//! This union moves its clauses with their own `seek` (skip lists, bitsets),
//! so an intersection reads little more than the documents it visits.

use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

#[derive(Debug)]
pub(super) struct AnyOf(pub Vec<Box<dyn Query>>);

impl Clone for AnyOf {
    fn clone(&self) -> Self {
        Self(self.0.iter().map(|q| q.box_clone()).collect())
    }
}

impl Query for AnyOf {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self
            .0
            .iter()
            .map(|q| q.weight(scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(AnyOfWeight(weights)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for q in &self.0 {
            q.query_terms(visitor);
        }
    }
}

struct AnyOfWeight(Vec<Box<dyn Weight>>);

impl Weight for AnyOfWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut clauses = Vec::with_capacity(self.0.len());
        for w in &self.0 {
            let s = w.scorer(reader, boost)?;
            if s.doc() != TERMINATED {
                clauses.push(s);
            }
        }
        if clauses.is_empty() {
            return Ok(Box::new(EmptyScorer));
        }
        let mut scorer = AnyOfScorer {
            clauses,
            doc: 0,
            max_doc: reader.max_doc(),
        };
        scorer.doc = scorer.lowest();
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explain_by_scoring(self.scorer(reader, 1.0)?, doc, "any of the word's clauses")
    }
}

/// A weight's explanation as its score on `doc`, for weights (this one,
/// `ExactWord`'s) that are explained by what they compute.
pub(super) fn explain_by_scoring(
    mut scorer: Box<dyn Scorer>,
    doc: DocId,
    what: &'static str,
) -> tantivy::Result<Explanation> {
    if scorer.seek(doc) != doc {
        return Err(TantivyError::InvalidArgument(format!(
            "document {doc} does not match"
        )));
    }
    Ok(Explanation::new(what, scorer.score()))
}

struct AnyOfScorer {
    /// Clauses not yet exhausted.
    clauses: Vec<Box<dyn Scorer>>,
    doc: DocId,
    max_doc: u32,
}

impl AnyOfScorer {
    fn lowest(&mut self) -> DocId {
        self.clauses.retain(|c| c.doc() != TERMINATED);
        self.clauses
            .iter()
            .map(|c| c.doc())
            .min()
            .unwrap_or(TERMINATED)
    }
}

impl DocSet for AnyOfScorer {
    fn advance(&mut self) -> DocId {
        let current = self.doc;
        for c in &mut self.clauses {
            if c.doc() == current {
                c.advance();
            }
        }
        self.doc = self.lowest();
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        for c in &mut self.clauses {
            if c.doc() < target {
                c.seek(target);
            }
        }
        self.doc = self.lowest();
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.clauses
            .iter()
            .map(|c| c.size_hint())
            .fold(0u32, u32::saturating_add)
            .min(self.max_doc)
    }

    fn cost(&self) -> u64 {
        self.clauses.iter().map(|c| c.cost()).sum()
    }
}

impl Scorer for AnyOfScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        self.clauses
            .iter_mut()
            .filter(|c| c.doc() == doc)
            .map(|c| c.score())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::{Count, TopDocs};
    use tantivy::query::{BooleanQuery, Occur, TermQuery};
    use tantivy::schema::{IndexRecordOption, STRING, Schema};
    use tantivy::{Index, TantivyDocument, doc};

    use super::*;

    /// Against tantivy's own union: the same documents with the same scores,
    /// alone and inside an intersection, on segments with deletes.
    #[test]
    fn matches_and_scores_as_a_should_query() {
        let mut schema = Schema::builder();
        let a = schema.add_text_field("a", STRING);
        let b = schema.add_text_field("b", STRING);
        let c = schema.add_text_field("c", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: tantivy::IndexWriter =
            index.writer_with_num_threads(1, 15_000_000).unwrap();
        for i in 0..3000u32 {
            let mut d = TantivyDocument::default();
            if i % 3 == 0 {
                d.add_text(a, "x");
            }
            if i % 5 == 0 {
                d.add_text(b, "x");
            }
            if i % 7 == 0 {
                d.add_text(c, "y");
            }
            if i % 11 == 0 {
                d.add_text(c, "x");
            }
            writer.add_document(d).unwrap();
            if i == 1500 {
                writer.commit().unwrap();
            }
        }
        writer.add_document(doc!(a => "z")).unwrap();
        writer.commit().unwrap();
        writer.delete_term(Term::from_field_text(c, "y"));
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        assert_eq!(searcher.segment_readers().len(), 2);

        let term = |f, t: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(f, t),
                IndexRecordOption::WithFreqs,
            ))
        };
        let clauses = || vec![term(a, "x"), term(b, "x"), term(c, "x"), term(a, "absent")];
        let ours: Box<dyn Query> = Box::new(AnyOf(clauses()));
        let theirs: Box<dyn Query> = Box::new(BooleanQuery::new(
            clauses().into_iter().map(|q| (Occur::Should, q)).collect(),
        ));
        let with = |q: &dyn Query| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, q.box_clone()),
                (Occur::Must, term(b, "x")),
            ]))
        };
        for (ours, theirs) in [
            (ours.box_clone(), theirs.box_clone()),
            (with(ours.as_ref()), with(theirs.as_ref())),
        ] {
            let top = || TopDocs::with_limit(5000).order_by_score();
            let (mine, n) = searcher.search(&ours, &(top(), Count)).unwrap();
            let (expected, m) = searcher.search(&theirs, &(top(), Count)).unwrap();
            assert!(n > 100);
            assert_eq!(n, m);
            let key = |v: Vec<(Score, tantivy::DocAddress)>| {
                let mut v: Vec<_> = v
                    .into_iter()
                    .map(|(s, d)| (d, (s * 1e4).round() as i64))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(key(mine), key(expected));
        }
    }
}
