//! The Prometheus registry and typed metric handles.
//!
//! Counters and histograms are updated where things happen; gauges are set
//! at scrape time by [`render`] from a [`Scrape`], values the `/metrics`
//! handler gathered from the actors (this module reads no state). Names
//! follow Prometheus conventions: a `tessera_` prefix, base units in the name,
//! `_total` on counters.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub proposals: IntCounter,
    pub proposal_batches: IntCounter,
    /// Linearizable reads (read-index waits) this node served.
    pub linearizable_reads: IntCounter,
    /// Read-index rounds by role: `leader` (a leadership confirmation with a
    /// quorum), `follower` (a call to the leader); reads / rounds is the
    /// batching factor.
    pub read_index_rounds: IntCounterVec,
    pub commit_seconds: Histogram,
    pub storage_fsync_seconds: Histogram,
    pub snapshots_built: IntCounter,
    pub snapshots_installed: IntCounter,
    pub snapshot_build_seconds: Histogram,
    pub rpc_rejected: IntCounter,
    pub tokens_issued: IntCounterVec,
    pub logins: IntCounterVec,
    pub consents: IntCounterVec,
    pub codes_issued: IntCounter,
    pub codes_redeemed: IntCounterVec,
    pub refreshes: IntCounterVec,
    pub swept: IntCounter,
    pub revocations: IntCounterVec,
    pub introspections: IntCounterVec,
    pub registrations: IntCounter,
    pub logouts: IntCounter,
    /// Back-channel logout deliveries by outcome: delivered, retried,
    /// failed (gave up), dropped (queue full).
    pub backchannel_logouts: IntCounterVec,
    pub leader_changes: IntCounter,
    pub apply_seconds: Histogram,
    raft_apply_lag: IntGauge,
    raft_quorum_ack_age: prometheus::Gauge,
    key_age: IntGaugeVec,
    active_sessions: IntGauge,
    build_info: IntGaugeVec,
    raft_term: IntGauge,
    raft_leader: IntGauge,
    raft_is_leader: IntGauge,
    raft_last_log_index: IntGauge,
    raft_last_applied: IntGauge,
    raft_replication_lag: IntGaugeVec,
    storage_size: IntGauge,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone()))
        .expect("metric registers once");
    c
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let r = Registry::new();
    #[cfg(target_os = "linux")]
    r.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))
    .expect("process collector");
    let buckets = vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ];
    let hist = |name: &str, help: &str| {
        reg(
            &r,
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.clone())).unwrap(),
        )
    };
    let gauge = |name: &str, help: &str| reg(&r, IntGauge::new(name, help).unwrap());
    let counter = |name: &str, help: &str| reg(&r, IntCounter::new(name, help).unwrap());
    let counter_vec = |name: &str, help: &str, labels: &[&str]| {
        reg(
            &r,
            IntCounterVec::new(Opts::new(name, help), labels).unwrap(),
        )
    };
    let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
        reg(&r, IntGaugeVec::new(Opts::new(name, help), labels).unwrap())
    };
    Metrics {
        http_requests: counter_vec(
            "tessera_http_requests_total",
            "HTTP requests by route, method and status",
            &["route", "method", "status"],
        ),
        http_duration: reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "tessera_http_request_duration_seconds",
                    "HTTP request latency",
                )
                .buckets(buckets.clone()),
                &["route", "method", "status"],
            )
            .unwrap(),
        ),
        proposals: counter(
            "tessera_raft_proposals_total",
            "Commands proposed by this node",
        ),
        proposal_batches: counter(
            "tessera_raft_proposal_batches_total",
            "Log entries proposed by this node (each a batch of commands)",
        ),
        linearizable_reads: counter(
            "tessera_raft_linearizable_reads_total",
            "Linearizable reads (read-index waits) served by this node",
        ),
        read_index_rounds: counter_vec(
            "tessera_raft_read_index_rounds_total",
            "Read-index rounds run by this node: leader (leadership confirmed with a quorum) or follower (one call to the leader); each serves every read waiting for it",
            &["role"],
        ),
        commit_seconds: hist(
            "tessera_raft_commit_duration_seconds",
            "Time from proposing a batch to its being applied",
        ),
        storage_fsync_seconds: hist(
            "tessera_storage_fsync_duration_seconds",
            "sled flush + fdatasync time",
        ),
        snapshots_built: counter(
            "tessera_raft_snapshots_built_total",
            "Snapshots built by this node",
        ),
        snapshots_installed: counter(
            "tessera_raft_snapshots_installed_total",
            "Snapshots received from the leader and installed",
        ),
        snapshot_build_seconds: hist(
            "tessera_raft_snapshot_build_duration_seconds",
            "Snapshot build time",
        ),
        rpc_rejected: counter(
            "tessera_cluster_rpc_rejected_total",
            "Cluster RPCs refused for a missing or wrong cluster secret",
        ),
        tokens_issued: counter_vec(
            "tessera_oidc_tokens_issued_total",
            "Tokens issued by grant type and token type",
            &["grant_type", "token_type"],
        ),
        logins: counter_vec(
            "tessera_oidc_logins_total",
            "Login attempts by outcome",
            &["outcome"],
        ),
        consents: counter_vec(
            "tessera_oidc_consents_total",
            "Consent decisions",
            &["decision"],
        ),
        codes_issued: counter(
            "tessera_oidc_codes_issued_total",
            "Authorization codes issued",
        ),
        codes_redeemed: counter_vec(
            "tessera_oidc_code_redemptions_total",
            "Authorization code redemptions by result (ok, replayed, rejected)",
            &["result"],
        ),
        refreshes: counter_vec(
            "tessera_oidc_refreshes_total",
            "Refresh-token grants by result (ok, reused, rejected)",
            &["result"],
        ),
        swept: counter(
            "tessera_state_swept_records_total",
            "Expired records removed by sweeps this node proposed",
        ),
        revocations: counter_vec(
            "tessera_oidc_revocations_total",
            "Revocation requests by token type",
            &["token_type"],
        ),
        introspections: counter_vec(
            "tessera_oidc_introspections_total",
            "Introspections by result (active, inactive)",
            &["result"],
        ),
        registrations: counter(
            "tessera_oidc_registrations_total",
            "Clients registered dynamically",
        ),
        logouts: counter(
            "tessera_oidc_logouts_total",
            "Sessions ended through /end_session",
        ),
        backchannel_logouts: counter_vec(
            "tessera_backchannel_logout_total",
            "Back-channel logout deliveries by outcome",
            &["outcome"],
        ),
        leader_changes: counter(
            "tessera_raft_leader_changes_total",
            "Times this node saw the leader change (including to no leader)",
        ),
        apply_seconds: hist(
            "tessera_raft_apply_duration_seconds",
            "Time to apply one batch of committed entries to the state machine",
        ),
        raft_quorum_ack_age: reg(
            &r,
            prometheus::Gauge::new(
                "tessera_raft_quorum_ack_age_seconds",
                "On the leader: time since a quorum last acknowledged it (-1 on followers)",
            )
            .unwrap(),
        ),
        raft_apply_lag: gauge(
            "tessera_raft_apply_lag_entries",
            "Entries in this node's log not yet applied to its state machine",
        ),
        key_age: gauge_vec(
            "tessera_keys_age_seconds",
            "Age of each signing key by algorithm and state",
            &["alg", "state", "kid"],
        ),
        active_sessions: gauge(
            "tessera_oidc_active_sessions",
            "Live login sessions in the replicated state",
        ),
        build_info: gauge_vec(
            "tessera_build_info",
            "Version and data format of this binary (value 1)",
            &["version", "format"],
        ),
        raft_term: gauge("tessera_raft_term", "Current Raft term"),
        raft_leader: gauge(
            "tessera_raft_leader_id",
            "Id of the current leader (0 if none)",
        ),
        raft_is_leader: gauge("tessera_raft_is_leader", "1 if this node is the leader"),
        raft_last_log_index: gauge("tessera_raft_last_log_index", "Index of the last log entry"),
        raft_last_applied: gauge(
            "tessera_raft_last_applied_index",
            "Index of the last applied entry",
        ),
        raft_replication_lag: gauge_vec(
            "tessera_raft_replication_lag_entries",
            "On the leader: entries each follower is behind the leader's last log index",
            &["follower"],
        ),
        storage_size: gauge("tessera_storage_size_bytes", "Bytes sled uses on disk"),
        registry: r,
    }
});

