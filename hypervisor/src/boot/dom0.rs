//! dom0's size from the hypervisor command line, as Xen 4.17 reads `dom0_mem=` and
//! `dom0_max_vcpus=` (`xen/arch/x86/dom0_build.c`): pure, host-tested.

/// Pages of 4 KiB.
const PAGE_SHIFT: u32 = 12;

/// One amount of `dom0_mem=`: pages, or (negative) all available memory but that many pages.
pub type Amount = i64;

/// `dom0_mem=[min:<amt>,][max:<amt>,][<amt>]`, each a size (`parse_size`) with an optional
/// leading `-` for "all available memory but this much".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dom0Mem {
    /// `<amt>`; 0 = not given (Xen's `dom0_nrpages`).
    pub nr: Amount,
    /// `min:<amt>`; 0 = none.
    pub min: Amount,
    /// `max:<amt>`; `i64::MAX` = none.
    pub max: Amount,
}

impl Default for Dom0Mem {
    fn default() -> Self {
        Self {
            nr: 0,
            min: 0,
            max: i64::MAX,
        }
    }
}

/// Xen's `parse_size_and_unit`: a number (decimal, `0x` hex or `0` octal) and an optional
/// unit `T`, `G`, `M`, `K` (any case) or `B` for bytes; without a unit, KiB. Returns the bytes
/// and the rest of the string.
pub fn parse_size(s: &str) -> Option<(u64, &str)> {
    let (n, rest) = parse_number(s)?;
    let mut chars = rest.chars();
    let (shift, rest) = match chars.next().map(|c| c.to_ascii_uppercase()) {
        Some('T') => (40, chars.as_str()),
        Some('G') => (30, chars.as_str()),
        Some('M') => (20, chars.as_str()),
        Some('K') => (10, chars.as_str()),
        Some('B') => (0, chars.as_str()),
        _ => (10, rest),
    };
    Some((n.checked_mul(1u64 << shift)?, rest))
}

/// `simple_strtoul(s, .., 0)`: the base from the prefix; at least one digit.
fn parse_number(s: &str) -> Option<(u64, &str)> {
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 {
        // "0" alone, or "0" followed by a unit, is zero in octal.
        return (radix == 8).then_some((0, digits));
    }
    let n = u64::from_str_radix(&digits[..end], radix).ok()?;
    Some((n, &digits[end..]))
}

fn parse_amount(s: &str) -> Option<(Amount, &str)> {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (bytes, rest) = parse_size(s)?;
    let pages = i64::try_from(bytes >> PAGE_SHIFT).ok()?;
    Some((if neg { -pages } else { pages }, rest))
}

/// Parses the value of `dom0_mem=`; `None` names a malformed value (Xen's `-EINVAL`).
pub fn parse_dom0_mem(s: &str) -> Option<Dom0Mem> {
    let mut m = Dom0Mem::default();
    for item in s.split(',') {
        if let Some(v) = item.strip_prefix("min:") {
            m.min = whole(parse_amount(v)?)?;
        } else if let Some(v) = item.strip_prefix("max:") {
            m.max = whole(parse_amount(v)?)?;
        } else {
            m.nr = whole(parse_amount(item)?)?;
        }
    }
    Some(m)
}

/// The value if nothing follows it.
fn whole<T>((v, rest): (T, &str)) -> Option<T> {
    rest.is_empty().then_some(v)
}

/// What dom0 gets: its initial pages and its maximum (`d->max_pages`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dom0Size {
    pub nr_pages: u64,
    pub max_pages: u64,
}

impl Dom0Mem {
    /// Xen's `dom0_compute_nr_pages` for `avail` pages: without `<amt>` all but a reserve of
    /// 1/16 (at most 128 MiB); negative amounts count down from `avail`; the result clamped by
    /// `min:`, then `max:`, then `avail`. The maximum is `max:` (from `avail` if negative),
    /// capped at `u32::MAX` pages as Xen's `d->max_pages`.
    pub fn size(&self, avail: u64) -> Dom0Size {
        let avail_i = i64::try_from(avail).unwrap_or(i64::MAX);
        let reserve = (avail / 16).min(128 << (20 - PAGE_SHIFT));
        let nr = if self.nr == 0 {
            -(reserve as i64)
        } else {
            self.nr
        };
        let from_avail = |a: Amount| if a < 0 { a.saturating_add(avail_i) } else { a };
        let (nr, min, max) = (from_avail(nr), from_avail(self.min), from_avail(self.max));
        let nr = nr.max(min).min(max).min(avail_i).max(0) as u64;
        Dom0Size {
            nr_pages: nr,
            max_pages: max.clamp(0, i64::from(u32::MAX)) as u64,
        }
    }
}

/// `dom0_max_vcpus=`: `N`, `N-`, `N-M` or `-M` (Xen's `parse_dom0_max_vcpus`), as (min, max);
/// a minimum of 0 counts as 1. `None` for a malformed value.
pub fn parse_dom0_max_vcpus(s: &str) -> Option<(u32, u32)> {
    if let Some(m) = s.strip_prefix('-') {
        let (max, rest) = parse_number(m)?;
        return rest.is_empty().then_some((1, u32::try_from(max).ok()?));
    }
    let (min, rest) = parse_number(s)?;
    let min = u32::try_from(min).ok()?.max(1);
    match rest.strip_prefix('-') {
        None if rest.is_empty() => Some((min, min)),
        None => None,
        Some("") => Some((min, u32::MAX)),
        Some(m) => {
            let (max, rest) = parse_number(m)?;
            rest.is_empty().then_some((min, u32::try_from(max).ok()?))
        }
    }
}

