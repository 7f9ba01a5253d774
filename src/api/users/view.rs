//! How the API shows a user: [`UserDto`] (serde for the schema and the
//! test oracle, the direct JSON writer on the hot path), the response with
//! `ETag` and `Location`, and the id in a path.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::{Role, User};

use super::super::extract::etag;
use super::super::json::{Out, WriteJson};

/// A user as the API shows it. Never carries secrets.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserDto<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: uuid::fmt::Hyphenated,
    #[schema(value_type = String, format = Email)]
    email: &'a str,
    #[schema(value_type = Option<String>, required = true)]
    username: Option<&'a str>,
    #[schema(value_type = Option<String>, required = true)]
    name: Option<&'a str>,
    #[schema(value_type = Vec<crate::domain::Role>)]
    roles: Roles<'a>,
    #[schema(value_type = crate::domain::Status)]
    status: &'static str,
    email_verified: bool,
    /// A second factor (TOTP) is enrolled. Read-only.
    mfa_enabled: bool,
    /// Free-form JSON object, at most 16 KiB serialised.
    #[schema(value_type = Object)]
    attributes: &'a Map<String, Value>,
    #[schema(value_type = OffsetDateTime)]
    created_at: String,
    #[schema(value_type = OffsetDateTime)]
    updated_at: String,
    /// Increases with every change; the `ETag` is this number, quoted.
    #[schema(minimum = 1)]
    version: u64,
}

impl<'a> From<&'a User> for UserDto<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id.0.hyphenated(),
            email: u.email.as_str(),
            username: u.username.as_ref().map(|x| x.as_str()),
            name: u.name.as_ref().map(|x| x.as_str()),
            roles: Roles(&u.roles),
            status: u.status.as_str(),
            email_verified: u.email_verified,
            mfa_enabled: u.mfa_enabled,
            attributes: u.attributes.as_map(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
            version: u.version,
        }
    }
}

impl WriteJson for UserDto<'_> {
    fn write_json(&self, out: &mut Out) {
        let mut buf = uuid::Uuid::encode_buffer();
        let id = self.id.encode_lower(&mut buf);
        out.raw("{\"id\":\"").raw(id).raw("\"");
        out.raw(",\"email\":").str(self.email);
        out.raw(",\"username\":").opt_str(self.username);
        out.raw(",\"name\":").opt_str(self.name);
        let roles = self.roles.0.iter().map(|r| r.as_str());
        out.raw(",\"roles\":").array(roles);
        out.raw(",\"status\":").str(self.status);
        out.raw(",\"email_verified\":").bool(self.email_verified);
        out.raw(",\"mfa_enabled\":").bool(self.mfa_enabled);
        out.raw(",\"attributes\":").serde(self.attributes);
        out.raw(",\"created_at\":").str(&self.created_at);
        out.raw(",\"updated_at\":").str(&self.updated_at);
        out.raw(",\"version\":").u64(self.version);
        out.raw("}");
    }
}

/// A user's roles by name, serialised from the user's own list.
struct Roles<'a>(&'a [Role]);

impl Serialize for Roles<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|r| r.as_str()))
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// 200 (or the given status) with the user, its `ETag` and `Location`.
pub(in crate::api) fn user_response(status: StatusCode, user: &User) -> Response {
    let mut res = super::super::json::response(&UserDto::from(user), 640);
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag(user.version)).expect("a quoted number is a valid header"),
    );
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/users/{}", user.id))
            .expect("a path with a UUID is a valid header"),
    );
    res
}

/// One page of users; `next_cursor` is null on the last page.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = UserPage)]
pub struct ListBody<'a> {
    pub(super) items: Vec<UserDto<'a>>,
    #[schema(required = true)]
    pub(super) next_cursor: Option<String>,
}

impl WriteJson for ListBody<'_> {
    fn write_json(&self, out: &mut Out) {
        out.raw("{\"items\":");
        out.array(&self.items);
        out.raw(",\"next_cursor\":")
            .opt_str(self.next_cursor.as_deref());
        out.raw("}");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::UserId;

    #[test]
    fn roles_are_written_by_name() {
        let roles = serde_json::to_string(&Roles(&[Role::Admin, Role::User])).expect("roles");
        assert_eq!(roles, r#"["admin","user"]"#);
        assert_eq!(serde_json::to_string(&Roles(&[])).expect("roles"), "[]");
    }

    /// Users whose every field varies: with and without the optional ones,
    /// roles, nested attributes, strings JSON must escape.
    pub(crate) fn odd_users() -> Vec<User> {
        use crate::domain::UserDraft;
        let drafts = [
            serde_json::json!({"email": "ada@example.com"}),
            serde_json::json!({
                "email": "ada.l+1@example.com", "username": "zoe_1", "name": "Zoë \"Ada\" \\ <b> 😀",
                "roles": ["admin", "user"], "status": "disabled", "email_verified": true,
                "attributes": {"team": "engines\n\u{1}", "n": [1, 2.5, {"x": null, "y": "😀"}], "e": {}}
            }),
            serde_json::json!({"email": "b@example.com", "name": "Grace Hopper", "roles": []}),
        ];
        drafts
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let draft = UserDraft::from_json(d.as_object().expect("an object").clone())
                    .expect("a valid user");
                User {
                    mfa_enabled: i == 1,
                    ..User::from_draft(UserId::new(), draft, OffsetDateTime::now_utc())
                }
            })
            .collect()
    }

    #[test]
    fn users_are_written_as_serde_json_writes_them() {
        let users = odd_users();
        for u in &users {
            let (ours, serde) = crate::api::json::tests::both(&UserDto::from(u));
            assert_eq!(ours, serde);
        }
        for next_cursor in [None, Some("c\"1".to_owned())] {
            let page = ListBody {
                items: users.iter().map(UserDto::from).collect(),
                next_cursor,
            };
            let (ours, serde) = crate::api::json::tests::both(&page);
            assert_eq!(ours, serde);
        }
        let empty = ListBody {
            items: Vec::new(),
            next_cursor: None,
        };
        let (ours, serde) = crate::api::json::tests::both(&empty);
        assert_eq!(ours, serde);
    }
}
