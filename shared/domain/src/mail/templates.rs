//! What each message says and how it looks. The words live in one file per
//! language (`src/locales/<code>.rs`, an exhaustive `match`, so a missing text is a
//! build error); the shapes live in two askama templates (`templates/mail.txt`,
//! `templates/mail.html`), compiled and checked at build time.

use askama::Template;

use crate::domain::Locale;
use crate::ports::{OutgoingMail, OutgoingSms};

/// A message to a user (or the admins), with the facts it needs: a mail, or
/// for [`Message::SmsCode`] a text message. It is serialised only sealed, into
/// the outbox (`mail/queue.rs`); new variants only, so what is queued during a
/// deployment still opens.
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
    /// A one-time code by text message (`to` is an E.164 number): one short
    /// text, never a mail (see [`render_sms`]).
    SmsCode { code: String, minutes: u64 },
    /// Confirm an address being added as a further recovery email (to that
    /// address): the code alone, no link.
    MethodCode { code: String, minutes: u64 },
    /// A recovery method was added (to the primary email). `method` is the
    /// API's type (`email`, `phone`, `totp`, `recovery_codes`), shown as a word
    /// of the message's language; `label` is masked by the caller.
    MethodAdded {
        method: String,
        label: String,
        helpdesk: String,
        at: String,
    },
    /// A recovery method was confirmed and can now be used.
    MethodConfirmed {
        method: String,
        label: String,
        helpdesk: String,
        at: String,
    },
    /// A recovery method was removed.
    MethodRemoved {
        method: String,
        label: String,
        helpdesk: String,
        at: String,
    },
    /// A new set of recovery codes was made; the earlier set no longer works.
    RecoveryCodesCreated { helpdesk: String, at: String },
    /// One recovery code was used; `left` remain.
    RecoveryCodeUsed {
        left: u32,
        helpdesk: String,
        at: String,
    },
    /// An admin's recovery methods changed (to the configured admin
    /// addresses); `change` is the kind of the user's own notice
    /// (`method_added`, `method_confirmed`, `method_removed`,
    /// `recovery_codes_created`, `recovery_code_used`).
    AdminMethodsNotice {
        username: String,
        change: String,
        method: String,
        at: String,
    },
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
            Self::SmsCode { .. } => "sms_code",
            Self::MethodCode { .. } => "method_code",
            Self::MethodAdded { .. } => "method_added",
            Self::MethodConfirmed { .. } => "method_confirmed",
            Self::MethodRemoved { .. } => "method_removed",
            Self::RecoveryCodesCreated { .. } => "recovery_codes_created",
            Self::RecoveryCodeUsed { .. } => "recovery_code_used",
            Self::AdminMethodsNotice { .. } => "admin_methods_notice",
        }
    }

    /// The one-time code the message carries, if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::ConfirmEmail { code, .. }
            | Self::ResetCode { code, .. }
            | Self::UnlockCode { code, .. }
            | Self::SmsCode { code, .. }
            | Self::MethodCode { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether it goes out as a text message rather than a mail.
    pub fn is_sms(&self) -> bool {
        matches!(self, Self::SmsCode { .. })
    }
}

/// At or below this many recovery codes left, the notice that one was used
/// urges the user to make a new set.
pub const FEW_RECOVERY_CODES_LEFT: u32 = 3;

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

