//! Domain destruction (Xen's `domain_kill` + `domain_relinquish_resources` + `domain_destroy`)
//! and xl's `on_poweroff`/`on_crash=restart` for boot-module domUs.
//!
//! A domU that shuts down or crashes is only marked (it stops being runnable); the scheduler
//! calls [`reap`] at a point where no CPU runs the dead domain's vCPUs or uses its page tables,
//! and the domain is torn down there: its vCPUs leave the run queues, its event channels close
//! (peers' ports fall back to unbound), its grant table releases its mappings of others' grants
//! and is freed (or kept while others still map its grants), the references its vCPUs hold
//! (base pointers, GDT frames, `vcpu_info`), its pins and `shared_info`'s permanent type go —
//! which de-validates its page tables and releases every reference their entries held — and
//! every frame it owns drops its allocation reference: a frame nobody else references returns
//! to the allocator; one still mapped by another domain through a grant stays until unmapped
//! (`grant::reap_orphans`). The free-frame count is logged against the count before the domain
//! was built.
//!
//! `restarts=N` on a `domu` module rebuilds the domain from its module after each of its first
//! N deaths, each time with a new domain id (as xl does), the lowest one above the old id that
//! no domain or grant table holds.

use super::build::{build, BuildSpec};
use super::{DomainState, DOMAINS};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;
use xen_abi::{DomId, Mfn};

/// How to build a boot-module domU again.
#[derive(Debug, Clone)]
pub struct RestartSpec {
    /// Name.
    pub name: String,
    /// The kernel image (a boot module, reserved for the hypervisor's lifetime).
    pub kernel: &'static [u8],
    /// The guest command line.
    pub cmdline: String,
    /// Its initrd module, if it has one.
    pub initrd: Option<&'static [u8]>,
    /// Memory in pages.
    pub nr_pages: u64,
    /// vCPUs.
    pub vcpus: u32,
    /// Physical CPUs, and the first one its vCPUs go on.
    pub pcpus: usize,
    /// See `pcpus`.
    pub first_pcpu: usize,
    /// Restarts left.
    pub left: u32,
}

/// What is remembered about a built domain until it is destroyed.
#[derive(Debug)]
struct Record {
    /// Free frames before the domain (or the first of its restart chain) was built.
    free_before: u64,
    restart: Option<RestartSpec>,
}

static RECORDS: Mutex<BTreeMap<DomId, Record>> = Mutex::new(BTreeMap::new());
static DEAD: Mutex<Vec<DomId>> = Mutex::new(Vec::new());
static PENDING: AtomicBool = AtomicBool::new(false);

/// Records that `id` was built when `free_before` frames were free, and how to restart it.
pub fn note_built(id: DomId, free_before: u64, restart: Option<RestartSpec>) {
    RECORDS.lock().insert(
        id,
        Record {
            free_before,
            restart,
        },
    );
}

/// Asks for a dead (shut down or crashed) domU to be torn down by the scheduler.
pub fn request(id: DomId) {
    let mut dead = DEAD.lock();
    if !dead.contains(&id) {
        dead.push(id);
    }
    PENDING.store(true, Ordering::Release);
}

/// Tears down every dead domain none of whose vCPUs is current on any CPU (called by the
/// scheduler with this CPU's page tables no longer the dead domain's).
pub fn reap() {
    if !PENDING.load(Ordering::Acquire) {
        return;
    }
    let ready: Vec<DomId> = {
        let mut dead = DEAD.lock();
        let (ready, busy): (Vec<DomId>, Vec<DomId>) = dead
            .iter()
            .partition(|id| !crate::sched::is_current_anywhere(**id));
        *dead = busy;
        PENDING.store(!dead.is_empty(), Ordering::Release);
        ready
    };
    for id in ready {
        destroy(id);
    }
}

