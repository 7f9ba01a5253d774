//! JSON for the responses that carry users (a user, a page of them, a page
//! of search hits), written directly rather than through `serde_json`.
//!
//! serde_json escapes a string one byte at a time, through a few bounds
//! checks per byte: on a page of twenty hits (about 8 KiB of strings) that
//! was an eighth of a two-word search's instructions. Here a string is
//! scanned eight bytes at a time and copied in runs: under callgrind a
//! two-word search at 100k users went from 691k to 623k instructions per
//! request (−10 %), which is why this writer is kept for these three answers
//! and GraphQL's (which carry the same users); every other response is
//! plain serde. The output is byte for
//! byte what serde_json writes for the same value (the types keep their
//! `Serialize` derives, for the OpenAPI schemas and for the tests that
//! compare the two); what has no hot string (numbers, attribute maps,
//! facets) is still written by serde_json.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

/// A value that writes itself as JSON, as serde_json would write it.
pub(crate) trait WriteJson {
    fn write_json(&self, out: &mut Out);
}

impl WriteJson for str {
    fn write_json(&self, out: &mut Out) {
        out.str(self);
    }
}

/// A JSON text being written.
pub(crate) struct Out(Vec<u8>);

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `w` is one JSON escapes: a control
/// character (below 0x20), `"` or `\`. Exact (the usual has-zero-byte
/// tests, which a byte with its high bit set never trips).
fn any_to_escape(w: u64) -> bool {
    let below_space = w.wrapping_sub(LO * 0x20);
    let quote = w ^ (LO * u64::from(b'"'));
    let backslash = w ^ (LO * u64::from(b'\\'));
    let zero_in = |x: u64| x.wrapping_sub(LO) & !x;
    ((below_space & !w) | zero_in(quote) | zero_in(backslash)) & HI != 0
}

/// Whether JSON escapes any byte of `bytes`, eight at a time.
fn any_to_escape_in(bytes: &[u8]) -> bool {
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("eight bytes"));
    let mut words = bytes.chunks_exact(8);
    if words.any(|w| any_to_escape(word(w))) {
        return true;
    }
    let rest = words.remainder();
    if rest.is_empty() {
        false
    } else if bytes.len() >= 8 {
        // The last eight bytes: those before `rest` are known plain.
        any_to_escape(word(&bytes[bytes.len() - 8..]))
    } else {
        // Padded with spaces, which are plain.
        let mut padded = [b' '; 8];
        padded[..rest.len()].copy_from_slice(rest);
        any_to_escape(u64::from_le_bytes(padded))
    }
}

/// How serde_json escapes `b`, if it does.
fn escape_of(b: u8) -> Option<&'static [u8]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // `\u00XX` for the control characters without a short form.
    static CONTROL: [[u8; 6]; 32] = {
        let mut table = [[0u8; 6]; 32];
        let mut c = 0;
        while c < 32 {
            table[c] = [b'\\', b'u', b'0', b'0', HEX[c >> 4], HEX[c & 0xf]];
            c += 1;
        }
        table
    };
    Some(match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        0x08 => b"\\b",
        0x0c => b"\\f",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0..0x20 => &CONTROL[usize::from(b)],
        _ => return None,
    })
}

impl Out {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Appends JSON text as it is: punctuation and keys (no escapes). Returns
    /// the writer, so that a key and its value read as one line.
    pub fn raw(&mut self, json: &str) -> &mut Self {
        self.0.extend_from_slice(json.as_bytes());
        self
    }

    /// Appends `s` as a JSON string.
    pub fn str(&mut self, s: &str) {
        let bytes = s.as_bytes();
        self.0.reserve(bytes.len() + 2);
        self.0.push(b'"');
        if any_to_escape_in(bytes) {
            self.escaped(bytes);
        } else {
            self.0.extend_from_slice(bytes);
        }
        self.0.push(b'"');
    }

