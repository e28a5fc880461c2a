//! Known-compromised passwords, offline: the rule that refuses a new password
//! with the reason `compromised` when it is on the shipped breach list.
//!
//! The list is a binary fuse filter (`xorf`'s `BinaryFuse16`) of the list's
//! entries, each NFKC-normalised and lower-cased (so `PassWord123` is refused
//! when `password123` was breached) and hashed to 64 bits by [`key`]. Sixteen
//! bits a fingerprint: about one password in 65,536 that was never breached is
//! refused anyway, and a breached one never passes. `shared/domain/data/` has
//! the filter, where its list came from and the command that rebuilds it
//! (`tools/compromised`).
//!
//! The file is read once, at cold start: `SSPR_COMPROMISED_FILTER` names it,
//! else [`CompromisedFilter::shipped`] looks beside the executable and then
//! in this crate's source folder. The configuration refuses to start without
//! it: a check that is silently absent is a defect.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use unicode_normalization::UnicodeNormalization as _;
use xorf::Filter as _;

/// The filter's file name, beside the executable or in `data/`.
pub const FILE_NAME: &str = "compromised.bin";

/// The file's first bytes: the format and its version.
const MAGIC: &[u8; 8] = b"SSPRBF16";
/// Magic, the entry count (u32), then the filter's descriptor: seed (u64),
/// segment length, its mask and the segments' total length (u32 each), all
/// little-endian; the 16-bit fingerprints follow.
const HEADER: usize = 8 + 4 + 8 + 4 + 4 + 4;

