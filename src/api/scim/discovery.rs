//! What the SCIM server supports, said exactly (RFC 7643 §5–§7): clients
//! such as Entra ID read `/Schemas` to learn the attributes, and the
//! compliance suites write every attribute advertised here and expect it
//! back as sent. So what is listed is what the mapping keeps.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::list::MAX_RESULTS;
use super::{CORE_GROUP, CORE_USER, ENTERPRISE, ScimError, base, scim_json};
use crate::api::state::AppState;

const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// An attribute definition; `extra` sets what differs from the defaults.
fn attr(name: &str, ty: &str, description: &str, extra: Value) -> Value {
    let mut a = json!({
        "name": name,
        "type": ty,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    });
    if let (Value::Object(a), Value::Object(extra)) = (&mut a, extra) {
        a.extend(extra);
    }
    a
}

fn text(name: &str, description: &str) -> Value {
    attr(name, "string", description, json!({}))
}

fn multi(name: &str, description: &str, types: &[&str]) -> Value {
    attr(
        name,
        "complex",
        description,
        json!({
            "multiValued": true,
            "subAttributes": [
                text("value", "The value."),
                attr("type", "string", "What kind of value it is.", json!({"canonicalValues": types})),
                attr("primary", "boolean", "The preferred value.", json!({})),
            ],
        }),
    )
}

fn user_schema() -> Value {
    json!({
        "id": CORE_USER,
        "name": "User",
        "description": "A user account.",
        "attributes": [
            attr("userName", "string", "Unique identifier of the user, typically its sign-in name; unique without regard to case.",
                 json!({"required": true, "uniqueness": "server"})),
            attr("name", "complex", "The user's name, in parts.", json!({"subAttributes": [
                text("formatted", "The full name, formatted for display."),
                text("familyName", "The family name."),
                text("givenName", "The given name."),
                text("middleName", "The middle name."),
                text("honorificPrefix", "Title before the name."),
                text("honorificSuffix", "Suffix after the name."),
            ]})),
            text("displayName", "The name shown for the user."),
            text("nickName", "The casual name."),
            text("title", "The job title."),
            text("userType", "The kind of user (Employee, Contractor, …)."),
            text("preferredLanguage", "The preferred language (RFC 7231 Accept-Language form)."),
            text("locale", "The locale (language-region)."),
            text("timezone", "The time zone (IANA name)."),
            attr("active", "boolean", "false disables the user: no sign-in, sessions ended.", json!({})),
            attr("password", "string", "A new password; never returned.",
                 json!({"mutability": "writeOnly", "returned": "never", "caseExact": true})),
            multi("emails", "Email addresses; the primary one is the user's sign-in address.", &["work", "home", "other"]),
            multi("phoneNumbers", "Phone numbers.", &["work", "home", "mobile", "fax", "pager", "other"]),
            attr("groups", "complex", "The groups the user belongs to (change them on the group).", json!({
                "multiValued": true, "mutability": "readOnly",
                "subAttributes": [
                    attr("value", "string", "The group's id.", json!({"mutability": "readOnly"})),
                    attr("$ref", "reference", "The group's URI.", json!({"mutability": "readOnly", "referenceTypes": ["Group"]})),
                    attr("display", "string", "The group's name.", json!({"mutability": "readOnly"})),
                    attr("type", "string", "How the user belongs (direct).", json!({"mutability": "readOnly", "canonicalValues": ["direct"]})),
                ],
            })),
        ],
    })
}

fn enterprise_schema() -> Value {
    json!({
        "id": ENTERPRISE,
        "name": "EnterpriseUser",
        "description": "Enterprise user attributes (kept in the user's attributes).",
        "attributes": [
            text("employeeNumber", "The employee number."),
            text("costCenter", "The cost centre."),
            text("organization", "The organisation."),
            text("division", "The division."),
            text("department", "The department."),
            attr("manager", "complex", "The user's manager.", json!({"subAttributes": [
                text("value", "The manager's id."),
                attr("$ref", "reference", "The manager's URI.", json!({"referenceTypes": ["User"]})),
                attr("displayName", "string", "The manager's name.", json!({"mutability": "readOnly"})),
            ]})),
        ],
    })
}

fn group_schema() -> Value {
    json!({
        "id": CORE_GROUP,
        "name": "Group",
        "description": "A group of users; the roles it grants in roster are set through the REST API.",
        "attributes": [
            attr("displayName", "string", "The group's name; unique without regard to case.",
                 json!({"required": true, "uniqueness": "server"})),
            attr("members", "complex", "The users in the group.", json!({
                "multiValued": true,
                "subAttributes": [
                    attr("value", "string", "The member's id.", json!({"mutability": "immutable"})),
                    attr("$ref", "reference", "The member's URI.", json!({"mutability": "immutable", "referenceTypes": ["User"]})),
                    attr("display", "string", "The member's name.", json!({"mutability": "readOnly"})),
                    attr("type", "string", "The kind of member.", json!({"mutability": "immutable", "canonicalValues": ["User"]})),
                ],
            })),
        ],
    })
}

/// Every schema, with its `schemas` and `meta`.
fn all_schemas(base: &str) -> Vec<Value> {
    [user_schema(), enterprise_schema(), group_schema()]
        .into_iter()
        .map(|mut s| {
            let id = s["id"].as_str().unwrap_or_default().to_owned();
            s["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"]);
            s["meta"] =
                json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")});
            s
        })
        .collect()
}

fn all_resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users",
            "description": "User account",
            "schema": CORE_USER,
            "schemaExtensions": [{"schema": ENTERPRISE, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups",
            "description": "Group",
            "schema": CORE_GROUP,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

fn list(items: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST],
        "totalResults": items.len(),
        "itemsPerPage": items.len(),
        "startIndex": 1,
        "Resources": items,
    })
}

pub async fn config(State(st): State<AppState>) -> Response {
    let base = base(&st);
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/roster/roster/blob/main/docs/scim.md",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": true},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An API key with scope `scim`: Authorization: Bearer rk_…",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    });
    scim_json(StatusCode::OK, &body)
}

pub async fn resource_types(State(st): State<AppState>) -> Response {
    scim_json(StatusCode::OK, &list(all_resource_types(&base(&st))))
}

pub async fn resource_type(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    all_resource_types(&base(&st))
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .map(|r| scim_json(StatusCode::OK, &r))
        .ok_or_else(|| ScimError::not_found("resource type"))
}

pub async fn schemas(State(st): State<AppState>) -> Response {
    scim_json(StatusCode::OK, &list(all_schemas(&base(&st))))
}

pub async fn schema(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    all_schemas(&base(&st))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(&id))
        })
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimError::not_found("schema"))
}
