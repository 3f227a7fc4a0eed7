//! The dom0 daemons' log (backends, xenstored): every record up to `log::max_level()` to
//! stderr as `<daemon>: <LEVEL> <message>` (the form the rig's scenarios grep for). The level
//! may change while running (`xenstore-control log on|off`).

struct Stderr {
    name: &'static str,
}

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("{}: {} {}", self.name, r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

/// Installs the stderr logger for daemon `name` at `level`; fails only if a logger is already
/// installed.
pub fn to_stderr(name: &'static str, level: log::LevelFilter) -> Result<(), log::SetLoggerError> {
    let logger: &'static Stderr = Box::leak(Box::new(Stderr { name }));
    log::set_logger(logger)?;
    log::set_max_level(level);
    Ok(())
}