/// The text message for `message` to `to`, in `locale`, when it is one
/// ([`Message::is_sms`]): its words' one lead paragraph, which each language
/// keeps within one SMS (160 GSM-7 characters).
pub fn render_sms(message: &Message, locale: Locale, to: &str) -> Option<OutgoingSms> {
    if !message.is_sms() {
        return None;
    }
    let c = content(message, locale);
    Some(OutgoingSms {
        to: to.to_owned(),
        text: c.lead.join(" "),
        kind: message.kind(),
    })
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
                helpdesk: help.clone(),
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
            Message::SmsCode {
                code: "8642097531".into(),
                minutes: 10,
            },
            Message::MethodCode {
                code: "135790".into(),
                minutes: 10,
            },
            Message::MethodAdded {
                method: "phone".into(),
                label: "+49 *** *** **78".into(),
                helpdesk: help.clone(),
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::MethodConfirmed {
                method: "email".into(),
                label: "b***@example.org".into(),
                helpdesk: help.clone(),
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::MethodRemoved {
                method: "totp".into(),
                label: String::new(),
                helpdesk: help.clone(),
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::RecoveryCodesCreated {
                helpdesk: help.clone(),
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::RecoveryCodeUsed {
                left: 7,
                helpdesk: help.clone(),
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::RecoveryCodeUsed {
                left: 1,
                helpdesk: help,
                at: "2026-11-24 10:00 UTC".into(),
            },
            Message::AdminMethodsNotice {
                username: "root.admin".into(),
                change: "method_removed".into(),
                method: "phone".into(),
                at: "2026-11-24 10:00 UTC".into(),
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
                    | Message::UnlockCode { code, .. }
                    | Message::MethodCode { code, .. } => {
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
                    | Message::EmailChanged { helpdesk, .. }
                    | Message::MethodAdded { helpdesk, .. }
                    | Message::MethodConfirmed { helpdesk, .. }
                    | Message::MethodRemoved { helpdesk, .. }
                    | Message::RecoveryCodesCreated { helpdesk, .. }
                    | Message::RecoveryCodeUsed { helpdesk, .. } => {
                        assert!(
                            mail.text.contains(helpdesk.as_str()),
                            "{what}: help desk link"
                        );
                        assert!(
                            html.contains(helpdesk.as_str()),
                            "{what}: help desk link in html"
                        );
                    }
                    Message::AdminNotice { username, .. }
                    | Message::AdminMethodsNotice { username, .. } => {
                        assert!(mail.text.contains(username.as_str()), "{what}: who");
                    }
                    Message::SmsCode { code, .. } => {
                        let sms = render_sms(&m, l, "+4915112345678").expect("an SMS");
                        assert_eq!(sms.text.matches(code.as_str()).count(), 1, "{what}");
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

    /// The length of `text` in GSM 03.38 septets (an extension character is
    /// two), or `None` when it has a character GSM-7 cannot carry (which would
    /// send the message as UCS-2, at 70 characters a part).
    fn gsm7_len(text: &str) -> Option<usize> {
        const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                             ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
        const EXTENSION: &str = "^{}\\[~]|€";
        text.chars().try_fold(0, |n, c| {
            if BASIC.contains(c) {
                Some(n + 1)
            } else if EXTENSION.contains(c) {
                Some(n + 2)
            } else {
                None
            }
        })
    }

    #[test]
    fn an_sms_code_is_one_gsm7_message_in_every_locale_with_the_code_once() {
        assert_eq!(gsm7_len("Abc ä €"), Some(8));
        assert_eq!(
            gsm7_len("a\u{2019}b"),
            None,
            "a typographic apostrophe is not GSM-7"
        );
        // The longest code and the longest wording (10 minutes), and 1 minute.
        for minutes in [1, 10] {
            let m = Message::SmsCode {
                code: "0123456789".into(),
                minutes,
            };
            assert_eq!(m.kind(), "sms_code");
            assert_eq!(m.code(), Some("0123456789"));
            assert!(m.is_sms());
            for l in Locale::all() {
                let sms = render_sms(&m, l, "+4915112345678").expect("an SMS");
                let what = format!("{} ({minutes} min): {:?}", l.as_str(), sms.text);
                assert_eq!(sms.to, "+4915112345678");
                assert_eq!(sms.kind, "sms_code");
                let len = gsm7_len(&sms.text);
                assert!(len.is_some_and(|n| n <= 160), "{what}: {len:?} septets");
                assert_eq!(sms.text.matches("0123456789").count(), 1, "{what}");
                assert!(
                    sms.text.contains(&format!("{minutes} ")),
                    "{what}: how long"
                );
                assert!(
                    !sms.text.contains("{{") && !sms.text.contains('\n'),
                    "{what}"
                );
                assert_eq!(format!("{sms:?}"), "OutgoingSms { kind: \"sms_code\", .. }");
            }
        }
        let mail = Message::ResetCode {
            code: "123456".into(),
            minutes: 10,
            link: None,
        };
        assert!(!mail.is_sms());
        assert!(render_sms(&mail, Locale::default(), "+4915112345678").is_none());
    }

    #[test]
    fn a_method_notice_names_the_method_in_the_user_s_language_with_its_label() {
        let words = [
            ("email", "email address", "E-Mail-Adresse"),
            ("phone", "phone number", "Telefonnummer"),
            ("totp", "authenticator app", "Authenticator-App"),
            (
                "recovery_codes",
                "recovery codes",
                "Wiederherstellungscodes",
            ),
        ];
        let en = Locale::parse("en").expect("en");
        let de = Locale::parse("de").expect("de");
        for (method, english, german) in words {
            for notice in [
                Message::MethodAdded {
                    method: method.into(),
                    label: "x***9".into(),
                    helpdesk: "https://help.example.com/".into(),
                    at: "2026-11-24 10:00 UTC".into(),
                },
                Message::MethodConfirmed {
                    method: method.into(),
                    label: "x***9".into(),
                    helpdesk: "https://help.example.com/".into(),
                    at: "2026-11-24 10:00 UTC".into(),
                },
                Message::MethodRemoved {
                    method: method.into(),
                    label: "x***9".into(),
                    helpdesk: "https://help.example.com/".into(),
                    at: "2026-11-24 10:00 UTC".into(),
                },
            ] {
                let text = render(&notice, en, "a@example.com").text;
                assert!(
                    text.contains(&format!("{english} x***9")),
                    "{notice:?}: {text}"
                );
                assert!(text.contains("2026-11-24 10:00 UTC"), "{notice:?}: when");
                let text = render(&notice, de, "a@example.com").text;
                assert!(
                    text.contains(&format!("{german} x***9")),
                    "{notice:?}: {text}"
                );
            }
        }
        // Every change an admin notice can tell of reads differently.
        for l in Locale::all() {
            let mut leads: Vec<String> = [
                "method_added",
                "method_confirmed",
                "method_removed",
                "recovery_codes_created",
                "recovery_code_used",
            ]
            .into_iter()
            .map(|change| {
                let m = Message::AdminMethodsNotice {
                    username: "root.admin".into(),
                    change: change.into(),
                    method: "totp".into(),
                    at: "2026-11-24 10:00 UTC".into(),
                };
                content(&m, l).lead.join(" ")
            })
            .collect();
            leads.sort();
            leads.dedup();
            assert_eq!(leads.len(), 5, "{}", l.as_str());
        }
    }

    #[test]
    fn one_minute_reads_in_the_singular_in_every_message_and_locale() {
        let one = [
            Message::ConfirmEmail {
                code: "123456".into(),
                minutes: 1,
                link: None,
            },
            Message::ResetCode {
                code: "123456".into(),
                minutes: 1,
                link: None,
            },
            Message::UnlockCode {
                code: "123456".into(),
                minutes: 1,
            },
            Message::SignInLocked {
                failures: 10,
                minutes: 1,
            },
            Message::MethodCode {
                code: "123456".into(),
                minutes: 1,
            },
        ];
        for m in &one {
            for l in Locale::all() {
                let text = render(m, l, "a@example.com").text;
                for wrong in ["1 minutes", "1 Minuten"] {
                    assert!(!text.contains(wrong), "{m:?} in {l:?}: {text}");
                }
                assert!(
                    text.contains("1 minute") || text.contains("1 Minute"),
                    "{m:?} in {l:?}: {text}"
                );
            }
        }
    }

    #[test]
    fn a_used_recovery_code_tells_how_many_are_left_and_urges_a_new_set_when_few_are() {
        for l in Locale::all() {
            let used = |left| {
                content(
                    &Message::RecoveryCodeUsed {
                        left,
                        helpdesk: "https://help.example.com/".into(),
                        at: "2026-11-24 10:00 UTC".into(),
                    },
                    l,
                )
            };
            let what = l.as_str();
            assert!(used(7).lead.join(" ").contains('7'), "{what}: how many");
            let (many, few, none) = (used(7), used(FEW_RECOVERY_CODES_LEFT), used(0));
            assert_ne!(
                few.body.first(),
                many.body.first(),
                "{what}: urged when few"
            );
            assert_eq!(few.body.first(), none.body.first(), "{what}: and when none");
            assert_ne!(few.lead, none.lead, "{what}: none left reads as none");
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
