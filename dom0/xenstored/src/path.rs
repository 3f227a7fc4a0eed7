//! Node names: validation (`is_valid_nodename`), relative paths and parents, as C xenstored 4.17.

/// The implicit path of a connection of domain `domid` (`/local/domain/<domid>`).
pub fn domain_path(domid: u32) -> String {
    format!("/local/domain/{domid}")
}

/// `canonicalize`: a relative name joined to `implicit`; absolute names and `@` names unchanged.
pub fn canonicalize(implicit: &str, name: &str) -> String {
    if name.starts_with('/') || name.starts_with('@') {
        name.to_string()
    } else {
        format!("{implicit}/{name}")
    }
}

/// Characters C xenstored allows in a node name.
fn valid_chars(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'@'))
}

/// Length of a leading `/local/domain/<n>/` as C's `sscanf("/local/domain/%5u/%n")` matches it
/// (at most five characters of an optionally signed number), or 0.
fn local_prefix_len(name: &str) -> usize {
    let Some(rest) = name.strip_prefix("/local/domain/") else {
        return 0;
    };
    let b = rest.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let digits_start = i;
    while i < 5 && b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i == digits_start || b.get(i) != Some(&b'/') {
        return 0;
    }
    "/local/domain/".len() + i + 1
}

/// `is_valid_nodename`: absolute, no trailing `/` (except `/`), no `//`, allowed characters only,
/// and at most `path_max` bytes after any `/local/domain/<n>/` prefix.
pub fn is_valid_nodename(name: &str, path_max: usize) -> bool {
    if !name.starts_with('/') {
        return false;
    }
    if name.ends_with('/') && name != "/" {
        return false;
    }
    if name.contains("//") {
        return false;
    }
    if name.len() > local_prefix_len(name).saturating_add(path_max) {
        return false;
    }
    valid_chars(name)
}

/// `get_parent`: the parent of an absolute name (`/` for a top-level node and for `/`).
pub fn parent(name: &str) -> &str {
    match name.get(1..).and_then(|r| r.rfind('/')) {
        Some(i) => &name[..i + 1],
        None => "/",
    }
}

/// The last component of a name other than `/`.
pub fn basename(name: &str) -> &str {
    name.rfind('/').map_or(name, |i| &name[i + 1..])
}

/// `child_name`: the absolute name of `child` under `parent`.
pub fn child(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// `is_child`: `child` is `parent` or below it (everything is below `/`).
pub fn is_child(child: &str, parent: &str) -> bool {
    if parent == "/" {
        return true;
    }
    match child.strip_prefix(parent) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// C's `atoi`: leading blanks, a sign, digits; anything else ends the number; 0 if none.
pub fn atoi(s: &str) -> i32 {
    let b = s
        .trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c'])
        .as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut v: i64 = 0;
    for d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    let v = if neg { -v } else { v };
    // glibc's atoi is (int)strtol: a long, truncated to int.
    v as i32
}

/// C's `strtol(s, &end, 0)` truncated to `unsigned int`: the value and the unparsed rest.
pub fn strtol_u32(s: &str) -> (u32, &str) {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let b = t.as_bytes();
    let mut i = 0;
    let neg = match b.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let (radix, mut j) = if b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        (16, i + 2)
    } else if b.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let start = j;
    let mut v: i64 = 0;
    while let Some(d) = b.get(j).and_then(|c| (*c as char).to_digit(radix)) {
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        j += 1;
    }
    if j == start {
        // No digits: strtol leaves `end` at the start of the string.
        return (0, s);
    }
    let v = if neg { v.saturating_neg() } else { v };
    (v as u32, &t[j..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_valid_nodename_rejects_what_c_rejects() {
        assert!(is_valid_nodename("/", 2048));
        assert!(is_valid_nodename("/a/b-c_d@e", 2048));
        assert!(!is_valid_nodename("a", 2048));
        assert!(!is_valid_nodename("/a/", 2048));
        assert!(!is_valid_nodename("/a//b", 2048));
        assert!(!is_valid_nodename("/a b", 2048));
        assert!(!is_valid_nodename("/a.b", 2048));
    }

    #[test]
    fn is_valid_nodename_path_max_counts_after_domain_prefix() {
        let long = "x".repeat(10);
        assert!(is_valid_nodename(&format!("/{long}"), 11));
        assert!(!is_valid_nodename(&format!("/{long}"), 10));
        assert!(is_valid_nodename(&format!("/local/domain/5/{long}"), 10));
        assert!(!is_valid_nodename(&format!("/local/domain/5/{long}y"), 10));
        // More than five characters of domid: no prefix allowance.
        assert!(!is_valid_nodename(
            &format!("/local/domain/123456/{long}"),
            10
        ));
    }

    #[test]
    fn parent_and_basename_split_names() {
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(child("/", "a"), "/a");
        assert_eq!(child("/a", "b"), "/a/b");
    }

    #[test]
    fn is_child_matches_components_only() {
        assert!(is_child("/a/b", "/a"));
        assert!(is_child("/a", "/a"));
        assert!(!is_child("/ab", "/a"));
        assert!(is_child("/anything", "/"));
    }

    #[test]
    fn atoi_and_strtol_follow_c() {
        assert_eq!(atoi("12x"), 12);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("-1"), -1);
        assert_eq!(strtol_u32("10"), (10, ""));
        assert_eq!(strtol_u32("0x10"), (16, ""));
        assert_eq!(strtol_u32("010"), (8, ""));
        assert_eq!(strtol_u32("08"), (0, "8"));
        assert_eq!(strtol_u32("-1"), (u32::MAX, ""));
        assert_eq!(strtol_u32("z"), (0, "z"));
    }
}
