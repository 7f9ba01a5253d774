//! GraphiQL, embedded and served under the console's CSP when the server
//! runs with `--graphql-playground true`: it loads with nothing from
//! elsewhere, takes a token in its Headers editor, runs a query and shows
//! the answer.

use super::*;
use helpers::spawn_app_tuned;

/// The CodeMirror editor whose text starts with `start`, as a script
/// expression.
fn editor(start: &str) -> String {
    format!(
        "[...document.querySelectorAll('.CodeMirror')].map(e => e.CodeMirror)\
         .find(cm => cm && cm.getValue().trimStart().startsWith({start:?}))"
    )
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn graphiql_runs_a_query_with_a_token_from_its_headers_editor() {
    let app = spawn_app_tuned(|c| c.graphql.playground = true).await;
    let b = Browser::start(1280, 900).await;
    b.goto(&app.url("/api/v1/graphql")).await;
    b.find(".graphiql-container .graphiql-execute-button").await;
    b.until(
        "the query and headers editors",
        &format!(
            "return !!({}) && !!({})",
            editor("# roster's GraphQL API"),
            editor("{")
        ),
    )
    .await;
    b.js(&format!(
        "({}).setValue(JSON.stringify({{Authorization: 'Bearer {}'}}))",
        editor("{"),
        app.token
    ))
    .await;
    b.click(".graphiql-execute-button").await;
    let answer = b
        .until(
            "the answer in the response pane",
            "const r = document.querySelector('.graphiql-response .CodeMirror'); \
             return r && r.CodeMirror.getValue().includes('edges') && r.CodeMirror.getValue()",
        )
        .await;
    let answer: Value = serde_json::from_str(answer.as_str().unwrap()).unwrap();
    assert_eq!(answer["data"]["me"]["email"], ADMIN_EMAIL, "{answer}");
    assert_eq!(
        answer["data"]["users"]["edges"][0]["node"]["email"],
        ADMIN_EMAIL
    );
    b.save_screenshot("graphiql").await;
    // The token was not kept by the page.
    let stored = b
        .js("return JSON.stringify(Object.assign({}, localStorage, sessionStorage))")
        .await;
    assert!(
        !stored.as_str().unwrap().contains(&app.token),
        "the token was stored: {stored}"
    );
    b.assert_clean_console().await;
    b.close().await;
}
