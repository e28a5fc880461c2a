//! English.

use crate::mail::{Content, Message};

pub fn content(m: &Message) -> Content {
    let greeting = "Hello,".to_string();
    let sign_off = "Your account team".to_string();
    match m {
        Message::ConfirmEmail { code, minutes } => Content {
            subject: "Confirm your recovery email".into(),
            greeting,
            lead: vec!["Use this code to confirm your recovery email address:".into()],
            code: Some(code.clone()),
            body: vec![format!(
                "It is valid for {minutes} minutes and works once. If you did not ask for it, ignore this message."
            )],
            action: None,
            sign_off,
        },
        Message::ResetCode { code, minutes } => Content {
            subject: "Your password reset code".into(),
            greeting,
            lead: vec!["Use this code to reset your password:".into()],
            code: Some(code.clone()),
            body: vec![
                format!("It is valid for {minutes} minutes and works once. Never share it: nobody from support will ever ask for it."),
                "If you did not ask for a reset, ignore this message; your password stays as it is.".into(),
            ],
            action: None,
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
                "After {failures} wrong passwords, sign-in to your account is locked. It unlocks by itself in {minutes} minutes."
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
            body: vec![format!("It is valid for {minutes} minutes and works once. Never share it.")],
            action: None,
            sign_off,
        },
    }
}
