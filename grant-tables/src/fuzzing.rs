//! Test support shared by unit tests, property tests, the fuzz target and benchmarks: a
//! vector-backed [`SimMemory`], an operation decoder and a checker against a naive model.
//!
//! Not part of the API the hypervisor uses (compiled for tests and with the `fuzzing` feature).
//! [`run_bytes`] decodes bytes into operations over 2–4 domains, runs them through
//! [`GrantSystem`] and after every step compares with a reference model that keeps a flat list
//! of mappings and recomputes everything by scanning it. Maps and unmaps also come batched
//! ([`Op::MapBatch`], [`Op::UnmapBatch`]): entries built to fail sit between successes, each
//! entry is checked in order, and maps are undone with `cancel_map` as the hypervisor does.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use xen_abi::grant_table::{
    GnttabCacheFlush, GnttabCopy, GnttabCopyPtr, GnttabMapGrantRef, GnttabStatus,
    GnttabUnmapAndReplace, GnttabUnmapGrantRef, GrantEntryV1, GrantEntryV2, GNTCOPY_DEST_GREF,
    GNTCOPY_SOURCE_GREF, GNTMAP_DEVICE_MAP, GNTMAP_HOST_MAP, GNTMAP_READONLY, GNTTAB_CACHE_CLEAN,
    GNTTAB_CACHE_INVAL, GTF_PERMIT_ACCESS, GTF_PWT, GTF_READING, GTF_READONLY, GTF_SUB_PAGE,
    GTF_TYPE_MASK, GTF_WRITING,
};
use xen_abi::{DomId, Errno, Gfn, GrantHandle, GrantRef, Mfn, XenResult, PAGE_SIZE};

use crate::mem::{header_word, GrantEntries, GuestFrames};
use crate::{
    DomainConfig, GrantSystem, Mapping, Unmapping, CMPXCHG_RETRIES, GRANT_ENTRIES_PER_FRAME,
    GRANT_ENTRIES_PER_FRAME_V2, MAPTRACK_PER_FRAME, STATUS_PER_FRAME,
};

// ---------------------------------------------------------------------------------------------
// SimMemory
// ---------------------------------------------------------------------------------------------

/// Guest memory over plain collections: grant tables as vectors of entries, frames with owners,
/// page-table frames (no writable type), paged-out frames, and a knob that makes the next
/// `cmpxchg`s lose a race against the guest.
#[derive(Clone, Debug, Default)]
pub struct SimMemory {
    /// Each domain's shared v1 entries.
    pub tables: BTreeMap<DomId, Vec<GrantEntryV1>>,
    /// Each domain's shared v2 entries (the same frames seen as v2; kept apart here, which
    /// the state machine cannot tell: it reads only the version in force).
    pub tables_v2: BTreeMap<DomId, Vec<GrantEntryV2>>,
    /// Each domain's v2 status words, when it has status frames.
    pub status: BTreeMap<DomId, Vec<u16>>,
    /// Domains whose guest maps one of its status frames: `release_status` is `EBUSY`.
    pub status_mapped: BTreeSet<DomId>,
    /// Valid frames and their owners.
    pub owners: BTreeMap<Mfn, DomId>,
    /// Frames typed as page tables: `writable_type_ok` is false.
    pub page_tables: BTreeSet<Mfn>,
    /// Frames that are paged out: `resolve_frame` is `GNTST_eagain`.
    pub paged_out: BTreeSet<Mfn>,
    /// Frames the hypervisor freed (owner destroyed, not retained).
    pub freed: BTreeSet<Mfn>,
    /// Frame contents written so far; others read as a pattern derived from the frame number.
    pub data: BTreeMap<Mfn, Vec<u8>>,
    /// The next this many `cmpxchg_header` calls find the guest changed the word (it flips
    /// `GTF_PWT`) and fail.
    pub contention: u32,
    /// Make `grow_table` fail with `ENOMEM`.
    pub fail_grow: bool,
    /// References taken by `hold_frame` and not released.
    pub held: BTreeMap<Mfn, u32>,
    /// Frames their owner frees (on another CPU) just before a copy takes its reference.
    pub vanish_on_hold: BTreeSet<Mfn>,
}

impl SimMemory {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Give `dom` a one-frame grant table and own `frames`.
    pub fn add_domain(&mut self, dom: DomId, frames: impl IntoIterator<Item = Mfn>) {
        self.tables.insert(
            dom,
            vec![GrantEntryV1::default(); GRANT_ENTRIES_PER_FRAME as usize],
        );
        self.tables_v2.insert(
            dom,
            vec![GrantEntryV2::default(); GRANT_ENTRIES_PER_FRAME_V2 as usize],
        );
        for f in frames {
            self.owners.insert(f, dom);
            self.freed.remove(&f);
        }
    }

    /// Entry `gref` of `dom` (zero if absent).
    pub fn entry(&self, dom: DomId, gref: GrantRef) -> GrantEntryV1 {
        self.read_entry(dom, gref).unwrap_or_default()
    }

    /// Overwrite entry `gref` of `dom` as the guest would.
    pub fn set_entry(&mut self, dom: DomId, gref: GrantRef, e: GrantEntryV1) {
        let _ = self.write_entry(dom, gref, e);
    }

    /// `gnttab_grant_foreign_access_ref`: grant `frame` to `grantee`.
    pub fn grant(
        &mut self,
        dom: DomId,
        gref: GrantRef,
        grantee: DomId,
        frame: Mfn,
        readonly: bool,
    ) {
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        self.set_entry(
            dom,
            gref,
            GrantEntryV1 {
                flags,
                domid: grantee,
                frame: frame.0 as u32,
            },
        );
    }

    /// The byte at `off` of `mfn`.
    pub fn byte(&self, mfn: Mfn, off: usize) -> u8 {
        match self.data.get(&mfn) {
            Some(d) => d.get(off).copied().unwrap_or(0),
            None => pattern(mfn, off),
        }
    }

    fn frame_data(&mut self, mfn: Mfn) -> &mut Vec<u8> {
        self.data
            .entry(mfn)
            .or_insert_with(|| (0..PAGE_SIZE).map(|o| pattern(mfn, o)).collect())
    }

    /// Free every frame of `dom` except `retained`, as the hypervisor does on destruction.
    pub fn free_domain_frames(&mut self, dom: DomId, retained: &[Mfn]) {
        let frames: Vec<Mfn> = self
            .owners
            .iter()
            .filter(|(_, o)| **o == dom)
            .map(|(m, _)| *m)
            .collect();
        for m in frames {
            if !retained.contains(&m) {
                self.free_frame(m);
            }
        }
    }

    /// Free one frame.
    pub fn free_frame(&mut self, mfn: Mfn) {
        self.freed.insert(mfn);
        self.data.remove(&mfn);
    }
}

fn pattern(mfn: Mfn, off: usize) -> u8 {
    (mfn.0 as usize).wrapping_mul(31).wrapping_add(off) as u8
}

impl GrantEntries for SimMemory {
    fn read_entry(&self, dom: DomId, gref: GrantRef) -> Option<GrantEntryV1> {
        self.tables.get(&dom)?.get(gref.0 as usize).copied()
    }

    fn write_entry(&mut self, dom: DomId, gref: GrantRef, entry: GrantEntryV1) -> Option<()> {
        *self.tables.get_mut(&dom)?.get_mut(gref.0 as usize)? = entry;
        Some(())
    }

    fn cmpxchg_header(&mut self, dom: DomId, gref: GrantRef, old: u32, new: u32) -> Option<u32> {
        let e = self.tables.get_mut(&dom)?.get_mut(gref.0 as usize)?;
        if self.contention > 0 {
            self.contention -= 1;
            e.flags ^= GTF_PWT;
            return Some(header_word(e.flags, e.domid));
        }
        let cur = header_word(e.flags, e.domid);
        if cur == old {
            e.flags = new as u16;
            e.domid = DomId((new >> 16) as u16);
        }
        Some(cur)
    }

    fn clear_flags(&mut self, dom: DomId, gref: GrantRef, mask: u16) {
        if let Some(e) = self
            .tables
            .get_mut(&dom)
            .and_then(|t| t.get_mut(gref.0 as usize))
        {
            e.flags &= !mask;
        }
    }

    fn grow_table(&mut self, dom: DomId, nr_frames: u32) -> XenResult<()> {
        if self.fail_grow {
            return Err(Errno::ENOMEM);
        }
        let t = self.tables.get_mut(&dom).ok_or(Errno::ESRCH)?;
        let n = (nr_frames as usize).saturating_mul(GRANT_ENTRIES_PER_FRAME as usize);
        if n > t.len() {
            t.resize(n, GrantEntryV1::default());
        }
        let t = self.tables_v2.entry(dom).or_default();
        let n = (nr_frames as usize).saturating_mul(GRANT_ENTRIES_PER_FRAME_V2 as usize);
        if n > t.len() {
            t.resize(n, GrantEntryV2::default());
        }
        Ok(())
    }

    fn read_entry_v2(&self, dom: DomId, gref: GrantRef) -> Option<GrantEntryV2> {
        self.tables_v2.get(&dom)?.get(gref.0 as usize).copied()
    }

