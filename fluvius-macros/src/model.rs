//! The aggregate in domain words, keeping the syn nodes for spans.

use heck::{ToKebabCase, ToUpperCamelCase};
use proc_macro2::Span;
use syn::{FnArg, Ident, ImplItemFn, LitStr, Pat, Path, Type};

use crate::attr::{self, ActionArgs};
use crate::ctxt::Ctxt;

/// An `#[aggregate]` impl.
pub(crate) struct Aggregate {
    pub(crate) self_ty: Type,
    pub(crate) name: String,
    pub(crate) krate: Path,
    pub(crate) state_version: u32,
    pub(crate) resources: Vec<Resource>,
    pub(crate) actions: Vec<Action>,
    /// The `#[retired]` functions: readers of event keys no action emits any more.
    pub(crate) retired: Vec<Retired>,
    /// False when `#[aggregate(...)]` did not parse: resource checks stay quiet.
    pub(crate) args_parsed: bool,
}

/// A resource kind and its state type.
pub(crate) struct Resource {
    pub(crate) name: LitStr,
    pub(crate) state: Type,
}

/// An `#[action]` method.
pub(crate) struct Action {
    pub(crate) method: Ident,
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) evt_key: LitStr,
    pub(crate) resources: Vec<LitStr>,
    pub(crate) resources_span: Span,
    pub(crate) creates: bool,
    pub(crate) deletes: bool,
    pub(crate) schema_version: u32,
    pub(crate) payload: Ident,
    pub(crate) params: Vec<Param>,
    pub(crate) event: EventType,
    pub(crate) doc: String,
    /// The declared upcast steps, by the version each reads, and where `upcast` was written.
    pub(crate) upcast: Option<(Span, Vec<Step>)>,
    /// False when `#[action(...)]` did not parse: checks that need every argument stay quiet.
    pub(crate) args_parsed: bool,
}

/// One declared upcast step: the version it reads, as a number and as written, and its function.
pub(crate) type Step = (u32, syn::LitInt, Path);

/// A `#[retired]` function: how stored events of a key no action emits any more are read.
pub(crate) struct Retired {
    pub(crate) method: Ident,
    pub(crate) evt_key: LitStr,
    /// The resources whose folds read it; empty means every resource of the aggregate.
    pub(crate) resources: Vec<LitStr>,
    /// Whether the function takes the stored schema version after the payload.
    pub(crate) takes_version: bool,
}

/// What an action's return type says about its events.
pub(crate) struct EventType {
    pub(crate) ty: Type,
    pub(crate) arity: Arity,
    /// The `Err` type of the action's `Result`.
    pub(crate) error: Option<Type>,
}

/// How many events an action returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arity {
    One,
    Optional,
    Many,
}

/// One parameter of an action.
pub(crate) enum Param {
    /// `&State`: injected. Until checked against the resources, any other borrowed type too,
    /// hence the parameter's name and written type, for the message that it cannot be a field.
    State {
        ty: Type,
        name: Option<Ident>,
        written: Box<Type>,
    },
    /// `&Context`: injected.
    Context { ty: Type },
    /// `&Outbox`: injected; where the action's messages go.
    Outbox { ty: Type },
    /// A by-value parameter: a payload field.
    Field { name: Ident, ty: Type },
}

/// `#[action]`, `#[fluvius::action]` or any path ending in `action`.
pub(crate) fn is_action_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "action")
}

/// `#[retired]`, `#[fluvius::retired]` or any path ending in `retired`.
pub(crate) fn is_retired_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "retired")
}

impl Aggregate {
    pub(crate) fn from_impl(
        cx: &Ctxt,
        args: attr::AggregateArgs,
        item: &syn::ItemImpl,
    ) -> Aggregate {
        let name = type_name(&item.self_ty);
        let args_parsed = args.parsed;
        let state_version = args.state_version;
        let krate = args.krate.unwrap_or_else(|| syn::parse_quote!(::fluvius));
        let resources = args
            .resources
            .into_iter()
            .map(|(name, state)| Resource { name, state })
            .collect();
        let mut actions = Vec::new();
        let mut retired = Vec::new();
        for impl_item in &item.items {
            let syn::ImplItem::Fn(method) = impl_item else {
                continue;
            };
            let retired_attrs: Vec<_> =
                method.attrs.iter().filter(|a| is_retired_attr(a)).collect();
            if let Some(first) = retired_attrs.first() {
                for extra in &retired_attrs[1..] {
                    cx.error_spanned_by(extra, "duplicate `#[retired]` attribute");
                }
                if let Some(action) = method.attrs.iter().find(|a| is_action_attr(a)) {
                    cx.error_spanned_by(
                        action,
                        "a function is either an `#[action]` or `#[retired]`: a retired event key is one no action emits any more",
                    );
                    continue;
                }
                let args = attr::retired_args(cx, first);
                if let Some(r) = Retired::from_method(cx, args, method, first) {
                    retired.push(r);
                }
                continue;
            }
            let attrs: Vec<_> = method.attrs.iter().filter(|a| is_action_attr(a)).collect();
            let Some(first) = attrs.first() else {
                continue;
            };
            for extra in &attrs[1..] {
                cx.error_spanned_by(extra, "duplicate `#[action]` attribute");
            }
            let args = attr::action_args(cx, first);
            if let Some(action) = Action::from_method(cx, args, method, first) {
                actions.push(action);
            }
        }
        Aggregate {
            self_ty: (*item.self_ty).clone(),
            name,
            krate,
            state_version,
            resources,
            actions,
            retired,
            args_parsed,
        }
    }

