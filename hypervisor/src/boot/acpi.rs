//! Just enough ACPI to find the CPUs: RSDP → RSDT/XSDT → MADT → local APIC ids. Pure parsing over
//! a caller-supplied physical-memory reader, so the host tests feed it synthetic tables.

use heapless::Vec;
use xen_abi::Maddr;

/// Most CPUs Ferrite will start.
pub const MAX_APICS: usize = crate::layout::MAX_CPUS;

/// One CPU the MADT describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalApic {
    /// Its APIC id (x2APIC id where the table gives one).
    pub apic_id: u32,
    /// Its ACPI processor UID (what `_UID`/`Processor()` objects in the DSDT name it by).
    pub acpi_id: u32,
    /// The firmware marks it enabled.
    pub enabled: bool,
}

/// What the MADT said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Madt {
    /// Physical address of the local APIC (xAPIC mode).
    pub lapic_addr: u64,
    /// Every processor entry, in table order.
    pub cpus: Vec<LocalApic, MAX_APICS>,
}

static MADT: spin::Once<Madt> = spin::Once::new();

/// Keeps the MADT the CPUs were started from (once, at boot).
pub fn remember(madt: Madt) {
    MADT.call_once(|| madt);
}

/// The ACPI processor UID of the CPU with APIC id `apic_id` (`None` without a MADT entry for it:
/// Xen's `INVALID_ACPIID`).
pub fn acpi_id_of(apic_id: u32) -> Option<u32> {
    MADT.get()?
        .cpus
        .iter()
        .find(|c| c.apic_id == apic_id)
        .map(|c| c.acpi_id)
}

/// Why the tables could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// RSDP signature or checksum wrong.
    BadRsdp,
    /// A table's header, length or checksum is wrong; the signature names it.
    BadTable([u8; 4]),
    /// No MADT ("APIC") table.
    NoMadt,
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)) == 0
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn le64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Reads a whole SDT at `addr` into `buf`, checking length and checksum. Returns its length.
fn read_table(
    read: &dyn Fn(Maddr, &mut [u8]),
    addr: Maddr,
    buf: &mut [u8],
) -> Result<usize, AcpiError> {
    let mut hdr = [0u8; 36];
    read(addr, &mut hdr);
    let sig: [u8; 4] = [hdr[0], hdr[1], hdr[2], hdr[3]];
    let len = le32(&hdr, 4).ok_or(AcpiError::BadTable(sig))? as usize;
    if len < 36 || len > buf.len() {
        return Err(AcpiError::BadTable(sig));
    }
    read(addr, &mut buf[..len]);
    if !checksum_ok(&buf[..len]) {
        return Err(AcpiError::BadTable(sig));
    }
    Ok(len)
}

/// Parses the MADT reachable from the RSDP (given as the bytes the boot loader copied).
pub fn parse_madt(rsdp: &[u8], read: &dyn Fn(Maddr, &mut [u8])) -> Result<Madt, AcpiError> {
    if rsdp.len() < 20 || &rsdp[..8] != b"RSD PTR " || !checksum_ok(&rsdp[..20]) {
        return Err(AcpiError::BadRsdp);
    }
    let revision = rsdp[15];
    let (root, entry_size) = match (revision >= 2).then(|| le64(rsdp, 24)).flatten() {
        Some(xsdt) if xsdt != 0 => (xsdt, 8usize),
        _ => (u64::from(le32(rsdp, 16).ok_or(AcpiError::BadRsdp)?), 4usize),
    };
    let mut buf = [0u8; 4096];
    let len = read_table(read, Maddr(root), &mut buf)?;
    let root_table = buf;
    let mut off = 36;
    while off + entry_size <= len {
        let addr = Maddr(if entry_size == 8 {
            le64(&root_table, off).unwrap_or(0)
        } else {
            u64::from(le32(&root_table, off).unwrap_or(0))
        });
        off += entry_size;
        let mut sig = [0u8; 4];
        read(addr, &mut sig);
        if &sig == b"APIC" {
            let mut madt = [0u8; 4096];
            let mlen = read_table(read, addr, &mut madt)?;
            return parse_madt_body(&madt[..mlen]);
        }
    }
    Err(AcpiError::NoMadt)
}

