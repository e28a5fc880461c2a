//! The mail sspr sends, and its text messages: what each message says in each
//! language, its MIME form, the sealed queue that carries a message with the
//! change it tells of, and the courier that sends it through the
//! [`Mailer`](crate::ports::Mailer) or [`SmsSender`](crate::ports::SmsSender)
//! port. The senders themselves (SES, SNS, the outbox folder) are adapters, in
//! `sspr-core`.

pub mod courier;
pub mod queue;
mod templates;

pub use queue::{MailKey, QueuedMail, StoredMail};
pub use templates::{
    content, render, render_sms, Content, MailWords, Message, FEW_RECOVERY_CODES_LEFT,
};

use base64::Engine as _;

use crate::domain::{Email, Mailbox};
use crate::ports::{MailError, OutgoingMail};

/// Encode a header value per RFC 2047 when it is not plain ASCII.
fn header_value(v: &str) -> String {
    let clean: String = v.chars().filter(|c| !c.is_control()).collect();
    if clean.is_ascii() {
        clean
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(clean.as_bytes())
        )
    }
}

/// A mailbox as a header value: the address bare, never encoded (an
/// encoded-word is not an address); a display name of atoms as it is, any other
/// ASCII name quoted, and a non-ASCII one as encoded-words of at most 75
/// characters each (RFC 2047 5(3), the one place in a mailbox they may stand).
pub fn mailbox_header(m: &Mailbox) -> String {
    let addr = m.address().as_str();
    let Some(name) = m.name() else {
        return addr.to_owned();
    };
    let atoms =
        |c: char| c == ' ' || c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if name.chars().all(atoms) {
        return format!("{name} <{addr}>");
    }
    if name.is_ascii() {
        // `Mailbox` admits no `"` or `\`, so the quoted string needs no escapes.
        return format!("\"{name}\" <{addr}>");
    }
    // 45 bytes of UTF-8 make 60 base64 characters: 72 with `=?UTF-8?B?` and `?=`.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in name.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    let words: Vec<String> = words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect();
    format!("{} <{addr}>", words.join(" "))
}

/// The sender and the recipient as they go on the wire (`From:` and SES's
/// `Source`, `To:` and SES's destination), or why the mail cannot be sent:
/// both are parsed again here, so no address that is not plain ASCII (an
/// account stored before addresses were checked as they are now, a sender
/// built by hand) is ever written, encoded or raw.
pub fn envelope(from: &str, mail: &OutgoingMail) -> Result<(String, String), MailError> {
    let from = Mailbox::parse(from).map_err(|_| MailError {
        what: "sender is not a mailbox",
        source: None,
    })?;
    let to = Email::parse(&mail.to).map_err(|_| MailError {
        what: "recipient is not a deliverable address",
        source: None,
    })?;
    Ok((mailbox_header(&from), to.as_str().to_owned()))
}

