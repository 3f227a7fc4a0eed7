//! `do_grant_table_op`'s part that is not a sub-op: the checks on `count`, the sub-ops Ferrite
//! leaves unimplemented, and the loop every batched sub-op runs with its status write-back.

use alloc::vec::Vec;

use xen_abi::grant_table::{GnttabOp, GnttabStatus};
use xen_abi::{Errno, XenResult};

/// `do_grant_table_op`'s checks on `count` before dispatch: `EINVAL` if it is negative as an
/// `int`, and for the sub-ops that take exactly one argument (`setup_table`, `query_size`,
/// `get_status_frames`) when it is not 1.
pub fn check_count(op: GnttabOp, count: u32) -> XenResult<()> {
    if (count as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    match op {
        GnttabOp::SetupTable | GnttabOp::QuerySize | GnttabOp::GetStatusFrames if count != 1 => {
            Err(Errno::EINVAL)
        }
        _ => Ok(()),
    }
}

/// The sub-ops Ferrite answers with `ENOSYS`: `dump_table` (Xen 4.17 has no handler either) and
/// `transfer` (page flipping; no current frontend needs it).
pub fn is_unimplemented(op: GnttabOp) -> bool {
    matches!(op, GnttabOp::DumpTable | GnttabOp::Transfer)
}

/// Runs every op of a batch in turn, writing each one's outcome back into it (`write`), as Xen
/// does for the batched grant-table sub-ops: a failure does not stop the batch.
pub(crate) fn batch<Op, T>(
    ops: &mut [Op],
    mut run: impl FnMut(&mut Op) -> Result<T, GnttabStatus>,
    mut write: impl FnMut(&mut Op, &Result<T, GnttabStatus>),
) -> Vec<Result<T, GnttabStatus>> {
    ops.iter_mut()
        .map(|op| {
            let r = run(op);
            write(op, &r);
            r
        })
        .collect()
}

/// The `GNTST_*` code of an outcome.
pub(crate) fn status_code<T>(r: &Result<T, GnttabStatus>) -> i16 {
    r.as_ref()
        .map_or_else(|s| s.code(), |_| GnttabStatus::Okay.code())
}

#[cfg(test)]
mod tests {
    //! The dispatch helpers.
    use super::*;
    use crate::table::FIRST_FREE_GREF;
    use xen_abi::GrantRef;

    #[test]
    fn check_count_single_arg_ops_other_than_one_is_einval() {
        // gnttab_setup_table / gnttab_query_size / gnttab_get_status_frames: count != 1 -> -EINVAL.
        assert_eq!(check_count(GnttabOp::SetupTable, 2), Err(Errno::EINVAL));
        assert_eq!(check_count(GnttabOp::QuerySize, 0), Err(Errno::EINVAL));
        assert_eq!(check_count(GnttabOp::GetStatusFrames, 1), Ok(()));
        assert_eq!(check_count(GnttabOp::MapGrantRef, 0), Ok(()));
    }

    #[test]
    fn check_count_negative_is_einval() {
        // do_grant_table_op: (int)count < 0 -> -EINVAL.
        assert_eq!(check_count(GnttabOp::Copy, 0x8000_0000), Err(Errno::EINVAL));
    }

    #[test]
    fn transfer_and_dump_table_are_enosys() {
        // do_grant_table_op has no GNTTABOP_dump_table case (ENOSYS); Ferrite also leaves
        // GNTTABOP_transfer unimplemented (docs/abi/grant_table.md).
        assert!(is_unimplemented(GnttabOp::DumpTable));
        assert!(is_unimplemented(GnttabOp::Transfer));
        assert!(!is_unimplemented(GnttabOp::Copy));
        assert_eq!(FIRST_FREE_GREF, GrantRef(8));
    }
}
