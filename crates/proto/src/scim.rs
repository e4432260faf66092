//! SCIM (RFC 7644) as Kanidm's clients speak it on `/scim/v1/*`: the filter grammar of
//! `?filter=`, its translation to the JSON filter language, and the list response.
//!
//! The grammar follows RFC 7644 §3.4.2.2: `attrPath op value`, `attrPath pr`, `not (…)`,
//! `(…)`, `and` binding tighter than `or`, and value paths `attr[subFilter]`. Keywords and
//! operators are matched without regard to case, as the RFC says; values are JSON, so strings
//! are quoted (`name eq "admin"`).

use crate::Filter;
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;
use std::fmt;
use thiserror::Error;

/// Longest filter text accepted, in bytes: a filter is a query parameter, not a document.
pub const SCIM_FILTER_MAX_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses, `not` and value paths; the parser recurses once per level.
/// Kanidm's CLI prints `a and b and c` as `((a and b) and c)`, one level per term, and allows
/// 128 levels itself, so this matches it.
pub const SCIM_FILTER_MAX_NESTING: usize = 128;

/// `attr` or `attr.subattr`. Names are kept as written; the server lowercases them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    pub attr: String,
    pub sub: Option<String>,
}

/// A comparison operator of RFC 7644 table 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CompareOp {
    const ALL: [(&'static str, CompareOp); 9] = [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("lt", CompareOp::Lt),
        ("ge", CompareOp::Ge),
        ("le", CompareOp::Le),
    ];

    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, op)| *op == self).map(|(n, _)| *n).unwrap_or("eq")
    }
}

/// A parsed SCIM filter. `And`/`Or` are n-ary so a long chain of terms stays a shallow tree.
#[derive(Clone, Debug, PartialEq)]
pub enum ScimFilter {
    Or(Vec<ScimFilter>),
    And(Vec<ScimFilter>),
    Not(Box<ScimFilter>),
    Present(AttrPath),
    Compare(AttrPath, CompareOp, JsonValue),
    /// `attr[filter]`: the inner filter's paths name sub-attributes of `attr`'s values.
    ValuePath(String, Box<ScimFilter>),
}

/// Why a filter text was refused: where, and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("invalid SCIM filter at character {position}: {reason}")]
pub struct ScimFilterError {
    /// Character offset (0-based) into the filter text.
    pub position: usize,
    pub reason: String,
}