    pub(crate) fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name.value() == name)
    }
}

impl Action {
    fn from_method(
        cx: &Ctxt,
        args: ActionArgs,
        method: &ImplItemFn,
        attr: &syn::Attribute,
    ) -> Option<Action> {
        let sig = &method.sig;
        let evt_key = required(
            cx,
            args.evt_key,
            args.parsed,
            attr,
            "`#[action]` needs `evt_key = \"...\"`, the wire name of the event it emits",
        )?;
        let (resources_span, resources) = required(
            cx,
            args.resources,
            args.parsed,
            attr,
            "`#[action]` needs `resources = [\"...\"]`, the resource kinds it applies to",
        )?;
        let (key, key_span) = match &args.key {
            Some(key) => (key.value(), key.span()),
            None => (sig.ident.to_string().to_kebab_case(), sig.ident.span()),
        };
        let schema_version = match &args.schema_version {
            Some(lit) => match lit.base10_parse::<u32>() {
                Ok(v) if v >= 1 => v,
                _ => {
                    cx.error_spanned_by(lit, "`schema_version` must be an integer of at least 1");
                    1
                }
            },
            None => 1,
        };
        let upcast = args.upcast.map(|(span, steps)| {
            let steps = steps
                .into_iter()
                .filter_map(|step| match step.from.base10_parse::<u32>() {
                    Ok(v) if v >= 1 => Some((v, step.from, step.path)),
                    _ => {
                        cx.error_spanned_by(
                            &step.from,
                            "an upcast step is named by the schema version it reads, an integer of at least 1",
                        );
                        None
                    }
                })
                .collect();
            (span, steps)
        });
        let payload = args.payload.clone().unwrap_or_else(|| {
            Ident::new(
                &sig.ident.to_string().to_upper_camel_case(),
                sig.ident.span(),
            )
        });
        let params = sig
            .inputs
            .iter()
            .filter_map(|arg| match arg {
                FnArg::Receiver(_) => None,
                FnArg::Typed(pat_type) => Param::from_arg(cx, pat_type),
            })
            .collect();
        let event = EventType::from_signature(cx, sig)?;
        if let (Some(new), Some(_)) = (args.new, args.delete) {
            cx.syn_error(syn::Error::new(
                new,
                "an action cannot both create (`new`) and delete (`delete`) a root",
            ));
        }
        Some(Action {
            method: sig.ident.clone(),
            key,
            key_span,
            evt_key,
            resources,
            resources_span,
            creates: args.new.is_some(),
            deletes: args.delete.is_some(),
            schema_version,
            payload,
            params,
            event,
            doc: doc_of(&method.attrs),
            upcast,
            args_parsed: args.parsed,
        })
    }
}

/// A required argument: its value, or an error at the attribute (none when the arguments did
/// not parse, which was reported already).
fn required<T>(
    cx: &Ctxt,
    value: Option<T>,
    parsed: bool,
    attr: &syn::Attribute,
    message: &str,
) -> Option<T> {
    if value.is_none() && parsed {
        cx.error_spanned_by(attr, message);
    }
    value
}

impl Retired {
    fn from_method(
        cx: &Ctxt,
        args: attr::RetiredArgs,
        method: &ImplItemFn,
        attr: &syn::Attribute,
    ) -> Option<Retired> {
        let sig = &method.sig;
        let evt_key = required(
            cx,
            args.evt_key,
            args.parsed,
            attr,
            "`#[retired]` needs `evt_key = \"...\"`, the stored event key it reads",
        )?;
        if let Some(receiver) = sig.receiver() {
            cx.error_spanned_by(
                receiver,
                "a `#[retired]` function reads a stored payload and takes no `self`: write `fn name(payload: serde_json::Value) -> ..`",
            );
            return None;
        }
        if let Some(asyncness) = &sig.asyncness {
            cx.error_spanned_by(
                asyncness,
                "a `#[retired]` function runs inside every fold: it cannot be `async`",
            );
            return None;
        }
        let takes_version = match sig.inputs.len() {
            1 => false,
            2 => true,
            _ => {
                cx.error_spanned_by(
                    &sig.ident,
                    "a `#[retired]` function takes the stored payload (`serde_json::Value`), and optionally its schema version (`u32`) after it",
                );
                return None;
            }
        };
        Some(Retired {
            method: sig.ident.clone(),
            evt_key,
            resources: args.resources.map(|(_, list)| list).unwrap_or_default(),
            takes_version,
        })
    }
}

