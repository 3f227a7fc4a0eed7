//! bzImages built around the fixtures (one small ELF-headed payload, compressed with the xz,
//! gzip, zstd and bzip2 tools: `xz --check=crc32 --x86`, `gzip -9 -n`, `zstd -19`, `bzip2`),
//! probed and unpacked; every refusal named.

use kernel_image::{probe, scratch_len, unpack, Compression, Image, ImageError};

/// `unpack` with the scratch memory it asks for.
fn unpack_all(payload: &[u8], c: Compression, out: &mut [u8]) -> Result<(), ImageError> {
    let mut scratch = vec![0u8; scratch_len(payload, c)?];
    unpack(payload, c, out, &mut scratch)
}

const ELF: &[u8] = include_bytes!("fixtures/payload.elf");

/// A bzImage as Linux's build lays it out: `setup_sects` + 1 sectors of real-mode header, then
/// the protected-mode part whose `payload_offset` holds the payload with its unpacked size
/// appended.
fn bzimage(payload: &[u8], version: u16) -> Vec<u8> {
    let setup_sects = 3u8;
    let payload_offset = 0x40u32;
    let mut sized = payload.to_vec();
    sized.extend_from_slice(&(ELF.len() as u32).to_le_bytes());
    let mut b = vec![0u8; (usize::from(setup_sects) + 1) * 512 + payload_offset as usize];
    b[0x1f1] = setup_sects;
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&version.to_le_bytes());
    b[0x248..0x24c].copy_from_slice(&payload_offset.to_le_bytes());
    b[0x24c..0x250].copy_from_slice(&(sized.len() as u32).to_le_bytes());
    b.extend_from_slice(&sized);
    b.extend_from_slice(&[0xcc; 100]); // what follows the payload in a real image
    b
}

/// The payload, its compression and its unpacked size of an image `probe` must take as a bzImage.
fn probe_bz(img: &[u8]) -> (&[u8], Compression, usize) {
    match probe(img) {
        Ok(Image::BzImage {
            payload,
            compression,
            unpacked_len,
        }) => (payload, compression, unpacked_len),
        other => panic!("not probed as a bzImage: {other:?}"),
    }
}

fn roundtrip(file: &[u8], want: Compression) {
    let img = bzimage(file, 0x20f);
    let (payload, compression, unpacked_len) = probe_bz(&img);
    assert_eq!(compression, want);
    assert_eq!(unpacked_len, ELF.len());
    let mut out = vec![0u8; unpacked_len];
    unpack_all(payload, compression, &mut out).expect("unpacks");
    assert_eq!(out, ELF);
}

#[test]
fn xz_payload_with_the_x86_filter_unpacks_to_the_elf() {
    roundtrip(include_bytes!("fixtures/payload.xz"), Compression::Xz);
}

#[test]
fn gzip_payload_unpacks_to_the_elf() {
    roundtrip(include_bytes!("fixtures/payload.gz"), Compression::Gzip);
}

#[test]
fn zstd_payload_unpacks_to_the_elf() {
    roundtrip(include_bytes!("fixtures/payload.zst"), Compression::Zstd);
}

#[test]
fn the_xz_dictionary_size_comes_from_the_block_header() {
    // The fixture was made with preset 6: an 8 MiB dictionary.
    let xz = include_bytes!("fixtures/payload.xz");
    assert_eq!(scratch_len(xz, Compression::Xz), Ok(8 << 20));
    assert_eq!(scratch_len(xz, Compression::Gzip), Ok(0));
    assert_eq!(
        scratch_len(&xz[..14], Compression::Xz),
        Err(ImageError::Corrupt(Compression::Xz))
    );
    // A dictionary smaller than the stream declares is an error, not a panic.
    let mut sized = xz.to_vec();
    sized.extend_from_slice(&(ELF.len() as u32).to_le_bytes());
    let mut out = vec![0u8; ELF.len()];
    let mut small = vec![0u8; 4096];
    assert!(unpack(&sized, Compression::Xz, &mut out, &mut small).is_err());
}

#[test]
fn a_zstd_window_beyond_the_limit_is_refused_before_decoding() {
    // A frame header (magic, descriptor 0: a window descriptor follows) declaring 2 GiB.
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3];
    frame.extend_from_slice(&[0; 16]);
    let mut out = vec![0u8; 64];
    assert_eq!(
        unpack_all(&frame, Compression::Zstd, &mut out),
        Err(ImageError::ZstdWindow(1 << 31))
    );
}

