//! Rendering one invocation's samples (collected by `collector`) as CloudWatch Embedded
//! Metric Format documents.
//!
//! It owns the EMF rules: required `_aws` metadata, at most 100 metrics per document and 100
//! values per metric, at most 30 dimensions per set, one value per root member (documents
//! split when two samples would disagree). It must never emit a document CloudWatch would
//! reject.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::catalog;
use super::collector::{Collector, Kind, Sample};

/// EMF limits (CloudWatch "Specification: Embedded metric format").
pub const MAX_METRICS_PER_DOCUMENT: usize = 100;
pub const MAX_VALUES_PER_METRIC: usize = 100;
pub const MAX_DIMENSIONS_PER_SET: usize = 30;

/// What every document of an invocation shares.
#[derive(Debug, Clone)]
pub struct DocumentContext<'a> {
    pub namespace: &'a str,
    pub service: &'a str,
    pub timestamp_ms: u64,
    /// Root members that are not metrics or dimensions (request id, denied source IP).
    pub properties: &'a [(&'a str, &'a str)],
}

/// One metric's aggregated value under one label set.
#[derive(Debug, Clone, PartialEq)]
enum Aggregate {
    One(f64),
    Many(Vec<f64>),
}

/// Samples sharing one label set: one directive's worth, borrowing names from the samples.
struct Group<'s> {
    labels: Vec<(&'s str, &'s str)>,
    metrics: Vec<(&'s str, Aggregate)>,
}

fn group(samples: &[Sample]) -> Vec<Group<'_>> {
    let mut groups: Vec<Group<'_>> = Vec::new();
    for sample in samples {
        let mut labels: Vec<(&str, &str)> = sample
            .key
            .labels()
            .map(|l| (l.key(), l.value()))
            .filter(|(k, _)| *k != catalog::SERVICE)
            .collect();
        labels.sort();
        labels.dedup_by(|a, b| a.0 == b.0);
        let name = sample.key.name();
        let index = match groups.iter().position(|g| g.labels == labels) {
            Some(i) => i,
            None => {
                groups.push(Group {
                    labels,
                    metrics: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let Some(group) = groups.get_mut(index) else {
            continue;
        };
        match group.metrics.iter_mut().find(|(n, _)| *n == name) {
            None => {
                let aggregate = match sample.kind {
                    Kind::Histogram => Aggregate::Many(vec![sample.value]),
                    Kind::Counter | Kind::Gauge => Aggregate::One(sample.value),
                };
                group.metrics.push((name, aggregate));
            }
            Some((_, aggregate)) => match (sample.kind, aggregate) {
                (Kind::Counter, Aggregate::One(v)) => *v += sample.value,
                (Kind::Gauge, Aggregate::One(v)) => *v = sample.value,
                (_, Aggregate::Many(vs)) => vs.push(sample.value),
                (Kind::Histogram, a @ Aggregate::One(_)) => {
                    if let Aggregate::One(first) = *a {
                        *a = Aggregate::Many(vec![first, sample.value]);
                    }
                }
            },
        }
    }
    groups
}

/// A root member's value, as it will be written. Numbers are finite (`Handle::push` keeps no
/// other), so equal values are written alike.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Member<'a> {
    Text(&'a str),
    Number(f64),
    Numbers(&'a [f64]),
}

impl Serialize for Member<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Member::Text(text) => s.serialize_str(text),
            Member::Number(n) => s.serialize_f64(*n),
            Member::Numbers(ns) => s.collect_seq(ns.iter()),
        }
    }
}

/// A document being assembled: root members in the order they were first set.
struct Doc<'a> {
    root: Vec<(&'a str, Member<'a>)>,
    directives: Vec<(Vec<&'a str>, Vec<&'a str>)>,
    metric_count: usize,
}

impl<'a> Doc<'a> {
    fn new(context: &DocumentContext<'a>) -> Doc<'a> {
        let mut doc = Doc {
            root: Vec::with_capacity(16),
            directives: Vec::new(),
            metric_count: 0,
        };
        doc.set(catalog::SERVICE, Member::Text(context.service));
        for (k, v) in context.properties {
            doc.set(k, Member::Text(v));
        }
        doc
    }

    fn get(&self, name: &str) -> Option<&Member<'a>> {
        self.root.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn set(&mut self, name: &'a str, value: Member<'a>) {
        match self.root.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.root.push((name, value)),
        }
    }

