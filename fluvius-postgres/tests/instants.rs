//! `fluvius.instant`, the SQL function date-time filters and sorts compare with, reads
//! RFC 3339 exactly as chrono (and so the in-memory evaluator) does: the same strings parse, and
//! equal and ordered instants compare equal and ordered, leap seconds and offsets included.

mod support;

use std::cmp::Ordering;

use support::TestDb;

/// `fluvius.instant` reads RFC 3339 exactly as chrono does: the same strings parse, and equal
/// and ordered instants compare equal and ordered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instants_read_as_chrono_reads_them() {
    let db = TestDb::create().await;
    let pool = db.pool(1).await;
    sqlx::query("SELECT 1").execute(&pool).await.expect("ping");
    fluvius_postgres::migrate(&pool).await.expect("migrate");
    let mut texts: Vec<String> = Vec::new();
    for date in [
        "2024-01-01",
        "2000-02-29",
        "1900-02-29",
        "2023-02-29",
        "2024-02-30",
        "0000-01-01",
        "9999-12-31",
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "1970-01-01",
        "0000-02-29",
    ] {
        for time in [
            "00:00:00", "23:59:59", "23:59:60", "24:00:00", "12:60:00", "12:00:61",
        ] {
            for frac in ["", ".5", ".000000001", ".1234567891", ".999999999", "."] {
                for offset in [
                    "Z",
                    "z",
                    "+00:00",
                    "-00:00",
                    "+01:00",
                    "-23:59",
                    "+24:00",
                    "+01:60",
                    "\u{2212}02:30",
                    "",
                    "+0100",
                ] {
                    for sep in ["T", "t", " "] {
                        texts.push(format!("{date}{sep}{time}{frac}{offset}"));
                    }
                }
            }
        }
    }
    texts.extend(
        [
            "",
            "2024-01-01",
            "2024-01-01T00:00Z",
            " 2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z ",
            "２０２４-01-01T00:00:00Z",
            "2024-01-01T00:00:00.Z",
        ]
        .map(String::from),
    );
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT s, CASE WHEN fluvius.instant(s) IS NOT NULL \
                        THEN dense_rank() OVER (ORDER BY fluvius.instant(s)) END \
         FROM unnest($1::text[]) AS s",
    )
    .bind(&texts)
    .fetch_all(&pool)
    .await
    .expect("rank instants");
    let parsed: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> = rows
        .iter()
        .map(|(s, _)| {
            (
                s.clone(),
                chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.to_utc()),
            )
        })
        .collect();
    for ((s, rank), (_, instant)) in rows.iter().zip(&parsed) {
        assert_eq!(
            rank.is_some(),
            instant.is_some(),
            "{s:?}: sql and chrono disagree on parsing"
        );
    }
    let valid: Vec<(i64, chrono::DateTime<chrono::Utc>, &str)> = rows
        .iter()
        .zip(&parsed)
        .filter_map(|((s, rank), (_, t))| Some(((*rank)?, (*t)?, s.as_str())))
        .collect();
    assert!(valid.len() > 1000, "only {} valid instants", valid.len());
    for a in &valid {
        for b in &valid {
            let sql: Ordering = a.0.cmp(&b.0);
            assert_eq!(sql, a.1.cmp(&b.1), "{} vs {}", a.2, b.2);
        }
    }
}
