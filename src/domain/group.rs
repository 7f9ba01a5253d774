//! A group: a named set of users that grants its `roles` to each member.
//! [`GroupDraft`] holds its writable fields, validated; [`GroupFields`] the
//! fields as a body gave them; [`GroupPatch`] a merge patch of them.

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use super::user::{keep, parse_roles};
use super::{Attributes, Field, FieldError, GroupId, Role, Timestamp};

/// A group's name: 1 to 128 characters after trimming (NFC), no control
/// characters; unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

pub const GROUP_NAME_MAX: usize = 128;
pub const GROUP_DESCRIPTION_MAX: usize = 1000;
/// Most user ids one membership request may name.
pub const MEMBERS_PER_REQUEST: usize = 1000;

impl GroupName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s: String = input.trim().nfc().collect();
        if s.is_empty() {
            return Err("must not be blank".into());
        }
        if s.chars().count() > GROUP_NAME_MAX {
            return Err(format!("must be at most {GROUP_NAME_MAX} characters"));
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: lower case.
    pub fn folded(&self) -> String {
        self.0.to_lowercase()
    }

    pub(crate) fn from_stored(s: String) -> Self {
        Self(s)
    }
}

/// The writable fields of a group, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDraft {
    pub name: GroupName,
    pub description: Option<String>,
    /// Granted to every member, on top of its own.
    pub roles: Vec<Role>,
    pub attributes: Attributes,
}

/// A stored group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: GroupId,
    pub name: GroupName,
    pub description: Option<String>,
    pub roles: Vec<Role>,
    pub attributes: Attributes,
    /// How many users belong to it; kept by the store with the memberships.
    pub member_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Increases with every change, membership included (the `ETag`).
    pub version: u64,
}

impl Group {
    pub fn from_draft(id: GroupId, draft: GroupDraft, now: Timestamp) -> Self {
        Self {
            id,
            name: draft.name,
            description: draft.description,
            roles: draft.roles,
            attributes: draft.attributes,
            member_count: 0,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The group with its writable fields replaced, one version on.
    pub fn replaced(&self, draft: GroupDraft, now: Timestamp) -> Self {
        Self {
            member_count: self.member_count,
            created_at: self.created_at,
            version: self.version + 1,
            ..Self::from_draft(self.id, draft, now)
        }
    }

    /// Its writable fields.
    pub fn draft(&self) -> GroupDraft {
        GroupDraft {
            name: self.name.clone(),
            description: self.description.clone(),
            roles: self.roles.clone(),
            attributes: self.attributes.clone(),
        }
    }

    /// The writable fields as a JSON object: what a merge patch applies to.
    pub fn writable_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), self.name.as_str().into());
        if let Some(d) = &self.description {
            m.insert("description".into(), d.as_str().into());
        }
        m.insert(
            "roles".into(),
            self.roles.iter().map(|r| Value::from(r.as_str())).collect(),
        );
        m.insert(
            "attributes".into(),
            Value::Object(self.attributes.as_map().clone()),
        );
        m
    }
}

const READ_ONLY: [&str; 5] = ["id", "member_count", "created_at", "updated_at", "version"];

/// The writable fields of a group as a body gave them.
#[derive(Debug, Default)]
pub struct GroupFields {
    pub name: Field<String>,
    pub description: Field<String>,
    pub roles: Field<Vec<Value>>,
    pub attributes: Field<Value>,
    /// Every other key of the body: each is an error.
    pub other: Map<String, Value>,
}

impl GroupFields {
    pub fn from_map(mut obj: Map<String, Value>) -> Self {
        Self {
            name: Field::take(&mut obj, "name"),
            description: Field::take(&mut obj, "description"),
            roles: Field::take(&mut obj, "roles"),
            attributes: Field::take(&mut obj, "attributes"),
            other: obj,
        }
    }
}

impl GroupDraft {
    pub fn from_json(obj: Map<String, Value>) -> Result<Self, Vec<FieldError>> {
        Self::from_fields(GroupFields::from_map(obj))
    }