    fn write_entry_v2(&mut self, dom: DomId, gref: GrantRef, entry: GrantEntryV2) -> Option<()> {
        *self.tables_v2.get_mut(&dom)?.get_mut(gref.0 as usize)? = entry;
        Some(())
    }

    fn read_status(&self, dom: DomId, gref: GrantRef) -> Option<u16> {
        self.status.get(&dom)?.get(gref.0 as usize).copied()
    }

    fn write_status(&mut self, dom: DomId, gref: GrantRef, status: u16) -> Option<()> {
        *self.status.get_mut(&dom)?.get_mut(gref.0 as usize)? = status;
        Some(())
    }

    fn set_status_bits(&mut self, dom: DomId, gref: GrantRef, mask: u16) -> Option<()> {
        *self.status.get_mut(&dom)?.get_mut(gref.0 as usize)? |= mask;
        Some(())
    }

    fn clear_status_bits(&mut self, dom: DomId, gref: GrantRef, mask: u16) {
        if let Some(s) = self
            .status
            .get_mut(&dom)
            .and_then(|t| t.get_mut(gref.0 as usize))
        {
            *s &= !mask;
        }
    }

    fn grow_status(&mut self, dom: DomId, nr_frames: u32) -> XenResult<()> {
        if self.fail_grow {
            return Err(Errno::ENOMEM);
        }
        let t = self.status.entry(dom).or_default();
        let n = (nr_frames as usize).saturating_mul(STATUS_PER_FRAME as usize);
        if n > t.len() {
            t.resize(n, 0);
        }
        Ok(())
    }

    fn release_status(&mut self, dom: DomId) -> XenResult<()> {
        if self.status_mapped.contains(&dom) {
            return Err(Errno::EBUSY);
        }
        self.status.remove(&dom);
        Ok(())
    }

    fn clear_shared(&mut self, dom: DomId) {
        for e in self.tables.get_mut(&dom).into_iter().flatten() {
            *e = GrantEntryV1::default();
        }
        for e in self.tables_v2.get_mut(&dom).into_iter().flatten() {
            *e = GrantEntryV2::default();
        }
    }
}

impl GuestFrames for SimMemory {
    fn resolve_frame(&self, owner: DomId, gfn: Gfn) -> Result<Mfn, GnttabStatus> {
        let mfn = Mfn(gfn.0);
        if self.paged_out.contains(&mfn) {
            return Err(GnttabStatus::Eagain);
        }
        match self.owners.get(&mfn) {
            Some(o) if *o == owner && !self.freed.contains(&mfn) => Ok(mfn),
            _ => Err(GnttabStatus::BadPage),
        }
    }

    fn writable_type_ok(&self, mfn: Mfn) -> bool {
        !self.page_tables.contains(&mfn)
    }

    fn owner_of(&self, mfn: Mfn) -> Option<DomId> {
        if self.freed.contains(&mfn) {
            return None;
        }
        self.owners.get(&mfn).copied()
    }

    fn hold_frame(&mut self, owner: DomId, mfn: Mfn) -> bool {
        if self.vanish_on_hold.remove(&mfn) {
            self.free_frame(mfn);
        }
        if self.freed.contains(&mfn) || self.owners.get(&mfn) != Some(&owner) {
            return false;
        }
        *self.held.entry(mfn).or_default() += 1;
        true
    }

    fn release_frame(&mut self, mfn: Mfn) {
        match self.held.get_mut(&mfn) {
            Some(1) => {
                self.held.remove(&mfn);
            }
            Some(n) => *n -= 1,
            None => panic!("release_frame({mfn:?}) without hold_frame"),
        }
    }

