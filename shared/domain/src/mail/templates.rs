//! What each message says and how it looks. The words are data, one file per
//! language (`src/locales/<code>.txt`, its `[mail]` section read into
//! [`MailWords`], checked complete against English when the crate is built);
//! which words a message says, in which order, with which facts filled into
//! their `{placeholders}`, and the plurals, are here, once for every language
//! ([`content`]). The shapes live in two askama templates (`templates/mail.txt`,
//! `templates/mail.html`), compiled and checked at build time.

use askama::Template;

use crate::domain::Locale;
use crate::locales::file::fill;
use crate::locales::words;
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

words! {
/// Every word of the mail in one language: the `[mail]` section of its file,
/// one field per key. Which message says which, and what fills their
/// placeholders, is [`content`].
pub struct MailWords in "mail" {
    // Every mail; `{n}` minutes.
    greeting,
    sign_off,
    contact_helpdesk,
    not_you,
    admin_check,
    minutes_one,
    minutes_other,
    // A method as the user knows it; `method_labelled` puts its `{method}`
    // word and its masked `{label}` together.
    method_email,
    method_phone,
    method_totp,
    method_recovery_codes,
    method_other,
    method_labelled,
    confirm_email_subject,
    confirm_email_lead,
    confirm_email_body,
    confirm_email_action,
    reset_code_subject,
    reset_code_lead,
    reset_code_body,
    reset_code_not_asked,
    reset_code_action,
    password_changed_subject,
    password_changed_lead_reset,
    password_changed_lead_change,
    password_changed_body,
    email_changed_subject,
    email_changed_lead,
    email_changed_body,
    admin_notice_subject_reset,
    admin_notice_subject_change,
    admin_notice_lead_reset,
    admin_notice_lead_change,
    signin_locked_subject,
    signin_locked_lead,
    signin_locked_unlock,
    signin_locked_guessed,
    unlock_code_subject,
    unlock_code_lead,
    unlock_code_body,
    sms_code_subject,
    /// One text message: within 160 GSM-7 characters with the longest code.
    sms_code_text,
    method_code_subject,
    method_code_lead,
    method_code_body,
    method_added_subject,
    method_added_lead,
    method_confirmed_subject,
    method_confirmed_lead,
    method_removed_subject,
    method_removed_lead,
    recovery_codes_created_subject,
    recovery_codes_created_lead,
    recovery_codes_created_keep,
    recovery_code_used_subject,
    recovery_code_used_lead,
    // How many recovery codes are left: none, one, more (`{n}`).
    codes_left_zero,
    codes_left_one,
    codes_left_other,
    recovery_codes_renew_soon,
    recovery_codes_renew_later,
    admin_methods_subject,
    admin_methods_lead,
    // What changed, in an admin's notice (`change` of the message).
    admin_change_method_added,
    admin_change_method_confirmed,
    admin_change_method_removed,
    admin_change_recovery_codes_created,
    admin_change_recovery_code_used,
}
}

impl MailWords {
    /// A span of minutes, singular for one.
    fn minutes(&self, minutes: u64) -> String {
        let form = if minutes == 1 {
            self.minutes_one
        } else {
            self.minutes_other
        };
        fill(form, &[("n", &minutes.to_string())])
    }

    /// A method as the user knows it: its word, then its (masked) label.
    fn method(&self, method: &str, label: &str) -> String {
        let word = match method {
            "email" => self.method_email,
            "phone" => self.method_phone,
            "totp" => self.method_totp,
            "recovery_codes" => self.method_recovery_codes,
            _ => self.method_other,
        };
        match label.trim() {
            "" => word.to_owned(),
            label => fill(self.method_labelled, &[("method", word), ("label", label)]),
        }
    }

    /// How many recovery codes are left, as a sentence.
    fn codes_left(&self, left: u32) -> String {
        match left {
            0 => self.codes_left_zero.to_owned(),
            1 => self.codes_left_one.to_owned(),
            n => fill(self.codes_left_other, &[("n", &n.to_string())]),
        }
    }
}

