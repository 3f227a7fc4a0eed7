//! Request validation: every rejection path, and a property that accepted requests stay inside
//! the disk.

use super::*;
use proptest::prelude::*;
use xen_abi::io::blkif::{
    BlkifRequestDiscard, BlkifRequestIndirect, BLKIF_OP_DISCARD, BLKIF_OP_FLUSH_DISKCACHE,
    BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER,
};

const LIMITS: Limits = Limits {
    sectors: 1024,
    read_only: false,
    flush: true,
    discard: true,
    max_indirect_segments: MAX_INDIRECT_SEGMENTS,
};

fn rw(op: u8, sector: u64, segs: &[(u32, u8, u8)]) -> BlkifRequest {
    let mut r = BlkifRequest {
        operation: op,
        nr_segments: segs.len() as u8,
        id: 77,
        sector_number: sector,
        ..Default::default()
    };
    for (i, (g, f, l)) in segs.iter().enumerate() {
        r.seg[i] = BlkifRequestSegment {
            gref: GrantRef(*g),
            first_sect: *f,
            last_sect: *l,
            ..Default::default()
        };
    }
    r
}

fn status(r: Result<Decoded, Reject>) -> i16 {
    r.map(|_| 0).unwrap_or_else(|e| e.status)
}

#[test]
fn read_of_two_segments_is_accepted() {
    let d = decode(&rw(BLKIF_OP_READ, 8, &[(5, 0, 7), (6, 0, 3)]), &LIMITS).unwrap();
    let Decoded::Rw {
        id,
        dir,
        sector,
        segments,
        ..
    } = d
    else {
        panic!("not rw")
    };
    assert_eq!((id, dir, sector, segments.len()), (77, Dir::Read, 8, 2));
    assert_eq!(segments[1].len(), 2048);
}

#[test]
fn rw_zero_segments_is_error() {
    assert_eq!(
        status(decode(&rw(BLKIF_OP_WRITE, 0, &[]), &LIMITS)),
        BLKIF_RSP_ERROR
    );
}

#[test]
fn rw_too_many_segments_is_error() {
    let mut r = rw(BLKIF_OP_READ, 0, &[(1, 0, 0)]);
    r.nr_segments = 12;
    assert_eq!(status(decode(&r, &LIMITS)), BLKIF_RSP_ERROR);
}

#[test]
fn segment_past_page_or_inverted_is_error() {
    assert_eq!(
        status(decode(&rw(BLKIF_OP_READ, 0, &[(1, 0, 8)]), &LIMITS)),
        BLKIF_RSP_ERROR
    );
    assert_eq!(
        status(decode(&rw(BLKIF_OP_READ, 0, &[(1, 5, 4)]), &LIMITS)),
        BLKIF_RSP_ERROR
    );
}

#[test]
fn sectors_past_end_or_overflowing_are_error() {
    assert_eq!(
        status(decode(&rw(BLKIF_OP_READ, 1017, &[(1, 0, 7)]), &LIMITS)),
        BLKIF_RSP_ERROR
    );
    assert_eq!(
        status(decode(&rw(BLKIF_OP_READ, 1016, &[(1, 0, 7)]), &LIMITS)),
        0
    );
    assert_eq!(
        status(decode(&rw(BLKIF_OP_READ, u64::MAX, &[(1, 0, 0)]), &LIMITS)),
        BLKIF_RSP_ERROR
    );
}

#[test]
fn write_to_read_only_is_error_read_is_fine() {
    let ro = Limits {
        read_only: true,
        ..LIMITS
    };
    assert_eq!(
        status(decode(&rw(BLKIF_OP_WRITE, 0, &[(1, 0, 0)]), &ro)),
        BLKIF_RSP_ERROR
    );
    assert_eq!(status(decode(&rw(BLKIF_OP_READ, 0, &[(1, 0, 0)]), &ro)), 0);
}

#[test]
fn unknown_barrier_and_unoffered_ops_are_eopnotsupp() {
    assert_eq!(
        status(decode(&rw(99, 0, &[(1, 0, 0)]), &LIMITS)),
        BLKIF_RSP_EOPNOTSUPP
    );
    assert_eq!(
        status(decode(&rw(BLKIF_OP_WRITE_BARRIER, 0, &[]), &LIMITS)),
        BLKIF_RSP_EOPNOTSUPP
    );
    let none = Limits {
        flush: false,
        discard: false,
        max_indirect_segments: 0,
        ..LIMITS
    };
    assert_eq!(
        status(decode(&rw(BLKIF_OP_FLUSH_DISKCACHE, 0, &[]), &none)),
        BLKIF_RSP_EOPNOTSUPP
    );
    assert_eq!(
        status(decode(&rw(BLKIF_OP_DISCARD, 0, &[]), &none)),
        BLKIF_RSP_EOPNOTSUPP
    );
    assert_eq!(
        status(decode(&rw(BLKIF_OP_INDIRECT, 0, &[]), &none)),
        BLKIF_RSP_EOPNOTSUPP
    );
}

