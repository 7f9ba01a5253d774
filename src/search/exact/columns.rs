//! The `words` columns: per document, a value per distinct word (its hash
//! and its frequency in each text field), [`WORDS_KEPT`] of them in
//! [`WORD_COLUMNS`] plain columns, two to a column. They tell a matching
//! document's per-field frequencies without walking the fields' posting
//! lists; where they cannot tell (a word not kept, a frequency of
//! [`TF_MANY`] or more, two words sharing a hash), the scorer reads the
//! lists. Written at indexing, so their layout is part of the index format.

use std::hash::Hasher;

use tantivy::tokenizer::{TextAnalyzer, TokenStream};

use super::SLOTS;

/// Bits of a field's frequency in a `words` value.
pub(super) const TF_BITS: u32 = 3;
/// A frequency the column does not tell: this or more.
pub(super) const TF_MANY: u32 = (1 << TF_BITS) - 1;
/// Bits of a word's hash in a `words` value. Few, so that a value fits 32
/// bits: two words of one document sharing a hash are rare, and detected.
const HASH_BITS: u32 = 20;

/// Columns of `words` values, and the values they keep per document (a
/// document of more distinct words keeps those of name, username and
/// email first).
pub(in crate::search) const WORD_COLUMNS: usize = 4;
pub(super) const WORDS_KEPT: usize = 2 * WORD_COLUMNS;

/// A word's hash in the `words` values: the top bits of its FNV-1a, which
/// is fixed (the index is on disk) and fast on short words.
pub(super) fn word_hash(word: &str) -> u32 {
    let mut h = fnv::FnvHasher::default();
    h.write(word.as_bytes());
    (h.finish() >> (64 - HASH_BITS)) as u32
}

fn pack(hash: u32, freqs: [u32; SLOTS]) -> u64 {
    freqs.iter().fold(u64::from(hash), |v, &tf| {
        v << TF_BITS | u64::from(tf.min(TF_MANY))
    })
}

pub(super) fn unpack(value: u64) -> (u32, [u32; SLOTS]) {
    let mut freqs = [0; SLOTS];
    for (i, tf) in freqs.iter_mut().enumerate() {
        *tf = (value >> (TF_BITS * (SLOTS - 1 - i) as u32)) as u32 & TF_MANY;
    }
    ((value >> (TF_BITS * SLOTS as u32)) as u32, freqs)
}

/// Two numbers (words of digits) whose hashes collide, for tests.
#[cfg(test)]
pub(in crate::search) fn colliding_numbers() -> (u32, u32) {
    let mut seen = std::collections::HashMap::new();
    (100_000u32..)
        .find_map(|n| seen.insert(word_hash(&n.to_string()), n).map(|m| (m, n)))
        .expect("a collision among 20-bit hashes")
}

/// The `words` columns of a document whose text fields, in slot order, are
/// `texts`: a value per distinct word as `analyzer` (the index's) reads it,
/// with its frequency in each field, no more than [`WORDS_KEPT`]: the name's
/// words first, then the username's, the email's, the attributes'. Words
/// sharing a hash have every frequency [`TF_MANY`] (not told). A value is
/// never 0 (a word is in some field), so 0 is no word.
pub(in crate::search) fn word_columns(
    texts: [&str; SLOTS],
    analyzer: &mut TextAnalyzer,
) -> [u64; WORD_COLUMNS] {
    let mut values = word_values(texts, analyzer);
    // A search takes the first value of its word's hash as its word's:
    // where two words share one, neither may tell.
    let mut hashes: Vec<u32> = values.iter().map(|&v| unpack(v).0).collect();
    hashes.sort_unstable();
    let shared: Vec<u32> = hashes
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    for v in &mut values {
        let hash = unpack(*v).0;
        if shared.binary_search(&hash).is_ok() {
            *v = pack(hash, [TF_MANY; SLOTS]);
        }
    }
    // By the first field holding the word (a stable sort: by word within).
    values.sort_by_key(|&v| unpack(v).1.iter().position(|&tf| tf > 0));
    values.resize(WORDS_KEPT.max(values.len()), 0);
    std::array::from_fn(|i| values[2 * i] << 32 | values[2 * i + 1])
}

