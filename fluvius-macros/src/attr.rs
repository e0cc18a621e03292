//! Parsing the arguments of `#[aggregate(...)]` and `#[action(...)]`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::{Ident, LitInt, LitStr, Path, Type};

use crate::ctxt::Ctxt;

mod kw {
    pub(crate) const RESOURCES: &str = "resources";
    pub(crate) const CRATE: &str = "crate";
    pub(crate) const STATE_VERSION: &str = "state_version";
    pub(crate) const EVT_KEY: &str = "evt_key";
    pub(crate) const KEY: &str = "key";
    pub(crate) const NEW: &str = "new";
    pub(crate) const DELETE: &str = "delete";
    pub(crate) const SCHEMA_VERSION: &str = "schema_version";
    pub(crate) const PAYLOAD: &str = "payload";
    pub(crate) const UPCAST: &str = "upcast";
}

/// `#[aggregate(resources(name = Type, ...), crate = path)]`.
pub(crate) struct AggregateArgs {
    pub(crate) resources: Vec<(LitStr, Type)>,
    pub(crate) krate: Option<Path>,
    pub(crate) state_version: u32,
    /// False when the arguments did not parse: checks that need them stay quiet.
    pub(crate) parsed: bool,
}

pub(crate) fn aggregate_args(cx: &Ctxt, args: TokenStream) -> AggregateArgs {
    let mut resources: Option<Vec<(LitStr, Type)>> = None;
    let mut krate = None;
    let mut state_version = 1;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(kw::RESOURCES) {
            if resources.is_some() {
                return Err(meta.error("duplicate `resources(..)` argument"));
            }
            let content;
            syn::parenthesized!(content in meta.input);
            if content.is_empty() {
                return Err(meta.error(
                    "`#[aggregate]` needs at least one resource: `#[aggregate(resources(account = Account))]`",
                ));
            }
            let mut list: Vec<(LitStr, Type)> = Vec::new();
            while !content.is_empty() {
                let ident: Ident = content.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "a resource is named by an identifier: write `resources(account = Account)`",
                    )
                })?;
                if content.peek(syn::Token![::]) {
                    return Err(syn::Error::new(
                        ident.span(),
                        "a resource is named by an identifier: write `resources(account = Account)`",
                    ));
                }
                content.parse::<syn::Token![=]>().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        format!(
                            "resource `{ident}` needs its state type: write `{ident} = StateType`"
                        ),
                    )
                })?;
                let ty: Type = content.parse()?;
                let name = LitStr::new(&ident.to_string(), ident.span());
                if list.iter().any(|(n, _)| n.value() == name.value()) {
                    return Err(syn::Error::new(
                        ident.span(),
                        format!("duplicate resource `{ident}`"),
                    ));
                }
                list.push((name, ty));
                if content.is_empty() {
                    break;
                }
                content.parse::<syn::Token![,]>()?;
            }
            resources = Some(list);
            Ok(())
        } else if meta.path.is_ident(kw::CRATE) {
            krate = Some(meta.value()?.parse::<Path>()?);
            Ok(())
        } else if meta.path.is_ident(kw::STATE_VERSION) {
            let lit: LitInt = meta.value()?.parse()?;
            match lit.base10_parse::<u32>() {
                Ok(v) if v >= 1 => {
                    state_version = v;
                    Ok(())
                }
                _ => Err(syn::Error::new(
                    lit.span(),
                    "`state_version` must be an integer of at least 1",
                )),
            }
        } else {
            Err(meta.error(
                "unknown `#[aggregate]` argument: expected `resources(name = StateType, ..)`, `state_version = N` or `crate = path`",
            ))
        }
    });
    let mut parsed = match parser.parse2(args) {
        Ok(()) => true,
        Err(err) => {
            cx.syn_error(err);
            false
        }
    };
    let resources = match resources {
        Some(list) => list,
        None if !parsed => Vec::new(),
        None => {
            cx.syn_error(syn::Error::new(
                Span::call_site(),
                "`#[aggregate]` needs its resources: `#[aggregate(resources(account = Account))]`",
            ));
            parsed = false;
            Vec::new()
        }
    };
    AggregateArgs {
        resources,
        krate,
        state_version,
        parsed,
    }
}

/// `#[action(evt_key = "...", resources = [...], key = "...", new, delete, schema_version = N, payload = Name)]`.
pub(crate) struct ActionArgs {
    pub(crate) evt_key: Option<LitStr>,
    pub(crate) resources: Option<(Span, Vec<LitStr>)>,
    pub(crate) key: Option<LitStr>,
    pub(crate) new: Option<Span>,
    pub(crate) delete: Option<Span>,
    pub(crate) schema_version: Option<LitInt>,
    pub(crate) payload: Option<Ident>,
    /// `upcast(1 = path, 2 = path)`: the step from each older schema version to the next.
    pub(crate) upcast: Option<(Span, Vec<UpcastStep>)>,
    /// False when the arguments did not parse: "missing argument" errors stay quiet.
    pub(crate) parsed: bool,
}

/// One `from = path` entry of `upcast(..)`: the function taking an event's JSON at schema
/// version `from` to version `from + 1`.
pub(crate) struct UpcastStep {
    pub(crate) from: LitInt,
    pub(crate) path: Path,
}