/// Where a teardown stands (Xen's `domain_kill` states with `relinquish_resources`' progress):
/// kept in the domain between the slices of a preemptible `XEN_DOMCTL_destroydomain`.
#[derive(Debug, Default)]
pub struct Teardown {
    stage: Stage,
    /// The grant-table frames, which the frame walk leaves to the grant code.
    table_frames: Vec<Mfn>,
    freed: u64,
    retained: u64,
    typed: u64,
    /// The end of the frames to walk (the domain's [`super::FrameSpan`], within RAM).
    end: u64,
    /// When the teardown began (system time, ns), and the slices it took so far.
    started: u64,
    slices: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Stage {
    /// Nothing done yet.
    #[default]
    Start,
    /// Unpinning the domain's pinned tables, from this frame up to `end`.
    Unpin(u64),
    /// Giving up the domain's frames, from this frame up to `end`.
    Release(u64),
}

/// Frames of the walk between two questions whether to stop (a walk over a large domain's
/// frames, twice, would otherwise run with interrupts off for as long as it has memory).
const WALK_SLICE: u64 = 4096;

/// Tears domain `id` down for `XEN_DOMCTL_destroydomain` (the caller paused it, so none of its
/// vCPUs is current anywhere): as much as `preempt` allows, and `false` while work remains (the
/// caller makes the call again, Xen's `-ERESTART`); `true` once the domain is gone.
pub fn destroy_step(id: DomId, preempt: &mut dyn FnMut() -> bool) -> bool {
    DEAD.lock().retain(|&d| d != id);
    run(id, preempt)
}

/// Tears domain `id` down now; restarts it if its module asked for it.
fn destroy(id: DomId) {
    run(id, &mut || false);
}

/// The teardown's stages, resumed from where the domain's [`Teardown`] says: true when done.
fn run(id: DomId, preempt: &mut dyn FnMut() -> bool) -> bool {
    // The domain stays findable (dying) until it is gone: whoever watches for its id to
    // disappear sees the teardown complete.
    let Some(d) = DOMAINS.lock().get(&id).cloned() else {
        return true;
    };
    let ft = crate::mm::frame_table();
    let mut t = d.teardown.lock();
    let ram = crate::mm::ram_frames();
    t.slices += 1;
    loop {
        match t.stage {
            Stage::Start => {
                t.started = crate::time::now();
                start(&d);
                t.table_frames = crate::grant::domain_destroy(id);
                // Only where its frames lie: every frame it was given is in its span.
                let span = d.frame_span.range();
                t.end = span.end.min(ram);
                t.stage = Stage::Unpin(span.start.min(t.end));
            }
            // Pins (`relinquish_memory`'s unpin pass): de-validates the page-table trees.
            Stage::Unpin(from) => {
                let to = (from + WALK_SLICE).min(t.end);
                {
                    let _mmu = d.mmu.lock();
                    for m in (from..to).map(Mfn) {
                        if ft.owner(m) == Some(id) && ft.type_state(m).pinned {
                            let _ = ft.unpin(m, id);
                        }
                    }
                }
                t.stage = if to == t.end {
                    Stage::Release(d.frame_span.range().start.min(t.end))
                } else {
                    Stage::Unpin(to)
                };
            }
            // Every frame it owns gives up its allocation reference.
            Stage::Release(from) => {
                let to = (from + WALK_SLICE).min(t.end);
                // The slice's frees go after one TLB shootdown per batch, before any is reused.
                crate::mm::batch_frees(|| {
                    for m in (from..to).map(Mfn) {
                        if ft.owner(m) != Some(id)
                            || t.table_frames.contains(&m)
                            || ft.count(m) == 0
                        {
                            continue;
                        }
                        if ft.type_state(m).count != 0 {
                            t.typed += 1;
                        }
                        // The frame table frees it (M2P entry invalidated) at its last put.
                        if ft.release(m) {
                            t.freed += 1;
                        } else {
                            t.retained += 1;
                            crate::grant::add_orphan(m, Some(id));
                        }
                    }
                });
                if to == t.end {
                    let took = Took {
                        ms: crate::time::now().saturating_sub(t.started) / 1_000_000,
                        slices: t.slices,
                    };
                    let (freed, retained, typed) = (t.freed, t.retained, t.typed);
                    drop(t);
                    finish(id, d, freed, retained, typed, took);
                    return true;
                }
                t.stage = Stage::Release(to);
            }
        }
        if preempt() {
            return false;
        }
    }
}

/// The teardown's first stage: the domain marked dying and taken off the CPUs, its event
/// channels closed (peers' ports fall back to unbound), and the references its structures hold
/// (base pointers, GDT frames, `vcpu_info`, `shared_info`'s type) dropped.
fn start(d: &super::Domain) {
    let id = d.id;
    *d.state.lock() = DomainState::Dying;
    let _ = super::claims::set(d, 0);
    crate::sched::remove_domain(id);
    let ft = crate::mm::frame_table();
    let fx = crate::event::EVTCHN.lock().domain_destroy(id);
    if let Ok(fx) = fx {
        crate::event::apply(&fx);
    }
    let _mmu = d.mmu.lock();
    for v in &d.vcpus {
        let (vi, _) = v.vcpu_info_at();
        let mut st = v.state.lock();
        if let Some(k) = st.kernel_l4.take() {
            ft.put_page_and_type(k);
        }
        if let Some(u) = st.user_l4.take() {
            ft.put_page_and_type(u);
        }
        crate::pv::descriptors::release_gdt(&mut st);
        if vi != d.shared_info {
            ft.put_page_and_type(vi);
        }
    }
    ft.put_page_type(d.shared_info);
}

/// The teardown's end: frames of domains that died earlier and were held by this one's page
/// tables released, the count logged, the domain forgotten, and restarted if its module asked.
/// How long a teardown took, in ms and slices (calls of `destroydomain`).
struct Took {
    ms: u64,
    slices: u32,
}

fn finish(
    id: DomId,
    d: alloc::sync::Arc<super::Domain>,
    freed: u64,
    retained: u64,
    typed: u64,
    took: Took,
) {
    crate::grant::reap_orphans();
    let record = RECORDS.lock().remove(&id);
    // Boot-module domains record the free frames before their build; the toolstack's do not.
    let before = record
        .as_ref()
        .map(|r| alloc::format!(" (before build {})", r.free_before))
        .unwrap_or_default();
    log::info!(
        "d{}: destroyed: {} frames freed, {} still mapped by other domains ({} typed); {} ms in {} slice(s); free frames {}{}",
        id.0,
        freed,
        retained,
        typed,
        took.ms,
        took.slices,
        crate::mm::free_frames(),
        before
    );
    DOMAINS.lock().remove(&id);
    drop(d);
    if let Some(Record {
        free_before,
        restart: Some(spec),
    }) = record
    {
        if spec.left > 0 {
            restart(id, free_before, spec);
        } else {
            log::info!(
                "d{}: '{}' restarted for the last time; free frames {} (before its first build {})",
                id.0,
                spec.name,
                crate::mm::free_frames(),
                free_before
            );
        }
    }
}

/// The lowest domain id above `after` that no domain, event-channel or grant table holds.
fn next_free_id(after: DomId) -> Option<DomId> {
    (after.0.checked_add(1)?..0x7ff0)
        .map(DomId)
        .find(|&id| !DOMAINS.lock().contains_key(&id) && !crate::grant::id_in_use(id))
}

fn restart(old: DomId, free_before: u64, mut spec: RestartSpec) {
    let Some(id) = next_free_id(old) else {
        log::error!("d{}: no domain id left to restart '{}'", old.0, spec.name);
        return;
    };
    spec.left -= 1;
    let b = BuildSpec {
        id,
        name: &spec.name,
        privileged: false,
        kernel: spec.kernel,
        cmdline: &spec.cmdline,
        initrd: spec.initrd,
        nr_pages: spec.nr_pages,
        max_pages: spec.nr_pages,
        vcpus: spec.vcpus,
        pcpus: spec.pcpus,
        first_pcpu: spec.first_pcpu,
    };
    match build(&b) {
        Ok(d) => {
            log::info!(
                "d{}: '{}' restarted as d{} ({} restart(s) left)",
                old.0,
                spec.name,
                id.0,
                spec.left
            );
            note_built(id, free_before, Some(spec));
            let vcpus = d.vcpus.clone();
            DOMAINS.lock().insert(id, d);
            for v in vcpus {
                crate::sched::add(v);
            }
        }
        Err(e) => log::error!("d{}: cannot restart '{}': {e:?}", id.0, spec.name),
    }
}
