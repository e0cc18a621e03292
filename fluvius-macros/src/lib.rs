//! The `#[aggregate]` and `#[action]` attribute macros of Fluvius.
//!
//! Use them through the `fluvius` facade crate, whose documentation describes what they accept
//! and generate. The pipeline is: attribute parsing (`attr`), a model in domain words (`model`),
//! cross-item checks (`check`), then code generation (`expand`). Every user mistake becomes a
//! spanned compile error, all of them reported at once.

mod attr;
mod check;
mod ctxt;
mod expand;
mod model;

use proc_macro::TokenStream;

/// Turns an inherent impl block into an aggregate: its `#[action]` methods become commands.
///
/// Each action's payload type is declared in a module of its own and re-exported into the impl's
/// module, so its field types are read from that module: a type local to a function body cannot
/// be a payload field. A type of the same name already in scope is an error at the action; name
/// the payload otherwise with `#[action(.., payload = OtherName)]`.
#[proc_macro_attribute]
pub fn aggregate(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::aggregate(args.into(), item.into()).into()
}

/// Marks a method of an `#[aggregate]` impl as an action. On its own it is an error.
#[proc_macro_attribute]
pub fn action(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_action(args.into(), item.into()).into()
}

/// Marks a function of an `#[aggregate]` impl as the reader of a retired event key: one no
/// action emits any more, whose stored events must stay readable. On its own it is an error.
#[proc_macro_attribute]
pub fn retired(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray_retired(args.into(), item.into()).into()
}
