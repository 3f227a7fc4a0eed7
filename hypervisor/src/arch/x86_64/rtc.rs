//! The CMOS real-time clock, read once at boot for the guests' wallclock.

use super::cpu::{inb, outb};

fn read(reg: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the CMOS index/data pair, used only here; NMI stays enabled
    // (bit 7 clear).
    unsafe {
        outb(0x70, reg & 0x7f);
        inb(0x71)
    }
}

/// Seconds since the Unix epoch, from the RTC (UTC, as QEMU and Xen assume).
pub fn unix_time() -> u64 {
    // Wait out an update in progress, then read until two reads agree.
    let snapshot = || {
        for _ in 0..100_000 {
            if read(0x0a) & 0x80 == 0 {
                break;
            }
        }
        [
            read(0x00),
            read(0x02),
            read(0x04),
            read(0x07),
            read(0x08),
            read(0x09),
            read(0x32),
        ]
    };
    let mut t = snapshot();
    for _ in 0..5 {
        let u = snapshot();
        if u == t {
            break;
        }
        t = u;
    }
    let status_b = read(0x0b);
    let bcd = status_b & 0x04 == 0;
    let conv = |v: u8| {
        if bcd {
            u64::from((v & 0x0f) + (v >> 4) * 10)
        } else {
            u64::from(v)
        }
    };
    let (sec, min) = (conv(t[0]), conv(t[1]));
    let mut hour = conv(t[2] & 0x7f);
    if status_b & 0x02 == 0 && t[2] & 0x80 != 0 {
        hour = (hour % 12) + 12;
    }
    let (day, month) = (conv(t[3]), conv(t[4]));
    let century = if t[6] != 0 { conv(t[6]) } else { 20 };
    let year = century * 100 + conv(t[5]);
    days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y.saturating_sub(1) } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d.saturating_sub(1);
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 22), 20_779);
    }
}
