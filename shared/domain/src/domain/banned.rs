//! The organisation's banned terms (`SSPR_BANNED_TERMS`): the rule that
//! refuses a new password with the reason `banned` when, after Entra's
//! normalisation, it holds a term or a string one edit away from one.
//!
//! Normalisation, of the terms at load and of each password: lower case, then
//! the look-alikes read as the letters they stand for. Entra documents
//! `0`->`o`, `1`->`l`, `$`->`s` and `@`->`a`; sspr adds the other common ones
//! (`1`->`i`, `3`->`e`, `4`->`a`, `5`->`s`, `7`->`t`, `8`->`b`, `!`->`i`).
//! `1` stands for `l` and for `i` at once: it matches either, and a term's
//! `1` matches a password's `1`, `l` or `i`.
//!
//! Matching: a term of `m` characters matches when some substring of the
//! password is within one substitution, insertion or deletion of it (Entra's
//! fuzzy match). Two steps keep a check short however long the password and
//! the list (BENCHMARKS.md has the figures):
//! 1. Candidates, by the pigeonhole rule: split a term into its two halves
//!    (each of 2 to 8 characters); one edit touches at most one of them, so a
//!    password that matches holds the other half exactly. Every half is in a
//!    hash table, and the password's substrings of the halves' lengths are
//!    looked up in it: at most 7 lookups per character, whatever the number
//!    of terms. (`l`, `i` and the `1` that stands for both are one symbol
//!    here, so the step can only admit too many, never too few.)
//! 2. Each candidate runs the bit-parallel Shift-And automaton with one error
//!    (Wu and Manber): a 16-bit state pair stepped once per password
//!    character, which decides exactly.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Most terms a deployment may ban (Entra's limit).
pub const MAX_TERMS: usize = 1000;
/// Fewest characters of a term, once normalised.
pub const MIN_TERM_CHARS: usize = 4;
/// Most characters of a term, once normalised: a term's automaton is 16 bits wide.
pub const MAX_TERM_CHARS: usize = 16;

/// What stands for both `l` and `i` once normalised (the digit one is never
/// left as itself, so it cannot be confused with a letter).
const L_OR_I: char = '1';

/// A term the list refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BannedError {
    #[error("{0} terms: at most {MAX_TERMS}")]
    TooMany(usize),
    #[error(
        "`{0}` has {1} characters once normalised: terms have {MIN_TERM_CHARS} to {MAX_TERM_CHARS}"
    )]
    Length(String, usize),
}

/// One character of a password or term as matched: lower-cased, look-alikes
/// read as letters. `c` may stand for several (`ß` lower-cases to itself,
/// `İ` to two characters).
fn normalised(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase().map(|l| match l {
        '0' => 'o',
        '1' => L_OR_I,
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '8' => 'b',
        '$' => 's',
        '@' => 'a',
        '!' => 'i',
        other => other,
    })
}

/// `text` normalised as the matcher reads it.
pub fn normalise(text: &str) -> String {
    text.chars().flat_map(normalised).collect()
}

/// Whether a password's character `p` and a term's character `t` (both
/// normalised) are taken for the same.
fn same(p: char, t: char) -> bool {
    p == t || (p == L_OR_I && matches!(t, 'l' | 'i')) || (t == L_OR_I && matches!(p, 'l' | 'i'))
}

/// The banned terms, normalised and compiled; cheap to clone. Empty by default.
#[derive(Clone, Default)]
pub struct BannedTerms(Arc<Matcher>);

impl std::fmt::Debug for BannedTerms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BannedTerms({} terms)", self.len())
    }
}

#[derive(Default)]
struct Matcher {
    /// The normalised terms, deduplicated, in the order given.
    terms: Vec<String>,
    /// The distinct characters of the terms, sorted: a character's index
    /// plus one is its row in `rows` (row 0: a character in no term).
    alphabet: Vec<char>,
    /// Row-major `(alphabet.len() + 1) x terms.len()`: bit `j` of a term's
    /// entry in a character's row is set when the character matches the
    /// term's `j`th character.
    rows: Vec<u16>,
    /// Per term, the bit of its last character: a state with it set has
    /// matched the whole term.
    accept: Vec<u16>,
    /// Step 1: the terms' halves.
    halves: Halves,
}

/// The halves of every term, by the hash of their characters (in the coarse
/// reading where `l`, `i` and `1` are one), each with the terms it is a half
/// of. A hash that two halves share only makes more candidates: the
/// automaton decides.
#[derive(Default)]
struct Halves {
    /// Bit `n` set: some half has `n` characters.
    lengths: u32,
    /// Longest half, in characters.
    longest: usize,
    terms_of: HashMap<u64, Vec<u16>, BuildHasherDefault<KeyHasher>>,
}

