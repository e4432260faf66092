use super::*;
use crate::value::Value;
use idm_proto::Filter;

/// Who a profile applies to.
enum Receiver {
    Groups(&'static [u128]),
    Filter(&'static str),
    /// The managers of each target entry (`entry_managed_by`, or a member of it).
    EntryManager,
}

/// One built-in access control profile. Empty lists mean the right is not granted.
struct Acp {
    name: &'static str,
    n: u128,
    description: &'static str,
    receiver: Receiver,
    target: &'static str,
    search: &'static [&'static str],
    modify_present: &'static [&'static str],
    modify_removed: &'static [&'static str],
    modify_class: &'static [&'static str],
    create_class: &'static [&'static str],
    create_attr: &'static [&'static str],
    delete: bool,
}

const NONE: Acp = Acp {
    name: "",
    n: 0,
    description: "",
    receiver: Receiver::Groups(&[]),
    target: "",
    search: &[],
    modify_present: &[],
    modify_removed: &[],
    modify_class: &[],
    create_class: &[],
    create_attr: &[],
    delete: false,
};

const EVERYONE: &str = r#"{"pres":"class"}"#;
const NOT_ANONYMOUS: &str = r#"{"andnot":{"eq":["uuid","00000000-0000-0000-0000-ffffffffffff"]}}"#;
const PERSON_NON_HP: &str =
    r#"{"and":[{"eq":["class","person"]},{"andnot":{"eq":["memberof","00000000-0000-0000-0000-000000001000"]}}]}"#;
const ACCOUNT_NON_HP: &str =
    r#"{"and":[{"eq":["class","account"]},{"andnot":{"eq":["memberof","00000000-0000-0000-0000-000000001000"]}}]}"#;
const ACCOUNT_HP: &str =
    r#"{"and":[{"eq":["class","account"]},{"eq":["memberof","00000000-0000-0000-0000-000000001000"]}]}"#;
const SERVICE_ACCOUNT_NON_HP: &str = r#"{"and":[{"eq":["class","service_account"]},{"andnot":{"eq":["memberof","00000000-0000-0000-0000-000000001000"]}}]}"#;
const SERVICE_ACCOUNT_HP: &str =
    r#"{"and":[{"eq":["class","service_account"]},{"eq":["memberof","00000000-0000-0000-0000-000000001000"]}]}"#;
pub(crate) const GROUP_NON_HP: &str =
    r#"{"and":[{"eq":["class","group"]},{"andnot":{"eq":["memberof","00000000-0000-0000-0000-000000001000"]}}]}"#;
/// Groups lower administrators and managers change: not high privilege, and not account
/// policies (whose members are bound by them: moving someone in or out of one is a policy
/// change, the system administrators').
pub(crate) const GROUP_NON_HP_NON_POLICY: &str = r#"{"and":[{"eq":["class","group"]},{"andnot":{"eq":["memberof","00000000-0000-0000-0000-000000001000"]}},{"andnot":{"eq":["class","account_policy"]}}]}"#;
/// The built-in profiles whose target became [`GROUP_NON_HP_NON_POLICY`] in version 7.
pub(crate) const RETARGETED_IN_7: [&str; 3] =
    ["idm_acp_group_write", "idm_acp_group_delete", "idm_acp_group_entry_manager"];
const GROUP_HP: &str =
    r#"{"and":[{"eq":["class","group"]},{"eq":["memberof","00000000-0000-0000-0000-000000001000"]}]}"#;

