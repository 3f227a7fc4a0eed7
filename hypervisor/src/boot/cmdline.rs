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

/// Xen's `parse_bool`: `1`/`on`/`yes`/`true`/`enable` or `0`/`no`/`off`/`false`/`disable`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "on" | "yes" | "true" | "enable" => Some(true),
        "0" | "no" | "off" | "false" | "disable" => Some(false),
        _ => None,
    }
}

/// A boolean option as Xen's `boolean_param` reads it: `name` or `name=<bool>` sets it,
/// `no-name` (or `no-name=<bool>`, inverted) clears it, each word in turn, so the last one
/// wins; a word with a value that is no boolean changes nothing and is returned (the first
/// such) so the caller can say so. `default` when the option is absent.
pub fn boolean<'a>(cmdline: &'a str, name: &str, default: bool) -> (bool, Option<&'a str>) {
    let mut value = default;
    let mut bad = None;
    for w in cmdline.split_ascii_whitespace() {
        let (key, v) = w.split_once('=').map_or((w, None), |(k, v)| (k, Some(v)));
        let (key, assert) = key.strip_prefix("no-").map_or((key, true), |k| (k, false));
        if key != name {
            continue;
        }
        // An empty value counts as none (`*optval ? parse_bool(optval, NULL) : 1`).
        match v.filter(|v| !v.is_empty()).map_or(Some(true), parse_bool) {
            Some(b) => value = b == assert,
            None => {
                bad.get_or_insert(w);
            }
        }
    }
    (value, bad)
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
    fn boolean_takes_xens_spellings_and_the_last_word_wins() {
        let b = |c| boolean(c, "pv-linear-pt", true);
        assert_eq!(b(""), (true, None));
        assert_eq!(b("pv-linear-pt=0"), (false, None));
        assert_eq!(b("pv-linear-pt=no"), (false, None));
        assert_eq!(b("pv-linear-pt=off pv-linear-pt"), (true, None));
        assert_eq!(b("no-pv-linear-pt"), (false, None));
        assert_eq!(b("no-pv-linear-pt=false"), (true, None));
        assert_eq!(b("pv-linear-pt=disable x=1"), (false, None));
        assert_eq!(boolean("pv-linear-pt", "pv-linear-pt", false), (true, None));
        assert_eq!(
            boolean("pv-linear-pt=", "pv-linear-pt", false),
            (true, None)
        );
        // Not a boolean: the option keeps what it had, and the word is reported.
        assert_eq!(
            b("pv-linear-pt=0 pv-linear-pt=maybe"),
            (false, Some("pv-linear-pt=maybe"))
        );
        // Other options that merely start with the name are not it.
        assert_eq!(b("pv-linear-pt-x=0 xpv-linear-pt=0"), (true, None));
    }

    #[test]
    fn log_level_unknown_value_is_error_naming_it() {
        assert_eq!(log_level("loglvl=all"), Ok(log::LevelFilter::Trace));
        assert_eq!(log_level(""), Ok(log::LevelFilter::Info));
        assert_eq!(log_level("loglvl=loud"), Err("loud"));
    }
}
