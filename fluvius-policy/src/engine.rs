//! The Cedar engine: policies parsed, validated against the generated schema and indexed by
//! (resource, action) once, then swapped in whole on reload, so a check never re-reads or
//! re-validates anything and only meets the policies that can apply to it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use cedar_policy::{
    ActionConstraint, Effect, Entity, EntityUid, Policy, PolicyId, PolicySet, Request,
    ResourceConstraint, Schema, ValidationMode, Validator,
};
use fluvius_core::policy::QUERY_ACTIONS;
use fluvius_core::{
    Decision, PolicyEngine, PolicyError, PolicyModel, PolicyRequest, Visibility, VisibilityRequest,
};
use serde_json::{Map, Value, json};

use crate::CedarError;
use crate::entities::{self, Names};
use crate::schema::{NamespaceModel, READ_GROUP, WRITE_GROUP};
use crate::slot::Slot;
use crate::translate::{self, Known};

/// A [`PolicyEngine`] deciding with Cedar policies; see the [crate docs](crate).
///
/// Cheap to share: install it with `.shared_policy(engine.clone())` on an `Arc<CedarEngine>`
/// and keep the `Arc` to [`reload`](CedarEngine::reload) it later.
#[derive(Debug)]
pub struct CedarEngine {
    models: Vec<NamespaceModel>,
    schema: Value,
    compiled: ArcSwap<Compiled>,
}

/// One generation of policies, ready to decide.
#[derive(Debug)]
struct Compiled {
    ids: Vec<String>,
    spaces: HashMap<String, Space>,
}

/// The policies of one namespace, by resource, then by action.
#[derive(Debug)]
struct Space {
    names: Names,
    attrs: BTreeMap<String, BTreeMap<String, crate::schema::Attr>>,
    /// Per resource, its entity type as policies name it (`<ns>::<resource>`).
    type_names: HashMap<String, String>,
    slots: HashMap<String, HashMap<String, Slot>>,
    /// Per action, its entity (a member of its group), so `action in Action::"read"` holds.
    actions: HashMap<String, Entity>,
    /// Per resource, the policies that apply to `find`, in Cedar's JSON form.
    find: HashMap<String, Vec<FindPolicy>>,
}

#[derive(Debug)]
struct FindPolicy {
    id: String,
    forbid: bool,
    json: Value,
}

impl CedarEngine {
    /// An engine for these domains (see [`DomainBuilder::policy_model`](fluvius_core::DomainBuilder::policy_model))
    /// with the policies of one Cedar text. Every policy is validated against the schema
    /// generated from the domains: an unknown action, entity type or attribute is an error.
    pub fn new(
        models: impl IntoIterator<Item = PolicyModel>,
        policies: &str,
    ) -> Result<Self, CedarError> {
        Self::from_sources(models, [("policies", policies)])
    }

    /// An engine with policies from several named texts (file names, say), which errors name.
    pub fn from_sources<'a>(
        models: impl IntoIterator<Item = PolicyModel>,
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, CedarError> {
        let models = models
            .into_iter()
            .map(|m| NamespaceModel::new(&m))
            .collect::<Result<Vec<_>, _>>()?;
        let mut schema = Map::new();
        for model in &models {
            if schema
                .insert(model.model.namespace.clone(), model.schema_json())
                .is_some()
            {
                return Err(CedarError::Schema(format!(
                    "domain `{}` is given twice",
                    model.model.namespace
                )));
            }
        }
        let schema = Value::Object(schema);
        let compiled = compile(&models, &schema, sources)?;
        Ok(CedarEngine {
            models,
            schema,
            compiled: ArcSwap::from_pointee(compiled),
        })
    }

    /// Replaces every policy with those of `policies`, atomically: checks already running
    /// finish with the old set, later ones see the new one. On error the old set stays.
    pub fn reload(&self, policies: &str) -> Result<(), CedarError> {
        self.reload_sources([("policies", policies)])
    }

    /// [`reload`](CedarEngine::reload) from several named texts.
    pub fn reload_sources<'a>(
        &self,
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), CedarError> {
        let compiled = compile(&self.models, &self.schema, sources)?;
        self.compiled.store(Arc::new(compiled));
        Ok(())
    }

    /// The Cedar schema generated from the domains, in Cedar's JSON schema format.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// The ids of the loaded policies, in the order they were given.
    pub fn policy_ids(&self) -> Vec<String> {
        self.compiled.load().ids.clone()
    }
}

fn parse_error(source_name: &str, err: impl std::fmt::Display) -> CedarError {
    CedarError::Parse {
        source_name: source_name.to_owned(),
        message: err.to_string(),
    }
}

