//! From Cedar policies to the JSON filter DSL, so `find` returns exactly the roots a `find`
//! request on each of them would be allowed, with exact pages and totals on every backend.
//!
//! A policy is read in its JSON form (Cedar's EST). Everything about the principal, the action
//! and the context is known when a `find` runs and is evaluated to a boolean; what reads the
//! resource becomes a filter condition. The fragment that translates: `==`, `!=`, `<`, `<=`, `>`,
//! `>=` between a resource attribute and a known value, `has`, `contains`/`containsAny` on a
//! resource set attribute, a known set `.contains(resource.attr)`, `resource == E`,
//! `resource in E`, `principal in Role::".."`, `&&`, `||`, `!`, and anything about the principal
//! and context alone. Strict validation guarantees every attribute read is present (optional
//! ones are guarded by `has`), so Cedar never errors on the translated policies and the
//! filter agrees with the authorizer.

use serde_json::{Map, Value, json};

/// What is known about a `find` request when it is translated.
#[derive(Debug)]
pub(crate) struct Known<'a> {
    /// `{"__entity": {"type": "<ns>::User", "id": ".."}}`.
    pub(crate) principal: Value,
    /// The principal's attributes.
    pub(crate) principal_attrs: Map<String, Value>,
    /// The principal's role entities, as `__entity` values.
    pub(crate) roles: Vec<Value>,
    /// The request context record.
    pub(crate) context: Map<String, Value>,
    /// The action entity.
    pub(crate) action: Value,
    /// The resource's entity type, `<ns>::<resource>`.
    pub(crate) resource_type: &'a str,
}

/// A translated (sub)expression.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// Known without reading the resource.
    Lit(Value),
    /// The resource entity itself.
    Resource,
    /// A resource attribute, by its dotted path in the state.
    Path(String),
    /// A condition on the resource: the roots where it holds.
    Cond(Value),
}

/// A policy's body as a filter: `Ok(None)` when it holds for no root, `Ok(Some(filter))` where
/// it does (`{}` for every root). An error says what does not translate.
pub(crate) fn policy_filter(policy: &Value, known: &Known<'_>) -> Result<Option<Value>, String> {
    let mut parts = vec![scope(policy, known)?];
    for condition in policy
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let body = condition.get("body").ok_or("a condition has no body")?;
        let term = boolean(translate(body, known)?)?;
        let term = match condition.get("kind").and_then(Value::as_str) {
            Some("unless") => not(term),
            _ => term,
        };
        parts.push(term);
    }
    Ok(match and(parts) {
        Term::Lit(Value::Bool(false)) => None,
        Term::Lit(_) => Some(json!({})),
        Term::Cond(filter) => Some(filter),
        _ => None,
    })
}

/// The principal and resource scope (the action scope chose the policy already).
fn scope(policy: &Value, known: &Known<'_>) -> Result<Term, String> {
    let principal = policy
        .get("principal")
        .ok_or("the policy has no principal scope")?;
    let on_principal = match principal.get("op").and_then(Value::as_str) {
        Some("All") => true,
        Some("==") => principal.get("entity") == Some(&entity_of(&known.principal)),
        Some("in") => is_in_principal(principal.get("entity"), known),
        Some("is") => {
            let ty = principal.get("entity_type").and_then(Value::as_str);
            let is = known.principal["__entity"]["type"].as_str() == ty;
            let within = match principal.get("in") {
                Some(inner) => is_in_principal(inner.get("entity"), known),
                None => true,
            };
            is && within
        }
        _ => return Err("its principal scope uses a template slot".into()),
    };
    if !on_principal {
        return Ok(Term::Lit(Value::Bool(false)));
    }
    let resource = policy
        .get("resource")
        .ok_or("the policy has no resource scope")?;
    let entity_filter = |entity: Option<&Value>| -> Result<Term, String> {
        let entity = entity.ok_or("its resource scope names a template slot")?;
        Ok(resource_is(entity, known))
    };
    Ok(match resource.get("op").and_then(Value::as_str) {
        Some("All") => Term::Lit(Value::Bool(true)),
        // Resources have no parents: `in E` is `== E`.
        Some("==" | "in") => entity_filter(resource.get("entity"))?,
        Some("is") => {
            let ty = resource.get("entity_type").and_then(Value::as_str);
            if ty != Some(known.resource_type) {
                Term::Lit(Value::Bool(false))
            } else {
                match resource.get("in") {
                    Some(inner) => entity_filter(inner.get("entity"))?,
                    None => Term::Lit(Value::Bool(true)),
                }
            }
        }
        _ => return Err("its resource scope uses a template slot".into()),
    })
}

