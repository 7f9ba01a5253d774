//! Mail bodies: a plain-text and an HTML template per kind of mail, built
//! in, each replaceable by a file of the same name in `--mail-templates`.
//! The text template's first line is `Subject: …`. Values are escaped in
//! the HTML bodies (minijinja escapes by the `.html` name) and never in
//! text. Every template is compiled and rendered once at start with sample
//! values, so a bad one stops the server with its file and line rather than
//! failing a mail later.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior, Value};

/// The kinds of mail, each with `<kind>.txt` and `<kind>.html`.
pub const KINDS: [&str; 7] = [
    "verify-email",
    "password-reset",
    "magic-link",
    "email-change",
    "email-changed",
    "password-changed",
    "factor-changed",
];

/// The built-in templates, by file name.
const BUILT_IN: [(&str, &str); 14] = [
    (
        "verify-email.txt",
        include_str!("templates/verify-email.txt"),
    ),
    (
        "verify-email.html",
        include_str!("templates/verify-email.html"),
    ),
    (
        "password-reset.txt",
        include_str!("templates/password-reset.txt"),
    ),
    (
        "password-reset.html",
        include_str!("templates/password-reset.html"),
    ),
    ("magic-link.txt", include_str!("templates/magic-link.txt")),
    ("magic-link.html", include_str!("templates/magic-link.html")),
    (
        "email-change.txt",
        include_str!("templates/email-change.txt"),
    ),
    (
        "email-change.html",
        include_str!("templates/email-change.html"),
    ),
    (
        "email-changed.txt",
        include_str!("templates/email-changed.txt"),
    ),
    (
        "email-changed.html",
        include_str!("templates/email-changed.html"),
    ),
    (
        "password-changed.txt",
        include_str!("templates/password-changed.txt"),
    ),
    (
        "password-changed.html",
        include_str!("templates/password-changed.html"),
    ),
    (
        "factor-changed.txt",
        include_str!("templates/factor-changed.txt"),
    ),
    (
        "factor-changed.html",
        include_str!("templates/factor-changed.html"),
    ),
];

/// What a template may use. Absent values are empty strings.
#[derive(Debug, Clone, Default)]
pub struct MailValues {
    /// The product's name (the token issuer setting).
    pub product: String,
    /// The display name, else the address.
    pub name: String,
    /// The address the mail is about (the new one for an email change).
    pub email: String,
    /// The new address, in the notice to the old one.
    pub new_email: String,
    pub link: String,
    /// How long the link lives, in words ("30 minutes").
    pub expires: String,
    /// What changed, as a sentence without its full stop (`factor-changed`).
    pub change: String,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in templates, with the files of `dir` (if given) in their
    /// place. A file whose name is not a template's, a file that does not
    /// compile, or one that fails with sample values is an error naming it.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in BUILT_IN {
            env.add_template(name, source)
                .map_err(|e| describe(&e, "built-in template"))?;
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("mail templates: cannot read {}: {e}", dir.display()))?;
            for entry in entries {
                let path = entry.map_err(|e| format!("mail templates: {e}"))?.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
                else {
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                if !BUILT_IN.iter().any(|(n, _)| *n == name) {
                    return Err(format!(
                        "mail templates: {} is not a template's name (known: {})",
                        path.display(),
                        BUILT_IN.map(|(n, _)| n).join(", ")
                    ));
                }
                let source = std::fs::read_to_string(&path)
                    .map_err(|e| format!("mail templates: cannot read {}: {e}", path.display()))?;
                env.add_template_owned(name, source)
                    .map_err(|e| describe(&e, &path.display().to_string()))?;
            }
        }
        let templates = Self { env };
        let sample = MailValues {
            product: "roster".into(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            new_email: "ada@example.org".into(),
            link: "https://id.example.com/account/verify?token=sample".into(),
            expires: "30 minutes".into(),
            change: "A passkey named \"Laptop\" was added".into(),
        };
        for kind in KINDS {
            templates.render(kind, &sample).map_err(|e| match dir {
                Some(dir) => format!("{e} (templates from {})", dir.display()),
                None => e,
            })?;
        }
        Ok(templates)
    }

    /// Renders the mail `kind` (one of [`KINDS`]).
    pub fn render(&self, kind: &str, values: &MailValues) -> Result<Rendered, String> {
        let ctx = Value::from_pairs([
            ("product", values.product.as_str()),
            ("name", &values.name),
            ("email", &values.email),
            ("new_email", &values.new_email),
            ("link", &values.link),
            ("expires", &values.expires),
            ("change", &values.change),
        ]);
        let render = |file: String| -> Result<String, String> {
            let t = self
                .env
                .get_template(&file)
                .map_err(|e| describe(&e, &file))?;
            t.render(&ctx).map_err(|e| describe(&e, &file))
        };
        let text = render(format!("{kind}.txt"))?;
        let html = render(format!("{kind}.html"))?;
        let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("mail template {kind}.txt: line 1 must be `Subject: …`"))?;
        // A subject is one line: a value holding a line break must not
        // start new headers.
        let subject = subject.replace(['\r', '\n'], " ");
        Ok(Rendered {
            subject,
            text: body.trim_start_matches('\n').to_owned(),
            html,
        })
    }
}

