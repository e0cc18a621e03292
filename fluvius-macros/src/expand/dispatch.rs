//! The generated `Aggregate::handle`: one arm per action, where typed and JSON payloads meet.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{Action, Aggregate, Arity, Param, type_key};

pub(super) fn handle(agg: &Aggregate) -> TokenStream {
    let krate = &agg.krate;
    let name = &agg.name;
    let arms = agg
        .actions
        .iter()
        .enumerate()
        .map(|(index, action)| arm(agg, index, action));
    let assertions = super::assertions(agg, &agg.resources, &agg.actions);
    quote! {
        fn handle<'__a>(
            &'__a self,
            call: #krate::__private::ActionCall<'__a>,
        ) -> #krate::__private::BoxFuture<'__a, ::std::result::Result<#krate::__private::ActionOutcome, #krate::__private::Error>> {
            #assertions
            ::std::boxed::Box::pin(async move {
                match call.action {
                    #(#arms)*
                    other => ::std::result::Result::Err(#krate::__private::unknown_action(#name, other)),
                }
            })
        }
    }
}

fn arm(agg: &Aggregate, index: usize, action: &Action) -> TokenStream {
    let krate = &agg.krate;
    let method = &action.method;
    let payload = super::payload::path(agg, action);
    let key = &action.key;
    let evt_key = &action.evt_key;
    let version = action.schema_version;
    let event = &action.event.ty;
    let mut prelude = Vec::new();
    let args = action.params.iter().map(|param| match param {
        Param::Field { name, .. } => quote!(__payload.#name),
        Param::Context { .. } => quote!(call.context),
        Param::Outbox { .. } => quote!(call.outbox),
        Param::State { ty, .. } => {
            // The resource's own tokens for the type, so a missing derive is reported once.
            let ty = action
                .resources
                .iter()
                .filter_map(|name| agg.resource(&name.value()))
                .map(|resource| &resource.state)
                .find(|state| type_key(state) == type_key(ty))
                .unwrap_or(ty);
            prelude.push(quote! {
                let __state = #krate::__private::state_ref::<#ty>(call.state, &call.root.resource)?;
            });
            quote!(__state)
        }
    });
    let args: Vec<_> = args.collect();
    let events = match action.event.arity {
        Arity::One => quote!(::std::vec![__value]),
        Arity::Optional => quote!(__value.into_iter().collect::<::std::vec::Vec<_>>()),
        Arity::Many => quote!(__value),
    };
    let self_ty = &agg.self_ty;
    let outcomes = action.resources.iter().filter_map(|name| {
        let resource = agg.resource(&name.value())?;
        let state = &resource.state;
        let transition = super::transition_name(index, &name.value());
        Some(quote! {
            #name => #krate::__private::outcome::<#state, #event>(
                call.state, #name, #evt_key, #version, __events, <#self_ty>::#transition,
            ),
        })
    });
    let convert = match &action.event.error {
        Some(error) => quote_spanned!(error.span()=> #krate::__private::action_error(__err)),
        None => quote!(#krate::__private::action_error(__err)),
    };
    quote! {
        #index => {
            #[allow(unused_mut, unused_variables)]
            let mut __payload = call.payload.decode::<#payload>(#key)?;
            #(#prelude)*
            let __events = match Self::#method(self, #(#args),*).await {
                ::std::result::Result::Ok(__value) => #events,
                ::std::result::Result::Err(__err) => {
                    return ::std::result::Result::Err(#convert);
                }
            };
            match call.root.resource.as_str() {
                #(#outcomes)*
                other => ::std::result::Result::Err(#krate::__private::unhandled_resource(#key, other)),
            }
        }
    }
}
