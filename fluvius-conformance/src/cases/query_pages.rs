//! Sorting and pagination (decision D8): nulls sort above every value (last ascending, first
//! descending), ties break by id ascending, `page = offset / limit + 1`,
//! `pages = ceil(total / limit)`, limits are capped.

use std::sync::Arc;

use fluvius_core::filter::{DEFAULT_LIMIT, MAX_LIMIT};
use fluvius_core::{Backend, Domain, Query};
use serde_json::json;

use super::fixtures::{customers, seed_customers};
use crate::domain::{self, Customer};
use crate::support::ids;

async fn sorted(domain: &Domain, sort: &[&str]) -> Vec<String> {
    let query = Query::new().sort(sort.iter().copied());
    let found = domain
        .statemgr()
        .find::<Customer>("customer", &query)
        .await
        .unwrap_or_else(|err| panic!("sort {sort:?} failed: {err}"));
    ids(&found)
}

/// Ascending and descending sorts, nulls and absent values above every value, multi-key sorts
/// and ties broken by id.
pub async fn sort_orders(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_customers(&domain).await;
    let no_email = [2, 5, 8, 11, 14, 17, 20];
    let emails = [1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 18, 19];
    let asc: Vec<u32> = emails.iter().chain(&no_email).copied().collect();
    let desc: Vec<u32> = no_email
        .iter()
        .chain(emails.iter().rev())
        .copied()
        .collect();
    let cases: Vec<(Vec<&str>, Vec<u32>)> = vec![
        (vec![], (1..=20).collect()),
        (vec!["name"], (1..=20).collect()),
        (vec!["name.asc"], (1..=20).collect()),
        (vec!["name.desc"], (1..=20).rev().collect()),
        (vec!["email.asc"], asc),
        (vec!["email.desc"], desc),
        (
            vec!["tier"],
            vec![
                3, 5, 8, 11, 14, 17, 20, 1, 4, 7, 10, 13, 16, 19, 2, 6, 9, 12, 15, 18,
            ],
        ),
        (
            vec!["tier.desc", "name.desc"],
            vec![
                18, 15, 12, 9, 6, 2, 19, 16, 13, 10, 7, 4, 1, 20, 17, 14, 11, 8, 5, 3,
            ],
        ),
        (
            vec!["address.city"],
            vec![
                2, 7, 11, 15, 19, 4, 9, 13, 17, 1, 5, 8, 12, 16, 20, 3, 6, 10, 14, 18,
            ],
        ),
        (
            vec!["address.city.desc"],
            vec![
                3, 6, 10, 14, 18, 1, 5, 8, 12, 16, 20, 4, 9, 13, 17, 2, 7, 11, 15, 19,
            ],
        ),
        (vec!["id"], (1..=20).collect()),
        (vec!["id.desc"], (1..=20).rev().collect()),
        (
            vec!["tier,id.desc"],
            vec![
                20, 17, 14, 11, 8, 5, 3, 19, 16, 13, 10, 7, 4, 1, 18, 15, 12, 9, 6, 2,
            ],
        ),
        (
            vec!["address.city.desc", "name.desc"],
            vec![
                18, 14, 10, 6, 3, 20, 16, 12, 8, 5, 1, 17, 13, 9, 4, 19, 15, 11, 7, 2,
            ],
        ),
    ];
    for (sort, want) in cases {
        assert_eq!(
            sorted(&domain, &sort).await,
            customers(&want),
            "sort {sort:?}"
        );
    }
}

