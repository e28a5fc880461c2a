//! What each message says and how it looks. The words live in one file per
//! language (`src/locales/<code>.rs`, an exhaustive `match`, so a missing text is a
//! build error); the shapes live in two askama templates (`templates/mail.txt`,
//! `templates/mail.html`), compiled and checked at build time.

use askama::Template;

use crate::domain::Locale;
use crate::ports::OutgoingMail;

/// A message to a user (or the admins), with the facts it needs. It is
/// serialised only sealed, into the outbox (`mail/queue.rs`).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// Confirm a recovery address (sign-up or change); `link` opens the
    /// confirmation page filled in (the code in its fragment).
    ConfirmEmail {
        code: String,
        minutes: u64,
        #[serde(default)]
        link: Option<String>,
    },
    /// The code that starts a password reset; `link` opens the reset page
    /// filled in.
    ResetCode {
        code: String,
        minutes: u64,
        #[serde(default)]
        link: Option<String>,
    },
    /// The password was reset or changed.
    PasswordChanged {
        helpdesk: String,
        by_reset: bool,
        at: String,
    },
    /// The recovery address moved away from this one (to the old address).
    EmailChanged {
        new_masked: String,
        helpdesk: String,
    },
    /// An admin's password was reset or changed (to the configured admin addresses).
    AdminNotice {
        username: String,
        by_reset: bool,
        at: String,
    },
    /// Sign-in was locked after repeated wrong passwords.
    SignInLocked { failures: u32, minutes: u64 },
    /// The code that lifts a sign-in lock.
    UnlockCode { code: String, minutes: u64 },
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ConfirmEmail { .. } => "confirm_email",
            Self::ResetCode { .. } => "reset_code",
            Self::PasswordChanged { .. } => "password_changed",
            Self::EmailChanged { .. } => "email_changed",
            Self::AdminNotice { .. } => "admin_notice",
            Self::SignInLocked { .. } => "signin_locked",
            Self::UnlockCode { .. } => "unlock_code",
        }
    }

    /// The one-time code the message carries, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::ConfirmEmail { code, .. }
            | Self::ResetCode { code, .. }
            | Self::UnlockCode { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The words of one message in one language, in the order they are read.
#[derive(Debug, Clone, Default)]
pub struct Content {
    pub subject: String,
    pub greeting: String,
    /// Paragraphs before the code.
    pub lead: Vec<String>,
    /// The code, shown alone.
    pub code: Option<String>,
    /// Paragraphs after the code.
    pub body: Vec<String>,
    /// A link to act on: its label and address.
    pub action: Option<(String, String)>,
    pub sign_off: String,
}

#[derive(Template)]
#[template(path = "mail.txt", escape = "none")]
struct TextMail<'a> {
    c: &'a Content,
}

#[derive(Template)]
#[template(path = "mail.html")]
struct HtmlMail<'a> {
    c: &'a Content,
    lang: &'a str,
}

/// The words of `message` in `locale`.
pub fn content(message: &Message, locale: Locale) -> Content {
    crate::locales::content_at(locale.index(), message)
}