/// Create the known label values at zero, so `rate()` sees the first event.
pub fn init_labels() {
    let m = &*METRICS;
    for r in ["ok", "reused", "rejected"] {
        m.refreshes.with_label_values(&[r]);
    }
    for r in ["ok", "replayed", "rejected"] {
        m.codes_redeemed.with_label_values(&[r]);
    }
    for r in ["leader", "follower"] {
        m.read_index_rounds.with_label_values(&[r]);
    }
    for o in ["success", "failure"] {
        m.logins.with_label_values(&[o]);
    }
    for r in ["active", "inactive"] {
        m.introspections.with_label_values(&[r]);
    }
    for d in ["granted", "denied"] {
        m.consents.with_label_values(&[d]);
    }
    for t in ["access_token", "refresh_token"] {
        m.revocations.with_label_values(&[t]);
    }
    for o in ["delivered", "retried", "failed", "dropped"] {
        m.backchannel_logouts.with_label_values(&[o]);
    }
}

/// This node's Raft figures at scrape time.
#[derive(Debug, Clone, Default)]
pub struct RaftGauges {
    pub node_id: u64,
    pub term: u64,
    pub leader: Option<u64>,
    pub last_log_index: u64,
    pub last_applied: u64,
    /// On the leader: (follower id, index of its last matched entry).
    pub replication: Vec<(u64, u64)>,
    pub millis_since_quorum_ack: Option<u64>,
}