const PUBLIC_ATTRS: &[&str] = &[
    "class",
    "name",
    "spn",
    "uuid",
    "displayname",
    "description",
    "member",
    "memberof",
    "directmemberof",
    "attributename",
    "classname",
    "syntax",
    "multivalue",
    "unique",
    "index",
    "systemmay",
    "may",
    "systemmust",
    "must",
    "domain_name",
    "domain_uuid",
    "limit_search_max_results",
    "limit_search_max_filter_test",
    "limit_filter_max_elements",
    "limit_filter_max_depth",
    "authsession_expiry",
    "privilege_expiry",
    "credential_type_minimum",
    "password_min_length",
];
const ACCOUNT_READ: &[&str] = &[
    "class",
    "name",
    "spn",
    "uuid",
    "displayname",
    "legalname",
    "mail",
    "description",
    "memberof",
    "directmemberof",
    "account_expire",
    "account_valid_from",
    "primary_credential",
    "passkeys",
    "user_auth_session",
    "credential_update_intent_token",
    "softlock_until",
    "softlock_level",
    "entry_managed_by",
];
const ACCOUNT_WRITE: &[&str] = &[
    "name",
    "displayname",
    "legalname",
    "mail",
    "description",
    "account_expire",
    "account_valid_from",
    "primary_credential",
    "credential_update_intent_token",
    "entry_managed_by",
];
/// What account managers may remove: what they may write, and sessions (revoking them).
const ACCOUNT_REMOVE: &[&str] = &[
    "name",
    "displayname",
    "legalname",
    "mail",
    "description",
    "account_expire",
    "account_valid_from",
    "primary_credential",
    "credential_update_intent_token",
    "user_auth_session",
    "entry_managed_by",
];
/// Settings that grant or bound what members may do, and who a policy group binds: only
/// system administrators change them.
const POLICY_WRITE: &[&str] = &[
    "class",
    "limit_search_max_results",
    "limit_search_max_filter_test",
    "limit_filter_max_elements",
    "limit_filter_max_depth",
    "authsession_expiry",
    "privilege_expiry",
    "credential_type_minimum",
    "password_min_length",
    "member",
];
const GROUP_READ: &[&str] = &["class", "name", "spn", "uuid", "description", "member", "memberof", "entry_managed_by"];
const GROUP_WRITE: &[&str] = &["name", "description", "member", "entry_managed_by"];
const GROUP_CREATE_ATTRS: &[&str] = &["class", "name", "description", "member", "entry_managed_by"];
/// What the managers of a service account may read and change: its details, credentials and
/// API tokens (issuing one adds a session, revoking removes it), not who manages it.
const MANAGED_SERVICE_ACCOUNT_READ: &[&str] = &[
    "class",
    "name",
    "spn",
    "uuid",
    "displayname",
    "mail",
    "description",
    "memberof",
    "entry_managed_by",
    "account_expire",
    "account_valid_from",
    "primary_credential",
    "user_auth_session",
];
const MANAGED_SERVICE_ACCOUNT_WRITE: &[&str] = &[
    "displayname",
    "mail",
    "description",
    "account_expire",
    "account_valid_from",
    "primary_credential",
    "user_auth_session",
];
/// What the managers of a group may change: its description and members.
const MANAGED_GROUP_WRITE: &[&str] = &["description", "member"];
const SCHEMA_ATTRS: &[&str] = &[
    "class",
    "uuid",
    "attributename",
    "classname",
    "description",
    "multivalue",
    "unique",
    "syntax",
    "index",
    "systemmay",
    "may",
    "systemmust",
    "must",
];
const ACP_ATTRS: &[&str] = &[
    "class",
    "name",
    "uuid",
    "description",
    "acp_enable",
    "acp_receiver_group",
    "acp_receiver",
    "acp_targetscope",
    "acp_search_attr",
    "acp_create_class",
    "acp_create_attr",
    "acp_modify_removedattr",
    "acp_modify_presentattr",
    "acp_modify_class",
];
const ACP_CLASSES: &[&str] = &[
    "object",
    "access_control_profile",
    "access_control_receiver_entry_manager",
    "access_control_search",
    "access_control_modify",
    "access_control_create",
    "access_control_delete",
];

