//! The xl.cfg grammar (xl's `libxlu_cfg_l.l`/`libxlu_cfg_y.y`): `KEY = VALUE` and `KEY += VALUE`
//! statements ended by a newline or `;`, values that are strings, numbers or (nested) lists,
//! `#` comments; later assignments override earlier ones. Untyped: [`crate::config`] gives the
//! settings their meaning.

use std::fmt;

/// One value, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A quoted string, unescaped.
    String(String),
    /// A number token (`[0-9][0-9a-fx]*`), kept as text as xl keeps it (`0x10` and `010` are
    /// read by the typed layer, with C's `strtol(…, 0)` rules).
    Number(String),
    /// `[ v, v, … ]`.
    List(Vec<Value>),
}

impl Value {
    /// The text of a string or number (they are interchangeable in xl.cfg), `None` for a list.
    pub fn atom(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::Number(s) => Some(s),
            Value::List(_) => None,
        }
    }
}

/// Writes a value in xl.cfg syntax (strings double-quoted with xl's escapes).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) => f.write_str(n),
            Value::String(s) => f.write_str(&quote(s)),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// `s` as an xl.cfg double-quoted string.
pub fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            '\x07' => o.push_str("\\a"),
            '\x08' => o.push_str("\\b"),
            '\x0c' => o.push_str("\\f"),
            '\x0b' => o.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// One assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The key.
    pub key: String,
    /// Its value (after `+=` appends).
    pub value: Value,
    /// The source it came from (file name, or `command line`).
    pub source: String,
    /// 1-based line of its last assignment.
    pub line: u32,
}

/// A parsed configuration: each key's final value, in order of first appearance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cfg {
    /// The settings.
    pub settings: Vec<Setting>,
}

/// A syntax error, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {msg}")]
pub struct SyntaxError {
    /// File name or `command line`.
    pub source_name: String,
    /// 1-based line.
    pub line: u32,
    /// What was wrong.
    pub msg: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Number(String),
    Str(String),
    Comma,
    Open,
    Close,
    Assign,
    Append,
    Semi,
    Newline,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    name: &'a str,
}

impl<'a> Lexer<'a> {
    fn err(&self, msg: impl Into<String>) -> SyntaxError {
        SyntaxError {
            source_name: self.name.to_string(),
            line: self.line,
            msg: msg.into(),
        }
    }

    /// The next token and the line it is on; `None` at the end.
    fn next(&mut self) -> Result<Option<(Tok, u32)>, SyntaxError> {
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                return Ok(None);
            };
            let line = self.line;
            match c {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    return Ok(Some((Tok::Newline, line)));
                }
                b'#' => {
                    while self.src.get(self.pos).is_some_and(|&c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                b',' | b'[' | b']' | b'=' | b';' => {
                    self.pos += 1;
                    let t = match c {
                        b',' => Tok::Comma,
                        b'[' => Tok::Open,
                        b']' => Tok::Close,
                        b'=' => Tok::Assign,
                        _ => Tok::Semi,
                    };
                    return Ok(Some((t, line)));
                }
                b'+' if self.src.get(self.pos + 1) == Some(&b'=') => {
                    self.pos += 2;
                    return Ok(Some((Tok::Append, line)));
                }
                b'a'..=b'z' => {
                    let s = self.take(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.'));
                    return Ok(Some((Tok::Ident(s), line)));
                }
                b'0'..=b'9' => {
                    let s = self.take(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f' | b'x'));
                    return Ok(Some((Tok::Number(s), line)));
                }
                b'"' | b'\'' => return Ok(Some((Tok::Str(self.string(c)?), line))),
                _ => {
                    let word = self.take(|c| !matches!(c, b' ' | b'\t' | b'\n'));
                    let hint = if matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b':') {
                        " (this looks like Python, which xl.cfg is not)"
                    } else if c.is_ascii_uppercase() {
                        " (keys are lower case)"
                    } else {
                        " (strings need quotes)"
                    };
                    return Err(self.err(format!("lexical error at \"{word}\"{hint}")));
                }
            }
        }
    }

