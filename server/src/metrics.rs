//! Prometheus metrics at `/metrics`: agents connected, frames in and out, ingest time,
//! errors.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub agents_connected: Gauge,
    pub frames_in: Counter,
    pub frames_out: Counter,
    pub frame_errors: Counter,
    pub inventories_ingested: Counter,
    pub inventories_refused: Counter,
    pub inventories_unchanged: Counter,
    pub ingest_seconds: Histogram,
    pub ingest_batch_size: Histogram,
    pub enrollments: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("certfleet");
        let metrics = Metrics {
            agents_connected: Gauge::default(),
            frames_in: Counter::default(),
            frames_out: Counter::default(),
            frame_errors: Counter::default(),
            inventories_ingested: Counter::default(),
            inventories_refused: Counter::default(),
            inventories_unchanged: Counter::default(),
            ingest_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            ingest_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            enrollments: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "agents_connected",
            "Agents connected to the gateway now",
            metrics.agents_connected.clone(),
        );
        registry.register(
            "frames_in",
            "Frames received from agents",
            metrics.frames_in.clone(),
        );
        registry.register(
            "frames_out",
            "Frames sent to agents",
            metrics.frames_out.clone(),
        );
        registry.register(
            "frame_errors",
            "Frames refused (malformed, unknown type, too large, failed to process)",
            metrics.frame_errors.clone(),
        );
        registry.register(
            "inventories_ingested",
            "Inventory snapshots that changed something",
            metrics.inventories_ingested.clone(),
        );
        registry.register(
            "inventories_refused",
            "Inventories refused: a certificate that is not what it claims, or over the limits",
            metrics.inventories_refused.clone(),
        );
        registry.register(
            "inventories_unchanged",
            "Inventories sent again unchanged: acknowledged without reading or writing",
            metrics.inventories_unchanged.clone(),
        );
        registry.register(
            "ingest_batch_size",
            "Snapshots the ingest writer stored in one transaction",
            metrics.ingest_batch_size.clone(),
        );
        registry.register(
            "ingest_seconds",
            "Time from handing a changed inventory to the ingest writer to its being stored",
            metrics.ingest_seconds.clone(),
        );
        registry.register(
            "enrollments",
            "Agents enrolled",
            metrics.enrollments.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
