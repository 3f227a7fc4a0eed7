//! Decoding and validating one blkif request (already copied out of the shared ring): every
//! field is checked against the disk and the negotiated features before any I/O happens, and a
//! bad request becomes the response status the frontend gets (`BLKIF_RSP_ERROR` or
//! `BLKIF_RSP_EOPNOTSUPP`), never a panic.

use xen_abi::io::blkif::{
    BlkifOp, BlkifRequest, BlkifRequestSegment, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
    BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR,
    BLKIF_SEGS_PER_INDIRECT_FRAME,
};
use xen_abi::types::GrantRef;

/// Bytes per blkif sector (the protocol's unit, whatever the disk's `sector-size`).
pub const SECTOR_SIZE: u64 = 512;
/// Sectors per page.
pub const SECTORS_PER_PAGE: u8 = 8;
/// The indirect segment limit this backend advertises (`feature-max-indirect-segments`).
pub const MAX_INDIRECT_SEGMENTS: u16 = 256;

/// What the disk and the negotiation allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Disk size in 512-byte sectors.
    pub sectors: u64,
    /// `mode=r`: writes and discards fail.
    pub read_only: bool,
    /// `feature-flush-cache` advertised.
    pub flush: bool,
    /// `feature-discard` advertised.
    pub discard: bool,
    /// `feature-max-indirect-segments` advertised (0 = indirect not offered).
    pub max_indirect_segments: u16,
}

/// Direction of a data transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Disk to guest.
    Read,
    /// Guest to disk.
    Write,
}

/// One data segment: the bytes `first_sect..=last_sect` (in 512-byte units) of a granted page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The frontend's grant.
    pub gref: GrantRef,
    /// First sector within the page.
    pub first_sect: u8,
    /// Last sector within the page (inclusive).
    pub last_sect: u8,
}

impl Segment {
    /// Byte offset within the page.
    pub fn offset(&self) -> u16 {
        u16::from(self.first_sect) * SECTOR_SIZE as u16
    }

    /// Length in bytes.
    pub fn len(&self) -> u16 {
        u16::from(self.last_sect - self.first_sect + 1) * SECTOR_SIZE as u16
    }

    /// Never true: a validated segment covers at least one sector.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A request that passed the first stage of validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Read or write of validated segments, contiguous on disk from `sector`.
    Rw {
        /// The frontend's id.
        id: u64,
        /// The opcode to echo in the response.
        op: u8,
        /// Direction.
        dir: Dir,
        /// First sector.
        sector: u64,
        /// The segments.
        segments: Vec<Segment>,
    },
    /// An indirect read or write: the segment list is in `pages` granted pages, still to be
    /// copied in and checked with [`finish_indirect`].
    Indirect {
        /// The frontend's id.
        id: u64,
        /// The opcode to echo (the indirect op, as Linux's blkback answers).
        op: u8,
        /// Direction.
        dir: Dir,
        /// First sector.
        sector: u64,
        /// Number of segments.
        nr_segments: u16,
        /// The grants of the pages holding the segment descriptors.
        pages: Vec<GrantRef>,
    },
    /// `BLKIF_OP_FLUSH_DISKCACHE`.
    Flush {
        /// The frontend's id.
        id: u64,
    },
    /// `BLKIF_OP_DISCARD` of `nr_sectors` from `sector`.
    Discard {
        /// The frontend's id.
        id: u64,
        /// First sector.
        sector: u64,
        /// Number of sectors.
        nr_sectors: u64,
    },
}

impl Decoded {
    /// The frontend's id, for the response.
    pub fn id(&self) -> u64 {
        match self {
            Decoded::Rw { id, .. }
            | Decoded::Indirect { id, .. }
            | Decoded::Flush { id }
            | Decoded::Discard { id, .. } => *id,
        }
    }

    /// The opcode the response echoes.
    pub fn op(&self) -> u8 {
        match self {
            Decoded::Rw { op, .. } | Decoded::Indirect { op, .. } => *op,
            Decoded::Flush { .. } => xen_abi::io::blkif::BLKIF_OP_FLUSH_DISKCACHE,
            Decoded::Discard { .. } => xen_abi::io::blkif::BLKIF_OP_DISCARD,
        }
    }
}

/// A request refused: answer `id` with `status` for opcode `op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The frontend's id.
    pub id: u64,
    /// The opcode to echo.
    pub op: u8,
    /// `BLKIF_RSP_ERROR` or `BLKIF_RSP_EOPNOTSUPP`.
    pub status: i16,
    /// Why (for the debug log).
    pub why: &'static str,
}

fn check_segment(s: &BlkifRequestSegment) -> Result<Segment, &'static str> {
    if s.first_sect > s.last_sect {
        return Err("segment first_sect > last_sect");
    }
    if s.last_sect >= SECTORS_PER_PAGE {
        return Err("segment beyond its page");
    }
    Ok(Segment {
        gref: s.gref,
        first_sect: s.first_sect,
        last_sect: s.last_sect,
    })
}

fn check_range(sector: u64, count: u64, limits: &Limits) -> Result<(), &'static str> {
    match sector.checked_add(count) {
        Some(end) if end <= limits.sectors => Ok(()),
        _ => Err("sectors past the end of the disk"),
    }
}

fn total_sectors(segs: &[Segment]) -> u64 {
    segs.iter()
        .map(|s| u64::from(s.last_sect - s.first_sect) + 1)
        .sum()
}