fn compile<'a>(
    models: &[NamespaceModel],
    schema: &Value,
    sources: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Compiled, CedarError> {
    let mut all = PolicySet::new();
    let mut ids = Vec::new();
    for (name, text) in sources {
        let parsed = PolicySet::from_str(text).map_err(|e| parse_error(name, e))?;
        if parsed.templates().next().is_some() {
            return Err(parse_error(
                name,
                "policy templates are not supported; write static policies",
            ));
        }
        for (index, policy) in parsed.policies().enumerate() {
            let id = match policy.annotation("id") {
                Some(id) => id.to_owned(),
                None if index == 0 && parsed.policies().nth(1).is_none() => name.to_owned(),
                None => format!("{name}#{index}"),
            };
            all.add(policy.new_id(PolicyId::new(&id)))
                .map_err(|_| CedarError::DuplicateId(id.clone()))?;
            ids.push(id);
        }
    }
    let schema =
        Schema::from_json_value(schema.clone()).map_err(|e| CedarError::Schema(format!("{e}")))?;
    let result = Validator::new(schema).validate(&all, ValidationMode::Strict);
    if let Some(err) = result.validation_errors().next() {
        return Err(CedarError::Invalid {
            policy: err.policy_id().to_string(),
            message: err.to_string(),
        });
    }
    let mut spaces = HashMap::new();
    for model in models {
        spaces.insert(model.model.namespace.clone(), space(model, &all)?);
    }
    Ok(Compiled { ids, spaces })
}

fn space(model: &NamespaceModel, all: &PolicySet) -> Result<Space, CedarError> {
    let namespace = &model.model.namespace;
    let names = Names::new(namespace, model.resources.keys()).ok_or_else(|| {
        CedarError::Schema(format!("namespace `{namespace}` gives no valid type names"))
    })?;
    let read = names.action(READ_GROUP);
    let write = names.action(WRITE_GROUP);
    let mut slots: HashMap<String, HashMap<String, Slot>> = HashMap::new();
    let mut actions = HashMap::new();
    let mut find: HashMap<String, Vec<FindPolicy>> = HashMap::new();
    let queries = QUERY_ACTIONS.iter().map(|q| {
        (
            *q,
            &read,
            model.resources.keys().cloned().collect::<Vec<_>>(),
        )
    });
    let commands = model
        .model
        .commands
        .iter()
        .map(|c| (c.key.as_str(), &write, c.resources.clone()));
    for (action, group, resources) in queries.chain(commands) {
        let uid = names.action(action);
        actions.insert(
            action.to_owned(),
            Entity::new_no_attrs(uid.clone(), HashSet::from([group.clone()])),
        );
        for resource in resources {
            let ty = names.resources.get(&resource).ok_or_else(|| {
                CedarError::Schema(format!(
                    "command `{action}` of `{namespace}` applies to `{resource}`, which is not a resource of the domain"
                ))
            })?;
            let mut slot = Slot::default();
            for policy in all.policies() {
                if !action_matches(policy, &uid, group) || !resource_matches(policy, ty) {
                    continue;
                }
                slot.add(policy, &names);
                if action == "find" {
                    let json = policy.to_json().map_err(|e| CedarError::Untranslatable {
                        policy: policy.id().to_string(),
                        resource: resource.clone(),
                        message: e.to_string(),
                    })?;
                    find.entry(resource.clone()).or_default().push(FindPolicy {
                        id: policy.id().to_string(),
                        forbid: policy.effect() == Effect::Forbid,
                        json,
                    });
                }
            }
            slots
                .entry(resource.clone())
                .or_default()
                .insert(action.to_owned(), slot);
        }
    }
    let type_names = names
        .resources
        .iter()
        .map(|(resource, ty)| (resource.clone(), ty.to_string()))
        .collect();
    let space = Space {
        names,
        type_names,
        attrs: model.resources.clone(),
        slots,
        actions,
        find,
    };
    // A find policy that does not translate fails now, not on the first `find`.
    let probe = fluvius_core::Context::new();
    for (resource, policies) in &space.find {
        let known = space.known(&probe, resource);
        for policy in policies {
            translate::policy_filter(&policy.json, &known).map_err(|message| {
                CedarError::Untranslatable {
                    policy: policy.id.clone(),
                    resource: resource.clone(),
                    message,
                }
            })?;
        }
    }
    Ok(space)
}

fn action_matches(policy: &Policy, action: &EntityUid, group: &EntityUid) -> bool {
    match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => &uid == action,
        ActionConstraint::In(uids) => uids.iter().any(|uid| uid == action || uid == group),
    }
}

