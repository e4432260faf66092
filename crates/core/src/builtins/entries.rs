use super::*;
use crate::value::Value;

/// (name, uuid, display name, description)
const ACCOUNTS: &[(&str, Uuid, &str, &str)] = &[
    ("admin", UUID_ADMIN, "System Administrator", "Built-in system administrator account."),
    ("idm_admin", UUID_IDM_ADMIN, "IDM Administrator", "Built-in identity administrator account."),
    ("anonymous", UUID_ANONYMOUS, "Anonymous", "Built-in account for unauthenticated reads."),
];

/// (name, uuid suffix, description, direct members)
const GROUPS: &[(&str, u128, &str, &[u128])] = &[
    ("idm_admins", 0x0001, "Manage people, accounts and groups that are not high privilege.", &[0x0018]),
    (
        "system_admins",
        0x0019,
        "Manage the system: schema, access controls, high-privilege accounts and groups.",
        &[0x0000],
    ),
    ("domain_admins", 0x0020, "Manage the domain entry.", &[0x0000]),
    ("idm_people_read_priv", 0x0002, "Read personal details of people.", &[0x0003]),
    ("idm_people_write_priv", 0x0003, "Change personal details of people.", &[0x0013]),
    ("idm_people_manage_priv", 0x0013, "Delete people.", &[0x0001]),
    ("idm_person_account_create_priv", 0x0040, "Create person accounts.", &[0x0001]),
    ("idm_service_account_create_priv", 0x0041, "Create service accounts.", &[0x0001]),
    ("idm_account_read_priv", 0x0005, "Read account details.", &[0x0006]),
    ("idm_account_write_priv", 0x0006, "Change accounts (names, credentials, validity).", &[0x0014]),
    ("idm_account_manage_priv", 0x0014, "Delete accounts.", &[0x0001]),
    ("idm_group_create_priv", 0x0042, "Create groups.", &[0x0001]),
    ("idm_group_write_priv", 0x0004, "Change groups and their members.", &[0x0015]),
    ("idm_group_manage_priv", 0x0015, "Delete groups.", &[0x0001, 0x0019]),
    ("idm_hp_account_read_priv", 0x0008, "Read high-privilege accounts.", &[0x0009]),
    ("idm_hp_account_write_priv", 0x0009, "Change high-privilege accounts.", &[0x0016]),
    ("idm_hp_account_manage_priv", 0x0016, "Create and delete any account.", &[0x0019]),
    ("idm_hp_group_write_priv", 0x0012, "Change high-privilege groups and their members.", &[0x0017]),
    ("idm_hp_group_manage_priv", 0x0017, "Create and delete any group.", &[0x0019]),
    ("idm_schema_manage_priv", 0x0010, "Extend and change the schema.", &[0x0019]),
    ("idm_acp_manage_priv", 0x0011, "Manage access control profiles.", &[0x0019]),
    ("idm_recycle_bin_admins", 0x0021, "List and revive deleted entries.", &[0x0019, 0x0001]),
    ("idm_oauth2_admins", 0x0043, "Manage the applications that sign people in through OAuth2.", &[0x0001]),
];

pub fn builtin_accounts_and_groups() -> Vec<Entry> {
    let accounts = ACCOUNTS.iter().map(|(name, u, dn, desc)| {
        entry(vec![
            ("class", iutf8(&["object", "account"])),
            ("uuid", uuid(*u)),
            ("name", iname(name)),
            ("displayname", utf8(dn)),
            ("description", utf8(desc)),
        ])
    });
    let groups = GROUPS.iter().map(|(name, n, desc, members)| {
        let members: Vec<Uuid> = members.iter().map(|m| uuid_suffix(*m)).collect();
        let mut g = entry(vec![
            ("class", iutf8(&["object", "group"])),
            ("uuid", uuid(uuid_suffix(*n))),
            ("name", iname(name)),
            ("description", utf8(desc)),
            ("member", refs(&members)),
        ]);
        for (attr, v) in group_grants(uuid_suffix(*n)) {
            g.add(attr, v);
        }
        g
    });
    // Members of this group are high privilege: only high-privilege receivers may change them.
    let mut hp_members: Vec<Uuid> = GROUPS.iter().map(|g| uuid_suffix(g.1)).collect();
    hp_members.push(UUID_IDM_HIGH_PRIVILEGE);
    let hp = entry(vec![
        ("class", iutf8(&["object", "group"])),
        ("uuid", uuid(UUID_IDM_HIGH_PRIVILEGE)),
        ("name", iname("idm_high_privilege")),
        ("description", utf8("Members are high privilege and protected from lower-privileged administrators.")),
        ("member", refs(&hp_members)),
    ]);
    accounts.chain(groups).chain([hp]).collect()
}

/// What the built-in administrator groups grant their members: search limits for bulk and
/// unindexed administration, and (system administrators) the server rights. Data like any
/// administrator's own grants, so it can be tuned.
pub fn group_grants(group: Uuid) -> Vec<(&'static str, Value)> {
    if group != UUID_SYSTEM_ADMINS && group != UUID_IDM_ADMINS {
        return Vec::new();
    }
    let l = crate::identity::Limits::admin();
    let n = |x: usize| Value::Uint32(u32::try_from(x).unwrap_or(u32::MAX));
    let mut out = vec![
        ("limit_search_max_results", n(l.search_max_results)),
        ("limit_search_max_filter_test", n(l.search_max_partial)),
        ("limit_filter_max_elements", n(l.filter_max_elements)),
        ("limit_filter_max_depth", n(l.filter_max_depth)),
    ];
    if group == UUID_SYSTEM_ADMINS {
        out.extend(crate::identity::ServerRight::ALL.map(|r| ("server_right", Value::Right(r))));
    }
    out
}

/// The key object whose keys sign session tokens. Keys are added by the identity layer.
pub fn session_keys() -> Entry {
    entry(vec![
        ("class", iutf8(&["object", "key_object", "system"])),
        ("uuid", uuid(UUID_KEY_SESSIONS)),
        ("name", iname("idm_session_keys")),
        ("description", utf8("Keys that sign session tokens. Rotate with `kanidm system key rotate`.")),
    ])
}

pub fn system_info() -> Entry {
    entry(vec![
        ("class", iutf8(&["object", "system_info", "system"])),
        ("uuid", uuid(UUID_SYSTEM_INFO)),
        ("description", utf8("System information.")),
        ("version", vec![Value::Uint32(SYSTEM_VERSION)]),
    ])
}

pub fn domain_info(domain_name: &str, domain_uuid: Uuid) -> Entry {
    entry(vec![
        ("class", iutf8(&["object", "domain_info", "system"])),
        ("uuid", uuid(UUID_DOMAIN_INFO)),
        ("name", iname("domain_local")),
        ("description", utf8("This identity domain.")),
        ("domain_name", vec![Value::Iname(domain_name.to_string())]),
        ("domain_uuid", uuid(domain_uuid)),
    ])
}

/// Passwords rejected out of the box; administrators extend the list in `system_config`.
const BADLIST: &[&str] = &[
    "password",
    "password1",
    "password123",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty",
    "qwertyuiop",
    "letmein",
    "welcome",
    "welcome1",
    "iloveyou",
    "admin",
    "administrator",
    "changeme",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "trustno1",
    "abc123",
];

pub fn system_config() -> Entry {
    entry(vec![
        ("class", iutf8(&["object", "system_config", "system"])),
        ("uuid", uuid(UUID_SYSTEM_CONFIG)),
        ("description", utf8("Server-wide settings.")),
        ("badlist_password", iutf8(BADLIST)),
    ])
}
