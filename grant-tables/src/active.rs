//! Active entries: the pins a mapping or copy holds on another domain's grant, and the
//! `GTF_reading`/`GTF_writing` bits they set in the shared entry (`_set_status_v1`,
//! `unlock_out_clear`), shared by `map_grant_ref`, the unmaps and `GNTTABOP_copy`.

use xen_abi::grant_table::{
    GnttabStatus, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_SUB_PAGE, GTF_TYPE_MASK,
    GTF_WRITING,
};
use xen_abi::{DomId, Gfn, GrantRef, Mfn};

use crate::mem::{header_word, split_header_word, GrantMemory};
use crate::system::GrantSystem;

/// Retries of the shared-entry `cmpxchg` before giving up (`_set_status_v1`: `retries++ == 4`).
pub const CMPXCHG_RETRIES: u32 = 5;

/// Pin counts of one active entry (`active_grant_entry.pin`: four 8-bit counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    /// Writable host-CPU mappings (and in-flight copies writing the frame).
    pub hstw: u8,
    /// Read-only host-CPU mappings (and in-flight copies reading the frame).
    pub hstr: u8,
    /// Writable device mappings.
    pub devw: u8,
    /// Read-only device mappings.
    pub devr: u8,
}

/// Which pair of counters a pin uses: host-CPU or device mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PinKind {
    Host,
    Device,
}

impl Pins {
    /// Any pin at all.
    pub fn any(&self) -> bool {
        (self.hstw | self.hstr | self.devw | self.devr) != 0
    }
    /// Any writable pin (`GNTPIN_hstw_mask | GNTPIN_devw_mask`).
    pub fn writable(&self) -> bool {
        (self.hstw | self.devw) != 0
    }
    /// `act->pin & 0x80808080`: one more pin could overflow a counter.
    pub fn near_overflow(&self) -> bool {
        ((self.hstw | self.hstr | self.devw | self.devr) & 0x80) != 0
    }
    fn slot(&mut self, kind: PinKind, readonly: bool) -> &mut u8 {
        match (kind, readonly) {
            (PinKind::Host, false) => &mut self.hstw,
            (PinKind::Host, true) => &mut self.hstr,
            (PinKind::Device, false) => &mut self.devw,
            (PinKind::Device, true) => &mut self.devr,
        }
    }
    fn inc(&mut self, kind: PinKind, readonly: bool) {
        let s = self.slot(kind, readonly);
        *s = s.saturating_add(1);
    }
    fn dec(&mut self, kind: PinKind, readonly: bool) {
        let s = self.slot(kind, readonly);
        *s = s.saturating_sub(1);
    }
}

/// The hypervisor's shadow of a pinned entry (`active_grant_entry`). Exists only while pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveEntry {
    /// Pin counts.
    pub pins: Pins,
    /// The domain the pins belong to.
    pub domid: DomId,
    /// The frame pinned.
    pub mfn: Mfn,
}

/// A guest-memory access that failed is `GNTST_general_error`.
pub(crate) fn ok_or_general<T>(v: Option<T>) -> Result<T, GnttabStatus> {
    v.ok_or(GnttabStatus::GeneralError)
}

impl GrantSystem {
    /// `_set_status_v1`: check the entry (when not yet pinned) and set `GTF_reading`, plus
    /// `GTF_writing` for a writable pin, with a bounded compare-and-swap loop.
    fn set_status_v1<M: GrantMemory>(
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        pinned: bool,
        readonly: bool,
        mapflag: bool,
        ld: DomId,
    ) -> Result<(), GnttabStatus> {
        let mask = if mapflag {
            GTF_TYPE_MASK | GTF_SUB_PAGE
        } else {
            GTF_TYPE_MASK
        };
        let e = ok_or_general(mem.read_entry(rd, gref))?;
        let mut cur = header_word(e.flags, e.domid);
        for _ in 0..CMPXCHG_RETRIES {
            let (flags, domid) = split_header_word(cur);
            if !pinned && ((flags & mask) != GTF_PERMIT_ACCESS || domid != ld) {
                return Err(GnttabStatus::GeneralError);
            }
            let mut new = flags | GTF_READING;
            if !readonly {
                if flags & GTF_READONLY != 0 {
                    return Err(GnttabStatus::GeneralError);
                }
                new |= GTF_WRITING;
            }
            let prev = ok_or_general(mem.cmpxchg_header(rd, gref, cur, header_word(new, domid)))?;
            if prev == cur {
                return Ok(());
            }
            cur = prev;
        }
        // "Shared grant entry is unstable".
        Err(GnttabStatus::GeneralError)
    }

