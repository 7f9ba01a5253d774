use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, Checked, TestApp, assert_problem, spawn_app};

/// Follows `next_cursor` to the end; returns every item in order.
async fn collect(app: &TestApp, query: &str) -> (Vec<Value>, usize) {
    collect_from(app, query, None).await
}

async fn collect_from(
    app: &TestApp,
    query: &str,
    mut cursor: Option<String>,
) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let mut url = format!("/api/v1/users?{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let res = app.get(&url).await;
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        let page: Value = res.json().await.unwrap();
        pages += 1;
        // The bootstrap admin is not part of what these tests seed.
        items.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|u| u["email"] != ADMIN_EMAIL)
                .cloned(),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, pages),
        }
        assert!(pages < 1000, "pagination does not end");
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn seed(app: &TestApp, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        let roles = if i % 5 == 0 {
            json!(["admin", "user"])
        } else {
            json!(["user"])
        };
        let status = if i % 3 == 0 { "disabled" } else { "active" };
        // Emails deliberately not in creation order.
        let email = format!(
            "{}-user{i}@Example.com",
            (b'a' + ((i * 7) % 26) as u8) as char
        );
        out.push(
            app.create_user(json!({"email": email, "roles": roles, "status": status}))
                .await,
        );
    }
    out
}

#[tokio::test]
async fn pages_have_no_gaps_or_duplicates_in_every_sort() {
    let app = spawn_app().await;
    let created = seed(&app, 23).await;
    let created_ids = ids(&created);

    let (items, pages) = collect(&app, "limit=5").await;
    assert_eq!(pages, 5);
    assert_eq!(
        ids(&items),
        created_ids,
        "created_at order is creation order"
    );

    let (items, _) = collect(&app, "limit=4&sort=-created_at").await;
    let mut rev = created_ids.clone();
    rev.reverse();
    assert_eq!(ids(&items), rev);

    let (items, _) = collect(&app, "limit=6&sort=email").await;
    let emails: Vec<String> = items
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_lowercase())
        .collect();
    let mut sorted = emails.clone();
    sorted.sort();
    assert_eq!(emails, sorted);
    assert_eq!(
        ids(&items).into_iter().collect::<HashSet<_>>(),
        created_ids.iter().cloned().collect()
    );

    // Default limit is 50: everything fits one page.
    let page: Value = app.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        24,
        "23 and the admin"
    );
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn pagination_survives_writes_between_pages() {
    let app = spawn_app().await;
    let created = seed(&app, 12).await;
    let first: Value = app.get("/api/v1/users?limit=4").await.json().await.unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    // The bootstrap admin, created first, is on page one too.
    let seen = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["email"] != ADMIN_EMAIL)
        .count();
    // Delete a user on the first page and one on a later page; add one.
    for victim in [&created[1], &created[8]] {
        let path = format!("/api/v1/users/{}", victim["id"].as_str().unwrap());
        assert_eq!(
            app.request(Method::DELETE, &path).check().await.status(),
            204
        );
    }
    let added = app.create_user(json!({"email": "late@example.com"})).await;
    let (rest, _) = collect_from(&app, "limit=4", Some(cursor)).await;
    let mut expected: Vec<String> = ids(&created[seen..])
        .into_iter()
        .filter(|id| id != created[8]["id"].as_str().unwrap())
        .collect();
    expected.push(added["id"].as_str().unwrap().to_owned());
    assert_eq!(ids(&rest), expected);
}

#[tokio::test]
async fn filters_match_the_data() {
    let app = spawn_app().await;
    let created = seed(&app, 20).await;
    let count = |pred: &dyn Fn(&Value) -> bool| created.iter().filter(|u| pred(u)).count();

    let (items, _) = collect(&app, "limit=3&role=admin").await;
    assert_eq!(
        items.len(),
        count(&|u| u["roles"].as_array().unwrap().contains(&json!("admin")))
    );
    assert!(
        items
            .iter()
            .all(|u| u["roles"].as_array().unwrap().contains(&json!("admin")))
    );

    let (items, _) = collect(&app, "status=disabled&sort=email").await;
    assert_eq!(items.len(), count(&|u| u["status"] == "disabled"));

    let (items, _) = collect(&app, "status=active&role=admin&role=user").await;
    assert_eq!(items.len(), count(&|u| u["status"] == "active"));
    let admins: Value = app
        .get("/api/v1/users?role=admin&limit=500")
        .await
        .json()
        .await
        .unwrap();
    let n_admins = count(&|u| u["roles"].as_array().unwrap().contains(&json!("admin")));
    assert_eq!(
        admins["items"].as_array().unwrap().len(),
        n_admins + 1,
        "the seeded admins and the bootstrap admin"
    );

    let t5 = created[5]["created_at"].as_str().unwrap();
    let t15 = created[15]["created_at"].as_str().unwrap();
    let q = format!("created_after={t5}&created_before={t15}&limit=2");
    let (items, _) = collect(&app, &q.replace('+', "%2B")).await;
    assert_eq!(ids(&items), ids(&created[6..15]));
    let (items, _) = collect(&app, &format!("{q}&sort=-created_at")).await;
    assert_eq!(items.len(), 9);
    let (items, _) = collect(&app, &format!("created_after={t15}&created_before={t5}")).await;
    assert!(items.is_empty());
}

#[tokio::test]
async fn bad_list_parameters_are_400_problems() {
    let app = spawn_app().await;
    seed(&app, 3).await;
    let email_page: Value = app
        .get("/api/v1/users?sort=email&limit=1")
        .await
        .json()
        .await
        .unwrap();
    let email_cursor = email_page["next_cursor"].as_str().unwrap().to_owned();
    for q in [
        "limit=0".to_owned(),
        "limit=501".to_owned(),
        "limit=ten".to_owned(),
        "sort=name".to_owned(),
        "role=root".to_owned(),
        "status=gone".to_owned(),
        "created_after=yesterday".to_owned(),
        "cursor=not-a-cursor".to_owned(),
        "colour=red".to_owned(),
        "limit=1&limit=2".to_owned(),
        format!("cursor={email_cursor}&sort=created_at"),
    ] {
        let res = app.get(&format!("/api/v1/users?{q}")).await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        app.get("/api/v1/users?limit=500").await.status(),
        StatusCode::OK
    );
}
