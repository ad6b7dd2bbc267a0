//! A `metrics` recorder scoped to one invocation: the samples one invocation's outcome turns
//! into, kept in call order for `emf` to render.
//!
//! It is installed with `metrics::with_local_recorder` around the code that turns an
//! invocation's outcome into metric calls, so samples from concurrent invocations can never
//! meet and the request path takes no global lock. It must never keep a sample JSON cannot
//! carry (NaN, infinity) nor know how documents are shaped.

use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) key: Key,
    pub(super) kind: Kind,
    pub(super) value: f64,
}

/// Collects the samples of one invocation.
#[derive(Debug, Default, Clone)]
pub struct Collector {
    samples: Arc<Mutex<Vec<Sample>>>,
}

struct Handle {
    key: Key,
    kind: Kind,
    samples: Arc<Mutex<Vec<Sample>>>,
}

impl Handle {
    /// Keeps a finite sample. EMF metric values must be numbers, and JSON has none for NaN or
    /// infinity: one would be written as `null` and CloudWatch would reject the whole document.
    fn push(&self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if let Ok(mut samples) = self.samples.lock() {
            samples.push(Sample {
                key: self.key.clone(),
                kind: self.kind,
                value,
            });
        }
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.push(value as f64);
    }
    fn absolute(&self, value: u64) {
        self.push(value as f64);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        self.push(value);
    }
    fn decrement(&self, value: f64) {
        self.push(-value);
    }
    fn set(&self, value: f64) {
        self.push(value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.push(value);
    }
}

impl Collector {
    fn handle(&self, key: &Key, kind: Kind) -> Arc<Handle> {
        Arc::new(Handle {
            key: key.clone(),
            kind,
            samples: self.samples.clone(),
        })
    }

    /// The samples so far, in call order; the collector is empty afterwards.
    pub(super) fn take(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

impl Recorder for Collector {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key, Kind::Counter))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key, Kind::Gauge))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key, Kind::Histogram))
    }
}
