//! The layout checker: builds one C program from every fragment, compiles it with the system `cc`,
//! reads sizes and constant values from its output and every struct member from its DWARF, and
//! compares them with the Rust side.
//!
//! The Rust side of a struct is described by [`layout!`], which also destructures the struct
//! exhaustively, so a Rust field missing from the description is a compile error; the C side is
//! read from the debug info, so a C member missing on the Rust side is a reported mismatch.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, UnitOffset};
use object::{Object, ObjectSection};

/// One field of a Rust struct: its name as the C header spells it, offset and size.
#[derive(Clone, Debug)]
pub struct RustField {
    pub name: String,
    pub offset: usize,
    pub size: usize,
}

/// The Rust description of one mirrored struct.
#[derive(Clone, Debug)]
pub struct RustStruct {
    /// The C type as C spells it: `struct start_info` or a typedef name such as `xen_uuid_t`.
    pub c_type: String,
    pub rust_name: String,
    pub size: usize,
    pub align: usize,
    pub fields: Vec<RustField>,
}

/// A constant: a C expression (usually a macro name) and the Rust value it must equal.
#[derive(Clone, Debug)]
pub struct RustConst {
    pub c_expr: String,
    pub value: i128,
}

/// Everything one header's fragment checks.
#[derive(Clone, Debug, Default)]
pub struct Fragment {
    /// The header this fragment covers, as printed in the report (e.g. `xen.h`).
    pub header: String,
    /// `#include` lines it needs, relative to the include directory (e.g. `xen/xen.h`).
    pub includes: Vec<String>,
    pub structs: Vec<RustStruct>,
    pub consts: Vec<RustConst>,
    /// Problems found while the fragment was built (e.g. a sub-op variant with no C name).
    pub problems: Vec<String>,
}

impl Fragment {
    pub fn new(header: &str, includes: &[&str]) -> Fragment {
        Fragment {
            header: header.to_string(),
            includes: includes.iter().map(|s| s.to_string()).collect(),
            ..Fragment::default()
        }
    }

    pub fn push_struct(&mut self, s: RustStruct) {
        self.structs.push(s);
    }

    pub fn push_const(&mut self, c_expr: &str, value: i128) {
        self.consts.push(RustConst {
            c_expr: c_expr.to_string(),
            value,
        });
    }
}

/// Size of a field's type, found through a projection closure.
pub fn field_size<T, F>(_project: fn(&T) -> &F) -> usize {
    core::mem::size_of::<F>()
}

/// Describe a Rust struct's layout and check that the list names every field.
///
/// ```ignore
/// layout!(frag, xen_abi::xen::MmuUpdate => "struct mmu_update" { ptr, val });
/// layout!(frag, Foo => "struct foo" { r#type as "type", _pad0 });
/// ```
/// A field's C name is its Rust name (minus `r#`) unless `as "name"` says otherwise. Fields whose
/// name starts with `_pad`, `_reserved` or `_align` are Rust-only padding: they must overlap no C
/// member.
#[macro_export]
macro_rules! layout {
    ($frag:expr, $ty:path => $cname:literal { $($field:ident $(as $cf:literal)?),* $(,)? }) => {{
        #[allow(dead_code, clippy::needless_pass_by_value)]
        fn exhaustive(v: $ty) {
            // A field of the struct that this list leaves out is a compile error here.
            let $ty { $($field: _),* } = v;
        }
        let fields = vec![$(
            $crate::checker::RustField {
                name: $crate::checker::c_field_name(stringify!($field), [$($cf)?]),
                offset: core::mem::offset_of!($ty, $field),
                size: $crate::checker::field_size::<$ty, _>(|s| &s.$field),
            }
        ),*];
        $frag.push_struct($crate::checker::RustStruct {
            c_type: $cname.to_string(),
            rust_name: stringify!($ty).replace(' ', ""),
            size: core::mem::size_of::<$ty>(),
            align: core::mem::align_of::<$ty>(),
            fields,
        });
    }};
}

