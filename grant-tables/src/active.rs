//! Active entries: the pins a mapping or copy holds on another domain's grant, and the
//! `GTF_reading`/`GTF_writing` bits they set in the shared entry (`_set_status_v1`,
//! `unlock_out_clear`), shared by `map_grant_ref`, the unmaps and `GNTTABOP_copy`.

use xen_abi::grant_table::{
    GnttabStatus, GTF_PERMIT_ACCESS, GTF_READING, GTF_READONLY, GTF_SUB_PAGE, GTF_TRANSITIVE,
    GTF_TYPE_MASK, GTF_WRITING,
};
use xen_abi::{DomId, Gfn, GrantRef, Mfn, PAGE_SIZE};

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
    /// The first byte the grant covers (`act->start`: a v2 sub-page grant's `page_off`).
    pub start: u16,
    /// The bytes it covers (`act->length`).
    pub length: u16,
    /// A sub-page or transitive grant (`act->is_sub_page`): it can only be copied, not mapped.
    pub sub_page: bool,
    /// For a transitive grant, the grant it passes on (`act->trans_domain`, `trans_gref`),
    /// which this pin holds pinned in turn.
    pub trans: Option<(DomId, GrantRef)>,
}

/// A domain's active entries, indexed by grant reference (Xen's `active` frames): a slot per
/// entry up to the highest pinned, so pinning and unpinning allocate nothing once the table has
/// grown to the references in use.
#[derive(Clone, Debug, Default)]
pub(crate) struct ActiveTable {
    slots: alloc::vec::Vec<Option<ActiveEntry>>,
    pinned: usize,
}

impl ActiveTable {
    pub(crate) fn get(&self, gref: u32) -> Option<&ActiveEntry> {
        self.slots.get(gref as usize)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, gref: u32) -> Option<&mut ActiveEntry> {
        self.slots.get_mut(gref as usize)?.as_mut()
    }

    pub(crate) fn contains_key(&self, gref: u32) -> bool {
        self.get(gref).is_some()
    }

    pub(crate) fn insert(&mut self, gref: u32, entry: ActiveEntry) {
        let i = gref as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        if self.slots[i].replace(entry).is_none() {
            self.pinned += 1;
        }
    }

    pub(crate) fn remove(&mut self, gref: u32) {
        if let Some(slot) = self.slots.get_mut(gref as usize) {
            if slot.take().is_some() {
                self.pinned -= 1;
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pinned == 0
    }

    /// The pinned entries in reference order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &ActiveEntry)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((i as u32, a.as_ref()?)))
    }

    /// Whether any entry from `gref` on is pinned.
    pub(crate) fn any_from(&self, gref: u32) -> bool {
        self.slots.iter().skip(gref as usize).any(Option::is_some)
    }
}

/// What a pin yields: the frame, its owner (another domain's for a transitive grant) and the
/// bytes the grant covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pinned {
    pub(crate) mfn: Mfn,
    pub(crate) owner: DomId,
    pub(crate) start: u16,
    pub(crate) length: u16,
}

/// A guest-memory access that failed is `GNTST_general_error`.
pub(crate) fn ok_or_general<T>(v: Option<T>) -> Result<T, GnttabStatus> {
    v.ok_or(GnttabStatus::GeneralError)
}

/// The shared entry's `(flags, domid)` header, of either version.
fn header<M: GrantMemory>(
    mem: &M,
    rd: DomId,
    gref: GrantRef,
    version: u32,
) -> Option<(u16, DomId)> {
    if version == 1 {
        mem.read_entry(rd, gref).map(|e| (e.flags, e.domid))
    } else {
        mem.read_entry_v2(rd, gref).map(|e| {
            let h = e.hdr();
            (h.flags, h.domid)
        })
    }
}

/// The header bits `_set_status` compares with the grant's type: a mapping also refuses
/// `GTF_sub_page`.
fn type_mask(mapflag: bool) -> u16 {
    if mapflag {
        GTF_TYPE_MASK | GTF_SUB_PAGE
    } else {
        GTF_TYPE_MASK
    }
}

