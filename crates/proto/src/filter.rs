use serde::{Deserialize, Serialize};

/// The JSON filter language: `{"eq": [attr, value]}`, `{"sub": [attr, value]}` (today's
/// Kanidm calls it `cnt`), `{"stw": [attr, prefix]}`, `{"enw": [attr, suffix]}`,
/// `{"lt": [attr, value]}`, `{"pres": attr}`, `{"and": [..]}`, `{"or": [..]}`,
/// `{"andnot": f}` and `"self"`.
///
/// Capitalised tags are accepted as aliases because upstream clients emit them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Filter {
    #[serde(alias = "Eq")]
    Eq(String, String),
    #[serde(alias = "Sub", alias = "cnt", alias = "Cnt")]
    Sub(String, String),
    /// A value starts with this text (case as the attribute's syntax compares).
    #[serde(alias = "Stw")]
    Stw(String, String),
    /// A value ends with this text.
    #[serde(alias = "Enw")]
    Enw(String, String),
    /// A value orders before this one (numbers, times and text of the attribute's syntax).
    #[serde(alias = "Lt", alias = "LessThan")]
    Lt(String, String),
    #[serde(alias = "Pres")]
    Pres(String),
    #[serde(alias = "Or")]
    Or(Vec<Filter>),
    #[serde(alias = "And")]
    And(Vec<Filter>),
    #[serde(alias = "AndNot")]
    AndNot(Box<Filter>),
    #[serde(rename = "self", alias = "Self")]
    SelfUuid,
}

impl Filter {
    /// Nesting depth: a leaf is 1.
    pub fn depth(&self) -> usize {
        match self {
            Filter::Or(fs) | Filter::And(fs) => 1 + fs.iter().map(Filter::depth).max().unwrap_or(0),
            Filter::AndNot(f) => 1 + f.depth(),
            _ => 1,
        }
    }

    /// Number of filter elements, counting every node.
    pub fn elements(&self) -> usize {
        match self {
            Filter::Or(fs) | Filter::And(fs) => 1 + fs.iter().map(Filter::elements).sum::<usize>(),
            Filter::AndNot(f) => 1 + f.elements(),
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Filter;

    #[test]
    fn json_shapes_match_the_document() {
        let f: Filter = serde_json::from_str(
            r#"{"or": [ {"eq": ["name", "a"]}, {"and": [{"pres": "class"}, {"andnot": {"sub": ["name","x"]}}]}, "self" ]}"#,
        )
        .unwrap();
        assert_eq!(f.depth(), 4);
        assert_eq!(f.elements(), 7);
        let again: Filter = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(f, again);
        let upper: Filter = serde_json::from_str(r#"{"Eq": ["name", "a"]}"#).unwrap();
        assert_eq!(upper, Filter::Eq("name".into(), "a".into()));
        let cnt: Filter = serde_json::from_str(r#"{"cnt": ["name", "a"]}"#).unwrap();
        assert_eq!(cnt, Filter::Sub("name".into(), "a".into()));
    }
}
