//! Kernel image formats a PV domain is built from, as Xen's `bzimage_parse` accepts them: a
//! plain ELF, or a Linux bzImage whose protected-mode payload is a compressed ELF (XZ — what
//! Debian ships —, gzip or zstd here); the ELF's Xen notes ([`elf`]); and the start-of-day
//! virtual layout built around it ([`layout`]). Pure and `no_std`: the hypervisor's dom0
//! builder and the toolstack's (`fxl`) domU builder share it, so both place a kernel alike.
//!
//! The decoders are maintained `no_std` crates: `xz4rust` (a memory-safe port of the
//! xz-embedded decoder Linux itself uses, with the x86 BCJ filter its kernels are packed with,
//! no allocation but its dictionary), `miniz_oxide` (inflate) and `ruzstd`. Xen also accepts
//! bzip2, legacy LZMA, LZO and LZ4 payloads; those are named in the error instead.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod elf;
pub mod layout;

use alloc::boxed::Box;

/// What a boot module holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Image<'a> {
    /// An ELF image, used as it is.
    Elf(&'a [u8]),
    /// A bzImage: its compressed payload and the size it unpacks to.
    BzImage {
        /// The compressed ELF.
        payload: &'a [u8],
        /// How it is compressed.
        compression: Compression,
        /// The unpacked size (the payload's last four bytes, as Linux's build appends it).
        unpacked_len: usize,
    },
}

/// A bzImage payload's compression, from its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `.xz` (`fd 37 7a 58 5a 00`).
    Xz,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
    /// bzip2 (`42 5a 68`): not decoded here.
    Bzip2,
    /// Legacy `.lzma` (`5d 00 00`): not decoded here.
    Lzma,
    /// LZO (`89 4c 5a 4f`): not decoded here.
    Lzo,
    /// LZ4 legacy frames (`02 21 4c 18`): not decoded here.
    Lz4,
}

/// Why an image cannot be used; each names the problem for a person's log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Neither an ELF nor a bzImage.
    NotAKernel,
    /// A bzImage older than boot protocol 2.08 (no payload fields).
    OldBootProtocol(u16),
    /// The header's payload lies outside the image (a truncated file).
    Truncated,
    /// The payload's magic is no known compression.
    UnknownCompression([u8; 4]),
    /// A compression Xen knows but this build does not decode.
    Unsupported(Compression),
    /// The unpacked size is zero or beyond what a kernel can be.
    BadLength(usize),
    /// The decoder refused the payload (corrupt data, bad checksum).
    Corrupt(Compression),
    /// A zstd frame whose window is larger than the decoder may take from the heap.
    ZstdWindow(u64),
    /// The payload unpacked to a size other than its header says.
    WrongLength {
        /// What the image said.
        expected: usize,
        /// What came out.
        got: usize,
    },
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImageError::NotAKernel => write!(f, "not an ELF image nor a Linux bzImage"),
            ImageError::OldBootProtocol(v) => write!(
                f,
                "bzImage boot protocol {}.{:02} has no payload fields (2.08 or later needed)",
                v >> 8,
                v & 0xff
            ),
            ImageError::Truncated => write!(f, "the bzImage's payload lies beyond its end"),
            ImageError::UnknownCompression(m) => {
                write!(f, "bzImage payload of unknown compression (magic {m:02x?})")
            }
            ImageError::Unsupported(c) => {
                write!(
                    f,
                    "bzImage payload compressed with {c:?}, which Ferrite does not decode"
                )
            }
            ImageError::BadLength(n) => write!(f, "bzImage payload claims {n} unpacked bytes"),
            ImageError::Corrupt(c) => write!(f, "corrupt {c:?} payload"),
            ImageError::ZstdWindow(w) => write!(
                f,
                "zstd payload with a {} KiB window (at most {} KiB: recompress with a smaller one)",
                w / 1024,
                MAX_ZSTD_WINDOW / 1024
            ),
            ImageError::WrongLength { expected, got } => write!(
                f,
                "payload unpacked to {got} bytes where its header says {expected}"
            ),
        }
    }
}

impl core::error::Error for ImageError {}

