//! Deutsch.

use crate::mail::{Content, Message};

pub fn content(m: &Message) -> Content {
    let greeting = "Guten Tag,".to_string();
    let sign_off = "Ihr Konto-Team".to_string();
    match m {
        Message::ConfirmEmail { code, minutes } => Content {
            subject: "Bestätigen Sie Ihre Wiederherstellungs-E-Mail".into(),
            greeting,
            lead: vec!["mit diesem Code bestätigen Sie Ihre Wiederherstellungs-E-Mail-Adresse:".into()],
            code: Some(code.clone()),
            body: vec![format!(
                "Er gilt {minutes} Minuten und nur einmal. Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht."
            )],
            action: None,
            sign_off,
        },
        Message::ResetCode { code, minutes } => Content {
            subject: "Ihr Code zum Zurücksetzen des Passworts".into(),
            greeting,
            lead: vec!["mit diesem Code setzen Sie Ihr Passwort zurück:".into()],
            code: Some(code.clone()),
            body: vec![
                format!("Er gilt {minutes} Minuten und nur einmal. Geben Sie ihn nie weiter: Der Support fragt nie danach."),
                "Wenn Sie das Zurücksetzen nicht angefordert haben, ignorieren Sie diese Nachricht; Ihr Passwort bleibt unverändert.".into(),
            ],
            action: None,
            sign_off,
        },
        Message::PasswordChanged { helpdesk, by_reset, at } => Content {
            subject: "Ihr Passwort wurde geändert".into(),
            greeting,
            lead: vec![format!(
                "das Passwort Ihres Kontos wurde am {at} {}. Alle bestehenden Anmeldungen wurden beendet.",
                if *by_reset { "zurückgesetzt" } else { "geändert" }
            )],
            code: None,
            body: vec!["Wenn Sie das nicht waren, wenden Sie sich sofort an den Helpdesk: Jemand könnte Zugriff auf Ihre E-Mail haben.".into()],
            action: Some(("Helpdesk kontaktieren".into(), helpdesk.clone())),
            sign_off,
        },
        Message::EmailChanged { new_masked, helpdesk } => Content {
            subject: "Ihre Wiederherstellungs-E-Mail wurde geändert".into(),
            greeting,
            lead: vec![format!(
                "die Wiederherstellungs-E-Mail Ihres Kontos wurde in {new_masked} geändert. Codes zum Zurücksetzen des Passworts kommen nicht mehr an diese Adresse."
            )],
            code: None,
            body: vec!["Wenn Sie das nicht waren, wenden Sie sich sofort an den Helpdesk.".into()],
            action: Some(("Helpdesk kontaktieren".into(), helpdesk.clone())),
            sign_off,
        },
        Message::AdminNotice { username, by_reset, at } => Content {
            subject: format!("Administrator-Passwort {}: {username}", if *by_reset { "zurückgesetzt" } else { "geändert" }),
            greeting,
            lead: vec![format!(
                "das Passwort des Administrators {username} wurde am {at} {}.",
                if *by_reset { "per Self-Service zurückgesetzt" } else { "geändert" }
            )],
            code: None,
            body: vec!["Falls das unerwartet ist, prüfen Sie die Audit-Ereignisse des Kontos und wenden Sie sich an den Administrator.".into()],
            action: None,
            sign_off,
        },
            Message::SignInLocked { failures, minutes } => Content {
            subject: "Die Anmeldung an Ihrem Konto ist gesperrt".into(),
            greeting,
            lead: vec![format!(
                "nach {failures} falschen Passwörtern ist die Anmeldung an Ihrem Konto gesperrt. Die Sperre endet von selbst in {minutes} Minuten."
            )],
            code: None,
            body: vec![
                "Um sie sofort aufzuheben und Ihr Passwort zu behalten, fordern Sie in der App einen Entsperrcode an.".into(),
                "Wenn diese Versuche nicht von Ihnen kamen, versucht jemand Ihr Passwort zu erraten: Setzen Sie es am besten zurück.".into(),
            ],
            action: None,
            sign_off,
        },
        Message::UnlockCode { code, minutes } => Content {
            subject: "Ihr Entsperrcode".into(),
            greeting,
            lead: vec!["mit diesem Code heben Sie die Anmeldesperre Ihres Kontos auf; Ihr Passwort bleibt unverändert:".into()],
            code: Some(code.clone()),
            body: vec![format!("Er gilt {minutes} Minuten und nur einmal. Geben Sie ihn nie weiter.")],
            action: None,
            sign_off,
        },
    }
}