/// Why a filter could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("{0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("not a compromised-password filter: {0}")]
    Format(&'static str),
    #[error("the filter could not be built: {0}")]
    Build(&'static str),
}

/// The 64-bit key of a password (or a list entry): SHA-256 of its NFKC,
/// lower-cased form, the first 8 bytes little-endian. The same function
/// builds the filter and checks against it, so the two always agree; the
/// digest is already linked for the tokens.
pub fn key(password: &str) -> u64 {
    let normal: String = password.nfkc().collect::<String>().to_lowercase();
    let digest = crate::digest::sha256(&[normal.as_bytes()]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The breach list as a filter.
pub struct CompromisedFilter {
    entries: u32,
    fingerprints: Fingerprints,
}

/// Where a filter's fingerprints are: built in memory, or in a file whose
/// header was checked when it was opened and whose body is read on the first
/// lookup. A start only opens the file (one small read), so the functions
/// that never check a new password (dispatch, sign-in, methods, pages, the
/// mailer) never pay for the megabyte, and the ones that do pay on their
/// first check, not in their init.
enum Fingerprints {
    Built(xorf::BinaryFuse16),
    File {
        path: PathBuf,
        loaded: OnceLock<Option<xorf::BinaryFuse16>>,
    },
}

impl std::fmt::Debug for CompromisedFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompromisedFilter({} entries)", self.entries)
    }
}

impl CompromisedFilter {
    /// A filter of `passwords` (the rebuild tool's and the tests' way in).
    pub fn build<S: AsRef<str>>(
        passwords: impl IntoIterator<Item = S>,
    ) -> Result<Self, FilterError> {
        let mut keys: Vec<u64> = passwords.into_iter().map(|p| key(p.as_ref())).collect();
        keys.sort_unstable();
        keys.dedup();
        let entries =
            u32::try_from(keys.len()).map_err(|_| FilterError::Build("too many entries"))?;
        let filter = xorf::BinaryFuse16::try_from(keys).map_err(FilterError::Build)?;
        Ok(Self {
            entries,
            fingerprints: Fingerprints::Built(filter),
        })
    }

    /// The filter itself; for a file, read on the first call. `None`: the
    /// file opened at start can no longer be read as it was (changed or gone
    /// under a running process; logged).
    fn filter(&self) -> Option<&xorf::BinaryFuse16> {
        match &self.fingerprints {
            Fingerprints::Built(f) => Some(f),
            Fingerprints::File { path, loaded } => loaded
                .get_or_init(|| {
                    match std::fs::read(path)
                        .map_err(|e| FilterError::Read(path.clone(), e))
                        .and_then(|b| parse(&b))
                    {
                        Ok((_, f)) => Some(f),
                        Err(e) => {
                            tracing::error!(error = %e, "the breach filter opened at start cannot be read: every new password is refused");
                            None
                        }
                    }
                })
                .as_ref(),
        }
    }

    /// True when `password` is on the list (or, once in 65,536, collides with
    /// an entry). A filter whose file became unreadable after it was opened
    /// holds every password: the check fails closed, never silently absent.
    pub fn contains(&self, password: &str) -> bool {
        self.filter().is_none_or(|f| f.contains(&key(password)))
    }

    /// How many distinct entries the list had.
    pub fn entries(&self) -> u32 {
        self.entries
    }

    /// The file's bytes (empty for a file that can no longer be read).
    pub fn to_bytes(&self) -> Vec<u8> {
        let Some(filter) = self.filter() else {
            return Vec::new();
        };
        let d = &filter.descriptor;
        let mut out = Vec::with_capacity(HEADER + filter.fingerprints.len() * 2);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&d.seed.to_le_bytes());
        out.extend_from_slice(&d.segment_length.to_le_bytes());
        out.extend_from_slice(&d.segment_length_mask.to_le_bytes());
        out.extend_from_slice(&d.segment_count_length.to_le_bytes());
        for f in filter.fingerprints.iter() {
            out.extend_from_slice(&f.to_le_bytes());
        }
        out
    }

    /// The filter in `bytes`, refused unless its shape is one whose every
    /// lookup stays inside its fingerprints (a lookup indexes them with no
    /// bounds it checks itself).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FilterError> {
        let (entries, filter) = parse(bytes)?;
        Ok(Self {
            entries,
            fingerprints: Fingerprints::Built(filter),
        })
    }

    /// The filter in the file at `path`: its header read and checked against
    /// the file's length now (what a damaged or truncated file fails), its
    /// fingerprints on the first lookup.
    pub fn load(path: &Path) -> Result<Self, FilterError> {
        use std::io::Read as _;
        let read = |e| FilterError::Read(path.to_owned(), e);
        let mut file = std::fs::File::open(path).map_err(read)?;
        let len = file.metadata().map_err(read)?.len();
        let mut head = [0u8; HEADER];
        file.read_exact(&mut head)
            .map_err(|_| FilterError::Format("shorter than its header"))?;
        let h = Header::parse(&head)?;
        if len != HEADER as u64 + h.body_len() {
            return Err(FilterError::Format("inconsistent descriptor"));
        }
        Ok(Self {
            entries: h.entries,
            fingerprints: Fingerprints::File {
                path: path.to_owned(),
                loaded: OnceLock::new(),
            },
        })
    }

    /// Where the shipped filter is looked for when no path is configured:
    /// beside the executable (what a Lambda zip built with `cargo lambda
    /// build --include` holds, at the path it was given from the workspace,
    /// or the file copied there), then this crate's `data/` folder (`cargo
    /// run`, `cargo test`, `cargo lambda watch` in a checkout).
    pub fn default_paths() -> Vec<PathBuf> {
        let mut paths = Vec::new();
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            paths.push(dir.join(FILE_NAME));
            paths.push(dir.join("shared/domain/data").join(FILE_NAME));
        }
        paths.push(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("data")
                .join(FILE_NAME),
        );
        paths
    }

    /// The shipped filter from the first of [`Self::default_paths`] that
    /// exists, read once per process; `None` when none does.
    pub fn shipped() -> Option<Arc<Self>> {
        static SHIPPED: OnceLock<Option<Arc<CompromisedFilter>>> = OnceLock::new();
        SHIPPED
            .get_or_init(|| {
                Self::default_paths()
                    .iter()
                    .find(|p| p.is_file())
                    .and_then(|p| Self::load(p).ok())
                    .map(Arc::new)
            })
            .clone()
    }
}

/// A filter file's header: the entries and the filter's descriptor.
struct Header {
    entries: u32,
    descriptor: xorf::Descriptor,
}

impl Header {
    /// The header, refused unless its shape is one whose every lookup stays
    /// inside the fingerprints: a lookup reads three, below the segments'
    /// total length, then one and two segments on, each within its segment.
    fn parse(head: &[u8; HEADER]) -> Result<Self, FilterError> {
        let (magic, rest) = head.split_at(8);
        if magic != MAGIC {
            return Err(FilterError::Format("wrong magic"));
        }
        let u32_at = |at: usize| -> u32 {
            let mut b = [0u8; 4];
            b.copy_from_slice(&rest[at..at + 4]);
            u32::from_le_bytes(b)
        };
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&rest[4..12]);
        let (length, mask, count_length) = (u32_at(12), u32_at(16), u32_at(20));
        let fine = length.is_power_of_two()
            && mask == length - 1
            && count_length > 0
            && count_length % length == 0;
        if !fine {
            return Err(FilterError::Format("inconsistent descriptor"));
        }
        Ok(Self {
            entries: u32_at(0),
            descriptor: xorf::Descriptor {
                seed: u64::from_le_bytes(seed),
                segment_length: length,
                segment_length_mask: mask,
                segment_count_length: count_length,
            },
        })
    }

    /// The bytes of fingerprints the descriptor needs.
    fn body_len(&self) -> u64 {
        let d = &self.descriptor;
        (u64::from(d.segment_count_length) + 2 * u64::from(d.segment_length)) * 2
    }
}

