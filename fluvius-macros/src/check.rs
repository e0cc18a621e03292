//! Checks that need the whole aggregate: signatures, resources, keys and events across actions.

use std::collections::HashMap;

use quote::{ToTokens, quote};
use syn::{FnArg, Ident, ImplItem, ItemImpl, Type};

use crate::ctxt::Ctxt;
use crate::model::{Aggregate, Param, is_action_attr, type_key};

/// Checks the impl block and each action method's signature.
pub(crate) fn impl_block(cx: &Ctxt, item: &ItemImpl) {
    if let Some((path, _)) = &item.trait_ {
        cx.error_spanned_by(
            path,
            "`#[aggregate]` goes on an inherent impl block (`impl Banking { .. }`), not a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(&item.generics, "an `#[aggregate]` impl cannot be generic");
    }
    let mut actions = 0;
    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        if !method.attrs.iter().any(is_action_attr) {
            continue;
        }
        actions += 1;
        let sig = &method.sig;
        if sig.asyncness.is_none() {
            cx.error_spanned_by(
                sig.fn_token,
                format!("action `{}` must be an `async fn`", sig.ident),
            );
        }
        if !sig.generics.params.is_empty() {
            cx.error_spanned_by(
                &sig.generics,
                format!("action `{}` cannot be generic", sig.ident),
            );
        }
        match sig.inputs.first() {
            Some(FnArg::Receiver(receiver))
                if matches!(receiver.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
            Some(FnArg::Receiver(receiver)) => cx.error_spanned_by(
                receiver,
                format!("action `{}` must take `&self`", sig.ident),
            ),
            _ => cx.error_spanned_by(
                &sig.ident,
                format!(
                    "action `{}` must be a method taking `&self` first",
                    sig.ident
                ),
            ),
        }
    }
    if actions == 0 {
        cx.error_spanned_by(
            &item.self_ty,
            "this `#[aggregate]` impl has no `#[action]` method: mark at least one with `#[action(evt_key = \"...\", resources = [\"...\"])]`",
        );
    }
}

/// Checks resources, parameters, command keys and event keys across the aggregate.
pub(crate) fn aggregate(cx: &Ctxt, agg: &Aggregate) {
    let declared: Vec<String> = agg
        .resources
        .iter()
        .map(|r| format!("`{}`", r.name.value()))
        .collect();
    let mut keys: HashMap<&str, &syn::Ident> = HashMap::new();
    let mut payloads: HashMap<String, &syn::Ident> = HashMap::new();
    let mut events: HashMap<String, (String, u32, bool, &syn::Ident)> = HashMap::new();
    for action in &agg.actions {
        let method = &action.method;
        if action.resources.is_empty() {
            cx.syn_error(syn::Error::new(
                action.resources_span,
                format!("action `{method}` names no resource: write `resources = [\"...\"]`"),
            ));
        }
        known_resources(cx, agg, &action.resources, &declared);
        let evt_key = action.evt_key.value();
        if evt_key.is_empty() || evt_key.chars().any(char::is_whitespace) {
            cx.error_spanned_by(
                &action.evt_key,
                "`evt_key` must be a non-empty name without spaces, like `\"deposit-made\"`",
            );
        }
        if action.key.is_empty() || action.key.chars().any(char::is_whitespace) {
            cx.syn_error(syn::Error::new(
                action.key_span,
                "a command key must be a non-empty name without spaces, like `\"make-deposit\"`",
            ));
        }
        parameters(cx, agg, action);
        if let Some(previous) = keys.insert(&action.key, method) {
            cx.syn_error(syn::Error::new(
                action.key_span,
                format!(
                    "duplicate command key `{}`: action `{previous}` already uses it; rename one with `key = \"...\"`",
                    action.key
                ),
            ));
        }
        if let Some(previous) = payloads.insert(action.payload.to_string(), method) {
            cx.error_spanned_by(
                &action.payload,
                format!(
                    "payload type `{}` is also generated for action `{previous}`: name one with `payload = OtherName`",
                    action.payload
                ),
            );
        }
        let event = type_key(&action.event.ty);
        match events.get(&evt_key) {
            Some((_, _, deletes, previous)) if *deletes != action.deletes => {
                cx.error_spanned_by(
                    &action.evt_key,
                    format!(
                        "`evt_key = \"{evt_key}\"` is emitted by action `{previous}` {} `delete`: actions sharing an event key agree on whether it deletes the root",
                        if *deletes { "with" } else { "without" }
                    ),
                );
            }
            Some((ty, version, _, previous))
                if *ty != event || *version != action.schema_version =>
            {
                cx.error_spanned_by(
                    &action.evt_key,
                    format!(
                        "`evt_key = \"{evt_key}\"` is emitted by action `{previous}` as `{ty}` v{version}; one event key has one payload type and schema version"
                    ),
                );
            }
            Some(_) => {}
            None => {
                events.insert(
                    evt_key,
                    (event, action.schema_version, action.deletes, method),
                );
            }
        }
    }
    upcasts(cx, agg);
    retired(cx, agg, &declared);
}

fn parameters(cx: &Ctxt, agg: &Aggregate, action: &crate::model::Action) {
    let method = &action.method;
    let mut states = 0;
    let mut contexts = 0;
    let mut outboxes = 0;
    for param in &action.params {
        match param {
            Param::Outbox { ty } => {
                outboxes += 1;
                if outboxes == 2 {
                    cx.error_spanned_by(ty, format!("action `{method}` takes `&Outbox` twice"));
                }
            }
            Param::Context { ty } => {
                contexts += 1;
                if contexts == 2 {
                    cx.error_spanned_by(ty, format!("action `{method}` takes `&Context` twice"));
                }
            }
            Param::State { ty, name, written } if agg.args_parsed => {
                let known = agg
                    .resources
                    .iter()
                    .any(|r| type_key(&r.state) == type_key(ty));
                if !known {
                    borrowed_field(cx, agg, ty, name.as_ref(), written);
                    continue;
                }
                states += 1;
                if states == 2 {
                    cx.error_spanned_by(ty, format!("action `{method}` takes its state twice"));
                }
                if action.creates {
                    cx.error_spanned_by(
                        ty,
                        format!(
                            "creation action `{method}` runs before the root exists: remove the state parameter"
                        ),
                    );
                }
                for name in &action.resources {
                    if let Some(resource) = agg.resource(&name.value())
                        && type_key(&resource.state) != type_key(ty)
                    {
                        let state = &resource.state;
                        cx.error_spanned_by(
                            ty,
                            format!(
                                "action `{method}` may apply to `{}`, whose state is `{}`, not the parameter's type",
                                name.value(),
                                quote::quote!(#state)
                            ),
                        );
                    }
                }
            }
            Param::State { .. } | Param::Field { .. } => {}
        }
    }
}

/// A borrowed parameter that is neither a resource's state nor the context: it would be a
/// payload field, and payload fields are owned, decoded from the command.
fn borrowed_field(cx: &Ctxt, agg: &Aggregate, ty: &Type, name: Option<&Ident>, written: &Type) {
    let owned = match ty {
        Type::Path(path) if path.qself.is_none() && path.path.is_ident("str") => quote!(String),
        Type::Slice(slice) => {
            let elem = &slice.elem;
            quote!(Vec<#elem>)
        }
        other => quote!(#other),
    };
    let owned = owned.to_string().replace(' ', "");
    let written_text = written.to_token_stream().to_string().replace(' ', "");
    let (param, owned) = match name {
        Some(name) => (
            format!("{name}: {written_text}"),
            format!("{name}: {owned}"),
        ),
        None => (written_text, owned),
    };
    let states: Vec<String> = agg
        .resources
        .iter()
        .map(|r| {
            format!(
                "`&{}`",
                r.state.to_token_stream().to_string().replace(' ', "")
            )
        })
        .collect();
    cx.error_spanned_by(
        written,
        format!(
            "`{param}` would be a payload field, and payload fields are owned: write `{owned}`; only the state ({}), `&Context` and `&Outbox` are taken by reference",
            states.join(", ")
        ),
    );
}

/// Each event key at schema version N has exactly one chain of steps reading v1 .. v(N-1),
/// declared on one of the actions emitting it.
fn upcasts(cx: &Ctxt, agg: &Aggregate) {
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    for action in &agg.actions {
        let evt_key = action.evt_key.value();
        let emitters: Vec<_> = agg
            .actions
            .iter()
            .filter(|a| a.evt_key.value() == evt_key)
            .collect();
        if let Some((span, _)) = &action.upcast {
            if let Some(first) = seen.get(&evt_key) {
                cx.syn_error(syn::Error::new(
                    *span,
                    format!(
                        "the upcast steps of `evt_key = \"{evt_key}\"` are declared on action `{first}` already: declare them once"
                    ),
                ));
                continue;
            }
            seen.insert(evt_key.clone(), &action.method);
        } else if emitters.iter().any(|a| a.upcast.is_some()) || !std::ptr::eq(emitters[0], action)
        {
            continue;
        }
        if !action.args_parsed {
            continue;
        }
        let current = action.schema_version;
        let steps = action
            .upcast
            .as_ref()
            .map(|(_, s)| s.as_slice())
            .unwrap_or(&[]);
        let mut read = std::collections::BTreeSet::new();
        for (from, lit, _) in steps {
            if *from >= current {
                cx.error_spanned_by(
                    lit,
                    format!(
                        "no step reads v{from}: `{evt_key}` is at schema version {current}, which is read as is, so its steps read {}",
                        if current <= 2 {
                            "v1 only".to_owned()
                        } else {
                            format!("v1 to v{}", current - 1)
                        }
                    ),
                );
            } else if !read.insert(*from) {
                cx.error_spanned_by(lit, format!("duplicate upcast step from v{from}"));
            }
        }
        let missing: Vec<String> = (1..current)
            .filter(|v| !read.contains(v))
            .map(|v| format!("v{v}"))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let message = if steps.is_empty() {
            format!(
                "event `{evt_key}` is at schema version {current}, so its stored events may be older: add `upcast(1 = v1_to_v2, ..)` to `#[action]`, one step per older version ({} to read)",
                missing.join(", ")
            )
        } else {
            format!(
                "event `{evt_key}` is at schema version {current} but no upcast step reads {}: add `{} = path` to its `upcast(..)`",
                missing.join(", "),
                missing[0].trim_start_matches('v')
            )
        };
        cx.error_spanned_by(&action.event.ty, message);
    }
}

/// A retired key is one no action emits, declared once, for resources the aggregate has.
fn retired(cx: &Ctxt, agg: &Aggregate, declared: &[String]) {
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    for retired in &agg.retired {
        let evt_key = retired.evt_key.value();
        if evt_key.is_empty() || evt_key.chars().any(char::is_whitespace) {
            cx.error_spanned_by(
                &retired.evt_key,
                "`evt_key` must be a non-empty name without spaces, like `\"interest-credited\"`",
            );
        }
        if let Some(action) = agg.actions.iter().find(|a| a.evt_key.value() == evt_key) {
            cx.error_spanned_by(
                &retired.evt_key,
                format!(
                    "`{evt_key}` is emitted by action `{}`: a retired key is one no action emits any more (an older shape of a current key is read with `upcast(..)` on the action)",
                    action.method
                ),
            );
        }
        if let Some(first) = seen.insert(evt_key.clone(), &retired.method) {
            cx.error_spanned_by(
                &retired.evt_key,
                format!("`{evt_key}` is already read by `#[retired]` function `{first}`"),
            );
        }
        known_resources(cx, agg, &retired.resources, declared);
    }
}

/// Each named resource is one the aggregate declares.
fn known_resources(cx: &Ctxt, agg: &Aggregate, named: &[syn::LitStr], declared: &[String]) {
    for resource in named {
        if agg.args_parsed && agg.resource(&resource.value()).is_none() {
            cx.error_spanned_by(
                resource,
                format!(
                    "unknown resource `{}`: this aggregate declares {}",
                    resource.value(),
                    declared.join(", ")
                ),
            );
        }
    }
}