impl std::str::FromStr for ScimFilter {
    type Err = ScimFilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > SCIM_FILTER_MAX_LEN {
            return Err(ScimFilterError {
                position: SCIM_FILTER_MAX_LEN,
                reason: format!("the filter is longer than {SCIM_FILTER_MAX_LEN} bytes"),
            });
        }
        let mut p = Parser { chars: text.chars().collect(), pos: 0 };
        p.skip_space();
        let f = p.or_expr(0)?;
        p.skip_space();
        if p.pos < p.chars.len() {
            return Err(p.error("expected 'and', 'or' or the end of the filter"));
        }
        Ok(f)
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn error(&self, reason: impl Into<String>) -> ScimFilterError {
        ScimFilterError { position: self.pos, reason: reason.into() }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|c| c == ' ' || c == '\t' || c == '\n') {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Consumes `word` (any case) when it stands alone: followed by a space, `(` or the end.
    fn keyword(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        let Some(candidate) = self.chars.get(self.pos..self.pos + n) else {
            return false;
        };
        let matches = candidate.iter().zip(word.chars()).all(|(a, b)| a.eq_ignore_ascii_case(&b));
        let boundary = self.chars.get(self.pos + n).is_none_or(|c| !is_name_char(*c));
        if matches && boundary {
            self.pos += n;
        }
        matches && boundary
    }

    /// Consumes ` <word> ` between two operands, leaving the position unchanged when the
    /// word is not there. After the word comes a space or `(`.
    fn infix(&mut self, word: &str) -> Result<bool, ScimFilterError> {
        let start = self.pos;
        if !(self.skip_space() && self.keyword(word)) {
            self.pos = start;
            return Ok(false);
        }
        if !self.skip_space() && self.peek() != Some('(') {
            return Err(self.error(format!("expected a filter after '{word}'")));
        }
        Ok(true)
    }

    fn or_expr(&mut self, nesting: usize) -> Result<ScimFilter, ScimFilterError> {
        let mut terms = vec![self.and_expr(nesting)?];
        while self.infix("or")? {
            terms.push(self.and_expr(nesting)?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { ScimFilter::Or(terms) })
    }

    fn and_expr(&mut self, nesting: usize) -> Result<ScimFilter, ScimFilterError> {
        let mut terms = vec![self.unary(nesting)?];
        while self.infix("and")? {
            terms.push(self.unary(nesting)?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { ScimFilter::And(terms) })
    }

    fn nested(&mut self, nesting: usize) -> Result<ScimFilter, ScimFilterError> {
        if nesting >= SCIM_FILTER_MAX_NESTING {
            return Err(self.error(format!("nested deeper than {SCIM_FILTER_MAX_NESTING} levels")));
        }
        self.skip_space();
        let f = self.or_expr(nesting + 1)?;
        self.skip_space();
        Ok(f)
    }

    fn expect(&mut self, c: char) -> Result<(), ScimFilterError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected '{c}'")))
        }
    }

    fn unary(&mut self, nesting: usize) -> Result<ScimFilter, ScimFilterError> {
        if self.peek() == Some('(') {
            self.pos += 1;
            let f = self.nested(nesting)?;
            self.expect(')')?;
            return Ok(f);
        }
        let start = self.pos;
        if self.keyword("not") {
            self.skip_space();
            if self.peek() == Some('(') {
                self.pos += 1;
                let f = self.nested(nesting)?;
                self.expect(')')?;
                return Ok(ScimFilter::Not(Box::new(f)));
            }
            // An attribute may be called "not"; only "not (" is the operator.
            self.pos = start;
        }
        let path = self.attr_path()?;
        if self.peek() == Some('[') {
            if path.sub.is_some() {
                return Err(self.error("a value path cannot follow a sub-attribute"));
            }
            self.pos += 1;
            let inner = self.nested(nesting)?;
            self.expect(']')?;
            return Ok(ScimFilter::ValuePath(path.attr, Box::new(inner)));
        }
        if !self.skip_space() {
            return Err(self.error("expected a space and an operator after the attribute"));
        }
        if self.keyword("pr") {
            return Ok(ScimFilter::Present(path));
        }
        let Some(op) = CompareOp::ALL.iter().find_map(|(name, op)| self.keyword(name).then_some(*op)) else {
            return Err(self.error("expected an operator: pr, eq, ne, co, sw, ew, gt, lt, ge or le"));
        };
        if !self.skip_space() {
            return Err(self.error("expected a space and a value after the operator"));
        }
        let value = self.value()?;
        Ok(ScimFilter::Compare(path, op, value))
    }

    fn name(&mut self) -> Result<String, ScimFilterError> {
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            return Err(self.error("expected an attribute name"));
        }
        let start = self.pos;
        while self.peek().is_some_and(is_name_char) {
            self.pos += 1;
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn attr_path(&mut self) -> Result<AttrPath, ScimFilterError> {
        let attr = self.name()?;
        let sub = if self.peek() == Some('.') {
            self.pos += 1;
            Some(self.name()?)
        } else {
            None
        };
        Ok(AttrPath { attr, sub })
    }

    /// A JSON value: a quoted string with JSON escapes, or a bare `true`, `false`, `null` or number.
    fn value(&mut self) -> Result<JsonValue, ScimFilterError> {
        let start = self.pos;
        if self.peek() == Some('"') {
            self.pos += 1;
            loop {
                match self.peek() {
                    None => {
                        self.pos = start;
                        return Err(self.error("the quoted value is not closed"));
                    }
                    Some('\\') => self.pos += 2,
                    Some('"') => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => self.pos += 1,
                }
            }
        } else {
            while self.peek().is_some_and(|c| !matches!(c, ' ' | '\t' | '\n' | '(' | ')' | '[' | ']')) {
                self.pos += 1;
            }
        }
        let text: String = self.chars[start..self.pos.min(self.chars.len())].iter().collect();
        serde_json::from_str(&text).map_err(|_| ScimFilterError {
            position: start,
            reason: "expected a JSON value: a quoted string, a number, true, false or null".to_string(),
        })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sub {
            Some(s) => write!(f, "{}.{s}", self.attr),
            None => f.write_str(&self.attr),
        }
    }
}

/// Fully parenthesised, as Kanidm's CLI prints a filter before sending it.
impl fmt::Display for ScimFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, terms: &[ScimFilter], word: &str| {
            f.write_str("(")?;
            for (i, t) in terms.iter().enumerate() {
                if i > 0 {
                    write!(f, " {word} ")?;
                }
                write!(f, "{t}")?;
            }
            f.write_str(")")
        };
        match self {
            ScimFilter::Or(terms) => join(f, terms, "or"),
            ScimFilter::And(terms) => join(f, terms, "and"),
            ScimFilter::Not(inner) => write!(f, "(not ({inner}))"),
            ScimFilter::Present(p) => write!(f, "({p} pr)"),
            ScimFilter::Compare(p, op, v) => write!(f, "({p} {} {v})", op.name()),
            ScimFilter::ValuePath(a, inner) => write!(f, "{a}[{inner}]"),
        }
    }
}