    fn copy_bytes(&mut self, src: Mfn, src_off: u16, dst: Mfn, dst_off: u16, len: u16) {
        assert!(
            self.held.contains_key(&src) && self.held.contains_key(&dst),
            "copy_bytes on frames not held"
        );
        let (s, d, n) = (usize::from(src_off), usize::from(dst_off), usize::from(len));
        let bytes: Vec<u8> = match self.data.get(&src).and_then(|d| d.get(s..s + n)) {
            Some(slice) => slice.to_vec(),
            None => (s..s + n).map(|o| pattern(src, o)).collect(),
        };
        let data = self.frame_data(dst);
        if let Some(slice) = data.get_mut(d..d + n) {
            slice.copy_from_slice(&bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Number of domain slots the harness uses.
pub const SLOTS: u16 = 4;
/// Frames each domain owns in the harness; the last one is a page table.
pub const FRAMES_PER_DOMAIN: u64 = 8;
/// Bytes one encoded operation takes.
pub const OP_BYTES: usize = 9;

/// One step of a harness run, decoded from [`OP_BYTES`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A well-behaved guest grants `frame` (writes the entry only if not in use).
    GuestGrant {
        dom: u8,
        gref: u8,
        grantee: u8,
        frame: u8,
        extra: u8,
    },
    /// `gnttab_end_foreign_access_ref`: clear the entry with a `cmpxchg` that fails if in use.
    GuestRevoke { dom: u8, gref: u8 },
    /// A hostile guest writes arbitrary flags/domid/frame, leaving Xen's reading/writing bits.
    GuestScribble {
        dom: u8,
        gref: u8,
        flags: u16,
        domid: u8,
        frame: u8,
    },
    /// `GNTTABOP_map_grant_ref`.
    Map {
        caller: u8,
        dom: u8,
        gref: u8,
        flags: u8,
        addr: u8,
        batch: bool,
    },
    /// `GNTTABOP_map_grant_ref` with `1 + len % 6` ops in one call (`map_grant_ref_batch`), one
    /// entry byte each: bits 0–1 the access (host rw, host ro, host+device rw, device ro), bits
    /// 2–4 which grant to the caller to map, bits 5–6 `2` for an entry built to fail (bad
    /// flags, domain or ref) and `3` for an arbitrary target; bit 7: the hypervisor then fails
    /// to install that mapping and undoes it with `cancel_map`.
    MapBatch {
        caller: u8,
        len: u8,
        entries: [u8; 6],
    },
    /// `GNTTABOP_unmap_grant_ref` (with `replace`, `GNTTABOP_unmap_and_replace`) with
    /// `1 + len % 6` ops in one call, one entry byte each: bits 0–2 which of the caller's
    /// mappings, bits 3–4 the host address (none, right, right, wrong), bits 5–6 the bus
    /// address (none, right, none, wrong), bit 7 an arbitrary handle instead. Handles repeat,
    /// so later entries find what earlier ones unmapped.
    UnmapBatch {
        caller: u8,
        replace: bool,
        len: u8,
        entries: [u8; 6],
    },
    /// `GNTTABOP_unmap_grant_ref`.
    Unmap {
        caller: u8,
        handle: u8,
        host: u8,
        dev: u8,
    },
    /// `GNTTABOP_unmap_and_replace`.
    UnmapAndReplace {
        caller: u8,
        handle: u8,
        host: u8,
        new_addr: u8,
    },
    /// `GNTTABOP_copy`.
    Copy {
        caller: u8,
        flags: u8,
        src: [u8; 3],
        dst: [u8; 3],
    },
    /// `GNTTABOP_setup_table`.
    SetupTable { caller: u8, dom: u8, nr: u8 },
    /// `GNTTABOP_query_size`.
    QuerySize { caller: u8, dom: u8 },
    /// `GNTTABOP_set_version`.
    SetVersion { caller: u8, version: u8 },
    /// `GNTTABOP_get_version`.
    GetVersion { caller: u8, dom: u8 },
    /// `GNTTABOP_swap_grant_ref`.
    Swap { caller: u8, a: u8, b: u8 },
    /// `GNTTABOP_get_status_frames`.
    GetStatusFrames { caller: u8, dom: u8, nr: u8 },
    /// `GNTTABOP_cache_flush`.
    CacheFlush {
        caller: u8,
        frame: u8,
        offset: u8,
        length: u8,
        op: u8,
    },
    /// Domain destruction.
    Destroy { dom: u8 },
    /// Domain creation.
    Create { dom: u8 },
    /// The next `n` cmpxchgs lose a race.
    Contend { n: u8 },
    /// Toggle a frame's paged-out state.
    PageOut { frame: u8 },
}

impl Op {
    /// Decode one operation from exactly [`OP_BYTES`] bytes.
    pub fn decode(b: &[u8; OP_BYTES]) -> Op {
        let [k, p0, p1, p2, p3, p4, p5, p6, p7] = *b;
        match k % 36 {
            0..=5 => Op::GuestGrant {
                dom: p0,
                gref: p1,
                grantee: p2,
                frame: p3,
                extra: p4,
            },
            6 => Op::GuestRevoke { dom: p0, gref: p1 },
            7 => Op::GuestScribble {
                dom: p0,
                gref: p1,
                flags: u16::from_le_bytes([p2, p3]),
                domid: p4,
                frame: p5,
            },
            8..=13 | 30 | 31 => Op::Map {
                caller: p0,
                dom: p1,
                gref: p2,
                flags: p3,
                addr: p4,
                batch: p5 & 1 != 0,
            },
            14..=17 => Op::Unmap {
                caller: p0,
                handle: p1,
                host: p2,
                dev: p3,
            },
            18 => Op::UnmapAndReplace {
                caller: p0,
                handle: p1,
                host: p2,
                new_addr: p3,
            },
            19..=21 => Op::Copy {
                caller: p0,
                flags: p1,
                src: [p2, p3, p4],
                dst: [p5, p6, p7],
            },
            22 => Op::SetupTable {
                caller: p0,
                dom: p1,
                nr: p2,
            },
            23 => match p2 % 3 {
                0 => Op::QuerySize {
                    caller: p0,
                    dom: p1,
                },
                1 => Op::GetVersion {
                    caller: p0,
                    dom: p1,
                },
                _ => Op::GetStatusFrames {
                    caller: p0,
                    dom: p1,
                    nr: p3,
                },
            },
            24 => Op::SetVersion {
                caller: p0,
                version: p1,
            },
            25 => Op::Swap {
                caller: p0,
                a: p1,
                b: p2,
            },
            26 => Op::CacheFlush {
                caller: p0,
                frame: p1,
                offset: p2,
                length: p3,
                op: p4,
            },
            27 => match p1 % 4 {
                0 => Op::Destroy { dom: p0 },
                _ => Op::Create { dom: p0 },
            },
            28 => Op::Contend { n: p0 },
            29 => Op::PageOut { frame: p0 },
            32 | 33 => Op::MapBatch {
                caller: p0,
                len: p1,
                entries: [p2, p3, p4, p5, p6, p7],
            },
            _ => Op::UnmapBatch {
                caller: p0,
                replace: p1 & 0x80 != 0,
                len: p1,
                entries: [p2, p3, p4, p5, p6, p7],
            },
        }
    }
}

/// Decode a byte string: the first byte picks 2–4 domains, then [`OP_BYTES`] per operation.
pub fn decode(data: &[u8]) -> (u16, Vec<Op>) {
    let (first, rest) = match data.split_first() {
        Some((f, r)) => (*f, r),
        None => (0, data),
    };
    let nr_domains = 2 + u16::from(first % 3);
    let ops = rest
        .chunks_exact(OP_BYTES)
        .filter_map(|c| <&[u8; OP_BYTES]>::try_from(c).ok())
        .map(Op::decode)
        .collect();
    (nr_domains, ops)
}

/// Decode and run `data`; `Err` describes the first divergence from the model.
pub fn run_bytes(data: &[u8]) -> Result<(), String> {
    let (n, ops) = decode(data);
    let mut h = Harness::new(n);
    h.run(&ops)
}

impl Harness {
    /// Run `ops`, checking the invariants after each.
    pub fn run(&mut self, ops: &[Op]) -> Result<(), String> {
        for (i, op) in ops.iter().enumerate() {
            self.step(op).map_err(|e| format!("step {i} {op:?}: {e}"))?;
            self.check_invariants()
                .map_err(|e| format!("after step {i} {op:?}: {e}"))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Harness and model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Live,
    Zombie,
    Gone,
}

#[derive(Clone, Copy, Debug)]
struct MDom {
    life: Life,
    cfg: DomainConfig,
    nr_frames: u32,
    generation: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MMap {
    mapper: DomId,
    handle: GrantHandle,
    granter: DomId,
    gref: GrantRef,
    flags: u32,
    host_addr: u64,
    mfn: Mfn,
}

impl MMap {
    fn ro(&self) -> bool {
        self.flags & GNTMAP_READONLY != 0
    }
    fn refs(&self) -> u32 {
        u32::from(self.flags & GNTMAP_HOST_MAP != 0)
            + u32::from(self.flags & GNTMAP_DEVICE_MAP != 0)
    }
}

/// The system under test, its memory, and the naive model.
#[derive(Debug)]
pub struct Harness {
    /// The state machine.
    pub sys: GrantSystem,
    /// Its memory.
    pub mem: SimMemory,
    doms: Vec<MDom>,
    maps: Vec<MMap>,
    next_generation: u64,
    /// When set, `step` counts each op's outcome in `stats` (for coverage checks).
    pub collect_stats: bool,
    /// Outcome counts, keyed `"<op>: <result>"`.
    pub stats: BTreeMap<String, u32>,
    current: Option<Op>,
}

fn ck(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

fn expect<T: core::fmt::Debug, E: core::fmt::Debug + PartialEq>(
    got: &Result<T, E>,
    want: Result<(), E>,
) -> Result<(), String> {
    match (got, &want) {
        (Ok(_), Ok(())) => Ok(()),
        (Err(a), Err(b)) if a == b => Ok(()),
        _ => Err(format!("got {got:?}, model expected {want:?}")),
    }
}

/// The `GNTST_*` code a batch writes back for an outcome.
fn status_of<T>(r: &Result<T, GnttabStatus>) -> i16 {
    r.as_ref()
        .map_or_else(|s| s.code(), |_| GnttabStatus::Okay.code())
}

/// A map batch writes each op's outcome back: the status, and on success the handle and the
/// bus address.
fn check_map_written_back(
    op: &GnttabMapGrantRef,
    r: &Result<Mapping, GnttabStatus>,
) -> Result<(), String> {
    ck(op.status == status_of(r), || {
        format!("status {} written back for {r:?}", op.status)
    })?;
    if let Ok(m) = r {
        ck(
            op.handle == m.handle && op.dev_bus_addr == m.dev_bus_addr,
            || format!("handle/dev_bus_addr written back {op:?} for {m:?}"),
        )?;
    }
    Ok(())
}

const MAPTRACK_FRAMES: u32 = 1;

impl Harness {
    fn expect<T: core::fmt::Debug, E: core::fmt::Debug + PartialEq>(
        &mut self,
        got: &Result<T, E>,
        want: Result<(), E>,
    ) -> Result<(), String> {
        if self.collect_stats {
            let dbg = self.current.map(|o| format!("{o:?}")).unwrap_or_default();
            let name: String = dbg.split([' ', '{']).next().unwrap_or("").into();
            let outcome: String = match got {
                Ok(_) => "Ok".into(),
                Err(e) => format!("{e:?}"),
            };
            *self.stats.entry(format!("{name}: {outcome}")).or_insert(0) += 1;
        }
        expect(got, want)
    }

    /// Count `key` in `stats`, when collecting.
    fn note(&mut self, key: &str) {
        if self.collect_stats {
            *self.stats.entry(key.into()).or_insert(0) += 1;
        }
    }

    /// `n` live domains, `DomId(0)` privileged.
    pub fn new(n: u16) -> Self {
        let mut h = Harness {
            sys: GrantSystem::new(),
            mem: SimMemory::new(),
            doms: Vec::new(),
            maps: Vec::new(),
            next_generation: 1,
            collect_stats: false,
            stats: BTreeMap::new(),
            current: None,
        };
        for i in 0..SLOTS {
            let cfg = DomainConfig {
                privileged: i == 0,
                max_grant_frames: 3,
                max_maptrack_frames: MAPTRACK_FRAMES,
                // The model is of v1 tables (`gnttab=max-ver:1`): v2 has its own unit tests.
                max_version: 1,
            };
            h.doms.push(MDom {
                life: Life::Gone,
                cfg,
                nr_frames: 1,
                generation: 0,
            });
            if i < n {
                let _ = h.create(i);
            }
        }
        h
    }

    fn create(&mut self, slot: u16) -> XenResult<()> {
        let dom = DomId(slot);
        let cfg = self
            .doms
            .get(usize::from(slot))
            .map(|d| d.cfg)
            .ok_or(Errno::EINVAL)?;
        self.sys.create_domain(dom, cfg)?;
        let generation = self.next_generation;
        self.next_generation += 1;
        let frames: Vec<Mfn> = (0..FRAMES_PER_DOMAIN)
            .map(|i| frame_number(generation, slot, i))
            .collect();
        if let Some(pt) = frames.last() {
            self.mem.page_tables.insert(*pt);
        }
        self.mem.add_domain(dom, frames);
        if let Some(d) = self.doms.get_mut(usize::from(slot)) {
            *d = MDom {
                life: Life::Live,
                cfg,
                nr_frames: 1,
                generation,
            };
        }
        Ok(())
    }

    fn mdom(&self, dom: DomId) -> Option<&MDom> {
        self.doms
            .get(usize::from(dom.0))
            .filter(|d| d.life != Life::Gone)
    }

    fn live(&self, dom: DomId) -> bool {
        self.mdom(dom).is_some_and(|d| d.life == Life::Live)
    }

    fn slot(b: u8) -> DomId {
        DomId(u16::from(b) % SLOTS)
    }

    /// A domain id as a guest might pass it: a slot, `DOMID_SELF`, or an unknown id.
    fn pick_dom(b: u8) -> DomId {
        match b % 6 {
            4 => DomId::SELF,
            5 => DomId(77),
            i => DomId(u16::from(i)),
        }
    }

    fn pick_gref(b: u8) -> GrantRef {
        if b >= 0xF0 {
            GrantRef(508 + u32::from(b & 0xF))
        } else {
            GrantRef(u32::from(b % 10))
        }
    }

    fn pick_frame(&self, b: u8) -> Mfn {
        if b == 0xFF {
            return Mfn(0xdead);
        }
        let slot = u16::from(b >> 4) % SLOTS;
        let generation = self.doms.get(usize::from(slot)).map_or(0, |d| d.generation);
        frame_number(generation, slot, u64::from(b) % FRAMES_PER_DOMAIN)
    }

    /// Frame `b % FRAMES_PER_DOMAIN` of `dom`'s current generation.
    fn own_frame(&self, dom: DomId, b: u8) -> Mfn {
        let generation = self
            .doms
            .get(usize::from(dom.0))
            .map_or(0, |d| d.generation);
        frame_number(generation, dom.0, u64::from(b) % FRAMES_PER_DOMAIN)
    }

    /// Entries of live domains currently granting access to `caller` (probe set only).
    fn granted_to(&self, caller: DomId) -> Vec<(DomId, GrantRef)> {
        let mut v = Vec::new();
        for d in (0..SLOTS).map(DomId).filter(|d| self.live(*d)) {
            let nr = self.mdom(d).map_or(0, |m| m.nr_frames) * GRANT_ENTRIES_PER_FRAME;
            for r in (0..10).chain(508..524).filter(|r| *r < nr).map(GrantRef) {
                let e = self.mem.entry(d, r);
                if e.flags & GTF_TYPE_MASK == GTF_PERMIT_ACCESS && e.domid == caller {
                    v.push((d, r));
                }
            }
        }
        v
    }

    /// A `(domain, gref)` to use: with `smart`, one granted to `caller` (if any), chosen by `i`.
    fn pick_target(&self, caller: DomId, smart: bool, dom: u8, gref: u8) -> (DomId, GrantRef) {
        if smart {
            let g = self.granted_to(caller);
            if !g.is_empty() {
                if let Some(t) = g.get(usize::from(gref) % g.len()) {
                    return *t;
                }
            }
            let live: Vec<DomId> = (0..SLOTS).map(DomId).filter(|d| self.live(*d)).collect();
            if let Some(d) = live.get(usize::from(dom) % live.len().max(1)) {
                return (*d, Self::pick_gref(gref));
            }
        }
        (Self::pick_dom(dom), Self::pick_gref(gref))
    }

    fn maps_on(&self, granter: DomId, gref: GrantRef) -> impl Iterator<Item = &MMap> + '_ {
        self.maps
            .iter()
            .filter(move |m| m.granter == granter && m.gref == gref)
    }

    /// (hstw, hstr, devw, devr) recomputed from the mapping list.
    fn pins_of(&self, granter: DomId, gref: GrantRef) -> [u32; 4] {
        let mut p = [0u32; 4];
        for m in self.maps_on(granter, gref) {
            let ro = usize::from(m.ro());
            if m.flags & GNTMAP_HOST_MAP != 0 {
                p[ro] += 1;
            }
            if m.flags & GNTMAP_DEVICE_MAP != 0 {
                p[2 + ro] += 1;
            }
        }
        p
    }

    fn frame_refs(&self, mfn: Mfn) -> u32 {
        self.maps
            .iter()
            .filter(|m| m.mfn == mfn)
            .map(MMap::refs)
            .sum()
    }

    fn resolve_model(&self, owner: DomId, mfn: Mfn) -> Result<Mfn, GnttabStatus> {
        if self.mem.paged_out.contains(&mfn) {
            return Err(GnttabStatus::Eagain);
        }
        match self.mem.owners.get(&mfn) {
            Some(o) if *o == owner && !self.mem.freed.contains(&mfn) => Ok(mfn),
            _ => Err(GnttabStatus::BadPage),
        }
    }

    /// The model's acquire of one pin: `extra` describes pins the same op already holds on this
    /// entry (a copy whose source and destination are one grant). Returns the frame.
    #[allow(clippy::too_many_arguments)]
    fn model_acquire(
        &self,
        caller: DomId,
        rd: DomId,
        gref: GrantRef,
        readonly: bool,
        mapflag: bool,
        extra: Option<(bool, Mfn)>,
        contention: &mut u32,
    ) -> Result<Mfn, GnttabStatus> {
        let nr = self.mdom(rd).map_or(0, |d| d.nr_frames) * GRANT_ENTRIES_PER_FRAME;
        if gref.0 >= nr {
            return Err(GnttabStatus::BadGntref);
        }
        let mut pins = self.pins_of(rd, gref);
        if let Some((ro, _)) = extra {
            pins[usize::from(ro)] += 1;
        }
        let existing = self.maps_on(rd, gref).next().map(|m| (m.mapper, m.mfn));
        let existing = existing.or(extra.map(|(_, mfn)| (caller, mfn)));
        if let Some((who, _)) = existing {
            if who != caller || pins.iter().any(|p| *p >= 128) {
                return Err(GnttabStatus::GeneralError);
            }
        }
        let writable = pins[0] + pins[2] > 0;
        let e = self.mem.entry(rd, gref);
        if existing.is_none() || (!readonly && !writable) {
            let mask = if mapflag {
                GTF_TYPE_MASK | GTF_SUB_PAGE
            } else {
                GTF_TYPE_MASK
            };
            if existing.is_none() && ((e.flags & mask) != GTF_PERMIT_ACCESS || e.domid != caller) {
                return Err(GnttabStatus::GeneralError);
            }
            if !readonly && e.flags & GTF_READONLY != 0 {
                return Err(GnttabStatus::GeneralError);
            }
            if *contention >= CMPXCHG_RETRIES {
                *contention -= CMPXCHG_RETRIES;
                return Err(GnttabStatus::GeneralError);
            }
            *contention = 0;
        }
        match existing {
            Some((_, mfn)) => Ok(mfn),
            None => self.resolve_model(rd, Mfn(u64::from(e.frame))),
        }
    }

    fn handle_unmapping(&mut self, u: &Unmapping) -> Result<(), String> {
        if let Some(f) = u.free_frame {
            ck(self.frame_refs(f) == 0, || {
                format!("free_frame {f:?} while model still maps it")
            })?;
            let owner_alive = self.mem.owners.get(&f).is_some_and(|o| self.live(*o));
            ck(!owner_alive, || format!("free_frame {f:?} of a live owner"))?;
            self.mem.free_frame(f);
        }
        if let Some(d) = u.table_released {
            ck(self.maps.iter().all(|m| m.granter != d), || {
                format!("table of {d:?} released while mapped")
            })?;
            ck(self.mdom(d).is_some_and(|m| m.life == Life::Zombie), || {
                format!("{d:?} released but not a zombie")
            })?;
            self.mem.tables.remove(&d);
            if let Some(m) = self.doms.get_mut(usize::from(d.0)) {
                m.life = Life::Gone;
            }
        }
        Ok(())
    }

    /// Run one operation and compare its result with the model.
    pub fn step(&mut self, op: &Op) -> Result<(), String> {
        self.current = Some(*op);
        match *op {
            Op::GuestGrant {
                dom,
                gref,
                grantee,
                frame,
                extra,
            } => {
                let (d, r) = (Self::slot(dom), Self::pick_gref(gref));
                let cur = self.mem.entry(d, r);
                if cur.flags & (GTF_READING | GTF_WRITING) == 0 {
                    let grantee = if grantee & 0x80 != 0 {
                        DomId(99)
                    } else {
                        Self::slot(grantee)
                    };
                    let mut flags = GTF_PERMIT_ACCESS;
                    if extra & 1 != 0 {
                        flags |= GTF_READONLY;
                    }
                    if extra & 0xC2 == 0xC2 {
                        flags |= GTF_SUB_PAGE;
                    }
                    flags |= u16::from(extra & 0xA0);
                    let f = if frame & 0x80 == 0 {
                        self.own_frame(d, frame)
                    } else {
                        self.pick_frame(frame)
                    };
                    self.mem.set_entry(
                        d,
                        r,
                        GrantEntryV1 {
                            flags,
                            domid: grantee,
                            frame: f.0 as u32,
                        },
                    );
                }
                Ok(())
            }
            Op::GuestRevoke { dom, gref } => {
                let (d, r) = (Self::slot(dom), Self::pick_gref(gref));
                let cur = self.mem.entry(d, r);
                if cur.flags & (GTF_READING | GTF_WRITING) == 0 {
                    let _ = self
                        .mem
                        .cmpxchg_header(d, r, header_word(cur.flags, cur.domid), 0);
                }
                Ok(())
            }
            Op::GuestScribble {
                dom,
                gref,
                flags,
                domid,
                frame,
            } => {
                let (d, r) = (Self::slot(dom), Self::pick_gref(gref));
                let cur = self.mem.entry(d, r);
                let keep = cur.flags & (GTF_READING | GTF_WRITING);
                let flags = (flags & !(GTF_READING | GTF_WRITING)) | keep;
                let f = self.pick_frame(frame);
                self.mem.set_entry(
                    d,
                    r,
                    GrantEntryV1 {
                        flags,
                        domid: Self::pick_dom(domid),
                        frame: f.0 as u32,
                    },
                );
                Ok(())
            }
            Op::Map {
                caller,
                dom,
                gref,
                flags,
                addr,
                batch,
            } => self.op_map(caller, dom, gref, flags, addr, batch),
            Op::MapBatch {
                caller,
                len,
                entries,
            } => self.op_map_batch(caller, len, entries),
            Op::UnmapBatch {
                caller,
                replace,
                len,
                entries,
            } => self.op_unmap_batch(caller, replace, len, entries),
            Op::Unmap {
                caller,
                handle,
                host,
                dev,
            } => self.op_unmap(caller, handle, host, Some(dev), None),
            Op::UnmapAndReplace {
                caller,
                handle,
                host,
                new_addr,
            } => self.op_unmap(caller, handle, host, None, Some(u64::from(new_addr) << 12)),
            Op::Copy {
                caller,
                flags,
                src,
                dst,
            } => self.op_copy(caller, flags, src, dst),
            Op::SetupTable { caller, dom, nr } => {
                let caller = Self::slot(caller);
                if !self.live(caller) {
                    return Ok(());
                }
                let (d, nr) = (Self::pick_dom(dom), u32::from(nr % 5));
                let got = self.sys.setup_table(&mut self.mem, caller, d, nr);
                let want = self.model_target(caller, d).and_then(|t| {
                    let md = self.mdom(t).ok_or(GnttabStatus::BadDomain)?;
                    if nr > md.cfg.max_grant_frames {
                        return Err(GnttabStatus::GeneralError);
                    }
                    Ok(t)
                });
                self.expect(&got, want.map(|_| ()))?;
                if let (Ok(_), Ok(t)) = (got, want) {
                    if let Some(m) = self.doms.get_mut(usize::from(t.0)) {
                        m.nr_frames = m.nr_frames.max(nr);
                    }
                    ck(
                        self.sys.nr_frames(t)
                            == self.doms.get(usize::from(t.0)).map(|m| m.nr_frames),
                        || "nr_frames differs".into(),
                    )?;
                }
                Ok(())
            }
            Op::QuerySize { caller, dom } => {
                let caller = Self::slot(caller);
                if !self.live(caller) {
                    return Ok(());
                }
                let d = Self::pick_dom(dom);
                let got = self.sys.query_size(caller, d);
                let want = self.model_target(caller, d);
                self.expect(&got, want.map(|_| ()))?;
                if let (Ok((n, max)), Ok(t)) = (got, want) {
                    let md = self.mdom(t).ok_or("query of unknown domain")?;
                    ck(n == md.nr_frames && max == md.cfg.max_grant_frames, || {
                        format!("query_size {n} {max}")
                    })?;
                }
                Ok(())
            }
            Op::GetVersion { caller, dom } => {
                let caller = Self::slot(caller);
                if !self.live(caller) {
                    return Ok(());
                }
                let d = Self::pick_dom(dom);
                let got = self.sys.get_version(caller, d);
                let want = match self.model_target(caller, d) {
                    Ok(_) => Ok(()),
                    Err(GnttabStatus::BadDomain) => Err(Errno::ESRCH),
                    Err(_) => Err(Errno::EPERM),
                };
                self.expect(&got, want)?;
                ck(got.map_or(true, |v| v == 1), || "version is not 1".into())
            }
            Op::GetStatusFrames { caller, dom, nr } => {
                let caller = Self::slot(caller);
                if !self.live(caller) {
                    return Ok(());
                }
                let d = Self::pick_dom(dom);
                let nr = u32::from(nr % 2);
                let got = self.sys.get_status_frames(caller, d, nr).map(|_| ());
                let want = self.model_target(caller, d).and(if nr > 0 {
                    Err(GnttabStatus::GeneralError)
                } else {
                    Ok(())
                });
                self.expect(&got, want)
            }
            Op::SetVersion { caller, version } => {
                let caller = Self::slot(caller);
                if !self.live(caller) {
                    return Ok(());
                }
                let v = u32::from(version % 4);
                let (got, now) = self.sys.set_version(&mut self.mem, caller, v);
                ck(now == 1, || format!("version in force {now}, not 1"))?;
                let want = match v {
                    1 => Ok(()),
                    2 => Err(Errno::ENOSYS),
                    _ => Err(Errno::EINVAL),
                };
                self.expect(&got, want)
            }
            Op::Swap { caller, a, b } => {
                let caller = Self::slot(caller);
                if !self.live(caller) {
                    return Ok(());
                }
                let (a, b) = (Self::pick_gref(a), Self::pick_gref(b));
                let (ea, eb) = (self.mem.entry(caller, a), self.mem.entry(caller, b));
                let got = self.sys.swap_grant_ref(&mut self.mem, caller, a, b);
                let nr = self.mdom(caller).map_or(0, |d| d.nr_frames) * GRANT_ENTRIES_PER_FRAME;
                let want = if a.0 >= nr || b.0 >= nr {
                    Err(GnttabStatus::BadGntref)
                } else if a == b {
                    Ok(())
                } else if self.maps_on(caller, a).next().is_some()
                    || self.maps_on(caller, b).next().is_some()
                {
                    Err(GnttabStatus::Eagain)
                } else {
                    Ok(())
                };
                self.expect(&got, want)?;
                if got.is_ok() {
                    ck(
                        self.mem.entry(caller, a) == eb && self.mem.entry(caller, b) == ea,
                        || "swap".into(),
                    )?;
                }
                Ok(())
            }
            Op::CacheFlush {
                caller,
                frame,
                offset,
                length,
                op,
            } => {
                let caller = Self::slot(caller);
                if !self.live(caller) {
                    return Ok(());
                }
                let mfn = self.pick_frame(frame);
                let cf = GnttabCacheFlush {
                    a: mfn.addr(),
                    offset: u16::from(offset) << 4,
                    length: u16::from(length) << 4,
                    op: match op % 5 {
                        0 => 0,
                        1 => GNTTAB_CACHE_CLEAN,
                        2 => GNTTAB_CACHE_INVAL,
                        3 => GNTTAB_CACHE_CLEAN | GNTTAB_CACHE_INVAL,
                        _ => 1 << 31,
                    },
                };
                let got = self.sys.cache_flush(&self.mem, caller, &cf);
                let (off, len) = (u32::from(cf.offset), u32::from(cf.length));
                let want = if off >= 4096 || len > 4096 || off + len > 4096 || cf.op & !3 != 0 {
                    Err(Errno::EINVAL)
                } else if len == 0 || cf.op == 0 {
                    Ok(())
                } else {
                    match self.mem.owner_of(mfn) {
                        None => Err(Errno::EINVAL),
                        Some(o) if self.mdom(o).is_none() => Err(Errno::EPERM),
                        Some(o)
                            if o != caller
                                && !self
                                    .maps
                                    .iter()
                                    .any(|m| m.mapper == caller && m.mfn == mfn) =>
                        {
                            Err(Errno::EINVAL)
                        }
                        Some(_) if cf.op == GNTTAB_CACHE_INVAL => Err(Errno::EOPNOTSUPP),
                        Some(_) => Ok(()),
                    }
                };
                self.expect(&got, want)
            }
            Op::Destroy { dom } => self.op_destroy(Self::slot(dom)),
            Op::Create { dom } => {
                let d = Self::slot(dom);
                let exists = self.mdom(d).is_some();
                let got = self.create(d.0);
                self.expect(&got, if exists { Err(Errno::EEXIST) } else { Ok(()) })
            }
            Op::Contend { n } => {
                self.mem.contention = u32::from(n % 7);
                Ok(())
            }
            Op::PageOut { frame } => {
                let f = self.pick_frame(frame);
                if !self.mem.paged_out.remove(&f) {
                    self.mem.paged_out.insert(f);
                }
                Ok(())
            }
        }
    }

    /// `rcu_lock_domain_by_any_id` + `XSM_TARGET`, as the model sees them.
    fn model_target(&self, caller: DomId, dom: DomId) -> Result<DomId, GnttabStatus> {
        let t = if dom == DomId::SELF { caller } else { dom };
        if !self.live(t) {
            return Err(GnttabStatus::BadDomain);
        }
        let privileged = self.mdom(caller).is_some_and(|d| d.cfg.privileged);
        if t != caller && !privileged {
            return Err(GnttabStatus::PermissionDenied);
        }
        Ok(t)
    }

    fn op_map(
        &mut self,
        caller: u8,
        dom: u8,
        gref: u8,
        flags: u8,
        addr: u8,
        batch: bool,
    ) -> Result<(), String> {
        let caller = Self::slot(caller);
        if !self.live(caller) {
            return Ok(());
        }
        let (rd, gref) = self.pick_target(caller, addr & 0xE0 != 0xE0, dom, gref);
        let flags = if flags & 3 == 0 && flags & 0x60 != 0 {
            flags | GNTMAP_HOST_MAP as u8
        } else {
            flags
        };
        let flags = u32::from(flags & 0x1f) | if flags & 0x80 != 0 { 1 << 16 } else { 0 };
        let op = GnttabMapGrantRef {
            host_addr: u64::from(addr) << 12,
            flags,
            r#ref: gref,
            dom: rd,
            ..Default::default()
        };
        let mut contention = self.mem.contention;
        let got = if batch {
            let mut ops = [op];
            let r = self
                .sys
                .map_grant_ref_batch(&mut self.mem, caller, &mut ops);
            let r = r.into_iter().next().ok_or("empty batch result")?;
            check_map_written_back(&ops[0], &r)?;
            r
        } else {
            self.sys.map_grant_ref(&mut self.mem, caller, &op)
        };
        self.check_map(caller, &op, &got, &mut contention)?;
        ck(self.mem.contention == contention, || {
            format!("contention {} model {contention}", self.mem.contention)
        })
    }

    /// The model's outcome of one `map_grant_ref` of `op` by `caller`, given the mappings made so
    /// far: the frame, or the status. `contention` is the race knob as this op finds it.
    fn model_map(
        &self,
        caller: DomId,
        op: &GnttabMapGrantRef,
        contention: &mut u32,
    ) -> Result<Mfn, GnttabStatus> {
        let (rd, gref, flags) = (op.dom, op.r#ref, op.flags);
        let ro = flags & GNTMAP_READONLY != 0;
        if flags & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP) == 0 {
            return Err(GnttabStatus::BadGntref);
        }
        if !self.live(rd) {
            return Err(GnttabStatus::BadDomain);
        }
        let used = self.maps.iter().filter(|m| m.mapper == caller).count() as u32;
        if used >= MAPTRACK_FRAMES * MAPTRACK_PER_FRAME {
            return Err(GnttabStatus::NoDeviceSpace);
        }
        let mfn = self.model_acquire(caller, rd, gref, ro, true, None, contention)?;
        if !ro && self.mem.page_tables.contains(&mfn) {
            return Err(GnttabStatus::GeneralError);
        }
        Ok(mfn)
    }

    /// Compare the outcome of one map with the model's and record the new mapping. The shared
    /// entries' guest-written fields (type, domid, frame) are as the op saw them: only the
    /// `GTF_reading`/`GTF_writing` bits the model ignores change while ops run.
    fn check_map(
        &mut self,
        caller: DomId,
        op: &GnttabMapGrantRef,
        got: &Result<Mapping, GnttabStatus>,
        contention: &mut u32,
    ) -> Result<(), String> {
        let want = self.model_map(caller, op, contention);
        self.expect(got, want.map(|_| ()))?;
        if let (Ok(m), Ok(mfn)) = (got, want) {
            ck(m.mfn == mfn, || {
                format!("mapped {:?}, model {mfn:?}", m.mfn)
            })?;
            ck(
                !self
                    .maps
                    .iter()
                    .any(|x| x.mapper == caller && x.handle == m.handle),
                || "handle reused".into(),
            )?;
            ck(
                m.frame_ref.delta == (op.flags & 3).count_ones() as i32,
                || "frame_ref".into(),
            )?;
            self.maps.push(MMap {
                mapper: caller,
                handle: m.handle,
                granter: op.dom,
                gref: op.r#ref,
                flags: op.flags & 0x1f,
                host_addr: op.host_addr,
                mfn,
            });
        }
        Ok(())
    }

    /// One map op of a batch from entry byte `e` (see [`Op::MapBatch`]).
    fn batch_map_op(&self, caller: DomId, i: usize, e: u8) -> GnttabMapGrantRef {
        let flags = match e & 3 {
            0 => GNTMAP_HOST_MAP,
            1 => GNTMAP_HOST_MAP | GNTMAP_READONLY,
            2 => GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP,
            _ => GNTMAP_DEVICE_MAP | GNTMAP_READONLY,
        };
        let pick = (e >> 2) & 7;
        let (dom, gref) = self.pick_target(caller, (e >> 5) & 3 != 3, e, pick);
        let mut op = GnttabMapGrantRef {
            host_addr: (0x100 + i as u64) << 12,
            flags,
            r#ref: gref,
            dom,
            ..Default::default()
        };
        if (e >> 5) & 3 == 2 {
            // An entry that must fail, between the others.
            match pick % 4 {
                0 => op.flags = GNTMAP_READONLY,
                1 => op.dom = DomId(77),
                2 => op.r#ref = GrantRef(3 * GRANT_ENTRIES_PER_FRAME),
                _ => op.dom = DomId::SELF,
            }
        }
        op
    }

    /// `map_grant_ref_batch` over entries built before the call (as a guest fills its array),
    /// each checked in order against the model, which sees the earlier entries' mappings;
    /// then the mappings the hypervisor "failed to install" are undone with `cancel_map`.
    fn op_map_batch(&mut self, caller: u8, len: u8, entries: [u8; 6]) -> Result<(), String> {
        let caller = Self::slot(caller);
        if !self.live(caller) {
            return Ok(());
        }
        let n = 1 + usize::from(len) % entries.len();
        let mut ops: Vec<GnttabMapGrantRef> = entries
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, e)| self.batch_map_op(caller, i, *e))
            .collect();
        let built = ops.clone();
        let mut contention = self.mem.contention;
        let got = self
            .sys
            .map_grant_ref_batch(&mut self.mem, caller, &mut ops);
        ck(got.len() == n, || {
            format!("{} results for {n} ops", got.len())
        })?;
        let mut failed = false;
        for ((op, r), written) in built.iter().zip(&got).zip(&ops) {
            check_map_written_back(written, r)?;
            self.check_map(caller, op, r, &mut contention)?;
            if r.is_ok() && failed {
                self.note("MapBatch: Ok after a failed entry");
            }
            failed |= r.is_err();
        }
        ck(self.mem.contention == contention, || {
            format!("contention {} model {contention}", self.mem.contention)
        })?;
        for (e, r) in entries.iter().zip(&got) {
            if let (Ok(m), true) = (r, e & 0x80 != 0) {
                self.cancel(caller, m.handle)?;
            }
        }
        Ok(())
    }

    /// `cancel_map` of a live handle, as the hypervisor calls it when it cannot install the
    /// mapping: everything the map took is released; a second cancel finds no handle.
    fn cancel(&mut self, caller: DomId, handle: GrantHandle) -> Result<(), String> {
        let idx = self
            .maps
            .iter()
            .position(|m| m.mapper == caller && m.handle == handle)
            .ok_or("cancel of a handle the model does not have")?;
        let m = self.maps.remove(idx);
        let u = self
            .sys
            .cancel_map(&mut self.mem, caller, handle)
            .map_err(|e| format!("cancel_map {handle:?}: {e:?}"))?;
        self.note("MapBatch: cancel_map Ok");
        ck(
            u.mfn == m.mfn
                && u.granter == m.granter
                && u.handle_freed
                && u.host_unmapped == (m.flags & GNTMAP_HOST_MAP != 0)
                && u.device_unmapped == (m.flags & GNTMAP_DEVICE_MAP != 0)
                && u.readonly == m.ro()
                && u.frame_ref.delta == -(m.refs() as i32),
            || format!("cancel_map {u:?} for model {m:?}"),
        )?;
        self.handle_unmapping(&u)?;
        let again = self.sys.cancel_map(&mut self.mem, caller, handle);
        ck(again == Err(GnttabStatus::BadHandle), || {
            format!("second cancel_map {again:?}")
        })
    }

    fn op_unmap(
        &mut self,
        caller: u8,
        handle: u8,
        host: u8,
        dev: Option<u8>,
        new_addr: Option<u64>,
    ) -> Result<(), String> {
        let caller = match self.maps.get(usize::from(caller) % self.maps.len().max(1)) {
            Some(m) if handle & 0x80 == 0 => m.mapper,
            _ => Self::slot(caller),
        };
        if !self.live(caller) {
            return Ok(());
        }
        let mine: Vec<MMap> = self
            .maps
            .iter()
            .filter(|m| m.mapper == caller)
            .copied()
            .collect();
        let target = if handle & 0x80 != 0 || mine.is_empty() {
            None
        } else {
            mine.get(usize::from(handle) % mine.len()).copied()
        };
        let h = target.map_or(GrantHandle(u32::from(handle & 0x7f) * 3), |m| m.handle);
        let target = mine.iter().find(|m| m.handle == h).copied();
        let mfn = target.map_or(Mfn(0x999), |m| m.mfn);
        let host_addr = match host % 3 {
            0 => 0,
            1 => target.map_or(0x1000, |m| m.host_addr),
            _ => target.map_or(0x2000, |m| m.host_addr.wrapping_add(0x1000)),
        };
        let dev_bus_addr = match dev.map(|d| d % 3) {
            None | Some(0) => 0,
            Some(1) => mfn.addr(),
            Some(_) => mfn.addr() ^ 0x1000,
        };
        let got = match new_addr {
            None => {
                let mut ops = [GnttabUnmapGrantRef {
                    host_addr,
                    dev_bus_addr,
                    handle: h,
                    ..Default::default()
                }];
                let r = self
                    .sys
                    .unmap_grant_ref_batch(&mut self.mem, caller, &mut ops);
                r.into_iter().next().ok_or("empty batch result")?
            }
            Some(new_addr) => {
                let op = GnttabUnmapAndReplace {
                    host_addr,
                    new_addr,
                    handle: h,
                    ..Default::default()
                };
                self.sys.unmap_and_replace(&mut self.mem, caller, &op)
            }
        };
        self.check_unmap(caller, h, host_addr, dev_bus_addr, new_addr, &got)
    }

    /// Compare the outcome of one unmap of `handle` with the model's, given the mappings left by
    /// the ops before it, and drop or narrow the model's mapping.
    fn check_unmap(
        &mut self,
        caller: DomId,
        handle: GrantHandle,
        host_addr: u64,
        dev_bus_addr: u64,
        new_addr: Option<u64>,
        got: &Result<Unmapping, GnttabStatus>,
    ) -> Result<(), String> {
        let target = self
            .maps
            .iter()
            .find(|m| m.mapper == caller && m.handle == handle)
            .copied();
        let want = match target {
            None => Err(GnttabStatus::BadHandle),
            Some(m) => {
                let bad_dev = dev_bus_addr != 0 && dev_bus_addr != m.mfn.addr();
                let bad_host =
                    host_addr != 0 && m.flags & GNTMAP_HOST_MAP != 0 && host_addr != m.host_addr;
                if bad_dev || bad_host {
                    Err(GnttabStatus::GeneralError)
                } else {
                    Ok(m)
                }
            }
        };
        self.expect(got, want.map(|_| ()))?;
        if let (Ok(u), Ok(m)) = (got, want) {
            let mut rest = m.flags;
            if host_addr != 0 && m.flags & GNTMAP_HOST_MAP != 0 {
                rest &= !GNTMAP_HOST_MAP;
            }
            if dev_bus_addr != 0 && m.flags & GNTMAP_DEVICE_MAP != 0 {
                rest &= !GNTMAP_DEVICE_MAP;
            }
            let idx = self
                .maps
                .iter()
                .position(|x| *x == m)
                .ok_or("model lost the mapping")?;
            let freed = rest & (GNTMAP_HOST_MAP | GNTMAP_DEVICE_MAP) == 0;
            ck(u.handle_freed == freed, || {
                format!("handle_freed {} model {freed}", u.handle_freed)
            })?;
            ck(u.new_addr == new_addr, || "new_addr".into())?;
            if freed {
                self.maps.remove(idx);
            } else if let Some(x) = self.maps.get_mut(idx) {
                x.flags = rest;
            }
            self.handle_unmapping(u)?;
        }
        Ok(())
    }

    /// `unmap_grant_ref_batch` or `unmap_and_replace_batch` over entries built from the caller's
    /// mappings before the call (see [`Op::UnmapBatch`]), each checked in order against the
    /// model, which sees what the earlier entries unmapped (a repeated handle is gone).
    fn op_unmap_batch(
        &mut self,
        caller: u8,
        replace: bool,
        len: u8,
        entries: [u8; 6],
    ) -> Result<(), String> {
        let caller = match self.maps.get(usize::from(caller) % self.maps.len().max(1)) {
            Some(m) if caller & 0x80 == 0 => m.mapper,
            _ => Self::slot(caller),
        };
        if !self.live(caller) {
            return Ok(());
        }
        let mine: Vec<MMap> = self
            .maps
            .iter()
            .filter(|m| m.mapper == caller)
            .copied()
            .collect();
        let n = 1 + usize::from(len) % entries.len();
        // (handle, host_addr, dev_bus_addr, new_addr) per entry.
        let built: Vec<(GrantHandle, u64, u64, Option<u64>)> = entries
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, e)| {
                let target = match mine.get(usize::from(e & 7) % mine.len().max(1)) {
                    Some(m) if e & 0x80 == 0 => Some(*m),
                    _ => None,
                };
                let handle = target.map_or(GrantHandle(u32::from(e & 0x7f) * 3), |m| m.handle);
                let (addr, mfn) = target.map_or((0x3000, Mfn(0x999)), |m| (m.host_addr, m.mfn));
                let host_addr = match (e >> 3) & 3 {
                    0 => 0,
                    3 => addr.wrapping_add(0x1000),
                    _ => addr,
                };
                let dev_bus_addr = match (replace, (e >> 5) & 3) {
                    (true, _) | (false, 0 | 2) => 0,
                    (false, 1) => mfn.addr(),
                    (false, _) => mfn.addr() ^ 0x1000,
                };
                let new_addr = replace.then_some((0x200 + i as u64) << 12);
                (handle, host_addr, dev_bus_addr, new_addr)
            })
            .collect();
        let (got, statuses): (Vec<Result<Unmapping, GnttabStatus>>, Vec<i16>) = if replace {
            let mut ops: Vec<GnttabUnmapAndReplace> = built
                .iter()
                .map(|(handle, host_addr, _, new_addr)| GnttabUnmapAndReplace {
                    host_addr: *host_addr,
                    new_addr: new_addr.unwrap_or(0),
                    handle: *handle,
                    ..Default::default()
                })
                .collect();
            let r = self
                .sys
                .unmap_and_replace_batch(&mut self.mem, caller, &mut ops);
            (r, ops.iter().map(|o| o.status).collect())
        } else {
            let mut ops: Vec<GnttabUnmapGrantRef> = built
                .iter()
                .map(|(handle, host_addr, dev_bus_addr, _)| GnttabUnmapGrantRef {
                    host_addr: *host_addr,
                    dev_bus_addr: *dev_bus_addr,
                    handle: *handle,
                    ..Default::default()
                })
                .collect();
            let r = self
                .sys
                .unmap_grant_ref_batch(&mut self.mem, caller, &mut ops);
            (r, ops.iter().map(|o| o.status).collect())
        };
        ck(got.len() == n, || {
            format!("{} results for {n} ops", got.len())
        })?;
        let mut failed = false;
        for ((b, r), st) in built.iter().zip(&got).zip(&statuses) {
            ck(*st == status_of(r), || {
                format!("status {st} written back for {r:?}")
            })?;
            let (handle, host_addr, dev_bus_addr, new_addr) = *b;
            self.check_unmap(caller, handle, host_addr, dev_bus_addr, new_addr, r)?;
            if r.is_ok() && failed {
                self.note("UnmapBatch: Ok after a failed entry");
            }
            failed |= r.is_err();
        }
        Ok(())
    }

    fn copy_ptr(&self, caller: DomId, b: [u8; 3], is_gref: bool) -> GnttabCopyPtr {
        let smart = b[0] & 0xC0 != 0xC0;
        let offset = if b[2] & 0x80 != 0 {
            u16::from(b[2]) << 4
        } else {
            u16::from(b[2]) << 3
        };
        let mut p = GnttabCopyPtr {
            offset,
            ..Default::default()
        };
        if is_gref {
            let (d, r) = self.pick_target(caller, smart, b[0], b[1]);
            p.domid = d;
            p.set_gref(r);
        } else if smart {
            p.domid = DomId::SELF;
            p.u = self.own_frame(caller, b[1]).0;
        } else {
            p.domid = Self::pick_dom(b[0]);
            p.u = self.pick_frame(b[1]).0;
        }
        p
    }

    fn op_copy(&mut self, caller: u8, flags: u8, src: [u8; 3], dst: [u8; 3]) -> Result<(), String> {
        let caller = Self::slot(caller);
        if !self.live(caller) {
            return Ok(());
        }
        let sg = flags & 1 != 0;
        let dg = flags & 2 != 0;
        let op = GnttabCopy {
            source: self.copy_ptr(caller, src, sg),
            dest: self.copy_ptr(caller, dst, dg),
            len: if flags & 0x80 != 0 {
                u16::from(flags >> 2) * 65
            } else {
                u16::from(flags >> 2) * 16
            },
            flags: (if sg { GNTCOPY_SOURCE_GREF } else { 0 })
                | (if dg { GNTCOPY_DEST_GREF } else { 0 }),
            ..Default::default()
        };
        let mut contention = self.mem.contention;
        let want: Result<(Mfn, Mfn), GnttabStatus> = (|| {
            let lock = |p: &GnttabCopyPtr, g: bool| -> Result<DomId, GnttabStatus> {
                if p.domid != DomId::SELF && !g {
                    return Err(GnttabStatus::PermissionDenied);
                }
                let d = if p.domid == DomId::SELF {
                    caller
                } else {
                    p.domid
                };
                if self.live(d) {
                    Ok(d)
                } else {
                    Err(GnttabStatus::BadDomain)
                }
            };
            let sd = lock(&op.source, sg)?;
            let dd = lock(&op.dest, dg)?;
            let smfn = if sg {
                self.model_acquire(
                    caller,
                    sd,
                    op.source.gref(),
                    true,
                    false,
                    None,
                    &mut contention,
                )?
            } else {
                self.resolve_model(sd, Mfn(op.source.u))?
            };
            let dmfn = if dg {
                let extra =
                    (sg && sd == dd && op.source.gref() == op.dest.gref()).then_some((true, smfn));
                self.model_acquire(
                    caller,
                    dd,
                    op.dest.gref(),
                    false,
                    false,
                    extra,
                    &mut contention,
                )?
            } else {
                self.resolve_model(dd, Mfn(op.dest.u))?
            };
            if self.mem.page_tables.contains(&dmfn) {
                return Err(GnttabStatus::GeneralError);
            }
            let len = u32::from(op.len);
            if u32::from(op.source.offset) + len > 4096 || u32::from(op.dest.offset) + len > 4096 {
                return Err(GnttabStatus::BadCopyArg);
            }
            Ok((smfn, dmfn))
        })();
        let before: Vec<u8> = match want {
            Ok((s, _)) => (0..usize::from(op.len))
                .map(|i| self.mem.byte(s, usize::from(op.source.offset) + i))
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut ops = [op];
        let got = self.sys.copy_batch(&mut self.mem, caller, &mut ops);
        let got = got.into_iter().next().ok_or("empty batch result")?;
        self.expect(&got, want.map(|_| ()))?;
        ck(self.mem.contention == contention, || {
            format!("contention {} model {contention}", self.mem.contention)
        })?;
        if let Ok((_, d)) = want {
            let after: Vec<u8> = (0..usize::from(op.len))
                .map(|i| self.mem.byte(d, usize::from(op.dest.offset) + i))
                .collect();
            ck(before == after, || "copied bytes differ".into())?;
        }
        Ok(())
    }

    fn op_destroy(&mut self, dom: DomId) -> Result<(), String> {
        let got = self.sys.destroy_domain(&mut self.mem, dom);
        if !self.live(dom) {
            return self.expect(&got, Err(Errno::ESRCH));
        }
        self.expect(&got, Ok(()))?;
        let out = got.map_err(|e| format!("destroy failed: {e:?}"))?;
        let released: usize = self.maps.iter().filter(|m| m.mapper == dom).count();
        ck(out.released.len() == released, || {
            format!("released {} model {released}", out.released.len())
        })?;
        self.maps.retain(|m| m.mapper != dom);
        if let Some(m) = self.doms.get_mut(usize::from(dom.0)) {
            m.life = Life::Zombie;
        }
        for u in &out.released {
            self.handle_unmapping(u)?;
        }
        let mut want_retained: Vec<Mfn> = self
            .maps
            .iter()
            .map(|m| m.mfn)
            .filter(|f| self.mem.owners.get(f) == Some(&dom))
            .collect();
        want_retained.sort();
        want_retained.dedup();
        let mut got_retained = out.retained_frames.clone();
        got_retained.sort();
        ck(got_retained == want_retained, || {
            format!("retained {got_retained:?} model {want_retained:?}")
        })?;
        self.mem.free_domain_frames(dom, &out.retained_frames);
        let pinned = self.maps.iter().any(|m| m.granter == dom);
        ck(out.table_released != pinned, || "table_released".into())?;
        if out.table_released {
            self.mem.tables.remove(&dom);
            if let Some(m) = self.doms.get_mut(usize::from(dom.0)) {
                m.life = Life::Gone;
            }
        }
        Ok(())
    }

    /// The invariants, checked after every step.
    pub fn check_invariants(&self) -> Result<(), String> {
        // A copy's frame references end with the copy.
        ck(self.mem.held.is_empty(), || {
            format!("frames still held after a step: {:?}", self.mem.held)
        })?;
        // The set of domains the system holds is the model's live and zombie domains.
        let sys_doms: Vec<DomId> = self.sys.domains().collect();
        let model_doms: Vec<DomId> = (0..SLOTS)
            .map(DomId)
            .filter(|d| self.mdom(*d).is_some())
            .collect();
        ck(sys_doms == model_doms, || {
            format!("domains {sys_doms:?} model {model_doms:?}")
        })?;
        for d in &model_doms {
            let d = *d;
            // GTF_reading iff pinned; GTF_writing iff a writable pin: so a read-only mapping
            // never sets GTF_writing, and no flag outlives its mappings or a copy.
            let nr = self.mdom(d).map_or(0, |m| m.nr_frames) * GRANT_ENTRIES_PER_FRAME;
            let probe = (0..10).chain(508..524).filter(|r| *r < nr).map(GrantRef);
            for r in probe {
                let e = self.mem.entry(d, r);
                let p = self.pins_of(d, r);
                let any = p.iter().any(|c| *c > 0);
                let writable = p[0] + p[2] > 0;
                ck((e.flags & GTF_READING != 0) == any, || {
                    format!(
                        "{d:?}/{r:?} GTF_reading={} pins={p:?}",
                        e.flags & GTF_READING != 0
                    )
                })?;
                ck((e.flags & GTF_WRITING != 0) == writable, || {
                    format!(
                        "{d:?}/{r:?} GTF_writing={} pins={p:?}",
                        e.flags & GTF_WRITING != 0
                    )
                })?;
            }
            // Active entries exist exactly for pinned grants, with the model's counts.
            for (r, a) in self.sys.active_entries(d) {
                let p = self.pins_of(d, r);
                let got = [a.pins.hstw, a.pins.hstr, a.pins.devw, a.pins.devr].map(u32::from);
                ck(got == p, || format!("{d:?}/{r:?} pins {got:?} model {p:?}"))?;
                let m = self
                    .maps_on(d, r)
                    .next()
                    .ok_or_else(|| format!("{d:?}/{r:?} active without mappings"))?;
                ck(a.domid == m.mapper && a.mfn == m.mfn, || {
                    "active domid/mfn".into()
                })?;
            }
            for m in self.maps.iter().filter(|m| m.granter == d) {
                ck(self.sys.active_entry(d, m.gref).is_some(), || {
                    format!("{d:?}/{:?} mapped but not active", m.gref)
                })?;
            }
            // Live handles equal maptrack entries.
            let mut sys_h: Vec<(u32, DomId, u32, u32, u64)> = self
                .sys
                .live_handles(d)
                .map(|(h, e)| (h.0, e.dom, e.gref.0, e.flags, e.mfn.0))
                .collect();
            let mut mod_h: Vec<(u32, DomId, u32, u32, u64)> = self
                .maps
                .iter()
                .filter(|m| m.mapper == d)
                .map(|m| (m.handle.0, m.granter, m.gref.0, m.flags, m.mfn.0))
                .collect();
            sys_h.sort();
            mod_h.sort();
            ck(sys_h == mod_h, || {
                format!("{d:?} handles {sys_h:?} model {mod_h:?}")
            })?;
            ck(self.sys.live_handle_count(d) == mod_h.len(), || {
                "live_handle_count".into()
            })?;
        }
        // No frame is freed while mapped; reference counts match.
        for m in &self.maps {
            ck(!self.mem.freed.contains(&m.mfn), || {
                format!("{:?} freed while mapped", m.mfn)
            })?;
            let want = self.frame_refs(m.mfn);
            let got = self.sys.foreign_map_count(m.mfn);
            ck(got == want, || {
                format!("{:?} refs {got} model {want}", m.mfn)
            })?;
            ck(self.sys.frame_is_mapped(m.mfn), || "frame_is_mapped".into())?;
        }
        Ok(())
    }
}

fn frame_number(generation: u64, slot: u16, i: u64) -> Mfn {
    Mfn(0x10000 * generation + 0x100 * (u64::from(slot) + 1) + i)
}

#[cfg(test)]
mod tests {
    //! The harness's batch operations on hand-built sequences: failing entries between
    //! successes, the undo of a mapping the hypervisor could not install, repeated handles.
    use super::*;

    /// Two domains; dom 1 grants refs 0, 1, 2 (its frames 1, 2, 3, writable) to dom 0.
    fn granted_world() -> Harness {
        let mut h = Harness::new(2);
        h.collect_stats = true;
        for r in 0..3 {
            let grant = Op::GuestGrant {
                dom: 1,
                gref: r,
                grantee: 0,
                frame: 1 + r,
                extra: 0,
            };
            h.step(&grant).expect("a guest write cannot fail");
        }
        h
    }

    fn stat(h: &Harness, key: &str) -> u32 {
        h.stats.get(key).copied().unwrap_or(0)
    }

    #[test]
    fn map_batch_failure_between_successes_matches_model_and_cancel_undoes() {
        let mut h = granted_world();
        let batch = Op::MapBatch {
            caller: 0,
            len: 3, // four entries
            entries: [
                0x00, // host rw of the first grant to dom 0 (ref 0)
                0x44, // built to fail: DomId(77) -> GNTST_bad_domain
                0x85, // host ro of ref 1; the hypervisor fails to install it: cancel_map
                0x0a, // host + device rw of ref 2
                0, 0,
            ],
        };
        h.run(&[batch]).expect("the model agrees entry by entry");
        assert_eq!(stat(&h, "MapBatch: Ok"), 3);
        assert_eq!(stat(&h, "MapBatch: BadDomain"), 1);
        assert_eq!(stat(&h, "MapBatch: Ok after a failed entry"), 2);
        assert_eq!(stat(&h, "MapBatch: cancel_map Ok"), 1);
        assert_eq!(h.sys.live_handle_count(DomId(0)), 2);
        assert_eq!(h.sys.active_entry(DomId(1), GrantRef(1)), None);
    }

    #[test]
    fn unmap_batch_repeated_and_wrong_entries_between_successes_match_model() {
        let mut h = granted_world();
        let map = Op::MapBatch {
            caller: 0,
            len: 1,                            // two entries
            entries: [0x00, 0x0a, 0, 0, 0, 0], // ref 0 host rw; ref 2 host + device rw
        };
        let unmap = Op::UnmapBatch {
            caller: 0,
            replace: false,
            len: 3, // four entries
            entries: [
                0x08, // the first mapping, host address right: unmapped, handle freed
                0x08, // the same handle again: GNTST_bad_handle
                0x19, // the second mapping, host address wrong: GNTST_general_error
                0x29, // the second mapping, host and bus address right: unmapped
                0, 0,
            ],
        };
        h.run(&[map, unmap])
            .expect("the model agrees entry by entry");
        assert_eq!(stat(&h, "UnmapBatch: Ok"), 2);
        assert_eq!(stat(&h, "UnmapBatch: BadHandle"), 1);
        assert_eq!(stat(&h, "UnmapBatch: GeneralError"), 1);
        assert_eq!(stat(&h, "UnmapBatch: Ok after a failed entry"), 1);
        assert_eq!(h.sys.live_handle_count(DomId(0)), 0);
        assert!(!h.sys.frame_is_mapped(h.own_frame(DomId(1), 3)));
    }
}