    /// Can these labels and metrics join without a root member taking two values?
    fn accepts(&self, labels: &[(&str, &str)], metrics: &[(&str, Member<'_>)]) -> bool {
        let new_metrics = metrics
            .iter()
            .filter(|(n, _)| self.get(n).is_none())
            .count();
        self.metric_count + new_metrics <= MAX_METRICS_PER_DOCUMENT
            && labels
                .iter()
                .all(|(k, v)| self.get(k).is_none_or(|x| *x == Member::Text(v)))
            && metrics
                .iter()
                .all(|(n, v)| self.get(n).is_none_or(|x| x == v))
    }

    fn add(&mut self, labels: &[(&'a str, &'a str)], metrics: Vec<(&'a str, Member<'a>)>) {
        let mut dimensions = Vec::with_capacity(labels.len() + 1);
        dimensions.push(catalog::SERVICE);
        for (k, v) in labels {
            self.set(k, Member::Text(v));
            dimensions.push(k);
        }
        let mut names = Vec::with_capacity(metrics.len());
        for (name, value) in metrics {
            if self.get(name).is_none() {
                self.metric_count += 1;
            }
            self.set(name, value);
            names.push(name);
        }
        self.directives.push((dimensions, names));
    }

    /// The document as one line, written straight from borrowed parts.
    fn finish(self, context: &DocumentContext<'_>) -> String {
        let mut out = Vec::with_capacity(1024);
        let written = serde_json::to_writer(
            &mut out,
            &Line {
                root: &self.root,
                metadata: AwsMetadata {
                    context,
                    directives: &self.directives,
                },
            },
        );
        out.push(b'\n');
        match (written, String::from_utf8(out)) {
            (Ok(()), Ok(line)) => line,
            // Cannot happen (string keys, numbers written as numbers or null, UTF-8 out of
            // serde_json); an empty line is dropped by CloudWatch rather than misread.
            _ => String::from("\n"),
        }
    }
}

/// A document: the root members, then `_aws`.
struct Line<'a> {
    root: &'a [(&'a str, Member<'a>)],
    metadata: AwsMetadata<'a>,
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.root.len() + 1))?;
        for (k, v) in self.root {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry("_aws", &self.metadata)?;
        m.end()
    }
}

/// `{"Timestamp": …, "CloudWatchMetrics": [directive, …]}`.
struct AwsMetadata<'a> {
    context: &'a DocumentContext<'a>,
    directives: &'a [(Vec<&'a str>, Vec<&'a str>)],
}

impl Serialize for AwsMetadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("Timestamp", &self.context.timestamp_ms)?;
        m.serialize_entry("CloudWatchMetrics", &Directives(self))?;
        m.end()
    }
}

struct Directives<'a>(&'a AwsMetadata<'a>);

impl Serialize for Directives<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .directives
                .iter()
                .map(|(dimensions, names)| Directive {
                    namespace: self.0.context.namespace,
                    dimensions,
                    names,
                }),
        )
    }
}

/// `{"Namespace": …, "Dimensions": [[…]], "Metrics": [{"Name": …, "Unit": …}, …]}`.
struct Directive<'a> {
    namespace: &'a str,
    dimensions: &'a [&'a str],
    names: &'a [&'a str],
}

impl Serialize for Directive<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("Namespace", self.namespace)?;
        m.serialize_entry("Dimensions", &[self.dimensions])?;
        m.serialize_entry("Metrics", &MetricRefs(self.names))?;
        m.end()
    }
}

struct MetricRefs<'a>(&'a [&'a str]);

impl Serialize for MetricRefs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|n| MetricRef(n)))
    }
}

struct MetricRef<'a>(&'a str);

impl Serialize for MetricRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("Name", self.0)?;
        m.serialize_entry("Unit", catalog::unit_of(self.0))?;
        m.end()
    }
}

/// Renders what `collector` collected, then forgets it.
pub fn render(collector: &Collector, context: &DocumentContext<'_>) -> Vec<String> {
    pack(collector.take(), context)
}