/// Validates a request copied from the ring.
pub fn decode(req: &BlkifRequest, limits: &Limits) -> Result<Decoded, Reject> {
    let id = req.id;
    let reject = |op: u8, status: i16, why: &'static str| Reject {
        id,
        op,
        status,
        why,
    };
    let op = match BlkifOp::try_from(req.operation) {
        Ok(op) => op,
        Err(_) => {
            return Err(reject(
                req.operation,
                BLKIF_RSP_EOPNOTSUPP,
                "unknown operation",
            ))
        }
    };
    let rw_dir = |op: BlkifOp| match op {
        BlkifOp::Read => Some(Dir::Read),
        BlkifOp::Write => Some(Dir::Write),
        _ => None,
    };
    match op {
        BlkifOp::Read | BlkifOp::Write => {
            let dir = rw_dir(op).expect("matched read or write");
            let n = usize::from(req.nr_segments);
            if n == 0 || n > BLKIF_MAX_SEGMENTS_PER_REQUEST {
                return Err(reject(req.operation, BLKIF_RSP_ERROR, "bad segment count"));
            }
            if dir == Dir::Write && limits.read_only {
                return Err(reject(
                    req.operation,
                    BLKIF_RSP_ERROR,
                    "write to a read-only disk",
                ));
            }
            let segments = req.seg[..n]
                .iter()
                .map(check_segment)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|w| reject(req.operation, BLKIF_RSP_ERROR, w))?;
            check_range(req.sector_number, total_sectors(&segments), limits)
                .map_err(|w| reject(req.operation, BLKIF_RSP_ERROR, w))?;
            Ok(Decoded::Rw {
                id,
                op: req.operation,
                dir,
                sector: req.sector_number,
                segments,
            })
        }
        BlkifOp::FlushDiskcache if limits.flush => Ok(Decoded::Flush { id }),
        BlkifOp::Discard if limits.discard => {
            let d = req.as_discard();
            if limits.read_only {
                return Err(reject(
                    req.operation,
                    BLKIF_RSP_ERROR,
                    "discard on a read-only disk",
                ));
            }
            if d.nr_sectors == 0 {
                return Err(reject(req.operation, BLKIF_RSP_ERROR, "empty discard"));
            }
            check_range(d.sector_number, d.nr_sectors, limits)
                .map_err(|w| reject(req.operation, BLKIF_RSP_ERROR, w))?;
            Ok(Decoded::Discard {
                id,
                sector: d.sector_number,
                nr_sectors: d.nr_sectors,
            })
        }
        BlkifOp::Indirect if limits.max_indirect_segments > 0 => {
            let ind = req.as_indirect();
            let Some(dir) = BlkifOp::try_from(ind.indirect_op).ok().and_then(rw_dir) else {
                return Err(reject(
                    ind.indirect_op,
                    BLKIF_RSP_ERROR,
                    "bad indirect operation",
                ));
            };
            let n = ind.nr_segments;
            if n == 0 || n > limits.max_indirect_segments {
                return Err(reject(
                    ind.indirect_op,
                    BLKIF_RSP_ERROR,
                    "bad indirect segment count",
                ));
            }
            if dir == Dir::Write && limits.read_only {
                return Err(reject(
                    ind.indirect_op,
                    BLKIF_RSP_ERROR,
                    "write to a read-only disk",
                ));
            }
            let pages = usize::from(n).div_ceil(BLKIF_SEGS_PER_INDIRECT_FRAME);
            if pages > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST {
                return Err(reject(
                    ind.indirect_op,
                    BLKIF_RSP_ERROR,
                    "too many indirect pages",
                ));
            }
            // Cheap early check (the exact one follows once the segments are known).
            check_range(ind.sector_number, 1, limits)
                .map_err(|w| reject(ind.indirect_op, BLKIF_RSP_ERROR, w))?;
            Ok(Decoded::Indirect {
                id,
                op: ind.indirect_op,
                dir,
                sector: ind.sector_number,
                nr_segments: n,
                pages: ind.indirect_grefs[..pages].to_vec(),
            })
        }
        _ => Err(reject(
            req.operation,
            BLKIF_RSP_EOPNOTSUPP,
            "operation not offered",
        )),
    }
}

/// Completes an indirect request with its segment descriptors (copied out of the indirect
/// pages, `nr_segments` of them in order).
pub fn finish_indirect(
    d: Decoded,
    descriptors: &[BlkifRequestSegment],
    limits: &Limits,
) -> Result<Decoded, Reject> {
    let Decoded::Indirect {
        id,
        op,
        dir,
        sector,
        nr_segments,
        ..
    } = d
    else {
        return Ok(d);
    };
    let reject = |why| Reject {
        id,
        op,
        status: BLKIF_RSP_ERROR,
        why,
    };
    let segs = descriptors
        .get(..usize::from(nr_segments))
        .ok_or_else(|| reject("indirect descriptors missing"))?;
    let segments = segs
        .iter()
        .map(check_segment)
        .collect::<Result<Vec<_>, _>>()
        .map_err(reject)?;
    check_range(sector, total_sectors(&segments), limits).map_err(reject)?;
    Ok(Decoded::Rw {
        id,
        op,
        dir,
        sector,
        segments,
    })
}

#[cfg(test)]
#[path = "request/tests.rs"]
mod tests;
