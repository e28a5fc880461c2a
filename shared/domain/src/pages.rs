//! What the self-service pages say: the words of one language as a struct
//! ([`PageWords`]) whose fields are the keys of the `[pages]` and `[messages]`
//! sections of the language's file (`src/locales/<code>.txt`), read once. The
//! pages (served by the `web` function) put the labels in the HTML and hand the
//! messages to their script by key ([`PageWords::messages`]): the keys are the
//! API's problem and reason codes, so a page shows the API's verdict in the
//! person's words. `{min}`, `{max}` and `{n}` are filled where the page is made
//! or by the script.

use crate::domain::Locale;
use crate::locales::words;

words! {
/// Every word of the pages in one language.
pub struct PageWords in "pages" {
    // The language's own name, in the switch.
    lang_name,
    // The site's name, in every title.
    site,
    // The language switch's label.
    language,
    home_title,
    home_lead,
    home_reset,
    home_register,
    home_account,
    reset_title,
    reset_lead,
    register_title,
    register_lead,
    account_title,
    account_lead,
    // Field labels.
    username,
    email,
    password,
    new_password,
    current_password,
    code,
    code_hint,
    // Buttons.
    send_code,
    check_code,
    set_password,
    create_account,
    confirm_email,
    sign_in,
    change_password,
    change_email,
    sign_out,
    start_over,
    // Where a finished step leads.
    to_sign_in,
    to_account,
    back_home,
    // The signed-in part of /account.
    signed_in_as,
    change_title,
    email_title,
    // The ways to prove it is you, on /reset (first and second proof) and at
    // sign-in; the code field's label and hint follow the way chosen.
    first_way,
    way_email,
    way_sms,
    way_totp,
    way_recovery,
    code_sms,
    code_sms_hint,
    code_totp,
    code_totp_hint,
    code_recovery,
    code_recovery_hint,
    gate_title,
    gate_lead,
    continue_,
    // The second step of a sign-in with an authenticator app.
    factor_title,
    use_recovery,
    use_otp,
    // The recovery methods on /account.
    methods_title,
    methods_lead,
    reconfirm_prompt,
    reconfirm,
    add_totp_title,
    add_totp,
    totp_steps,
    totp_secret,
    totp_link,
    add_phone_title,
    phone,
    phone_hint,
    /// Shown where a phone is added: SMS is the weakest method (ASVS 6.6.1).
    phone_weak,
    add_phone,
    add_email_title,
    second_email,
    add_email,
    confirm_title,
    confirm_method,
    recovery_title,
    recovery_lead,
    make_codes,
    codes_warning,
    codes_saved,
    // Live hints as a new password is typed; `{min}` and `{max}` are filled in.
    rule_length,
    rule_username,
    rule_email,
}
with {
    /// The messages the script shows, by key ([`PageWords::messages`]).
    messages: Messages,
}
}

words! {
/// What the script says in `#status` and `#alert`, by key, and the words of
/// the list of methods it builds.
pub struct Messages in "messages" {
    // Status: the same words whatever the username (nothing enumerates).
    code_sent,
    password_reset,
    registered,
    email_confirmed,
    signed_in,
    password_changed,
    email_code_sent,
    signed_out,
    // Alerts, by the API's problem code.
    invalid_code,
    invalid_token,
    invalid_credentials,
    weak_password,
    username_taken,
    invalid_username,
    invalid_email,
    invalid_request,
    too_many_requests,
    unavailable,
    // The API could not be reached.
    captcha_failed,
    captcha_unavailable,
    offline,
    // Reasons a new password was refused, by the API's reason code.
    too_short,
    too_long,
    common,
    contains_username,
    contains_email,
    reused,
    invalid_characters,
    banned,
    compromised,
    // Methods and gates: status, then alerts by the API's problem code
    // (`sms_off`: a phone refused because the deployment sends no SMS).
    gate_next,
    signed_in_second,
    totp_added,
    method_code_sent,
    method_confirmed,
    method_removed,
    codes_made,
    reconfirmed,
    second_factor_required,
    // A wrong or spent code at the second step of a sign-in.
    invalid_otp,
    reauthentication_required,
    method_required,
    method_limit,
    invalid_phone,
    sms_off,
    not_found,
    // `{n}`: how many more methods a reset needs.
    methods_needed,
    // The list: each method's kind, state and buttons; `{n}` codes left.
    kind_email,
    kind_phone,
    kind_totp,
    kind_recovery_codes,
    confirmed,
    pending,
    codes_left,
    remove,
    enter_code,
}
}

impl PageWords {
    /// Every message with its key, for the page's script.
    pub fn messages(&self) -> Vec<(&'static str, &'static str)> {
        self.messages.all()
    }
}

/// The page words of `locale`.
pub fn words(locale: Locale) -> &'static PageWords {
    static ALL: std::sync::OnceLock<Vec<PageWords>> = std::sync::OnceLock::new();
    static NONE: std::sync::OnceLock<PageWords> = std::sync::OnceLock::new();
    crate::locales::words_in(&ALL, &NONE, PageWords::read, locale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_has_exactly_the_page_and_message_keys_the_code_reads() {
        for (section, keys) in [
            (PageWords::SECTION, PageWords::KEYS),
            (Messages::SECTION, Messages::KEYS),
        ] {
            let mut code = keys.to_vec();
            code.sort_unstable();
            assert_eq!(crate::locales::english_keys(section), code, "[{section}]");
        }
    }

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