/// The mail words of `locale`.
fn mail_words(locale: Locale) -> &'static MailWords {
    static ALL: std::sync::OnceLock<Vec<MailWords>> = std::sync::OnceLock::new();
    static NONE: std::sync::OnceLock<MailWords> = std::sync::OnceLock::new();
    crate::locales::words_in(&ALL, &NONE, MailWords::read, locale)
}

/// The words of `message` in `locale`.
pub fn content(message: &Message, locale: Locale) -> Content {
    let w = mail_words(locale);
    let text = |t: &str| t.to_owned();
    let page = |label: &str, link: &Option<String>| link.clone().map(|l| (label.to_owned(), l));
    let helpdesk = |url: &str| Some((w.contact_helpdesk.to_owned(), url.to_owned()));
    let mail = |subject: String, lead: Vec<String>, body: Vec<String>| Content {
        subject,
        greeting: text(w.greeting),
        lead,
        code: None,
        body,
        action: None,
        sign_off: text(w.sign_off),
    };
    match message {
        Message::ConfirmEmail {
            code,
            minutes,
            link,
        } => Content {
            code: Some(code.clone()),
            action: page(w.confirm_email_action, link),
            ..mail(
                text(w.confirm_email_subject),
                vec![text(w.confirm_email_lead)],
                vec![fill(
                    w.confirm_email_body,
                    &[("minutes", &w.minutes(*minutes))],
                )],
            )
        },
        Message::ResetCode {
            code,
            minutes,
            link,
        } => Content {
            code: Some(code.clone()),
            action: page(w.reset_code_action, link),
            ..mail(
                text(w.reset_code_subject),
                vec![text(w.reset_code_lead)],
                vec![
                    fill(w.reset_code_body, &[("minutes", &w.minutes(*minutes))]),
                    text(w.reset_code_not_asked),
                ],
            )
        },
        Message::PasswordChanged {
            helpdesk: url,
            by_reset,
            at,
        } => Content {
            action: helpdesk(url),
            ..mail(
                text(w.password_changed_subject),
                vec![fill(
                    if *by_reset {
                        w.password_changed_lead_reset
                    } else {
                        w.password_changed_lead_change
                    },
                    &[("at", at)],
                )],
                vec![text(w.password_changed_body)],
            )
        },
        Message::EmailChanged {
            new_masked,
            helpdesk: url,
        } => Content {
            action: helpdesk(url),
            ..mail(
                text(w.email_changed_subject),
                vec![fill(w.email_changed_lead, &[("address", new_masked)])],
                vec![text(w.email_changed_body)],
            )
        },
        Message::AdminNotice {
            username,
            by_reset,
            at,
        } => {
            let (subject, lead) = if *by_reset {
                (w.admin_notice_subject_reset, w.admin_notice_lead_reset)
            } else {
                (w.admin_notice_subject_change, w.admin_notice_lead_change)
            };
            let facts = [("username", username.as_str()), ("at", at.as_str())];
            mail(
                fill(subject, &facts),
                vec![fill(lead, &facts)],
                vec![text(w.admin_check)],
            )
        }
        Message::SignInLocked { failures, minutes } => mail(
            text(w.signin_locked_subject),
            vec![fill(
                w.signin_locked_lead,
                &[
                    ("failures", &failures.to_string()),
                    ("minutes", &w.minutes(*minutes)),
                ],
            )],
            vec![text(w.signin_locked_unlock), text(w.signin_locked_guessed)],
        ),
        Message::UnlockCode { code, minutes } => Content {
            code: Some(code.clone()),
            ..mail(
                text(w.unlock_code_subject),
                vec![text(w.unlock_code_lead)],
                vec![fill(
                    w.unlock_code_body,
                    &[("minutes", &w.minutes(*minutes))],
                )],
            )
        },
        // One text message: its one lead paragraph is the SMS.
        Message::SmsCode { code, minutes } => mail(
            text(w.sms_code_subject),
            vec![fill(
                w.sms_code_text,
                &[("code", code), ("minutes", &w.minutes(*minutes))],
            )],
            Vec::new(),
        ),
        Message::MethodCode { code, minutes } => Content {
            code: Some(code.clone()),
            ..mail(
                text(w.method_code_subject),
                vec![text(w.method_code_lead)],
                vec![fill(
                    w.method_code_body,
                    &[("minutes", &w.minutes(*minutes))],
                )],
            )
        },
        Message::MethodAdded {
            method,
            label,
            helpdesk: url,
            at,
        }
        | Message::MethodConfirmed {
            method,
            label,
            helpdesk: url,
            at,
        }
        | Message::MethodRemoved {
            method,
            label,
            helpdesk: url,
            at,
        } => {
            let (subject, lead) = match message {
                Message::MethodAdded { .. } => (w.method_added_subject, w.method_added_lead),
                Message::MethodConfirmed { .. } => {
                    (w.method_confirmed_subject, w.method_confirmed_lead)
                }
                _ => (w.method_removed_subject, w.method_removed_lead),
            };
            Content {
                action: helpdesk(url),
                ..mail(
                    text(subject),
                    vec![fill(
                        lead,
                        &[("at", at), ("method", &w.method(method, label))],
                    )],
                    vec![text(w.not_you)],
                )
            }
        }
        Message::RecoveryCodesCreated { helpdesk: url, at } => Content {
            action: helpdesk(url),
            ..mail(
                text(w.recovery_codes_created_subject),
                vec![fill(w.recovery_codes_created_lead, &[("at", at)])],
                vec![text(w.recovery_codes_created_keep), text(w.not_you)],
            )
        },
        Message::RecoveryCodeUsed {
            left,
            helpdesk: url,
            at,
        } => Content {
            action: helpdesk(url),
            ..mail(
                text(w.recovery_code_used_subject),
                vec![fill(
                    w.recovery_code_used_lead,
                    &[("at", at), ("left", &w.codes_left(*left))],
                )],
                vec![
                    text(if *left <= FEW_RECOVERY_CODES_LEFT {
                        w.recovery_codes_renew_soon
                    } else {
                        w.recovery_codes_renew_later
                    }),
                    text(w.not_you),
                ],
            )
        },
        Message::AdminMethodsNotice {
            username,
            change,
            method,
            at,
        } => {
            let word = w.method(method, "");
            let change = match change.as_str() {
                "method_added" => fill(w.admin_change_method_added, &[("method", &word)]),
                "method_confirmed" => fill(w.admin_change_method_confirmed, &[("method", &word)]),
                "method_removed" => fill(w.admin_change_method_removed, &[("method", &word)]),
                "recovery_codes_created" => text(w.admin_change_recovery_codes_created),
                "recovery_code_used" => text(w.admin_change_recovery_code_used),
                _ => word,
            };
            mail(
                fill(w.admin_methods_subject, &[("username", username)]),
                vec![fill(
                    w.admin_methods_lead,
                    &[("at", at), ("username", username), ("change", &change)],
                )],
                vec![text(w.admin_check)],
            )
        }
    }
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

    #[test]
    fn english_has_exactly_the_mail_keys_the_code_reads() {
        let mut code = MailWords::KEYS.to_vec();
        code.sort_unstable();
        assert_eq!(crate::locales::english_keys(MailWords::SECTION), code);
    }

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
                assert!(
                    !c.subject.contains(['{', '}']) && !mail.text.contains(['{', '}']),
                    "{what}: a placeholder left unfilled"
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
            ("email", "email address", "E-Mail-Adresse", "adresse e-mail"),
            (
                "phone",
                "phone number",
                "Telefonnummer",
                "numéro de téléphone",
            ),
            (
                "totp",
                "authenticator app",
                "Authenticator-App",
                "application d'authentification",
            ),
            (
                "recovery_codes",
                "recovery codes",
                "Wiederherstellungscodes",
                "codes de récupération",
            ),
        ];
        let en = Locale::parse("en").expect("en");
        let de = Locale::parse("de").expect("de");
        let fr = Locale::parse("fr").expect("fr");
        for (method, english, german, french) in words {
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
                let text = render(&notice, fr, "a@example.com").text;
                assert!(
                    text.contains(&format!("{french} x***9")),
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
