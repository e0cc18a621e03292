//! Tests of page window validation and of the page arithmetic.

use crate::filter::{DEFAULT_LIMIT, FilterError, MAX_LIMIT, Page, PageInfo};

#[test]
fn defaults_apply_when_nothing_is_requested() {
    assert_eq!(
        Page::new(None, None),
        Ok(Page {
            limit: DEFAULT_LIMIT,
            offset: 0
        })
    );
    assert_eq!(
        Page::default(),
        Page {
            limit: 50,
            offset: 0
        }
    );
}

#[test]
fn limits_above_the_maximum_are_capped() {
    assert_eq!(
        Page::new(Some(5000), Some(10)),
        Ok(Page {
            limit: MAX_LIMIT,
            offset: 10
        })
    );
    assert_eq!(Page::new(Some(1000), None).map(|p| p.limit), Ok(1000));
    assert_eq!(Page::new(Some(1), None).map(|p| p.limit), Ok(1));
}

#[test]
fn non_positive_limits_and_negative_offsets_are_errors() {
    assert_eq!(
        Page::new(Some(0), None),
        Err(FilterError::InvalidLimit { limit: 0 })
    );
    let message = |r: Result<Page, FilterError>| r.unwrap_err().to_string();
    assert_eq!(
        message(Page::new(Some(0), None)),
        "`limit` must be greater than 0, got 0"
    );
    assert_eq!(
        message(Page::new(Some(-3), None)),
        "`limit` must be greater than 0, got -3"
    );
    assert_eq!(
        message(Page::new(None, Some(-1))),
        "`offset` must not be negative, got -1"
    );
}

#[test]
fn page_number_and_page_count_follow_offset_and_total() {
    let page = Page::new(Some(10), Some(25)).unwrap();
    let info = PageInfo::new(101, &page);
    assert_eq!(
        info,
        PageInfo {
            total: 101,
            limit: 10,
            offset: 25,
            page: 3,
            pages: 11
        }
    );
    assert_eq!(PageInfo::new(100, &page).pages, 10);
    assert_eq!(PageInfo::new(0, &page).pages, 0);
    assert_eq!(PageInfo::new(1, &Page::default()).page, 1);
    assert_eq!(PageInfo::new(1, &Page::default()).pages, 1);
    assert_eq!(
        PageInfo::new(
            u64::MAX,
            &Page {
                limit: 1,
                offset: i64::MAX
            }
        )
        .page,
        1 << 63
    );
}

#[test]
fn hand_built_pages_cannot_break_the_arithmetic() {
    let info = PageInfo::new(
        10,
        &Page {
            limit: 0,
            offset: -5,
        },
    );
    assert_eq!((info.page, info.pages), (1, 10));
}

#[test]
fn windows_convert_to_iterator_counts() {
    let page = Page::new(Some(2), Some(1)).unwrap();
    let rows: Vec<i32> = (0..5).skip(page.skip()).take(page.take()).collect();
    assert_eq!(rows, [1, 2]);
    let info = PageInfo::new(5, &page).to_json();
    assert_eq!(info["pages"], 3);
    assert_eq!(info["page"], 1);
}

#[test]
fn a_page_number_stands_for_an_offset() {
    let page = |limit, number| Page::request(limit, None, Some(number));
    assert_eq!(
        page(Some(10), 1),
        Ok(Page {
            limit: 10,
            offset: 0
        })
    );
    assert_eq!(
        page(Some(10), 3),
        Ok(Page {
            limit: 10,
            offset: 20
        })
    );
    // The capped limit, not the requested one, sizes the pages.
    assert_eq!(
        page(Some(5000), 2),
        Ok(Page {
            limit: MAX_LIMIT,
            offset: MAX_LIMIT
        })
    );
    assert_eq!(
        page(None, 2),
        Ok(Page {
            limit: DEFAULT_LIMIT,
            offset: DEFAULT_LIMIT
        })
    );
    let info = PageInfo::new(25, &page(Some(10), 3).unwrap());
    assert_eq!((info.page, info.pages), (3, 3));
}

#[test]
fn page_zero_both_page_and_offset_and_huge_pages_are_errors() {
    let message = |r: Result<Page, FilterError>| r.unwrap_err().to_string();
    assert_eq!(
        Page::request(None, None, Some(0)),
        Err(FilterError::InvalidPage { page: 0 })
    );
    assert_eq!(
        message(Page::request(None, None, Some(-2))),
        "`page` must be 1 or more, got -2"
    );
    assert_eq!(
        message(Page::request(Some(10), Some(0), Some(1))),
        "give `page` or `offset`, not both (got page 1 and offset 0)"
    );
    assert_eq!(
        message(Page::request(Some(1000), None, Some(i64::MAX))),
        format!(
            "`page` {} with `limit` 1000 is past any possible result",
            i64::MAX
        )
    );
    assert_eq!(
        message(Page::request(Some(0), None, Some(1))),
        "`limit` must be greater than 0, got 0"
    );
}