/// "mail template X, line N: what is wrong".
fn describe(e: &minijinja::Error, file: &str) -> String {
    let name = e.name().unwrap_or(file);
    match e.line() {
        Some(line) => format!("mail template {name}, line {line}: {}", e.kind()),
        None => format!("mail template {name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> MailValues {
        MailValues {
            product: "roster".into(),
            name: "<Ada & Co>".into(),
            email: "ada@example.com".into(),
            link: "https://id.example.com/account/reset?token=abc".into(),
            expires: "30 minutes".into(),
            ..Default::default()
        }
    }

    #[test]
    fn every_built_in_mail_renders_with_its_link_and_escapes_html_only() {
        let t = Templates::load(None).expect("built-ins load");
        for kind in KINDS {
            let m = t.render(kind, &values()).expect(kind);
            assert!(!m.subject.is_empty() && !m.subject.contains('\n'), "{kind}");
            assert!(m.text.contains("<Ada & Co>"), "{kind}: text is not escaped");
            assert!(
                m.html.contains("&lt;Ada &amp; Co&gt;"),
                "{kind}: html is escaped"
            );
            assert!(!m.html.contains("<Ada"), "{kind}");
        }
        let reset = t.render("password-reset", &values()).unwrap();
        assert!(
            reset
                .text
                .contains("https://id.example.com/account/reset?token=abc")
        );
        // In HTML the link is escaped too (minijinja writes `/` as `&#x2f;`,
        // which a mail client reads back as `/`).
        assert!(
            reset.html.contains(
                "href=\"https:&#x2f;&#x2f;id.example.com&#x2f;account&#x2f;reset?token=abc\""
            ),
            "{}",
            reset.html
        );
    }

    /// The templates of a directory holding `file` with `text`.
    fn load_with(dir: &Path, file: &str, text: &str) -> Result<Templates, String> {
        std::fs::write(dir.join(file), text).unwrap();
        Templates::load(Some(dir))
    }

    #[test]
    fn a_bad_template_is_refused_with_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = "<p>fine</p>\n<p>{{ link </p>\n";
        let err = load_with(dir.path(), "password-reset.html", bad)
            .err()
            .expect("refused");
        assert!(err.contains("password-reset.html, line 2"), "{err}");

        let undefined = "{{ no_such_value }}";
        let err = load_with(dir.path(), "password-reset.html", undefined)
            .err()
            .expect("refused");
        assert!(err.contains("password-reset.html"), "{err}");
        assert!(err.contains("undefined"), "{err}");

        std::fs::remove_file(dir.path().join("password-reset.html")).unwrap();
        let err = load_with(dir.path(), "pasword-reset.txt", "Subject: x\n")
            .err()
            .expect("refused");
        assert!(
            err.contains("pasword-reset.txt is not a template's name"),
            "{err}"
        );
    }

    #[test]
    fn an_override_replaces_the_built_in() {
        let dir = tempfile::tempdir().unwrap();
        let text = "Subject: Sign in to {{ product }}\nGo: {{ link }}\n";
        let t = load_with(dir.path(), "magic-link.txt", text).expect("loads");
        let m = t.render("magic-link", &values()).unwrap();
        assert_eq!(m.subject, "Sign in to roster");
        assert_eq!(m.text, "Go: https://id.example.com/account/reset?token=abc");
    }
}