fn resource_matches(policy: &Policy, ty: &cedar_policy::EntityTypeName) -> bool {
    match policy.resource_constraint() {
        ResourceConstraint::Any => true,
        ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => &t == ty,
        ResourceConstraint::Eq(uid) | ResourceConstraint::In(uid) => uid.type_name() == ty,
    }
}

impl Space {
    fn known<'a>(&'a self, context: &fluvius_core::Context, resource: &'a str) -> Known<'a> {
        let user = context.user.clone().unwrap_or_default();
        let entity = |ty: &cedar_policy::EntityTypeName, id: &str| json!({"__entity": {"type": ty.to_string(), "id": id}});
        let mut principal_attrs = Map::new();
        principal_attrs.insert("id".into(), json!(user));
        principal_attrs.insert("roles".into(), json!(context.roles));
        principal_attrs.insert("tenant".into(), json!(context.tenant));
        let mut record = Map::new();
        record.insert("tenant".into(), json!(context.tenant));
        record.insert("exists".into(), json!(true));
        Known {
            principal: entity(&self.names.user, &user),
            principal_attrs,
            roles: context
                .roles
                .iter()
                .map(|r| entity(&self.names.role, r))
                .collect(),
            context: record,
            action: entity(&self.names.action, "find"),
            resource_type: self
                .type_names
                .get(resource)
                .map(String::as_str)
                .unwrap_or(""),
        }
    }
}

impl PolicyEngine for CedarEngine {
    fn bind(&self, model: &PolicyModel) -> Result<(), PolicyError> {
        let built = self
            .models
            .iter()
            .find(|m| m.model.namespace == model.namespace)
            .ok_or_else(|| {
                PolicyError::new(format!(
                    "the Cedar engine was built without domain `{}`: pass its `policy_model()` to `CedarEngine::new`",
                    model.namespace
                ))
            })?;
        if built.model != *model {
            return Err(PolicyError::new(format!(
                "the Cedar engine was built for another shape of domain `{}` (other resources, state schemas or commands): build it from this domain's `policy_model()`",
                model.namespace
            )));
        }
        Ok(())
    }

    fn authorize(&self, request: &PolicyRequest<'_>) -> Result<Decision, PolicyError> {
        let compiled = self.compiled.load();
        let space = compiled.space(request.namespace)?;
        let action = request.operation.action();
        let Some(slot) = space
            .slots
            .get(request.resource)
            .and_then(|s| s.get(action))
        else {
            // No policy can apply: nothing permits it.
            return Ok(Decision::deny(Vec::<String>::new()));
        };
        let names = &space.names;
        let ty = names
            .resources
            .get(request.resource)
            .ok_or_else(|| PolicyError::new(format!("unknown resource `{}`", request.resource)))?;
        let uid =
            EntityUid::from_type_name_and_id(ty.clone(), cedar_policy::EntityId::new(request.id));
        let empty = BTreeMap::new();
        let attrs = space.attrs.get(request.resource).unwrap_or(&empty);
        let mut all = vec![entities::principal_entity(names, request.context)];
        all.push(entities::resource_entity(uid.clone(), attrs, request.state));
        if let Some(action_entity) = space.actions.get(action) {
            all.push(action_entity.clone());
        }
        let cedar_request = Request::new(
            names.principal(request.context),
            names.action(action),
            uid,
            entities::request_context(&request.context.tenant, request.exists),
            None,
        )
        .map_err(|e| PolicyError::new(format!("the request does not fit Cedar: {e}")))?;
        Ok(slot.decide(&cedar_request, &entities::entities(all), request.context))
    }

    fn visible(&self, request: &VisibilityRequest<'_>) -> Result<Visibility, PolicyError> {
        let compiled = self.compiled.load();
        let space = compiled.space(request.namespace)?;
        let Some(policies) = space.find.get(request.resource) else {
            return Ok(Visibility::Nothing);
        };
        let known = space.known(request.context, request.resource);
        let (mut permits, mut forbids) = (Vec::new(), Vec::new());
        for policy in policies {
            let filter = translate::policy_filter(&policy.json, &known).map_err(|message| {
                PolicyError::new(format!(
                    "policy `{}` does not translate: {message}",
                    policy.id
                ))
            })?;
            if policy.forbid {
                forbids.push(filter);
            } else {
                permits.push(filter);
            }
        }
        Ok(match translate::combine(permits, forbids) {
            None => Visibility::Nothing,
            Some(filter) if filter == json!({}) => Visibility::All,
            Some(filter) => Visibility::Filter(filter),
        })
    }
}

impl Compiled {
    fn space(&self, namespace: &str) -> Result<&Space, PolicyError> {
        self.spaces.get(namespace).ok_or_else(|| {
            PolicyError::new(format!(
                "the Cedar engine has no policies for domain `{namespace}`"
            ))
        })
    }
}
