//! The errors of building, reloading and binding a Cedar engine: each names the policy, action,
//! attribute or domain that was wrong.

/// Why a [`CedarEngine`](crate::CedarEngine) could not be built or reloaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CedarError {
    /// The policy text does not parse.
    #[error("the policies of `{source_name}` do not parse: {message}")]
    Parse {
        /// The name the policies were given (a file name).
        source_name: String,
        /// Cedar's description of the syntax error.
        message: String,
    },
    /// Two policies have the same id (`@id("..")` annotation, or generated).
    #[error("two policies have the id `{0}`: give each a distinct `@id(\"..\")`")]
    DuplicateId(String),
    /// A policy does not fit the schema generated from the domains: it names an unknown
    /// action, entity type or attribute, or compares values of different types.
    #[error("policy `{policy}` does not fit the domains' schema: {message}")]
    Invalid {
        /// The policy's id.
        policy: String,
        /// Cedar's validation error.
        message: String,
    },
    /// A policy that applies to `find` uses a construct that cannot be turned into a filter, so
    /// `find` could not return exactly the visible roots.
    #[error(
        "policy `{policy}` applies to `find` on `{resource}` but {message}; \
         `find` needs conditions on the resource's attributes written with ==, !=, <, <=, >, >=, \
         has, contains, in, &&, || and ! (or scope the policy to `fetch` only)"
    )]
    Untranslatable {
        /// The policy's id.
        policy: String,
        /// The resource kind.
        resource: String,
        /// What could not be translated.
        message: String,
    },
    /// The domains cannot be described as a Cedar schema (a namespace that is not an
    /// identifier, a command key that clashes with a query action).
    #[error("the domains cannot be turned into a Cedar schema: {0}")]
    Schema(String),
}