/// Xen's `dom0_max_vcpus()`: one vCPU per physical CPU, raised to the minimum, lowered to the
/// maximum, and never beyond `limit` (the PV vCPU limit).
pub fn dom0_vcpus((min, max): (u32, u32), pcpus: u32, limit: u32) -> u32 {
    pcpus.max(min).min(max).min(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 256; // pages

    #[test]
    fn sizes_take_xen_units_and_default_to_kib() {
        assert_eq!(parse_size("512M"), Some((512 << 20, "")));
        assert_eq!(parse_size("1g"), Some((1 << 30, "")));
        assert_eq!(parse_size("2T"), Some((2 << 40, "")));
        assert_eq!(parse_size("4096"), Some((4096 << 10, "")));
        assert_eq!(parse_size("4096k"), Some((4096 << 10, "")));
        assert_eq!(parse_size("8192B"), Some((8192, "")));
        assert_eq!(parse_size("0x100M"), Some((256 << 20, "")));
        assert_eq!(parse_size("0"), Some((0, "")));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999T"), None, "overflow");
    }

    #[test]
    fn dom0_mem_forms() {
        let m = parse_dom0_mem("1024M,max:1024M").unwrap();
        assert_eq!((m.nr, m.min, m.max), (1024 * MIB, 0, 1024 * MIB));
        let m = parse_dom0_mem("min:256M,max:2G,-512M").unwrap();
        assert_eq!((m.nr, m.min, m.max), (-512 * MIB, 256 * MIB, 2048 * MIB));
        assert_eq!(parse_dom0_mem("512M").unwrap().nr, 512 * MIB);
        for bad in ["", "512Q", "max:", "min:1G,", "512M,,", "lots"] {
            assert_eq!(parse_dom0_mem(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dom0_mem_sizes_as_xen_computes_them() {
        let avail = 4096 * MIB as u64; // 4 GiB
        let size = |s: &str| parse_dom0_mem(s).unwrap().size(avail);
        // Absent: all but 1/16, the reserve capped at 128 MiB.
        assert_eq!(
            Dom0Mem::default().size(avail).nr_pages,
            avail - 128 * MIB as u64
        );
        assert_eq!(
            Dom0Mem::default().size(1024 * MIB as u64).nr_pages,
            (1024 - 64) * MIB as u64
        );
        assert_eq!(
            Dom0Mem::default().size(avail).max_pages,
            u64::from(u32::MAX)
        );
        // Exact, and the maximum.
        let s = size("1024M,max:1024M");
        assert_eq!((s.nr_pages, s.max_pages), (1024 * 256, 1024 * 256));
        // Negative: all but.
        assert_eq!(size("-1G").nr_pages, 3072 * 256);
        // Clamped by min, then max, then what is there.
        assert_eq!(size("min:512M,256M").nr_pages, 512 * 256);
        assert_eq!(size("max:256M,512M").nr_pages, 256 * 256);
        assert_eq!(size("8G").nr_pages, avail);
        // min above max is overruled by max.
        assert_eq!(size("min:1G,max:512M").nr_pages, 512 * 256);
        // Only limits: the default amount, then clamped.
        assert_eq!(size("max:1G").nr_pages, 1024 * 256);
        assert_eq!(size("max:-1G").max_pages, 3072 * 256);
        // dom0_mem=0 is "not given", as in Xen.
        assert_eq!(size("0").nr_pages, avail - 128 * MIB as u64);
    }

    #[test]
    fn dom0_max_vcpus_forms_and_the_count() {
        assert_eq!(parse_dom0_max_vcpus("2"), Some((2, 2)));
        assert_eq!(parse_dom0_max_vcpus("0"), Some((1, 1)));
        assert_eq!(parse_dom0_max_vcpus("2-4"), Some((2, 4)));
        assert_eq!(parse_dom0_max_vcpus("2-"), Some((2, u32::MAX)));
        assert_eq!(parse_dom0_max_vcpus("-3"), Some((1, 3)));
        for bad in ["", "x", "2x", "2-x", "-", "1-2-3"] {
            assert_eq!(parse_dom0_max_vcpus(bad), None, "{bad:?}");
        }
        let default = (1, u32::MAX);
        assert_eq!(dom0_vcpus(default, 4, 32), 4, "one per pCPU by default");
        assert_eq!(dom0_vcpus((2, 2), 4, 32), 2);
        assert_eq!(
            dom0_vcpus((1, 4), 2, 32),
            2,
            "MIN-MAX: the pCPUs within the range"
        );
        assert_eq!(
            dom0_vcpus((4, 8), 2, 32),
            4,
            "the minimum beats the pCPU count"
        );
        assert_eq!(dom0_vcpus((1, 2), 8, 32), 2);
        assert_eq!(dom0_vcpus((64, 64), 2, 32), 32, "never beyond the PV limit");
    }
}
