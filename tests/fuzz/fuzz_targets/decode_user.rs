//! Any bytes as a stored user record; see `roster_fuzz::check_decode_user`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    roster_fuzz::check_decode_user(data);
});
