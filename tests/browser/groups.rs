//! Groups in the console: a group granting admin created on the Groups
//! page, a plain user found by name and added to it (its own access token,
//! held by a second API client, may then do what admins do), the group
//! renamed, the member removed (the power goes at once), the user panel's
//! Groups section, and the group deleted after confirmation.

use super::*;

const EMAIL: &str = "wilhelmina.okafor@example.com";
const PASSWORD: &str = "her-own-password-1";

/// What GET /api/v1/users answers to `token`, sent by `client`.
async fn users_list_status(client: &reqwest::Client, app: &TestApp, token: &str) -> StatusCode {
    client
        .get(app.url("/api/v1/users"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
        .status()
}

/// The group as the API has it.
async fn group(app: &TestApp, id: &str) -> Value {
    let res = app.get(&format!("/api/v1/groups/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK, "group {id}");
    res.json().await.unwrap()
}

/// Waits until the group page shows `count` members in its head.
async fn member_count_shown(b: &Browser, count: u64) {
    let noun = if count == 1 { "member" } else { "members" };
    b.until(
        &format!("the group's head to say {count} {noun}"),
        &format!(
            "const c = document.getElementById('group-member-count'); \
             return c && c.dataset.count === '{count}' && c.textContent === '{count} {noun}'"
        ),
    )
    .await;
}

/// Searches the user by name on the group page and presses its Add button.
/// Results of an earlier search are emptied first, so the button pressed is
/// one this search shows.
async fn add_by_search(b: &Browser, user: &str) {
    b.js(
        "const s = document.getElementById('member-search'); s.value = ''; \
          s.dispatchEvent(new Event('input', {bubbles: true}))",
    )
    .await;
    b.until(
        "the search results emptied",
        "return !document.querySelector('#member-results li') && \
         !document.getElementById('member-results-status').textContent",
    )
    .await;
    b.type_into("#member-search", "wilhelmina okafr").await;
    let add = format!("#member-results li[data-id='{user}'] button[data-action=add]");
    b.until(
        "the user among the search results, with an Add button",
        &format!("return !!document.querySelector(\"{add}\")"),
    )
    .await;
    b.click(&add).await;
    b.until(
        "the user listed as a member",
        &format!(
            "return !!document.querySelector(\"#member-list li.member-row[data-id='{user}']\") && \
             !!document.querySelector(\"#member-results li[data-id='{user}'] .badge\")"
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn a_group_grants_admin_to_the_members_added_in_the_console() {
    let app = helpers::spawn_app().await;
    for (email, name) in [
        ("wilma@example.com", "Wilma Flintstone"),
        ("okapi@example.com", "Otto Kapinski"),
    ] {
        app.create_user(json!({"email": email, "name": name})).await;
    }
    let user = app
        .create_user(json!({"email": EMAIL, "name": "Wilhelmina Okafor", "password": PASSWORD}))
        .await;
    let uid = user["id"].as_str().unwrap().to_owned();

    // The user signs in on a client of its own; it may not list users.
    let theirs = helpers::http_client();
    let tokens = helpers::login(&theirs, &app.base, EMAIL, PASSWORD).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        users_list_status(&theirs, &app, &token).await,
        StatusCode::FORBIDDEN
    );

    let b = Browser::start(1280, 900).await;
    log_in(&b, &app).await;

    // A group granting admin, created on the Groups page.
    b.click("a[href='#/groups']").await;
    b.until(
        "the empty groups list",
        "const t = document.getElementById('group-list'); \
         return t && t.getAttribute('aria-busy') === 'false' && !!t.querySelector('.empty-row')",
    )
    .await;
    b.type_into("#group-name", "Operators").await;
    b.type_into("#group-description", "Keeps the lights on")
        .await;
    b.click("#group-role-admin").await;
    b.click("#group-create").await;
    let gid = b
        .until(
            "the new group's row",
            "const l = [...document.querySelectorAll('#group-list tr[data-id] .group-link')]\
             .find(a => a.textContent === 'Operators'); return l && l.closest('tr').dataset.id",
        )
        .await;
    let gid = gid.as_str().unwrap().to_owned();
    b.save_screenshot("groups-desktop").await;
    let created = group(&app, &gid).await;
    assert_eq!(created["roles"], json!(["admin"]), "{created}");
    assert_eq!(created["description"], "Keeps the lights on");
    assert_eq!(created["member_count"], 0);
    b.assert_clean_console().await;

    // Open it; add the user, found by a misspelt name.
    b.click(&format!("#group-list tr[data-id='{gid}'] .group-link"))
        .await;
    b.until(
        "the group's page",
        "return document.getElementById('group-title')?.textContent === 'Operators' && \
         document.getElementById('member-list')?.getAttribute('aria-busy') === 'false'",
    )
    .await;
    member_count_shown(&b, 0).await;
    add_by_search(&b, &uid).await;
    member_count_shown(&b, 1).await;
    assert_eq!(group(&app, &gid).await["member_count"], 1);

    // The same access token may now do what admins do.
    assert_eq!(
        users_list_status(&theirs, &app, &token).await,
        StatusCode::OK
    );
    b.js("document.getElementById('add-members-title').scrollIntoView()")
        .await;
    b.save_screenshot("group-desktop").await;
    b.assert_clean_console().await;

    // Renamed in the details form: the save's If-Match follows the version
    // the membership change made, so no 412.
    let name = b.find("#group-edit-name").await;
    name.clear().await.unwrap();
    name.send_keys("Operations").await.unwrap();
    b.click("#group-save").await;
    b.until(
        "the saved name in the page's head",
        "return document.getElementById('group-title')?.textContent === 'Operations'",
    )
    .await;
    let renamed = group(&app, &gid).await;
    assert_eq!(renamed["name"], "Operations", "{renamed}");
    assert_eq!(renamed["roles"], json!(["admin"]));
    assert_eq!(renamed["member_count"], 1);

    // Removed in the console: the power goes at once.
    b.click(&format!(
        "#member-list li[data-id='{uid}'] button[data-action=remove]"
    ))
    .await;
    b.until(
        "the member's row to go",
        &format!(
            "return !document.querySelector(\"#member-list li[data-id='{uid}']\") && \
             !!document.querySelector('#member-list .empty')"
        ),
    )
    .await;
    member_count_shown(&b, 0).await;
    assert_eq!(
        users_list_status(&theirs, &app, &token).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(group(&app, &gid).await["member_count"], 0);

    // Added back, the user's panel lists the group, linking to it.
    add_by_search(&b, &uid).await;
    member_count_shown(&b, 1).await;
    b.click(&format!("#member-list li[data-id='{uid}'] a.member-name"))
        .await;
    let link = format!("#user-groups a.user-group-link[href='#/groups/{gid}']");
    b.until(
        "the group in the user panel's Groups section",
        &format!(
            "const a = document.querySelector(\"#user-panel {link}\"); \
             return a && a.textContent === 'Operations' && a.parentElement.textContent.includes('admin')"
        ),
    )
    .await;
    b.js("document.getElementById('user-groups-title').scrollIntoView()")
        .await;
    b.save_screenshot("user-panel-groups-desktop").await;
    b.click(&link).await;
    b.until(
        "the group's page again, the panel closed",
        "return document.getElementById('group-title')?.textContent === 'Operations' && \
         !document.getElementById('user-panel')",
    )
    .await;
    member_count_shown(&b, 1).await;
    b.assert_clean_console().await;

    // Deleted after confirmation: gone from the API, the power with it.
    b.click("#group-delete").await;
    let asked = b
        .until(
            "the confirmation dialog",
            "const d = document.getElementById('confirm-dialog'); \
             return d.open && document.getElementById('confirm-title').textContent",
        )
        .await;
    assert_eq!(asked, "Delete the group Operations?");
    b.click("#confirm-ok").await;
    b.until(
        "the groups list without the group",
        &format!(
            "const t = document.getElementById('group-list'); \
             return location.hash === '#/groups' && t.getAttribute('aria-busy') === 'false' && \
             !t.closest('[hidden]') && !t.querySelector(\"tr[data-id='{gid}']\")"
        ),
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/v1/groups/{gid}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        users_list_status(&theirs, &app, &token).await,
        StatusCode::FORBIDDEN
    );
    b.assert_clean_console().await;
    b.close().await;
}
