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
//! fuzzy match). It runs as the bit-parallel Shift-And automaton with one
//! error (Wu and Manber): one 16-bit state pair per term, stepped once per
//! password character, with the terms laid side by side so the compiler can
//! step them in vector lanes. A check costs the password's length times the
//! number of terms, with no branch on the data (BENCHMARKS.md has the figure).

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
        Ok(Self(Arc::new(Matcher {
            terms: normal,
            alphabet,
            rows,
            accept,
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
        let width = m.terms.len();
        if width == 0 {
            return false;
        }
        // Bit j of `exact[k]`: the term's first j+1 characters end here
        // exactly; of `one[k]`: with one edit. A deleted first character is
        // one edit before any text is read.
        let mut exact = vec![0u16; width];
        let mut one = vec![1u16; width];
        let mut found = 0u16;
        for c in password.chars().flat_map(normalised) {
            let row = m.alphabet.binary_search(&c).map_or(0, |i| i + 1);
            let Some(masks) = m.rows.get(row * width..(row + 1) * width) else {
                return false;
            };
            for (((e, o), &mask), &acc) in exact
                .iter_mut()
                .zip(one.iter_mut())
                .zip(masks)
                .zip(&m.accept)
            {
                let was = *e;
                let now = ((was << 1) | 1) & mask;
                // Matched with one edit: a match extended, the character
                // inserted (`was`), put for the term's next one (substituted),
                // or the term's next character skipped (deleted, after `now`).
                let edited = (((*o << 1) | 1) & mask) | was | (was << 1) | 1 | (now << 1);
                *e = now;
                *o = edited;
                found |= (now | edited) & acc;
            }
        }
        found != 0
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