/// The coarse reading of a normalised character for the halves.
fn coarse(c: char) -> u64 {
    match c {
        'l' | 'i' => u64::from(L_OR_I),
        other => u64::from(other),
    }
}

/// One more character of a half's running hash.
fn step(h: u64, c: char) -> u64 {
    (h ^ coarse(c)).wrapping_mul(0x0000_0100_0000_01b3)
}

/// A half's table key: its running hash after `n` characters, mixed with `n`.
fn key(h: u64, n: usize) -> u64 {
    let mut k = h ^ ((n as u64) << 58);
    k ^= k >> 31;
    k = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    k ^ (k >> 29)
}

const SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// The table's keys are already mixed ([`key`]): the hasher passes them on.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Halves {
    fn new(terms: &[String]) -> Self {
        let mut halves = Self::default();
        for (k, term) in terms.iter().enumerate() {
            let chars: Vec<char> = term.chars().collect();
            let (a, b) = chars.split_at(chars.len() / 2);
            for half in [a, b] {
                let h = half.iter().fold(SEED, |h, &c| step(h, c));
                let list = halves.terms_of.entry(key(h, half.len())).or_default();
                // At most MAX_TERMS terms: the index fits.
                let k = k as u16;
                if !list.contains(&k) {
                    list.push(k);
                }
                halves.lengths |= 1 << half.len();
                halves.longest = halves.longest.max(half.len());
            }
        }
        halves
    }

    /// The terms a half of which `text` holds, each once, in list order.
    fn candidates(&self, text: &[char], terms: usize) -> Vec<usize> {
        let mut seen = vec![false; terms];
        for start in 0..text.len() {
            let mut h = SEED;
            for (n, &c) in text[start..].iter().take(self.longest).enumerate() {
                h = step(h, c);
                let n = n + 1;
                if self.lengths & (1 << n) == 0 {
                    continue;
                }
                if let Some(list) = self.terms_of.get(&key(h, n)) {
                    for &k in list {
                        if let Some(s) = seen.get_mut(usize::from(k)) {
                            *s = true;
                        }
                    }
                }
            }
        }
        seen.iter()
            .enumerate()
            .filter_map(|(k, &s)| s.then_some(k))
            .collect()
    }
}

impl BannedTerms {
    /// The list from `terms` as configured: each is trimmed, an empty one is
    /// skipped, and the rest are normalised, each to 4 to 16 characters, at
    /// most 1000 of them after duplicates are dropped.
    pub fn new<S: AsRef<str>>(terms: impl IntoIterator<Item = S>) -> Result<Self, BannedError> {
        let mut normal: Vec<String> = Vec::new();
        for raw in terms {
            let raw = raw.as_ref().trim();
            if raw.is_empty() {
                continue;
            }
            let term = normalise(raw);
            let chars = term.chars().count();
            if !(MIN_TERM_CHARS..=MAX_TERM_CHARS).contains(&chars) {
                return Err(BannedError::Length(raw.to_owned(), chars));
            }
            if !normal.contains(&term) {
                normal.push(term);
            }
        }
        if normal.len() > MAX_TERMS {
            return Err(BannedError::TooMany(normal.len()));
        }
        // `l`, `i` and the one that stands for both always have rows: each
        // matches the others' positions even in a list that spells only one.
        let mut alphabet: Vec<char> = normal
            .iter()
            .flat_map(|t| t.chars())
            .chain(['l', 'i', L_OR_I])
            .collect();
        alphabet.sort_unstable();
        alphabet.dedup();
        let width = normal.len();
        let mut rows = vec![0u16; (alphabet.len() + 1) * width];
        for (row, &c) in alphabet.iter().enumerate() {
            for (k, term) in normal.iter().enumerate() {
                let mut mask = 0u16;
                for (j, t) in term.chars().enumerate() {
                    if same(c, t) {
                        mask |= 1 << j;
                    }
                }
                rows[(row + 1) * width + k] = mask;
            }
        }
        let accept = normal
            .iter()
            .map(|t| 1u16 << (t.chars().count() - 1))
            .collect();
        let halves = Halves::new(&normal);
        Ok(Self(Arc::new(Matcher {
            terms: normal,
            alphabet,
            rows,
            accept,
            halves,
        })))
    }

    pub fn len(&self) -> usize {
        self.0.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.terms.is_empty()
    }

    /// The terms as normalised.
    pub fn terms(&self) -> &[String] {
        &self.0.terms
    }