/// The largest kernel unpacked here (Debian's 6.1 vmlinux is about 66 MiB).
pub const MAX_UNPACKED: usize = 512 << 20;

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// What `module` is: an ELF, or a bzImage with its payload located (Xen's `bzimage_parse`
/// checks: the `HdrS` signature, boot protocol 2.08 or later, the payload inside the file).
pub fn probe(module: &[u8]) -> Result<Image<'_>, ImageError> {
    if module.starts_with(ELF_MAGIC) {
        return Ok(Image::Elf(module));
    }
    // The real-mode header: `HdrS` at 0x202, the protocol version at 0x206.
    if module.get(0x202..0x206) != Some(b"HdrS") {
        return Err(ImageError::NotAKernel);
    }
    let version = le16(module, 0x206).ok_or(ImageError::Truncated)?;
    if version < 0x208 {
        return Err(ImageError::OldBootProtocol(version));
    }
    let setup_sects = match module.get(0x1f1).copied().ok_or(ImageError::Truncated)? {
        0 => 4,
        n => usize::from(n),
    };
    let offset = le32(module, 0x248).ok_or(ImageError::Truncated)? as usize;
    let len = le32(module, 0x24c).ok_or(ImageError::Truncated)? as usize;
    let start = (setup_sects + 1) * 512 + offset;
    let payload = start
        .checked_add(len)
        .and_then(|end| module.get(start..end))
        .ok_or(ImageError::Truncated)?;
    if payload.len() < 8 {
        return Err(ImageError::Truncated);
    }
    let compression = compression_of(payload)?;
    let unpacked_len = le32(payload, payload.len() - 4).ok_or(ImageError::Truncated)? as usize;
    if unpacked_len == 0 || unpacked_len > MAX_UNPACKED {
        return Err(ImageError::BadLength(unpacked_len));
    }
    Ok(Image::BzImage {
        payload,
        compression,
        unpacked_len,
    })
}

fn compression_of(payload: &[u8]) -> Result<Compression, ImageError> {
    let magic: [u8; 4] = payload
        .get(..4)
        .and_then(|m| m.try_into().ok())
        .ok_or(ImageError::Truncated)?;
    Ok(match magic {
        [0xfd, 0x37, 0x7a, 0x58] => Compression::Xz,
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Compression::Zstd,
        [0x42, 0x5a, 0x68, _] => Compression::Bzip2,
        [0x5d, 0x00, 0x00, _] => Compression::Lzma,
        [0x89, 0x4c, 0x5a, 0x4f] => Compression::Lzo,
        [0x02, 0x21, 0x4c, 0x18] => Compression::Lz4,
        m => return Err(ImageError::UnknownCompression(m)),
    })
}

/// How many bytes of scratch memory [`unpack`] needs for `payload`: the LZMA2 dictionary an XZ
/// stream declares in its first block header (Linux packs its kernels with 32 MiB), nothing for
/// the others. Callers give it from memory of their own instead of a heap the size of the
/// dictionary.
pub fn scratch_len(payload: &[u8], compression: Compression) -> Result<usize, ImageError> {
    match compression {
        Compression::Xz => xz_dict_size(payload).ok_or(ImageError::Corrupt(Compression::Xz)),
        _ => Ok(0),
    }
}