    fn take(&mut self, ok: impl Fn(u8) -> bool) -> String {
        let start = self.pos;
        while self.src.get(self.pos).is_some_and(|&c| ok(c)) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.src[start..self.pos]).into_owned()
    }

    /// A quoted string starting at `self.pos` (on its opening quote), with xl's escapes.
    fn string(&mut self, quote: u8) -> Result<String, SyntaxError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.src.get(self.pos) else {
                return Err(self.err("unterminated string"));
            };
            self.pos += 1;
            match c {
                b'\n' => {
                    self.pos -= 1;
                    return Err(self.err("unterminated string (strings end on their line)"));
                }
                c if c == quote => break,
                b'\\' => {
                    let Some(&e) = self.src.get(self.pos) else {
                        return Err(self.err("unterminated string"));
                    };
                    if e == b'\n' {
                        return Err(self.err("unterminated string (strings end on their line)"));
                    }
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'a' => out.push(0x07),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'v' => out.push(0x0b),
                        b'x' => {
                            let h = self.take_max(2, |c| c.is_ascii_hexdigit());
                            if h.is_empty() {
                                return Err(self.err("\\x in a string needs hex digits"));
                            }
                            out.push(u8::from_str_radix(&h, 16).unwrap_or(0));
                        }
                        b'0'..=b'7' => {
                            self.pos -= 1;
                            let o = self.take_max(3, |c| matches!(c, b'0'..=b'7'));
                            let v = u32::from_str_radix(&o, 8).unwrap_or(0);
                            let Ok(v) = u8::try_from(v) else {
                                return Err(self.err(format!("octal escape \\{o} is over \\377")));
                            };
                            out.push(v);
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not valid UTF-8"))
    }

    fn take_max(&mut self, max: usize, ok: impl Fn(u8) -> bool) -> String {
        let start = self.pos;
        while self.pos - start < max && self.src.get(self.pos).is_some_and(|&c| ok(c)) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.src[start..self.pos]).into_owned()
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<Option<(Tok, u32)>>,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<Option<&(Tok, u32)>, SyntaxError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next()?);
        }
        Ok(self.peeked.as_ref().and_then(|p| p.as_ref()))
    }

    fn bump(&mut self) -> Result<Option<(Tok, u32)>, SyntaxError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex.next(),
        }
    }

    fn err_at(&self, line: u32, msg: impl Into<String>) -> SyntaxError {
        SyntaxError {
            source_name: self.lex.name.to_string(),
            line,
            msg: msg.into(),
        }
    }

    fn value(&mut self, line: u32) -> Result<Value, SyntaxError> {
        match self.bump()? {
            Some((Tok::Str(s), _)) => Ok(Value::String(s)),
            Some((Tok::Number(n), _)) => Ok(Value::Number(n)),
            Some((Tok::Open, _)) => {
                let mut items = Vec::new();
                loop {
                    self.skip_newlines()?;
                    if let Some((Tok::Close, _)) = self.peek()? {
                        self.bump()?;
                        return Ok(Value::List(items));
                    }
                    let l = self.peek()?.map_or(line, |t| t.1);
                    items.push(self.value(l)?);
                    self.skip_newlines()?;
                    match self.bump()? {
                        Some((Tok::Comma, _)) => {}
                        Some((Tok::Close, _)) => return Ok(Value::List(items)),
                        Some((t, l)) => {
                            return Err(
                                self.err_at(l, format!("expected ',' or ']', got {}", show(&t)))
                            )
                        }
                        None => return Err(self.err_at(self.lex.line, "unterminated list")),
                    }
                }
            }
            Some((t, l)) => Err(self.err_at(l, format!("expected a value, got {}", show(&t)))),
            None => Err(self.err_at(line, "expected a value, got the end of the file")),
        }
    }

    fn skip_newlines(&mut self) -> Result<(), SyntaxError> {
        while let Some((Tok::Newline, _)) = self.peek()? {
            self.bump()?;
        }
        Ok(())
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("\"{s}\""),
        Tok::Number(s) => format!("number {s}"),
        Tok::Str(s) => quote(s),
        Tok::Comma => "','".into(),
        Tok::Open => "'['".into(),
        Tok::Close => "']'".into(),
        Tok::Assign => "'='".into(),
        Tok::Append => "'+='".into(),
        Tok::Semi => "';'".into(),
        Tok::Newline => "the end of the line".into(),
    }
}