    /// The `unlock_out_clear` tail shared by every release path: drop `GTF_writing` when the
    /// last writable pin went (and this op was writable), `GTF_reading` when the last pin went.
    fn clear_status<M: GrantMemory>(
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        pins: Pins,
        readonly: bool,
    ) {
        let mut clear = 0;
        if !readonly && !pins.writable() {
            clear |= GTF_WRITING;
        }
        if !pins.any() {
            clear |= GTF_READING;
        }
        if clear != 0 {
            mem.clear_flags(rd, gref, clear);
        }
    }

    /// Pin `gref` of `rd` for `ld` (the common core of `map_grant_ref` and
    /// `acquire_grant_for_copy`). Returns the frame.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pin<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        ld: DomId,
        rd: DomId,
        gref: GrantRef,
        readonly: bool,
        mapflag: bool,
        kinds: &[PinKind],
    ) -> Result<Mfn, GnttabStatus> {
        let rgt = ok_or_general(self.domains.get(&rd))?;
        if gref.0 >= rgt.nr_entries() {
            return Err(GnttabStatus::BadGntref);
        }
        let act = rgt.active.get(&gref.0).copied();
        if let Some(a) = act {
            if a.domid != ld || a.pins.near_overflow() {
                return Err(GnttabStatus::GeneralError);
            }
        }
        let need_status = match act {
            None => true,
            Some(a) => !readonly && !a.pins.writable(),
        };
        if need_status {
            Self::set_status_v1(mem, rd, gref, act.is_some(), readonly, mapflag, ld)?;
        }
        let mut entry = match act {
            Some(a) => a,
            None => {
                // Read the frame after the flags are set, as Xen re-reads `shared_entry_v1().frame`.
                let resolved = mem
                    .read_entry(rd, gref)
                    .ok_or(GnttabStatus::GeneralError)
                    .and_then(|e| mem.resolve_frame(rd, Gfn(u64::from(e.frame))));
                match resolved {
                    Ok(mfn) => ActiveEntry {
                        pins: Pins::default(),
                        domid: ld,
                        mfn,
                    },
                    Err(s) => {
                        Self::clear_status(mem, rd, gref, Pins::default(), readonly);
                        return Err(s);
                    }
                }
            }
        };
        for k in kinds {
            entry.pins.inc(*k, readonly);
        }
        if let Some(rgt) = self.domains.get_mut(&rd) {
            rgt.active.insert(gref.0, entry);
        }
        Ok(entry.mfn)
    }

    /// Undo `pin` (`undo_out` / `release_grant_for_copy`).
    pub(crate) fn unpin<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        readonly: bool,
        kinds: &[PinKind],
    ) -> Option<DomId> {
        let rgt = self.domains.get_mut(&rd)?;
        let act = rgt.active.get_mut(&gref.0)?;
        for k in kinds {
            act.pins.dec(*k, readonly);
        }
        let pins = act.pins;
        if !pins.any() {
            rgt.active.remove(&gref.0);
        }
        Self::clear_status(mem, rd, gref, pins, readonly);
        self.reap_if_unpinned(rd).then_some(rd)
    }
}

#[cfg(test)]
mod tests {
    //! The shared-entry header word the status compare-and-swap works on.
    use super::*;
    use crate::fixtures::*;

    use crate::mem::GrantEntries;

    #[test]
    fn grant_entries_cmpxchg_header_word_layout_is_flags_then_domid() {
        // union grant_combo: flags in the low 16 bits, domid in the high 16 bits.
        let (_, mut mem) = granted(false);
        let word = header_word(GTF_PERMIT_ACCESS, BACK);
        assert_eq!(
            mem.cmpxchg_header(FRONT, R, word, word | u32::from(GTF_READING)),
            Some(word)
        );
        assert_eq!(
            split_header_word(word | 8),
            (GTF_PERMIT_ACCESS | GTF_READING, BACK)
        );
    }
}
