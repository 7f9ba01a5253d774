//! SCIM 2.0 (`/scim/v2`): the provisioning conversations Okta and
//! Microsoft Entra ID document, replayed request by request with the
//! bodies they send, each answer checked; and discovery, authentication,
//! filters, pages, `attributes`, preconditions and errors. What SCIM
//! writes is checked through the REST API too (one write path).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Checked, TestApp, login, spawn_app};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

struct Scim<'a> {
    app: &'a TestApp,
    key: String,
}

impl<'a> Scim<'a> {
    async fn new(app: &'a TestApp) -> Scim<'a> {
        Scim {
            app,
            key: key(app, "scim").await,
        }
    }

    /// One request with the key; the answer's status and JSON body (null
    /// when empty). Every answer with a body is application/scim+json.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        call(self.app, &self.key, method, path, body).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
}

async fn key(app: &TestApp, scope: &str) -> String {
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": format!("{scope} key"), "scopes": [scope]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    body["secret"].as_str().unwrap().to_owned()
}

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, app.url(&format!("/scim/v2{path}")))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json; charset=utf-8")
            .body(b.to_string());
    }
    let res = req.check().await;
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = res.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    assert_eq!(
        ct.as_deref(),
        Some("application/scim+json"),
        "{path}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

/// A SCIM error of `status` (and `scim_type`, if given).
fn assert_error(answer: &(StatusCode, Value), status: StatusCode, scim_type: Option<&str>) {
    let (s, body) = answer;
    assert_eq!(*s, status, "{body}");
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], status.as_str(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    if let Some(t) = scim_type {
        assert_eq!(body["scimType"], t, "{body}");
    }
}

fn q(filter: &str) -> String {
    form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

async fn rest_user(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn okta_provisions_a_user_and_pushes_a_group() {
    let app = spawn_app().await;
    let scim = Scim::new(&app).await;
    // Okta looks the user up first.
    let (s, found) = scim
        .get(&format!(
            "/Users?filter={}&startIndex=1&count=100",
            q(r#"userName eq "test.user@okta.local""#)
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        found,
        json!({"schemas": [LIST], "totalResults": 0, "itemsPerPage": 0, "startIndex": 1, "Resources": []})
    );
    let create = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    });
    let (s, user) = scim
        .call(Method::POST, "/Users", Some(create.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["userName"], "test.user@okta.local");
    assert_eq!(
        user["name"],
        json!({"givenName": "Test", "familyName": "User"})
    );
    assert_eq!(user["active"], true);
    assert_eq!(user["locale"], "en-US", "unknown attributes are kept");
    assert_eq!(user["externalId"], "00ujl29u0le5T6Aj10h7");
    assert!(user.get("password").is_none(), "{user}");
    assert_eq!(user["meta"]["resourceType"], "User");
    assert!(
        user["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    // The same user through REST; the password Okta sent signs in.
    let rest = rest_user(&app, &id).await;
    assert_eq!(
        (
            rest["email"].as_str(),
            rest["username"].as_str(),
            rest["name"].as_str()
        ),
        (
            Some("test.user@okta.local"),
            Some("test.user@okta.local"),
            Some("Test User")
        )
    );
    assert_eq!(
        rest["attributes"]["scim"]["externalId"],
        "00ujl29u0le5T6Aj10h7"
    );
    login(&app.client, &app.base, "test.user@okta.local", "1mz050nq").await;

    // userName matches without regard to case; a second create is 409.
    let (_, found) = scim
        .get(&format!(
            "/Users?filter={}",
            q(r#"userName eq "TEST.USER@okta.local""#)
        ))
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    let again = scim.call(Method::POST, "/Users", Some(create)).await;
    assert_error(&again, StatusCode::CONFLICT, Some("uniqueness"));
    let missing = scim
        .get("/Users/01890000-0000-7000-8000-000000000000")
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, None);

    // Deactivation, the way Okta does it (it never deletes users).
    let deactivate = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let (s, user) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(deactivate))
        .await;
    assert_eq!((s, user["active"].clone()), (StatusCode::OK, json!(false)));
    assert_eq!(rest_user(&app, &id).await["status"], "disabled");
    let res = app
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"login": "test.user@okta.local", "password": "1mz050nq"}))
        .check()
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a disabled user cannot sign in"
    );
    let reactivate = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": true}}]});
    let (_, user) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(reactivate))
        .await;
    assert_eq!(user["active"], true);

    // A profile update is a PUT of the whole user, id and meta included.
    let mut put = user.clone();
    put["name"]["familyName"] = json!("Userson");
    put["displayName"] = json!("Test Userson");
    put["groups"] = json!([]);
    let (s, user) = scim
        .call(Method::PUT, &format!("/Users/{id}"), Some(put))
        .await;
    assert_eq!(s, StatusCode::OK, "{user}");
    assert_eq!(user["name"]["familyName"], "Userson");
    assert_eq!(rest_user(&app, &id).await["name"], "Test Userson");

    // Group push.
    let (s, group) = scim
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let (s, list) = scim.get("/Groups?startIndex=1&count=100").await;
    assert_eq!(
        (s, list["totalResults"].clone()),
        (StatusCode::OK, json!(1))
    );
    // Okta renames before every membership change, naming the group's id.
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}]});
    let (s, group) = scim
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(rename))
        .await;
    assert_eq!(
        (s, group["displayName"].as_str()),
        (StatusCode::OK, Some("Test SCIMv2 renamed"))
    );
    let membership = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "remove", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"},
        {"op": "add", "path": "members", "value": [{"value": id, "display": "test.user@okta.local"}]}
    ]});
    let (s, group) = scim
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(membership))
        .await;
    assert_eq!(s, StatusCode::OK, "{group}");
    assert_eq!(group["members"][0]["value"], id.as_str());
    let rest_group: Value = app
        .get(&format!("/api/v1/groups/{gid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            rest_group["name"].as_str(),
            rest_group["member_count"].as_u64()
        ),
        (Some("Test SCIMv2 renamed"), Some(1))
    );
    let (_, user) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(user["groups"][0]["value"], gid.as_str());
    assert_eq!(user["groups"][0]["display"], "Test SCIMv2 renamed");
    // A full push replaces the members; a filtered remove takes one out.
    let other = app.create_user(json!({"email": "other@okta.local"})).await;
    let other_id = other["id"].as_str().unwrap();
    let full = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "members", "value": [{"value": other_id}]}]});
    let (_, group) = scim
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(full))
        .await;
    assert_eq!(
        group["members"],
        json!([{"value": other_id, "$ref": format!("{}/scim/v2/Users/{other_id}", app.base), "type": "User"}])
    );
    let out = json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": format!("members[value eq \"{other_id}\"]")}]});
    let (_, group) = scim
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(out))
        .await;
    assert!(group.get("members").is_none(), "{group}");
    let (s, _) = scim
        .call(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_error(
        &scim.get(&format!("/Groups/{gid}")).await,
        StatusCode::NOT_FOUND,
        None,
    );

    // What the provider wrote is not the user's to change; the rest is.
    let tokens = login(&app.client, &app.base, "test.user@okta.local", "1mz050nq").await;
    let own = tokens["access_token"].as_str().unwrap();
    let res = app
        .as_token(own, Method::PATCH, &format!("/api/v1/users/{id}"))
        .json(&json!({"attributes": {"scim": {"externalId": "someone-else"}}}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .as_token(own, Method::PATCH, &format!("/api/v1/users/{id}"))
        .json(&json!({"attributes": {"pronouns": "they"}}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, user) = scim.get(&format!("/Users/{id}")).await;
    assert_eq!(user["externalId"], "00ujl29u0le5T6Aj10h7");

    // One write path: the audit log names the key for SCIM's writes.
    let audit: Value = app
        .get("/api/v1/audit?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let by_key: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str().is_some_and(|a| a.starts_with("key:")))
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "user.create",
        "user.disable",
        "group.create",
        "group.members.add",
        "group.delete",
    ] {
        assert!(by_key.contains(&a), "{a} in {by_key:?}");
    }
}

#[tokio::test]
async fn entra_provisions_a_user_and_a_group() {
    let app = spawn_app().await;
    let scim = Scim::new(&app).await;
    // Test Connection: a lookup that finds nothing is an empty list.
    let (s, none) = scim
        .get(&format!(
            "/Users?filter={}",
            q(r#"userName eq "5f2f4d72-5b7b-4c2e-b5b9-3f1b5a3c7d10""#)
        ))
        .await;
    assert_eq!(
        (s, none["totalResults"].clone(), none["Resources"].clone()),
        (StatusCode::OK, json!(0), json!([]))
    );
    let (s, _) = scim.get("/ServiceProviderConfig").await;
    assert_eq!(s, StatusCode::OK);
    let (s, user) = scim
        .call(
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                "active": true,
                "emails": [{"primary": true, "type": "work", "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "roles": [],
                "addresses": null, "phoneNumbers": null, "title": null, "manager": null
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    assert!(
        user.get("addresses").is_none(),
        "nulls are unassigned: {user}"
    );
    // Matching by externalId (mailNickname) works too.
    let (_, found) = scim
        .get(&format!(
            "/Users?filter={}",
            q(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#)
        ))
        .await;
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    let (_, found) = scim
        .get(&format!(
            "/Users?filter={}",
            q(r#"emails[type eq "work"].value eq "test_user_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com""#)
        ))
        .await;
    assert_eq!(found["totalResults"], 1);

    // Updates with filtered paths, capitalised ops, a boolean as a string.
    let update = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
    ]});
    let (s, user) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(update))
        .await;
    assert_eq!(s, StatusCode::OK, "{user}");
    assert_eq!(user["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(user["name"]["familyName"], "updatedFamilyName");
    let rest = rest_user(&app, &id).await;
    assert_eq!(rest["email"], "updatedEmail@microsoft.com");
    assert_eq!(
        rest["name"], "givenName familyName",
        "name.formatted is the display name"
    );
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]});
    let (_, user) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(rename))
        .await;
    assert_eq!(
        user["userName"],
        "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    );
    let disable = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let (_, user) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(disable))
        .await;
    assert_eq!(user["active"], false);
    assert_eq!(rest_user(&app, &id).await["status"], "disabled");
    // With aadOptscim062020: a path-less replace with dotted keys.
    let dotted = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
        {"op": "replace", "value": {"displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
            format!("{ENTERPRISE}:employeeNumber"): "Aklq"}}
    ]});
    let (s, user) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(dotted))
        .await;
    assert_eq!(s, StatusCode::OK, "{user}");
    assert_eq!(user["displayName"], "Bjfe");
    assert_eq!(user["name"]["givenName"], "Kkom");
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "Aklq");
    assert!(
        user["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ENTERPRISE))
    );
    let rest = rest_user(&app, &id).await;
    assert_eq!(rest["name"], "Bjfe");
    assert_eq!(
        rest["attributes"]["scim"][ENTERPRISE]["employeeNumber"],
        "Aklq"
    );

    // Groups: an extra schema URN, created without members.
    let (s, group) = scim
        .call(
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "displayName",
                "meta": {"resourceType": "Group"}
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let gid = group["id"].as_str().unwrap().to_owned();
    let (_, found) = scim
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            q(r#"displayName eq "displayName""#)
        ))
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(
        found["Resources"][0]["externalId"],
        "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    );
    let second = app
        .create_user(json!({"email": "second@testuser.com"}))
        .await;
    let second_id = second["id"].as_str().unwrap();
    let add = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}, {"$ref": null, "value": second_id}]}
    ]});
    let (s, group) = scim
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(add))
        .await;
    assert_eq!(s, StatusCode::OK, "{group}");
    assert_eq!(group["members"].as_array().unwrap().len(), 2);
    // Entra removes with a value list: only those go.
    let remove = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": second_id}]}
    ]});
    let (_, group) = scim
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(remove))
        .await;
    assert_eq!(group["members"].as_array().unwrap().len(), 1);
    assert_eq!(group["members"][0]["value"], id.as_str());
    let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59-updatedDisplayName"}]});
    let (_, group) = scim
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(rename))
        .await;
    assert_eq!(group["displayName"], "1879db59-updatedDisplayName");
    // A member that is no user changes nothing.
    let bad = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": "01890000-0000-7000-8000-000000000000"}]}
    ]});
    let answer = scim
        .call(Method::PATCH, &format!("/Groups/{gid}"), Some(bad))
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("invalidValue"));

    // Hard delete of the user: out of its group too.
    let (s, _) = scim
        .call(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, group) = scim.get(&format!("/Groups/{gid}")).await;
    assert!(group.get("members").is_none(), "{group}");
    assert_error(
        &scim.get(&format!("/Users/{id}")).await,
        StatusCode::NOT_FOUND,
        None,
    );
}