impl Param {
    fn from_arg(cx: &Ctxt, arg: &syn::PatType) -> Option<Param> {
        if let Type::Reference(reference) = &*arg.ty {
            if reference.mutability.is_some() {
                cx.error_spanned_by(
                    &arg.ty,
                    "actions only read state: take `&State`, `&Context` or `&Outbox`, not `&mut`",
                );
                return None;
            }
            let inner = (*reference.elem).clone();
            return Some(if last_segment_is(&inner, "Context") {
                Param::Context { ty: inner }
            } else if last_segment_is(&inner, "Outbox") {
                Param::Outbox { ty: inner }
            } else {
                Param::State {
                    ty: inner,
                    name: match &*arg.pat {
                        Pat::Ident(pat) => Some(pat.ident.clone()),
                        _ => None,
                    },
                    written: arg.ty.clone(),
                }
            });
        }
        let name = match &*arg.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => pat.ident.clone(),
            other => {
                cx.error_spanned_by(
                    other,
                    "action parameters must be plain names, like `amount: i64`",
                );
                return None;
            }
        };
        Some(Param::Field {
            name,
            ty: (*arg.ty).clone(),
        })
    }
}

impl EventType {
    fn from_signature(cx: &Ctxt, sig: &syn::Signature) -> Option<EventType> {
        const EXPECTED: &str = "an action returns `Result<EventData, DomainError>` (or `Result<Option<EventData>, _>`, `Result<Vec<EventData>, _>`)";
        let syn::ReturnType::Type(_, ty) = &sig.output else {
            cx.error_spanned_by(&sig.ident, EXPECTED);
            return None;
        };
        let Some(args) = generic_args_of(ty, "Result") else {
            cx.error_spanned_by(ty, EXPECTED);
            return None;
        };
        let Some(ok) = args.first().cloned() else {
            cx.error_spanned_by(ty, EXPECTED);
            return None;
        };
        let error = args.get(1).cloned();
        if let Type::Tuple(tuple) = &ok
            && tuple.elems.is_empty()
        {
            cx.error_spanned_by(
                ty,
                "an action's `Ok` value is the event data it emits, not `()`: return a struct that derives `Serialize` and `Deserialize`",
            );
            return None;
        }
        for (wrapper, arity) in [("Option", Arity::Optional), ("Vec", Arity::Many)] {
            if let Some(inner) = generic_args_of(&ok, wrapper).and_then(|a| a.first().cloned()) {
                if let Some(nested) = ["Option", "Vec"]
                    .into_iter()
                    .find(|name| generic_args_of(&inner, name).is_some())
                {
                    let event = generic_args_of(&inner, nested)
                        .and_then(|a| a.first().cloned())
                        .unwrap_or_else(|| inner.clone());
                    // An empty `Vec` already says "no event", so any nesting with a `Vec` is one.
                    let flat = if wrapper == "Vec" || nested == "Vec" {
                        "Vec"
                    } else {
                        "Option"
                    };
                    let hint = if flat == "Vec" {
                        " (an empty `Vec` emits no event)"
                    } else {
                        ""
                    };
                    cx.error_spanned_by(
                        &ok,
                        format!(
                            "an action's event data is `E`, `Option<E>` or `Vec<E>` inside `Result<_, DomainError>`, not `{}`: return `Result<{flat}<{}>, _>`{hint}",
                            type_text(&ok),
                            type_text(&event),
                        ),
                    );
                    return None;
                }
                return Some(EventType {
                    ty: inner,
                    arity,
                    error,
                });
            }
        }
        Some(EventType {
            ty: ok,
            arity: Arity::One,
            error,
        })
    }
}

/// The type arguments of `Name<..>` when `ty` is a path ending in `Name`.
fn generic_args_of(ty: &Type, name: &str) -> Option<Vec<Type>> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    Some(
        args.args
            .iter()
            .filter_map(|arg| match arg {
                syn::GenericArgument::Type(ty) => Some(ty.clone()),
                _ => None,
            })
            .collect(),
    )
}

/// A type as written, without the spaces token printing adds.
fn type_text(ty: &Type) -> String {
    quote::quote!(#ty).to_string().replace(' ', "")
}

pub(crate) fn last_segment_is(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// A type's tokens without whitespace, for comparing types written in different places.
pub(crate) fn type_key(ty: &Type) -> String {
    let text = quote::quote!(#ty).to_string().replace(' ', "");
    text.rsplit("::").next().unwrap_or(&text).to_owned()
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        other => quote::quote!(#other).to_string(),
    }
}

fn doc_of(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join("\n").trim().to_owned()
}
