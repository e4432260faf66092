use super::{entry, iutf8, utf8, uuid};
use crate::entry::Entry;
use crate::value::IndexType::{self, Equality as EQ, Presence as PRES, SubString as SUB};
use crate::value::SyntaxType::{self, *};
use crate::value::Value;
use uuid::Uuid;

const MULTI: bool = true;
const SINGLE: bool = false;
const UNIQUE: bool = true;
const PLAIN: bool = false;

/// (name, uuid suffix, syntax, multivalue, unique, indexes, description)
type AttrDef = (&'static str, u128, SyntaxType, bool, bool, &'static [IndexType], &'static str);

const ATTRIBUTES: &[AttrDef] = &[
    ("class", 0x01, Utf8StringInsensitive, MULTI, PLAIN, &[EQ, PRES], "The classes of an entry."),
    ("uuid", 0x02, Uuid, SINGLE, UNIQUE, &[EQ, PRES], "The unique, immutable identifier of an entry."),
    ("name", 0x04, Utf8StringIname, SINGLE, UNIQUE, &[EQ, PRES, SUB], "A short, unique, lowercase name."),
    ("spn", 0x05, SecurityPrincipalName, SINGLE, UNIQUE, &[EQ], "Security principal name: name@domain."),
    ("attributename", 0x06, Utf8StringInsensitive, SINGLE, UNIQUE, &[EQ], "The name of an attribute type."),
    ("classname", 0x07, Utf8StringInsensitive, SINGLE, UNIQUE, &[EQ], "The name of a class."),
    ("description", 0x08, Utf8String, SINGLE, PLAIN, &[], "Free text describing the entry."),
    ("multivalue", 0x09, Boolean, SINGLE, PLAIN, &[], "Whether an attribute may hold several values."),
    ("unique", 0x0a, Boolean, SINGLE, PLAIN, &[], "Whether values of an attribute are unique across entries."),
    ("index", 0x0b, IndexId, MULTI, PLAIN, &[], "Index types to maintain for an attribute."),
    ("syntax", 0x0c, SyntaxId, SINGLE, PLAIN, &[EQ], "The syntax of an attribute's values."),
    ("systemmay", 0x0d, Utf8StringInsensitive, MULTI, PLAIN, &[], "Attributes a class allows (built-in)."),
    ("may", 0x0e, Utf8StringInsensitive, MULTI, PLAIN, &[], "Attributes a class allows (administrator)."),
    ("systemmust", 0x0f, Utf8StringInsensitive, MULTI, PLAIN, &[], "Attributes a class requires (built-in)."),
    ("must", 0x10, Utf8StringInsensitive, MULTI, PLAIN, &[], "Attributes a class requires (administrator)."),
    ("acp_enable", 0x11, Boolean, SINGLE, PLAIN, &[EQ], "Whether an access control profile is in force."),
    (
        "acp_receiver_group",
        0x12,
        ReferenceUuid,
        MULTI,
        PLAIN,
        &[EQ],
        "Groups whose members an access control profile applies to.",
    ),
    ("acp_receiver", 0x13, JsonFilter, SINGLE, PLAIN, &[], "A filter selecting the identities a profile applies to."),
    ("acp_targetscope", 0x14, JsonFilter, SINGLE, PLAIN, &[], "A filter selecting the entries a profile acts on."),
    ("acp_search_attr", 0x15, Utf8StringInsensitive, MULTI, PLAIN, &[EQ], "Attributes a profile lets receivers read."),
    ("acp_create_class", 0x16, Utf8StringInsensitive, MULTI, PLAIN, &[EQ], "Classes a profile lets receivers create."),
    (
        "acp_create_attr",
        0x17,
        Utf8StringInsensitive,
        MULTI,
        PLAIN,
        &[EQ],
        "Attributes a profile lets receivers set on create.",
    ),
    (
        "acp_modify_removedattr",
        0x18,
        Utf8StringInsensitive,
        MULTI,
        PLAIN,
        &[EQ],
        "Attributes a profile lets receivers remove.",
    ),
    (
        "acp_modify_presentattr",
        0x19,
        Utf8StringInsensitive,
        MULTI,
        PLAIN,
        &[EQ],
        "Attributes a profile lets receivers add.",
    ),
    (
        "acp_modify_class",
        0x1a,
        Utf8StringInsensitive,
        MULTI,
        PLAIN,
        &[EQ],
        "Class values a profile lets receivers add or remove.",
    ),
    (
        "memberof",
        0x1b,
        ReferenceUuid,
        MULTI,
        PLAIN,
        &[EQ],
        "Groups this entry belongs to, directly or through nesting.",
    ),
    ("directmemberof", 0x1c, ReferenceUuid, MULTI, PLAIN, &[EQ], "Groups that list this entry as a member."),
    ("member", 0x1d, ReferenceUuid, MULTI, PLAIN, &[EQ], "Members of a group."),
    ("version", 0x1e, Uint32, SINGLE, PLAIN, &[], "Version of the built-in definitions in this database."),
    ("domain_name", 0x1f, Utf8StringIname, SINGLE, UNIQUE, &[EQ, PRES], "The DNS name of this identity domain."),
    ("domain_uuid", 0x20, Uuid, SINGLE, UNIQUE, &[EQ], "The identifier of this identity domain."),
    ("displayname", 0x22, Utf8String, SINGLE, PLAIN, &[EQ], "The name shown for a person or account."),
    ("legalname", 0x23, Utf8String, SINGLE, PLAIN, &[EQ], "A person's legal name."),
    ("mail", 0x24, EmailAddress, MULTI, UNIQUE, &[EQ, SUB], "Email addresses."),
    ("primary_credential", 0x25, Credential, SINGLE, PLAIN, &[], "The account's password credential."),
    ("account_expire", 0x26, DateTime, SINGLE, PLAIN, &[], "After this time the account cannot log in."),
    ("account_valid_from", 0x27, DateTime, SINGLE, PLAIN, &[], "Before this time the account cannot log in."),
    ("badlist_password", 0x28, Utf8StringInsensitive, MULTI, PLAIN, &[], "Passwords that are rejected."),
    ("password_min_length", 0x2a, Uint32, SINGLE, PLAIN, &[], "The shortest password accepted, in characters."),
    ("recycled_at", 0x2b, DateTime, SINGLE, PLAIN, &[], "When the entry was deleted into the recycle bin."),
    (
        "recycled_directmemberof",
        0x2e,
        ReferenceUuid,
        MULTI,
        PLAIN,
        // Indexed because referential integrity looks for every reference to a deleted entry.
        &[EQ],
        "Groups a deleted entry belonged to directly, restored when it is revived.",
    ),
    (
        "user_auth_session",
        0x29,
        Session,
        MULTI,
        PLAIN,
        &[],
        "Sessions of an account: id, issue and expiry times, mechanism, scope, issuer and client.",
    ),
    (
        "credential_update_intent_token",
        0x2f,
        IntentToken,
        SINGLE,
        UNIQUE,
        // Indexed so a token is redeemed by a lookup of its hash.
        &[EQ],
        "A pending credential reset token (its hash, issue and expiry times, issuer).",
    ),
    ("key_internal_data", 0x30, KeyInternal, MULTI, PLAIN, &[], "The keys of a key object, with their status."),
    (
        "authsession_expiry",
        0x31,
        Uint32,
        SINGLE,
        PLAIN,
        &[],
        "Seconds a login session lasts; the shortest of an account's policies applies.",
    ),
    (
        "privilege_expiry",
        0x32,
        Uint32,
        SINGLE,
        PLAIN,
        &[],
        "Seconds a re-authentication lets a session make changes; the shortest applies.",
    ),
    (
        "limit_search_max_results",
        0x33,
        Uint32,
        SINGLE,
        PLAIN,
        &[],
        "Most entries a search may return to members; the largest of their groups' values applies.",
    ),
    (
        "limit_search_max_filter_test",
        0x34,
        Uint32,
        SINGLE,
        PLAIN,
        &[],
        "Most candidate entries a search by members may test; the largest applies.",
    ),
    (
        "limit_filter_max_elements",
        0x35,
        Uint32,
        SINGLE,
        PLAIN,
        &[],
        "Most elements a filter from members may have; the largest applies.",
    ),
    ("limit_filter_max_depth", 0x36, Uint32, SINGLE, PLAIN, &[], "Deepest nesting a filter from members may have."),
    (
        "server_right",
        0x37,
        ServerRight,
        MULTI,
        PLAIN,
        &[EQ],
        "Rights over the server that members hold: online_backup, signing_keys.",
    ),
    ("softlock_until", 0x38, DateTime, SINGLE, PLAIN, &[], "Password attempts are refused until this time."),
    ("softlock_level", 0x39, Uint32, SINGLE, PLAIN, &[], "How many times in a row the password was locked."),
    (
        "entry_managed_by",
        0x3a,
        ReferenceUuid,
        SINGLE,
        PLAIN,
        &[EQ],
        "The group (or account) that manages this entry: entry-manager profiles apply to its members for it.",
    ),
    (
        "credential_type_minimum",
        0x3b,
        CredentialType,
        SINGLE,
        PLAIN,
        &[],
        "The weakest credential members may sign in with: any, mfa or passkey; the strictest policy applies.",
    ),
    (
        "passkeys",
        0x3c,
        Passkey,
        MULTI,
        // One credential, one account: the equality key is the credential id's hash.
        UNIQUE,
        &[EQ],
        "The account's passkeys (WebAuthn credentials).",
    ),
    (
        "oauth2_rs_origin_landing",
        0x3d,
        Url,
        SINGLE,
        PLAIN,
        &[],
        "An OAuth2 client's home page, where people are sent to use it; also a redirect URI it may use.",
    ),
    (
        "oauth2_rs_origin",
        0x3e,
        Url,
        MULTI,
        PLAIN,
        &[EQ],
        "The redirect URIs an OAuth2 client may use, matched exactly.",
    ),
    ("oauth2_rs_basic_secret", 0x3f, SecretUtf8String, SINGLE, PLAIN, &[], "A confidential OAuth2 client's secret."),
    (
        "oauth2_strict_redirect_uri",
        0x40,
        Boolean,
        SINGLE,
        PLAIN,
        &[],
        "Whether redirect URIs must match exactly: always true here (Kanidm's clients send it).",
    ),
    (
        "oauth2_rs_scope_map",
        0x41,
        OauthScopeMap,
        MULTI,
        PLAIN,
        &[EQ],
        "Which groups may use an OAuth2 client, and the scopes each may ask for.",
    ),
    (
        "oauth2_rs_sup_scope_map",
        0x42,
        OauthScopeMap,
        MULTI,
        PLAIN,
        &[EQ],
        "Scopes an OAuth2 client grants a group's members besides those they ask for.",
    ),
    (
        "oauth2_rs_claim_map",
        0x43,
        OauthClaimMap,
        MULTI,
        PLAIN,
        &[EQ],
        "Custom claims an OAuth2 client's tokens carry: their values for each group's members.",
    ),
];

/// The limit attributes and the values the built-in administrator groups carry.
pub const LIMIT_ATTRIBUTES: [&str; 4] =
    ["limit_search_max_results", "limit_search_max_filter_test", "limit_filter_max_elements", "limit_filter_max_depth"];

/// (name, uuid suffix, systemmust, systemmay, description)
type ClassDef = (&'static str, u128, &'static [&'static str], &'static [&'static str], &'static str);

const CLASSES: &[ClassDef] = &[
    ("object", 0x81, &["class", "uuid"], &["description", "memberof", "directmemberof"], "Every entry."),
    (
        "attributetype",
        0x82,
        &["attributename", "multivalue", "unique", "syntax"],
        &["index"],
        "A definition of an attribute.",
    ),
    ("classtype", 0x83, &["classname"], &["systemmay", "may", "systemmust", "must"], "A definition of a class."),
    ("extensibleobject", 0x84, &[], &[], "Allows any defined attribute."),
    ("system", 0x85, &[], &[], "A built-in entry, protected from change."),
    ("recycled", 0x86, &[], &["recycled_at", "recycled_directmemberof"], "A deleted entry that can still be revived."),
    ("tombstone", 0x87, &[], &["recycled_at"], "The remains of a purged entry."),
    ("system_info", 0x88, &["version"], &[], "Information about this database."),
    ("domain_info", 0x89, &["name", "domain_uuid", "domain_name"], &[], "This identity domain."),
    ("system_config", 0x8a, &[], &["badlist_password", "password_min_length"], "Server-wide settings."),
    (
        "access_control_profile",
        0x8b,
        &["name", "acp_targetscope"],
        &["acp_receiver_group", "acp_receiver", "acp_enable"],
        "Who may do what to which entries.",
    ),
    ("access_control_search", 0x8c, &["acp_search_attr"], &[], "Grants reading attributes."),
    (
        "access_control_modify",
        0x8d,
        &[],
        &["acp_modify_removedattr", "acp_modify_presentattr", "acp_modify_class"],
        "Grants changing attributes.",
    ),
    ("access_control_create", 0x8e, &[], &["acp_create_class", "acp_create_attr"], "Grants creating entries."),
    ("access_control_delete", 0x8f, &[], &[], "Grants deleting entries."),
    ("person", 0x90, &["name", "displayname"], &["legalname", "mail"], "A human."),
    (
        "account",
        0x91,
        &["name", "displayname", "spn"],
        &[
            "primary_credential",
            "passkeys",
            "mail",
            "account_expire",
            "account_valid_from",
            "user_auth_session",
            "credential_update_intent_token",
            "softlock_until",
            "softlock_level",
            "limit_search_max_results",
            "limit_search_max_filter_test",
            "limit_filter_max_elements",
            "limit_filter_max_depth",
        ],
        "Something that can authenticate.",
    ),
    (
        "service_account",
        0x92,
        &["name", "displayname"],
        &["mail", "entry_managed_by"],
        "An account used by software rather than a person.",
    ),
    (
        "group",
        0x93,
        &["name", "spn"],
        &[
            "member",
            "entry_managed_by",
            "limit_search_max_results",
            "limit_search_max_filter_test",
            "limit_filter_max_elements",
            "limit_filter_max_depth",
            "server_right",
        ],
        "A set of entries.",
    ),
    (
        "account_policy",
        0x94,
        &[],
        &["authsession_expiry", "privilege_expiry", "credential_type_minimum", "password_min_length"],
        "A group whose settings bound its members' sessions and credentials; the strictest policy applies.",
    ),
    ("key_object", 0x95, &["name"], &["key_internal_data"], "A set of signing keys, one active."),
    (
        "access_control_receiver_entry_manager",
        0x96,
        &[],
        &[],
        "A profile that applies to the managers of each target (its entry_managed_by and that group's members).",
    ),
    (
        "oauth2_resource_server",
        0x97,
        &["name", "displayname", "oauth2_rs_origin_landing"],
        &[
            "spn",
            "oauth2_rs_origin",
            "oauth2_strict_redirect_uri",
            "oauth2_rs_scope_map",
            "oauth2_rs_sup_scope_map",
            "oauth2_rs_claim_map",
        ],
        "An application that signs people in through this server's OAuth2 / OpenID Connect provider.",
    ),
    (
        "oauth2_resource_server_basic",
        0x98,
        &["oauth2_rs_basic_secret"],
        &[],
        "A confidential OAuth2 client, which authenticates with its secret.",
    ),
    ("oauth2_resource_server_public", 0x99, &[], &[], "A public OAuth2 client (no secret; PKCE always)."),
];

const fn schema_uuid(n: u128) -> Uuid {
    Uuid::from_u128(0xffff_0000_0000 | n)
}

fn attr_entry(d: &AttrDef) -> Entry {
    let (name, n, syntax, multi, unique, index, desc) = *d;
    entry(vec![
        ("class", iutf8(&["object", "system", "attributetype"])),
        ("uuid", uuid(schema_uuid(n))),
        ("attributename", iutf8(&[name])),
        ("description", utf8(desc)),
        ("multivalue", vec![Value::Bool(multi)]),
        ("unique", vec![Value::Bool(unique)]),
        ("syntax", vec![Value::Syntax(syntax)]),
        ("index", index.iter().map(|i| Value::Index(*i)).collect()),
    ])
}

fn class_entry(d: &ClassDef) -> Entry {
    let (name, n, must, may, desc) = *d;
    entry(vec![
        ("class", iutf8(&["object", "system", "classtype"])),
        ("uuid", uuid(schema_uuid(n))),
        ("classname", iutf8(&[name])),
        ("description", utf8(desc)),
        ("systemmust", iutf8(must)),
        ("systemmay", iutf8(may)),
    ])
}

/// The built-in attribute and class definitions as the entries stored in the database.
pub fn builtin_schema() -> Vec<Entry> {
    ATTRIBUTES.iter().map(attr_entry).chain(CLASSES.iter().map(class_entry)).collect()
}
