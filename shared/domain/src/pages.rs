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
    // The ways to prove it is you, on /reset (first and second proof) and at
    // sign-in; the code field's label and hint follow the way chosen.
    pub first_way: &'static str,
    pub way_email: &'static str,
    pub way_sms: &'static str,
    pub way_totp: &'static str,
    pub way_recovery: &'static str,
    pub code_sms: &'static str,
    pub code_sms_hint: &'static str,
    pub code_totp: &'static str,
    pub code_totp_hint: &'static str,
    pub code_recovery: &'static str,
    pub code_recovery_hint: &'static str,
    pub gate_title: &'static str,
    pub gate_lead: &'static str,
    pub continue_: &'static str,
    // The second step of a sign-in with an authenticator app.
    pub factor_title: &'static str,
    pub use_recovery: &'static str,
    pub use_otp: &'static str,
    // The recovery methods on /account.
    pub methods_title: &'static str,
    pub methods_lead: &'static str,
    pub reconfirm_prompt: &'static str,
    pub reconfirm: &'static str,
    pub add_totp_title: &'static str,
    pub add_totp: &'static str,
    pub totp_steps: &'static str,
    pub totp_secret: &'static str,
    pub totp_link: &'static str,
    pub add_phone_title: &'static str,
    pub phone: &'static str,
    pub phone_hint: &'static str,
    /// Shown where a phone is added: SMS is the weakest method (ASVS 6.6.1).
    pub phone_weak: &'static str,
    pub add_phone: &'static str,
    pub add_email_title: &'static str,
    pub second_email: &'static str,
    pub add_email: &'static str,
    pub confirm_title: &'static str,
    pub confirm_method: &'static str,
    pub recovery_title: &'static str,
    pub recovery_lead: &'static str,
    pub make_codes: &'static str,
    pub codes_warning: &'static str,
    pub codes_saved: &'static str,
    // Live hints as a new password is typed; `{min}` and `{max}` are filled in.
    pub rule_length: &'static str,
    pub rule_username: &'static str,
    pub rule_email: &'static str,
    /// The messages the script shows, by key ([`PageWords::messages`]).
    pub messages: Messages,
}

/// What the script says in `#status` and `#alert`, by key, and the words of
/// the list of methods it builds.
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
    pub banned: &'static str,
    pub compromised: &'static str,
    // Methods and gates: status, then alerts by the API's problem code
    // (`sms_off`: a phone refused because the deployment sends no SMS).
    pub gate_next: &'static str,
    pub signed_in_second: &'static str,
    pub totp_added: &'static str,
    pub method_code_sent: &'static str,
    pub method_confirmed: &'static str,
    pub method_removed: &'static str,
    pub codes_made: &'static str,
    pub reconfirmed: &'static str,
    pub second_factor_required: &'static str,
    // A wrong or spent code at the second step of a sign-in.
    pub invalid_otp: &'static str,
    pub reauthentication_required: &'static str,
    pub method_required: &'static str,
    pub method_limit: &'static str,
    pub invalid_phone: &'static str,
    pub sms_off: &'static str,
    pub not_found: &'static str,
    // `{n}`: how many more methods a reset needs.
    pub methods_needed: &'static str,
    // The list: each method's kind, state and buttons; `{n}` codes left.
    pub kind_email: &'static str,
    pub kind_phone: &'static str,
    pub kind_totp: &'static str,
    pub kind_recovery_codes: &'static str,
    pub confirmed: &'static str,
    pub pending: &'static str,
    pub codes_left: &'static str,
    pub remove: &'static str,
    pub enter_code: &'static str,
}

impl PageWords {
    /// Every message with its key, for the page's script.
    pub fn messages(&self) -> [(&'static str, &'static str); 56] {
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
            ("banned", m.banned),
            ("compromised", m.compromised),
            ("gate_next", m.gate_next),
            ("signed_in_second", m.signed_in_second),
            ("totp_added", m.totp_added),
            ("method_code_sent", m.method_code_sent),
            ("method_confirmed", m.method_confirmed),
            ("method_removed", m.method_removed),
            ("codes_made", m.codes_made),
            ("reconfirmed", m.reconfirmed),
            ("second_factor_required", m.second_factor_required),
            ("invalid_otp", m.invalid_otp),
            ("reauthentication_required", m.reauthentication_required),
            ("method_required", m.method_required),
            ("method_limit", m.method_limit),
            ("invalid_phone", m.invalid_phone),
            ("sms_off", m.sms_off),
            ("not_found", m.not_found),
            ("methods_needed", m.methods_needed),
            ("kind_email", m.kind_email),
            ("kind_phone", m.kind_phone),
            ("kind_totp", m.kind_totp),
            ("kind_recovery_codes", m.kind_recovery_codes),
            ("confirmed", m.confirmed),
            ("pending", m.pending),
            ("codes_left", m.codes_left),
            ("remove", m.remove),
            ("enter_code", m.enter_code),
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
            for (key, text) in [
                ("methods_needed", w.messages.methods_needed),
                ("codes_left", w.messages.codes_left),
            ] {
                assert!(text.contains("{n}"), "{code:?}: {key} names the number");
            }
        }
    }

    #[test]
    fn every_reason_a_password_is_refused_for_has_words_in_every_language() {
        for code in crate::domain::Locale::all() {
            let keys: Vec<&str> = words(code).messages().iter().map(|(k, _)| *k).collect();
            for reason in crate::domain::WeakReason::ALL {
                let key = serde_json::to_value(reason).expect("a reason serialises");
                let key = key.as_str().expect("as a string");
                assert!(keys.contains(&key), "{code:?}: no words for `{key}`");
            }
        }
    }
}