/// A whole filter file: its entries and the filter.
fn parse(bytes: &[u8]) -> Result<(u32, xorf::BinaryFuse16), FilterError> {
    let (head, body) = bytes
        .split_first_chunk::<HEADER>()
        .ok_or(FilterError::Format("shorter than its header"))?;
    let h = Header::parse(head)?;
    if body.len() as u64 != h.body_len() {
        return Err(FilterError::Format("inconsistent descriptor"));
    }
    let fingerprints: Box<[u16]> = body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Ok((
        h.entries,
        xorf::BinaryFuse16 {
            descriptor: h.descriptor,
            fingerprints,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_found_and_its_case_does_not_matter() {
        let list = ["password123", "iloveyou2", "Tr0ub4dor&3", "qwertyuiop"];
        let f = CompromisedFilter::build(list).expect("built");
        assert_eq!(f.entries(), 4);
        for pw in list {
            assert!(f.contains(pw), "{pw}");
        }
        assert!(f.contains("PASSWORD123"));
        assert!(f.contains("tr0ub4dor&3"));
        assert!(!f.contains("sunlit marmalade quarrel vortex"));
    }

    #[test]
    fn a_filter_survives_its_file_and_a_damaged_one_is_refused() {
        let f = CompromisedFilter::build((0..5000).map(|i| format!("entry-{i}"))).expect("built");
        let bytes = f.to_bytes();
        let back = CompromisedFilter::from_bytes(&bytes).expect("read back");
        assert_eq!(back.entries(), 5000);
        assert!((0..5000).all(|i| back.contains(&format!("entry-{i}"))));
        assert!(CompromisedFilter::from_bytes(&bytes[..bytes.len() - 2]).is_err());
        assert!(CompromisedFilter::from_bytes(&bytes[..10]).is_err());
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(CompromisedFilter::from_bytes(&bad).is_err());
        // A segment length that is no power of two.
        let mut bad = bytes;
        bad[20..24].copy_from_slice(&3u32.to_le_bytes());
        assert!(CompromisedFilter::from_bytes(&bad).is_err());
    }

    #[test]
    fn a_file_is_checked_when_opened_and_read_at_its_first_lookup() {
        let f = CompromisedFilter::build((0..5000).map(|i| format!("entry-{i}"))).expect("built");
        let bytes = f.to_bytes();
        let dir = std::env::temp_dir().join(format!("sspr-filter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, &bytes).expect("written");
        let opened = CompromisedFilter::load(&path).expect("opened");
        assert_eq!(opened.entries(), 5000);
        assert!(opened.contains("entry-42") && !opened.contains("sunlit marmalade quarrel"));
        // Truncated, or a descriptor that does not fit the length: refused at open.
        std::fs::write(&path, &bytes[..bytes.len() - 2]).expect("written");
        assert!(CompromisedFilter::load(&path).is_err());
        std::fs::write(&path, &bytes[..HEADER - 1]).expect("written");
        assert!(CompromisedFilter::load(&path).is_err());
        // Opened whole, then gone before the first lookup: every password is
        // refused (fails closed), none admitted unchecked.
        std::fs::write(&path, &bytes).expect("written");
        let opened = CompromisedFilter::load(&path).expect("opened");
        std::fs::remove_file(&path).expect("removed");
        assert!(opened.contains("sunlit marmalade quarrel"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_shipped_filter_is_found_and_holds_the_breached_list() {
        let f = CompromisedFilter::shipped().expect("data/compromised.bin is found");
        assert!(f.entries() > 400_000, "{}", f.entries());
        // Entries of SecLists' 10-million-password-list top 1,000,000.
        for pw in ["password1234", "iloveyou2", "qwertyuiop", "1qaz2wsx3edc"] {
            assert!(f.contains(pw), "{pw}");
        }
        assert!(!f.contains("sunlit marmalade quarrel vortex"));
    }

    #[test]
    fn a_key_is_the_first_eight_bytes_of_the_normal_form_s_sha256_little_endian() {
        // A fixed vector (computed apart from this code): the shipped filter
        // was built with these keys.
        assert_eq!(key("P@ssw0rd"), 8_300_210_243_683_579_296);
        assert_eq!(key("p@SSW0RD"), key("P@ssw0rd"), "lower-cased first");
    }
}