/// Check constants: `consts!(frag; VIRQ_TIMER = xen::VIRQ_TIMER, "xen_pfn_to_cr3(5)" = ...)`.
/// The left side is a C expression (an identifier or a string literal); the right side a Rust
/// expression castable with `as i128` (integers and fieldless enums).
#[macro_export]
macro_rules! consts {
    ($frag:expr; $($c:tt = $v:expr),* $(,)?) => {{
        $( $frag.push_const($crate::consts!(@name $c), ($v) as i128); )*
    }};
    (@name $c:ident) => { stringify!($c) };
    (@name $c:literal) => { $c };
}

/// Check a sub-op enum: `sub_ops!(frag, XenMem; XENMEM_exchange = Exchange, ...)`. Each
/// `C_NAME = Variant` is a constant check; a variant of the enum that the list leaves out is a
/// reported problem, so every number the Rust side accepts is compared with C.
#[macro_export]
macro_rules! sub_ops {
    ($frag:expr, $enum:ty; $($c:ident = $v:ident),* $(,)?) => {{
        let listed: Vec<$enum> = vec![$(<$enum>::$v),*];
        for v in <$enum as xen_abi::SubOp>::ALL {
            if !listed.contains(v) {
                $frag.problems.push(format!(
                    "{}: variant {}::{v:?} has no C name in the fragment",
                    $frag.header,
                    stringify!($enum),
                ));
            }
        }
        $( $frag.push_const(stringify!($c), <$enum>::$v as i128); )*
    }};
}

/// Byte offset of `value`'s bytes inside `whole`'s: where a typed accessor of a union held as raw
/// words put (or found) a member, to compare with the member's C `offsetof`. Use a value whose
/// bytes occur once.
pub fn byte_offset<W, V>(whole: &W, value: &V) -> usize
where
    W: zerocopy::IntoBytes + zerocopy::Immutable,
    V: zerocopy::IntoBytes + zerocopy::Immutable,
{
    let (hay, needle) = (whole.as_bytes(), value.as_bytes());
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("the accessor keeps the value's bytes in the union")
}

/// The C name of a Rust field: the override if given, else the identifier without `r#`.
pub fn c_field_name<const N: usize>(rust: &str, over: [&str; N]) -> String {
    match over.first() {
        Some(o) => o.to_string(),
        None => rust.trim_start_matches("r#").to_string(),
    }
}

fn is_rust_padding(name: &str) -> bool {
    name.starts_with("_pad") || name.starts_with("_reserved") || name.starts_with("_align")
}

/// What a fragment checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub structs: usize,
    pub fields: usize,
    pub consts: usize,
}

/// The outcome of a run: counts per header and every mismatch, each naming its item.
#[derive(Debug, Default)]
pub struct Report {
    pub counts: BTreeMap<String, Counts>,
    pub mismatches: Vec<String>,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let mut total = Counts::default();
        for (h, c) in &self.counts {
            let _ = writeln!(
                s,
                "layout: {h:<22} {:>4} structs {:>5} fields {:>5} constants",
                c.structs, c.fields, c.consts
            );
            total.structs += c.structs;
            total.fields += c.fields;
            total.consts += c.consts;
        }
        let _ = writeln!(
            s,
            "layout: {:<22} {:>4} structs {:>5} fields {:>5} constants, {} mismatches",
            "TOTAL",
            total.structs,
            total.fields,
            total.consts,
            self.mismatches.len()
        );
        s
    }
}

/// The message when the headers are missing.
pub const INSTALL_HINT: &str =
    "Xen's public headers are missing: run `apt-get install libxen-dev` (`cargo xtask` installs it)";

/// Where the headers live.
pub fn default_include_dir() -> PathBuf {
    PathBuf::from("/usr/include")
}