#[test]
fn an_elf_is_taken_as_it_is() {
    assert_eq!(probe(ELF), Ok(Image::Elf(ELF)));
}

#[test]
fn bzip2_is_recognised_and_refused_by_name() {
    let img = bzimage(include_bytes!("fixtures/payload.bz2"), 0x20f);
    let (payload, compression, _) = probe_bz(&img);
    assert_eq!(compression, Compression::Bzip2);
    let mut out = vec![0u8; ELF.len()];
    assert_eq!(
        unpack_all(payload, compression, &mut out),
        Err(ImageError::Unsupported(Compression::Bzip2))
    );
}

#[test]
fn junk_old_protocols_and_truncation_are_refused() {
    assert_eq!(probe(b"hello"), Err(ImageError::NotAKernel));
    assert_eq!(probe(&[0u8; 4096]), Err(ImageError::NotAKernel));
    let xz = include_bytes!("fixtures/payload.xz");
    assert_eq!(
        probe(&bzimage(xz, 0x207)),
        Err(ImageError::OldBootProtocol(0x207))
    );
    let img = bzimage(xz, 0x20f);
    let cut = &img[..img.len() - 100 - 50];
    assert_eq!(probe(cut), Err(ImageError::Truncated));
    let mut odd = img.clone();
    let start = 4 * 512 + 0x40;
    odd[start..start + 4].copy_from_slice(b"JUNK");
    assert_eq!(probe(&odd), Err(ImageError::UnknownCompression(*b"JUNK")));
}

#[test]
fn corrupt_payloads_and_wrong_sizes_are_errors_not_panics() {
    for (file, c) in [
        (&include_bytes!("fixtures/payload.xz")[..], Compression::Xz),
        (
            &include_bytes!("fixtures/payload.gz")[..],
            Compression::Gzip,
        ),
        (
            &include_bytes!("fixtures/payload.zst")[..],
            Compression::Zstd,
        ),
    ] {
        let mut bad = file.to_vec();
        let mid = bad.len() / 2;
        for b in &mut bad[mid..mid + 16] {
            *b ^= 0x5a;
        }
        bad.extend_from_slice(&(ELF.len() as u32).to_le_bytes());
        let mut out = vec![0u8; ELF.len()];
        assert!(unpack_all(&bad, c, &mut out).is_err(), "{c:?}: corrupt");
        // The right stream into a buffer of the wrong size.
        let mut good = file.to_vec();
        good.extend_from_slice(&(ELF.len() as u32).to_le_bytes());
        let mut small = vec![0u8; ELF.len() - 1];
        assert!(
            unpack_all(&good, c, &mut small).is_err(),
            "{c:?}: too small"
        );
        let mut big = vec![0u8; ELF.len() + 1];
        assert!(unpack_all(&good, c, &mut big).is_err(), "{c:?}: too big");
        // Every truncation of the stream fails cleanly.
        for cut in (0..good.len()).step_by(97) {
            let mut out = vec![0u8; ELF.len()];
            let _ = unpack_all(&good[..cut.max(5)], c, &mut out);
        }
    }
}

/// Debian's own kernel, where installed (`cargo test -p kernel-image -- --ignored`).
#[test]
#[ignore = "needs /boot/vmlinuz-* from linux-image-amd64"]
fn debians_kernel_unpacks() {
    let path = std::fs::read_dir("/boot")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("vmlinuz-"))
        .expect("a /boot/vmlinuz-*");
    let img = std::fs::read(&path).unwrap();
    let (payload, compression, unpacked_len) = probe_bz(&img);
    let mut out = vec![0u8; unpacked_len];
    let dict = scratch_len(payload, compression).unwrap();
    assert_eq!(
        dict,
        32 << 20,
        "Debian packs its kernels with a 32 MiB dictionary"
    );
    unpack_all(payload, compression, &mut out).unwrap();
    eprintln!("{}: {compression:?}, {unpacked_len} bytes", path.display());
    if let Ok(reference) = std::env::var("KERNEL_IMAGE_REFERENCE") {
        // The same kernel unpacked by another tool (`xz -dc`, Python's lzma): identical.
        let want = std::fs::read(reference).unwrap();
        let first_diff = out.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "first differing byte");
        assert_eq!(out.len(), want.len());
    }
}