#[tokio::test]
async fn discovery_authentication_lists_and_errors() {
    let app = spawn_app().await;
    let scim = Scim::new(&app).await;
    let (_, spc) = scim.get("/ServiceProviderConfig").await;
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["filter"]["supported"], true);
    let (_, types) = scim.get("/ResourceTypes").await;
    let names: Vec<&str> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["User", "Group"]);
    let (s, schema) = scim
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(schema["attributes"][0]["name"], "userName");
    assert_error(
        &scim.get("/Schemas/urn:nope").await,
        StatusCode::NOT_FOUND,
        None,
    );
    assert_error(
        &scim.call(Method::DELETE, "/Schemas", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        None,
    );
    assert_error(&scim.get("/Nothing").await, StatusCode::NOT_FOUND, None);

    // Who may call: an API key with scope scim, or an admin; SCIM errors.
    assert_error(
        &call(&app, "rk_nope", Method::GET, "/Users", None).await,
        StatusCode::UNAUTHORIZED,
        None,
    );
    let reader = key(&app, "users:read").await;
    assert_error(
        &call(&app, &reader, Method::GET, "/Users", None).await,
        StatusCode::FORBIDDEN,
        None,
    );
    let (s, _) = call(&app, &app.token, Method::GET, "/Users", None).await;
    assert_eq!(s, StatusCode::OK, "an admin may");

    // Pages in creation order, sorting, attributes.
    for name in ["carol", "alice", "dave", "bob"] {
        let (s, _) = scim
            .call(Method::POST, "/Users", Some(json!({"userName": name, "emails": [{"value": format!("{name}@example.com"), "primary": true}]})))
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (_, page) = scim
        .get("/Users?startIndex=2&count=2&attributes=userName")
        .await;
    assert_eq!(
        (
            page["totalResults"].as_u64(),
            page["itemsPerPage"].as_u64(),
            page["startIndex"].as_u64()
        ),
        (Some(5), Some(2), Some(2))
    );
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["carol", "alice"],
        "creation order, the bootstrap admin first"
    );
    let keys: Vec<&String> = page["Resources"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let (_, sorted) = scim
        .get(&format!(
            "/Users?filter={}&sortBy=userName&sortOrder=descending",
            q(r#"userName sw "" and emails.value ew "@example.com""#)
        ))
        .await;
    let names: Vec<&str> = sorted["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dave", "carol", "bob", "alice"]);
    let (_, searched) = scim
        .call(
            Method::POST,
            "/Users/.search",
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                        "filter": "userName eq \"bob\" or userName eq \"alice\"", "excludedAttributes": ["emails"]})),
        )
        .await;
    assert_eq!(searched["totalResults"], 2);
    assert!(searched["Resources"][0].get("emails").is_none());

    // Bad input: clear errors, nothing changed.
    assert_error(
        &scim
            .get(&format!("/Users?filter={}", q("userName xx \"a\"")))
            .await,
        StatusCode::BAD_REQUEST,
        Some("invalidFilter"),
    );
    let answer = scim
        .call(
            Method::POST,
            "/Users",
            Some(json!({"name": {"givenName": "X"}})),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let (_, bob) = scim
        .get(&format!("/Users?filter={}", q("userName eq \"bob\"")))
        .await;
    let bob = bob["Resources"][0].clone();
    let bob_id = bob["id"].as_str().unwrap();
    let bad_ops = [
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "jump", "path": "userName"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove"}]}),
        json!({"Operations": [{"op": "remove", "path": "title"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "emails[type eq]", "value": "x"}]}),
        json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": ""}]}),
    ];
    for body in bad_ops {
        let (s, e) = scim
            .call(
                Method::PATCH,
                &format!("/Users/{bob_id}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} → {e}");
        assert_eq!(e["schemas"], json!([ERROR]));
    }
    let (_, after) = scim.get(&format!("/Users/{bob_id}")).await;
    assert_eq!(
        after["meta"]["version"], bob["meta"]["version"],
        "nothing changed"
    );
    let res = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&scim.key)
        .header("content-type", "text/plain")
        .body("{}")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let res = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&scim.key)
        .header("content-type", "application/scim+json")
        .body("{not json")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // ETags: a stale If-Match is 412 and changes nothing.
    let version = bob["meta"]["version"].as_str().unwrap().to_owned();
    let res = app
        .client
        .patch(app.url(&format!("/scim/v2/Users/{bob_id}")))
        .bearer_auth(&scim.key)
        .header("content-type", "application/scim+json")
        .header("if-match", "W/\"999\"")
        .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}).to_string())
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let res = app
        .client
        .patch(app.url(&format!("/scim/v2/Users/{bob_id}")))
        .bearer_auth(&scim.key)
        .header("content-type", "application/scim+json")
        .header("if-match", &version)
        .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}).to_string())
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["meta"]["version"], etag.as_str());
    assert_ne!(etag, version);
}

