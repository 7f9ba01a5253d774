//! `/api/v1/graphql`: every query, mutation and the subscription with real
//! tokens against the real server; the same policy as REST (a plain user
//! sees only itself); the limits; a page of users with their groups in a
//! bounded number of store reads; events over a WebSocket that resume.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TestApp, assert_problem, login, spawn_app, spawn_app_tuned};

const PATH: &str = "/api/v1/graphql";

/// Runs one operation as `token`; the whole response (`data`, `errors`).
async fn gql(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let res = app
        .as_token(token, Method::POST, PATH)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.unwrap()
}

/// The data of an operation that must succeed.
async fn ok(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = gql(app, token, query, variables).await;
    assert!(body.get("errors").is_none(), "{query}: {body}");
    body["data"].clone()
}

/// The one error of an operation that must fail: (its problem type, status).
async fn fails(app: &TestApp, token: &str, query: &str, variables: Value) -> (String, Value) {
    let body = gql(app, token, query, variables).await;
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    let ext = &errors[0]["extensions"];
    (
        ext["type"].as_str().unwrap_or_default().to_owned(),
        errors[0].clone(),
    )
}

const USER_FIELDS: &str = "id email username name roles status emailVerified mfaEnabled attributes createdAt updatedAt version";

async fn user_count(app: &TestApp) -> usize {
    let body: Value = app
        .get("/api/v1/users?limit=500")
        .await
        .json()
        .await
        .unwrap();
    body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn queries_and_mutations_are_the_rest_use_cases() {
    let app = spawn_app().await;
    let admin = app.token.clone();
    let create = format!(
        "mutation($input: CreateUserInput!) {{ createUser(input: $input) {{ {USER_FIELDS} }} }}"
    );
    let ada = ok(
        &app,
        &admin,
        &create,
        json!({"input": {"email": "ada@example.com", "name": "Ada Lovelace", "username": "ada",
                          "password": "correct horse battery", "attributes": {"team": "engines"}}}),
    )
    .await["createUser"]
        .clone();
    let id = ada["id"].as_str().unwrap().to_owned();
    // The same user as REST shows it, no secret anywhere.
    let rest: Value = app
        .get(&format!("/api/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ada["email"], rest["email"]);
    assert_eq!(ada["attributes"], rest["attributes"]);
    assert_eq!(ada["roles"], json!(["USER"]));
    assert_eq!(ada["version"], rest["version"]);
    assert!(!ada.to_string().contains("correct horse"));
    // The password works: the write went through the one create use case.
    login(&app.client, &app.base, "ada", "correct horse battery").await;

    // Invalid input: every field's error, as REST's 422, and nothing created.
    let before = user_count(&app).await;
    let (kind, err) = fails(
        &app,
        &admin,
        &create,
        json!({"input": {"email": "not-an-address", "username": "-x", "attributes": [1]}}),
    )
    .await;
    assert_eq!(kind, "urn:roster:problem:validation");
    assert_eq!(err["extensions"]["status"], 422);
    let fields: Vec<&str> = err["extensions"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "username", "attributes"], "{err}");
    assert_eq!(user_count(&app).await, before);
    let (kind, _) = fails(
        &app,
        &admin,
        &create,
        json!({"input": {"email": "ADA@example.com"}}),
    )
    .await;
    assert_eq!(kind, "urn:roster:problem:conflict");

    // Update with the expected version; a stale one changes nothing.
    let update = "mutation($id: ID!, $input: UpdateUserInput!, $v: Int) {
        updateUser(id: $id, input: $input, expectedVersion: $v) { name username attributes version } }";
    let updated = ok(
        &app,
        &admin,
        update,
        json!({"id": id, "input": {"name": "Ada Byron", "username": null, "attributes": {"floor": 3}}, "v": 1}),
    )
    .await["updateUser"]
        .clone();
    assert_eq!(updated["name"], "Ada Byron");
    assert_eq!(updated["username"], Value::Null);
    assert_eq!(
        updated["attributes"],
        json!({"team": "engines", "floor": 3})
    );
    assert_eq!(updated["version"], 2);
    let (kind, err) = fails(
        &app,
        &admin,
        update,
        json!({"id": id, "input": {"name": "Stale"}, "v": 1}),
    )
    .await;
    assert_eq!(kind, "urn:roster:problem:precondition-failed");
    assert_eq!(err["extensions"]["status"], 412);
    assert_eq!(err["path"], json!(["updateUser"]));
    let now = ok(
        &app,
        &admin,
        "query($id: ID!) { user(id: $id) { name version } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(now["user"], json!({"name": "Ada Byron", "version": 2}));

    // Pages of users: the same users, in the same order, as REST's list.
    for n in 0..5 {
        app.create_user(json!({"email": format!("u{n}@example.com")}))
            .await;
    }
    let rest: Value = app
        .get("/api/v1/users?limit=500&sort=email")
        .await
        .json()
        .await
        .unwrap();
    let rest_ids: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let page = "query($after: String) { users(first: 2, after: $after, sort: EMAIL) {
        edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let (mut after, mut seen) = (Value::Null, Vec::new());
    loop {
        let users = ok(&app, &admin, page, json!({"after": after})).await["users"].clone();
        for e in users["edges"].as_array().unwrap() {
            seen.push(e["node"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            users["pageInfo"]["hasPreviousPage"],
            Value::Bool(!after.is_null())
        );
        if users["pageInfo"]["hasNextPage"] == false {
            break;
        }
        // An edge's cursor is a place to go on from, as is endCursor.
        let edges = users["edges"].as_array().unwrap();
        assert_eq!(edges[1]["cursor"], users["pageInfo"]["endCursor"]);
        after = edges[0]["cursor"].clone();
        let from_first = ok(&app, &admin, page, json!({"after": after})).await["users"]["edges"][0]
            ["node"]["id"]
            .clone();
        assert_eq!(from_first, edges[1]["node"]["id"]);
        after = users["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, rest_ids);
    let filtered = ok(
        &app,
        &admin,
        "{ users(first: 50, filter: {roles: [ADMIN]}) { edges { node { email } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        filtered["users"]["edges"],
        json!([{"node": {"email": crate::helpers::ADMIN_EMAIL}}])
    );
    let (kind, _) = fails(
        &app,
        &admin,
        "{ users(after: \"nonsense\") { edges { cursor } } }",
        json!({}),
    )
    .await;
    assert_eq!(kind, "urn:roster:problem:bad-request");

    // Search: typo-tolerant, faceted, highlighted; the REST hits in order.
    let search = ok(
        &app,
        &admin,
        "{ searchUsers(q: \"ada byrom\", facets: [STATUS, ROLES], consistent: true) {
            total tookMs edges { node { id } score highlights { field text } }
            facets { name values { value count } } pageInfo { hasNextPage } } }",
        json!({}),
    )
    .await["searchUsers"]
        .clone();
    assert_eq!(search["total"], 1);
    assert_eq!(search["edges"][0]["node"]["id"], json!(id));
    let marked = search["edges"][0]["highlights"].to_string();
    assert!(marked.contains("<mark>Ada</mark>"), "{marked}");
    let status = &search["facets"][0];
    assert_eq!(status["name"], "status");
    assert!(
        status["values"]
            .as_array()
            .unwrap()
            .contains(&json!({"value": "active", "count": 1}))
    );
    let rest: Value = app
        .get("/api/v1/users/search?q=example&limit=3&sort=created_at")
        .await
        .json()
        .await
        .unwrap();
    let hits = "query($after: String) { searchUsers(q: \"example\", first: 3, after: $after, sort: CREATED_AT) {
        total edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
    let first = ok(&app, &admin, hits, json!({})).await["searchUsers"].clone();
    assert_eq!(first["total"], rest["total"]);
    let ids = |v: &Value| -> Vec<Value> {
        v["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].clone())
            .collect()
    };
    let rest_first: Vec<Value> = rest["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["user"]["id"].clone())
        .collect();
    assert_eq!(ids(&first), rest_first);
    let second = ok(
        &app,
        &admin,
        hits,
        json!({"after": first["pageInfo"]["endCursor"]}),
    )
    .await["searchUsers"]
        .clone();
    let rest: Value = app
        .get("/api/v1/users/search?q=example&limit=3&offset=3&sort=created_at")
        .await
        .json()
        .await
        .unwrap();
    let rest_second: Vec<Value> = rest["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["user"]["id"].clone())
        .collect();
    assert_eq!(ids(&second), rest_second);

    // Groups and membership.
    let group = ok(
        &app,
        &admin,
        "mutation { createGroup(input: {name: \"Engines\", roles: [ADMIN], description: \"Difference\"}) { id name roles memberCount version } }",
        json!({}),
    )
    .await["createGroup"]
        .clone();
    let gid = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["memberCount"], 0);
    let added = ok(
        &app,
        &admin,
        "mutation($g: ID!, $u: [ID!]!) { addGroupMembers(groupId: $g, userIds: $u) { memberCount members { edges { node { email } } } } }",
        json!({"g": gid, "u": [id]}),
    )
    .await["addGroupMembers"]
        .clone();
    assert_eq!(added["memberCount"], 1);
    assert_eq!(
        added["members"]["edges"],
        json!([{"node": {"email": "ada@example.com"}}])
    );
    // Unknown member: the REST 422, and no one added.
    let (kind, _) = fails(
        &app,
        &admin,
        "mutation($g: ID!, $u: [ID!]!) { addGroupMembers(groupId: $g, userIds: $u) { memberCount } }",
        json!({"g": gid, "u": [id, uuid_like()]}),
    )
    .await;
    assert_eq!(kind, "urn:roster:problem:validation");
    let groups = ok(
        &app,
        &admin,
        "query($id: ID!, $g: ID!) { user(id: $id) { groups { name } } group(id: $g) { memberCount }
           groups { edges { node { name } } pageInfo { hasNextPage } } }",
        json!({"id": id, "g": gid}),
    )
    .await;
    assert_eq!(groups["user"]["groups"], json!([{"name": "Engines"}]));
    assert_eq!(groups["group"]["memberCount"], 1);
    assert_eq!(
        groups["groups"]["edges"],
        json!([{"node": {"name": "Engines"}}])
    );
    let removed = ok(
        &app,
        &admin,
        "mutation($g: ID!, $u: [ID!]!) { removeGroupMembers(groupId: $g, userIds: $u) { memberCount } }",
        json!({"g": gid, "u": [id]}),
    )
    .await;
    assert_eq!(removed["removeGroupMembers"]["memberCount"], 0);

    // The audit log names the GraphQL writes as REST's do.
    let audit = ok(
        &app,
        &admin,
        "{ auditLog(first: 50, action: \"user.create\") { edges { node { action actor target outcome } } } }",
        json!({}),
    )
    .await;
    let entries = audit["auditLog"]["edges"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["node"]["target"] == json!(id) && e["node"]["outcome"] == "success"),
        "{audit}"
    );

    // Deletes: the group, then the user (with its version).
    let deleted = ok(
        &app,
        &admin,
        "mutation($g: ID!) { deleteGroup(id: $g) }",
        json!({"g": gid}),
    )
    .await;
    assert_eq!(deleted["deleteGroup"], json!(gid));
    let (kind, _) = fails(
        &app,
        &admin,
        "mutation($id: ID!) { deleteUser(id: $id, expectedVersion: 1) }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(kind, "urn:roster:problem:precondition-failed");
    ok(
        &app,
        &admin,
        "mutation($id: ID!) { deleteUser(id: $id, expectedVersion: 2) }",
        json!({"id": id}),
    )
    .await;
    let gone = ok(
        &app,
        &admin,
        "query($id: ID!, $g: ID!) { user(id: $id) { id } group(id: $g) { id } }",
        json!({"id": id, "g": gid}),
    )
    .await;
    assert_eq!(gone, json!({"user": null, "group": null}));
    let res = app
        .request(Method::GET, &format!("/api/v1/users/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

fn uuid_like() -> String {
    "01890000-0000-7000-8000-000000000000".to_owned()
}

#[tokio::test]
async fn a_plain_user_sees_only_itself_and_keys_keep_their_scopes() {
    let app = spawn_app().await;
    let (ada, token) = app
        .user_with_token("ada@example.com", "correct horse battery")
        .await;
    let bob = app.create_user(json!({"email": "bob@example.com"})).await;
    let me = ok(&app, &token, "{ me { email groups { name } } }", json!({})).await;
    assert_eq!(me["me"], json!({"email": "ada@example.com", "groups": []}));
    let own = ok(
        &app,
        &token,
        "query($id: ID!) { user(id: $id) { email } }",
        json!({"id": ada["id"]}),
    )
    .await;
    assert_eq!(own["user"]["email"], "ada@example.com");
    // Another user's record, the list, search, groups, the audit log: 403.
    for (query, variables) in [
        (
            "query($id: ID!) { user(id: $id) { email } }",
            json!({"id": bob["id"]}),
        ),
        ("{ users { edges { cursor } } }", json!({})),
        ("{ searchUsers(q: \"bob\") { total } }", json!({})),
        ("{ groups { edges { cursor } } }", json!({})),
        ("{ auditLog { edges { cursor } } }", json!({})),
        (
            "mutation($id: ID!) { updateUser(id: $id, input: {name: \"Mallory\"}) { name } }",
            json!({"id": bob["id"]}),
        ),
        (
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": bob["id"]}),
        ),
        (
            "mutation($id: ID!) { updateUser(id: $id, input: {roles: [ADMIN]}) { roles } }",
            json!({"id": ada["id"]}),
        ),
        (
            "mutation { createGroup(input: {name: \"Mine\"}) { id } }",
            json!({}),
        ),
    ] {
        let (kind, err) = fails(&app, &token, query, variables).await;
        assert_eq!(kind, "urn:roster:problem:forbidden", "{query}: {err}");
        assert_eq!(err["extensions"]["status"], 403);
    }
    // Nothing changed; its own profile it may change.
    let bob_now: Value = app
        .get(&format!("/api/v1/users/{}", bob["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bob_now["version"], 1);
    let renamed = ok(
        &app,
        &token,
        "mutation($id: ID!) { updateUser(id: $id, input: {name: \"Ada\"}) { name roles } }",
        json!({"id": ada["id"]}),
    )
    .await;
    assert_eq!(
        renamed["updateUser"],
        json!({"name": "Ada", "roles": ["USER"]})
    );

    // An API key: `me` is null, its scopes hold.
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/api-keys",
            &json!({"name": "reader", "scopes": ["users:read"]}),
        )
        .await;
    let key = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = ok(
        &app,
        &key,
        "{ me { id } users { edges { node { email } } } }",
        json!({}),
    )
    .await;
    assert_eq!(read["me"], Value::Null);
    assert_eq!(read["users"]["edges"].as_array().unwrap().len(), 3);
    let (kind, _) = fails(
        &app,
        &key,
        "mutation { createUser(input: {email: \"eve@example.com\"}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(kind, "urn:roster:problem:forbidden");

    // No credentials, bad credentials: the API's 401 problem.
    let res = app
        .anon(Method::POST, PATH)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app
        .as_token("not-a-token", Method::POST, PATH)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

/// `first` nested `depth` times: users → groups → members → groups …
fn nested(depth: usize) -> String {
    let mut q = String::from("id");
    for i in 0..depth {
        q = if (depth - 1 - i).is_multiple_of(2) {
            format!("groups {{ {q} }}")
        } else {
            format!("members(first: 1) {{ edges {{ node {{ {q} }} }} }}")
        };
    }
    format!("{{ me {{ {q} }} }}")
}

#[tokio::test]
async fn limits_answer_with_clear_errors_and_run_nothing() {
    let app = spawn_app_tuned(|c| c.graphql.introspection = false).await;
    let admin = app.token.clone();
    // Depth: at most 10 levels.
    ok(&app, &admin, &nested(4), json!({})).await;
    let body = gql(&app, &admin, &nested(8), json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nested too deep"), "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    // Complexity: `first` multiplies what is under it.
    let body = gql(
        &app,
        &admin,
        "{ users(first: 500) { edges { node { groups { members(first: 500) { edges { node { id email } } } } } } } }",
        json!({}),
    )
    .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("too complex"), "{body}");
    // Arguments out of range.
    let (_, err) = fails(
        &app,
        &admin,
        "{ users(first: 501) { edges { cursor } } }",
        json!({}),
    )
    .await;
    assert!(err["message"].as_str().unwrap().contains("500"), "{err}");
    // Introspection is off on this server.
    let res = app
        .request(Method::POST, PATH)
        .json(&json!({"query": "{ __schema { types { name } } }"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Introspection")
    );

    // Batches: up to 10 operations, each answered.
    let one = json!({"query": "{ me { email } }"});
    let res = app
        .request(Method::POST, PATH)
        .json(&json!([one, one]))
        .send()
        .await
        .unwrap();
    let answers: Value = res.json().await.unwrap();
    assert_eq!(answers.as_array().unwrap().len(), 2);
    assert_eq!(
        answers[1]["data"]["me"]["email"],
        crate::helpers::ADMIN_EMAIL
    );
    let create =
        json!({"query": "mutation { createUser(input: {email: \"batch@example.com\"}) { id } }"});
    let mut eleven = vec![create];
    eleven.extend(std::iter::repeat_n(one.clone(), 10));
    let before = user_count(&app).await;
    let res = app
        .request(Method::POST, PATH)
        .json(&Value::Array(eleven))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("10"),
        "{problem}"
    );
    assert_eq!(user_count(&app).await, before);

    // Transport: GET runs queries, not mutations; bodies must be JSON.
    let res = app
        .request(Method::GET, &format!("{PATH}?query=%7Bme%7Bemail%7D%7D"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], crate::helpers::ADMIN_EMAIL);
    let res = app
        .request(
            Method::GET,
            &format!(
                "{PATH}?query=mutation%7BcreateUser(input:%7Bemail:%22get@example.com%22%7D)%7Bid%7D%7D"
            ),
        )
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, StatusCode::METHOD_NOT_ALLOWED).await;
    assert!(problem["detail"].as_str().unwrap().contains("POST"));
    assert_eq!(user_count(&app).await, before);
    let res = app
        .request(Method::POST, PATH)
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST).await;
    let res = app
        .request(Method::POST, PATH)
        .header("content-type", "text/plain")
        .body("{ me { id } }")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // Syntax errors: a GraphQL error, nothing run.
    let body = gql(&app, &admin, "{ me { email ", json!({})).await;
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    app.stop().await;

    // A timeout stops the operation with the REST `timeout` type.
    let app = spawn_app_tuned(|c| c.graphql.timeout = Duration::from_millis(1)).await;
    for n in 0..300 {
        app.create_user(json!({"email": format!("t{n}@example.com")}))
            .await;
    }
    let body = gql(
        &app,
        &app.token,
        "{ a: users(first: 500) { edges { node { email groups { name } } } }
           b: searchUsers(q: \"t\", first: 200, consistent: true) { total } }",
        json!({}),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"]["type"], "urn:roster:problem:timeout",
        "{body}"
    );
}

#[tokio::test]
async fn a_page_of_users_with_their_groups_costs_a_bounded_number_of_reads() {
    let app = spawn_app().await;
    let mut groups = Vec::new();
    for g in 0..5 {
        let res = app
            .send_json(
                Method::POST,
                "/api/v1/groups",
                &json!({"name": format!("team-{g}")}),
            )
            .await;
        groups.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut members: Vec<Vec<String>> = vec![Vec::new(); 5];
    for n in 0..99 {
        let u = app
            .create_user(json!({"email": format!("m{n:02}@example.com")}))
            .await;
        let id = u["id"].as_str().unwrap().to_owned();
        // Each user in two groups.
        members[n % 5].push(id.clone());
        members[(n + 1) % 5].push(id);
    }
    for (g, ids) in groups.iter().zip(&members) {
        let res = app
            .send_json(
                Method::POST,
                &format!("/api/v1/groups/{g}/members"),
                &json!({"user_ids": ids}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let query = "{ users(first: 100, sort: EMAIL) { edges { node { email groups { name } } } } }";
    // Once to warm up (the first authentication reads more).
    ok(&app, &app.token, query, json!({})).await;
    // The indexer reads the change log behind the writes above, and the
    // background tasks (outbox, housekeeping) read on their own clocks:
    // wait until the store is quiet, and keep the fewest reads of three
    // requests, so that only a request's own reads are counted.
    let mut reads = u64::MAX;
    let mut data = json!(null);
    for _ in 0..3 {
        let mut last = app.reads.get();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let now = app.reads.get();
            if now == last {
                break;
            }
            last = now;
        }
        let before = app.reads.get();
        data = ok(&app, &app.token, query, json!({})).await;
        reads = reads.min(app.reads.get() - before);
    }
    eprintln!("store reads for a page of 100 users with their groups: {reads}");
    let edges = data["users"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 100);
    // m00 is in team-0 and team-1; the admin in none.
    let m00 = edges
        .iter()
        .find(|e| e["node"]["email"] == "m00@example.com")
        .unwrap();
    let mut names: Vec<&str> = m00["node"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["team-0", "team-1"]);
    // Authentication, the page, one batch of groups: not one read a user.
    assert!(reads <= 5, "{reads} store reads for a page of 100 users");
}

#[tokio::test]
async fn introspection_answers_past_the_depth_limit_but_nothing_else_does() {
    let app = spawn_app().await;
    // As deep as the standard introspection query goes.
    let deep = "{ __schema { types { name fields { name type { name ofType { name ofType { name
        ofType { name ofType { name ofType { name ofType { name } } } } } } } } } } }";
    let data = ok(&app, &app.token, deep, json!({})).await;
    let names: Vec<&str> = data["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"User") && names.contains(&"ChangeEvent"),
        "{names:?}"
    );
    // Mixed with data, the depth limit holds for all of it.
    let mixed = deep.replacen("{ __schema", "{ me { id } __schema", 1);
    let body = gql(&app, &app.token, &mixed, json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );
}

/// A `graphql-transport-ws` client: connects, sends `connection_init`.
async fn socket(
    app: &TestApp,
    init: Value,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = app.url(PATH).replacen("http", "ws", 1);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        res.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    ws.send(Message::text(
        json!({"type": "connection_init", "payload": init}).to_string(),
    ))
    .await
    .unwrap();
    ws
}

/// The next protocol message that is not a ping.
async fn next_message(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")?
            .ok()?;
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "ping" {
                    return Some(v);
                }
            }
            Message::Close(frame) => {
                return Some(json!({"type": "close", "code": frame.map(|f| u16::from(f.code))}));
            }
            _ => {}
        }
    }
}

const SUBSCRIBE: &str = "subscription($after: ID) { events(after: $after, types: [\"user.created\", \"user.deleted\"]) {
    id type occurredAt subjectId user { email } reset { reason lastId } } }";

#[tokio::test]
async fn subscriptions_follow_the_change_log_and_resume() {
    let app = spawn_app().await;
    let mut ws = socket(
        &app,
        json!({"Authorization": format!("Bearer {}", app.token)}),
    )
    .await;
    assert_eq!(
        next_message(&mut ws).await.unwrap()["type"],
        "connection_ack"
    );
    let subscribe = |id: &str, after: Value| {
        Message::text(
            json!({"id": id, "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"after": after}}})
                .to_string(),
        )
    };
    ws.send(subscribe("1", Value::Null)).await.unwrap();
    // Subscribed once the server has the operation: a created user shows.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ada = app.create_user(json!({"email": "ada@example.com"})).await;
    let event = next_message(&mut ws).await.unwrap();
    assert_eq!(event["type"], "next", "{event}");
    let data = &event["payload"]["data"]["events"];
    assert_eq!(data["type"], "user.created");
    assert_eq!(data["subjectId"], ada["id"]);
    assert_eq!(data["user"]["email"], "ada@example.com");
    assert!(data["occurredAt"].is_string());
    let seen = data["id"].as_str().unwrap().to_owned();
    ws.close(None).await.unwrap();

    // Changes while away: a new socket with `after` gets them, in order,
    // and not the one already seen.
    let bob = app.create_user(json!({"email": "bob@example.com"})).await;
    app.request(
        Method::DELETE,
        &format!("/api/v1/users/{}", ada["id"].as_str().unwrap()),
    )
    .send()
    .await
    .unwrap();
    let mut ws = socket(&app, json!({"token": app.token})).await;
    assert_eq!(
        next_message(&mut ws).await.unwrap()["type"],
        "connection_ack"
    );
    ws.send(subscribe("2", json!(seen))).await.unwrap();
    let first = next_message(&mut ws).await.unwrap();
    let second = next_message(&mut ws).await.unwrap();
    let kinds: Vec<(&Value, &Value)> = [&first, &second]
        .iter()
        .map(|m| {
            let e = &m["payload"]["data"]["events"];
            (&e["type"], &e["subjectId"])
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (&json!("user.created"), &bob["id"]),
            (&json!("user.deleted"), &ada["id"])
        ]
    );
    // A position the log does not hold: `reset` first.
    ws.send(subscribe("3", json!("999999"))).await.unwrap();
    let reset = next_message(&mut ws).await.unwrap();
    assert_eq!(reset["id"], "3");
    let e = &reset["payload"]["data"]["events"];
    assert_eq!(e["type"], "reset", "{reset}");
    assert!(
        e["reset"]["reason"]
            .as_str()
            .unwrap()
            .contains("past the newest")
    );
    ws.close(None).await.unwrap();

    // Bad credentials close the socket; a plain user may not follow.
    let mut ws = socket(&app, json!({"Authorization": "Bearer nonsense"})).await;
    let closed = next_message(&mut ws).await;
    assert!(
        closed
            .as_ref()
            .is_none_or(|m| m["type"] == "close" && m["code"] == 1002),
        "{closed:?}"
    );
    let (_, token) = app
        .user_with_token("carl@example.com", "correct horse battery")
        .await;
    let mut ws = socket(&app, json!({"Authorization": format!("Bearer {token}")})).await;
    assert_eq!(
        next_message(&mut ws).await.unwrap()["type"],
        "connection_ack"
    );
    ws.send(subscribe("4", Value::Null)).await.unwrap();
    let refused = next_message(&mut ws).await.unwrap();
    assert_eq!(refused["id"], "4", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["type"], "urn:roster:problem:forbidden",
        "{refused}"
    );
    assert_eq!(refused["payload"]["data"], Value::Null);
    assert_eq!(next_message(&mut ws).await.unwrap()["type"], "complete");
}

#[tokio::test]
async fn graphiql_is_served_to_browsers_only_when_turned_on() {
    let app = spawn_app().await;
    let res = app
        .anon(Method::GET, PATH)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    app.stop().await;
    let app = spawn_app_tuned(|c| c.graphql.playground = true).await;
    let res = app
        .anon(Method::GET, PATH)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let page = res.text().await.unwrap();
    assert!(page.contains("graphiql"), "{page}");
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no third-party origin"
    );
    // The API itself still wants credentials.
    let res = app
        .anon(Method::GET, &format!("{PATH}?query=%7Bme%7Bid%7D%7D"))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

/// A user selected plainly is answered in one pass, with fragments,
/// aliases or `groups` through the general resolver: both must agree.
#[tokio::test]
async fn a_user_answers_alike_with_or_without_fragments() {
    let app = spawn_app().await;
    let admin = app.token.clone();
    for (email, name, username) in [
        ("grace@example.com", Some("Grace Hopper"), Some("grace")),
        ("plain@example.com", None, None),
    ] {
        // `$json` is the key that marks written JSON at the top level: in
        // a user's attributes it is only data.
        let mut input = json!({"email": email, "attributes": {"team": "navy", "n": 1.5, "tags": ["a", {"b": null}], "$json": "\"}"}});
        if let Some(name) = name {
            input["name"] = json!(name);
            input["username"] = json!(username);
        }
        ok(
            &app,
            &admin,
            "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
            json!({"input": input}),
        )
        .await;
    }
    let page = |selection: &str| {
        format!("{{ users(first: 10) {{ edges {{ node {{ {selection} }} }} }} }}")
    };
    let nodes = |data: Value| -> Vec<Value> {
        data["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    };
    let plain = nodes(
        ok(
            &app,
            &admin,
            &page(&format!("__typename {USER_FIELDS}")),
            json!({}),
        )
        .await,
    );
    assert_eq!(plain.len(), 3, "{plain:?}");
    assert!(
        plain
            .iter()
            .any(|n| n["name"].is_null() && n["username"].is_null())
    );
    assert!(
        plain
            .iter()
            .any(|n| n["attributes"]["tags"][1]["b"].is_null() && n["attributes"]["n"] == 1.5)
    );
    // An inline fragment, a named fragment, a directive and `groups` each
    // take the general path.
    let inline = nodes(
        ok(
            &app,
            &admin,
            &page(&format!("... on User {{ __typename {USER_FIELDS} }}")),
            json!({}),
        )
        .await,
    );
    assert_eq!(plain, inline);
    let named = ok(
        &app,
        &admin,
        &format!(
            "{{ users(first: 10) {{ edges {{ node {{ ...U }} }} }} }} fragment U on User {{ __typename {USER_FIELDS} }}"
        ),
        json!({}),
    )
    .await;
    assert_eq!(plain, nodes(named));
    let directed = nodes(
        ok(
            &app,
            &admin,
            &page(&format!(
                "__typename {USER_FIELDS} groups @include(if: true) {{ id }}"
            )),
            json!({}),
        )
        .await,
    );
    for (p, d) in plain.iter().zip(&directed) {
        let mut d = d.clone();
        assert_eq!(d.as_object_mut().unwrap().remove("groups"), Some(json!([])));
        assert_eq!(p, &d);
    }
    // Aliases name the answers; a field asked twice is answered once.
    let aliased = nodes(
        ok(
            &app,
            &admin,
            &page("mail: email email id who: name"),
            json!({}),
        )
        .await,
    );
    for (p, a) in plain.iter().zip(&aliased) {
        assert_eq!(a["mail"], p["email"]);
        assert_eq!(a["who"], p["name"]);
        assert_eq!(a.as_object().unwrap().len(), 4, "{a}");
    }
    let twice = nodes(ok(&app, &admin, &page("email email"), json!({})).await);
    assert_eq!(twice[0].as_object().unwrap().len(), 1);

    // Written JSON is passed on as it is only for a top-level field that
    // nothing merges with; elsewhere it is parsed back, and merges.
    let all = format!("__typename {USER_FIELDS}");
    let under_fragment =
        format!("{{ ... on Query {{ users(first: 10) {{ edges {{ node {{ {all} }} }} }} }} }}");
    assert_eq!(
        plain,
        nodes(ok(&app, &admin, &under_fragment, json!({})).await)
    );
    let merged = ok(
        &app,
        &admin,
        &format!("{{ users(first: 10) {{ edges {{ node {{ {all} }} }} }} users(first: 10) {{ edges {{ cursor }} }} }}"),
        json!({}),
    )
    .await;
    assert!(
        merged["users"]["edges"][0]["cursor"].is_string(),
        "{merged}"
    );
    assert_eq!(plain, nodes(merged));
    let ids: Vec<Value> = plain.iter().map(|n| n["id"].clone()).collect();
    let group = ok(
        &app,
        &admin,
        "mutation { createGroup(input: {name: \"all\"}) { id } }",
        json!({}),
    )
    .await["createGroup"]["id"]
        .clone();
    let members = ok(
        &app,
        &admin,
        &format!(
            "mutation($g: ID!, $u: [ID!]!) {{ addGroupMembers(groupId: $g, userIds: $u) {{ members(first: 10) {{ edges {{ node {{ {all} }} }} }} }} }}"
        ),
        json!({"g": group, "u": ids}),
    )
    .await;
    let mut members: Vec<Value> = members["addGroupMembers"]["members"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    members.sort_by_key(|n| n["id"].as_str().unwrap().to_owned());
    let mut sorted = plain.clone();
    sorted.sort_by_key(|n| n["id"].as_str().unwrap().to_owned());
    // Members' versions moved on when they joined; nothing else did.
    for (m, p) in members.iter_mut().zip(&sorted) {
        let (mv, pv) = (m["version"].as_u64(), p["version"].as_u64());
        assert!(mv >= pv, "{m} {p}");
        m["version"] = p["version"].clone();
        m["updatedAt"] = p["updatedAt"].clone();
    }
    assert_eq!(members, sorted);
    for node in &plain {
        let one = format!("user(id: {}) {{ {all} }}", node["id"]);
        assert_eq!(
            &ok(&app, &admin, &format!("{{ {one} }}"), json!({})).await["user"],
            node
        );
        let inner = ok(
            &app,
            &admin,
            &format!("{{ ... on Query {{ {one} }} }}"),
            json!({}),
        )
        .await;
        assert_eq!(&inner["user"], node);
    }

    // Edges too: a page and a search hit, plainly and through fragments.
    let page_info = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }";
    let facets = "total facets { name values { value count } }";
    let search = "searchUsers(q: \"grace\", first: 5, facets: [STATUS, ROLES], consistent: true)";
    let plainly = format!(
        "{{ users(first: 10) {{ {page_info} edges {{ __typename cursor node {{ id email }} }} }} \
         {search} {{ {facets} {page_info} edges {{ __typename cursor score highlights {{ field text }} node {{ id name }} }} }} }}"
    );
    let fragments = format!(
        "{{ users(first: 10) {{ ... on UserConnection {{ {page_info} edges {{ ... on UserEdge {{ __typename cursor node {{ id email }} }} }} }} }} \
         {search} {{ ...S }} }} \
         fragment S on UserSearchConnection {{ {facets} {page_info} edges {{ ...E }} }} \
         fragment E on SearchEdge {{ __typename cursor score highlights {{ ... on Highlight {{ field text }} }} node {{ id name }} }}"
    );
    let took = ok(
        &app,
        &admin,
        &format!("{{ {search} {{ tookMs }} }}"),
        json!({}),
    )
    .await;
    assert!(took["searchUsers"]["tookMs"].is_f64(), "{took}");
    let found = ok(&app, &admin, &plainly, json!({})).await;
    let hit = &found["searchUsers"]["edges"][0];
    assert_eq!(hit["node"]["name"], "Grace Hopper", "{found}");
    assert!(
        hit["highlights"].as_array().is_some_and(|h| !h.is_empty()),
        "{found}"
    );
    assert!(hit["score"].as_f64().is_some_and(|s| s > 0.0), "{found}");
    assert_eq!(found["users"]["edges"].as_array().unwrap().len(), 3);
    assert_eq!(found["searchUsers"]["total"], 1, "{found}");
    assert_eq!(
        found["searchUsers"]["facets"][0]["values"][0]["count"], 1,
        "{found}"
    );
    assert_eq!(found["users"]["pageInfo"]["hasNextPage"], false, "{found}");
    assert!(
        found["users"]["pageInfo"]["endCursor"].is_string(),
        "{found}"
    );
    assert_eq!(found, ok(&app, &admin, &fragments, json!({})).await);
}

/// An operation seen before skips the parser and most of the validation:
/// what depends on the variables is still checked on every run.
#[tokio::test]
async fn a_repeated_operation_is_still_checked_on_every_run() {
    let app = spawn_app().await;
    let admin = app.token.clone();
    let query = format!(
        "query($n: Int, $m: Int) {{ users(first: $n) {{ edges {{ node {{ groups {{ members(first: $m) {{ edges {{ node {{ {USER_FIELDS} }} }} }} }} }} }} }} }}"
    );
    for _ in 0..3 {
        ok(&app, &admin, &query, json!({"n": 2, "m": 2})).await;
    }
    // Complexity grows with the variables.
    let body = gql(&app, &admin, &query, json!({"n": 500, "m": 500})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{body}"
    );
    // Variables of the wrong type, or out of range.
    let body = gql(&app, &admin, &query, json!({"n": "two", "m": 2})).await;
    assert!(
        body["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(
        body.get("data").is_none_or(|d| d["users"].is_null()),
        "{body}"
    );
    let cursors = "query($n: Int) { users(first: $n) { edges { cursor } } }";
    ok(&app, &admin, cursors, json!({"n": 1})).await;
    let (_, err) = fails(&app, &admin, cursors, json!({"n": 501})).await;
    assert!(err["message"].as_str().unwrap().contains("500"), "{err}");
    // And it still answers.
    let data = ok(&app, &admin, &query, json!({"n": 1, "m": 1})).await;
    assert_eq!(data["users"]["edges"].as_array().unwrap().len(), 1);
    // A plain user repeating an admin's operation meets the policy.
    let (_, plain) = app
        .user_with_token("someone@example.com", "correct horse battery")
        .await;
    let page = "{ users(first: 2) { edges { cursor } } }";
    ok(&app, &admin, page, json!({})).await;
    let (kind, _) = fails(&app, &plain, page, json!({})).await;
    assert_eq!(kind, "urn:roster:problem:forbidden");
}
