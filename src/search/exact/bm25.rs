//! BM25 as tantivy's `Bm25Weight` computes it, bit for bit (checked by
//! `bm25_is_tantivys_to_the_bit`), split so that a field's length
//! normalisation, which depends on the field alone, is computed once per
//! index generation ([`View`](crate::search::view::View)) rather than per
//! word and field: building a `Bm25Weight` per word and field (its table of
//! 256 norms and its explanation) was a twentieth of a two-word search.

use tantivy::Score;
use tantivy::fieldnorm::FieldNormReader;

/// BM25's constants, as tantivy's `Bm25Weight` has them.
const K1: Score = 1.2;
const B: Score = 0.75;

/// A field's BM25 length normalisation per fieldnorm id, as tantivy's
/// `Bm25Weight` computes it for every term of the field (same operations,
/// same order): it depends only on the field's average length, so a view
/// computes it once per field rather than each query once per word and field.
pub(in crate::search) fn tf_norms(total_num_tokens: u64, total_num_docs: u64) -> [Score; 256] {
    let average = total_num_tokens as Score / total_num_docs as Score;
    std::array::from_fn(|id| {
        let fieldnorm = FieldNormReader::id_to_fieldnorm(id as u8);
        K1 * (1.0 - B + B * fieldnorm as Score / average)
    })
}

/// A term's BM25 weight before boosts (its idf times `1 + K1`), as
/// tantivy's `Bm25Weight` has it.
pub(super) fn bm25_weight(doc_freq: u64, total_num_docs: u64) -> Score {
    let x = (total_num_docs.saturating_sub(doc_freq) as Score + 0.5) / (doc_freq as Score + 0.5);
    (1.0 + x).ln() * (1.0 + K1)
}

/// BM25 of a term `tf` times in a field whose length normalisation is `norm`.
pub(super) fn bm25(weight: Score, norm: Score, tf: u32) -> Score {
    let tf = tf as Score;
    weight * (tf / (tf + norm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bm25_is_tantivys_to_the_bit() {
        use tantivy::query::Bm25Weight;
        for (doc_freq, docs, tokens) in [(1, 1, 1), (3, 100_000, 250_000), (99, 100, 7_000)] {
            let norms = tf_norms(tokens, docs);
            let average = tokens as Score / docs as Score;
            for boost in [1.0, 12.0, 0.5] {
                let theirs = Bm25Weight::for_one_term(doc_freq, docs, average).boost_by(boost);
                let weight = bm25_weight(doc_freq, docs) * boost;
                for id in 0..=255u8 {
                    for tf in [1, 2, 6, 7, 1000] {
                        let ours = bm25(weight, norms[usize::from(id)], tf);
                        assert_eq!(ours.to_bits(), theirs.score(id, tf).to_bits());
                    }
                }
            }
        }
    }
}
