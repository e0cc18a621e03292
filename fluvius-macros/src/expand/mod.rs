//! Code generation: payload types, the dispatch, the resource descriptors, and fallbacks on error.

mod dispatch;
mod payload;
mod resources;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::model::{Action, Aggregate, Resource, is_action_attr, is_retired_attr};
use crate::{attr, check};

pub(crate) fn aggregate(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item: syn::ItemImpl = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let err = syn::Error::new(
                Span::call_site(),
                "`#[aggregate]` goes on an impl block: `#[aggregate(resources(account = Account))] impl Banking { .. }`",
            )
            .into_compile_error();
            return quote!(#err #input);
        }
    };
    let cx = Ctxt::default();
    let args = attr::aggregate_args(&cx, args);
    check::impl_block(&cx, &item);
    let mut model = Aggregate::from_impl(&cx, args, &item);
    check::aggregate(&cx, &model);
    share_type_tokens(&mut model);
    strip_action_attrs(&mut item);
    match cx.check() {
        Ok(()) => {
            let generated = generate(&model);
            quote!(#item #generated)
        }
        Err(err) => {
            let err = err.into_compile_error();
            let fallback = fallback(&model);
            quote!(#item #fallback #err)
        }
    }
}

pub(crate) fn stray_action(_args: TokenStream, input: TokenStream) -> TokenStream {
    let err = syn::Error::new(
        Span::call_site(),
        "`#[action]` must be used on a method inside an `#[aggregate]` impl",
    )
    .into_compile_error();
    quote!(#err #input)
}

pub(crate) fn stray_retired(_args: TokenStream, input: TokenStream) -> TokenStream {
    let err = syn::Error::new(
        Span::call_site(),
        "`#[retired]` must be used on a function inside an `#[aggregate]` impl",
    )
    .into_compile_error();
    quote!(#err #input)
}

fn strip_action_attrs(item: &mut syn::ItemImpl) {
    for impl_item in &mut item.items {
        if let syn::ImplItem::Fn(method) = impl_item {
            method
                .attrs
                .retain(|a| !is_action_attr(a) && !is_retired_attr(a));
        }
    }
}

fn generate(agg: &Aggregate) -> TokenStream {
    let krate = &agg.krate;
    let self_ty = &agg.self_ty;
    let name = &agg.name;
    let payloads = agg.actions.iter().map(|a| payload::payload_type(agg, a));
    let resources = resources::descriptors(agg);
    let actions = agg
        .actions
        .iter()
        .map(|a| payload::action_descriptor(agg, a));
    let dispatch = dispatch::handle(agg);
    let transitions = transitions(agg);
    let state_version = agg.state_version;
    let assertions = assertions(agg, agg.resources.iter(), agg.actions.iter());
    let payload_names = agg.actions.iter().map(|a| payload::name_assertion(agg, a));
    quote! {
        #(#payloads)*

        #transitions

        impl #krate::__private::Aggregate for #self_ty {
            fn descriptor() -> #krate::__private::AggregateDescriptor {
                #assertions
                #(#payload_names)*
                #resources
                #krate::__private::AggregateDescriptor::new(
                    #name,
                    __fluvius_resources,
                    ::std::vec![#(#actions),*],
                )
                .with_state_version(#state_version)
            }

            #dispatch
        }
    }
}

/// Makes every mention of one state or event type, written alike, carry the first mention's
/// tokens: with the same spans everywhere, a missing derive is reported once per type.
fn share_type_tokens(agg: &mut Aggregate) {
    let mut states: Vec<syn::Type> = Vec::new();
    for resource in &mut agg.resources {
        share(&mut states, &mut resource.state);
    }
    let mut events: Vec<syn::Type> = Vec::new();
    for action in &mut agg.actions {
        share(&mut events, &mut action.event.ty);
    }
}

fn share(seen: &mut Vec<syn::Type>, ty: &mut syn::Type) {
    let text = |ty: &syn::Type| ty.to_token_stream().to_string();
    match seen.iter().find(|first| text(first) == text(ty)) {
        Some(first) => *ty = first.clone(),
        None => seen.push(ty.clone()),
    }
}

/// Asserts, first in a generated body, that each state and event type has the derives it needs.
///
/// Each assertion names the type with the user's own tokens, as every later use in the body
/// does: rustc then reports a missing derive once, by name, and drops the errors the later uses
/// would repeat (same span, implied predicate), and identical errors from other bodies.
pub(crate) fn assertions<'a>(
    agg: &Aggregate,
    resources: impl IntoIterator<Item = &'a Resource>,
    actions: impl IntoIterator<Item = &'a Action>,
) -> TokenStream {
    let krate = &agg.krate;
    let mut seen_states = std::collections::HashSet::new();
    let mut seen_events = std::collections::HashSet::new();
    let states: Vec<_> = resources
        .into_iter()
        .map(|resource| &resource.state)
        .filter(|state| seen_states.insert(state.to_token_stream().to_string()))
        .map(|state| quote_spanned!(state.span()=> #krate::__private::assert_state::<#state>();))
        .collect();
    let events: Vec<_> = actions
        .into_iter()
        .map(|action| &action.event.ty)
        .filter(|event| seen_events.insert(event.to_token_stream().to_string()))
        .map(|event| quote_spanned!(event.span()=> #krate::__private::assert_event::<#event>();))
        .collect();
    quote!(#(#states)* #(#events)*)
}

/// The name of the helper that applies action `index`'s event to `resource`'s state.
pub(crate) fn transition_name(index: usize, resource: &str) -> syn::Ident {
    quote::format_ident!("__fluvius_transition_{}_{}", index, resource)
}

/// One helper per (action, resource) calling `Apply::apply`: the single place the transition
/// bound is required, spanned at the action's event type so a missing transition is reported
/// once, at the action.
fn transitions(agg: &Aggregate) -> TokenStream {
    let krate = &agg.krate;
    let self_ty = &agg.self_ty;
    let mut helpers = Vec::new();
    for (index, action) in agg.actions.iter().enumerate() {
        let event = &action.event.ty;
        let span = syn::spanned::Spanned::span(event);
        for name in &action.resources {
            let Some(resource) = agg.resource(&name.value()) else {
                continue;
            };
            let state = respan(resource.state.to_token_stream(), span);
            let helper = transition_name(index, &name.value());
            let call =
                quote::quote_spanned!(span=> <#state as #krate::__private::Apply<#event>>::apply);
            helpers.push(quote! {
                #[doc(hidden)]
                #[allow(non_snake_case)]
                fn #helper(state: &mut #state, event: &#event) {
                    #call(state, event)
                }
            });
        }
    }
    quote! {
        impl #self_ty {
            #(#helpers)*
        }
    }
}

/// The same tokens, every one of them at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|tree| match tree {
            proc_macro2::TokenTree::Group(group) => {
                let mut out =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                out.set_span(span);
                proc_macro2::TokenTree::Group(out)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// What is emitted when the aggregate has errors: enough for the rest of the crate to type-check,
/// so only the real errors show.
fn fallback(agg: &Aggregate) -> TokenStream {
    let krate = &agg.krate;
    let self_ty = &agg.self_ty;
    let name = &agg.name;
    quote! {
        impl #krate::__private::Aggregate for #self_ty {
            fn descriptor() -> #krate::__private::AggregateDescriptor {
                #krate::__private::AggregateDescriptor::new(#name, ::std::vec::Vec::new(), ::std::vec::Vec::new())
            }

            fn handle<'__a>(
                &'__a self,
                call: #krate::__private::ActionCall<'__a>,
            ) -> #krate::__private::BoxFuture<'__a, ::std::result::Result<#krate::__private::ActionOutcome, #krate::__private::Error>> {
                ::std::boxed::Box::pin(async move {
                    ::std::result::Result::Err(#krate::__private::unknown_action(#name, call.action))
                })
            }
        }
    }
}

/// The path of a re-exported crate as a string, for `#[serde(crate = "...")]`.
fn crate_string(krate: &syn::Path, name: &str) -> String {
    let base = quote!(#krate).to_string().replace(' ', "");
    format!("{base}::__private::{name}")
}