impl ScimFilter {
    /// The same question in the JSON filter language, which the engine validates against
    /// schema and the caller's limits. Value paths and sub-attributes have no counterpart
    /// there and are refused by name.
    ///
    /// `ne` is RFC 7644's "not identical": the attribute is present and no value equals.
    /// The orderings are built from `lt` and `eq` on present attributes.
    pub fn to_filter(&self) -> Result<Filter, ScimFilterError> {
        let refuse = |reason: String| ScimFilterError { position: 0, reason };
        Ok(match self {
            ScimFilter::Or(terms) => Filter::Or(terms.iter().map(Self::to_filter).collect::<Result<_, _>>()?),
            ScimFilter::And(terms) => Filter::And(terms.iter().map(Self::to_filter).collect::<Result<_, _>>()?),
            ScimFilter::Not(inner) => Filter::AndNot(Box::new(inner.to_filter()?)),
            ScimFilter::ValuePath(a, _) => {
                return Err(refuse(format!("value path filters ({a}[…]) are not supported; filter on {a} itself")));
            }
            ScimFilter::Present(p) | ScimFilter::Compare(p, _, _) if p.sub.is_some() => {
                return Err(refuse(format!("sub-attribute filters ({p}) are not supported; filter on {}", p.attr)));
            }
            ScimFilter::Present(p) => Filter::Pres(p.attr.clone()),
            ScimFilter::Compare(p, op, v) => {
                let a = p.attr.clone();
                let v = scalar(&a, v).map_err(refuse)?;
                let eq = || Filter::Eq(a.clone(), v.clone());
                let lt = || Filter::Lt(a.clone(), v.clone());
                let present_and_not =
                    |f: Filter| Filter::And(vec![Filter::Pres(a.clone()), Filter::AndNot(Box::new(f))]);
                match op {
                    CompareOp::Eq => eq(),
                    CompareOp::Ne => present_and_not(eq()),
                    CompareOp::Co => Filter::Sub(a.clone(), v.clone()),
                    CompareOp::Sw => Filter::Stw(a.clone(), v.clone()),
                    CompareOp::Ew => Filter::Enw(a.clone(), v.clone()),
                    CompareOp::Lt => lt(),
                    CompareOp::Le => Filter::Or(vec![lt(), eq()]),
                    CompareOp::Gt => present_and_not(Filter::Or(vec![lt(), eq()])),
                    CompareOp::Ge => present_and_not(lt()),
                }
            }
        })
    }
}

/// A filter value as the text the JSON filter language carries (RFC 7644's compValue:
/// a string, number, boolean or null).
fn scalar(attr: &str, v: &JsonValue) -> Result<String, String> {
    match v {
        JsonValue::String(s) => Ok(s.clone()),
        JsonValue::Bool(b) => Ok(b.to_string()),
        JsonValue::Number(n) => Ok(n.to_string()),
        JsonValue::Null => Err(format!("{attr}: null cannot be compared; use '{attr} pr' or 'not ({attr} pr)'")),
        JsonValue::Array(_) | JsonValue::Object(_) => Err(format!("{attr}: compare with a string, number or boolean")),
    }
}

/// `GET /scim/v1/<resource>`'s answer. Key names as Kanidm sends them (`resources`, lowercase).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScimListResponse {
    pub schemas: Vec<String>,
    pub total_results: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_per_page: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    pub resources: Vec<serde_json::Map<String, JsonValue>>,
}

/// The RFC 7644 list response schema.
pub const SCIM_LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// The schema every entry of `/scim/v1/Entry` declares: Kanidm's own attributes, named as
/// its schema names them.
pub const SCIM_ENTRY_SCHEMA: &str = "urn:ietf:params:scim:schemas:kanidm:1.0:Entry";

/// The query parameters of a SCIM search (RFC 7644 §3.4.2), as Kanidm's clients send them.
/// Lists are comma separated; numbers follow the RFC (an index below 1 is 1, a negative count
/// is 0).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScimQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded_attributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_index: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Kanidm's request to annotate entries with the caller's effective access. Accepted so
    /// `false` works; `true` is refused by name rather than ignored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ext_access_check: bool,
}