/// Packs samples into as few valid documents as the rules allow.
fn pack(samples: Vec<Sample>, context: &DocumentContext<'_>) -> Vec<String> {
    let groups = group(&samples);
    let mut docs: Vec<Doc<'_>> = Vec::new();
    for group in &groups {
        // Dimension sets are capped; labels past the cap are dropped rather than the metric.
        let labels = group
            .labels
            .get(..MAX_DIMENSIONS_PER_SET - 1)
            .unwrap_or(&group.labels);
        // Split long value arrays into pieces of at most 100, each piece its own directive
        // entry (a piece past the first necessarily lands in another document).
        let mut pieces: Vec<(&str, Member<'_>)> = Vec::with_capacity(group.metrics.len());
        for (name, aggregate) in &group.metrics {
            match aggregate {
                Aggregate::One(v) => pieces.push((name, Member::Number(*v))),
                Aggregate::Many(values) => {
                    for chunk in values.chunks(MAX_VALUES_PER_METRIC) {
                        pieces.push((name, Member::Numbers(chunk)));
                    }
                }
            }
        }
        // Fill directives of at most 100 distinct metrics, never the same name twice.
        while !pieces.is_empty() {
            let mut batch: Vec<(&str, Member<'_>)> = Vec::with_capacity(pieces.len());
            let mut rest = Vec::new();
            for piece in pieces {
                if batch.len() < MAX_METRICS_PER_DOCUMENT
                    && !batch.iter().any(|(n, _)| *n == piece.0)
                {
                    batch.push(piece);
                } else {
                    rest.push(piece);
                }
            }
            pieces = rest;
            match docs.iter_mut().find(|d| d.accepts(labels, &batch)) {
                Some(doc) => doc.add(labels, batch),
                None => {
                    let mut doc = Doc::new(context);
                    doc.add(labels, batch);
                    docs.push(doc);
                }
            }
        }
    }
    docs.into_iter().map(|d| d.finish(context)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn context() -> DocumentContext<'static> {
        DocumentContext {
            namespace: "VpcProxy",
            service: "svc",
            timestamp_ms: 1_700_000_000_000,
            properties: &[("request_id", "r1")],
        }
    }

    fn docs(f: impl FnOnce()) -> Vec<Value> {
        let collector = Collector::default();
        metrics::with_local_recorder(&collector, f);
        render(&collector, &context())
            .iter()
            .map(|l| {
                assert!(l.ends_with('\n') && !l[..l.len() - 1].contains('\n'));
                serde_json::from_str(l).unwrap()
            })
            .collect()
    }

    #[test]
    fn counters_sum_and_share_one_document() {
        let d = docs(|| {
            metrics::counter!("Requests").increment(1);
            metrics::counter!("Denied").increment(0);
            metrics::counter!("Requests").increment(1);
            metrics::histogram!("UpstreamLatency").record(12.5);
        });
        assert_eq!(d.len(), 1);
        assert_eq!(d[0]["Requests"], 2.0);
        assert_eq!(d[0]["Denied"], 0.0);
        assert_eq!(d[0]["UpstreamLatency"], json!([12.5]));
        assert_eq!(d[0]["Service"], "svc");
        assert_eq!(d[0]["request_id"], "r1");
        let directive = &d[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(
            directive["Metrics"][2],
            json!({"Name": "UpstreamLatency", "Unit": "Milliseconds"})
        );
    }

    #[test]
    fn labelled_metric_with_equal_value_joins_the_document() {
        let d = docs(|| {
            metrics::counter!("UpstreamHTTPError").increment(1);
            metrics::counter!("UpstreamHTTPError", "StatusClass" => "5xx").increment(1);
        });
        assert_eq!(d.len(), 1);
        assert_eq!(d[0]["StatusClass"], "5xx");
        assert_eq!(
            d[0]["_aws"]["CloudWatchMetrics"][1]["Dimensions"],
            json!([["Service", "StatusClass"]])
        );
    }

    #[test]
    fn disagreeing_values_split_documents() {
        let d = docs(|| {
            metrics::counter!("Denied", "SourceIp" => "1.2.3.4").increment(1);
            metrics::counter!("Denied", "SourceIp" => "5.6.7.8").increment(1);
            metrics::counter!("Denied").increment(2);
        });
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn limits_split_documents() {
        let d = docs(|| {
            for i in 0..250 {
                metrics::counter!(format!("M{i}")).increment(1);
            }
            for i in 0..230 {
                metrics::histogram!("H").record(i as f64);
            }
        });
        for doc in &d {
            let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
            let names: std::collections::HashSet<&str> = directives
                .iter()
                .flat_map(|x| x["Metrics"].as_array().unwrap())
                .map(|m| m["Name"].as_str().unwrap())
                .collect();
            assert!(names.len() <= 100);
            if let Some(h) = doc.get("H") {
                assert!(h.as_array().unwrap().len() <= 100);
            }
        }
        let total: usize = d
            .iter()
            .filter_map(|doc| doc.get("H"))
            .map(|h| h.as_array().unwrap().len())
            .sum();
        assert_eq!(total, 230);
        let counters = d
            .iter()
            .flat_map(|doc| doc.as_object().unwrap().keys())
            .filter(|k| k.starts_with('M'))
            .count();
        assert_eq!(counters, 250);
    }

    #[test]
    fn members_keep_the_order_they_were_set_in() {
        let collector = Collector::default();
        metrics::with_local_recorder(&collector, || {
            metrics::counter!("Requests").increment(1);
            metrics::gauge!("G", "StatusClass" => "5xx").set(2.5);
        });
        let lines = render(&collector, &context());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(
                r#"{"Service":"svc","request_id":"r1","Requests":1.0,"StatusClass":"5xx","G":2.5,"_aws":{"#
            ),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn non_finite_samples_are_dropped_not_written_as_null() {
        let d = docs(|| {
            metrics::counter!("Requests").increment(1);
            metrics::gauge!("G").set(f64::NAN);
            metrics::histogram!("H").record(f64::INFINITY);
            metrics::histogram!("H").record(3.0);
        });
        assert_eq!(d.len(), 1);
        assert_eq!(d[0]["Requests"], 1.0);
        assert!(d[0].get("G").is_none(), "{}", d[0]);
        assert_eq!(d[0]["H"], json!([3.0]));
        let names: Vec<&str> = d[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Requests", "H"]);
    }

    #[test]
    fn nothing_recorded_renders_nothing() {
        assert!(docs(|| {}).is_empty());
    }
}
