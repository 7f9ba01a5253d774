//! Time-based one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30 s
//! steps, as every authenticator app expects) through `totp-rs`, their
//! `otpauth://` URL and QR code, and recovery codes.
//!
//! A code is matched to its time step, not just accepted: the caller keeps
//! the last step used and passes it back, so that a code (seen over a
//! shoulder, or replayed) is good once. One step of clock skew either way
//! is allowed.

use qrcode::QrCode;
use qrcode::render::svg;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};
use uuid::Uuid;

pub const DIGITS: usize = 6;
pub const STEP: u64 = 30;
/// Steps accepted either side of the current one.
const SKEW: u64 = 1;
/// Recovery codes handed out at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// A new 160-bit secret (RFC 4226's recommended length).
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rng().fill_bytes(&mut s);
    s
}

/// The secret as authenticator apps take it typed in: base32, no padding.
pub fn base32(secret: &[u8]) -> String {
    Secret::Raw(secret.to_vec()).to_encoded().to_string()
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> TOTP {
    // Labels may not hold ':' (it separates issuer and account).
    let clean = |s: &str| s.replace(':', " ");
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP,
        secret.to_vec(),
        Some(clean(issuer)),
        clean(account),
    )
}

/// The `otpauth://totp/…` URL an authenticator app scans.
pub fn otpauth_url(secret: &[u8], issuer: &str, account: &str) -> String {
    totp(secret, issuer, account).get_url()
}

/// `text` as a QR code, an SVG document (black on white, quiet zone kept).
pub fn qr_svg(text: &str) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// The code for the step holding `unix_secs`.
pub fn code_at(secret: &[u8], unix_secs: u64) -> String {
    totp(secret, "", "").generate(unix_secs)
}

/// The time step of `code` if it is right at `unix_secs` (± one step) and
/// later than `after_step`; `None` otherwise. Comparison in constant time.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: u64, after_step: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = unix_secs / STEP;
    let t = totp(secret, "", "");
    (now.saturating_sub(SKEW)..=now + SKEW)
        .filter(|&step| step > after_step)
        .find(|&step| bool::from(t.generate(step * STEP).as_bytes().ct_eq(code.as_bytes())))
}

/// Letters and digits that cannot be misread for one another.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// New recovery codes: `xxxxx-xxxxx`, about 49 bits each.
pub fn recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut s = String::with_capacity(11);
            for i in 0..10 {
                if i == 5 {
                    s.push('-');
                }
                let n = rng.next_u32() as usize % RECOVERY_ALPHABET.len();
                s.push(RECOVERY_ALPHABET[n] as char);
            }
            s
        })
        .collect()
}

/// How a recovery code is stored: SHA-256 of the user id and the code as
/// typed, without dashes, spaces or case.
pub fn recovery_hash(user: Uuid, code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(user.as_bytes());
    for c in code.chars().filter(|c| c.is_ascii_alphanumeric()).take(64) {
        h.update([c.to_ascii_lowercase() as u8]);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vectors() {
        // Appendix B, SHA-1, truncated to 6 digits.
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(code_at(secret, t), code, "t={t}");
        }
    }

    #[test]
    fn a_code_matches_its_step_within_one_step_and_only_after_the_last() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let step = now / STEP;
        let code = code_at(&secret, now);
        assert_eq!(matching_step(&secret, &code, now, 0), Some(step));
        assert_eq!(matching_step(&secret, &code, now + STEP, 0), Some(step));
        assert_eq!(matching_step(&secret, &code, now - STEP, 0), Some(step));
        assert_eq!(matching_step(&secret, &code, now + 2 * STEP, 0), None);
        assert_eq!(matching_step(&secret, &code, now, step), None, "replay");
        assert_eq!(matching_step(&secret, "12345", now, 0), None);
        assert_eq!(matching_step(&secret, "abcdef", now, 0), None);
        assert_eq!(
            matching_step(&secret, &format!(" {code} "), now, 0),
            Some(step)
        );
    }

    #[test]
    fn url_qr_and_recovery_codes() {
        let secret = new_secret();
        let url = otpauth_url(&secret, "roster", "ada@example.com");
        assert!(
            url.starts_with("otpauth://totp/roster:ada%40example.com?"),
            "{url}"
        );
        assert!(url.contains(&format!("secret={}", base32(&secret))));
        let svg = qr_svg(&url).unwrap();
        assert!(svg.contains("<svg") && svg.contains("#000000"));
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        let user = Uuid::now_v7();
        let c = &codes[0];
        assert_eq!(
            recovery_hash(user, c),
            recovery_hash(user, &c.to_uppercase().replace('-', " "))
        );
        assert_ne!(recovery_hash(user, c), recovery_hash(Uuid::now_v7(), c));
    }
}