/// A `.xz` multibyte integer (7 bits a byte, at most 9 bytes) at `at`: (value, length).
fn vli(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..9 {
        let byte = *b.get(at + i)?;
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The dictionary size of the LZMA2 filter in the stream's first block header (the `.xz`
/// format: a 12-byte stream header, then the block header: its size, flags, the optional
/// sizes, and the filter flags; LZMA2 is filter 0x21 with one property byte).
fn xz_dict_size(stream: &[u8]) -> Option<usize> {
    let header_len = (usize::from(*stream.get(12)?) + 1) * 4;
    let header = stream.get(12..12 + header_len)?;
    let flags = *header.get(1)?;
    let mut at = 2;
    for present in [flags & 0x40 != 0, flags & 0x80 != 0] {
        if present {
            at += vli(header, at)?.1;
        }
    }
    for _ in 0..=(flags & 3) {
        let (id, n) = vli(header, at)?;
        at += n;
        let (props_len, n) = vli(header, at)?;
        at += n;
        if id == 0x21 {
            if props_len != 1 {
                return None;
            }
            let d = u32::from(*header.get(at)? & 0x3f);
            return match d {
                0..=39 => Some(((2 | (d & 1)) as usize) << (d / 2 + 11)),
                40 => Some(u32::MAX as usize),
                _ => None,
            };
        }
        at = at.checked_add(usize::try_from(props_len).ok()?)?;
    }
    None
}

/// Unpacks `payload` (compressed with `compression`) into `out`, which must be exactly the
/// unpacked size, using `scratch` of at least [`scratch_len`] bytes; the result must be an ELF
/// image.
pub fn unpack(
    payload: &[u8],
    compression: Compression,
    out: &mut [u8],
    scratch: &mut [u8],
) -> Result<(), ImageError> {
    let got = match compression {
        Compression::Xz => unxz(payload, out, scratch)?,
        Compression::Gzip => gunzip(payload, out)?,
        Compression::Zstd => unzstd(payload, out)?,
        c => return Err(ImageError::Unsupported(c)),
    };
    if got != out.len() {
        return Err(ImageError::WrongLength {
            expected: out.len(),
            got,
        });
    }
    if !out.starts_with(ELF_MAGIC) {
        return Err(ImageError::NotAKernel);
    }
    Ok(())
}

fn unxz(payload: &[u8], out: &mut [u8], dict: &mut [u8]) -> Result<usize, ImageError> {
    use xz4rust::{XzDecoder, XzNextBlockResult};
    let bad = || ImageError::Corrupt(Compression::Xz);
    // Linux appends the unpacked size after the stream; it is no part of it.
    let stream = payload.get(..payload.len() - 4).ok_or(bad())?;
    // About 32 KiB of decoder state: on the heap, not on a small hypervisor stack.
    let mut dec = Box::new(XzDecoder::with_fixed_size_dict(dict));
    let (mut read, mut written) = (0, 0);
    loop {
        let input = stream.get(read..).ok_or(bad())?;
        let output = out.get_mut(written..).ok_or(bad())?;
        match dec.decode(input, output).map_err(|_| bad())? {
            XzNextBlockResult::NeedMoreData(i, o) => {
                if i == 0 && o == 0 {
                    // No progress: the input ended or the output is full.
                    return Err(if written == out.len() {
                        ImageError::WrongLength {
                            expected: out.len(),
                            got: out.len() + 1,
                        }
                    } else {
                        bad()
                    });
                }
                read += i;
                written += o;
            }
            XzNextBlockResult::EndOfStream(_, o) => return Ok(written + o),
        }
    }
}

fn gunzip(payload: &[u8], out: &mut [u8]) -> Result<usize, ImageError> {
    let bad = ImageError::Corrupt(Compression::Gzip);
    // RFC 1952: ID1 ID2 CM=8 FLG MTIME(4) XFL OS, then the optional fields FLG names.
    if payload.get(2) != Some(&8) {
        return Err(bad);
    }
    let flags = *payload.get(3).ok_or(bad)?;
    let mut at = 10;
    if flags & 0x04 != 0 {
        at += 2 + usize::from(le16(payload, at).ok_or(bad)?);
    }
    for bit in [0x08u8, 0x10] {
        if flags & bit != 0 {
            let nul = payload
                .get(at..)
                .and_then(|r| r.iter().position(|&b| b == 0));
            at += nul.ok_or(bad)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        at += 2;
    }
    let deflate = payload.get(at..).ok_or(bad)?;
    let n = miniz_oxide::inflate::decompress_slice_iter_to_slice(
        out,
        core::iter::once(deflate),
        false,
        true,
    )
    .map_err(|_| bad)?;
    // The gzip trailer (CRC-32, ISIZE) sits before the size Linux appends: deflate has no
    // checksum of its own, so this is what tells a corrupt payload.
    let end = payload.len().checked_sub(4).ok_or(bad)?;
    let crc = le32(payload, end.checked_sub(8).ok_or(bad)?).ok_or(bad)?;
    let isize = le32(payload, end - 4).ok_or(bad)?;
    let data = out.get(..n).ok_or(bad)?;
    if crc32(data) != crc || isize != n as u32 {
        return Err(bad);
    }
    Ok(n)
}

/// The CRC-32 of gzip (IEEE 802.3, reflected, polynomial 0xedb88320).
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !data
        .iter()
        .fold(!0u32, |c, &b| TABLE[usize::from((c as u8) ^ b)] ^ (c >> 8))
}

/// The largest zstd window unpacked here: `ruzstd` keeps the window on the heap, and the
/// hypervisor's is small.
pub const MAX_ZSTD_WINDOW: u64 = 8 << 20;

/// The window a zstd frame header declares (RFC 8878 3.1.1.1: the window descriptor, or, for
/// a single-segment frame, the content size).
fn zstd_window(frame: &[u8]) -> Option<u64> {
    let fhd = *frame.get(4)?;
    let single = fhd & 0x20 != 0;
    if !single {
        let wd = *frame.get(5)?;
        let exp = u64::from(wd >> 3);
        let base = 1u64 << (10 + exp);
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    let did = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_len = [1usize, 2, 4, 8][usize::from(fhd >> 6)];
    let at = 5 + did;
    let b = frame.get(at..at + fcs_len)?;
    let mut v = [0u8; 8];
    v[..fcs_len].copy_from_slice(b);
    let size = u64::from_le_bytes(v);
    Some(if fcs_len == 2 { size + 256 } else { size })
}

fn unzstd(payload: &[u8], out: &mut [u8]) -> Result<usize, ImageError> {
    let bad = ImageError::Corrupt(Compression::Zstd);
    let window = zstd_window(payload).ok_or(bad)?;
    if window > MAX_ZSTD_WINDOW {
        return Err(ImageError::ZstdWindow(window));
    }
    // The unpacked size Linux appends follows the frame: a skippable remainder is not a frame.
    let frames = payload.get(..payload.len() - 4).ok_or(bad)?;
    ruzstd::decoding::FrameDecoder::new()
        .decode_all(frames, out)
        .map_err(|_| bad)
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_is_gzips() {
        assert_eq!(super::crc32(b""), 0);
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
    }
}
