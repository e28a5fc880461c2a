//! English.

use crate::mail::{Content, Message, FEW_RECOVERY_CODES_LEFT};
use crate::pages::PageWords;

pub fn content(m: &Message) -> Content {
    let greeting = "Hello,".to_string();
    let sign_off = "Your account team".to_string();
    match m {
        Message::ConfirmEmail {
            code,
            minutes,
            link,
        } => Content {
            subject: "Confirm your recovery email".into(),
            greeting,
            lead: vec!["Use this code to confirm your recovery email address:".into()],
            code: Some(code.clone()),
            body: vec![format!(
                "It is valid for {} and works once. If you did not ask for it, ignore this message.", minutes_of(*minutes)
            )],
            action: link.clone().map(|l| ("Open the confirmation page".to_string(), l)),
            sign_off,
        },
        Message::ResetCode {
            code,
            minutes,
            link,
        } => Content {
            subject: "Your password reset code".into(),
            greeting,
            lead: vec!["Use this code to reset your password:".into()],
            code: Some(code.clone()),
            body: vec![
                format!("It is valid for {} and works once. Never share it: nobody from support will ever ask for it.", minutes_of(*minutes)),
                "If you did not ask for a reset, ignore this message; your password stays as it is.".into(),
            ],
            action: link.clone().map(|l| ("Open the reset page".to_string(), l)),
            sign_off,
        },
        Message::PasswordChanged { helpdesk, by_reset, at } => Content {
            subject: "Your password was changed".into(),
            greeting,
            lead: vec![format!(
                "The password of your account was {} on {at}. You have been signed out everywhere.",
                if *by_reset { "reset" } else { "changed" }
            )],
            code: None,
            body: vec!["If this was not you, contact the help desk at once: someone may have access to your email.".into()],
            action: Some(("Contact the help desk".into(), helpdesk.clone())),
            sign_off,
        },
        Message::EmailChanged { new_masked, helpdesk } => Content {
            subject: "Your recovery email was changed".into(),
            greeting,
            lead: vec![format!(
                "The recovery email of your account was changed to {new_masked}. Password reset codes no longer come to this address."
            )],
            code: None,
            body: vec!["If this was not you, contact the help desk at once.".into()],
            action: Some(("Contact the help desk".into(), helpdesk.clone())),
            sign_off,
        },
        Message::AdminNotice { username, by_reset, at } => Content {
            subject: format!("Administrator password {}: {username}", if *by_reset { "reset" } else { "changed" }),
            greeting,
            lead: vec![format!(
                "The password of administrator {username} was {} on {at}.",
                if *by_reset { "reset through self-service" } else { "changed" }
            )],
            code: None,
            body: vec!["If this was not expected, check the account's audit events and contact the administrator.".into()],
            action: None,
            sign_off,
        },
            Message::SignInLocked { failures, minutes } => Content {
            subject: "Sign-in to your account is locked".into(),
            greeting,
            lead: vec![format!(
                "After {failures} wrong passwords, sign-in to your account is locked. It unlocks by itself in {}.", minutes_of(*minutes)
            )],
            code: None,
            body: vec![
                "To unlock it now and keep your password, ask for an unlock code in the app.".into(),
                "If these attempts were not yours, someone may be guessing your password: consider resetting it.".into(),
            ],
            action: None,
            sign_off,
        },
        Message::UnlockCode { code, minutes } => Content {
            subject: "Your unlock code".into(),
            greeting,
            lead: vec!["Use this code to unlock sign-in to your account; your password stays as it is:".into()],
            code: Some(code.clone()),
            body: vec![format!("It is valid for {} and works once. Never share it.", minutes_of(*minutes))],
            action: None,
            sign_off,
        },
        // One text message: at most 160 GSM-7 characters with the longest code.
        Message::SmsCode { code, minutes } => Content {
            subject: "Your account code".into(),
            greeting,
            lead: vec![format!(
                "Your account code is {code}. It is valid for {}. Do not share it: nobody from support will ask for it.",
                minutes_of(*minutes)
            )],
            code: None,
            body: Vec::new(),
            action: None,
            sign_off,
        },
        Message::MethodCode { code, minutes } => Content {
            subject: "Confirm your additional recovery email".into(),
            greeting,
            lead: vec!["Use this code to confirm this address as an additional recovery email of your account:".into()],
            code: Some(code.clone()),
            body: vec![format!(
                "It is valid for {} and works once. If you did not ask for it, ignore this message: the address will not be added.",
                minutes_of(*minutes)
            )],
            action: None,
            sign_off,
        },
        Message::MethodAdded { method, label, helpdesk, at } => Content {
            subject: "A recovery method was added to your account".into(),
            greeting,
            lead: vec![format!(
                "On {at}, a recovery method was added to your account: {}.",
                method_of(method, label)
            )],
            code: None,
            body: vec![NOT_YOU.into()],
            action: Some(("Contact the help desk".into(), helpdesk.clone())),
            sign_off,
        },
        Message::MethodConfirmed { method, label, helpdesk, at } => Content {
            subject: "A recovery method of your account was confirmed".into(),
            greeting,
            lead: vec![format!(
                "On {at}, a recovery method of your account was confirmed: {}. From now on it can be used to prove that it is you.",
                method_of(method, label)
            )],
            code: None,
            body: vec![NOT_YOU.into()],
            action: Some(("Contact the help desk".into(), helpdesk.clone())),
            sign_off,
        },
        Message::MethodRemoved { method, label, helpdesk, at } => Content {
            subject: "A recovery method was removed from your account".into(),
            greeting,
            lead: vec![format!(
                "On {at}, a recovery method was removed from your account: {}. It can no longer be used to prove that it is you.",
                method_of(method, label)
            )],
            code: None,
            body: vec![NOT_YOU.into()],
            action: Some(("Contact the help desk".into(), helpdesk.clone())),
            sign_off,
        },
        Message::RecoveryCodesCreated { helpdesk, at } => Content {
            subject: "New recovery codes were made for your account".into(),
            greeting,
            lead: vec![format!(
                "On {at}, a new set of recovery codes was made for your account. The codes of any earlier set no longer work."
            )],
            code: None,
            body: vec![
                "Keep the new codes somewhere safe; each works once.".into(),
                NOT_YOU.into(),
            ],
            action: Some(("Contact the help desk".into(), helpdesk.clone())),
            sign_off,
        },
        Message::RecoveryCodeUsed { left, helpdesk, at } => Content {
            subject: "A recovery code of your account was used".into(),
            greeting,
            lead: vec![format!(
                "On {at}, one of your recovery codes was used. {}",
                match left {
                    0 => "None are left.".to_string(),
                    1 => "1 code is left.".to_string(),
                    n => format!("{n} codes are left."),
                }
            )],
            code: None,
            body: vec![
                if *left <= FEW_RECOVERY_CODES_LEFT {
                    "Make a new set of recovery codes in your account soon, before they run out.".into()
                } else {
                    "When only a few are left, make a new set in your account.".into()
                },
                NOT_YOU.into(),
            ],
            action: Some(("Contact the help desk".into(), helpdesk.clone())),
            sign_off,
        },
        Message::AdminMethodsNotice { username, change, method, at } => Content {
            subject: format!("Administrator recovery methods changed: {username}"),
            greeting,
            lead: vec![format!(
                "On {at}, the recovery methods of administrator {username} changed: {}.",
                match change.as_str() {
                    "method_added" => format!("a recovery method was added ({})", method_of(method, "")),
                    "method_confirmed" => format!("a recovery method was confirmed ({})", method_of(method, "")),
                    "method_removed" => format!("a recovery method was removed ({})", method_of(method, "")),
                    "recovery_codes_created" => "a new set of recovery codes was made".to_string(),
                    "recovery_code_used" => "a recovery code was used".to_string(),
                    _ => method_of(method, ""),
                }
            )],
            code: None,
            body: vec!["If this was not expected, check the account's audit events and contact the administrator.".into()],
            action: None,
            sign_off,
        },
    }
}

