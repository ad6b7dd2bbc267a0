//! Many invocations at once in one execution environment (Lambda Managed Instances): each
//! summary line keeps its own request id and the metric totals are exact.

mod common;

use common::*;
use vpc_proxy::handler::Invocation;
use vpc_proxy::telemetry::logging;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invocations_keep_their_own_lines_and_exact_totals() {
    let backend = Backend::http(script(|r| {
        if r.uri.starts_with("/err") {
            Reply::Respond {
                status: 500,
                headers: vec![],
                body: b"e".to_vec(),
            }
        } else {
            Reply::ok("text/plain", "ok")
        }
    }))
    .await;
    let p = std::sync::Arc::new(proxy(&backend.url("http")));
    // Worker threads need the subscriber too: this binary holds only this test.
    logging::init(
        logging::filter(|_| None),
        logging::Format::Json,
        p.sink.clone(),
    );

    let mut tasks = Vec::new();
    for i in 0..300 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let (event, expected) = match i % 3 {
                0 => (v1("GET", &format!("/ok/{i}"), ALLOWED_IP), 200),
                1 => (v2("GET", &format!("/err/{i}"), "", ALLOWED_IP), 500),
                _ => (v1("GET", &format!("/deny/{i}"), DENIED_IP), 403),
            };
            let invocation = Invocation {
                request_id: format!("req-{i}"),
                ..invocation()
            };
            let r = p.call_with(&event, invocation).await;
            assert_eq!(r["statusCode"], expected);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (summaries, documents) = split_output(&p.sink.contents());
    assert_eq!(summaries.len(), 300);
    for s in &summaries {
        let id: usize = s["request_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("req-")
            .parse()
            .unwrap();
        let path = s["path"].as_str().unwrap();
        assert!(
            path.ends_with(&format!("/{id}")),
            "line for {id} describes {path}"
        );
    }
    documents.iter().for_each(assert_valid_emf);
    for doc in documents.iter().filter(|d| d.get("Requests").is_some()) {
        let id: usize = doc["request_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("req-")
            .parse()
            .unwrap();
        assert_eq!(
            doc["Denied"] == 1.0,
            id % 3 == 2,
            "document of {id} carries another invocation's counts"
        );
    }
    assert_eq!(metric_total(&documents, "Requests", None), 300.0);
    assert_eq!(metric_total(&documents, "Denied", None), 100.0);
    assert_eq!(metric_total(&documents, "UpstreamHTTPError", None), 100.0);
    assert_eq!(
        metric_total(&documents, "UpstreamHTTPError", Some("StatusClass")),
        100.0
    );
    assert_eq!(metric_total(&documents, "ColdStart", None), 1.0);
}
