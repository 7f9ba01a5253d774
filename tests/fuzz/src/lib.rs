//! How fuzz inputs become calls, shared by the fuzz targets and by the
//! regression tests of the main crate (`tests/api/fuzz_regressions.rs`
//! includes this file), so a saved input replays exactly as it was fuzzed.
//! Only std and roster: the main crate's tests have no `arbitrary`.

use roster::domain::{Role, SearchQuery, Status, Timestamp, User};
use roster::search::{Found, Sort, fuzz_build_query};
use roster::store::{decode_user_record, encode_user_record};

/// The user id `decode_user` decodes records under (it only names the user).
pub const RECORD_ID: u128 = 0x0190_0000_0000_7000_8000_0000_0000_0001;

/// The `decode_user` target: `data` as a stored user record. Decoding never
/// panics (errors are fine); a record that decodes re-encodes to one that
/// decodes to the same user and re-encodes to the same bytes. Returns the
/// user, if the record decoded.
pub fn check_decode_user(data: &[u8]) -> Option<User> {
    let user = decode_user_record(RECORD_ID, data).ok()?;
    let bytes = encode_user_record(&user);
    let again = decode_user_record(RECORD_ID, &bytes).expect("a re-encoded user decodes");
    assert_eq!(again, user, "the user changed through encode → decode");
    assert_eq!(
        encode_user_record(&again),
        bytes,
        "encoding the same user twice differs"
    );
    Some(user)
}

/// The `search_query` target: `data` (see [`search_input`]) as a search.
/// Analysis, query building, the search of a small in-RAM index and
/// highlighting never panic or fail, and the results keep the invariants
/// `fuzz_build_query` checks. Returns the query and what it found, unless
/// the API would refuse the request.
pub fn check_search_query(data: &[u8]) -> Option<(String, Found)> {
    let (q, req) = search_input(data)?;
    let limit = req.limit;
    let found = fuzz_build_query(&q, req).expect("a search of the in-RAM index");
    assert!(found.hits.len() <= limit, "more hits than the limit");
    Some((q, found))
}

/// The API's limits on a search (`src/api/search.rs`): `q` at most 512
/// characters, `limit` 1..=200 (default 20), `offset` 0..=10000.
pub const Q_MAX: usize = 512;
pub const LIMIT_MAX: usize = 200;
pub const LIMIT_DEFAULT: usize = 20;
pub const OFFSET_MAX: usize = 10_000;

/// A `search_query` input: the query text, then optionally a 0xFF byte
/// (never part of UTF-8) and filter bytes. Text alone searches as the API's
/// defaults do, so seeds are plain queries. Invalid UTF-8 in the text is
/// replaced, as percent-decoding a query string does. Filter bytes, each
/// optional (missing ones take the API's defaults):
///
/// 0. flags: bits 0–1 status (1 active, 2 disabled), bits 2–3 facets
///    status/roles, bits 4–5 sort, bits 6–7 email_verified (1 false, 2 true)
/// 1. roles: bit i adds `Role::ALL[i % 2]` (so repeats happen)
/// 2. limit: 1 + byte % 200
/// 3. –4. offset: little-endian u16 % 10001
/// 5. bit 0: created_after follows, bit 1: created_before follows, each as
///    8 little-endian bytes (any i64: wider than the API's RFC 3339 range)
///
/// Returns None for what the API refuses before searching (a `q` too long).
pub fn search_input(data: &[u8]) -> Option<(String, SearchQuery)> {
    let (text, filters) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let q = String::from_utf8_lossy(text).into_owned();
    if q.chars().count() > Q_MAX {
        return None;
    }
    let mut bytes = filters.iter().copied();
    let mut req = SearchQuery {
        limit: LIMIT_DEFAULT,
        ..Default::default()
    };
    if let Some(flags) = bytes.next() {
        req.status = match flags & 3 {
            1 => Some(Status::Active),
            2 => Some(Status::Disabled),
            _ => None,
        };
        req.facet_status = flags & 4 != 0;
        req.facet_roles = flags & 8 != 0;
        req.sort = match (flags >> 4) & 3 {
            0 => Sort::Relevance,
            1 => Sort::CreatedAsc,
            2 => Sort::CreatedDesc,
            _ => Sort::Name,
        };
        req.email_verified = match flags >> 6 {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        };
    }
    if let Some(roles) = bytes.next() {
        req.roles = (0..8)
            .filter(|i| (roles >> i) & 1 != 0)
            .map(|i| Role::ALL[i % Role::ALL.len()])
            .collect();
    }
    if let Some(limit) = bytes.next() {
        req.limit = 1 + usize::from(limit) % LIMIT_MAX;
    }
    if let (Some(lo), Some(hi)) = (bytes.next(), bytes.next()) {
        req.offset = usize::from(u16::from_le_bytes([lo, hi])) % (OFFSET_MAX + 1);
    }
    if let Some(times) = bytes.next() {
        let mut time = || {
            let mut b = [0u8; 8];
            for x in &mut b {
                *x = bytes.next()?;
            }
            Some(Timestamp::from_micros(i64::from_le_bytes(b)))
        };
        if times & 1 != 0 {
            req.created_after = time();
        }
        if times & 2 != 0 {
            req.created_before = time();
        }
    }
    Some((q, req))
}
