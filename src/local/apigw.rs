//! The JSON events API Gateway hands the function, as typed builders: `V1Event` for a REST API
//! (payload 1.0) `{proxy+}` resource and `V2Event` for an HTTP API or a Function URL (payload
//! 2.0). Local mode builds its events here, and so do the tests, benches and fuzz targets, so
//! one place spells out the field names and which of them are repeated where.
//!
//! It owns the shapes only: it never reads a request, decides nothing, and it must never emit a
//! field API Gateway would not send. Callers that send fewer fields than API Gateway (local
//! mode) say so with an option; every option documents which fields it adds or leaves out.

use serde_json::{Map, Value, json};

/// A REST API (v1) event for a `{proxy+}` resource.
///
/// By default it carries every field API Gateway sends: both header maps, both query maps
/// (`null` when there is no query), `pathParameters`, `stageVariables` (`null`),
/// `requestContext.resourcePath` and `requestContext.path` (`/{stage}{path}` unless set).
/// `only_local_fields` leaves out what local mode does not send.
#[derive(Debug, Clone)]
pub struct V1Event {
    method: String,
    path: String,
    source_ip: String,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    stage: String,
    request_id: String,
    domain_name: Option<String>,
    context_path: Option<String>,
    user_agent: Option<String>,
    body: Option<String>,
    base64: bool,
    local_fields: bool,
}

impl V1Event {
    /// `method` on `path` (the path under the stage) from `source_ip`; stage `prod`, request
    /// id `request-1`, no headers, query, body, domain name or user agent yet.
    pub fn new(method: &str, path: &str, source_ip: &str) -> V1Event {
        V1Event {
            method: method.to_owned(),
            path: path.to_owned(),
            source_ip: source_ip.to_owned(),
            headers: Vec::new(),
            query: Vec::new(),
            stage: "prod".to_owned(),
            request_id: "request-1".to_owned(),
            domain_name: None,
            context_path: None,
            user_agent: None,
            body: None,
            base64: false,
            local_fields: false,
        }
    }