#[tokio::test]
async fn a_filter_no_index_serves_is_refused_on_a_large_directory_not_scanned() {
    let app = spawn_app().await;
    let scim = Scim::new(&app).await;
    let n = 20_001;
    let body: String = (0..n)
        .map(|i| format!("{{\"email\":\"u{i}@example.com\",\"username\":\"u{i}\"}}\n"))
        .collect();
    let res = app
        .request(Method::POST, "/api/v1/users/import")
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["imported"], n, "{report}");

    let refused = scim
        .get(&format!("/Users?filter={}", q(r#"title eq "x""#)))
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    let refused = scim.get("/Users?sortBy=userName").await;
    assert_error(&refused, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    // Exact lookups still answer, the rest of the filter applied to them.
    let (_, found) = scim
        .get(&format!("/Users?filter={}", q(r#"userName eq "U77""#)))
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], "u77");
    let (_, found) = scim
        .get(&format!(
            "/Users?filter={}",
            q(r#"emails.value eq "u78@example.com" and title pr"#)
        ))
        .await;
    assert_eq!(found["totalResults"], 0);
    // externalId has an index of its own: an Entra matching on it works
    // at any size, and finds the user again after its id changes.
    let body = json!({"userName": "ext.user", "externalId": "Ext-42",
        "emails": [{"value": "ext@example.com", "primary": true}]});
    let (s, created) = scim.call(Method::POST, "/Users", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, found) = scim
        .get(&format!("/Users?filter={}", q(r#"externalId eq "Ext-42""#)))
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], created["id"]);
    let (_, none) = scim
        .get(&format!("/Users?filter={}", q(r#"externalId eq "ext-42""#)))
        .await;
    assert_eq!(none["totalResults"], 0, "externalId is case-exact");
    let change = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "externalId", "value": "Ext-43"}]});
    let id = created["id"].as_str().unwrap();
    let (s, _) = scim
        .call(Method::PATCH, &format!("/Users/{id}"), Some(change))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, old) = scim
        .get(&format!("/Users?filter={}", q(r#"externalId eq "Ext-42""#)))
        .await;
    let (_, new) = scim
        .get(&format!("/Users?filter={}", q(r#"externalId eq "Ext-43""#)))
        .await;
    assert_eq!(
        (old["totalResults"].as_u64(), new["totalResults"].as_u64()),
        (Some(0), Some(1))
    );
    // Pages without a filter come from the creation index.
    let (s, page) = scim.get("/Users?startIndex=20001&count=5").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (page["totalResults"].as_u64(), page["itemsPerPage"].as_u64()),
        (Some(n + 2), Some(3))
    );
}