/// `gnttab_clear_flags` on the word that holds `GTF_reading`/`GTF_writing`: the v1 entry's
/// flags, or the v2 status word.
fn clear_busy<M: GrantMemory>(mem: &mut M, rd: DomId, gref: GrantRef, version: u32, mask: u16) {
    if version == 1 {
        mem.clear_flags(rd, gref, mask);
    } else {
        mem.clear_status_bits(rd, gref, mask);
    }
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
        let mask = type_mask(mapflag);
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

    /// `_set_status_v2`: check the header (when not yet pinned), set the status word's
    /// `GTF_reading` (and `GTF_writing`), then check the header again — the guest may have
    /// changed it meanwhile — and undo on a change. A transitive grant passes the type check
    /// when it is not for a mapping.
    fn set_status_v2<M: GrantMemory>(
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        pinned: bool,
        readonly: bool,
        mapflag: bool,
        ld: DomId,
    ) -> Result<(), GnttabStatus> {
        let mask = type_mask(mapflag);
        let type_ok = |flags: u16| {
            flags & mask == GTF_PERMIT_ACCESS || (!mapflag && flags & mask == GTF_TRANSITIVE)
        };
        let (flags, domid) = ok_or_general(header(mem, rd, gref, 2))?;
        if !pinned && (!type_ok(flags) || domid != ld) {
            return Err(GnttabStatus::GeneralError);
        }
        if !readonly && flags & GTF_READONLY != 0 {
            return Err(GnttabStatus::GeneralError);
        }
        let busy = if readonly {
            GTF_READING
        } else {
            GTF_READING | GTF_WRITING
        };
        ok_or_general(mem.set_status_bits(rd, gref, busy))?;
        let (flags, domid) = ok_or_general(header(mem, rd, gref, 2))?;
        if !pinned {
            if !type_ok(flags) || domid != ld || (!readonly && flags & GTF_READONLY != 0) {
                // "Unstable flags".
                mem.clear_status_bits(rd, gref, GTF_READING | GTF_WRITING);
                return Err(GnttabStatus::GeneralError);
            }
        } else if flags & GTF_READONLY != 0 {
            // "Unstable grant readonly flag".
            mem.clear_status_bits(rd, gref, GTF_WRITING);
            return Err(GnttabStatus::GeneralError);
        }
        Ok(())
    }

    /// `_set_status` for the table's version.
    #[allow(clippy::too_many_arguments)]
    fn set_status<M: GrantMemory>(
        mem: &mut M,
        version: u32,
        rd: DomId,
        gref: GrantRef,
        pinned: bool,
        readonly: bool,
        mapflag: bool,
        ld: DomId,
    ) -> Result<(), GnttabStatus> {
        if version == 1 {
            Self::set_status_v1(mem, rd, gref, pinned, readonly, mapflag, ld)
        } else {
            Self::set_status_v2(mem, rd, gref, pinned, readonly, mapflag, ld)
        }
    }

    /// The `unlock_out_clear` tail shared by every release path (`reduce_status_for_pin`):
    /// drop `GTF_writing` when the last writable pin went (and this op was writable),
    /// `GTF_reading` when the last pin went.
    fn clear_status<M: GrantMemory>(
        mem: &mut M,
        version: u32,
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
            clear_busy(mem, rd, gref, version, clear);
        }
    }

    /// Pin `gref` of `rd` for `ld` (the common core of `map_grant_ref` and
    /// `acquire_grant_for_copy`): `mapflag` for a mapping (no sub-page or transitive grant
    /// then); for a copy, a v2 transitive grant is followed one level (`allow_transitive`),
    /// pinning the grant it names for `rd` in turn.
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
        allow_transitive: bool,
    ) -> Result<Pinned, GnttabStatus> {
        let rgt = ok_or_general(self.domains.get(&rd))?;
        if gref.0 >= rgt.nr_entries() {
            return Err(GnttabStatus::BadGntref);
        }
        let version = rgt.version;
        let act = rgt.active.get(gref.0).copied();
        if let Some(a) = act {
            if a.domid != ld || a.pins.near_overflow() || (mapflag && a.sub_page) {
                return Err(GnttabStatus::GeneralError);
            }
        }
        let old_pins = act.map(|a| a.pins).unwrap_or_default();
        let need_status = match act {
            None => true,
            Some(a) => !readonly && !a.pins.writable(),
        };
        let transitive = version == 2
            && !mapflag
            && header(mem, rd, gref, 2).is_some_and(|(f, _)| f & GTF_TYPE_MASK == GTF_TRANSITIVE);
        let (entry, owner) = if transitive {
            if need_status {
                Self::set_status_v2(mem, rd, gref, act.is_some(), readonly, false, ld)?;
            }
            match self.pin_transitive(mem, rd, gref, readonly, allow_transitive, act, ld) {
                Ok(r) => r,
                Err(s) => {
                    Self::clear_status(mem, version, rd, gref, old_pins, readonly);
                    return Err(s);
                }
            }
        } else {
            if act.is_some_and(|a| a.trans.is_some()) {
                // Pinned as a transitive grant, which the guest has since rewritten: the frame
                // is not `rd`'s (Xen's `page_get_owner_and_reference` check).
                return Err(GnttabStatus::BadDomain);
            }
            if need_status {
                Self::set_status(mem, version, rd, gref, act.is_some(), readonly, mapflag, ld)?;
            }
            let entry = match act {
                Some(a) => a,
                None => match Self::read_frame(mem, version, rd, gref, mapflag) {
                    Ok((mfn, start, length, sub_page)) => ActiveEntry {
                        pins: Pins::default(),
                        domid: ld,
                        mfn,
                        start,
                        length,
                        sub_page,
                        trans: None,
                    },
                    Err(s) => {
                        Self::clear_status(mem, version, rd, gref, old_pins, readonly);
                        return Err(s);
                    }
                },
            };
            (entry, rd)
        };
        let mut entry = entry;
        for k in kinds {
            entry.pins.inc(*k, readonly);
        }
        if let Some(rgt) = self.domains.get_mut(&rd) {
            rgt.active.insert(gref.0, entry);
        }
        Ok(Pinned {
            mfn: entry.mfn,
            owner,
            start: entry.start,
            length: entry.length,
        })
    }

    /// The frame an unpinned entry grants, read after its status bits are set (as Xen re-reads
    /// the entry): v1's `frame`; v2's `full_page.frame`, or for a copy of a `GTF_sub_page`
    /// grant its frame and byte range. Returns `(mfn, start, length, sub_page)`.
    fn read_frame<M: GrantMemory>(
        mem: &M,
        version: u32,
        rd: DomId,
        gref: GrantRef,
        mapflag: bool,
    ) -> Result<(Mfn, u16, u16, bool), GnttabStatus> {
        let page = PAGE_SIZE as u16;
        let (gfn, start, length, sub_page) = if version == 1 {
            let e = ok_or_general(mem.read_entry(rd, gref))?;
            (u64::from(e.frame), 0, page, false)
        } else {
            let e = ok_or_general(mem.read_entry_v2(rd, gref))?;
            if !mapflag && e.hdr().flags & GTF_SUB_PAGE != 0 {
                let sp = e.sub_page();
                (sp.frame, sp.page_off, sp.length, true)
            } else {
                (e.full_page().frame, 0, page, false)
            }
        };
        let mfn = mem.resolve_frame(rd, Gfn(gfn))?;
        Ok((mfn, start, length, sub_page))
    }

    /// The transitive half of `acquire_grant_for_copy`: the grant `gref` of `rd` passes on
    /// `trans_gref` of `trans_domid`, which is pinned for `rd` (never transitively again). A
    /// pinned entry must still describe what that yields. Returns the active entry and the
    /// frame's owner; the caller clears the status bits on failure.
    #[allow(clippy::too_many_arguments)]
    fn pin_transitive<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        readonly: bool,
        allow_transitive: bool,
        act: Option<ActiveEntry>,
        ld: DomId,
    ) -> Result<(ActiveEntry, DomId), GnttabStatus> {
        if !allow_transitive {
            // "transitive grant when transitivity not allowed".
            return Err(GnttabStatus::GeneralError);
        }
        let t = ok_or_general(mem.read_entry_v2(rd, gref))?.transitive();
        let td = t.trans_domid;
        if td == rd {
            // "transitive grants cannot be self-referential".
            return Err(GnttabStatus::GeneralError);
        }
        if !self.domain_exists(td) {
            // "transitive grant referenced bad domain".
            return Err(GnttabStatus::GeneralError);
        }
        let inner = self.pin(
            mem,
            rd,
            td,
            t.gref,
            readonly,
            false,
            &[PinKind::Host],
            false,
        )?;
        let entry = ActiveEntry {
            pins: Pins::default(),
            domid: ld,
            mfn: inner.mfn,
            start: inner.start,
            length: inner.length,
            // Always treated as a sub-page grant: that keeps it from being mapped.
            sub_page: true,
            trans: Some((td, t.gref)),
        };
        match act {
            None => Ok((entry, inner.owner)),
            Some(a)
                if (a.mfn, a.start, a.length, a.trans, a.sub_page)
                    == (entry.mfn, entry.start, entry.length, entry.trans, true) =>
            {
                Ok((a, inner.owner))
            }
            Some(_) => {
                // The entry became transitive while pinned as something else. Xen answers
                // ERESTART (and retries); here the copy fails instead of retrying forever.
                self.unpin(mem, td, t.gref, readonly, &[PinKind::Host]);
                Err(GnttabStatus::GeneralError)
            }
        }
    }

    /// The `flags` of `gref`'s shared entry (its header in v2), 0 if unreadable.
    pub(crate) fn entry_flags<M: GrantMemory>(&self, mem: &M, rd: DomId, gref: GrantRef) -> u16 {
        let version = self.domains.get(&rd).map_or(1, |d| d.version);
        header(mem, rd, gref, version).map_or(0, |(f, _)| f)
    }

    /// Undo `pin` (`undo_out` / `release_grant_for_copy`), releasing in turn the grant a
    /// transitive one holds. Returns the domain whose table this released, if any.
    pub(crate) fn unpin<M: GrantMemory>(
        &mut self,
        mem: &mut M,
        rd: DomId,
        gref: GrantRef,
        readonly: bool,
        kinds: &[PinKind],
    ) -> Option<DomId> {
        let rgt = self.domains.get_mut(&rd)?;
        let version = rgt.version;
        let act = rgt.active.get_mut(gref.0)?;
        for k in kinds {
            act.pins.dec(*k, readonly);
        }
        let (pins, trans) = (act.pins, act.trans);
        if !pins.any() {
            rgt.active.remove(gref.0);
        }
        Self::clear_status(mem, version, rd, gref, pins, readonly);
        let released = self.reap_if_unpinned(rd).then_some(rd);
        if let Some((td, tg)) = trans {
            // Only copies pin transitively, and a copy's domains are alive throughout.
            let _ = self.unpin(mem, td, tg, readonly, &[PinKind::Host]);
        }
        released
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
