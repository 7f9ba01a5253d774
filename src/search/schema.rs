//! What the index holds: the schema and its fields, the analysers that read
//! text into words, and the document built from a user. Anything here that
//! changes what is written or how words are read changes the index format,
//! so it bumps [`SCHEMA_VERSION`] (an index of another version is rebuilt).

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer};
use tantivy::{TantivyDocument, Term};

use super::{exact, tokenizer};
use crate::domain::{Status, User};

/// Bumped whenever the schema or the analysis changes: an index of another
/// version is rebuilt.
pub const SCHEMA_VERSION: u32 = 9;
pub(super) const TOKENIZER: &str = "roster";
/// The tokenizer of the `all` field: see [`tokenizer::AllTokenizer`].
pub(super) const ALL_TOKENIZER: &str = "roster-all";

/// The schema's fields, by name.
#[derive(Clone, Copy)]
pub(super) struct Fields {
    pub(super) id: Field,
    pub(super) id_hi: Field,
    pub(super) id_lo: Field,
    pub(super) name: Field,
    pub(super) username: Field,
    pub(super) email: Field,
    pub(super) attributes: Field,
    pub(super) status: Field,
    pub(super) roles: Field,
    /// The user's groups, each by [`group_key`].
    pub(super) groups: Field,
    pub(super) created_at: Field,
    pub(super) email_verified: Field,
    pub(super) mfa_enabled: Field,
    pub(super) name_sort: Field,
    /// Every word of name, username, email and attributes, in one posting
    /// list per word: see [`exact`].
    pub(super) all: Field,
    /// Per document, distinct words' hashes and frequencies in each text
    /// field: see [`exact::word_columns`].
    pub(super) words: [Field; exact::WORD_COLUMNS],
}

impl Fields {
    /// The term of a user's document: its id's 16 bytes (big-endian). As
    /// 36 characters of text, this term dictionary (an FST over every id,
    /// built per segment and merge) was most of an import's FST building;
    /// 16 bytes made `roster import` about 18 % faster.
    pub(super) fn id_term(&self, id: u128) -> Term {
        Term::from_field_bytes(self.id, &id.to_be_bytes())
    }

    /// The text fields, in slot order (that of `all` and the `words` columns).
    pub(super) fn text(&self) -> [Field; exact::SLOTS] {
        [self.name, self.username, self.email, self.attributes]
    }
}

pub(super) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_bytes_field("id", INDEXED),
        id_hi: b.add_u64_field("id_hi", FAST),
        id_lo: b.add_u64_field("id_lo", FAST),
        name: b.add_text_field("name", text.clone()),
        username: b.add_text_field("username", text.clone()),
        email: b.add_text_field("email", text.clone()),
        attributes: b.add_text_field("attributes", text),
        status: b.add_u64_field("status", INDEXED | FAST),
        roles: b.add_u64_field("roles", INDEXED | FAST),
        groups: b.add_u64_field("groups", INDEXED | FAST),
        created_at: b.add_i64_field("created_at", INDEXED | FAST),
        email_verified: b.add_u64_field("email_verified", INDEXED | FAST),
        mfa_enabled: b.add_u64_field("mfa_enabled", INDEXED | FAST),
        name_sort: b.add_text_field("name_sort", STRING | FAST),
        all: b.add_text_field(
            "all",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ALL_TOKENIZER)
                    .set_index_option(IndexRecordOption::Basic),
            ),
        ),
        words: std::array::from_fn(|i| b.add_u64_field(&format!("words{i}"), FAST)),
    };
    (b.build(), fields)
}

/// Words of this many bytes or more are dropped by the [`analyzer`].
pub(super) const LONG_WORD: usize = 64;

/// Words: runs of letters or of digits, lower-cased, accents folded.
pub fn analyzer() -> TextAnalyzer {
    filtered(tokenizer::WordTokenizer::default())
}

/// The analyzer of the `all` field: each field's words as [`analyzer`]
/// reads them, none running across two fields.
pub(super) fn all_analyzer() -> TextAnalyzer {
    filtered(tokenizer::AllTokenizer::default())
}

/// The filters every analyzer of the index shares: `all` must read each
/// word exactly as its own field does.
fn filtered<T: tantivy::tokenizer::Tokenizer>(words: T) -> TextAnalyzer {
    TextAnalyzer::builder(words)
        .filter(RemoveLongFilter::limit(LONG_WORD))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub(super) fn status_code(s: Status) -> u64 {
    match s {
        Status::Active => 0,
        Status::Disabled => 1,
    }
}

thread_local! {
    /// The analyzer [`document`] reads words with (building one allocates).
    static WORDS: std::cell::RefCell<TextAnalyzer> = std::cell::RefCell::new(analyzer());
}

/// What the index holds of a user.
pub(super) fn document(f: &Fields, u: &User, groups: &[u64]) -> TantivyDocument {
    let id = u.id.as_u128();
    let mut d = TantivyDocument::default();
    d.add_bytes(f.id, &id.to_be_bytes());
    d.add_u64(f.id_hi, (id >> 64) as u64);
    d.add_u64(f.id_lo, id as u64);
    let name = u.name.as_ref().map_or("", |n| n.as_str());
    let username = u.username.as_ref().map_or("", |n| n.as_str());
    if u.name.is_some() {
        d.add_text(f.name, name);
    }
    if u.username.is_some() {
        d.add_text(f.username, username);
    }
    d.add_text(f.email, u.email.as_str());
    let mut attr_text = String::new();
    u.attributes
        .as_map()
        .values()
        .for_each(|v| collect_strings(v, &mut attr_text));
    let texts = [name, username, u.email.as_str(), attr_text.as_str()];
    let words = WORDS.with_borrow_mut(|analyzer| exact::word_columns(texts, analyzer));
    for (field, value) in f.words.iter().zip(words) {
        d.add_u64(*field, value);
    }
    d.add_text(f.all, tokenizer::all_text(texts));
    if !attr_text.is_empty() {
        d.add_text(f.attributes, attr_text);
    }
    d.add_u64(f.status, status_code(u.status));
    for r in &u.roles {
        d.add_u64(f.roles, u64::from(r.code()));
    }
    for g in groups {
        d.add_u64(f.groups, *g);
    }
    d.add_i64(
        f.created_at,
        crate::domain::Timestamp::from_datetime(u.created_at).micros(),
    );
    d.add_u64(f.email_verified, u64::from(u.email_verified));
    d.add_u64(f.mfa_enabled, u64::from(u.mfa_enabled));
    d.add_text(
        f.name_sort,
        u.name
            .as_ref()
            .map_or(String::new(), |n| n.as_str().to_lowercase()),
    );
    d
}

/// How the index names a group: the low, random 64 bits of its UUIDv7
/// (62 random bits: two groups share a key with odds of 2^-62).
pub fn group_key(id: u128) -> u64 {
    id as u64
}

/// Every string value in a JSON tree, space-separated.
pub fn collect_strings(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::String(s) => {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s);
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(m) => m.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}
