//! Generated payload types (one per action) and action descriptors.
//!
//! Each payload type is defined in a hidden module of its own and glob re-exported, so that a
//! user type of the same name shadows it instead of clashing with it: generated code names the
//! payload through its module, and one assertion reports the clash at the action.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};

use crate::model::{Action, Aggregate, Param};

use super::crate_string;

/// The hidden module holding `action`'s payload type.
pub(super) fn module(agg: &Aggregate, action: &Action) -> Ident {
    format_ident!("__fluvius_payload_{}_{}", agg.name, action.payload)
}

/// The path generated code names `action`'s payload type by.
pub(super) fn path(agg: &Aggregate, action: &Action) -> TokenStream {
    let module = module(agg, action);
    let ident = &action.payload;
    quote!(#module::#ident)
}

pub(super) fn payload_type(agg: &Aggregate, action: &Action) -> TokenStream {
    let krate = from_child_module(agg.krate.to_token_stream());
    let krate_path: syn::Path = syn::parse2(krate.clone()).unwrap_or_else(|_| agg.krate.clone());
    let module = module(agg, action);
    let ident = &action.payload;
    let key = &action.key;
    let serde_crate = crate_string(&krate_path, "serde");
    let schemars_crate = crate_string(&krate_path, "schemars");
    let doc = format!(
        "The payload of the `{key}` command (action `{}`).",
        action.method
    );
    let fields = action.params.iter().filter_map(|param| match param {
        Param::Field { name, ty } => {
            let ty = from_child_module(ty.to_token_stream());
            Some(quote!(pub #name: #ty))
        }
        _ => None,
    });
    quote! {
        #[allow(non_snake_case, unused_imports)]
        mod #module {
            use super::*;

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

            #[automatically_derived]
            impl #krate::__private::CommandPayload for #ident {
                const KEY: &'static str = #key;
            }
        }

        pub use #module::*;
    }
}

/// Fails, at the action, when the payload's name resolves to another type in the user's scope.
pub(super) fn name_assertion(agg: &Aggregate, action: &Action) -> TokenStream {
    let krate = &agg.krate;
    let ident = &action.payload;
    let generated = path(agg, action);
    quote_spanned! {ident.span()=>
        #krate::__private::assert_payload_name::<#ident, #generated>();
    }
}

/// A path written in the user's module, as it reads one module down: `self::` becomes `super::`
/// and `super::` becomes `super::super::`.
fn from_child_module(tokens: TokenStream) -> TokenStream {
    let mut out = Vec::new();
    let mut after_colons = false;
    for tree in tokens {
        let next_after_colons = matches!(&tree, TokenTree::Punct(p) if p.as_char() == ':');
        match tree {
            TokenTree::Ident(ident) if !after_colons && ident == "self" => {
                out.push(TokenTree::Ident(Ident::new("super", ident.span())));
            }
            TokenTree::Ident(ident) if !after_colons && ident == "super" => {
                out.extend(quote_spanned!(ident.span()=> super::));
                out.push(TokenTree::Ident(ident));
            }
            TokenTree::Group(group) => {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), from_child_module(group.stream()));
                inner.set_span(group.span());
                out.push(TokenTree::Group(inner));
            }
            other => out.push(other),
        }
        after_colons = next_after_colons;
    }
    out.into_iter().collect()
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
    let payload = path(agg, action);
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
