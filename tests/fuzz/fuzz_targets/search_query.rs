//! Any query text and filters, within the API's limits, searched in a small
//! in-RAM index; see `roster_fuzz::check_search_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    roster_fuzz::check_search_query(data);
});