    /// `bytes` escaped, copied in runs between the bytes escaped.
    #[cold]
    fn escaped(&mut self, bytes: &[u8]) {
        let mut run = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if let Some(escaped) = escape_of(b) {
                self.0.extend_from_slice(&bytes[run..i]);
                self.0.extend_from_slice(escaped);
                run = i + 1;
            }
        }
        self.0.extend_from_slice(&bytes[run..]);
    }

    /// A string, or `null`.
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => {
                self.raw("null");
            }
        }
    }

    pub fn bool(&mut self, b: bool) {
        self.raw(if b { "true" } else { "false" });
    }

    pub fn u64(&mut self, n: u64) {
        self.raw(itoa::Buffer::new().format(n));
    }

    /// A number as serde_json writes an `f64`; `null` when it is not
    /// finite (as a GraphQL `Float` is).
    pub fn f64(&mut self, x: f64) {
        if x.is_finite() {
            self.serde(&x);
        } else {
            self.raw("null");
        }
    }

    /// An id in its hyphenated lower-case form, as a string.
    pub fn uuid(&mut self, id: &uuid::Uuid) {
        let mut buf = uuid::Uuid::encode_buffer();
        self.raw("\"")
            .raw(id.hyphenated().encode_lower(&mut buf))
            .raw("\"");
    }

    /// A time as an RFC 3339 string in UTC; `""` for one that format cannot
    /// write (outside years 0 to 9999), as the REST answers do.
    pub fn time(&mut self, t: time::OffsetDateTime) {
        let start = self.0.len();
        self.0.push(b'"');
        let utc = t.to_offset(time::UtcOffset::UTC);
        if utc.format_into(&mut self.0, &Rfc3339).is_err() {
            self.0.truncate(start + 1);
        }
        self.0.push(b'"');
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Appends what serde_json writes for `value`.
    pub fn serde<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Err(e) = serde_json::to_writer(&mut self.0, value) {
            // Only a map with non-string keys fails, and none is written here.
            tracing::error!(error = %e, "a value did not serialise");
            self.raw("null");
        }
    }

    /// Appends `items` as a JSON array.
    pub fn array<'a, T: WriteJson + ?Sized + 'a>(
        &mut self,
        items: impl IntoIterator<Item = &'a T>,
    ) {
        self.raw("[");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            item.write_json(self);
        }
        self.raw("]");
    }

    pub fn into_string(self) -> String {
        String::from_utf8(self.0).expect("JSON is UTF-8")
    }
}

/// A 200 response of `value` as JSON, written into a buffer of about
/// `size_hint` bytes (a page of twenty users, ~10 KiB, would otherwise be
/// copied several times as its buffer doubles).
pub(crate) fn response<T: WriteJson>(value: &T, size_hint: usize) -> Response {
    let mut out = Out::with_capacity(size_hint);
    value.write_json(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        out.0,
    )
        .into_response()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What `value` writes, and what serde_json writes for it.
    pub(crate) fn both<T: WriteJson + Serialize>(value: &T) -> (String, String) {
        let mut out = Out::with_capacity(0);
        value.write_json(&mut out);
        (
            out.into_string(),
            serde_json::to_string(value).expect("serialises"),
        )
    }

    fn ours(s: &str) -> String {
        let mut out = Out::with_capacity(0);
        out.str(s);
        out.into_string()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut cases: Vec<String> = (0u32..0x80)
            .chain([0xe9, 0x2028, 0x1f600])
            .filter_map(char::from_u32)
            .map(String::from)
            .collect();
        // Every character at every offset of a word and across words.
        for c in ['"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', '😀'] {
            for at in 0..20 {
                let mut s: String = "abcdefghijklmnopqrstuvw".chars().take(at).collect();
                s.push(c);
                s.push_str("xyz0123456789");
                cases.push(s);
                // Last, in a string of every length (the tail of a word).
                cases.push(format!("{}{c}", "a".repeat(at)));
            }
        }
        cases.push(String::new());
        cases.push("\"\"\\\\\n\n\t\u{0}".repeat(5));
        cases.push("Zoë \"Ada\" <ada@example.com>\r\n".repeat(3));
        for s in &cases {
            assert_eq!(ours(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn only_bytes_json_escapes_are_flagged() {
        for b in 0..=255u8 {
            let flagged = escape_of(b).is_some();
            assert_eq!(flagged, b < 0x20 || b == b'"' || b == b'\\', "{b:#x}");
            // At every position of a word of otherwise plain bytes.
            for at in 0..8 {
                let mut word = [b'a'; 8];
                word[at] = b;
                assert_eq!(
                    any_to_escape(u64::from_le_bytes(word)),
                    flagged,
                    "{b:#x} at {at}"
                );
            }
        }
        // Bytes just around the escaped ones, side by side.
        let plain = u64::from_le_bytes([0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff]);
        assert!(!any_to_escape(plain));
    }
}
