//! Latency collection and the one JSON line the benchmark prints.

use std::time::Duration;

use serde::Serialize;

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub system: &'static str,
    pub backend: &'static str,
    pub workload: &'static str,
    pub commands: u64,
    pub secs: f64,
    pub cmds_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub conflict_retries: u64,
    pub rss_mb: f64,
    /// `http` when the commands went over HTTP; absent for in-process runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<&'static str>,
    /// Whether the domain wrote an audit record per command (`--audit`); absent when not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub audit: bool,
    /// Whether the backend ran behind row-level security (`--tenant-wall`); absent when not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tenant_wall: bool,
    /// Whether commits were announced by `NOTIFY` to a listener (`--notify`); absent when not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub notify: bool,
    #[serde(skip)]
    pub failures: Vec<String>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
    }
}

/// Per-command latencies in microseconds.
#[derive(Debug, Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn with_capacity(n: usize) -> Self {
        Latencies(Vec::with_capacity(n))
    }

    pub fn record(&mut self, elapsed: Duration) {
        self.0
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (0..=1), nearest rank.
    pub fn quantile(&mut self, q: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.sort_unstable();
        let rank = ((self.0.len() as f64) * q).ceil() as usize;
        u64::from(self.0[rank.clamp(1, self.0.len()) - 1])
    }
}

/// The process's peak resident set size in MiB (Linux), 0 where unknown.
pub fn peak_rss_mb() -> f64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0.0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| (kb / 1024.0 * 10.0).round() / 10.0)
}