/// `{"type": .., "id": ..}` of an `__entity` value.
fn entity_of(value: &Value) -> Value {
    value.get("__entity").cloned().unwrap_or(Value::Null)
}

fn is_in_principal(entity: Option<&Value>, known: &Known<'_>) -> bool {
    let Some(entity) = entity else { return false };
    entity == &entity_of(&known.principal) || known.roles.iter().any(|r| &entity_of(r) == entity)
}

/// `resource == entity`, as a condition on the identifier.
fn resource_is(entity: &Value, known: &Known<'_>) -> Term {
    if entity.get("type").and_then(Value::as_str) != Some(known.resource_type) {
        return Term::Lit(Value::Bool(false));
    }
    match entity.get("id") {
        Some(id) => Term::Cond(json!({"id.eq": id})),
        None => Term::Lit(Value::Bool(false)),
    }
}

fn translate(expr: &Value, known: &Known<'_>) -> Result<Term, String> {
    let Some((op, arg)) = expr.as_object().and_then(|o| o.iter().next()) else {
        return Err(format!("`{expr}` is not an expression"));
    };
    let binary = |arg: &Value| -> Result<(Term, Term), String> {
        Ok((
            translate(
                arg.get("left").ok_or("an operator has no left side")?,
                known,
            )?,
            translate(
                arg.get("right").ok_or("an operator has no right side")?,
                known,
            )?,
        ))
    };
    match op.as_str() {
        "Value" => Ok(Term::Lit(arg.clone())),
        "Var" => Ok(match arg.as_str() {
            Some("principal") => Term::Lit(known.principal.clone()),
            Some("action") => Term::Lit(known.action.clone()),
            Some("resource") => Term::Resource,
            Some("context") => Term::Lit(Value::Object(known.context.clone())),
            _ => return Err(format!("it uses the variable `{arg}`")),
        }),
        "Set" => {
            let items = arg.as_array().ok_or("a set literal is not a list")?;
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                match translate(item, known)? {
                    Term::Lit(value) => values.push(value),
                    _ => return Err("a set literal holds a resource attribute".into()),
                }
            }
            Ok(Term::Lit(Value::Array(values)))
        }
        "." => {
            let attr = arg
                .get("attr")
                .and_then(Value::as_str)
                .ok_or("`.` names no attribute")?;
            match translate(arg.get("left").ok_or("`.` has no left side")?, known)? {
                Term::Resource => Ok(Term::Path(attr.to_owned())),
                Term::Path(path) => Ok(Term::Path(format!("{path}.{attr}"))),
                Term::Lit(value) if value == known.principal => known
                    .principal_attrs
                    .get(attr)
                    .cloned()
                    .map(Term::Lit)
                    .ok_or_else(|| {
                        format!("it reads `principal.{attr}`, which principals do not have")
                    }),
                Term::Lit(Value::Object(record)) => record
                    .get(attr)
                    .cloned()
                    .map(Term::Lit)
                    .ok_or_else(|| format!("it reads the missing attribute `{attr}`")),
                _ => Err(format!(
                    "it reads `.{attr}` of something that is not a record"
                )),
            }
        }
        "has" => {
            let attrs: Vec<&str> = match arg.get("attr") {
                Some(Value::String(a)) => vec![a.as_str()],
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
                _ => return Err("`has` names no attribute".into()),
            };
            match translate(arg.get("left").ok_or("`has` has no left side")?, known)? {
                left @ (Term::Resource | Term::Path(_)) => {
                    let base = match left {
                        Term::Path(path) => format!("{path}."),
                        _ => String::new(),
                    };
                    let mut path = base;
                    let mut checks = Vec::new();
                    for attr in attrs {
                        path.push_str(attr);
                        checks.push(Term::Cond(json!({ format!("{path}.null"): false })));
                        path.push('.');
                    }
                    Ok(and(checks))
                }
                Term::Lit(value) => {
                    let record = if value == known.principal {
                        Value::Object(known.principal_attrs.clone())
                    } else {
                        value
                    };
                    let mut at = &record;
                    let mut present = true;
                    for attr in attrs {
                        match at.get(attr) {
                            Some(next) => at = next,
                            None => {
                                present = false;
                                break;
                            }
                        }
                    }
                    Ok(Term::Lit(Value::Bool(present)))
                }
                Term::Cond(_) => Err("`has` is applied to a condition".into()),
            }
        }
        "==" | "!=" => {
            let (left, right) = binary(arg)?;
            let equal = equals(left, right, known)?;
            Ok(if op == "!=" { not(equal) } else { equal })
        }
        "<" | "<=" | ">" | ">=" => {
            let (left, right) = binary(arg)?;
            compare(op, left, right)
        }
        "&&" | "||" => {
            let (left, right) = binary(arg)?;
            let parts = vec![boolean(left)?, boolean(right)?];
            Ok(if op == "&&" { and(parts) } else { or(parts) })
        }
        "!" => Ok(not(boolean(translate(
            arg.get("arg").ok_or("`!` has no argument")?,
            known,
        )?)?)),
        "contains" | "containsAny" | "containsAll" => {
            let (left, right) = binary(arg)?;
            contains(op, left, right)
        }
        "in" => {
            let (left, right) = binary(arg)?;
            match (left, right) {
                (Term::Resource, Term::Lit(Value::Array(entities))) => Ok(or(entities
                    .iter()
                    .map(|e| resource_is(&entity_of(e), known))
                    .collect())),
                (Term::Resource, Term::Lit(entity)) => Ok(resource_is(&entity_of(&entity), known)),
                (Term::Lit(left), Term::Lit(right)) if left == known.principal => {
                    let targets = match right {
                        Value::Array(items) => items,
                        one => vec![one],
                    };
                    Ok(Term::Lit(Value::Bool(
                        targets
                            .iter()
                            .any(|t| is_in_principal(Some(&entity_of(t)), known)),
                    )))
                }
                (Term::Lit(left), Term::Lit(right)) => Ok(Term::Lit(Value::Bool(
                    left == right || right.as_array().is_some_and(|items| items.contains(&left)),
                ))),
                _ => Err("it uses `in` on a resource attribute".into()),
            }
        }
        "is" => match translate(arg.get("left").ok_or("`is` has no left side")?, known)? {
            Term::Resource if arg.get("in").is_none() => Ok(Term::Lit(Value::Bool(
                arg.get("entity_type").and_then(Value::as_str) == Some(known.resource_type),
            ))),
            Term::Lit(value) if arg.get("in").is_none() => Ok(Term::Lit(Value::Bool(
                value["__entity"]["type"].as_str()
                    == arg.get("entity_type").and_then(Value::as_str),
            ))),
            _ => Err("it uses `is .. in`, or `is` on an attribute".into()),
        },
        other => Err(format!("it uses `{other}`")),
    }
}

