//! `GNTTABOP_cache_flush` (`cache_flush`) as on x86: argument checks and the ownership check.

use xen_abi::grant_table::{GnttabCacheFlush, GNTTAB_CACHE_CLEAN, GNTTAB_CACHE_INVAL};
use xen_abi::{DomId, Errno, Mfn, XenResult, PAGE_SIZE};

use crate::mem::GrantMemory;
use crate::system::GrantSystem;

impl GrantSystem {
    /// `GNTTABOP_cache_flush` (`cache_flush`) as on x86: argument checks, then the frame must be
    /// the caller's or mapped by it through a grant. `GNTTAB_CACHE_INVAL` alone is
    /// `EOPNOTSUPP` (x86's `invalidate_dcache_va_range`); a clean is a no-op that succeeds.
    pub fn cache_flush<M: GrantMemory>(
        &self,
        mem: &M,
        caller: DomId,
        op: &GnttabCacheFlush,
    ) -> XenResult<()> {
        let page = PAGE_SIZE as u32;
        let (off, len) = (u32::from(op.offset), u32::from(op.length));
        if off >= page
            || len > page
            || off + len > page
            || op.op & !(GNTTAB_CACHE_INVAL | GNTTAB_CACHE_CLEAN) != 0
        {
            return Err(Errno::EINVAL);
        }
        if len == 0 || op.op == 0 {
            return Ok(());
        }
        let mfn = Mfn::containing(op.dev_bus_addr());
        let owner = mem.owner_of(mfn).ok_or(Errno::EINVAL)?;
        let Some(ogt) = self.domains.get(&owner) else {
            return Err(Errno::EPERM);
        };
        if owner != caller
            && !ogt
                .active
                .iter()
                .any(|(_, a)| a.domid == caller && a.mfn == mfn)
        {
            // `grant_map_exists` scanned the whole table: ERR_PTR(-EINVAL).
            return Err(Errno::EINVAL);
        }
        if op.op == GNTTAB_CACHE_INVAL {
            return Err(Errno::EOPNOTSUPP);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! cache_flush, each citing the Xen 4.17 (x86) behaviour it checks.
    use super::*;
    use crate::fixtures::*;

    use xen_abi::grant_table::GNTTAB_CACHE_SOURCE_GREF;

    fn flush(mfn: Mfn, offset: u16, length: u16, op: u32) -> GnttabCacheFlush {
        GnttabCacheFlush {
            a: mfn.addr(),
            offset,
            length,
            op,
        }
    }

    #[test]
    fn cache_flush_bad_range_or_op_is_einval() {
        // cache_flush: offset >= PAGE_SIZE, offset + length > PAGE_SIZE, or unknown op bits
        // (GNTTAB_CACHE_SOURCE_GREF included, so it never reaches the -EOPNOTSUPP branch).
        let (sys, mem) = world();
        let f = frame(FRONT, 1);
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(f, 4096, 0, GNTTAB_CACHE_CLEAN)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(f, 4000, 100, GNTTAB_CACHE_CLEAN)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(f, 0, 8, GNTTAB_CACHE_SOURCE_GREF)),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn cache_flush_zero_length_or_op_is_okay() {
        // cache_flush: length == 0 or op == 0 -> 0 with nothing done.
        let (sys, mem) = world();
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(Mfn(0xdead), 0, 0, GNTTAB_CACHE_CLEAN)),
            Ok(())
        );
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(Mfn(0xdead), 0, 8, 0)),
            Ok(())
        );
    }

    #[test]
    fn cache_flush_invalid_frame_is_einval() {
        // cache_flush: !mfn_valid(mfn) -> -EINVAL.
        let (sys, mem) = world();
        assert_eq!(
            sys.cache_flush(&mem, FRONT, &flush(Mfn(0xdead), 0, 8, GNTTAB_CACHE_CLEAN)),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn cache_flush_foreign_unmapped_frame_is_einval() {
        // cache_flush: grant_map_exists finds no pin of the caller on the frame -> -EINVAL.
        let (sys, mem) = world();
        assert_eq!(
            sys.cache_flush(
                &mem,
                BACK,
                &flush(frame(FRONT, 1), 0, 8, GNTTAB_CACHE_CLEAN)
            ),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn cache_flush_own_or_mapped_frame_clean_is_okay() {
        // cache_flush: d == owner, or an active grant of the owner pinned by the caller.
        let (mut sys, mut mem) = granted(false);
        assert_eq!(
            sys.cache_flush(
                &mem,
                FRONT,
                &flush(frame(FRONT, 1), 0, 8, GNTTAB_CACHE_CLEAN)
            ),
            Ok(())
        );
        sys.map_grant_ref(&mut mem, BACK, &mop(FRONT, R, RO))
            .expect("map");
        let both = GNTTAB_CACHE_CLEAN | GNTTAB_CACHE_INVAL;
        assert_eq!(
            sys.cache_flush(&mem, BACK, &flush(frame(FRONT, 1), 0, 8, both)),
            Ok(())
        );
    }

    #[test]
    fn cache_flush_inval_only_is_eopnotsupp() {
        // x86 invalidate_dcache_va_range() returns -EOPNOTSUPP.
        let (sys, mem) = world();
        assert_eq!(
            sys.cache_flush(
                &mem,
                FRONT,
                &flush(frame(FRONT, 1), 0, 8, GNTTAB_CACHE_INVAL)
            ),
            Err(Errno::EOPNOTSUPP)
        );
    }
}