#[test]
fn flush_is_accepted() {
    assert_eq!(
        decode(&rw(BLKIF_OP_FLUSH_DISKCACHE, 0, &[]), &LIMITS),
        Ok(Decoded::Flush { id: 77 })
    );
}

#[test]
fn discard_checks_range_and_mode() {
    let d = |sector, nr| {
        BlkifRequest::from(BlkifRequestDiscard {
            operation: BLKIF_OP_DISCARD,
            id: 3,
            sector_number: sector,
            nr_sectors: nr,
            ..Default::default()
        })
    };
    assert_eq!(
        decode(&d(0, 1024), &LIMITS),
        Ok(Decoded::Discard {
            id: 3,
            sector: 0,
            nr_sectors: 1024
        })
    );
    assert_eq!(status(decode(&d(1, 1024), &LIMITS)), BLKIF_RSP_ERROR);
    assert_eq!(status(decode(&d(0, 0), &LIMITS)), BLKIF_RSP_ERROR);
    let ro = Limits {
        read_only: true,
        ..LIMITS
    };
    assert_eq!(status(decode(&d(0, 1), &ro)), BLKIF_RSP_ERROR);
}

fn indirect(op: u8, n: u16, sector: u64) -> BlkifRequest {
    let mut i = BlkifRequestIndirect {
        operation: BLKIF_OP_INDIRECT,
        indirect_op: op,
        nr_segments: n,
        id: 9,
        sector_number: sector,
        ..Default::default()
    };
    i.indirect_grefs = [10, 11, 12, 13, 14, 15, 16, 17].map(GrantRef);
    BlkifRequest::from(i)
}

#[test]
fn indirect_two_pages_then_descriptors() {
    let d = decode(
        &indirect(BLKIF_OP_WRITE, 513, 0),
        &Limits {
            max_indirect_segments: 1024,
            ..LIMITS
        },
    )
    .unwrap();
    let Decoded::Indirect {
        ref pages,
        nr_segments,
        ..
    } = d
    else {
        panic!("not indirect")
    };
    assert_eq!((pages.len(), nr_segments), (2, 513));
    let desc = vec![
        BlkifRequestSegment {
            gref: GrantRef(1),
            first_sect: 0,
            last_sect: 0,
            ..Default::default()
        };
        513
    ];
    let big = Limits {
        sectors: 4096,
        max_indirect_segments: 1024,
        ..LIMITS
    };
    let Decoded::Rw { segments, op, .. } = finish_indirect(d.clone(), &desc, &big).unwrap() else {
        panic!()
    };
    assert_eq!((segments.len(), op), (513, BLKIF_OP_WRITE));
    // Too few descriptors, or a bad one, is an error.
    assert_eq!(
        finish_indirect(d.clone(), &desc[..10], &big)
            .unwrap_err()
            .status,
        BLKIF_RSP_ERROR
    );
    let mut bad = desc.clone();
    bad[512].last_sect = 9;
    assert_eq!(
        finish_indirect(d, &bad, &big).unwrap_err().status,
        BLKIF_RSP_ERROR
    );
}

#[test]
fn indirect_bad_op_count_or_range_is_error() {
    assert_eq!(
        status(decode(&indirect(BLKIF_OP_FLUSH_DISKCACHE, 1, 0), &LIMITS)),
        BLKIF_RSP_ERROR
    );
    assert_eq!(
        status(decode(&indirect(BLKIF_OP_READ, 0, 0), &LIMITS)),
        BLKIF_RSP_ERROR
    );
    assert_eq!(
        status(decode(
            &indirect(BLKIF_OP_READ, MAX_INDIRECT_SEGMENTS + 1, 0),
            &LIMITS
        )),
        BLKIF_RSP_ERROR
    );
    assert_eq!(
        status(decode(&indirect(BLKIF_OP_READ, 1, 1024), &LIMITS)),
        BLKIF_RSP_ERROR
    );
}

proptest! {
    /// Whatever the bytes, decoding never panics, and an accepted read/write stays inside the
    /// disk with segments inside their pages.
    #[test]
    fn any_request_is_answered_and_accepted_ones_fit(bytes in proptest::collection::vec(any::<u8>(), 112)) {
        use zerocopy::FromBytes;
        let req = BlkifRequest::read_from_bytes(&bytes).unwrap();
        let mut req = req;
        req.operation %= 8;
        if let Ok(Decoded::Rw { sector, segments, .. }) = decode(&req, &LIMITS) {
            let n: u64 = segments.iter().map(|s| u64::from(s.len()) / SECTOR_SIZE).sum();
            prop_assert!(sector + n <= LIMITS.sectors);
            prop_assert!(segments.iter().all(|s| s.offset() + s.len() <= 4096));
        }
    }
}