/// A term as a boolean condition: a boolean attribute reads as `attr == true`.
fn boolean(term: Term) -> Result<Term, String> {
    match term {
        Term::Lit(Value::Bool(_)) | Term::Cond(_) => Ok(term),
        Term::Path(path) => Ok(Term::Cond(json!({ format!("{path}.eq"): true }))),
        Term::Lit(other) => Err(format!("`{other}` is used as a condition")),
        Term::Resource => Err("the resource is used as a condition".into()),
    }
}

fn equals(left: Term, right: Term, known: &Known<'_>) -> Result<Term, String> {
    match (left, right) {
        (Term::Lit(a), Term::Lit(b)) => Ok(Term::Lit(Value::Bool(a == b))),
        (Term::Path(path), Term::Lit(value)) | (Term::Lit(value), Term::Path(path)) => {
            if value.is_array() || value.is_object() {
                return Err(format!(
                    "it compares `resource.{path}` with a set or record"
                ));
            }
            Ok(Term::Cond(json!({ format!("{path}.eq"): value })))
        }
        (Term::Resource, Term::Lit(entity)) | (Term::Lit(entity), Term::Resource) => {
            Ok(resource_is(&entity_of(&entity), known))
        }
        _ => Err("it compares two resource attributes with each other".into()),
    }
}

