//! Generated resource descriptors: default state, decoding, and the one event decoder per resource.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::Aggregate;

/// Defines `__fluvius_resources`, a `Vec<ResourceDescriptor>`, inside `descriptor()`.
pub(super) fn descriptors(agg: &Aggregate) -> TokenStream {
    let krate = &agg.krate;
    let mut items = Vec::new();
    let mut entries = Vec::new();
    for resource in &agg.resources {
        let name = &resource.name;
        let state = &resource.state;
        let apply = format_ident!("__fluvius_apply_{}", name.value());
        let mut seen = BTreeSet::new();
        let mut arms = Vec::new();
        let mut handled = Vec::new();
        let mut emitters = Vec::new();
        for (index, action) in agg.actions.iter().enumerate() {
            if !action.resources.iter().any(|r| r.value() == name.value()) {
                continue;
            }
            let evt_key = &action.evt_key;
            if !seen.insert(evt_key.value()) {
                continue;
            }
            emitters.push(action);
            let event = &action.event.ty;
            let version = action.schema_version;
            let deletes = action.deletes;
            let self_ty = &agg.self_ty;
            let helper = super::transition_name(index, &name.value());
            let transition = quote!(<#self_ty>::#helper);
            arms.push(quote! {
                #evt_key => {
                    let __event = #krate::__private::decode_event::<#event>(evt_key, #version, payload)?;
                    #transition(__state, &__event);
                    ::std::result::Result::Ok(#deletes)
                }
            });
            let steps = chain_steps(agg, &evt_key.value());
            handled.push(quote! {
                #krate::__private::EventVersions::new(#evt_key, #version, ::std::vec![#(#steps),*])
            });
        }
        let assertions = super::assertions(agg, [resource], emitters);
        items.push(quote! {
            #[allow(non_snake_case)]
            fn #apply(
                state: &mut dyn #krate::__private::AnyState,
                evt_key: &str,
                payload: &#krate::__private::serde_json::Value,
            ) -> ::std::result::Result<bool, #krate::__private::Error> {
                #assertions
                let __state = #krate::__private::state_mut::<#state>(state, #name)?;
                match evt_key {
                    #(#arms)*
                    other => ::std::result::Result::Err(#krate::__private::unknown_event(#name, other)),
                }
            }
        });
        let retired = agg
            .retired
            .iter()
            .filter(|r| {
                r.resources.is_empty() || r.resources.iter().any(|n| n.value() == name.value())
            })
            .map(|r| retired_reader(agg, r));
        entries.push(quote! {
            #krate::__private::ResourceDescriptor::new(
                #name,
                ::std::any::type_name::<#state>(),
                #krate::__private::type_id_of::<#state>,
                #krate::__private::schema_of::<#state>,
                #krate::__private::default_state::<#state>,
                #krate::__private::decode_state::<#state>,
                #apply,
                ::std::vec![#(#handled),*],
                ::std::vec![#(#retired),*],
            )
        });
    }
    quote! {
        #(#items)*
        let __fluvius_resources = ::std::vec![#(#entries),*];
    }
}

/// The upcast steps of an event key, oldest first, each as a plain function pointer: the ones
/// declared with `upcast(..)` on whichever action emitting the key declares them (the checks
/// make sure there is one full chain).
fn chain_steps(agg: &Aggregate, evt_key: &str) -> Vec<TokenStream> {
    let krate = &agg.krate;
    let Some((_, steps)) = agg
        .actions
        .iter()
        .filter(|a| a.evt_key.value() == evt_key)
        .find_map(|a| a.upcast.as_ref())
    else {
        return Vec::new();
    };
    let mut steps: Vec<_> = steps.iter().collect();
    steps.sort_by_key(|(from, _, _)| *from);
    steps
        .into_iter()
        .map(|(_, _, path)| {
            let call = quote_spanned!(path.span()=> #krate::__private::upcast_step(#path(__payload)));
            quote! {
                (|__payload: #krate::__private::serde_json::Value| -> ::std::result::Result<#krate::__private::serde_json::Value, ::std::string::String> {
                    #call
                }) as #krate::__private::UpcastStep
            }
        })
        .collect()
}

/// A `#[retired]` function as the function pointer the descriptor keeps.
fn retired_reader(agg: &Aggregate, retired: &crate::model::Retired) -> TokenStream {
    let krate = &agg.krate;
    let self_ty = &agg.self_ty;
    let method = &retired.method;
    let evt_key = &retired.evt_key;
    let call = if retired.takes_version {
        quote_spanned!(method.span()=> <#self_ty>::#method(__payload, __version))
    } else {
        quote_spanned!(method.span()=> <#self_ty>::#method(__payload))
    };
    quote! {
        #krate::__private::RetiredEvent::new(
            #evt_key,
            (|__version: u32, __payload: #krate::__private::serde_json::Value| -> ::std::result::Result<::std::vec::Vec<#krate::__private::Upcasted>, ::std::string::String> {
                let _ = __version;
                #krate::__private::retired_events(#call)
            }) as #krate::__private::RetiredRead,
        )
    }
}
