//! Groups: the resource, membership in pages, the roles a group grants
//! (applied to authorization at once, in tokens at their next refresh),
//! user search by group, and bad input that changes nothing.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Checked, TestApp, assert_problem, error_fields, login, spawn_app};

async fn create_group(app: &TestApp, body: Value) -> Value {
    let res = app.send_json(Method::POST, "/api/v1/groups", &body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "creating {body}");
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let g: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/groups/{}", g["id"].as_str().unwrap())
    );
    assert_eq!(etag, format!("\"{}\"", g["version"]));
    g
}

async fn add(app: &TestApp, group: &str, ids: &[&str]) -> Value {
    let res = app
        .send_json(
            Method::POST,
            &format!("/api/v1/groups/{group}/members"),
            &json!({ "user_ids": ids }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn roles_in(token: &str) -> Vec<String> {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    serde_json::from_value(claims["roles"].clone()).unwrap()
}

async fn groups_count(app: &TestApp) -> usize {
    let list: Value = app.get("/api/v1/groups").await.json().await.unwrap();
    list["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn groups_are_created_read_changed_searched_and_deleted() {
    let app = spawn_app().await;
    let eng = create_group(
        &app,
        json!({"name": "Platform Engineering", "description": "Builds the platform",
               "attributes": {"cost_centre": "42"}}),
    )
    .await;
    assert_eq!(eng["roles"], json!([]));
    assert_eq!(
        (eng["member_count"].as_u64(), eng["version"].as_u64()),
        (Some(0), Some(1))
    );
    let id = eng["id"].as_str().unwrap().to_owned();

    // Names are unique without regard to case; a bad body lists every
    // bad field and creates nothing.
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/groups",
            &json!({"name": "platform engineering"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT).await;
    let res = app
        .send_json(
            Method::POST,
            "/api/v1/groups",
            &json!({"name": "", "roles": ["root"], "member_count": 5, "colour": 1}),
        )
        .await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error_fields(&p),
        ["name", "roles", "colour", "member_count"]
    );
    let long = "x".repeat(129);
    let res = app
        .send_json(Method::POST, "/api/v1/groups", &json!({"name": long}))
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(groups_count(&app).await, 1);

    // Merge patch, with If-Match; a stale tag changes nothing.
    let res = app
        .request(Method::PATCH, &format!("/api/v1/groups/{id}"))
        .header("if-match", "\"1\"")
        .header("content-type", "application/merge-patch+json")
        .body(json!({"description": null, "roles": ["admin"]}).to_string())
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let g: Value = res.json().await.unwrap();
    assert_eq!(
        (g["description"].clone(), g["roles"].clone()),
        (Value::Null, json!(["admin"]))
    );
    assert_eq!(g["version"], 2);
    let res = app
        .request(Method::PUT, &format!("/api/v1/groups/{id}"))
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Stale"}))
        .check()
        .await;
    assert_problem(res, StatusCode::PRECONDITION_FAILED).await;
    let res = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/groups/{id}"),
            &json!({"name": "Platform Eng"}),
        )
        .await;
    let g: Value = res.json().await.unwrap();
    assert_eq!(
        (g["name"].as_str(), g["roles"].clone()),
        (Some("Platform Eng"), json!([]))
    );
    assert_eq!(g["attributes"], json!({}), "PUT replaces every field");

    // Search: prefixes, a typo, every word must match.
    for name in ["Site Reliability", "Sales EMEA", "Platform Security"] {
        create_group(&app, json!({ "name": name })).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["group"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let found: Value = app
        .get("/api/v1/groups/search?q=platfrom")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 2);
    let found: Value = app
        .get("/api/v1/groups/search?q=plat%20sec")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&found), ["Platform Security"]);
    let found: Value = app
        .get("/api/v1/groups/search?q=")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        names(&found),
        [
            "Platform Eng",
            "Platform Security",
            "Sales EMEA",
            "Site Reliability"
        ]
    );
    let res = app.get("/api/v1/groups/search?q=a&limit=0").await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;

    // Pages in creation order.
    let first: Value = app
        .get("/api/v1/groups?limit=3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(&format!("/api/v1/groups?limit=3&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    assert_problem(
        app.get("/api/v1/groups?cursor=nope").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let res = app
        .request(Method::DELETE, &format!("/api/v1/groups/{id}"))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&format!("/api/v1/groups/{id}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get("/api/v1/groups/not-a-uuid").await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let audit: Value = app
        .get("/api/v1/audit?limit=50")
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in ["group.create", "group.update", "group.delete"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn a_group_grants_its_roles_at_once_and_in_tokens_at_refresh() {
    let app = spawn_app().await;
    let ada = app
        .create_user(json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .await;
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    let tokens = login(
        &app.client,
        &app.base,
        "ada@example.com",
        "correct horse battery",
    )
    .await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(roles_in(&token), ["user"]);
    let users_as_ada = || app.as_token(&token, Method::GET, "/api/v1/users").check();
    assert_eq!(users_as_ada().await.status(), StatusCode::FORBIDDEN);

    let admins = create_group(&app, json!({"name": "admins", "roles": ["admin"]})).await;
    let gid = admins["id"].as_str().unwrap().to_owned();
    let added = add(&app, &gid, &[&ada_id, &ada_id]).await;
    assert_eq!(
        (
            added["added"].as_u64(),
            added["group"]["member_count"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // Again: already a member, nothing changes.
    let again = add(&app, &gid, &[&ada_id]).await;
    assert_eq!(again["added"], 0);
    assert_eq!(again["group"]["version"], added["group"]["version"]);

    // The same access token may now do what admins do.
    assert_eq!(users_as_ada().await.status(), StatusCode::OK);
    // Her own record keeps her own roles; the token gets both at refresh.
    let me: Value = app
        .get(&format!("/api/v1/users/{ada_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["user"]));
    let res = app
        .anon(Method::POST, "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": tokens["refresh_token"]}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed: Value = res.json().await.unwrap();
    assert_eq!(
        roles_in(refreshed["access_token"].as_str().unwrap()),
        ["admin", "user"]
    );

    let mine: Value = app
        .as_token(
            &token,
            Method::GET,
            &format!("/api/v1/users/{ada_id}/groups"),
        )
        .check()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"][0]["name"], "admins");

    // Out of the group: the power goes at once.
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/groups/{gid}/members/{ada_id}"),
        )
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(users_as_ada().await.status(), StatusCode::FORBIDDEN);
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/groups/{gid}/members/{ada_id}"),
        )
        .check()
        .await;
    assert_problem(res, StatusCode::NOT_FOUND).await;
    // A plain user reads its own groups only, and changes none.
    let other = app.create_user(json!({"email": "bob@example.com"})).await;
    let res = app
        .as_token(
            &token,
            Method::GET,
            &format!("/api/v1/users/{}/groups", other["id"].as_str().unwrap()),
        )
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let res = app
        .as_token(
            &token,
            Method::POST,
            &format!("/api/v1/groups/{gid}/members"),
        )
        .json(&json!({"user_ids": [ada_id]}))
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let res = app
        .as_token(&token, Method::GET, "/api/v1/groups")
        .check()
        .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;

    // Deleting the group takes the membership with it, in one step.
    add(&app, &gid, &[&ada_id]).await;
    assert_eq!(users_as_ada().await.status(), StatusCode::OK);
    let res = app
        .request(Method::DELETE, &format!("/api/v1/groups/{gid}"))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(users_as_ada().await.status(), StatusCode::FORBIDDEN);
    let mine: Value = app
        .get(&format!("/api/v1/users/{ada_id}/groups"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"], json!([]));
}

#[tokio::test]
async fn members_come_in_pages_and_bad_member_lists_change_nothing() {
    let app = spawn_app().await;
    let g = create_group(&app, json!({"name": "readers"})).await;
    let gid = g["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for i in 0..5 {
        let u = app
            .create_user(json!({ "email": format!("u{i}@example.com") }))
            .await;
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    let unknown = "01890000-0000-7000-8000-000000000000";
    for body in [
        json!({"user_ids": [ids[0], unknown]}),
        json!({"user_ids": []}),
        json!({"user_ids": ["nope"]}),
        json!({"user_ids": ids[0]}),
        json!({"members": [ids[0]]}),
        json!({"user_ids": vec![ids[0].clone(); 1001]}),
    ] {
        let res = app
            .send_json(
                Method::POST,
                &format!("/api/v1/groups/{gid}/members"),
                &body,
            )
            .await;
        let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(!error_fields(&p).is_empty(), "{p}");
    }
    let now: Value = app
        .get(&format!("/api/v1/groups/{gid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (now["member_count"].as_u64(), now["version"].as_u64()),
        (Some(0), Some(1))
    );

    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    add(&app, &gid, &refs).await;
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/groups/{gid}/members?limit=2");
    loop {
        let page: Value = app.get(&path).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/groups/{gid}/members?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "every member once, in id order");

    // A deleted user leaves its groups.
    let res = app
        .request(Method::DELETE, &format!("/api/v1/users/{}", ids[0]))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let now: Value = app
        .get(&format!("/api/v1/groups/{gid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["member_count"], 4);
    let page: Value = app
        .get(&format!("/api/v1/groups/{gid}/members"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    assert_problem(
        app.get(&format!("/api/v1/groups/{unknown}/members")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn search(app: &TestApp, query: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/users/search?consistent=true&{query}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.unwrap()
}

fn emails(found: &Value) -> Vec<String> {
    let mut out: Vec<String> = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["user"]["email"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn users_are_found_and_counted_by_group() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (email, name) in [
        ("ada@example.com", "Ada Lovelace"),
        ("grace@example.com", "Grace Hopper"),
        ("alan@example.com", "Alan Turing"),
    ] {
        let u = app.create_user(json!({"email": email, "name": name})).await;
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    let eng = create_group(&app, json!({"name": "Engineering"})).await;
    let ops = create_group(&app, json!({"name": "Ops"})).await;
    let (eng_id, ops_id) = (eng["id"].as_str().unwrap(), ops["id"].as_str().unwrap());
    add(&app, eng_id, &[&ids[0], &ids[1]]).await;
    add(&app, ops_id, &[&ids[1]]).await;

    let found = search(&app, "group=engineering").await;
    assert_eq!(emails(&found), ["ada@example.com", "grace@example.com"]);
    let found = search(&app, &format!("group={ops_id}&group=Engineering")).await;
    assert_eq!(found["total"], 2);
    let found = search(&app, "q=grace&group=Ops").await;
    assert_eq!(emails(&found), ["grace@example.com"]);
    let found = search(&app, "q=alan&group=Ops").await;
    assert_eq!(found["total"], 0);

    // Facets by group name, with words and without.
    let found = search(&app, "facets=groups").await;
    assert_eq!(
        found["facets"]["groups"],
        json!({"Engineering": 2, "Ops": 1})
    );
    let found = search(&app, "q=grace&facets=groups,roles").await;
    assert_eq!(
        found["facets"]["groups"],
        json!({"Engineering": 1, "Ops": 1})
    );
    let found = search(&app, "q=alan&facets=groups").await;
    assert_eq!(found["facets"]["groups"], json!({}));
    let found = search(&app, "status=active&facets=groups").await;
    assert_eq!(
        found["facets"]["groups"],
        json!({"Engineering": 2, "Ops": 1})
    );

    // Membership changes and renames show at once (consistent=true).
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/groups/{eng_id}/members/{}", ids[0]),
        )
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/groups/{ops_id}"),
        &json!({"name": "SRE"}),
    )
    .await;
    let found = search(&app, "facets=groups").await;
    assert_eq!(
        found["facets"]["groups"],
        json!({"Engineering": 1, "SRE": 1})
    );
    let found = search(&app, "group=engineering").await;
    assert_eq!(emails(&found), ["grace@example.com"]);
    // A deleted group's members are no longer found by it.
    app.request(Method::DELETE, &format!("/api/v1/groups/{eng_id}"))
        .check()
        .await;
    let found = search(&app, &format!("group={eng_id}")).await;
    assert_eq!(found["total"], 0);

    let res = app.get("/api/v1/users/search?group=nobody").await;
    let p = assert_problem(res, StatusCode::BAD_REQUEST).await;
    assert!(p["detail"].as_str().unwrap().contains("nobody"), "{p}");
    let res = app.get("/api/v1/users/search?facets=teams").await;
    assert_problem(res, StatusCode::BAD_REQUEST).await;
}