impl Cfg {
    /// Parses `text` (named `source` in errors) on top of what is already set: a later
    /// assignment replaces a value, `+=` appends to a list or a string.
    pub fn parse_into(&mut self, source: &str, text: &str) -> Result<(), SyntaxError> {
        let mut p = Parser {
            lex: Lexer {
                src: text.as_bytes(),
                pos: 0,
                line: 1,
                name: source,
            },
            peeked: None,
        };
        loop {
            let Some((tok, line)) = p.bump()? else {
                return Ok(());
            };
            let key = match tok {
                Tok::Newline | Tok::Semi => continue,
                Tok::Ident(k) => k,
                t => return Err(p.err_at(line, format!("expected a key, got {}", show(&t)))),
            };
            let append = match p.bump()? {
                Some((Tok::Assign, _)) => false,
                Some((Tok::Append, _)) => true,
                Some((t, l)) => {
                    return Err(
                        p.err_at(l, format!("expected '=' after \"{key}\", got {}", show(&t)))
                    )
                }
                None => return Err(p.err_at(line, format!("expected '=' after \"{key}\""))),
            };
            let value = p.value(line)?;
            match p.bump()? {
                None | Some((Tok::Newline | Tok::Semi, _)) => {}
                Some((t, l)) => {
                    return Err(p.err_at(
                        l,
                        format!("expected the end of the line or ';', got {}", show(&t)),
                    ))
                }
            }
            self.set(source, line, key, value, append)
                .map_err(|m| p.err_at(line, m))?;
        }
    }

    /// Parses one source.
    pub fn parse(source: &str, text: &str) -> Result<Cfg, SyntaxError> {
        let mut c = Cfg::default();
        c.parse_into(source, text)?;
        Ok(c)
    }

    fn set(
        &mut self,
        source: &str,
        line: u32,
        key: String,
        value: Value,
        append: bool,
    ) -> Result<(), String> {
        if let Some(s) = self.settings.iter_mut().find(|s| s.key == key) {
            s.value = if append {
                match (std::mem::replace(&mut s.value, Value::List(vec![])), value) {
                    (Value::List(mut a), Value::List(b)) => {
                        a.extend(b);
                        Value::List(a)
                    }
                    (Value::String(a) | Value::Number(a), Value::String(b) | Value::Number(b)) => {
                        Value::String(a + &b)
                    }
                    _ => {
                        return Err(format!(
                            "{key} += : cannot append a list to a string, or a string to a list"
                        ))
                    }
                }
            } else {
                value
            };
            s.source = source.to_string();
            s.line = line;
        } else {
            self.settings.push(Setting {
                key,
                value,
                source: source.to_string(),
                line,
            });
        }
        Ok(())
    }

    /// A key's final setting.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }
}

