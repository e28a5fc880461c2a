//! What each message says, in each language. Subjects and bodies follow the
//! user's stored locale. A code stands as a group of digits on a line of its own.

use crate::domain::Locale;
use crate::ports::OutgoingMail;

/// A message to a user, with the facts it needs.
#[derive(Clone)]
pub enum Message {
    /// Confirm a new recovery address (sign-up or change).
    ConfirmEmail { code: String, minutes: u64 },
    /// The code that starts a password reset.
    ResetCode { code: String, minutes: u64 },
    /// The password was reset or changed.
    PasswordChanged { helpdesk: String, by_reset: bool },
    /// The recovery address moved away from this one (sent to the old address).
    EmailChanged {
        new_masked: String,
        helpdesk: String,
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
        }
    }
}

/// The mail for `message` to `to`, in `locale`.
pub fn render(message: &Message, locale: Locale, to: &str) -> OutgoingMail {
    let (subject, text) = match (locale, message) {
        (Locale::En, Message::ConfirmEmail { code, minutes }) => (
            "Confirm your recovery email".to_owned(),
            format!("Hello,\n\nuse this code to confirm your recovery email address:\n\n{code}\n\nIt is valid for {minutes} minutes and works once. If you did not ask for it, ignore this message.\n"),
        ),
        (Locale::De, Message::ConfirmEmail { code, minutes }) => (
            "Bestätigen Sie Ihre Wiederherstellungs-E-Mail".to_owned(),
            format!("Guten Tag,\n\nmit diesem Code bestätigen Sie Ihre Wiederherstellungs-E-Mail-Adresse:\n\n{code}\n\nEr gilt {minutes} Minuten und nur einmal. Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht.\n"),
        ),
        (Locale::En, Message::ResetCode { code, minutes }) => (
            "Your password reset code".to_owned(),
            format!("Hello,\n\nuse this code to reset your password:\n\n{code}\n\nIt is valid for {minutes} minutes and works once. Never share it: nobody from support will ask for it. If you did not ask for a reset, ignore this message; your password stays as it is.\n"),
        ),
        (Locale::De, Message::ResetCode { code, minutes }) => (
            "Ihr Code zum Zurücksetzen des Passworts".to_owned(),
            format!("Guten Tag,\n\nmit diesem Code setzen Sie Ihr Passwort zurück:\n\n{code}\n\nEr gilt {minutes} Minuten und nur einmal. Geben Sie ihn nie weiter: Der Support fragt nie danach. Wenn Sie das Zurücksetzen nicht angefordert haben, ignorieren Sie diese Nachricht; Ihr Passwort bleibt unverändert.\n"),
        ),
        (Locale::En, Message::PasswordChanged { helpdesk, by_reset }) => (
            "Your password was changed".to_owned(),
            format!("Hello,\n\nthe password of your account was just {}. Everywhere you were signed in, you have been signed out.\n\nIf this was not you, contact the help desk at once: {helpdesk}\n", if *by_reset { "reset" } else { "changed" }),
        ),
        (Locale::De, Message::PasswordChanged { helpdesk, by_reset }) => (
            "Ihr Passwort wurde geändert".to_owned(),
            format!("Guten Tag,\n\ndas Passwort Ihres Kontos wurde soeben {}. Alle bestehenden Anmeldungen wurden beendet.\n\nWenn Sie das nicht waren, wenden Sie sich sofort an den Helpdesk: {helpdesk}\n", if *by_reset { "zurückgesetzt" } else { "geändert" }),
        ),
        (Locale::En, Message::EmailChanged { new_masked, helpdesk }) => (
            "Your recovery email was changed".to_owned(),
            format!("Hello,\n\nthe recovery email of your account was changed to {new_masked}. Password reset codes no longer come to this address.\n\nIf this was not you, contact the help desk at once: {helpdesk}\n"),
        ),
        (Locale::De, Message::EmailChanged { new_masked, helpdesk }) => (
            "Ihre Wiederherstellungs-E-Mail wurde geändert".to_owned(),
            format!("Guten Tag,\n\ndie Wiederherstellungs-E-Mail Ihres Kontos wurde in {new_masked} geändert. Codes zum Zurücksetzen des Passworts kommen nicht mehr an diese Adresse.\n\nWenn Sie das nicht waren, wenden Sie sich sofort an den Helpdesk: {helpdesk}\n"),
        ),
    };
    OutgoingMail {
        to: to.to_owned(),
        subject,
        text,
        html: None,
        kind: message.kind(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Message> {
        vec![
            Message::ConfirmEmail {
                code: "123456".into(),
                minutes: 10,
            },
            Message::ResetCode {
                code: "654321".into(),
                minutes: 10,
            },
            Message::PasswordChanged {
                helpdesk: "https://help.example.com/".into(),
                by_reset: true,
            },
            Message::EmailChanged {
                new_masked: "n***@example.com".into(),
                helpdesk: "https://help.example.com/".into(),
            },
        ]
    }

    #[test]
    fn every_message_renders_in_every_locale_with_its_facts() {
        for m in all() {
            let mut subjects = Vec::new();
            for l in Locale::ALL {
                let r = render(&m, l, "a@example.com");
                assert!(!r.subject.is_empty() && !r.text.is_empty());
                subjects.push(r.subject.clone());
                match &m {
                    Message::ConfirmEmail { code, .. } | Message::ResetCode { code, .. } => {
                        assert!(
                            r.text.lines().any(|line| line.trim() == code),
                            "code on its own line"
                        );
                    }
                    Message::PasswordChanged { helpdesk, .. }
                    | Message::EmailChanged { helpdesk, .. } => {
                        assert!(r.text.contains(helpdesk.as_str()));
                    }
                }
            }
            subjects.dedup();
            assert_eq!(
                subjects.len(),
                Locale::ALL.len(),
                "each locale has its own subject"
            );
        }
    }
}
