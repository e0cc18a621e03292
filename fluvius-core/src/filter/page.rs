//! Pagination of query results: a checked `limit`/`offset` window and the page arithmetic.

use serde_json::{Value, json};

use super::error::FilterError;

/// Largest page size; larger requests are capped to it.
pub const MAX_LIMIT: i64 = 1000;
/// Page size used when none is requested.
pub const DEFAULT_LIMIT: i64 = 50;

/// A window over the ordered results: skip `offset` rows, return at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// How many rows at most, between 1 and [`MAX_LIMIT`].
    pub limit: i64,
    /// How many rows to skip, never negative.
    pub offset: i64,
}

impl Page {
    /// Checks a requested window. `None` means [`DEFAULT_LIMIT`] and offset 0.
    ///
    /// A limit of zero or less and a negative offset are errors; a limit above
    /// [`MAX_LIMIT`] is capped to it.
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Result<Page, FilterError> {
        Page::request(limit, offset, None)
    }

    /// Checks a requested window given by an offset or by a 1-based page number
    /// (`offset = (page - 1) * limit`, with the limit after capping). `None` everywhere
    /// means [`DEFAULT_LIMIT`] and the first page.
    ///
    /// A limit of zero or less, a negative offset, page 0 (or less), and an offset together
    /// with a page are errors, and so is a page whose offset does not fit an `i64`; a limit
    /// above [`MAX_LIMIT`] is capped to it.
    pub fn request(
        limit: Option<i64>,
        offset: Option<i64>,
        page: Option<i64>,
    ) -> Result<Page, FilterError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit <= 0 {
            return Err(FilterError::InvalidLimit { limit });
        }
        let limit = limit.min(MAX_LIMIT);
        let offset = match (offset, page) {
            (Some(offset), Some(page)) => {
                return Err(FilterError::PageAndOffset { page, offset });
            }
            (Some(offset), None) => offset,
            (None, Some(page)) if page < 1 => return Err(FilterError::InvalidPage { page }),
            (None, Some(page)) => (page - 1)
                .checked_mul(limit)
                .ok_or(FilterError::PageTooLarge { page, limit })?,
            (None, None) => 0,
        };
        if offset < 0 {
            return Err(FilterError::InvalidOffset { offset });
        }
        Ok(Page { limit, offset })
    }

    /// How many results to skip, as a count for iterator adapters.
    pub fn skip(&self) -> usize {
        usize::try_from(self.offset).unwrap_or(usize::MAX)
    }

    /// How many results to keep at most, as a count for iterator adapters.
    pub fn take(&self) -> usize {
        usize::try_from(self.limit).unwrap_or(0)
    }
}

impl Default for Page {
    fn default() -> Page {
        Page {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// What a paginated answer reports about the whole result set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PageInfo {
    /// How many rows match, over all pages.
    pub total: u64,
    /// The page size used.
    pub limit: i64,
    /// The offset used.
    pub offset: i64,
    /// The 1-based number of the page that starts at `offset`.
    pub page: u64,
    /// How many pages of `limit` rows hold `total` rows (0 when there is none).
    pub pages: u64,
}

impl PageInfo {
    /// Computes `page = offset / limit + 1` and `pages = ceil(total / limit)`.
    pub fn new(total: u64, page: &Page) -> PageInfo {
        // A `Page` from `Page::new` has limit >= 1 and offset >= 0; a
        // hand-built one is clamped so the arithmetic cannot fail.
        let limit = u64::try_from(page.limit).unwrap_or(0).max(1);
        let offset = u64::try_from(page.offset).unwrap_or(0);
        PageInfo {
            total,
            limit: page.limit,
            offset: page.offset,
            page: offset / limit + 1,
            pages: total.div_ceil(limit),
        }
    }

    /// The report as a JSON object with the field names above.
    pub fn to_json(&self) -> Value {
        json!({
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "page": self.page,
            "pages": self.pages,
        })
    }
}
