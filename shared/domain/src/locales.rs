//! Every language's words, one file each (`src/locales/<code>.rs`): the mail
//! texts (`content`, an exhaustive `match` over the messages) and the page
//! words (`PAGES`, a struct literal, so a missing word fails the build). The
//! build script finds the files; adding a language is adding one.

include!(concat!(env!("OUT_DIR"), "/locale_texts.rs"));
