//! Many tasks committing to the same streams at once: one winner per version, no gaps.

use std::collections::BTreeMap;

use fluvius_core::{Backend, StoreError, StreamRange};
use serde_json::json;
use tokio::task::JoinSet;

use super::{commit_one, key, log, positions, versions, write};
use crate::MemBackend;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_creator_wins() {
    let backend = MemBackend::new();
    let a = key("", "a");
    let mut tasks = JoinSet::new();
    for _ in 0..16 {
        let (backend, a) = (backend.clone(), a.clone());
        tasks.spawn(async move { commit_one(&backend, write(&a, 0, 1)).await });
    }
    let results = tasks.join_all().await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1);
    for result in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(result, StoreError::Conflict { actual: 1, .. }),
            "{result}"
        );
    }
    assert_eq!(positions(&log(&backend).await), vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_take_turns_without_gaps() {
    const TASKS: u64 = 8;
    const WINS_EACH: u64 = 25;
    let backend = MemBackend::new();
    let streams = [key("", "a"), key("", "b")];
    let mut tasks = JoinSet::new();
    for task in 0..TASKS {
        let backend = backend.clone();
        let k = streams[(task % 2) as usize].clone();
        tasks.spawn(async move {
            let mut won = Vec::new();
            let mut conflicts = 0;
            while (won.len() as u64) < WINS_EACH {
                let head = backend
                    .load_state(&k)
                    .await
                    .unwrap()
                    .map_or(0, |s| s.version);
                let mut attempt = write(&k, head, 1);
                std::sync::Arc::make_mut(&mut attempt.events)[0].payload = json!({ "task": task });
                match commit_one(&backend, attempt).await {
                    Ok(_) => won.push(head + 1),
                    Err(StoreError::Conflict { .. }) => conflicts += 1,
                    Err(other) => panic!("unexpected error: {other}"),
                }
                tokio::task::yield_now().await;
            }
            (task, k, won, conflicts)
        });
    }
    let mut winners = BTreeMap::new();
    for (task, k, won, _conflicts) in tasks.join_all().await {
        for version in won {
            let previous = winners.insert((k.id.clone(), version), task);
            assert!(previous.is_none(), "two winners for {} v{version}", k.id);
        }
    }
    let per_stream = TASKS / 2 * WINS_EACH;
    let all = log(&backend).await;
    assert_eq!(positions(&all), (1..=TASKS * WINS_EACH).collect::<Vec<_>>());
    for k in &streams {
        let events = backend.read_stream(k, StreamRange::all()).await.unwrap();
        assert_eq!(versions(&events), (1..=per_stream).collect::<Vec<_>>());
        for event in &events {
            let winner = winners[&(k.id.clone(), event.version)];
            assert_eq!(event.payload, json!({ "task": winner }));
        }
        let row = backend.load_state(k).await.unwrap().unwrap();
        assert_eq!(row.version, per_stream);
    }
}
