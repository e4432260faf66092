//! Looking up entries the way people name them.

/// Matches an entry by name, spn or uuid.
pub fn name_filter(id: &str) -> idm_proto::Filter {
    let mut terms = vec![idm_proto::Filter::Eq("name".into(), id.into())];
    if id.contains('@') {
        terms.push(idm_proto::Filter::Eq("spn".into(), id.into()));
    }
    if uuid::Uuid::parse_str(id).is_ok() {
        terms.push(idm_proto::Filter::Eq("uuid".into(), id.into()));
    }
    idm_proto::Filter::Or(terms)
}