    /// True when `password`, normalised, holds a term or a string one
    /// substitution, insertion or deletion away from one.
    pub fn matches(&self, password: &str) -> bool {
        let m = &*self.0;
        if m.terms.is_empty() {
            return false;
        }
        let text: Vec<char> = password.chars().flat_map(normalised).collect();
        let candidates = m.halves.candidates(&text, m.terms.len());
        if candidates.is_empty() {
            return false;
        }
        let rows: Vec<usize> = text
            .iter()
            .map(|c| m.alphabet.binary_search(c).map_or(0, |i| i + 1))
            .collect();
        candidates.into_iter().any(|k| m.run(k, &rows))
    }
}

impl Matcher {
    /// Step 2: term `k`'s automaton over the text, given as each character's
    /// row in `rows`.
    fn run(&self, k: usize, text: &[usize]) -> bool {
        let width = self.terms.len();
        let Some(&accept) = self.accept.get(k) else {
            return false;
        };
        // Bit j of `exact`: the term's first j+1 characters end here
        // exactly; of `one`: with one edit. A deleted first character is one
        // edit before any text is read.
        let (mut exact, mut one) = (0u16, 1u16);
        for &row in text {
            let Some(&mask) = self.rows.get(row * width + k) else {
                return false;
            };
            let was = exact;
            let now = ((was << 1) | 1) & mask;
            // Matched with one edit: a match extended, the character
            // inserted (`was`), put for the term's next one (substituted),
            // or the term's next character skipped (deleted, after `now`).
            let edited = (((one << 1) | 1) & mask) | was | (was << 1) | 1 | (now << 1);
            exact = now;
            one = edited;
            if (now | edited) & accept != 0 {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn banned(terms: &[&str]) -> BannedTerms {
        BannedTerms::new(terms).expect("valid terms")
    }

    /// The plain edit distance of two normalised strings, `same` for equality:
    /// the reference the automaton is checked against.
    fn distance(a: &[char], b: &[char]) -> usize {
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, &x) in a.iter().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, &y) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(!same(x, y));
                cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }

    fn naive(terms: &[&str], password: &str) -> bool {
        let p: Vec<char> = normalise(password).chars().collect();
        terms.iter().any(|t| {
            let t: Vec<char> = normalise(t).chars().collect();
            // One edit changes the length by one at most.
            (0..=p.len()).any(|i| {
                (i + t.len().saturating_sub(1)..=(i + t.len() + 1).min(p.len()))
                    .any(|j| distance(&p[i..j], &t) <= 1)
            })
        })
    }

    #[test]
    fn a_term_anywhere_in_the_password_is_banned_whatever_its_case() {
        let list = banned(&["contoso"]);
        assert!(list.matches("P@ssw0rd-Contoso!"));
        assert!(list.matches("CONTOSO"));
        assert!(list.matches("my-contoso-laptop-2024"));
    }

    #[test]
    fn zero_reads_as_o() {
        assert!(banned(&["contoso"]).matches("c0nt0s0-harbour-lantern"));
    }

    #[test]
    fn one_reads_as_l() {
        assert!(banned(&["lantern"]).matches("1antern-quiet-harbour"));
    }

    #[test]
    fn one_reads_as_i_too() {
        assert!(banned(&["fabrikam"]).matches("fabr1kam-quiet-harbour"));
        // One character both ways in the same password.
        assert!(banned(&["lilium"]).matches("1i11um-quiet-harbour"));
    }

    #[test]
    fn dollar_reads_as_s() {
        assert!(banned(&["contoso"]).matches("conto$o-quiet-harbour"));
    }

    #[test]
    fn at_reads_as_a() {
        assert!(banned(&["fabrikam"]).matches("f@brik@m-quiet-harbour"));
    }

    #[test]
    fn three_reads_as_e() {
        assert!(banned(&["lantern"]).matches("lant3rn-quiet-harbour"));
    }

    #[test]
    fn four_reads_as_a() {
        assert!(banned(&["fabrikam"]).matches("f4brik4m-quiet-harbour"));
    }

    #[test]
    fn five_reads_as_s() {
        assert!(banned(&["contoso"]).matches("conto5o-quiet-harbour"));
    }

    #[test]
    fn seven_reads_as_t() {
        assert!(banned(&["contoso"]).matches("con7oso-quiet-harbour"));
    }

    #[test]
    fn eight_reads_as_b() {
        assert!(banned(&["fabrikam"]).matches("fa8rikam-quiet-harbour"));
    }

    #[test]
    fn bang_reads_as_i() {
        assert!(banned(&["fabrikam"]).matches("fabr!kam-quiet-harbour"));
    }

    #[test]
    fn a_term_is_normalised_as_the_password_is() {
        let list = banned(&["C0nt0$0"]);
        assert_eq!(list.terms(), ["contoso"]);
        assert!(list.matches("quiet-contoso-harbour"));
        // A term's 1 matches an l, an i or a 1.
        let list = banned(&["b1ll"]);
        assert!(list.matches("bill-quiet-harbour"));
        assert!(list.matches("bll-quiet-harbour"));
        assert!(list.matches("b1ll-quiet-harbour"));
    }

    #[test]
    fn one_substitution_is_banned() {
        assert!(banned(&["contoso"]).matches("quiet-contaso-harbour"));
    }

    #[test]
    fn one_insertion_is_banned() {
        assert!(banned(&["contoso"]).matches("quiet-conttoso-harbour"));
        assert!(banned(&["contoso"]).matches("quiet-cxontoso-harbour"));
    }

    #[test]
    fn one_deletion_is_banned() {
        assert!(banned(&["contoso"]).matches("quiet-contso-harbour"));
        // The first or the last character of the term.
        assert!(banned(&["contoso"]).matches("ontoso-quiet-harbour"));
        assert!(banned(&["contoso"]).matches("quiet-harbour-contos"));
    }

    #[test]
    fn a_substitution_and_a_look_alike_together_are_still_one_edit() {
        assert!(banned(&["contoso"]).matches("quiet-k0nt0s0-harbour"));
    }

    #[test]
    fn two_edits_pass() {
        let list = banned(&["contoso"]);
        assert!(!list.matches("quiet-kantoso-harbour"));
        assert!(!list.matches("quiet-cntso-harbour"));
        assert!(!list.matches("quiet-coontooso-harbour"));
    }

    #[test]
    fn a_password_holding_no_term_passes() {
        let list = banned(&["contoso", "fabrikam", "northwind"]);
        assert!(!list.matches("sunlit marmalade quarrel vortex"));
        assert!(!list.matches("Tr4vel-Plum-Kettle-92!"));
        assert!(!BannedTerms::default().matches("contoso"));
    }

    #[test]
    fn the_halves_never_drop_a_match_the_edit_distance_finds() {
        // Random terms and passwords over a small alphabet (with the
        // look-alikes and `l`, `i`, `1`), so near misses are common: the
        // candidates step must never hide one from the automaton.
        let alphabet: Vec<char> = "abclio1!0s$".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut hits = 0;
        for _ in 0..300 {
            let terms: Vec<String> = (0..3)
                .map(|_| {
                    let len = 4 + next(5);
                    (0..len).map(|_| alphabet[next(alphabet.len())]).collect()
                })
                .collect();
            let refs: Vec<&str> = terms.iter().map(String::as_str).collect();
            let list = banned(&refs);
            for _ in 0..20 {
                let len = 2 + next(12);
                let pw: String = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
                let want = naive(&refs, &pw);
                assert_eq!(list.matches(&pw), want, "{pw} against {refs:?}");
                hits += usize::from(want);
            }
        }
        assert!(hits > 100, "the random cases hit often enough: {hits}");
    }

    #[test]
    fn the_automaton_agrees_with_the_edit_distance() {
        let terms = ["contoso", "b1ll", "abcd", "zzzzzzzzzzzzzzzz"];
        let list = banned(&terms);
        let pieces = [
            "con", "toso", "c0n", "x", "bil", "1", "ab", "cd", "zzzzzzz", "tos",
        ];
        // Every password of up to four pieces, against the plain definition.
        let mut n = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in ["", "o", "bcd", "zzzzzzzzz"] {
                        let pw = format!("{a}{b}{c}{d}");
                        assert_eq!(list.matches(&pw), naive(&terms, &pw), "{pw}");
                        n += 1;
                    }
                }
            }
        }
        assert!(n >= 4000);
    }

    #[test]
    fn terms_outside_four_to_sixteen_characters_or_over_a_thousand_are_refused() {
        assert_eq!(
            BannedTerms::new(["abc"]).err(),
            Some(BannedError::Length("abc".into(), 3))
        );
        assert!(matches!(
            BannedTerms::new(["a".repeat(17)]),
            Err(BannedError::Length(_, 17))
        ));
        assert!(BannedTerms::new(["abcd", &"a".repeat(16)]).is_ok());
        let many: Vec<String> = (0..1001).map(|i| format!("term{i:04}")).collect();
        assert_eq!(
            BannedTerms::new(&many).err(),
            Some(BannedError::TooMany(1001))
        );
        assert_eq!(
            BannedTerms::new(&many[..1000]).map(|b| b.len()).ok(),
            Some(1000)
        );
        // Blanks are skipped and duplicates (once normalised) counted once.
        assert_eq!(
            BannedTerms::new([" Contoso ", "", "c0ntoso"])
                .map(|b| b.len())
                .ok(),
            Some(1)
        );
    }
}