/// The message as an RFC 5322 / MIME document (text part, and an HTML part when present).
pub fn to_eml(
    from: &str,
    mail: &OutgoingMail,
    date: &str,
    message_id: &str,
) -> Result<String, MailError> {
    let (from, to) = envelope(from, mail)?;
    let mut out = String::new();
    out.push_str(&format!("From: {from}\r\n"));
    out.push_str(&format!("To: {to}\r\n"));
    out.push_str(&format!("Subject: {}\r\n", header_value(&mail.subject)));
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!("Message-ID: <{message_id}>\r\n"));
    out.push_str("MIME-Version: 1.0\r\n");
    let text = mail.text.replace("\r\n", "\n").replace('\n', "\r\n");
    match &mail.html {
        None => {
            out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
            out.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
            out.push_str(&text);
        }
        Some(html) => {
            let boundary = format!("sspr-{}", uuid::Uuid::new_v4().simple());
            out.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
            ));
            out.push_str(&format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n"));
            let html = html.replace("\r\n", "\n").replace('\n', "\r\n");
            out.push_str(&format!("--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n"));
            out.push_str(&format!("--{boundary}--\r\n"));
        }
    }
    if !out.ends_with("\r\n") {
        out.push_str("\r\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_subjects_are_encoded_words() {
        assert_eq!(header_value("Hello"), "Hello");
        assert_eq!(header_value("Bestätigen"), "=?UTF-8?B?QmVzdMOkdGlnZW4=?=");
        assert_eq!(
            header_value("a\r\nBcc: x"),
            "aBcc: x",
            "no header injection"
        );
    }

    #[test]
    fn eml_is_mime_with_a_text_part() {
        let m = OutgoingMail {
            to: "a@example.com".into(),
            subject: "Hi".into(),
            text: "line one\nline two".into(),
            html: None,
            kind: "test",
        };
        let eml = to_eml(
            "sspr <no-reply@example.com>",
            &m,
            "Tue, 24 Nov 2026 10:00:00 +0000",
            "x@sspr",
        )
        .expect("renders");
        assert!(eml.contains("MIME-Version: 1.0\r\n"));
        assert!(eml.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(eml.ends_with("line one\r\nline two\r\n"));
    }

    fn mail_to(to: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.into(),
            subject: "Hi".into(),
            text: "x".into(),
            html: None,
            kind: "test",
        }
    }

    fn head(eml: &str, name: &str) -> String {
        eml.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn addresses_are_never_encoded_words_and_undeliverable_ones_are_not_sent() {
        let date = "Tue, 24 Nov 2026 10:00:00 +0000";
        let eml = to_eml(
            "sspr <no-reply@example.com>",
            &mail_to("a@example.com"),
            date,
            "x@sspr",
        )
        .expect("renders");
        assert_eq!(head(&eml, "To"), "a@example.com");
        assert_eq!(head(&eml, "From"), "sspr <no-reply@example.com>");
        for to in [
            "jörg@example.com",
            "a\u{200B}b@example.com",
            "\u{202E}moc.elpmaxe@a",
            "=?UTF-8?B?am9yZw==?=@example.com",
            "a@bücher.de",
            "a@example.com\r\nBcc: x@example.com",
        ] {
            let e = to_eml("sspr <no-reply@example.com>", &mail_to(to), date, "x@sspr");
            assert_eq!(
                e.map_err(|e| e.what).err(),
                Some("recipient is not a deliverable address"),
                "{to:?}"
            );
        }
        for from in [
            "sspr <jörg@example.com>",
            "s\u{202E}x <a@example.com>",
            "nobody",
        ] {
            let e = to_eml(from, &mail_to("a@example.com"), date, "x@sspr");
            assert_eq!(
                e.map_err(|e| e.what).err(),
                Some("sender is not a mailbox"),
                "{from:?}"
            );
        }
    }

    #[test]
    fn a_non_ascii_sender_name_is_encoded_and_its_address_is_not() {
        let m = |raw: &str| mailbox_header(&Mailbox::parse(raw).expect("valid"));
        assert_eq!(m("no-reply@example.com"), "no-reply@example.com");
        assert_eq!(
            m("Account team <a@example.com>"),
            "Account team <a@example.com>"
        );
        assert_eq!(
            m("sspr, Inc. <a@example.com>"),
            "\"sspr, Inc.\" <a@example.com>"
        );
        assert_eq!(
            m("Dienst für <a@example.com>"),
            "=?UTF-8?B?RGllbnN0IGbDvHI=?= <a@example.com>"
        );
        let long = m(&format!("{} <a@example.com>", "ü".repeat(60)));
        let (words, addr) = long.rsplit_once(' ').expect("name and address");
        assert_eq!(addr, "<a@example.com>");
        for w in words.split(' ') {
            assert!(
                w.starts_with("=?UTF-8?B?") && w.ends_with("?=") && w.len() <= 75,
                "{w}"
            );
        }
    }
}