const ACPS: &[Acp] = &[
    Acp {
        name: "idm_acp_all_read",
        n: 0x01,
        description: "Everyone may read public attributes: names, classes, group membership and schema.",
        receiver: Receiver::Filter(EVERYONE),
        target: EVERYONE,
        search: PUBLIC_ATTRS,
        ..NONE
    },
    Acp {
        name: "idm_acp_self_read",
        n: 0x02,
        description: "Accounts may read their own details.",
        receiver: Receiver::Filter(EVERYONE),
        target: r#""self""#,
        search: ACCOUNT_READ,
        ..NONE
    },
    Acp {
        name: "idm_acp_self_write",
        n: 0x03,
        description: "Accounts other than anonymous may change their own display names and password.",
        receiver: Receiver::Filter(NOT_ANONYMOUS),
        target: r#""self""#,
        modify_present: &["displayname", "legalname", "primary_credential"],
        modify_removed: &["displayname", "legalname", "primary_credential", "user_auth_session"],
        ..NONE
    },
    Acp {
        name: "idm_acp_people_read",
        n: 0x04,
        description: "Read personal details of people who are not high privilege.",
        receiver: Receiver::Groups(&[0x0002]),
        target: PERSON_NON_HP,
        search: ACCOUNT_READ,
        ..NONE
    },
    Acp {
        name: "idm_acp_people_write",
        n: 0x05,
        description: "Change personal details of people who are not high privilege.",
        receiver: Receiver::Groups(&[0x0003]),
        target: PERSON_NON_HP,
        modify_present: ACCOUNT_WRITE,
        modify_removed: ACCOUNT_REMOVE,
        ..NONE
    },
    Acp {
        name: "idm_acp_person_create",
        n: 0x06,
        description: "Create person accounts.",
        receiver: Receiver::Groups(&[0x0040]),
        target: r#"{"and":[{"eq":["class","person"]},{"eq":["class","account"]}]}"#,
        create_class: &["object", "account", "person"],
        create_attr: &[
            "class",
            "name",
            "displayname",
            "legalname",
            "mail",
            "description",
            "account_expire",
            "account_valid_from",
        ],
        ..NONE
    },
    Acp {
        name: "idm_acp_people_delete",
        n: 0x07,
        description: "Delete people who are not high privilege.",
        receiver: Receiver::Groups(&[0x0013]),
        target: PERSON_NON_HP,
        delete: true,
        ..NONE
    },
    Acp {
        name: "idm_acp_account_read",
        n: 0x08,
        description: "Read accounts that are not high privilege.",
        receiver: Receiver::Groups(&[0x0005]),
        target: ACCOUNT_NON_HP,
        search: ACCOUNT_READ,
        ..NONE
    },
    Acp {
        name: "idm_acp_account_write",
        n: 0x09,
        description: "Change accounts that are not high privilege.",
        receiver: Receiver::Groups(&[0x0006]),
        target: ACCOUNT_NON_HP,
        modify_present: ACCOUNT_WRITE,
        modify_removed: ACCOUNT_REMOVE,
        ..NONE
    },
    Acp {
        name: "idm_acp_service_account_create",
        n: 0x0a,
        description: "Create service accounts.",
        receiver: Receiver::Groups(&[0x0041]),
        target: r#"{"and":[{"eq":["class","service_account"]},{"eq":["class","account"]}]}"#,
        create_class: &["object", "account", "service_account"],
        create_attr: &[
            "class",
            "name",
            "displayname",
            "mail",
            "description",
            "account_expire",
            "account_valid_from",
            "entry_managed_by",
        ],
        ..NONE
    },
    Acp {
        name: "idm_acp_account_delete",
        n: 0x0b,
        description: "Delete accounts that are not high privilege.",
        receiver: Receiver::Groups(&[0x0014]),
        target: ACCOUNT_NON_HP,
        delete: true,
        ..NONE
    },
    Acp {
        name: "idm_acp_group_write",
        n: 0x0c,
        description: "Change groups that are neither high privilege nor account policies, including their members.",
        receiver: Receiver::Groups(&[0x0004]),
        target: GROUP_NON_HP_NON_POLICY,
        search: GROUP_READ,
        modify_present: GROUP_WRITE,
        modify_removed: GROUP_WRITE,
        ..NONE
    },
    Acp {
        name: "idm_acp_group_create",
        n: 0x0d,
        description: "Create groups.",
        receiver: Receiver::Groups(&[0x0042]),
        target: r#"{"eq":["class","group"]}"#,
        create_class: &["object", "group"],
        create_attr: GROUP_CREATE_ATTRS,
        ..NONE
    },
    Acp {
        name: "idm_acp_group_delete",
        n: 0x0e,
        description: "Delete groups that are neither high privilege nor account policies.",
        receiver: Receiver::Groups(&[0x0015]),
        target: GROUP_NON_HP_NON_POLICY,
        delete: true,
        ..NONE
    },
    Acp {
        name: "idm_acp_hp_account_read",
        n: 0x0f,
        description: "Read high-privilege accounts.",
        receiver: Receiver::Groups(&[0x0008]),
        target: ACCOUNT_HP,
        search: ACCOUNT_READ,
        ..NONE
    },
    Acp {
        name: "idm_acp_hp_account_write",
        n: 0x10,
        description: "Change high-privilege accounts.",
        receiver: Receiver::Groups(&[0x0009]),
        target: ACCOUNT_HP,
        modify_present: ACCOUNT_WRITE,
        modify_removed: ACCOUNT_REMOVE,
        ..NONE
    },
    Acp {
        name: "idm_acp_hp_account_manage",
        n: 0x11,
        description: "Create and delete any account, including high-privilege ones.",
        receiver: Receiver::Groups(&[0x0016]),
        target: r#"{"eq":["class","account"]}"#,
        create_class: &["object", "account", "person", "service_account"],
        create_attr: &[
            "class",
            "name",
            "displayname",
            "legalname",
            "mail",
            "description",
            "account_expire",
            "account_valid_from",
            "entry_managed_by",
        ],
        delete: true,
        ..NONE
    },
    Acp {
        name: "idm_acp_hp_group_write",
        n: 0x12,
        description: "Change high-privilege groups, including their members.",
        receiver: Receiver::Groups(&[0x0012]),
        target: GROUP_HP,
        search: GROUP_READ,
        modify_present: GROUP_WRITE,
        modify_removed: GROUP_WRITE,
        ..NONE
    },
    Acp {
        name: "idm_acp_hp_group_manage",
        n: 0x13,
        description: "Create and delete any group.",
        receiver: Receiver::Groups(&[0x0017]),
        target: r#"{"eq":["class","group"]}"#,
        create_class: &["object", "group"],
        create_attr: GROUP_CREATE_ATTRS,
        delete: true,
        ..NONE
    },
    Acp {
        name: "idm_acp_schema_manage",
        n: 0x14,
        description: "Add attributes and classes, and change indexes and allowed attributes.",
        receiver: Receiver::Groups(&[0x0010]),
        target: r#"{"or":[{"eq":["class","attributetype"]},{"eq":["class","classtype"]}]}"#,
        search: SCHEMA_ATTRS,
        modify_present: &["description", "index", "may", "must", "unique", "multivalue"],
        modify_removed: &["description", "index", "may", "must", "unique", "multivalue"],
        create_class: &["object", "attributetype", "classtype"],
        create_attr: &[
            "class",
            "attributename",
            "classname",
            "description",
            "multivalue",
            "unique",
            "syntax",
            "index",
            "may",
            "must",
        ],
        ..NONE
    },
    Acp {
        name: "idm_acp_acp_manage",
        n: 0x15,
        description: "Manage access control profiles.",
        receiver: Receiver::Groups(&[0x0011]),
        target: r#"{"eq":["class","access_control_profile"]}"#,
        search: ACP_ATTRS,
        modify_present: ACP_ATTRS,
        modify_removed: ACP_ATTRS,
        modify_class: ACP_CLASSES,
        create_class: ACP_CLASSES,
        create_attr: ACP_ATTRS,
        delete: true,
    },
    Acp {
        name: "idm_acp_domain_admin",
        n: 0x16,
        description: "Read the domain entry.",
        receiver: Receiver::Groups(&[0x0020]),
        target: r#"{"eq":["uuid","00000000-0000-0000-0000-ffffff000025"]}"#,
        search: &["class", "name", "uuid", "description", "domain_name", "domain_uuid"],
        ..NONE
    },
    Acp {
        name: "idm_acp_system_config",
        n: 0x17,
        description: "Read and change server-wide settings such as rejected passwords.",
        receiver: Receiver::Groups(&[0x0019]),
        target: r#"{"eq":["uuid","00000000-0000-0000-0000-ffffff000027"]}"#,
        search: &["class", "uuid", "description", "badlist_password", "password_min_length"],
        modify_present: &["badlist_password", "password_min_length"],
        modify_removed: &["badlist_password", "password_min_length"],
        ..NONE
    },
    Acp {
        name: "idm_acp_recycle_bin",
        n: 0x18,
        description: "List and revive deleted entries.",
        receiver: Receiver::Groups(&[0x0021]),
        target: r#"{"eq":["class","recycled"]}"#,
        search: &[
            "class",
            "name",
            "spn",
            "uuid",
            "displayname",
            "description",
            "recycled_at",
            "recycled_directmemberof",
        ],
        modify_removed: &["class", "recycled_at"],
        modify_class: &["recycled"],
        ..NONE
    },
    Acp {
        name: "idm_acp_service_account_api_tokens",
        n: 0x1b,
        description: "Issue API tokens to service accounts that are not high privilege.",
        receiver: Receiver::Groups(&[0x0006]),
        target: SERVICE_ACCOUNT_NON_HP,
        modify_present: &["user_auth_session"],
        ..NONE
    },
    Acp {
        name: "idm_acp_hp_service_account_api_tokens",
        n: 0x1c,
        description: "Issue API tokens to high-privilege service accounts.",
        receiver: Receiver::Groups(&[0x0009]),
        target: SERVICE_ACCOUNT_HP,
        modify_present: &["user_auth_session"],
        ..NONE
    },
    Acp {
        name: "idm_acp_policy_manage",
        n: 0x19,
        description: "Set search limits and account policy (session and privilege lifetimes) on groups and accounts.",
        receiver: Receiver::Groups(&[0x0019]),
        target: r#"{"or":[{"eq":["class","group"]},{"eq":["class","account"]}]}"#,
        modify_present: POLICY_WRITE,
        modify_removed: POLICY_WRITE,
        modify_class: &["account_policy"],
        ..NONE
    },
    Acp {
        name: "idm_acp_hp_group_rights",
        n: 0x1a,
        description: "See and grant server rights on high-privilege groups (a right on a group that lower \
                      administrators manage would let them give it away).",
        receiver: Receiver::Groups(&[0x0019]),
        target: GROUP_HP,
        // Which groups hold rights is for system administrators to know, not for anonymous.
        search: &["server_right"],
        modify_present: &["server_right"],
        modify_removed: &["server_right"],
        ..NONE
    },
    Acp {
        name: "idm_acp_service_account_entry_manager",
        n: 0x1d,
        description: "Managers of a service account (its entry_managed_by, or that group's members) may read and \
                      change its details and credentials and issue and revoke its API tokens.",
        receiver: Receiver::EntryManager,
        target: SERVICE_ACCOUNT_NON_HP,
        search: MANAGED_SERVICE_ACCOUNT_READ,
        modify_present: MANAGED_SERVICE_ACCOUNT_WRITE,
        modify_removed: MANAGED_SERVICE_ACCOUNT_WRITE,
        ..NONE
    },
    Acp {
        name: "idm_acp_group_entry_manager",
        n: 0x1e,
        description: "Managers of a group (its entry_managed_by, or that group's members) may read it and change \
                      its description and members.",
        receiver: Receiver::EntryManager,
        target: GROUP_NON_HP_NON_POLICY,
        search: GROUP_READ,
        modify_present: MANAGED_GROUP_WRITE,
        modify_removed: MANAGED_GROUP_WRITE,
        ..NONE
    },
    Acp {
        name: "idm_acp_oauth2_manage",
        n: 0x1f,
        description: "Create, read, change and delete the OAuth2 clients (applications), their secrets included.",
        receiver: Receiver::Groups(&[0x0043]),
        target: r#"{"eq":["class","oauth2_resource_server"]}"#,
        search: OAUTH2_READ,
        modify_present: OAUTH2_WRITE,
        modify_removed: OAUTH2_WRITE,
        create_class: &[
            "object",
            "oauth2_resource_server",
            "oauth2_resource_server_basic",
            "oauth2_resource_server_public",
        ],
        create_attr: OAUTH2_CREATE,
        delete: true,
        ..NONE
    },
];

