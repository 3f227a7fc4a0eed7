//! Node permissions: `n`/`r`/`w`/`b` entries, their wire form, and `perm_for_conn`.

use crate::path::strtol_u32;

/// `XS_PERM_READ`.
pub const PERM_READ: u8 = 1;
/// `XS_PERM_WRITE`.
pub const PERM_WRITE: u8 = 2;
/// `XS_PERM_OWNER`: only ever granted, never stored.
pub const PERM_OWNER: u8 = 8;
/// `XS_PERM_IGNORE`: the entry names a domain that does not exist (or did not when the node was
/// written); it is still listed but grants nothing.
pub const PERM_IGNORE: u8 = 16;

/// One entry: a domain and what it may do (`struct xs_permissions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Perm {
    /// The domain (C's `unsigned int id`).
    pub id: u32,
    /// `PERM_READ | PERM_WRITE` bits.
    pub perms: u8,
}

/// A node's permission list: entry 0 is the owner, and its bits apply to every domain not listed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Perms(pub PermList);

/// The entries, kept inline up to two (nearly every node has one or two: no allocation).
pub type PermList = smallvec::SmallVec<[Perm; 2]>;

impl Perms {
    /// `n<owner>`: nobody but the owner (and privileged callers).
    pub fn owner_only(owner: u32) -> Perms {
        Perms(smallvec::smallvec![Perm {
            id: owner,
            perms: 0,
        }])
    }

    /// The owning domain.
    pub fn owner(&self) -> u32 {
        self.0.first().map_or(0, |p| p.id)
    }

    /// Parses `num` NUL-terminated entries from `strings` (`xs_strings_to_perms`); `None` is
    /// `EINVAL`.
    pub fn parse(strings: &[&str]) -> Option<Perms> {
        let mut v = PermList::with_capacity(strings.len());
        for s in strings {
            let perms = match s.as_bytes().first()? {
                b'r' => PERM_READ,
                b'w' => PERM_WRITE,
                b'b' => PERM_READ | PERM_WRITE,
                b'n' => 0,
                _ => return None,
            };
            let num = &s[1..];
            if num.is_empty() {
                return None;
            }
            let (id, rest) = strtol_u32(num);
            if !rest.is_empty() {
                return None;
            }
            v.push(Perm { id, perms });
        }
        Some(Perms(v))
    }

    /// The wire form: each entry NUL-terminated (`perms_to_strings`; ids print as C's `%i`).
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.0 {
            let c = match p.perms & (PERM_READ | PERM_WRITE) {
                PERM_READ => 'r',
                PERM_WRITE => 'w',
                3 => 'b',
                _ => 'n',
            };
            out.extend_from_slice(format!("{c}{}", p.id as i32).as_bytes());
            out.push(0);
        }
        out
    }

    /// Bytes the entries take in C's node record (8 per entry).
    pub fn record_len(&self) -> usize {
        self.0.len() * 8
    }
}

/// Who is asking: what `perm_for_conn` needs to know about a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The connection's domain (0 for sockets).
    pub domid: u32,
    /// dom0, the `--priv-domid` domain, or a socket connection.
    pub privileged: bool,
    /// The domain this one acts for after `SET_TARGET`.
    pub target: Option<u32>,
}

impl Caller {
    /// A privileged dom0 caller (Unix socket connections, dom0's ring).
    pub const DOM0: Caller = Caller {
        domid: 0,
        privileged: true,
        target: None,
    };

    /// An unprivileged domain's connection.
    pub fn domain(domid: u32) -> Caller {
        Caller {
            domid,
            privileged: false,
            target: None,
        }
    }

    /// `perm_for_conn`: privileged callers, the owner and the owner's `SET_TARGET` holder get
    /// everything; then the first matching entry after the owner's; then the owner's entry.
    pub fn perm_for(&self, perms: &Perms) -> u8 {
        let all = PERM_READ | PERM_WRITE | PERM_OWNER;
        let owner = perms.owner();
        if self.privileged || owner == self.domid || self.target == Some(owner) {
            return all;
        }
        for p in perms.0.iter().skip(1) {
            if p.perms & PERM_IGNORE == 0 && (p.id == self.domid || self.target == Some(p.id)) {
                return p.perms & (PERM_READ | PERM_WRITE);
            }
        }
        perms
            .0
            .first()
            .map_or(0, |p| p.perms & (PERM_READ | PERM_WRITE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Perms {
        Perms::parse(s).expect("valid perms in test")
    }

    #[test]
    fn parse_and_format_round_trip() {
        let perms = p(&["n0", "r1", "w2", "b3"]);
        assert_eq!(perms.to_wire(), b"n0\0r1\0w2\0b3\0");
        assert_eq!(Perms::parse(&["x1"]), None);
        assert_eq!(Perms::parse(&["r"]), None);
        assert_eq!(Perms::parse(&["r1x"]), None);
        assert_eq!(p(&["r0x10"]).0[0].id, 16);
    }

    #[test]
    fn perm_for_owner_gets_all_others_get_entry_or_default() {
        let perms = p(&["r5", "w6", "n7"]);
        assert_eq!(Caller::domain(5).perm_for(&perms), 11);
        assert_eq!(Caller::domain(6).perm_for(&perms), PERM_WRITE);
        assert_eq!(Caller::domain(7).perm_for(&perms), 0);
        assert_eq!(Caller::domain(8).perm_for(&perms), PERM_READ);
        assert_eq!(Caller::DOM0.perm_for(&perms), 11);
    }

    #[test]
    fn perm_for_target_holder_acts_as_target() {
        let perms = p(&["n5", "r6"]);
        let dm = Caller {
            domid: 9,
            privileged: false,
            target: Some(5),
        };
        assert_eq!(dm.perm_for(&perms), 11);
        let dm6 = Caller {
            domid: 9,
            privileged: false,
            target: Some(6),
        };
        assert_eq!(dm6.perm_for(&perms), PERM_READ);
    }
}
