//! Deutsch.

use crate::mail::{Content, Message, FEW_RECOVERY_CODES_LEFT};
use crate::pages::PageWords;

pub fn content(m: &Message) -> Content {
    let greeting = "Guten Tag,".to_string();
    let sign_off = "Ihr Konto-Team".to_string();
    match m {
        Message::ConfirmEmail {
            code,
            minutes,
            link,
        } => Content {
            subject: "Bestätigen Sie Ihre Wiederherstellungs-E-Mail".into(),
            greeting,
            lead: vec!["mit diesem Code bestätigen Sie Ihre Wiederherstellungs-E-Mail-Adresse:".into()],
            code: Some(code.clone()),
            body: vec![format!(
                "Er gilt {} und nur einmal. Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht.", minutes_of(*minutes)
            )],
            action: link.clone().map(|l| ("Bestätigungsseite öffnen".to_string(), l)),
            sign_off,
        },
        Message::ResetCode {
            code,
            minutes,
            link,
        } => Content {
            subject: "Ihr Code zum Zurücksetzen des Passworts".into(),
            greeting,
            lead: vec!["mit diesem Code setzen Sie Ihr Passwort zurück:".into()],
            code: Some(code.clone()),
            body: vec![
                format!("Er gilt {} und nur einmal. Geben Sie ihn nie weiter: Der Support fragt nie danach.", minutes_of(*minutes)),
                "Wenn Sie das Zurücksetzen nicht angefordert haben, ignorieren Sie diese Nachricht; Ihr Passwort bleibt unverändert.".into(),
            ],
            action: link.clone().map(|l| ("Seite zum Zurücksetzen öffnen".to_string(), l)),
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
                "nach {failures} falschen Passwörtern ist die Anmeldung an Ihrem Konto gesperrt. Die Sperre endet von selbst in {}.", minutes_of(*minutes)
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
            body: vec![format!("Er gilt {} und nur einmal. Geben Sie ihn nie weiter.", minutes_of(*minutes))],
            action: None,
            sign_off,
        },
        // One text message: at most 160 GSM-7 characters with the longest code.
        Message::SmsCode { code, minutes } => Content {
            subject: "Ihr Konto-Code".into(),
            greeting,
            lead: vec![format!(
                "Ihr Konto-Code lautet {code}. Er gilt {}. Geben Sie ihn nicht weiter: Der Support fragt nie danach.",
                minutes_of(*minutes)
            )],
            code: None,
            body: Vec::new(),
            action: None,
            sign_off,
        },
        Message::MethodCode { code, minutes } => Content {
            subject: "Bestätigen Sie Ihre zusätzliche Wiederherstellungs-E-Mail".into(),
            greeting,
            lead: vec!["mit diesem Code bestätigen Sie diese Adresse als zusätzliche Wiederherstellungs-E-Mail Ihres Kontos:".into()],
            code: Some(code.clone()),
            body: vec![format!(
                "Er gilt {} und nur einmal. Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht; die Adresse wird dann nicht hinzugefügt.",
                minutes_of(*minutes)
            )],
            action: None,
            sign_off,
        },
        Message::MethodAdded { method, label, helpdesk, at } => Content {
            subject: "Ihrem Konto wurde eine Wiederherstellungsmethode hinzugefügt".into(),
            greeting,
            lead: vec![format!(
                "am {at} wurde Ihrem Konto eine Wiederherstellungsmethode hinzugefügt: {}.",
                method_of(method, label)
            )],
            code: None,
            body: vec![NOT_YOU.into()],
            action: Some(("Helpdesk kontaktieren".into(), helpdesk.clone())),
            sign_off,
        },
        Message::MethodConfirmed { method, label, helpdesk, at } => Content {
            subject: "Eine Wiederherstellungsmethode Ihres Kontos wurde bestätigt".into(),
            greeting,
            lead: vec![format!(
                "am {at} wurde eine Wiederherstellungsmethode Ihres Kontos bestätigt: {}. Ab jetzt können Sie damit nachweisen, dass Sie es sind.",
                method_of(method, label)
            )],
            code: None,
            body: vec![NOT_YOU.into()],
            action: Some(("Helpdesk kontaktieren".into(), helpdesk.clone())),
            sign_off,
        },
        Message::MethodRemoved { method, label, helpdesk, at } => Content {
            subject: "Eine Wiederherstellungsmethode wurde aus Ihrem Konto entfernt".into(),
            greeting,
            lead: vec![format!(
                "am {at} wurde eine Wiederherstellungsmethode aus Ihrem Konto entfernt: {}. Damit können Sie nicht mehr nachweisen, dass Sie es sind.",
                method_of(method, label)
            )],
            code: None,
            body: vec![NOT_YOU.into()],
            action: Some(("Helpdesk kontaktieren".into(), helpdesk.clone())),
            sign_off,
        },
        Message::RecoveryCodesCreated { helpdesk, at } => Content {
            subject: "Für Ihr Konto wurden neue Wiederherstellungscodes erstellt".into(),
            greeting,
            lead: vec![format!(
                "am {at} wurde für Ihr Konto ein neuer Satz Wiederherstellungscodes erstellt. Die Codes früherer Sätze gelten nicht mehr."
            )],
            code: None,
            body: vec![
                "Bewahren Sie die neuen Codes sicher auf; jeder gilt nur einmal.".into(),
                NOT_YOU.into(),
            ],
            action: Some(("Helpdesk kontaktieren".into(), helpdesk.clone())),
            sign_off,
        },
        Message::RecoveryCodeUsed { left, helpdesk, at } => Content {
            subject: "Ein Wiederherstellungscode Ihres Kontos wurde verwendet".into(),
            greeting,
            lead: vec![format!(
                "am {at} wurde einer Ihrer Wiederherstellungscodes verwendet. {}",
                match left {
                    0 => "Es ist keiner mehr übrig.".to_string(),
                    1 => "Es ist noch 1 Code übrig.".to_string(),
                    n => format!("Es sind noch {n} Codes übrig."),
                }
            )],
            code: None,
            body: vec![
                if *left <= FEW_RECOVERY_CODES_LEFT {
                    "Erstellen Sie bald in Ihrem Konto einen neuen Satz Wiederherstellungscodes, bevor sie aufgebraucht sind.".into()
                } else {
                    "Wenn nur noch wenige übrig sind, erstellen Sie in Ihrem Konto einen neuen Satz.".into()
                },
                NOT_YOU.into(),
            ],
            action: Some(("Helpdesk kontaktieren".into(), helpdesk.clone())),
            sign_off,
        },
        Message::AdminMethodsNotice { username, change, method, at } => Content {
            subject: format!("Wiederherstellungsmethoden eines Administrators geändert: {username}"),
            greeting,
            lead: vec![format!(
                "am {at} haben sich die Wiederherstellungsmethoden des Administrators {username} geändert: {}.",
                match change.as_str() {
                    "method_added" => format!("Eine Wiederherstellungsmethode wurde hinzugefügt ({})", method_of(method, "")),
                    "method_confirmed" => format!("Eine Wiederherstellungsmethode wurde bestätigt ({})", method_of(method, "")),
                    "method_removed" => format!("Eine Wiederherstellungsmethode wurde entfernt ({})", method_of(method, "")),
                    "recovery_codes_created" => "Ein neuer Satz Wiederherstellungscodes wurde erstellt".to_string(),
                    "recovery_code_used" => "Ein Wiederherstellungscode wurde verwendet".to_string(),
                    _ => method_of(method, ""),
                }
            )],
            code: None,
            body: vec!["Falls das unerwartet ist, prüfen Sie die Audit-Ereignisse des Kontos und wenden Sie sich an den Administrator.".into()],
            action: None,
            sign_off,
        },
    }
}

