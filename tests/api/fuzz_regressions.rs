//! The fuzz targets' checks (`tests/fuzz`), replayed in the normal test run
//! on their seeds and on every input that once crashed them
//! (`tests/fuzz/regressions/<target>/`), so the seeds stay valid and old
//! crashes stay fixed without a fuzzer.

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz;

use std::path::PathBuf;

/// Every file of `tests/fuzz/<kind>/<target>/`, with its name.
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fuzz", kind, target]
        .iter()
        .collect();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).expect("a readable input");
            (!name.starts_with('.')).then_some((name, bytes))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn decode_user_seeds_and_regressions() {
    let seeds = inputs("seeds", "decode_user");
    assert!(seeds.len() >= 5, "the seeds are missing");
    // Fixed crashes: `float-roundtrip-*` — serde_json without its
    // `float_roundtrip` feature read some numbers as a neighbour of the float
    // written, so attribute numbers drifted each time a user was saved again.
    let regressions = inputs("regressions", "decode_user");
    assert!(!regressions.is_empty(), "the regression inputs are missing");
    for (name, bytes) in seeds.iter().chain(&regressions) {
        let decoded = fuzz::check_decode_user(bytes);
        // `user-*` seeds are real records, exactly as roster encodes them;
        // the others are damaged ones.
        if name.starts_with("user-") {
            let user = decoded.unwrap_or_else(|| panic!("{name} does not decode"));
            assert_eq!(
                roster::store::encode_user_record(&user),
                *bytes,
                "{name} is not as roster encodes it"
            );
        } else if name.starts_with("bad-") || name.starts_with("truncated") {
            assert!(decoded.is_none(), "{name} decodes");
        }
    }
}

#[test]
fn search_query_seeds_and_regressions() {
    let seeds = inputs("seeds", "search_query");
    assert!(seeds.len() >= 5, "the seeds are missing");
    for (name, bytes) in seeds.iter().chain(&inputs("regressions", "search_query")) {
        let searched = fuzz::check_search_query(bytes);
        assert!(searched.is_some(), "{name} is refused");
    }
    // The seeds search the fixed index as meant.
    let total = |q: &str| fuzz::check_search_query(q.as_bytes()).unwrap().1.total;
    assert_eq!(total("ada lovelace"), 1);
    assert_eq!(total("garcía"), 1, "accents fold");
    assert_eq!(total("lovelase"), 1, "one typo");
    assert_eq!(total("hop"), 1, "as a prefix");
    assert_eq!(total("李小龍"), 1);
    assert_eq!(total("nobody"), 0);
}

#[test]
fn search_query_mirrors_the_api_limits() {
    let at_most = "a".repeat(fuzz::Q_MAX);
    assert!(fuzz::check_search_query(at_most.as_bytes()).is_some());
    let over = "é".repeat(fuzz::Q_MAX + 1);
    assert!(fuzz::check_search_query(over.as_bytes()).is_none());
    let (_, req) = fuzz::search_input(b"\xff\x00\x00\xff\xff\xff").unwrap();
    assert!((1..=fuzz::LIMIT_MAX).contains(&req.limit));
    assert!(req.offset <= fuzz::OFFSET_MAX);
    let (_, req) = fuzz::search_input(b"q").unwrap();
    assert_eq!((req.limit, req.offset), (fuzz::LIMIT_DEFAULT, 0));
}