const OAUTH2_READ: &[&str] = &[
    "class",
    "name",
    "spn",
    "uuid",
    "displayname",
    "description",
    "oauth2_rs_origin_landing",
    "oauth2_rs_origin",
    "oauth2_rs_basic_secret",
    "oauth2_strict_redirect_uri",
    "oauth2_rs_scope_map",
    "oauth2_rs_sup_scope_map",
    "oauth2_rs_claim_map",
];
const OAUTH2_WRITE: &[&str] = &[
    "name",
    "displayname",
    "description",
    "oauth2_rs_origin_landing",
    "oauth2_rs_origin",
    "oauth2_rs_basic_secret",
    "oauth2_strict_redirect_uri",
    "oauth2_rs_scope_map",
    "oauth2_rs_sup_scope_map",
    "oauth2_rs_claim_map",
];
const OAUTH2_CREATE: &[&str] = &[
    "class",
    "name",
    "displayname",
    "description",
    "oauth2_rs_origin_landing",
    "oauth2_rs_origin",
    "oauth2_rs_basic_secret",
    "oauth2_strict_redirect_uri",
    "oauth2_rs_scope_map",
    "oauth2_rs_sup_scope_map",
    "oauth2_rs_claim_map",
];

#[allow(clippy::expect_used)]
pub(crate) fn filter(json: &str) -> Value {
    // The JSON above is static and covered by the built-in tests.
    Value::JsonFilter(serde_json::from_str::<Filter>(json).expect("built-in ACP filter parses"))
}