impl ScimQuery {
    /// The keys of this struct as they appear on the wire: a PUT body carries them next to
    /// the attributes it sets.
    pub const KEYS: [&'static str; 8] =
        ["filter", "attributes", "excludedAttributes", "sortBy", "sortOrder", "startIndex", "count", "extAccessCheck"];

    /// Whether any listing option (filter, sorting, paging) is set: a single entry has none.
    pub fn lists(&self) -> bool {
        self.filter.is_some()
            || self.sort_by.is_some()
            || self.sort_order.is_some()
            || self.start_index.is_some()
            || self.count.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ScimFilter, ScimFilterError> {
        s.parse()
    }

    #[test]
    fn grammar_and_reprinting() {
        for (input, printed) in [
            (r#"name eq "admin""#, r#"(name eq "admin")"#),
            (r#"(name eq "admin")"#, r#"(name eq "admin")"#),
            (r#"class eq "person" and name pr"#, r#"((class eq "person") and (name pr))"#),
            (r#"a pr or b pr and c pr"#, "((a pr) or ((b pr) and (c pr)))"),
            (r#"(a pr or b pr) and c pr"#, "(((a pr) or (b pr)) and (c pr))"),
            (r#"NOT (a PR) AND b Gt 5"#, "((not ((a pr))) and (b gt 5))"),
            (r#"not(a pr)"#, "(not ((a pr)))"),
            (r#"emails[type eq "work" and value co "@x"]"#, r#"emails[((type eq "work") and (value co "@x"))]"#),
            (r#"name.given sw "J""#, r#"(name.given sw "J")"#),
            (r#"enabled eq true"#, "(enabled eq true)"),
            (r#"displayname eq "say \"hi\"""#, r#"(displayname eq "say \"hi\"")"#),
            (r#"notes pr"#, "(notes pr)"),
            (r#"order pr"#, "(order pr)"),
        ] {
            let f = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(f.to_string(), printed, "{input}");
            // What we print, we parse back to the same tree.
            assert_eq!(parse(printed).unwrap().to_string(), printed);
        }
    }

    #[test]
    fn refusals_name_the_position() {
        for (input, position) in [
            ("", 0),
            ("name", 4),
            ("name eq", 7),
            ("name eq admin", 8),
            (r#"name eq "admin"#, 8),
            (r#"name zz "a""#, 5),
            (r#"(name pr"#, 8),
            (r#"name pr and"#, 11),
            (r#"name pr and "#, 12),
            (r#"name pr xor b pr"#, 8),
            ("1abc pr", 0),
            (r#"a.b[c pr]"#, 3),
        ] {
            let e = parse(input).expect_err(input);
            assert_eq!(e.position, position, "{input}: {e}");
        }
    }

    #[test]
    fn limits_hold_before_recursion() {
        let n = SCIM_FILTER_MAX_NESTING;
        let fits = format!("{}a pr{}", "(".repeat(n - 1), ")".repeat(n - 1));
        assert!(parse(&fits).is_ok());
        let deep = format!("{}a pr{}", "(".repeat(n + 1), ")".repeat(n + 1));
        assert!(parse(&deep).unwrap_err().reason.contains("nested deeper"));
        let nots = format!("{}a pr{}", "not (".repeat(n + 1), ")".repeat(n + 1));
        assert!(parse(&nots).unwrap_err().reason.contains("nested deeper"));
        let long = "a pr or ".repeat(2000) + "a pr";
        assert!(parse(&long).unwrap_err().reason.contains("longer than"));
        // A long flat chain is fine and stays a flat tree.
        let chain = "a pr and ".repeat(500) + "a pr";
        match parse(&chain).unwrap() {
            ScimFilter::And(t) => assert_eq!(t.len(), 501),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn translation_to_json_filters() {
        let f = |s: &str| parse(s).unwrap().to_filter();
        assert_eq!(f(r#"name eq "admin""#).unwrap(), Filter::Eq("name".into(), "admin".into()));
        assert_eq!(
            f(r#"name ne "admin""#).unwrap(),
            Filter::And(vec![
                Filter::Pres("name".into()),
                Filter::AndNot(Box::new(Filter::Eq("name".into(), "admin".into())))
            ])
        );
        assert_eq!(
            f("gidnumber ge 1000").unwrap().to_string_for_test(),
            "and(pres(gidnumber),andnot(lt(gidnumber,1000)))"
        );
        assert!(f(r#"emails[type eq "work"]"#).unwrap_err().reason.contains("value path"));
        assert!(f(r#"name.given eq "x""#).unwrap_err().reason.contains("sub-attribute"));
        assert!(f("name eq null").unwrap_err().reason.contains("null"));
        assert!(parse(r#"name eq ["a"]"#).is_err());
        assert!(f(r#"member eq {"uuid":"u1"}"#).unwrap_err().reason.contains("compare with"));
    }

    impl Filter {
        fn to_string_for_test(&self) -> String {
            match self {
                Filter::And(t) => {
                    format!("and({})", t.iter().map(Filter::to_string_for_test).collect::<Vec<_>>().join(","))
                }
                Filter::Or(t) => {
                    format!("or({})", t.iter().map(Filter::to_string_for_test).collect::<Vec<_>>().join(","))
                }
                Filter::AndNot(f) => format!("andnot({})", f.to_string_for_test()),
                Filter::Pres(a) => format!("pres({a})"),
                Filter::Lt(a, v) => format!("lt({a},{v})"),
                other => format!("{other:?}"),
            }
        }
    }
}