/// The age of one signing key.
#[derive(Debug, Clone)]
pub struct KeyAge<'a> {
    pub alg: &'a str,
    pub state: &'a str,
    pub kid: &'a str,
    pub age_secs: u64,
}

/// Values sampled at scrape time, handed to [`render`].
#[derive(Debug, Clone, Default)]
pub struct Scrape<'a> {
    pub raft: RaftGauges,
    pub storage_bytes: u64,
    pub keys: Vec<KeyAge<'a>>,
    pub live_sessions: usize,
}

fn set_raft_gauges(m: &Metrics, r: &RaftGauges) {
    m.raft_term.set(r.term as i64);
    m.raft_leader.set(r.leader.unwrap_or(0) as i64);
    m.raft_is_leader.set((r.leader == Some(r.node_id)) as i64);
    m.raft_last_log_index.set(r.last_log_index as i64);
    m.raft_last_applied.set(r.last_applied as i64);
    m.raft_replication_lag.reset();
    for (id, matched) in &r.replication {
        m.raft_replication_lag
            .with_label_values(&[&id.to_string()])
            .set(r.last_log_index.saturating_sub(*matched) as i64);
    }
    m.raft_quorum_ack_age.set(
        r.millis_since_quorum_ack
            .map_or(-1.0, |ms| ms as f64 / 1000.0),
    );
    m.raft_apply_lag
        .set(r.last_log_index.saturating_sub(r.last_applied) as i64);
}

/// Set the scrape-time gauges and render the registry as Prometheus text.
pub fn render(scrape: &Scrape) -> String {
    let m = &*METRICS;
    set_raft_gauges(m, &scrape.raft);
    m.storage_size.set(scrape.storage_bytes as i64);
    m.key_age.reset();
    for k in &scrape.keys {
        m.key_age
            .with_label_values(&[k.alg, k.state, k.kid])
            .set(k.age_secs as i64);
    }
    m.active_sessions.set(scrape.live_sessions as i64);
    m.build_info
        .with_label_values(&[crate::VERSION, &crate::state::FORMAT_VERSION.to_string()])
        .set(1);
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&m.registry.gather(), &mut buf)
        .expect("text encoding");
    String::from_utf8(buf).expect("utf-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_exports_the_values_handed_to_it() {
        let scrape = Scrape {
            raft: RaftGauges {
                node_id: 1,
                term: 7,
                leader: Some(1),
                last_log_index: 40,
                last_applied: 38,
                replication: vec![(2, 35)],
                millis_since_quorum_ack: Some(1500),
            },
            storage_bytes: 4096,
            keys: vec![KeyAge {
                alg: "RS256",
                state: "current",
                kid: "rs256-test",
                age_secs: 12,
            }],
            live_sessions: 3,
        };
        let text = render(&scrape);
        for line in [
            "tessera_raft_term 7",
            "tessera_raft_is_leader 1",
            "tessera_raft_apply_lag_entries 2",
            "tessera_raft_replication_lag_entries{follower=\"2\"} 5",
            "tessera_raft_quorum_ack_age_seconds 1.5",
            "tessera_storage_size_bytes 4096",
            "tessera_keys_age_seconds{alg=\"RS256\",kid=\"rs256-test\",state=\"current\"} 12",
            "tessera_oidc_active_sessions 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }
}