fn parse_madt_body(t: &[u8]) -> Result<Madt, AcpiError> {
    let bad = AcpiError::BadTable(*b"APIC");
    let mut madt = Madt {
        lapic_addr: u64::from(le32(t, 36).ok_or(bad)?),
        cpus: Vec::new(),
    };
    let mut off = 44;
    while off + 2 <= t.len() {
        let kind = t[off];
        let len = usize::from(t[off + 1]);
        if len < 2 || off + len > t.len() {
            return Err(bad);
        }
        let e = &t[off..off + len];
        match kind {
            // Processor Local APIC: uid, apic id, flags.
            0 if len >= 8 => {
                let flags = le32(e, 4).ok_or(bad)?;
                let _ = madt.cpus.push(LocalApic {
                    apic_id: u32::from(e[3]),
                    acpi_id: u32::from(e[2]),
                    enabled: flags & 1 != 0,
                });
            }
            // Local APIC address override.
            5 if len >= 12 => madt.lapic_addr = le64(e, 4).ok_or(bad)?,
            // Processor Local x2APIC: reserved(2), x2apic id, flags, uid.
            9 if len >= 16 => {
                let id = le32(e, 4).ok_or(bad)?;
                let flags = le32(e, 8).ok_or(bad)?;
                let uid = le32(e, 12).ok_or(bad)?;
                if !madt.cpus.iter().any(|c| c.apic_id == id) {
                    let _ = madt.cpus.push(LocalApic {
                        apic_id: id,
                        acpi_id: uid,
                        enabled: flags & 1 != 0,
                    });
                }
            }
            _ => {}
        }
        off += len;
    }
    Ok(madt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fix_checksum(t: &mut [u8], at: usize) {
        t[at] = 0;
        let s = t.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        t[at] = 0u8.wrapping_sub(s);
    }

    fn sdt(sig: &[u8; 4], body: &[u8]) -> std::vec::Vec<u8> {
        let mut t = vec![0u8; 36];
        t[..4].copy_from_slice(sig);
        t.extend_from_slice(body);
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(&mut t, 9);
        t
    }

    fn memory(tables: &[(u64, std::vec::Vec<u8>)]) -> BTreeMap<u64, u8> {
        let mut m = BTreeMap::new();
        for (a, t) in tables {
            for (i, b) in t.iter().enumerate() {
                m.insert(a + i as u64, *b);
            }
        }
        m
    }

    /// A physical-memory reader over `mem` (absent bytes read as 0).
    fn reader(mem: &BTreeMap<u64, u8>) -> impl Fn(Maddr, &mut [u8]) + '_ {
        move |a: Maddr, buf: &mut [u8]| {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = *mem.get(&(a.0 + i as u64)).unwrap_or(&0);
            }
        }
    }

    fn rsdp_v1(rsdt: u32) -> std::vec::Vec<u8> {
        let mut r = vec![0u8; 20];
        r[..8].copy_from_slice(b"RSD PTR ");
        r[16..20].copy_from_slice(&rsdt.to_le_bytes());
        fix_checksum(&mut r, 8);
        r
    }

    fn madt_with(entries: &[&[u8]]) -> std::vec::Vec<u8> {
        let mut body = vec![0u8; 8];
        body[..4].copy_from_slice(&0xfee0_0000u32.to_le_bytes());
        for e in entries {
            body.extend_from_slice(e);
        }
        sdt(b"APIC", &body)
    }

    #[test]
    fn parse_madt_finds_enabled_and_disabled_cpus() {
        let madt = madt_with(&[
            &[0, 8, 0, 0, 1, 0, 0, 0],
            &[0, 8, 1, 1, 1, 0, 0, 0],
            &[0, 8, 5, 7, 0, 0, 0, 0],
            &[1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0],
        ]);
        let mut rsdt_body = vec![];
        rsdt_body.extend_from_slice(&0x3000u32.to_le_bytes());
        rsdt_body.extend_from_slice(&0x2000u32.to_le_bytes());
        let rsdt = sdt(b"RSDT", &rsdt_body);
        let facp = sdt(b"FACP", &[0; 8]);
        let mem = memory(&[(0x1000, rsdt), (0x2000, madt), (0x3000, facp)]);
        let read = reader(&mem);
        let m = parse_madt(&rsdp_v1(0x1000), &read).unwrap();
        assert_eq!(m.lapic_addr, 0xfee0_0000);
        assert_eq!(
            &m.cpus[..],
            &[
                LocalApic {
                    apic_id: 0,
                    acpi_id: 0,
                    enabled: true
                },
                LocalApic {
                    apic_id: 1,
                    acpi_id: 1,
                    enabled: true
                },
                LocalApic {
                    apic_id: 7,
                    acpi_id: 5,
                    enabled: false
                }
            ]
        );
    }

    #[test]
    fn parse_madt_bad_checksum_names_table() {
        let mut madt = madt_with(&[&[0, 8, 0, 0, 1, 0, 0, 0]]);
        madt[40] ^= 1;
        let rsdt = sdt(b"RSDT", &0x2000u32.to_le_bytes());
        let mem = memory(&[(0x1000, rsdt), (0x2000, madt)]);
        let read = reader(&mem);
        assert_eq!(
            parse_madt(&rsdp_v1(0x1000), &read),
            Err(AcpiError::BadTable(*b"APIC"))
        );
    }

    #[test]
    fn parse_madt_truncated_entry_is_error_not_panic() {
        let madt = madt_with(&[&[0, 40, 0, 0]]);
        let rsdt = sdt(b"RSDT", &0x2000u32.to_le_bytes());
        let mem = memory(&[(0x1000, rsdt), (0x2000, madt)]);
        let read = reader(&mem);
        assert_eq!(
            parse_madt(&rsdp_v1(0x1000), &read),
            Err(AcpiError::BadTable(*b"APIC"))
        );
    }

    #[test]
    fn parse_madt_bad_rsdp_is_error() {
        let read = |_: Maddr, _: &mut [u8]| {};
        assert_eq!(
            parse_madt(b"RSD PTX 0000000000000", &read),
            Err(AcpiError::BadRsdp)
        );
    }
}
