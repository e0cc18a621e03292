//! Generated resource descriptors: default state, decoding, and the one event decoder per resource.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

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
                    let __event = #krate::__private::decode_event::<#event>(evt_key, schema_version, #version, payload)?;
                    #transition(__state, &__event);
                    ::std::result::Result::Ok(#deletes)
                }
            });
            handled.push(quote!((#evt_key, #version)));
        }
        let assertions = super::assertions(agg, [resource], emitters);
        items.push(quote! {
            #[allow(non_snake_case)]
            fn #apply(
                state: &mut dyn #krate::__private::AnyState,
                evt_key: &str,
                schema_version: u32,
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
        entries.push(quote! {
            #krate::__private::ResourceDescriptor::new(
                #name,
                ::std::any::type_name::<#state>(),
                #krate::__private::type_id_of::<#state>,
                #krate::__private::schema_of::<#state>,
                #krate::__private::default_state::<#state>,
                #krate::__private::decode_state::<#state>,
                #apply,
                &[#(#handled),*],
            )
        });
    }
    quote! {
        #(#items)*
        let __fluvius_resources = ::std::vec![#(#entries),*];
    }
}
