//! Fuzz target: blkback's request decoder on arbitrary ring entries, indirect descriptor pages and
//! disk limits; no panic, and an accepted request never reaches outside the disk or its pages.
#![no_main]

use blkback::request::{decode, finish_indirect, Decoded, Limits, SECTOR_SIZE};
use libfuzzer_sys::fuzz_target;
use xen_abi::io::blkif::{BlkifRequest, BlkifRequestSegment};
use zerocopy::FromBytes;

fuzz_target!(|data: &[u8]| {
    if data.len() < 112 + 10 {
        return;
    }
    let (head, rest) = data.split_at(112);
    let Ok(mut req) = BlkifRequest::read_from_bytes(head) else { return };
    // Mostly known opcodes (an unknown one is one early exit); 8..=255 still reachable via 7.
    if req.operation > 7 && rest[7] & 1 == 0 {
        req.operation %= 8;
    }
    let limits = Limits {
        sectors: u64::from(u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]])),
        read_only: rest[4] & 1 != 0,
        flush: rest[4] & 2 != 0,
        discard: rest[4] & 4 != 0,
        max_indirect_segments: u16::from_le_bytes([rest[5], rest[6]]) % 1025,
    };
    let desc_bytes = &rest[10..];
    let n = desc_bytes.len() / 8;
    let Ok(desc) = <[BlkifRequestSegment]>::ref_from_bytes(&desc_bytes[..n * 8]) else { return };
    let Ok(d) = decode(&req, &limits) else { return };
    let d = match d {
        Decoded::Indirect { .. } => match finish_indirect(d, desc, &limits) {
            Ok(d) => d,
            Err(_) => return,
        },
        d => d,
    };
    match d {
        Decoded::Rw { sector, segments, dir, .. } => {
            let n: u64 = segments.iter().map(|s| u64::from(s.len()) / SECTOR_SIZE).sum();
            assert!(sector + n <= limits.sectors);
            assert!(segments.iter().all(|s| s.offset() + s.len() <= 4096));
            assert!(!(limits.read_only && dir == blkback::request::Dir::Write));
        }
        Decoded::Discard { sector, nr_sectors, .. } => {
            assert!(!limits.read_only && limits.discard);
            assert!(sector + nr_sectors <= limits.sectors);
        }
        Decoded::Flush { .. } => assert!(limits.flush),
        Decoded::Indirect { .. } => unreachable!("finished above"),
    }
});
