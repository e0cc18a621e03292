//! Generated payload types (one per action) and action descriptors.

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::{Action, Aggregate, Param};

use super::crate_string;

pub(super) fn payload_type(agg: &Aggregate, action: &Action) -> TokenStream {
    let krate = &agg.krate;
    let ident = &action.payload;
    let key = &action.key;
    let serde_crate = crate_string(krate, "serde");
    let schemars_crate = crate_string(krate, "schemars");
    let doc = format!(
        "The payload of the `{key}` command (action `{}`).",
        action.method
    );
    let fields = action.params.iter().filter_map(|param| match param {
        Param::Field { name, ty } => Some(quote!(pub #name: #ty)),
        _ => None,
    });
    quote! {
        #[doc = #doc]
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            #krate::__private::serde::Serialize,
            #krate::__private::serde::Deserialize,
            #krate::__private::schemars::JsonSchema,
        )]
        #[serde(crate = #serde_crate, deny_unknown_fields)]
        #[schemars(crate = #schemars_crate)]
        #[allow(missing_docs)]
        pub struct #ident {
            #(#fields,)*
        }

        impl #krate::__private::CommandPayload for #ident {
            const KEY: &'static str = #key;
        }
    }
}

pub(super) fn action_descriptor(agg: &Aggregate, action: &Action) -> TokenStream {
    let krate = &agg.krate;
    let key = &action.key;
    let method = action.method.to_string();
    let evt_key = &action.evt_key;
    let version = action.schema_version;
    let resources = &action.resources;
    let creates = action.creates;
    let deletes = action.deletes;
    let doc = &action.doc;
    let payload = &action.payload;
    let event = &action.event.ty;
    quote! {
        #krate::__private::ActionDescriptor::new(
            #key,
            #method,
            #evt_key,
            #version,
            &[#(#resources),*],
            #creates,
            #deletes,
            #doc,
            #krate::__private::schema_of::<#payload>,
            #krate::__private::schema_of::<#event>,
        )
    }
}
