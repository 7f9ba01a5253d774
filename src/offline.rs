//! Commands that work on a data dir no server holds: `roster admin create`,
//! `roster keys rotate`. Opening the store takes redb's lock, so a data dir
//! in use is refused at once with a clear message.

use std::io::BufRead;

use anyhow::Context;
use serde_json::{Map, Value};

use crate::auth::passwords::Hasher;
use crate::auth::policy::Caller;
use crate::config::Config;
use crate::service::{Auth, rotate_keys as rotate};
use crate::store::Store;

pub async fn create_admin(
    config: &Config,
    email: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (crate::auth::secrets::random_token(), true)
    };
    let store = Store::open(&config.data_dir)?;
    let result = async {
        let hasher = Hasher::new(config.auth.argon2, 1, 1)?;
        let auth = Auth::init(store.clone(), config.auth.clone(), hasher).await?;
        let mut body = Map::new();
        body.insert("email".into(), Value::from(email));
        auth.create_admin(body, &password, &Caller::system(), None)
            .await
            .map_err(|e| match e {
                crate::error::Error::Validation(errs) => anyhow::anyhow!(
                    "{}",
                    errs.iter()
                        .map(|e| format!("{} {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                crate::error::Error::Conflict { field: "admin" } => {
                    anyhow::anyhow!(
                        "an admin already exists; reset its password through the API instead"
                    )
                }
                other => anyhow::anyhow!(other),
            })
    }
    .await;
    store.close().await;
    let user = result?;
    println!("created admin {} ({})", user.email.as_str(), user.id);
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

pub async fn rotate_keys(config: &Config) -> anyhow::Result<()> {
    let store = Store::open(&config.data_dir)?;
    let kid = rotate(&store).await;
    store.close().await;
    println!("new signing key {}", kid?);
    Ok(())
}

pub async fn reindex(config: &Config) -> anyhow::Result<()> {
    let store = Store::open(&config.data_dir)?;
    let dir = config.data_dir.join("index");
    let started = std::time::Instant::now();
    let s = store.clone();
    let result =
        tokio::task::spawn_blocking(move || crate::service::rebuild_offline(&s, &dir)).await?;
    store.close().await;
    let n = result.map_err(|e| anyhow::anyhow!(e))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "indexed {n} users in {secs:.2} s ({:.0} users/s)",
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}