/// Pages over a sorted, filtered result: items, total, page and pages; past the end is an empty
/// page; no limit is the default one; a huge one is capped.
pub async fn pagination(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_customers(&domain).await;
    let reads = domain.statemgr();
    // (limit, offset, ids, page, pages), sorted by name over all 20 customers.
    let windows: [(i64, i64, Vec<u32>, u64, u64); 6] = [
        (6, 0, vec![1, 2, 3, 4, 5, 6], 1, 4),
        (6, 6, vec![7, 8, 9, 10, 11, 12], 2, 4),
        (6, 18, vec![19, 20], 4, 4),
        (6, 7, vec![8, 9, 10, 11, 12, 13], 2, 4),
        (6, 24, vec![], 5, 4),
        (20, 0, (1..=20).collect(), 1, 1),
    ];
    for (limit, offset, want, page, pages) in windows {
        let query = Query::new().sort(["name"]).limit(limit).offset(offset);
        let found = reads
            .find::<Customer>("customer", &query)
            .await
            .unwrap_or_else(|err| panic!("limit {limit} offset {offset}: {err}"));
        let at = format!("limit {limit} offset {offset}");
        assert_eq!(ids(&found), customers(&want), "{at}: items");
        let info = found.page;
        assert_eq!(
            (info.total, info.limit, info.offset, info.page, info.pages),
            (20, limit, offset, page, pages),
            "{at}: (total, limit, offset, page, pages)"
        );
    }

    let gold = Query::new()
        .filter(json!({"tier": "gold"}))
        .limit(3)
        .offset(3);
    let found = reads
        .find::<Customer>("customer", &gold)
        .await
        .expect("gold page");
    assert_eq!(
        ids(&found),
        customers(&[10, 13, 16]),
        "filtered page in id order"
    );
    assert_eq!(
        (found.page.total, found.page.page, found.page.pages),
        (7, 2, 3)
    );

    let none = Query::new().filter(json!({"tier": "platinum"}));
    let found = reads
        .find::<Customer>("customer", &none)
        .await
        .expect("empty result");
    assert_eq!(
        (
            found.items.len(),
            found.page.total,
            found.page.page,
            found.page.pages
        ),
        (0, 0, 1, 0)
    );

    let default = reads
        .find::<Customer>("customer", &Query::new())
        .await
        .expect("default page");
    assert_eq!(
        (default.items.len(), default.page.limit),
        (20, DEFAULT_LIMIT)
    );
    let huge = Query::new().limit(MAX_LIMIT * 10);
    let capped = reads
        .find::<Customer>("customer", &huge)
        .await
        .expect("capped page");
    assert_eq!((capped.items.len(), capped.page.limit), (20, MAX_LIMIT));
}

/// `page` instead of `offset`: page `p` of `limit` rows starts at `(p - 1) * limit`; page 0, a
/// page with an offset, a non-positive limit and a negative offset are refused.
pub async fn page_numbers(backend: Arc<dyn Backend>) {
    let domain = domain::domain(backend);
    seed_customers(&domain).await;
    let reads = domain.statemgr();
    // (limit, page, ids, offset, pages), sorted by name over all 20 customers.
    let windows: [(i64, i64, Vec<u32>, i64, u64); 4] = [
        (6, 1, vec![1, 2, 3, 4, 5, 6], 0, 4),
        (6, 2, vec![7, 8, 9, 10, 11, 12], 6, 4),
        (6, 4, vec![19, 20], 18, 4),
        (6, 9, vec![], 48, 4),
    ];
    for (limit, page, want, offset, pages) in windows {
        let query = Query::new().sort(["name"]).limit(limit).page(page);
        let found = reads
            .find::<Customer>("customer", &query)
            .await
            .unwrap_or_else(|err| panic!("limit {limit} page {page}: {err}"));
        let at = format!("limit {limit} page {page}");
        assert_eq!(ids(&found), customers(&want), "{at}: items");
        let info = found.page;
        assert_eq!(
            (info.total, info.offset, info.page, info.pages),
            (20, offset, page as u64, pages),
            "{at}: (total, offset, page, pages)"
        );
    }
    let refused = [
        (Query::new().page(0), "`page` must be 1 or more, got 0"),
        (
            Query::new().page(2).offset(5),
            "give `page` or `offset`, not both (got page 2 and offset 5)",
        ),
        (
            Query::new().limit(0).page(1),
            "`limit` must be greater than 0, got 0",
        ),
        (
            Query::new().offset(-1),
            "`offset` must not be negative, got -1",
        ),
    ];
    for (query, message) in refused {
        let err = reads
            .find::<Customer>("customer", &query)
            .await
            .expect_err("a refused page");
        assert!(
            matches!(err, fluvius_core::Error::InvalidQuery(_)),
            "{query:?}: {err:?}"
        );
        assert_eq!(err.to_string(), format!("invalid query: {message}"));
    }
}