pub fn builtin_acps() -> Vec<Entry> {
    ACPS.iter()
        .map(|a| {
            let mut classes = vec!["object", "access_control_profile"];
            if !a.search.is_empty() {
                classes.push("access_control_search");
            }
            if !(a.modify_present.is_empty() && a.modify_removed.is_empty() && a.modify_class.is_empty()) {
                classes.push("access_control_modify");
            }
            if !a.create_class.is_empty() {
                classes.push("access_control_create");
            }
            if a.delete {
                classes.push("access_control_delete");
            }
            if matches!(a.receiver, Receiver::EntryManager) {
                classes.push("access_control_receiver_entry_manager");
            }
            let mut pairs = vec![
                ("class", iutf8(&classes)),
                ("uuid", uuid(Uuid::from_u128(0xffff_ff00_0000 | (0x1000 + a.n)))),
                ("name", iname(a.name)),
                ("description", utf8(a.description)),
                ("acp_enable", vec![Value::Bool(true)]),
                ("acp_targetscope", vec![filter(a.target)]),
                ("acp_search_attr", iutf8(a.search)),
                ("acp_modify_presentattr", iutf8(a.modify_present)),
                ("acp_modify_removedattr", iutf8(a.modify_removed)),
                ("acp_modify_class", iutf8(a.modify_class)),
                ("acp_create_class", iutf8(a.create_class)),
                ("acp_create_attr", iutf8(a.create_attr)),
            ];
            match a.receiver {
                Receiver::EntryManager => {}
                Receiver::Groups(gs) => {
                    let gs: Vec<Uuid> = gs.iter().map(|g| uuid_suffix(*g)).collect();
                    pairs.push(("acp_receiver_group", refs(&gs)));
                }
                Receiver::Filter(f) => pairs.push(("acp_receiver", vec![filter(f)])),
            }
            entry(pairs)
        })
        .collect()
}
