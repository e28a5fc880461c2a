//! The mail sspr sends: what each message says in each language, its MIME form,
//! the mailers behind the [`Mailer`](crate::ports::Mailer) port, the outbox
//! that queues mail with the change it tells of, and the courier that sends it.

pub mod courier;
mod outbox;
pub mod queue;
mod ses;
mod templates;

pub use outbox::OutboxMailer;
pub use queue::{MailKey, QueuedMail, StoredMail};
pub use ses::SesMailer;
pub use templates::{content, render, Content, Message};

use base64::Engine as _;

use crate::ports::OutgoingMail;

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

/// The message as an RFC 5322 / MIME document (text part, and an HTML part when present).
pub fn to_eml(from: &str, mail: &OutgoingMail, date: &str, message_id: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!("From: {}\r\n", header_value(from)));
    out.push_str(&format!("To: {}\r\n", header_value(&mail.to)));
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
    out
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
        );
        assert!(eml.contains("MIME-Version: 1.0\r\n"));
        assert!(eml.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        assert!(eml.ends_with("line one\r\nline two\r\n"));
    }
}