const NOT_YOU: &str =
    "If this was not you, contact the help desk at once: someone may have access to your account.";

fn minutes_of(minutes: u64) -> String {
    match minutes {
        1 => "1 minute".into(),
        n => format!("{n} minutes"),
    }
}

/// A method as the user knows it: its word, then its (masked) label.
fn method_of(method: &str, label: &str) -> String {
    let word = match method {
        "email" => "email address",
        "phone" => "phone number",
        "totp" => "authenticator app",
        "recovery_codes" => "recovery codes",
        _ => "recovery method",
    };
    match label.trim() {
        "" => word.to_string(),
        label => format!("{word} {label}"),
    }
}

pub const PAGES: PageWords = PageWords {
    lang_name: "English",
    site: "Account help",
    language: "Language",
    home_title: "What do you need?",
    home_lead: "Everything here works without calling anyone.",
    home_reset: "I forgot my password",
    home_register: "Create an account",
    home_account: "Sign in to my account",
    reset_title: "Reset your password",
    reset_lead: "Enter your username and choose how to prove the account is yours.",
    register_title: "Create an account",
    register_lead: "Choose a username and a password, and give an email address to recover the account with.",
    account_title: "Your account",
    account_lead: "Sign in to change your password, your recovery email or your other ways to recover the account.",
    username: "Username",
    email: "Recovery email",
    password: "Password",
    new_password: "New password",
    current_password: "Current password",
    code: "Code from the email",
    code_hint: "The digits from the email we sent. It works once.",
    send_code: "Send me a code",
    check_code: "Check the code",
    set_password: "Set the new password",
    create_account: "Create the account",
    confirm_email: "Confirm the email",
    sign_in: "Sign in",
    change_password: "Change the password",
    change_email: "Change the email",
    sign_out: "Sign out",
    start_over: "Start over",
    to_sign_in: "Sign in with your new password",
    to_account: "Go to your account",
    back_home: "All options",
    signed_in_as: "Signed in as",
    change_title: "Change your password",
    email_title: "Change your recovery email",
    rule_length: "{min} to {max} characters",
    rule_username: "Does not contain your username",
    rule_email: "Does not contain your email address",
    first_way: "How do you want to prove it is you?",
    way_email: "A code by email",
    way_sms: "A code by text message",
    way_totp: "A code from my authenticator app",
    way_recovery: "One of my recovery codes",
    code_sms: "Code from the text message",
    code_sms_hint: "The digits from the text message we sent. It works once.",
    code_totp: "Code from the authenticator app",
    code_totp_hint: "The 6 digits the app shows for this account right now.",
    code_recovery: "Recovery code",
    code_recovery_hint: "One of the codes you saved, like 7k2m-9xq4-hv3d-wp8r. Each works once.",
    gate_title: "A second proof",
    gate_lead: "This account needs two proofs. Choose the second one:",
    continue_: "Continue",
    factor_title: "The second step of signing in",
    use_recovery: "Use a recovery code instead",
    use_otp: "Use the authenticator app instead",
    methods_title: "Recovery methods",
    methods_lead: "The ways you prove it is you when you forget your password.",
    reconfirm_prompt: "Are your recovery methods below still yours and still working? Check them, then say so.",
    reconfirm: "They are still right",
    add_totp_title: "Add an authenticator app",
    add_totp: "Set up an authenticator app",
    totp_steps: "In your authenticator app, add an account with this key (or open the link on the device that has the app), then enter the code the app shows.",
    totp_secret: "Key",
    totp_link: "Open in the authenticator app on this device",
    add_phone_title: "Add a phone for text messages",
    phone: "Mobile number",
    phone_hint: "In international form, starting with + and the country code, like +4915112345678.",
    phone_weak: "Text messages are the weakest way to prove it is you: whoever takes over your number (a swapped SIM card, forwarded messages) reads the code. An authenticator app is stronger; keep your recovery codes too.",
    add_phone: "Send a code to this phone",
    add_email_title: "Add a second email address",
    second_email: "Second email address",
    add_email: "Send a code to this address",
    confirm_title: "Finish adding the method",
    confirm_method: "Confirm",
    recovery_title: "Recovery codes",
    recovery_lead: "Ten codes for when nothing else works. Making new ones ends the old ones.",
    make_codes: "Make new recovery codes",
    codes_warning: "Save these codes now, somewhere safe and apart from this device: they are shown only this once. Each works once.",
    codes_saved: "I have saved them",
    messages: crate::pages::Messages {
        code_sent: "If the account exists, a code is on its way.",
        password_reset: "Your password is reset. You have been signed out everywhere.",
        registered: "Account created. We emailed you a code to confirm your address.",
        email_confirmed: "Your email address is confirmed.",
        signed_in: "You are signed in.",
        password_changed: "Your password is changed. Sign in again with the new one.",
        email_code_sent: "We emailed a code to the new address. Confirm it from that mailbox.",
        signed_out: "You are signed out.",
        invalid_code: "That code is wrong, expired or used. Ask for a new one.",
        invalid_token: "This reset has expired. Start over and ask for a new code.",
        invalid_credentials: "The username or password is wrong.",
        weak_password: "This password is not accepted:",
        username_taken: "This username is taken. Choose another.",
        invalid_username: "Use 3 to 64 letters, digits, dots, dashes, underscores or @.",
        invalid_email: "This email address cannot be used.",
        invalid_request: "Something in the form is not right. Check it and try again.",
        too_many_requests: "Too many attempts. Wait a little and try again.",
        unavailable: "Something went wrong on our side. Nothing was changed; try again shortly.",
        captcha_failed: "The human check failed. Solve it again.",
        captcha_unavailable: "The human check is unavailable right now. Nothing was done; try again shortly.",
        offline: "We could not reach the server. Check your connection and try again.",
        too_short: "It is too short.",
        too_long: "It is too long.",
        common: "It is too common or too easy to guess.",
        contains_username: "It contains your username.",
        contains_email: "It contains your email address.",
        reused: "You used it recently.",
        invalid_characters: "It contains characters that cannot be typed reliably.",
        banned: "It contains a word this organisation does not allow, or one close to it.",
        compromised: "It is on a list of passwords exposed in data breaches.",
        gate_next: "The first proof is accepted. Now give a second one.",
        signed_in_second: "Almost there: give the second proof to sign in.",
        totp_added: "Add the key to your authenticator app, then enter the code it shows.",
        method_code_sent: "We sent a code. Enter it here to finish adding the method.",
        method_confirmed: "The method is added and confirmed.",
        method_removed: "The method is removed.",
        codes_made: "Your new recovery codes are below. The old ones no longer work.",
        reconfirmed: "Thank you: your methods are confirmed as current.",
        second_factor_required: "Enter the code from your authenticator app, or one of your recovery codes.",
        invalid_otp: "That code is wrong or used already. Try the code the app shows now, or a recovery code.",
        reauthentication_required: "For this change, sign in again: your sign-in is more than 5 minutes old.",
        method_required: "This method cannot be removed: a password reset needs it. Add another method first.",
        method_limit: "You already have as many methods of this kind as you may.",
        invalid_phone: "This is not a mobile number in international form, like +4915112345678.",
        sms_off: "This service sends no text messages, so a phone cannot be added.",
        not_found: "This method is no longer there. The list is updated.",
        methods_needed: "Add recovery methods below before you can reset your password: {n} still needed.",
        kind_email: "Email",
        kind_phone: "Phone (text messages)",
        kind_totp: "Authenticator app",
        kind_recovery_codes: "Recovery codes",
        confirmed: "Confirmed",
        pending: "Waiting for its code",
        codes_left: "{n} left",
        remove: "Remove",
        enter_code: "Enter its code",
    },
};