/// Parses the `KEY=VALUE` overrides of `xl create FILE KEY=VALUE…` as xl does: each one a line
/// of a second source named `command line`, applied after the file.
pub fn apply_overrides(cfg: &mut Cfg, overrides: &[String]) -> Result<(), SyntaxError> {
    cfg.parse_into("command line", &overrides.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        Cfg::parse("t", text).expect("parses").settings[0]
            .value
            .clone()
    }

    fn err(text: &str) -> String {
        Cfg::parse("t.cfg", text).expect_err("rejected").to_string()
    }

    #[test]
    fn parse_strings_numbers_lists() {
        assert_eq!(one("a = \"x y\""), Value::String("x y".into()));
        assert_eq!(one("a = 'x\"y'"), Value::String("x\"y".into()));
        assert_eq!(one("a = 0x10"), Value::Number("0x10".into()));
        assert_eq!(
            one("a = [ 'a',\n  'b', # c\n ]"),
            Value::List(vec![Value::String("a".into()), Value::String("b".into())])
        );
        assert_eq!(one("a = [[1],[]]").to_string(), "[[1], []]");
    }

    #[test]
    fn parse_escapes_as_xl() {
        assert_eq!(
            one(r#"a = "\n\t\\\"\x41\101\q""#),
            Value::String("\n\t\\\"AAq".into())
        );
    }

    #[test]
    fn parse_separators_comments_and_override() {
        let c = Cfg::parse("t", "# c\na=1; b=2 # x\n\na = 3\n").expect("parses");
        assert_eq!(
            c.get("a").map(|s| (&s.value, s.line)),
            Some((&Value::Number("3".into()), 4))
        );
        assert_eq!(c.get("b").map(|s| s.line), Some(2));
    }

    #[test]
    fn parse_append_list_and_string() {
        let c = Cfg::parse("t", "d = ['a']\nd += ['b']\ns = 'x'\ns += 'y'\nn += [1]").expect("ok");
        assert_eq!(
            c.get("d").map(|s| s.value.to_string()).as_deref(),
            Some("[\"a\", \"b\"]")
        );
        assert_eq!(
            c.get("s").map(|s| s.value.clone()),
            Some(Value::String("xy".into()))
        );
        assert_eq!(
            c.get("n").map(|s| s.value.to_string()).as_deref(),
            Some("[1]")
        );
    }

    #[test]
    fn parse_overrides_are_a_later_source() {
        let mut c = Cfg::parse("f", "memory = 128\n").expect("ok");
        apply_overrides(&mut c, &["memory=256".into(), "vcpus=2".into()]).expect("ok");
        let m = c.get("memory").expect("set");
        assert_eq!(
            (m.value.atom(), m.source.as_str(), m.line),
            (Some("256"), "command line", 1)
        );
        assert_eq!(c.get("vcpus").map(|s| s.line), Some(2));
    }

    #[test]
    fn parse_python_is_lexical_error() {
        assert_eq!(
            err("a = 1\nb = (1, 2)"),
            "t.cfg:2: lexical error at \"(1,\" (this looks like Python, which xl.cfg is not)"
        );
    }

    #[test]
    fn parse_unquoted_word_is_error() {
        assert!(err("a = pv").starts_with("t.cfg:1: expected a value, got \"pv\""));
        assert!(err("Name = 'x'").contains("keys are lower case"));
    }

    #[test]
    fn parse_unterminated_string_is_error() {
        assert_eq!(
            err("a = 'x\nb=1"),
            "t.cfg:1: unterminated string (strings end on their line)"
        );
        assert_eq!(err("a = 'x"), "t.cfg:1: unterminated string");
    }

    #[test]
    fn parse_unterminated_list_is_error() {
        assert_eq!(err("a = [1,\n2"), "t.cfg:2: unterminated list");
        assert!(err("a = [1 2]").contains("expected ',' or ']'"));
    }

    #[test]
    fn parse_missing_equals_or_value_is_error() {
        assert!(err("a 1").contains("expected '=' after \"a\""));
        assert!(err("a =").contains("expected a value"));
        assert!(err("a = \n1").contains("expected a value, got the end of the line"));
        assert!(err("= 1").contains("expected a key"));
        assert!(err("a = 1 2").contains("expected the end of the line"));
    }

    #[test]
    fn parse_bad_escapes_are_errors() {
        assert!(err(r#"a = "\xzz""#).contains("hex digits"));
        assert!(err(r#"a = "\777""#).contains("over \\377"));
    }

    #[test]
    fn parse_bad_bytes_are_errors() {
        assert_eq!(err(r#"a = "\xff""#), "t.cfg:1: string is not valid UTF-8");
        assert_eq!(err("a = 'x\\"), "t.cfg:1: unterminated string");
        assert_eq!(
            err("a = 'x\\\n'"),
            "t.cfg:1: unterminated string (strings end on their line)"
        );
        assert!(err("a = 1 # c\nb = $").starts_with("t.cfg:2: lexical error at \"$\""));
    }

    #[test]
    fn parse_append_mismatch_is_error() {
        assert!(err("a = [1]\na += 'x'").starts_with("t.cfg:2: a += "));
    }

    #[test]
    fn quote_round_trips() {
        for s in ["", "a\"b'c\\", "\n\t\r\x07\x08\x0c\x0b\x01\x7f", "ünï"] {
            assert_eq!(one(&format!("a = {}", quote(s))), Value::String(s.into()));
        }
    }
}