    /// Validates a whole group body; every field's error at once. Absent
    /// optional fields take their defaults (no description, no roles).
    pub fn from_fields(f: GroupFields) -> Result<Self, Vec<FieldError>> {
        const STRING: &str = "must be a string";
        let mut errors = Vec::new();
        let name = keep(
            &mut errors,
            "name",
            f.name.parse(
                || Err("is required".to_owned()),
                |s| GroupName::parse(&s),
                STRING,
            ),
        );
        let description = keep(
            &mut errors,
            "description",
            f.description.parse(|| Ok(None), parse_description, STRING),
        );
        let roles = keep(
            &mut errors,
            "roles",
            f.roles.parse(
                || Ok(Vec::new()),
                |items| parse_roles(&items),
                "must be an array of role names",
            ),
        );
        let attributes = keep(
            &mut errors,
            "attributes",
            f.attributes
                .parse(|| Ok(Attributes::default()), Attributes::parse, ""),
        );
        let mut rest: Vec<&String> = f.other.keys().collect();
        rest.sort();
        for key in rest {
            let message = match READ_ONLY.contains(&key.as_str()) {
                true => "is read-only",
                false => "is not a known field",
            };
            errors.push(FieldError::new(key.as_str(), message));
        }
        let draft = || {
            Some(Self {
                name: name?,
                description: description?,
                roles: roles?,
                attributes: attributes?,
            })
        };
        match draft() {
            Some(draft) if errors.is_empty() => Ok(draft),
            _ => Err(errors),
        }
    }
}

fn parse_description(s: String) -> Result<Option<String>, String> {
    let s: String = s.trim().nfc().collect();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > GROUP_DESCRIPTION_MAX {
        return Err(format!(
            "must be at most {GROUP_DESCRIPTION_MAX} characters"
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters other than new lines".into());
    }
    Ok(Some(s))
}

/// An RFC 7396 merge patch of a group's writable fields; the result is
/// validated as a whole draft.
#[derive(Debug, Clone)]
pub struct GroupPatch(Value);

impl GroupPatch {
    pub fn new(obj: Map<String, Value>) -> Self {
        Self(Value::Object(obj))
    }

    pub fn apply(&self, current: &Group) -> Result<GroupDraft, Vec<FieldError>> {
        let mut body = Value::Object(current.writable_json());
        super::merge_patch(&mut body, &self.0);
        let Value::Object(body) = body else {
            unreachable!("merging an object patch into an object gives an object")
        };
        GroupDraft::from_json(body)
    }
}

/// The roles `own` and those `groups` grant, each once, in role order.
pub fn effective_roles<'a>(
    own: &[Role],
    groups: impl IntoIterator<Item = &'a [Role]>,
) -> Vec<Role> {
    let mut all: Vec<Role> = own.to_vec();
    for roles in groups {
        all.extend_from_slice(roles);
    }
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_group_body_reports_every_field_at_once() {
        let errs = GroupDraft::from_json(obj(json!({
            "name": "  ", "roles": ["root"], "member_count": 3, "colour": "red"
        })))
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "roles", "colour", "member_count"]);
        assert_eq!(errs[3].message, "is read-only");
        let ok = GroupDraft::from_json(obj(json!({"name": " Engineering ", "roles": ["admin"]})))
            .unwrap();
        assert_eq!(ok.name.as_str(), "Engineering");
        assert_eq!(ok.name.folded(), "engineering");
        assert_eq!(ok.roles, [Role::Admin]);
    }

    #[test]
    fn a_patch_keeps_what_it_does_not_name() {
        let draft =
            GroupDraft::from_json(obj(json!({"name": "ops", "description": "on call"}))).unwrap();
        let g = Group::from_draft(GroupId::new(), draft, Timestamp::from_micros(1));
        let next = GroupPatch::new(obj(json!({"roles": ["admin"], "description": null})))
            .apply(&g)
            .unwrap();
        assert_eq!((next.name.as_str(), next.description), ("ops", None));
        assert_eq!(next.roles, [Role::Admin]);
    }

    #[test]
    fn effective_roles_are_the_union() {
        let granted: [&[Role]; 2] = [&[Role::Admin], &[Role::User, Role::Admin]];
        assert_eq!(
            effective_roles(&[Role::User], granted),
            [Role::Admin, Role::User]
        );
        assert_eq!(effective_roles(&[], []), Vec::<Role>::new());
    }
}
