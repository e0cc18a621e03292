//! The filter DSL of Fluvius: query, sort and paginate state documents by their JSON form.
//!
//! A filter is a JSON object whose keys name fields of the state type and an
//! operator, checked against the state's JSON Schema:
//!
//! ```json
//! { "balance.gte": 100, "owner!has": "test", ".or": [{ "status": "open" }, { "closed_at.null": true }] }
//! ```
//!
//! * `field` or `field.eq`, `ne`, `lt`, `lte`, `gt`, `gte`: compare with a value;
//! * `in` (array of values), `has` (substring ignoring case / array element), `ov` (arrays
//!   sharing an element), `between` (`[lo, hi]`, inclusive, `lo <= hi`), `null` (`true` /
//!   `false`);
//! * `field!op`: the exact complement of `field.op` (it matches null or absent fields);
//!   `field!` is `field!eq`;
//! * `.and` / `.or` / `!and` / `!or`: compose filter objects (a list or a dict); a top-level
//!   list of objects means AND;
//! * `id`: the aggregate identifier.
//!
//! Logic is two-valued: no comparison matches a null or absent field, except `ne`, the exact
//! complement of `eq` (and so the same as `!eq`). `eq null` is `null: true`, `ne null` is
//! `null: false`.
//!
//! The parsed [`Filter`] tree is evaluated in memory with [`Filter::matches`],
//! and carries what a database backend needs to translate it. Sorting uses
//! [`parse_sort`] and [`compare_docs`]; pagination uses [`Page`] and [`PageInfo`].

mod compare;
mod error;
mod fields;
mod op;
mod page;
mod parse;
mod schema;
mod sort;
mod tree;
mod validate;

#[cfg(test)]
mod tests;

pub use error::FilterError;
pub use fields::{FieldIndex, FieldKind};
pub use op::Op;
pub use page::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageInfo};
pub use parse::MAX_DEPTH;
pub use sort::{SortKey, compare_docs, parse_sort};
pub use tree::{Condition, Filter, ID_FIELD, Target};