    /// One header line: a repeated name gets every value in `multiValueHeaders` and its last
    /// one in `headers`, as API Gateway does.
    pub fn header(mut self, name: &str, value: &str) -> V1Event {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// One decoded query parameter, repeated names kept in order (last one in the single map).
    pub fn query(mut self, name: &str, value: &str) -> V1Event {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn stage(mut self, stage: &str) -> V1Event {
        self.stage = stage.to_owned();
        self
    }

    pub fn request_id(mut self, id: &str) -> V1Event {
        self.request_id = id.to_owned();
        self
    }

    /// `requestContext.domainName`; `null` when never set.
    pub fn domain_name(mut self, domain: Option<&str>) -> V1Event {
        self.domain_name = domain.map(str::to_owned);
        self
    }

    /// `requestContext.path`, the path with the stage, when it is not `/{stage}{path}`.
    pub fn context_path(mut self, path: &str) -> V1Event {
        self.context_path = Some(path.to_owned());
        self
    }

    /// `requestContext.identity.userAgent`; left out when never set.
    pub fn user_agent(mut self, user_agent: &str) -> V1Event {
        self.user_agent = Some(user_agent.to_owned());
        self
    }

    /// A text body, `isBase64Encoded: false`.
    pub fn text_body(mut self, body: &str) -> V1Event {
        self.body = Some(body.to_owned());
        self.base64 = false;
        self
    }

    /// Bytes as a base64 body, `isBase64Encoded: true`.
    pub fn binary_body(mut self, body: &[u8]) -> V1Event {
        self.body = Some(base64_simd::STANDARD.encode_to_string(body));
        self.base64 = true;
        self
    }

    /// Only the fields local mode sends: no `queryStringParameters`, `pathParameters`,
    /// `stageVariables` or `requestContext.resourcePath`, and `requestContext.path` only when
    /// `context_path` set it.
    pub fn only_local_fields(mut self) -> V1Event {
        self.local_fields = true;
        self
    }

    pub fn to_value(&self) -> Value {
        let (single_headers, multi_headers) = maps(&self.headers);
        let (single_query, multi_query) = maps(&self.query);
        let or_null = |map: Map<String, Value>| {
            if map.is_empty() {
                Value::Null
            } else {
                Value::Object(map)
            }
        };
        let mut event = Map::new();
        event.insert("resource".into(), json!("/{proxy+}"));
        event.insert("path".into(), json!(self.path));
        event.insert("httpMethod".into(), json!(self.method));
        event.insert("headers".into(), Value::Object(single_headers));
        event.insert("multiValueHeaders".into(), Value::Object(multi_headers));
        if !self.local_fields {
            event.insert("queryStringParameters".into(), or_null(single_query));
        }
        event.insert(
            "multiValueQueryStringParameters".into(),
            or_null(multi_query),
        );
        if !self.local_fields {
            event.insert(
                "pathParameters".into(),
                json!({"proxy": self.path.trim_start_matches('/')}),
            );
            event.insert("stageVariables".into(), Value::Null);
        }

        let mut context = Map::new();
        if !self.local_fields {
            context.insert("resourcePath".into(), json!("/{proxy+}"));
        }
        context.insert("httpMethod".into(), json!(self.method));
        let context_path = match (&self.context_path, self.local_fields) {
            (Some(path), _) => Some(path.clone()),
            (None, false) => Some(format!("/{}{}", self.stage, self.path)),
            (None, true) => None,
        };
        if let Some(path) = context_path {
            context.insert("path".into(), json!(path));
        }
        context.insert("stage".into(), json!(self.stage));
        context.insert("requestId".into(), json!(self.request_id));
        context.insert("domainName".into(), json!(self.domain_name));
        let mut identity = Map::new();
        identity.insert("sourceIp".into(), json!(self.source_ip));
        if let Some(user_agent) = &self.user_agent {
            identity.insert("userAgent".into(), json!(user_agent));
        }
        context.insert("identity".into(), Value::Object(identity));
        event.insert("requestContext".into(), Value::Object(context));

        event.insert("body".into(), json!(self.body));
        event.insert("isBase64Encoded".into(), json!(self.base64));
        Value::Object(event)
    }

    /// The event as the text the Runtime API hands out.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

/// A single-value map (last value wins) and a multi-value map (every value, in order).
fn maps(pairs: &[(String, String)]) -> (Map<String, Value>, Map<String, Value>) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in pairs {
        single.insert(name.clone(), json!(value));
        match multi.get_mut(name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            _ => {
                multi.insert(name.clone(), json!([value]));
            }
        }
    }
    (single, multi)
}

/// An HTTP API or Function URL (v2) event.
///
/// `rawPath` is also `requestContext.http.path`. Headers with one name are joined with
/// commas, cookies travel apart in `cookies` (left out when there are none). `body` is left
/// out unless set; `accountId`, `apiId`, `requestContext.routeKey` and `timeEpoch` only when
/// set; `domainName` and `userAgent` are `null` unless set.
#[derive(Debug, Clone)]
pub struct V2Event {
    method: String,
    raw_path: String,
    raw_query: String,
    source_ip: String,
    route_key: String,
    context_route_key: bool,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
    account_id: Option<String>,
    api_id: Option<String>,
    domain_name: Option<String>,
    user_agent: Option<String>,
    request_id: String,
    stage: String,
    time_epoch: Option<u64>,
    body: Option<String>,
    base64: bool,
}

impl V2Event {
    /// `method` on `raw_path` (stage included, as API Gateway sends it) from `source_ip`;
    /// route `$default`, stage `$default`, request id `request-1`, empty query.
    pub fn new(method: &str, raw_path: &str, source_ip: &str) -> V2Event {
        V2Event {
            method: method.to_owned(),
            raw_path: raw_path.to_owned(),
            raw_query: String::new(),
            source_ip: source_ip.to_owned(),
            route_key: "$default".to_owned(),
            context_route_key: false,
            headers: Vec::new(),
            cookies: Vec::new(),
            account_id: None,
            api_id: None,
            domain_name: None,
            user_agent: None,
            request_id: "request-1".to_owned(),
            stage: "$default".to_owned(),
            time_epoch: None,
            body: None,
            base64: false,
        }
    }

    /// `rawQueryString`, exactly as the client sent it.
    pub fn raw_query(mut self, query: &str) -> V2Event {
        self.raw_query = query.to_owned();
        self
    }

    pub fn route_key(mut self, route_key: &str) -> V2Event {
        self.route_key = route_key.to_owned();
        self
    }

    /// Repeats the route key in `requestContext.routeKey`.
    pub fn with_context_route_key(mut self) -> V2Event {
        self.context_route_key = true;
        self
    }

    /// One header line; a repeated name is joined to the earlier value with a comma.
    pub fn header(mut self, name: &str, value: &str) -> V2Event {
        match self.headers.iter_mut().find(|(n, _)| n == name) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
        self
    }

    /// One `name=value` cookie.
    pub fn cookie(mut self, cookie: &str) -> V2Event {
        self.cookies.push(cookie.to_owned());
        self
    }

    pub fn account_id(mut self, id: &str) -> V2Event {
        self.account_id = Some(id.to_owned());
        self
    }

    pub fn api_id(mut self, id: &str) -> V2Event {
        self.api_id = Some(id.to_owned());
        self
    }

    pub fn domain_name(mut self, domain: Option<&str>) -> V2Event {
        self.domain_name = domain.map(str::to_owned);
        self
    }

    /// `requestContext.http.userAgent`.
    pub fn user_agent(mut self, user_agent: Option<&str>) -> V2Event {
        self.user_agent = user_agent.map(str::to_owned);
        self
    }

    pub fn request_id(mut self, id: &str) -> V2Event {
        self.request_id = id.to_owned();
        self
    }

    pub fn stage(mut self, stage: &str) -> V2Event {
        self.stage = stage.to_owned();
        self
    }

    /// `requestContext.timeEpoch`, in milliseconds.
    pub fn time_epoch(mut self, millis: u64) -> V2Event {
        self.time_epoch = Some(millis);
        self
    }

    /// A text body, `isBase64Encoded: false`.
    pub fn text_body(mut self, body: &str) -> V2Event {
        self.body = Some(body.to_owned());
        self.base64 = false;
        self
    }

    /// Bytes as a base64 body, `isBase64Encoded: true`.
    pub fn binary_body(mut self, body: &[u8]) -> V2Event {
        self.body = Some(base64_simd::STANDARD.encode_to_string(body));
        self.base64 = true;
        self
    }

    pub fn to_value(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect();
        let mut context = Map::new();
        if let Some(account_id) = &self.account_id {
            context.insert("accountId".into(), json!(account_id));
        }
        if let Some(api_id) = &self.api_id {
            context.insert("apiId".into(), json!(api_id));
        }
        context.insert("domainName".into(), json!(self.domain_name));
        context.insert(
            "http".into(),
            json!({
                "method": self.method,
                "path": self.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": self.source_ip,
                "userAgent": self.user_agent,
            }),
        );
        context.insert("requestId".into(), json!(self.request_id));
        if self.context_route_key {
            context.insert("routeKey".into(), json!(self.route_key));
        }
        context.insert("stage".into(), json!(self.stage));
        if let Some(millis) = self.time_epoch {
            context.insert("timeEpoch".into(), json!(millis));
        }

        let mut event = Map::new();
        event.insert("version".into(), json!("2.0"));
        event.insert("routeKey".into(), json!(self.route_key));
        event.insert("rawPath".into(), json!(self.raw_path));
        event.insert("rawQueryString".into(), json!(self.raw_query));
        event.insert("headers".into(), Value::Object(headers));
        event.insert("requestContext".into(), Value::Object(context));
        if let Some(body) = &self.body {
            event.insert("body".into(), json!(body));
        }
        event.insert("isBase64Encoded".into(), json!(self.base64));
        if !self.cookies.is_empty() {
            event.insert("cookies".into(), json!(self.cookies));
        }
        Value::Object(event)
    }

    /// The event as the text the Runtime API hands out.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_repeated_names_keep_every_value_and_the_last_in_the_single_maps() {
        let event = V1Event::new("GET", "/a", "198.51.100.7")
            .header("Accept", "text/html")
            .header("Accept", "application/json")
            .query("page", "1")
            .query("page", "2")
            .to_value();
        assert_eq!(event["headers"]["Accept"], "application/json");
        assert_eq!(
            event["multiValueHeaders"]["Accept"],
            json!(["text/html", "application/json"])
        );
        assert_eq!(event["queryStringParameters"]["page"], "2");
        assert_eq!(
            event["multiValueQueryStringParameters"]["page"],
            json!(["1", "2"])
        );
        assert_eq!(event["requestContext"]["path"], "/prod/a");
        assert_eq!(event["pathParameters"]["proxy"], "a");
    }

    #[test]
    fn v1_local_fields_leave_out_what_local_mode_does_not_send() {
        let event = V1Event::new("GET", "/a", "127.0.0.1")
            .only_local_fields()
            .to_value();
        for absent in ["queryStringParameters", "pathParameters", "stageVariables"] {
            assert!(event.get(absent).is_none(), "{absent} in {event}");
        }
        assert!(event["requestContext"].get("resourcePath").is_none());
        assert!(event["requestContext"].get("path").is_none());
        assert_eq!(event["multiValueQueryStringParameters"], Value::Null);
    }

    #[test]
    fn v2_joins_repeated_headers_and_keeps_cookies_apart() {
        let event = V2Event::new("GET", "/a", "198.51.100.7")
            .header("accept", "text/html")
            .header("accept", "application/json")
            .cookie("a=1")
            .to_value();
        assert_eq!(event["headers"]["accept"], "text/html,application/json");
        assert_eq!(event["cookies"], json!(["a=1"]));
        assert!(event.get("body").is_none());
        assert_eq!(event["requestContext"]["http"]["userAgent"], Value::Null);
    }
}
