//! The cost of the banned-terms and breach-list checks a new password goes
//! through (`domain/banned.rs`, `domain/compromised.rs`): the banned list at
//! its limit of 1000 terms of 4 to 16 characters, the shipped filter, and
//! passwords of 12, 20, 64 and 256 characters, none of them matching: ones
//! that hold no half of any term (the common case: no term goes on to the
//! automaton), and ones made of the terms' halves (the hard case: many do). The whole
//! policy (with zxcvbn) is timed beside it for scale, and so is what a cold
//! start pays to read the filter.
//!
//! Run: `cargo bench -p sspr-tests --bench password_rules` (bench/run does).

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use sspr_core::config::PasswordPolicy;
use sspr_core::domain::{BannedTerms, CompromisedFilter, Email, NewPassword, Username};

/// 1000 distinct terms of 4 to 16 characters, like an organisation's list:
/// a number, then names, cut to length (the numbers keep them apart).
fn thousand_terms() -> Vec<String> {
    let words = [
        "contoso",
        "fabrikam",
        "northwind",
        "tailspin",
        "wingtip",
        "litware",
    ];
    (0..1000)
        .map(|i| {
            let w = words[i % words.len()];
            format!("{i:03}{w}{w}").chars().take(4 + i % 13).collect()
        })
        .collect()
}

fn main() {
    let terms = thousand_terms();
    let banned = BannedTerms::new(&terms).unwrap_or_else(|e| panic!("{e}"));
    let policy = PasswordPolicy {
        banned: banned.clone(),
        ..PasswordPolicy::default()
    };
    let filter = policy
        .compromised
        .clone()
        .unwrap_or_else(|| panic!("the shipped filter"));
    // Letters no term has, so every term is stepped over every character and
    // none matches (the cost does not depend on the letters).
    let passwords = [
        ("12 chars", "vuxy-jqzu-xy".to_owned()),
        ("20 chars", "vuxy-jqzu-xyvu-zqjy!".to_owned()),
        ("64 chars", "vuxy jqzu ".repeat(6) + "vuxy"),
        ("256 chars", "vuxy-jqzu-".repeat(25) + "vuxyjq"),
    ];
    // The hard case for the candidates step: a password made of the terms'
    // first halves (each a hit in the halves' table), so many terms go on to
    // the automaton, and yet none matches.
    let halves = |len: usize| {
        let mut pw = String::new();
        for t in &terms {
            let chars: Vec<char> = t.chars().collect();
            pw.extend(&chars[..chars.len() / 2]);
            pw.push('q');
            if pw.chars().count() >= len {
                break;
            }
        }
        pw.chars().take(len).collect::<String>()
    };
    let near_misses: Vec<(&str, String)> = [
        ("64 chars of halves", halves(64)),
        ("256 chars of halves", halves(256)),
    ]
    .into_iter()
    .filter(|(name, pw)| {
        let clean = !banned.matches(pw);
        if !clean {
            println!("({name} matches a term: not timed)");
        }
        clean
    })
    .collect();
    let user = Username::parse("bench.user").unwrap_or_else(|e| panic!("{e}"));
    let email = Email::parse("bench@example.com").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(banned.len(), 1000);
    println!(
        "banned list: {} terms; compromised filter: {} entries",
        banned.len(),
        filter.entries()
    );
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    {
        let mut g = c.benchmark_group("banned + compromised");
        for (name, pw) in &passwords {
            assert!(
                !banned.matches(pw) && !filter.contains(pw),
                "{name} matches"
            );
            g.bench_function(*name, |b| {
                b.iter(|| {
                    black_box(banned.matches(black_box(pw)))
                        | black_box(filter.contains(black_box(pw)))
                })
            });
        }
        for (name, pw) in &near_misses {
            g.bench_function(*name, |b| {
                b.iter(|| {
                    black_box(banned.matches(black_box(pw)))
                        | black_box(filter.contains(black_box(pw)))
                })
            });
        }
        g.finish();
    }
    {
        // What a cold start and a first check pay for the filter.
        let path = CompromisedFilter::default_paths()
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no shipped filter"));
        let mut g = c.benchmark_group("cold start");
        g.sample_size(20);
        // Opening checks the header (what init pays); the first lookup reads
        // the fingerprints (what the first new password of a process pays).
        g.bench_function("open compromised.bin", |b| {
            b.iter(|| CompromisedFilter::load(black_box(&path)).map(|f| f.entries()))
        });
        g.bench_function("open and first lookup", |b| {
            b.iter(|| CompromisedFilter::load(black_box(&path)).map(|f| f.contains("x")))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("whole policy");
        let (name, pw) = &passwords[1];
        g.bench_function(*name, |b| {
            b.iter(|| NewPassword::parse(black_box(pw), &policy, &user, &email).is_ok())
        });
        g.finish();
    }
    c.final_summary();
}
