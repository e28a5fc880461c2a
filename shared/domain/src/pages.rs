//! What the self-service pages say: the words of one language as a struct
//! ([`PageWords`]), one constant per file in `src/locales`, so a missing word
//! fails the build like a missing mail text. The pages (served by the `web`
//! function) put the labels in the HTML and hand the messages to their script
//! by key ([`PageWords::messages`]): the keys are the API's problem and reason
//! codes, so a page shows the API's verdict in the person's words.

use crate::domain::Locale;

/// Every word of the pages in one language.
#[derive(Debug)]
pub struct PageWords {
    // The language's own name, in the switch.
    pub lang_name: &'static str,
    // The site's name, in every title.
    pub site: &'static str,
    // The language switch's label.
    pub language: &'static str,
    pub home_title: &'static str,
    pub home_lead: &'static str,
    pub home_reset: &'static str,
    pub home_register: &'static str,
    pub home_account: &'static str,
    pub reset_title: &'static str,
    pub reset_lead: &'static str,
    pub register_title: &'static str,
    pub register_lead: &'static str,
    pub account_title: &'static str,
    pub account_lead: &'static str,
    // Field labels.
    pub username: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub new_password: &'static str,
    pub current_password: &'static str,
    pub code: &'static str,
    pub code_hint: &'static str,
    // Buttons.
    pub send_code: &'static str,
    pub check_code: &'static str,
    pub set_password: &'static str,
    pub create_account: &'static str,
    pub confirm_email: &'static str,
    pub sign_in: &'static str,
    pub change_password: &'static str,
    pub change_email: &'static str,
    pub sign_out: &'static str,
    pub start_over: &'static str,
    // Where a finished step leads.
    pub to_sign_in: &'static str,
    pub to_account: &'static str,
    pub back_home: &'static str,
    // The signed-in part of /account.
    pub signed_in_as: &'static str,
    pub change_title: &'static str,
    pub email_title: &'static str,
    // Live hints as a new password is typed; `{min}` and `{max}` are filled in.
    pub rule_length: &'static str,
    pub rule_username: &'static str,
    pub rule_email: &'static str,
    /// The messages the script shows, by key ([`PageWords::messages`]).
    pub messages: Messages,
}

/// What the script says in `#status` and `#alert`, by key.
#[derive(Debug)]
pub struct Messages {
    // Status: the same words whatever the username (nothing enumerates).
    pub code_sent: &'static str,
    pub password_reset: &'static str,
    pub registered: &'static str,
    pub email_confirmed: &'static str,
    pub signed_in: &'static str,
    pub password_changed: &'static str,
    pub email_code_sent: &'static str,
    pub signed_out: &'static str,
    // Alerts, by the API's problem code.
    pub invalid_code: &'static str,
    pub invalid_token: &'static str,
    pub invalid_credentials: &'static str,
    pub weak_password: &'static str,
    pub username_taken: &'static str,
    pub invalid_username: &'static str,
    pub invalid_email: &'static str,
    pub invalid_request: &'static str,
    pub too_many_requests: &'static str,
    pub unavailable: &'static str,
    // The API could not be reached.
    pub captcha_failed: &'static str,
    pub captcha_unavailable: &'static str,
    pub offline: &'static str,
    // Reasons a new password was refused, by the API's reason code.
    pub too_short: &'static str,
    pub too_long: &'static str,
    pub common: &'static str,
    pub contains_username: &'static str,
    pub contains_email: &'static str,
    pub reused: &'static str,
    pub invalid_characters: &'static str,
}

impl PageWords {
    /// Every message with its key, for the page's script.
    pub fn messages(&self) -> [(&'static str, &'static str); 28] {
        let m = &self.messages;
        [
            ("code_sent", m.code_sent),
            ("password_reset", m.password_reset),
            ("registered", m.registered),
            ("email_confirmed", m.email_confirmed),
            ("signed_in", m.signed_in),
            ("password_changed", m.password_changed),
            ("email_code_sent", m.email_code_sent),
            ("signed_out", m.signed_out),
            ("invalid_code", m.invalid_code),
            ("invalid_token", m.invalid_token),
            ("invalid_credentials", m.invalid_credentials),
            ("weak_password", m.weak_password),
            ("username_taken", m.username_taken),
            ("invalid_username", m.invalid_username),
            ("invalid_email", m.invalid_email),
            ("invalid_request", m.invalid_request),
            ("too_many_requests", m.too_many_requests),
            ("unavailable", m.unavailable),
            ("captcha_failed", m.captcha_failed),
            ("captcha_unavailable", m.captcha_unavailable),
            ("offline", m.offline),
            ("too_short", m.too_short),
            ("too_long", m.too_long),
            ("common", m.common),
            ("contains_username", m.contains_username),
            ("contains_email", m.contains_email),
            ("reused", m.reused),
            ("invalid_characters", m.invalid_characters),
        ]
    }
}

/// The page words of `locale`.
pub fn words(locale: Locale) -> &'static PageWords {
    crate::locales::pages_at(locale.index())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_message_and_no_empty_word() {
        for code in crate::domain::Locale::all() {
            let w = words(code);
            for (key, text) in w.messages() {
                assert!(!text.trim().is_empty(), "{code:?}: {key}");
            }
            assert!(
                w.rule_length.contains("{min}"),
                "{code:?}: rule_length names the minimum"
            );
        }
    }
}
