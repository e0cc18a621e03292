//! The Cedar engine's `find` filters on PostgreSQL: the translated filter DSL runs as SQL, and
//! still lists exactly what the authorizer allows, page by page.

#[path = "../../fluvius-postgres/tests/support/mod.rs"]
mod pg;
mod support;

#[tokio::test]
async fn find_lists_exactly_what_the_authorizer_allows_on_postgres() {
    let backend = pg::fresh_backend().await;
    support::find_agrees_with_the_authorizer(support::builder().shared_backend(backend)).await;
}