/// Build, compile and run the C side for `frags`, then compare. `Err` means the check could not
/// run at all (no headers, no compiler, a C compile error naming an unknown item).
pub fn run(frags: &[Fragment], include_dir: &Path, work_dir: &Path) -> Result<Report, String> {
    let xen_h = include_dir.join("xen/xen.h");
    if !xen_h.is_file() {
        return Err(format!("{} not found. {INSTALL_HINT}", xen_h.display()));
    }
    std::fs::create_dir_all(work_dir).map_err(|e| format!("{}: {e}", work_dir.display()))?;

    // Flatten: every struct and constant gets an index the C program prints back.
    let mut structs: Vec<(&str, &RustStruct)> = Vec::new();
    let mut consts: Vec<(&str, &RustConst)> = Vec::new();
    let mut includes: Vec<&str> = Vec::new();
    for f in frags {
        for i in &f.includes {
            if !includes.contains(&i.as_str()) {
                includes.push(i);
            }
        }
        structs.extend(f.structs.iter().map(|s| (f.header.as_str(), s)));
        consts.extend(f.consts.iter().map(|c| (f.header.as_str(), c)));
    }

    let mut c = String::new();
    c.push_str("/* generated by hypervisor/abi/tests/layout.rs */\n");
    c.push_str("#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n");
    for i in &includes {
        let _ = writeln!(c, "#include <{i}>");
    }
    c.push_str("int main(void)\n{\n");
    for (n, (_, s)) in structs.iter().enumerate() {
        let _ = writeln!(
            c,
            "    printf(\"S{n} %zu %zu\\n\", sizeof({t}), _Alignof({t}));",
            t = s.c_type
        );
    }
    for (n, (_, k)) in consts.iter().enumerate() {
        let _ = writeln!(
            c,
            "    printf(\"C{n} %lld %llu\\n\", (long long)({e}), (unsigned long long)({e}));",
            e = k.c_expr
        );
    }
    c.push_str("    return 0;\n}\n");

    let src = work_dir.join("layout.c");
    let exe = work_dir.join("layout");
    std::fs::write(&src, &c).map_err(|e| format!("{}: {e}", src.display()))?;
    let out = Command::new("cc")
        .args([
            "-std=gnu11",
            "-g",
            "-O0",
            "-fno-eliminate-unused-debug-types",
        ])
        .arg("-D__XEN_TOOLS__")
        .arg("-I")
        .arg(include_dir)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .map_err(|e| format!("cannot run `cc` (install gcc): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc failed on {} (an unknown C name in a fragment?):\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let run = Command::new(&exe)
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !run.status.success() {
        return Err(format!("{} exited with {}", exe.display(), run.status));
    }
    let stdout = String::from_utf8_lossy(&run.stdout);
    let mut c_sizes: HashMap<usize, (usize, usize)> = HashMap::new();
    let mut c_consts: HashMap<usize, (i128, i128)> = HashMap::new();
    for line in stdout.lines() {
        let mut w = line.split_whitespace();
        let (Some(tag), Some(a), Some(b)) = (w.next(), w.next(), w.next()) else {
            return Err(format!("unexpected output line `{line}`"));
        };
        let parse = |s: &str| s.parse::<i128>().map_err(|e| format!("`{line}`: {e}"));
        if let Some(n) = tag.strip_prefix('S') {
            let n: usize = n.parse().map_err(|e| format!("`{line}`: {e}"))?;
            c_sizes.insert(n, (parse(a)? as usize, parse(b)? as usize));
        } else if let Some(n) = tag.strip_prefix('C') {
            let n: usize = n.parse().map_err(|e| format!("`{line}`: {e}"))?;
            c_consts.insert(n, (parse(a)?, parse(b)?));
        }
    }

    let types = DwarfTypes::read(&exe)?;
    let mut report = Report::default();
    for f in frags {
        report.counts.entry(f.header.clone()).or_default();
        report.mismatches.extend(f.problems.iter().cloned());
    }

    for (n, (header, s)) in structs.iter().enumerate() {
        let counts = report.counts.entry(header.to_string()).or_default();
        counts.structs += 1;
        let what = format!("{header}: `{}` (Rust `{}`)", s.c_type, s.rust_name);
        let Some(&(c_size, c_align)) = c_sizes.get(&n) else {
            report
                .mismatches
                .push(format!("{what}: no sizeof from the C program"));
            continue;
        };
        if c_size != s.size {
            report
                .mismatches
                .push(format!("{what}: sizeof C {c_size}, Rust {}", s.size));
        }
        if c_align != s.align {
            report
                .mismatches
                .push(format!("{what}: alignof C {c_align}, Rust {}", s.align));
        }
        let Some((members, is_union)) = types.lookup(&s.c_type) else {
            report
                .mismatches
                .push(format!("{what}: C type not found in the debug info"));
            continue;
        };
        counts.fields += members.len();
        if is_union && covers_whole_union(&members, &s.fields, c_size) {
            continue;
        }
        compare_fields(&what, &members, &s.fields, &mut report.mismatches);
    }

    for (n, (header, k)) in consts.iter().enumerate() {
        report.counts.entry(header.to_string()).or_default().consts += 1;
        match c_consts.get(&n) {
            None => report.mismatches.push(format!(
                "{header}: constant `{}`: no value from the C program",
                k.c_expr
            )),
            Some(&(signed, unsigned)) => {
                if k.value != signed && k.value != unsigned {
                    report.mismatches.push(format!(
                        "{header}: constant `{}`: C {signed} ({unsigned:#x}), Rust {} ({:#x})",
                        k.c_expr, k.value, k.value
                    ));
                }
            }
        }
    }
    Ok(report)
}

/// A C union mirrored whole as one Rust field (a byte or word array of the union's size, with
/// typed accessors) that carries none of the members' names.
fn covers_whole_union(c: &[CMember], rust: &[RustField], size: usize) -> bool {
    let named = |r: &RustField| c.iter().any(|m| m.name == r.name);
    matches!(rust, [only] if only.offset == 0 && only.size == size && !named(only))
}

/// Compare one struct's C members with its Rust fields; push a named message per mismatch.
pub fn compare_fields(what: &str, c: &[CMember], rust: &[RustField], out: &mut Vec<String>) {
    let mut used = vec![false; rust.len()];
    for m in c {
        let found = rust
            .iter()
            .enumerate()
            .find(|(_, r)| r.name == m.name || m.alternatives.contains(&r.name));
        match found {
            None => out.push(format!(
                "{what}: C field `{}` (offset {}, size {}) has no Rust field",
                m.name, m.offset, m.size
            )),
            Some((i, r)) => {
                used[i] = true;
                if m.bitfield {
                    out.push(format!(
                        "{what}: C field `{}` is a bitfield: not supported",
                        m.name
                    ));
                }
                if r.offset != m.offset || r.size != m.size {
                    out.push(format!(
                        "{what}: field `{}`: C offset {} size {}, Rust offset {} size {}",
                        m.name, m.offset, m.size, r.offset, r.size
                    ));
                }
            }
        }
    }
    for (r, used) in rust.iter().zip(used) {
        if used {
            continue;
        }
        if !is_rust_padding(&r.name) {
            out.push(format!(
                "{what}: Rust field `{}` (offset {}, size {}) does not exist in C",
                r.name, r.offset, r.size
            ));
            continue;
        }
        for m in c {
            let overlap = r.size > 0
                && m.size > 0
                && r.offset < m.offset + m.size
                && m.offset < r.offset + r.size;
            if overlap {
                out.push(format!(
                    "{what}: Rust padding `{}` (offset {}, size {}) overlaps C field `{}` (offset {}, size {})",
                    r.name, r.offset, r.size, m.name, m.offset, m.size
                ));
            }
        }
    }
}

/// One C member as the debug info describes it. An anonymous union is one member named after its
/// first alternative; a Rust field may carry any of the alternatives' names. Members of an
/// anonymous struct are flattened into the parent.
#[derive(Clone, Debug)]
pub struct CMember {
    pub name: String,
    pub alternatives: Vec<String>,
    pub offset: usize,
    pub size: usize,
    pub bitfield: bool,
}

#[derive(Debug)]
struct Die {
    tag: gimli::DwTag,
    name: Option<String>,
    byte_size: Option<u64>,
    type_ref: Option<UnitOffset>,
    member_location: Option<u64>,
    count: Option<u64>,
    bitfield: bool,
    declaration: bool,
    children: Vec<UnitOffset>,
}

/// The type DIEs of the generated program (one C compilation unit).
struct DwarfTypes {
    dies: HashMap<UnitOffset, Die>,
    by_tag: HashMap<String, UnitOffset>,
    by_typedef: HashMap<String, UnitOffset>,
}

impl DwarfTypes {
    fn read(exe: &Path) -> Result<DwarfTypes, String> {
        let data = std::fs::read(exe).map_err(|e| format!("{}: {e}", exe.display()))?;
        let obj = object::File::parse(&*data).map_err(|e| format!("{}: {e}", exe.display()))?;
        let endian = if obj.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
            Ok(obj
                .section_by_name(id.name())
                .and_then(|s| s.uncompressed_data().ok())
                .unwrap_or(Cow::Borrowed(&[])))
        };
        let owned = gimli::DwarfSections::load(load).map_err(|e| format!("DWARF: {e}"))?;
        let dwarf = owned.borrow(|s| EndianSlice::new(s, endian));
        let err = |e: gimli::Error| format!("DWARF: {e}");

        let mut types = DwarfTypes {
            dies: HashMap::new(),
            by_tag: HashMap::new(),
            by_typedef: HashMap::new(),
        };
        let mut units = dwarf.units();
        while let Some(header) = units.next().map_err(err)? {
            let unit = dwarf.unit(header).map_err(err)?;
            // Only the generated program's own unit describes the headers' types.
            let is_ours = unit
                .name
                .map(|n| n.to_string_lossy().ends_with("layout.c"))
                .unwrap_or(false);
            if !is_ours {
                continue;
            }
            let mut cursor = unit.entries();
            let mut stack: Vec<UnitOffset> = Vec::new();
            let mut depth: isize = 0;
            while let Some((delta, entry)) = cursor.next_dfs().map_err(err)? {
                depth += delta;
                stack.truncate(depth.max(0) as usize);
                let off = entry.offset();
                let mut die = Die {
                    tag: entry.tag(),
                    name: None,
                    byte_size: None,
                    type_ref: None,
                    member_location: None,
                    count: None,
                    bitfield: false,
                    declaration: false,
                    children: Vec::new(),
                };
                let mut attrs = entry.attrs();
                while let Some(attr) = attrs.next().map_err(err)? {
                    match attr.name() {
                        gimli::DW_AT_name => {
                            let s = dwarf.attr_string(&unit, attr.value()).map_err(err)?;
                            die.name = Some(s.to_string_lossy().into_owned());
                        }
                        gimli::DW_AT_byte_size => die.byte_size = attr.udata_value(),
                        gimli::DW_AT_type => {
                            if let AttributeValue::UnitRef(r) = attr.value() {
                                die.type_ref = Some(r);
                            }
                        }
                        gimli::DW_AT_data_member_location => {
                            die.member_location = attr.udata_value()
                        }
                        gimli::DW_AT_upper_bound => die.count = attr.udata_value().map(|u| u + 1),
                        gimli::DW_AT_count => die.count = attr.udata_value(),
                        gimli::DW_AT_bit_size | gimli::DW_AT_data_bit_offset => die.bitfield = true,
                        gimli::DW_AT_declaration => die.declaration = true,
                        _ => {}
                    }
                }
                if let Some(parent) = stack.last() {
                    if let Some(p) = types.dies.get_mut(parent) {
                        p.children.push(off);
                    }
                }
                if depth == 1 && !die.declaration {
                    if let Some(name) = &die.name {
                        match die.tag {
                            gimli::DW_TAG_structure_type => {
                                types.by_tag.entry(format!("struct {name}")).or_insert(off);
                            }
                            gimli::DW_TAG_union_type => {
                                types.by_tag.entry(format!("union {name}")).or_insert(off);
                            }
                            gimli::DW_TAG_typedef => {
                                types.by_typedef.entry(name.clone()).or_insert(off);
                            }
                            _ => {}
                        }
                    }
                }
                types.dies.insert(off, die);
                stack.push(off);
            }
        }
        if types.by_tag.is_empty() {
            return Err(format!(
                "{}: no struct types in the debug info",
                exe.display()
            ));
        }
        Ok(types)
    }

    /// Skip typedefs and qualifiers.
    fn strip(&self, mut off: UnitOffset) -> Option<UnitOffset> {
        for _ in 0..64 {
            let d = self.dies.get(&off)?;
            match d.tag {
                gimli::DW_TAG_typedef | gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type => {
                    off = d.type_ref?;
                }
                _ => return Some(off),
            }
        }
        None
    }

    fn size_of(&self, off: UnitOffset) -> Option<usize> {
        let off = self.strip(off)?;
        let d = self.dies.get(&off)?;
        if d.tag == gimli::DW_TAG_array_type {
            let elem = self.size_of(d.type_ref?)?;
            let mut n = elem;
            for c in &d.children {
                let sub = self.dies.get(c)?;
                if sub.tag == gimli::DW_TAG_subrange_type {
                    n *= sub.count.unwrap_or(0) as usize;
                }
            }
            return Some(n);
        }
        d.byte_size.map(|s| s as usize)
    }

    /// Every member of the struct or union `c_type`, and whether it is a union.
    fn lookup(&self, c_type: &str) -> Option<(Vec<CMember>, bool)> {
        let off = match self.by_tag.get(c_type) {
            Some(o) => *o,
            None => self.strip(*self.by_typedef.get(c_type)?)?,
        };
        let is_union = self.dies.get(&off)?.tag == gimli::DW_TAG_union_type;
        let mut out = Vec::new();
        self.members(off, 0, &mut out)?;
        Some((out, is_union))
    }

    fn members(&self, agg: UnitOffset, base: usize, out: &mut Vec<CMember>) -> Option<()> {
        let d = self.dies.get(&agg)?;
        for c in &d.children {
            let m = self.dies.get(c)?;
            if m.tag != gimli::DW_TAG_member {
                continue;
            }
            let offset = base + m.member_location.unwrap_or(0) as usize;
            let ty = self.strip(m.type_ref?)?;
            let size = self.size_of(ty)?;
            match &m.name {
                Some(name) => out.push(CMember {
                    name: name.clone(),
                    alternatives: Vec::new(),
                    offset,
                    size,
                    bitfield: m.bitfield,
                }),
                None => {
                    let inner = self.dies.get(&ty)?;
                    if inner.tag == gimli::DW_TAG_union_type {
                        let alts: Vec<String> = inner
                            .children
                            .iter()
                            .filter_map(|c| self.dies.get(c))
                            .filter(|c| c.tag == gimli::DW_TAG_member)
                            .filter_map(|c| c.name.clone())
                            .collect();
                        out.push(CMember {
                            name: alts
                                .first()
                                .cloned()
                                .unwrap_or_else(|| format!("<anonymous union at {offset}>")),
                            alternatives: alts,
                            offset,
                            size,
                            bitfield: false,
                        });
                    } else {
                        self.members(ty, offset, out)?;
                    }
                }
            }
        }
        Some(())
    }
}

/// Every object-like macro of the headers `includes` whose value is a plain integer literal
/// (`12`, `0x1000001`, `(1U)`...), as `(name, value)`, from `cc -dM -E`.
pub fn c_integer_macros(
    includes: &[&str],
    include_dir: &Path,
    work_dir: &Path,
) -> Result<Vec<(String, u64)>, String> {
    std::fs::create_dir_all(work_dir).map_err(|e| format!("{}: {e}", work_dir.display()))?;
    let src = work_dir.join("macros.c");
    let text: String = includes
        .iter()
        .map(|i| format!("#include <{i}>\n"))
        .collect();
    std::fs::write(&src, text).map_err(|e| format!("{}: {e}", src.display()))?;
    let out = Command::new("cc")
        .args(["-dM", "-E", "-D__XEN_TOOLS__", "-I"])
        .arg(include_dir)
        .arg(&src)
        .output()
        .map_err(|e| format!("cannot run `cc` (install gcc): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cc -dM -E failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut macros = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(' ') else {
            continue;
        };
        if name.contains('(') {
            continue;
        }
        if let Some(v) = parse_c_integer(value) {
            macros.push((name.to_string(), v));
        }
    }
    Ok(macros)
}

/// `12`, `0x1F`, `(7)`, `5U`, `0x80000000UL` → the number; anything else → `None`.
fn parse_c_integer(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(s)
        .trim();
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}