const NOT_YOU: &str =
    "Wenn Sie das nicht waren, wenden Sie sich sofort an den Helpdesk: Jemand könnte Zugriff auf Ihr Konto haben.";

fn minutes_of(minutes: u64) -> String {
    match minutes {
        1 => "1 Minute".into(),
        n => format!("{n} Minuten"),
    }
}

/// A method as the user knows it: its word, then its (masked) label.
fn method_of(method: &str, label: &str) -> String {
    let word = match method {
        "email" => "E-Mail-Adresse",
        "phone" => "Telefonnummer",
        "totp" => "Authenticator-App",
        "recovery_codes" => "Wiederherstellungscodes",
        _ => "Wiederherstellungsmethode",
    };
    match label.trim() {
        "" => word.to_string(),
        label => format!("{word} {label}"),
    }
}

pub const PAGES: PageWords = PageWords {
    lang_name: "Deutsch",
    site: "Kontohilfe",
    language: "Sprache",
    home_title: "Was brauchen Sie?",
    home_lead: "Alles hier geht, ohne dass Sie jemanden anrufen müssen.",
    home_reset: "Ich habe mein Passwort vergessen",
    home_register: "Ein Konto anlegen",
    home_account: "Bei meinem Konto anmelden",
    reset_title: "Passwort zurücksetzen",
    reset_lead: "Geben Sie Ihren Benutzernamen ein und wählen Sie, wie Sie nachweisen, dass das Konto Ihnen gehört.",
    register_title: "Ein Konto anlegen",
    register_lead: "Wählen Sie einen Benutzernamen und ein Passwort und geben Sie eine E-Mail-Adresse an, über die sich das Konto wiederherstellen lässt.",
    account_title: "Ihr Konto",
    account_lead: "Melden Sie sich an, um Ihr Passwort, Ihre Wiederherstellungsadresse oder Ihre anderen Wege zur Wiederherstellung des Kontos zu ändern.",
    username: "Benutzername",
    email: "E-Mail-Adresse zur Wiederherstellung",
    password: "Passwort",
    new_password: "Neues Passwort",
    current_password: "Aktuelles Passwort",
    code: "Code aus der E-Mail",
    code_hint: "Die Ziffern aus unserer E-Mail. Der Code gilt einmal.",
    send_code: "Code senden",
    check_code: "Code prüfen",
    set_password: "Neues Passwort setzen",
    create_account: "Konto anlegen",
    confirm_email: "E-Mail-Adresse bestätigen",
    sign_in: "Anmelden",
    change_password: "Passwort ändern",
    change_email: "E-Mail-Adresse ändern",
    sign_out: "Abmelden",
    start_over: "Neu beginnen",
    to_sign_in: "Mit dem neuen Passwort anmelden",
    to_account: "Zu Ihrem Konto",
    back_home: "Alle Möglichkeiten",
    signed_in_as: "Angemeldet als",
    change_title: "Passwort ändern",
    email_title: "Wiederherstellungsadresse ändern",
    rule_length: "{min} bis {max} Zeichen",
    rule_username: "Enthält nicht Ihren Benutzernamen",
    rule_email: "Enthält nicht Ihre E-Mail-Adresse",
    first_way: "Wie möchten Sie nachweisen, dass Sie es sind?",
    way_email: "Ein Code per E-Mail",
    way_sms: "Ein Code per SMS",
    way_totp: "Ein Code aus meiner Authenticator-App",
    way_recovery: "Einer meiner Wiederherstellungscodes",
    code_sms: "Code aus der SMS",
    code_sms_hint: "Die Ziffern aus unserer SMS. Der Code gilt einmal.",
    code_totp: "Code aus der Authenticator-App",
    code_totp_hint: "Die 6 Ziffern, die die App gerade für dieses Konto zeigt.",
    code_recovery: "Wiederherstellungscode",
    code_recovery_hint: "Einer der Codes, die Sie gespeichert haben, etwa 7k2m-9xq4-hv3d-wp8r. Jeder gilt einmal.",
    gate_title: "Ein zweiter Nachweis",
    gate_lead: "Dieses Konto braucht zwei Nachweise. Wählen Sie den zweiten:",
    continue_: "Weiter",
    factor_title: "Der zweite Schritt der Anmeldung",
    use_recovery: "Stattdessen einen Wiederherstellungscode verwenden",
    use_otp: "Stattdessen die Authenticator-App verwenden",
    methods_title: "Wiederherstellungsmethoden",
    methods_lead: "Die Wege, auf denen Sie nachweisen, dass Sie es sind, wenn Sie Ihr Passwort vergessen haben.",
    reconfirm_prompt: "Gehören Ihnen die Wiederherstellungsmethoden unten noch, und funktionieren sie noch? Prüfen Sie sie und bestätigen Sie es dann.",
    reconfirm: "Sie stimmen noch",
    add_totp_title: "Eine Authenticator-App hinzufügen",
    add_totp: "Authenticator-App einrichten",
    totp_steps: "Legen Sie in Ihrer Authenticator-App ein Konto mit diesem Schlüssel an (oder öffnen Sie den Link auf dem Gerät mit der App) und geben Sie dann den Code ein, den die App zeigt.",
    totp_secret: "Schlüssel",
    totp_link: "In der Authenticator-App auf diesem Gerät öffnen",
    add_phone_title: "Ein Telefon für SMS hinzufügen",
    phone: "Mobilnummer",
    phone_hint: "In internationaler Form, mit + und der Landesvorwahl, etwa +4915112345678.",
    phone_weak: "SMS sind der schwächste Weg, nachzuweisen, dass Sie es sind: Wer Ihre Nummer übernimmt (eine getauschte SIM-Karte, umgeleitete Nachrichten), liest den Code mit. Eine Authenticator-App ist sicherer; bewahren Sie auch Ihre Wiederherstellungscodes auf.",
    add_phone: "Code an dieses Telefon senden",
    add_email_title: "Eine zweite E-Mail-Adresse hinzufügen",
    second_email: "Zweite E-Mail-Adresse",
    add_email: "Code an diese Adresse senden",
    confirm_title: "Das Hinzufügen abschließen",
    confirm_method: "Bestätigen",
    recovery_title: "Wiederherstellungscodes",
    recovery_lead: "Zehn Codes für den Fall, dass nichts anderes geht. Neue Codes beenden die alten.",
    make_codes: "Neue Wiederherstellungscodes erstellen",
    codes_warning: "Speichern Sie diese Codes jetzt an einem sicheren Ort, getrennt von diesem Gerät: Sie werden nur dieses eine Mal gezeigt. Jeder gilt einmal.",
    codes_saved: "Ich habe sie gespeichert",
    messages: crate::pages::Messages {
        code_sent: "Falls das Konto existiert, ist ein Code unterwegs.",
        password_reset: "Ihr Passwort ist zurückgesetzt. Sie wurden überall abgemeldet.",
        registered: "Das Konto ist angelegt. Wir haben Ihnen einen Code zur Bestätigung Ihrer Adresse geschickt.",
        email_confirmed: "Ihre E-Mail-Adresse ist bestätigt.",
        signed_in: "Sie sind angemeldet.",
        password_changed: "Ihr Passwort ist geändert. Melden Sie sich mit dem neuen erneut an.",
        email_code_sent: "Wir haben einen Code an die neue Adresse geschickt. Bestätigen Sie ihn aus diesem Postfach.",
        signed_out: "Sie sind abgemeldet.",
        invalid_code: "Dieser Code ist falsch, abgelaufen oder verbraucht. Fordern Sie einen neuen an.",
        invalid_token: "Dieses Zurücksetzen ist abgelaufen. Beginnen Sie neu und fordern Sie einen neuen Code an.",
        invalid_credentials: "Benutzername oder Passwort ist falsch.",
        weak_password: "Dieses Passwort wird nicht angenommen:",
        username_taken: "Dieser Benutzername ist vergeben. Wählen Sie einen anderen.",
        invalid_username: "Verwenden Sie 3 bis 64 Buchstaben, Ziffern, Punkte, Bindestriche, Unterstriche oder @.",
        invalid_email: "Diese E-Mail-Adresse kann nicht verwendet werden.",
        invalid_request: "Etwas im Formular stimmt nicht. Prüfen Sie es und versuchen Sie es erneut.",
        too_many_requests: "Zu viele Versuche. Warten Sie kurz und versuchen Sie es erneut.",
        unavailable: "Bei uns ist etwas schiefgegangen. Nichts wurde geändert; versuchen Sie es gleich noch einmal.",
        captcha_failed: "Die Prüfung, ob Sie ein Mensch sind, ist fehlgeschlagen. Lösen Sie sie erneut.",
        captcha_unavailable: "Die Prüfung, ob Sie ein Mensch sind, ist gerade nicht möglich. Nichts wurde getan; versuchen Sie es gleich noch einmal.",
        offline: "Der Server ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
        too_short: "Es ist zu kurz.",
        too_long: "Es ist zu lang.",
        common: "Es ist zu verbreitet oder zu leicht zu erraten.",
        contains_username: "Es enthält Ihren Benutzernamen.",
        contains_email: "Es enthält Ihre E-Mail-Adresse.",
        reused: "Sie haben es vor Kurzem verwendet.",
        invalid_characters: "Es enthält Zeichen, die sich nicht zuverlässig eingeben lassen.",
        banned: "Es enthält ein Wort, das diese Organisation nicht zulässt, oder eines, das ihm sehr ähnelt.",
        compromised: "Es steht auf einer Liste von Passwörtern, die bei Datenlecks offengelegt wurden.",
        gate_next: "Der erste Nachweis ist angenommen. Erbringen Sie jetzt einen zweiten.",
        signed_in_second: "Fast geschafft: Erbringen Sie den zweiten Nachweis, um sich anzumelden.",
        totp_added: "Fügen Sie den Schlüssel Ihrer Authenticator-App hinzu und geben Sie dann den Code ein, den sie zeigt.",
        method_code_sent: "Wir haben einen Code gesendet. Geben Sie ihn hier ein, um das Hinzufügen abzuschließen.",
        method_confirmed: "Die Methode ist hinzugefügt und bestätigt.",
        method_removed: "Die Methode ist entfernt.",
        codes_made: "Ihre neuen Wiederherstellungscodes stehen unten. Die alten gelten nicht mehr.",
        reconfirmed: "Danke: Ihre Methoden sind als aktuell bestätigt.",
        second_factor_required: "Geben Sie den Code aus Ihrer Authenticator-App oder einen Ihrer Wiederherstellungscodes ein.",
        invalid_otp: "Dieser Code ist falsch oder schon verbraucht. Versuchen Sie den Code, den die App jetzt zeigt, oder einen Wiederherstellungscode.",
        reauthentication_required: "Melden Sie sich für diese Änderung erneut an: Ihre Anmeldung ist älter als 5 Minuten.",
        method_required: "Diese Methode lässt sich nicht entfernen: Das Zurücksetzen des Passworts braucht sie. Fügen Sie zuerst eine andere hinzu.",
        method_limit: "Sie haben schon so viele Methoden dieser Art, wie erlaubt sind.",
        invalid_phone: "Das ist keine Mobilnummer in internationaler Form, etwa +4915112345678.",
        sms_off: "Dieser Dienst sendet keine SMS, daher lässt sich kein Telefon hinzufügen.",
        not_found: "Diese Methode gibt es nicht mehr. Die Liste ist aktualisiert.",
        methods_needed: "Fügen Sie unten Wiederherstellungsmethoden hinzu, bevor Sie Ihr Passwort zurücksetzen können: Es fehlen noch {n}.",
        kind_email: "E-Mail",
        kind_phone: "Telefon (SMS)",
        kind_totp: "Authenticator-App",
        kind_recovery_codes: "Wiederherstellungscodes",
        confirmed: "Bestätigt",
        pending: "Wartet auf seinen Code",
        codes_left: "noch {n}",
        remove: "Entfernen",
        enter_code: "Code eingeben",
    },
};