fn compare(op: &str, left: Term, right: Term) -> Result<Term, String> {
    let flip = |op: &str| match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        _ => "<=",
    };
    let (path, op, value) = match (left, right) {
        (Term::Lit(a), Term::Lit(b)) => {
            let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) else {
                return Err("it orders values that are not numbers".into());
            };
            let holds = match op {
                "<" => a < b,
                "<=" => a <= b,
                ">" => a > b,
                _ => a >= b,
            };
            return Ok(Term::Lit(Value::Bool(holds)));
        }
        (Term::Path(path), Term::Lit(value)) => (path, op, value),
        (Term::Lit(value), Term::Path(path)) => (path, flip(op), value),
        _ => return Err("it orders two resource attributes against each other".into()),
    };
    let suffix = match op {
        "<" => "lt",
        "<=" => "lte",
        ">" => "gt",
        _ => "gte",
    };
    Ok(Term::Cond(json!({ format!("{path}.{suffix}"): value })))
}

fn contains(op: &str, left: Term, right: Term) -> Result<Term, String> {
    match (op, left, right) {
        (_, Term::Lit(set), Term::Lit(item)) => {
            let items = set.as_array().cloned().unwrap_or_default();
            let wanted = match item {
                Value::Array(list) if op != "contains" => list,
                one => vec![one],
            };
            let holds = match op {
                "containsAll" => wanted.iter().all(|w| items.contains(w)),
                _ => wanted.iter().any(|w| items.contains(w)),
            };
            Ok(Term::Lit(Value::Bool(holds)))
        }
        ("contains", Term::Path(path), Term::Lit(item)) => {
            Ok(Term::Cond(json!({ format!("{path}.has"): item })))
        }
        ("containsAny", Term::Path(path), Term::Lit(Value::Array(items))) => {
            Ok(Term::Cond(json!({ format!("{path}.ov"): items })))
        }
        ("containsAll", Term::Path(path), Term::Lit(Value::Array(items))) => Ok(and(items
            .into_iter()
            .map(|item| Term::Cond(json!({ format!("{path}.has"): item })))
            .collect())),
        ("contains", Term::Lit(Value::Array(items)), Term::Path(path)) => {
            Ok(Term::Cond(json!({ format!("{path}.in"): items })))
        }
        _ => Err(format!("it uses `{op}` in a way that reads no known set")),
    }
}

/// AND of boolean terms, folding what is known.
fn and(parts: Vec<Term>) -> Term {
    let mut conds = Vec::new();
    for part in parts {
        match part {
            Term::Lit(Value::Bool(false)) => return Term::Lit(Value::Bool(false)),
            Term::Cond(c) => conds.push(c),
            _ => {}
        }
    }
    match conds.len() {
        0 => Term::Lit(Value::Bool(true)),
        1 => Term::Cond(conds.pop().unwrap_or_default()),
        _ => Term::Cond(json!({ ".and": conds })),
    }
}

/// OR of boolean terms, folding what is known.
fn or(parts: Vec<Term>) -> Term {
    let mut conds = Vec::new();
    for part in parts {
        match part {
            Term::Lit(Value::Bool(true)) => return Term::Lit(Value::Bool(true)),
            Term::Cond(c) => conds.push(c),
            _ => {}
        }
    }
    match conds.len() {
        0 => Term::Lit(Value::Bool(false)),
        1 => Term::Cond(conds.pop().unwrap_or_default()),
        _ => Term::Cond(json!({ ".or": conds })),
    }
}

fn not(term: Term) -> Term {
    match term {
        Term::Lit(Value::Bool(b)) => Term::Lit(Value::Bool(!b)),
        Term::Cond(c) => Term::Cond(json!({ "!and": [c] })),
        other => other,
    }
}

/// Which roots are visible given the permits' and forbids' filters (`None`: the policy holds
/// for no root): some permit holds and no forbid does.
pub(crate) fn combine(permits: Vec<Option<Value>>, forbids: Vec<Option<Value>>) -> Option<Value> {
    let to_term = |f: Option<Value>| match f {
        None => Term::Lit(Value::Bool(false)),
        Some(v) if v == json!({}) => Term::Lit(Value::Bool(true)),
        Some(v) => Term::Cond(v),
    };
    let allowed = or(permits.into_iter().map(to_term).collect());
    let forbidden = or(forbids.into_iter().map(to_term).collect());
    match and(vec![allowed, not(forbidden)]) {
        Term::Lit(Value::Bool(false)) => None,
        Term::Cond(filter) => Some(filter),
        _ => Some(json!({})),
    }
}