fn word_values(texts: [&str; SLOTS], analyzer: &mut TextAnalyzer) -> Vec<u64> {
    let mut words: Vec<(String, usize)> = Vec::new();
    for (slot, text) in texts.into_iter().enumerate() {
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            words.push((std::mem::take(&mut stream.token_mut().text), slot));
        }
    }
    words.sort_unstable();
    let mut values = Vec::new();
    for group in words.chunk_by(|a, b| a.0 == b.0) {
        let mut freqs = [0u32; SLOTS];
        for (_, slot) in group {
            freqs[*slot] += 1;
        }
        values.push(pack(word_hash(&group[0].0), freqs));
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_cap_frequencies() {
        let hash = (1 << HASH_BITS) - 3;
        assert_eq!(unpack(pack(hash, [1, 0, 2, 6])), (hash, [1, 0, 2, 6]));
        assert_eq!(
            unpack(pack(hash, [0, 7, 100, 0])),
            (hash, [0, TF_MANY, TF_MANY, 0])
        );
        assert!(
            pack(hash, [TF_MANY; SLOTS]) < 1 << 32,
            "a value fits 32 bits"
        );
        assert_ne!(word_hash("ada"), word_hash("grace"));
    }

    #[test]
    fn columns_keep_the_words_of_the_first_fields_first() {
        let mut analyzer = crate::search::schema::analyzer();
        let many = "one two three four five six seven eight nine";
        let columns = word_columns(["Ada", "", "ada@example.com", many], &mut analyzer);
        let kept: Vec<u64> = columns
            .iter()
            .flat_map(|&two| [two >> 32, two & 0xffff_ffff])
            .collect();
        let hashes: Vec<u32> = kept.iter().map(|&v| unpack(v).0).collect();
        assert_eq!(kept.len(), WORDS_KEPT);
        for w in ["ada", "example", "com"] {
            assert!(hashes.contains(&word_hash(w)), "{w} kept");
        }
        assert!(kept.iter().all(|&v| v != 0), "full");
        // The name's word first.
        assert_eq!(kept[0], pack(word_hash("ada"), [1, 0, 1, 0]));
        // A short document leaves the rest empty.
        let columns = word_columns(["Ada", "", "", ""], &mut analyzer);
        assert_eq!(columns[0] >> 32, pack(word_hash("ada"), [1, 0, 0, 0]));
        assert_eq!(columns[0] & 0xffff_ffff, 0);
        assert_eq!(&columns[1..], &[0; WORD_COLUMNS - 1]);
    }

    #[test]
    fn words_sharing_a_hash_are_not_told() {
        let (a, b) = colliding_numbers();
        let mut analyzer = crate::search::schema::analyzer();
        let name = format!("Ada {a} {b}");
        let columns = word_columns([&name, "", "ada@example.com", ""], &mut analyzer);
        let kept: Vec<(u32, [u32; SLOTS])> = columns
            .iter()
            .flat_map(|&two| [two >> 32, two & 0xffff_ffff])
            .filter(|&v| v != 0)
            .map(unpack)
            .collect();
        let shared = word_hash(&a.to_string());
        assert_eq!(kept.iter().filter(|(h, _)| *h == shared).count(), 2);
        for (hash, freqs) in &kept {
            let expected = if *hash == shared {
                [TF_MANY; SLOTS]
            } else {
                freqs.map(|f| f.min(1))
            };
            assert_eq!(*freqs, expected);
        }
    }

    #[test]
    fn a_document_has_a_value_per_distinct_word() {
        let mut analyzer = crate::search::schema::analyzer();
        let values = word_values(
            ["Ada Lovelace Ada", "ada", "ada.lovelace@Example.com", ""],
            &mut analyzer,
        );
        let of = |w: &str| {
            values
                .iter()
                .map(|&v| unpack(v))
                .find(|(h, _)| *h == word_hash(w))
                .map(|(_, f)| f)
        };
        assert_eq!(values.len(), 4, "ada, lovelace, example, com");
        assert_eq!(of("ada"), Some([2, 1, 1, 0]));
        assert_eq!(of("lovelace"), Some([1, 0, 1, 0]));
        assert_eq!(of("example"), Some([0, 0, 1, 0]));
    }
}