pub(crate) fn action_args(cx: &Ctxt, attr: &syn::Attribute) -> ActionArgs {
    let mut args = ActionArgs {
        evt_key: None,
        resources: None,
        key: None,
        new: None,
        delete: None,
        schema_version: None,
        payload: None,
        upcast: None,
        parsed: true,
    };
    if let syn::Meta::Path(_) = attr.meta {
        cx.error_spanned_by(
            attr,
            "`#[action]` needs its event and resources: `#[action(evt_key = \"deposit-made\", resources = [\"account\"])]`",
        );
        args.parsed = false;
        return args;
    }
    let result = attr.parse_nested_meta(|meta| {
        let flag = |name: &str| {
            if meta.input.peek(syn::Token![=]) {
                Err(meta.error(format!("`{name}` is a flag: write `{name}` without a value")))
            } else {
                Ok(meta.path.span())
            }
        };
        if meta.path.is_ident(kw::EVT_KEY) {
            set_once(&meta, &mut args.evt_key, kw::EVT_KEY, || meta.value()?.parse())?;
        } else if meta.path.is_ident(kw::RESOURCES) {
            set_once(&meta, &mut args.resources, kw::RESOURCES, || resource_list(&meta))?;
        } else if meta.path.is_ident(kw::KEY) {
            set_once(&meta, &mut args.key, kw::KEY, || meta.value()?.parse())?;
        } else if meta.path.is_ident(kw::NEW) {
            set_once(&meta, &mut args.new, kw::NEW, || flag(kw::NEW))?;
        } else if meta.path.is_ident(kw::DELETE) {
            set_once(&meta, &mut args.delete, kw::DELETE, || flag(kw::DELETE))?;
        } else if meta.path.is_ident(kw::SCHEMA_VERSION) {
            let version = || meta.value()?.parse();
            set_once(&meta, &mut args.schema_version, kw::SCHEMA_VERSION, version)?;
        } else if meta.path.is_ident(kw::PAYLOAD) {
            set_once(&meta, &mut args.payload, kw::PAYLOAD, || meta.value()?.parse())?;
        } else if meta.path.is_ident(kw::UPCAST) {
            let steps = || Ok((meta.path.span(), upcast_steps(meta.input)?));
            set_once(&meta, &mut args.upcast, kw::UPCAST, steps)?;
        } else {
            return Err(meta.error(
                "unknown `#[action]` argument: expected `evt_key`, `resources`, `key`, `new`, `delete`, `schema_version`, `upcast` or `payload`",
            ));
        }
        Ok(())
    });
    if let Err(err) = result {
        cx.syn_error(err);
        args.parsed = false;
    }
    args
}

/// Fills an argument's slot once; a second occurrence is an error naming the argument.
fn set_once<T>(
    meta: &syn::meta::ParseNestedMeta<'_>,
    slot: &mut Option<T>,
    name: &str,
    value: impl FnOnce() -> syn::Result<T>,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format!("duplicate `{name}` argument")));
    }
    *slot = Some(value()?);
    Ok(())
}

/// `= ["account", ..]` after `resources`, with the span of the list.
fn resource_list(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<(Span, Vec<LitStr>)> {
    let value = meta.value()?;
    let span = value.span();
    let content;
    syn::bracketed!(content in value);
    let list = content.parse_terminated(|input| input.parse::<LitStr>(), syn::Token![,])?;
    Ok((span, list.into_iter().collect()))
}

/// `(1 = path, 2 = path)` after `upcast`.
fn upcast_steps(input: syn::parse::ParseStream<'_>) -> syn::Result<Vec<UpcastStep>> {
    const FORM: &str = "write the steps as `upcast(1 = v1_to_v2, 2 = v2_to_v3)`: the version each step reads, then the function";
    if !input.peek(syn::token::Paren) {
        return Err(input.error(FORM));
    }
    let content;
    syn::parenthesized!(content in input);
    let mut steps = Vec::new();
    while !content.is_empty() {
        let from: LitInt = content
            .parse()
            .map_err(|e| syn::Error::new(e.span(), FORM))?;
        content
            .parse::<syn::Token![=]>()
            .map_err(|e| syn::Error::new(e.span(), FORM))?;
        let path: Path = content
            .parse()
            .map_err(|e| syn::Error::new(e.span(), FORM))?;
        steps.push(UpcastStep { from, path });
        if content.is_empty() {
            break;
        }
        content.parse::<syn::Token![,]>()?;
    }
    Ok(steps)
}

/// `#[retired(evt_key = "...", resources = [...])]` on a function of an `#[aggregate]` impl.
pub(crate) struct RetiredArgs {
    pub(crate) evt_key: Option<LitStr>,
    pub(crate) resources: Option<(Span, Vec<LitStr>)>,
    pub(crate) parsed: bool,
}

pub(crate) fn retired_args(cx: &Ctxt, attr: &syn::Attribute) -> RetiredArgs {
    let mut args = RetiredArgs {
        evt_key: None,
        resources: None,
        parsed: true,
    };
    if let syn::Meta::Path(_) = attr.meta {
        cx.error_spanned_by(
            attr,
            "`#[retired]` needs the event key it reads: `#[retired(evt_key = \"interest-credited\")]`",
        );
        args.parsed = false;
        return args;
    }
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident(kw::EVT_KEY) {
            set_once(&meta, &mut args.evt_key, kw::EVT_KEY, || {
                meta.value()?.parse()
            })?;
        } else if meta.path.is_ident(kw::RESOURCES) {
            set_once(&meta, &mut args.resources, kw::RESOURCES, || {
                resource_list(&meta)
            })?;
        } else {
            return Err(
                meta.error("unknown `#[retired]` argument: expected `evt_key` or `resources`")
            );
        }
        Ok(())
    });
    if let Err(err) = result {
        cx.syn_error(err);
        args.parsed = false;
    }
    args
}

trait PathSpan {
    fn span(&self) -> Span;
}

impl PathSpan for Path {
    fn span(&self) -> Span {
        syn::spanned::Spanned::span(self)
    }
}
