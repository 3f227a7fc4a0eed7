//! The hypervisor heap: a first-fit allocator over one contiguous run of frames, so `alloc` and
//! `hashbrown` work.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands `[start, start + size)` to the heap.
///
/// # Safety
/// The range must be mapped writable, unused by anything else, and given only once.
pub unsafe fn init(start: *mut u8, size: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { HEAP.lock().init(start, size) };
}