/// The mail for `message` to `to`, in `locale`: a text part and an HTML part.
pub fn render(message: &Message, locale: Locale, to: &str) -> OutgoingMail {
    let c = content(message, locale);
    let text = TextMail { c: &c }.render().unwrap_or_else(|_| {
        // Rendering into a String only fails on a formatter error; keep the words anyway.
        let mut t = vec![c.greeting.clone()];
        t.extend(c.lead.iter().cloned());
        t.extend(c.code.iter().cloned());
        t.extend(c.body.iter().cloned());
        t.push(c.sign_off.clone());
        t.join("\n\n")
    });
    let html = HtmlMail {
        c: &c,
        lang: locale.as_str(),
    }
    .render()
    .ok();
    OutgoingMail {
        to: to.to_owned(),
        subject: c.subject.clone(),
        text,
        html,
        kind: message.kind(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Message> {
        let help = "https://help.example.com/".to_string();
        vec![
            Message::ConfirmEmail {
                code: "123456".into(),
                minutes: 10,
                link: Some("https://id.example.com/register#u=anna&c=123456".into()),
            },
            Message::ResetCode {
                code: "6543210987".into(),
                minutes: 10,
                link: Some("https://id.example.com/reset#u=anna&c=6543210987".into()),
            },
            Message::PasswordChanged {
                helpdesk: help.clone(),
                by_reset: true,
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::PasswordChanged {
                helpdesk: help.clone(),
                by_reset: false,
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::EmailChanged {
                new_masked: "n***@example.com".into(),
                helpdesk: help,
            },
            Message::AdminNotice {
                username: "root.admin".into(),
                by_reset: true,
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::SignInLocked {
                failures: 10,
                minutes: 15,
            },
            Message::UnlockCode {
                code: "246810".into(),
                minutes: 10,
            },
        ]
    }

    #[test]
    fn every_message_renders_in_every_locale_with_all_its_text() {
        for m in all() {
            let mut subjects = Vec::new();
            for l in Locale::all() {
                let c = content(&m, l);
                let what = format!("{m:?} in {}", l.as_str());
                assert!(!c.subject.trim().is_empty(), "{what}: subject");
                assert!(!c.greeting.trim().is_empty(), "{what}: greeting");
                assert!(
                    !c.lead.is_empty() && c.lead.iter().all(|p| !p.trim().is_empty()),
                    "{what}: lead"
                );
                assert!(
                    c.body.iter().all(|p| !p.trim().is_empty()),
                    "{what}: empty paragraph"
                );
                assert!(!c.sign_off.trim().is_empty(), "{what}: sign-off");
                let mail = render(&m, l, "a@example.com");
                let html = mail.html.clone().unwrap_or_default();
                assert!(
                    html.contains(&format!("lang=\"{}\"", l.as_str())),
                    "{what}: html lang"
                );
                match &m {
                    Message::ConfirmEmail { code, .. }
                    | Message::ResetCode { code, .. }
                    | Message::UnlockCode { code, .. } => {
                        assert!(
                            mail.text.lines().any(|line| line.trim() == code),
                            "{what}: code alone on a line"
                        );
                        assert!(html.contains(code.as_str()), "{what}: code in html");
                        // Once alone on its line, and once more in the page
                        // link (in its fragment) when the message has one.
                        let linked = match &m {
                            Message::ConfirmEmail { link, .. }
                            | Message::ResetCode { link, .. } => link.as_ref().map_or(0, |l| {
                                assert!(
                                    mail.text.contains(l.as_str()),
                                    "{what}: the link in the text"
                                );
                                assert!(
                                    html.replace("&#38;", "&").contains(l.as_str()),
                                    "{what}: the link in the html (`&` escaped)"
                                );
                                usize::from(l.contains(code.as_str()))
                            }),
                            _ => 0,
                        };
                        assert_eq!(
                            mail.text.matches(code.as_str()).count(),
                            1 + linked,
                            "{what}: the code once, and in its link"
                        );
                    }
                    Message::PasswordChanged { helpdesk, .. }
                    | Message::EmailChanged { helpdesk, .. } => {
                        assert!(
                            mail.text.contains(helpdesk.as_str()),
                            "{what}: help desk link"
                        );
                        assert!(
                            html.contains(helpdesk.as_str()),
                            "{what}: help desk link in html"
                        );
                    }
                    Message::AdminNotice { username, .. } => {
                        assert!(mail.text.contains(username.as_str()), "{what}: who");
                    }
                    Message::SignInLocked { minutes, .. } => {
                        assert!(mail.text.contains(&minutes.to_string()), "{what}: how long");
                    }
                }
                assert!(
                    !mail.text.contains("{{") && !html.contains("{{"),
                    "{what}: unrendered template"
                );
                subjects.push(c.subject);
            }
            subjects.sort();
            subjects.dedup();
            assert_eq!(
                subjects.len(),
                Locale::all().count(),
                "{m:?}: each locale has its own subject"
            );
        }
    }

    #[test]
    fn html_escapes_what_it_is_given() {
        let m = Message::AdminNotice {
            username: "<script>x</script>".into(),
            by_reset: false,
            at: "now".into(),
        };
        let mail = render(&m, Locale::default(), "a@example.com");
        assert!(!mail.html.unwrap_or_default().contains("<script>"));
    }
}
