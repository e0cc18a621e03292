//! The entities of one request: the principal (`User`, a member of a `Role` per role of the
//! context), and the resource, its attributes taken from the root's state as the schema types
//! them. Built per request from what the domain hands over; nothing is read from a store.

use std::collections::{BTreeMap, HashMap, HashSet};

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression,
};
use fluvius_core::Context as FluviusContext;
use serde_json::Value;

use crate::schema::{Attr, AttrType};

/// The parsed type names of one namespace, made once when the engine is built.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) user: EntityTypeName,
    pub(crate) role: EntityTypeName,
    pub(crate) action: EntityTypeName,
    pub(crate) resources: HashMap<String, EntityTypeName>,
}

impl Names {
    pub(crate) fn new<'a>(
        namespace: &str,
        resources: impl Iterator<Item = &'a String>,
    ) -> Option<Self> {
        let name = |ty: &str| format!("{namespace}::{ty}").parse::<EntityTypeName>().ok();
        let mut parsed = HashMap::new();
        for resource in resources {
            parsed.insert(resource.clone(), name(resource)?);
        }
        Some(Names {
            user: name("User")?,
            role: name("Role")?,
            action: name("Action")?,
            resources: parsed,
        })
    }

    pub(crate) fn action(&self, action: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.action.clone(), EntityId::new(action))
    }

    pub(crate) fn principal(&self, context: &FluviusContext) -> EntityUid {
        let id = context.user.as_deref().unwrap_or("");
        EntityUid::from_type_name_and_id(self.user.clone(), EntityId::new(id))
    }

    pub(crate) fn role(&self, role: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.role.clone(), EntityId::new(role))
    }
}

/// The principal entity, a member of its roles. The role entities themselves are not needed:
/// `principal in Role::".."` reads the principal's parents only.
pub(crate) fn principal_entity(names: &Names, context: &FluviusContext) -> Entity {
    let roles: HashSet<EntityUid> = context.roles.iter().map(|r| names.role(r)).collect();
    let attrs = HashMap::from([
        (
            "id".to_owned(),
            RestrictedExpression::new_string(context.user.clone().unwrap_or_default()),
        ),
        (
            "roles".to_owned(),
            RestrictedExpression::new_set(
                context
                    .roles
                    .iter()
                    .map(|r| RestrictedExpression::new_string(r.clone())),
            ),
        ),
        (
            "tenant".to_owned(),
            RestrictedExpression::new_string(context.tenant.clone()),
        ),
    ]);
    Entity::new(names.principal(context), attrs, roles)
        .unwrap_or_else(|_| Entity::new_no_attrs(names.principal(context), HashSet::new()))
}

/// The resource entity with the attributes its state has; a value Cedar cannot hold (an
/// integer past `i64`) is left out, which makes a policy reading it not apply.
pub(crate) fn resource_entity(
    uid: EntityUid,
    attrs: &BTreeMap<String, Attr>,
    state: &Value,
) -> Entity {
    let values = attrs
        .iter()
        .filter_map(|(name, attr)| Some((name.clone(), value(&attr.ty, state.get(name)?)?)))
        .collect::<HashMap<_, _>>();
    Entity::new(uid.clone(), values, HashSet::new())
        .unwrap_or_else(|_| Entity::new_no_attrs(uid, HashSet::new()))
}

fn value(ty: &AttrType, json: &Value) -> Option<RestrictedExpression> {
    Some(match (ty, json) {
        (AttrType::Long, Value::Number(n)) => RestrictedExpression::new_long(n.as_i64()?),
        (AttrType::String, Value::String(s)) => RestrictedExpression::new_string(s.clone()),
        (AttrType::Bool, Value::Bool(b)) => RestrictedExpression::new_bool(*b),
        (AttrType::Set(element), Value::Array(items)) => RestrictedExpression::new_set(
            items
                .iter()
                .map(|item| value(element, item))
                .collect::<Option<Vec<_>>>()?,
        ),
        (AttrType::Record(attrs), Value::Object(_)) => {
            let fields = attrs
                .iter()
                .filter_map(|(name, attr)| Some((name.clone(), value(&attr.ty, json.get(name)?)?)));
            RestrictedExpression::new_record(fields).ok()?
        }
        _ => return None,
    })
}

/// The request context: the tenant and whether the root exists.
pub(crate) fn request_context(tenant: &str, exists: bool) -> Context {
    Context::from_pairs([
        (
            "tenant".to_owned(),
            RestrictedExpression::new_string(tenant.to_owned()),
        ),
        ("exists".to_owned(), RestrictedExpression::new_bool(exists)),
    ])
    .unwrap_or_else(|_| Context::empty())
}

/// Every entity of a request in one set (no schema check per request: the policies were
/// validated against the schema when the engine was built).
pub(crate) fn entities(all: Vec<Entity>) -> Entities {
    Entities::from_entities(all, None).unwrap_or_else(|_| Entities::empty())
}
