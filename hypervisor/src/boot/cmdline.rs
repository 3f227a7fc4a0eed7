//! The hypervisor's command line: `key=value` and bare `flag` words separated by spaces.

/// The value of `key=value`, the last one winning as in Xen; `None` if absent.
pub fn value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_ascii_whitespace()
        .rev()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .next()
}

/// True if the bare word `flag` (or `flag=1`/`flag=on`/`flag=true`) is present.
pub fn flag(cmdline: &str, name: &str) -> bool {
    cmdline.split_ascii_whitespace().any(|w| w == name)
        || matches!(value(cmdline, name), Some("1" | "on" | "true" | "yes"))
}

/// Parses `loglvl=` (Xen's spelling): `none`, `error`, `warning`/`warn`, `info`, `debug`, `all`/`trace`.
pub fn log_level(cmdline: &str) -> Result<log::LevelFilter, &str> {
    match value(cmdline, "loglvl") {
        None => Ok(log::LevelFilter::Info),
        Some(v) => match v {
            "none" => Ok(log::LevelFilter::Off),
            "error" => Ok(log::LevelFilter::Error),
            "warning" | "warn" => Ok(log::LevelFilter::Warn),
            "info" => Ok(log::LevelFilter::Info),
            "debug" => Ok(log::LevelFilter::Debug),
            "all" | "trace" => Ok(log::LevelFilter::Trace),
            other => Err(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_last_occurrence_wins() {
        assert_eq!(
            value("a=1 loglvl=info b loglvl=debug", "loglvl"),
            Some("debug")
        );
        assert_eq!(value("a=1 b", "loglvl"), None);
        assert_eq!(value("x=a=b", "x"), Some("a=b"));
    }

    #[test]
    fn flag_bare_or_truthy_value() {
        assert!(flag("foo noreboot", "noreboot"));
        assert!(flag("noreboot=1", "noreboot"));
        assert!(!flag("noreboot=0", "noreboot"));
        assert!(!flag("noreboo", "noreboot"));
    }

    #[test]
    fn log_level_unknown_value_is_error_naming_it() {
        assert_eq!(log_level("loglvl=all"), Ok(log::LevelFilter::Trace));
        assert_eq!(log_level(""), Ok(log::LevelFilter::Info));
        assert_eq!(log_level("loglvl=loud"), Err("loud"));
    }
}
