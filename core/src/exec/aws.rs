//! AWS, where the toolkit asks it something itself rather than through Terraform: the Resource
//! Groups Tagging API's `GetResources` (which resources carry a deployment's tags, for
//! `gitops-tag`), an AWS JSON 1.1 call signed with Signature Version 4.
//!
//! No AWS SDK: one call does not justify one, and the signing is a few pure functions
//! ([`canonical_request`], [`string_to_sign`], [`signing_key`], [`authorization`]) unit-tested
//! against the examples of the AWS documentation. The credentials are the ones Terraform gets
//! (from Vault, in memory); they never reach a log, a file, argv or an error message.

use crate::error::{Error, Result};
use crate::exec::terraform::Masker;
use crate::exec::vault::error_chain;
use crate::model::load::sha256_hex;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The signing name of the Resource Groups Tagging API.
const SERVICE: &str = "tagging";
const TARGET: &str = "ResourceGroupsTaggingAPI_20170126.GetResources";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The most `GetResources` returns a page.
const PAGE_SIZE: u32 = 100;
/// A bound on pagination: an endpoint that hands out tokens forever is an error, not a hang.
const MAX_PAGES: usize = 10_000;
/// Tries per page: transient failures (no connection, a timeout, 5xx, throttling) are retried.
const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where the Tagging API is, first set wins: the variables the AWS provider and SDKs honour
/// (service-specific, then global), else the regional public endpoint ([`endpoint`]).
pub const ENDPOINT_VARS: [&str; 2] = [
    "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API",
    "AWS_ENDPOINT_URL",
];

/// An access key, with the session token of temporary (STS) credentials.
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Nothing of the values: a Debug print must never show a credential.
        f.debug_struct("AwsCredentials")
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

impl AwsCredentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> AwsCredentials {
        AwsCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: session_token.filter(|t| !t.is_empty()),
        }
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, when set, `AWS_SESSION_TOKEN` as `var`
    /// gives them (an empty value is unset, as for the SDKs). A missing one is an error naming
    /// the variable, never a value.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<AwsCredentials> {
        let get = |name: &str| var(name).filter(|v| !v.is_empty());
        let missing: Vec<&str> = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
            .into_iter()
            .filter(|n| get(n).is_none())
            .collect();
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => {
                Ok(AwsCredentials::new(id, secret, get("AWS_SESSION_TOKEN")))
            }
            _ => Err(Error::Process(format!(
                "no AWS credentials for the Resource Groups Tagging API: {} {} in neither the \
                 environment's Vault credentials nor the process environment (declare an `aws` \
                 credential for the environment, or export them)",
                missing.join(" and "),
                if missing.len() > 1 { "are" } else { "is" }
            ))),
        }
    }

    /// Masks every credential value in a text (an AWS error message may quote a signed header).
    fn masker(&self) -> Masker {
        Masker::new(
            [&self.access_key_id, &self.secret_access_key]
                .into_iter()
                .chain(self.session_token.as_ref())
                .cloned(),
        )
    }
}

/// The Tagging API endpoint: the first of [`ENDPOINT_VARS`] `var` gives (non-empty), else
/// `https://tagging.<region>.amazonaws.com`.
pub fn endpoint(region: &str, var: &dyn Fn(&str) -> Option<String>) -> String {
    ENDPOINT_VARS
        .iter()
        .find_map(|name| var(name).filter(|v| !v.trim().is_empty()))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| format!("https://tagging.{region}.amazonaws.com"))
}

// ---- Signature Version 4 ----------------------------------------------------------------------

/// The parts of a request that Signature Version 4 covers.
#[derive(Debug, Clone)]
pub struct Signable<'a> {
    pub method: &'a str,
    /// The URL path as sent (percent-encoded); `""` is `/`.
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header to sign, `host` and `x-amz-date` included (any case).
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters as they are, every other byte
/// `%XY` (upper-case hex); `/` too unless `keep_slash`.
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The canonical request and its signed-header list (`content-type;host;x-amz-date`). The path
/// is encoded once more (every service but S3 wants that); query parameters are encoded and
/// sorted; header names lower-cased, values trimmed with inner runs of spaces made one, sorted
/// by name, repeated names joined with `,`.
pub fn canonical_request(req: &Signable<'_>) -> (String, String) {
    let path = if req.path.is_empty() { "/" } else { req.path };
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    query.sort();
    let query: Vec<String> = query.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in req.headers {
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        headers
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value);
    }
    let canonical_headers: String = headers
        .iter()
        .map(|(name, values)| format!("{name}:{}\n", values.join(",")))
        .collect();
    let signed = headers.keys().cloned().collect::<Vec<_>>().join(";");
    let text = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        req.method,
        uri_encode(path, true),
        query.join("&"),
        sha256_hex(req.payload)
    );
    (text, signed)
}

/// `20150830/us-east-1/iam/aws4_request`
fn scope(amz_date: &str, region: &str, service: &str) -> String {
    format!(
        "{}/{region}/{service}/aws4_request",
        &amz_date[..8.min(amz_date.len())]
    )
}

/// What is signed: the algorithm, the time (`20150830T123600Z`), the scope and the hash of the
/// canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The key derived from the secret for one day (`20150830`), region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac_sha256(&k_date, region);
    let k_service = hmac_sha256(&k_region, service);
    hmac_sha256(&k_service, "aws4_request")
}

/// The `Authorization` header value of `req`, signed at `amz_date` for `region` and `service`.
/// `req.headers` must hold `host`, `x-amz-date` (= `amz_date`) and, with a session token,
/// `x-amz-security-token`.
pub fn authorization(
    credentials: &AwsCredentials,
    amz_date: &str,
    region: &str,
    service: &str,
    req: &Signable<'_>,
) -> String {
    let (canonical, signed) = canonical_request(req);
    let scope = scope(amz_date, region, service);
    let key = signing_key(
        &credentials.secret_access_key,
        &amz_date[..8.min(amz_date.len())],
        region,
        service,
    );
    let signature = hex::encode(hmac_sha256(
        &key,
        &string_to_sign(amz_date, &scope, &canonical),
    ));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        credentials.access_key_id
    )
}

/// `20150830T123600Z`: the SigV4 form of `t` (UTC).
pub fn amz_date(t: SystemTime) -> String {
    crate::time::rfc3339(t, crate::time::Precision::Seconds).replace(['-', ':'], "")
}

// ---- The Tagging API --------------------------------------------------------------------------

/// A resource as `GetResources` lists it: its ARN and all its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTags {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct GetResourcesInput<'a> {
    #[serde(rename = "TagFilters")]
    tag_filters: [TagFilter<'a>; 1],
    #[serde(rename = "ResourcesPerPage")]
    resources_per_page: u32,
    #[serde(rename = "PaginationToken", skip_serializing_if = "str::is_empty")]
    pagination_token: &'a str,
}

#[derive(Serialize)]
struct TagFilter<'a> {
    #[serde(rename = "Key")]
    key: &'a str,
    #[serde(rename = "Values")]
    values: [&'a str; 1],
}

#[derive(Deserialize)]
struct GetResourcesOutput {
    #[serde(rename = "PaginationToken", default)]
    pagination_token: Option<String>,
    #[serde(rename = "ResourceTagMappingList", default)]
    resource_tag_mapping_list: Vec<Mapping>,
}

#[derive(Deserialize)]
struct Mapping {
    #[serde(rename = "ResourceARN")]
    resource_arn: String,
    #[serde(rename = "Tags", default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value", default)]
    value: String,
}

/// An AWS JSON error answer: `{"__type": "...#ThrottlingException", "message": "..."}` (some
/// services spell it `Message`).
#[derive(Deserialize, Default)]
struct AwsError {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(default, alias = "Message")]
    message: String,
}

impl AwsError {
    /// `ThrottlingException` out of `com.amazonaws...#ThrottlingException`.
    fn code(&self) -> &str {
        self.kind.rsplit('#').next().unwrap_or("")
    }
}

/// Whether a failed answer is worth another try: server errors and throttling.
fn transient(status: u16, code: &str) -> bool {
    status >= 500
        || status == 429
        || matches!(
            code,
            "ThrottlingException" | "Throttling" | "ThrottledException" | "RequestLimitExceeded"
        )
}

/// One failed try: the message (masked, no credential) and whether to try again.
struct Failure {
    message: String,
    transient: bool,
}

/// The Resource Groups Tagging API of one region, with credentials.
#[derive(Debug, Clone)]
pub struct TaggingApi {
    endpoint: reqwest::Url,
    region: String,
    credentials: AwsCredentials,
    timeout: Duration,
    /// The pause before the first retry (doubled for each further one).
    backoff: Duration,
}

impl TaggingApi {
    /// The API at `endpoint` (`http` or `https`), signing for `region`.
    pub fn new(endpoint: &str, region: &str, credentials: AwsCredentials) -> Result<TaggingApi> {
        let url = reqwest::Url::parse(endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "AWS Resource Groups Tagging API endpoint {endpoint:?} is not an http(s) URL \
                     (set by {} or the region)",
                    ENDPOINT_VARS.join(" or ")
                ))
            })?;
        // The endpoint is printed in progress and errors: no place for a password.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Usage(format!(
                "the AWS Resource Groups Tagging API endpoint (set by {}) must not carry a user \
                 or password",
                ENDPOINT_VARS.join(" or ")
            )));
        }
        if region.is_empty() {
            return Err(Error::Usage(
                "the AWS region for the Resource Groups Tagging API is empty".into(),
            ));
        }
        Ok(TaggingApi {
            endpoint: url,
            region: region.to_owned(),
            credentials,
            timeout: TIMEOUT,
            backoff: Duration::from_secs(1),
        })
    }

    /// The API of `region` with the endpoint ([`endpoint`]) and credentials
    /// ([`AwsCredentials::from_vars`]) that `var` gives.
    pub fn from_vars(region: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<TaggingApi> {
        let credentials = AwsCredentials::from_vars(var)?;
        TaggingApi::new(&endpoint(region, var), region, credentials)
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Every resource tagged `key = value` (all pages), with all its tags.
    pub fn get_resources(&self, key: &str, value: &str) -> Result<Vec<ResourceTags>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| self.error(&format!("runtime: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| self.error(&format!("http client: {e}")))?;
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let body = serde_json::to_vec(&GetResourcesInput {
                tag_filters: [TagFilter {
                    key,
                    values: [value],
                }],
                resources_per_page: PAGE_SIZE,
                pagination_token: &token,
            })
            .map_err(|e| self.error(&e.to_string()))?;
            let page = self.page(&rt, &http, &body)?;
            out.extend(
                page.resource_tag_mapping_list
                    .into_iter()
                    .map(|m| ResourceTags {
                        arn: m.resource_arn,
                        tags: m.tags.into_iter().map(|t| (t.key, t.value)).collect(),
                    }),
            );
            match page.pagination_token.filter(|t| !t.is_empty()) {
                Some(next) if next == token => {
                    return Err(
                        self.error("the answer repeats the pagination token it was asked for")
                    )
                }
                Some(next) => token = next,
                None => return Ok(out),
            }
        }
        Err(self.error(&format!("more than {MAX_PAGES} pages of resources")))
    }

    /// One page, tried up to [`ATTEMPTS`] times while the failure is transient.
    fn page(
        &self,
        rt: &tokio::runtime::Runtime,
        http: &reqwest::Client,
        body: &[u8],
    ) -> Result<GetResourcesOutput> {
        let mut pause = self.backoff;
        let mut attempt = 1;
        loop {
            crate::exec::signal::check(&format!("GetResources at {}", self.endpoint))?;
            match rt.block_on(self.call(http, body)) {
                Ok(page) => return Ok(page),
                Err(f) if f.transient && attempt < ATTEMPTS => {
                    std::thread::sleep(pause);
                    pause *= 2;
                    attempt += 1;
                }
                Err(f) => {
                    let tries = if attempt > 1 {
                        format!(" (after {attempt} tries)")
                    } else {
                        String::new()
                    };
                    return Err(self.error(&format!("{}{tries}", f.message)));
                }
            }
        }
    }

    /// One signed `POST` of `body`.
    async fn call(
        &self,
        http: &reqwest::Client,
        body: &[u8],
    ) -> std::result::Result<GetResourcesOutput, Failure> {
        let masker = self.credentials.masker();
        let host = match self.endpoint.port() {
            Some(port) => format!("{}:{port}", self.endpoint.host_str().unwrap_or("")),
            None => self.endpoint.host_str().unwrap_or("").to_owned(),
        };
        let date = amz_date(SystemTime::now());
        let mut headers = vec![
            ("content-type", CONTENT_TYPE),
            ("host", host.as_str()),
            ("x-amz-date", date.as_str()),
            ("x-amz-target", TARGET),
        ];
        if let Some(token) = &self.credentials.session_token {
            headers.push(("x-amz-security-token", token.as_str()));
        }
        let auth = authorization(
            &self.credentials,
            &date,
            &self.region,
            SERVICE,
            &Signable {
                method: "POST",
                path: self.endpoint.path(),
                query: &[],
                headers: &headers,
                payload: body,
            },
        );
        let mut req = http.post(self.endpoint.clone()).body(body.to_vec());
        for (name, value) in headers.iter().filter(|(n, _)| *n != "host") {
            req = req.header(*name, *value);
        }
        let resp = req
            .header("authorization", auth)
            .send()
            .await
            .map_err(|e| Failure {
                message: masker.mask(&error_chain(&e)),
                transient: true,
            })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| Failure {
            message: format!("reading the answer: {}", masker.mask(&error_chain(&e))),
            transient: true,
        })?;
        if !status.is_success() {
            let err: AwsError = serde_json::from_str(&text).unwrap_or_default();
            let detail = match (err.code(), err.message.trim()) {
                ("", "") => text.trim().chars().take(300).collect::<String>(),
                (code, "") => code.to_owned(),
                ("", message) => message.to_owned(),
                (code, message) => format!("{code}: {message}"),
            };
            return Err(Failure {
                message: format!("HTTP {}: {}", status.as_u16(), masker.mask(&detail)),
                transient: transient(status.as_u16(), err.code()),
            });
        }
        serde_json::from_str(&text).map_err(|e| Failure {
            message: format!("not a GetResources answer: {e}"),
            transient: false,
        })
    }

    /// `AWS Resource Groups Tagging API <endpoint> (<region>): GetResources: <what>`
    fn error(&self, what: &str) -> Error {
        Error::Process(format!(
            "AWS Resource Groups Tagging API {} ({}): GetResources: {what}",
            self.endpoint, self.region
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    const ID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// The IAM `ListUsers` example of the AWS documentation ("Create a signed AWS API request"),
    /// step by step: canonical request hash, signing key, signature.
    #[test]
    fn signs_the_documented_iam_example() {
        let req = Signable {
            method: "GET",
            path: "/",
            query: &[("Version", "2010-05-08"), ("Action", "ListUsers")],
            headers: &[
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("Host", "iam.amazonaws.com"),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            payload: b"",
        };
        let (canonical, signed) = canonical_request(&req);
        assert_eq!(
            canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
             content-type:application/x-www-form-urlencoded; charset=utf-8\n\
             host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             content-type;host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(signed, "content-type;host;x-amz-date");
        let sts = string_to_sign(
            "20150830T123600Z",
            &scope("20150830T123600Z", "us-east-1", "iam"),
            &canonical,
        );
        assert_eq!(
            sts,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
             f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            hex::encode(signing_key(SECRET, "20150830", "us-east-1", "iam")),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let creds = AwsCredentials::new(ID, SECRET, None);
        assert_eq!(
            authorization(&creds, "20150830T123600Z", "us-east-1", "iam", &req),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    /// A `GetResources` POST with a session token, as botocore's `SigV4Auth` signs it (computed
    /// independently with botocore for the same request and time).
    #[test]
    fn signs_a_get_resources_post_like_botocore() {
        let body = br#"{"ResourcesPerPage":100,"TagFilters":[{"Key":"gitops:deployment","Values":["dev/x"]}]}"#;
        let creds = AwsCredentials::new(ID, SECRET, Some("session-token-example".into()));
        let auth = authorization(
            &creds,
            "20240102T030405Z",
            "eu-west-1",
            SERVICE,
            &Signable {
                method: "POST",
                path: "/",
                query: &[],
                headers: &[
                    ("content-type", CONTENT_TYPE),
                    ("host", "tagging.eu-west-1.amazonaws.com"),
                    ("x-amz-date", "20240102T030405Z"),
                    ("x-amz-target", TARGET),
                    ("x-amz-security-token", "session-token-example"),
                ],
                payload: body,
            },
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/tagging/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=e81bc50cbace16c835a41138442261a6eaccb77e719040f366c80558825cbb03"
        );
    }

    #[test]
    fn encodes_and_normalises_like_sigv4() {
        assert_eq!(uri_encode("a b/c~d*é", false), "a%20b%2Fc~d%2A%C3%A9");
        assert_eq!(uri_encode("/x y/", true), "/x%20y/");
        let (canonical, signed) = canonical_request(&Signable {
            method: "POST",
            path: "",
            query: &[("b", "2"), ("a", "x y")],
            headers: &[("X-B", "  two   words "), ("x-b", "again"), ("Host", "h")],
            payload: b"",
        });
        assert!(
            canonical
                .starts_with("POST\n/\na=x%20y&b=2\nhost:h\nx-b:two words,again\n\nhost;x-b\n"),
            "{canonical}"
        );
        assert_eq!(signed, "host;x-b");
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
    }

    #[test]
    fn credentials_and_endpoint_come_from_the_variables_given() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let e = AwsCredentials::from_vars(&vars(&[("AWS_ACCESS_KEY_ID", "AKIA1")])).unwrap_err();
        assert!(
            e.to_string()
                .contains(": AWS_SECRET_ACCESS_KEY is in neither the")
                && !e.to_string().contains("AKIA1"),
            "{e}"
        );
        let c = AwsCredentials::from_vars(&vars(&[
            ("AWS_ACCESS_KEY_ID", "AKIA1"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-value"),
            ("AWS_SESSION_TOKEN", ""),
        ]))
        .unwrap();
        assert!(c.session_token.is_none());
        assert!(!format!("{c:?}").contains("s3cr3t") && !format!("{c:?}").contains("AKIA1"));
        assert_eq!(
            endpoint("eu-west-1", &vars(&[])),
            "https://tagging.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint(
                "eu-west-1",
                &vars(&[
                    ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
                    ("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API", "")
                ])
            ),
            "http://127.0.0.1:1"
        );
        assert_eq!(
            endpoint(
                "eu-west-1",
                &vars(&[
                    ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
                    (
                        "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API",
                        "http://127.0.0.1:2"
                    )
                ])
            ),
            "http://127.0.0.1:2"
        );
        assert!(TaggingApi::new("ftp://x", "r", c.clone()).is_err());
        let e = TaggingApi::new("http://u:pw-1234@h/", "r", c.clone()).unwrap_err();
        assert!(!e.to_string().contains("pw-1234"), "{e}");
    }

    /// A one-thread HTTP server answering each connection with the next of `answers`; returns
    /// its URL and, per request, its headers (lower-case names) and body.
    #[allow(clippy::type_complexity)]
    fn server(
        answers: Vec<(u16, String)>,
    ) -> (
        String,
        std::thread::JoinHandle<Vec<(BTreeMap<String, String>, String)>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (status, body) in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut headers = BTreeMap::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
                    }
                }
                let length = headers
                    .get("content-length")
                    .map_or(0, |l| l.parse().unwrap());
                let mut request = vec![0; length];
                reader.read_exact(&mut request).unwrap();
                headers.insert(":request-line".into(), line.trim().to_owned());
                seen.push((headers, String::from_utf8(request).unwrap()));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            seen
        });
        (url, handle)
    }

    fn api(url: &str) -> TaggingApi {
        let mut api = TaggingApi::new(
            url,
            "eu-west-1",
            AwsCredentials::new(
                "AKIAEXAMPLE1",
                "very-secret-key",
                Some("the-session-token".into()),
            ),
        )
        .unwrap();
        api.backoff = Duration::from_millis(1);
        api
    }

    #[test]
    fn follows_pagination_with_signed_requests() {
        let (url, seen) = server(vec![
            (
                200,
                r#"{"PaginationToken":"p2","ResourceTagMappingList":[{"ResourceARN":"arn:a","Tags":[{"Key":"k","Value":"v"}]}]}"#.into(),
            ),
            (503, r#"{"__type":"ServiceUnavailable","message":"later"}"#.into()),
            (
                200,
                r#"{"PaginationToken":"","ResourceTagMappingList":[{"ResourceARN":"arn:b","Tags":[]}]}"#.into(),
            ),
        ]);
        let got = api(&url)
            .get_resources("gitops:deployment", "dev/x")
            .unwrap();
        assert_eq!(
            got,
            vec![
                ResourceTags {
                    arn: "arn:a".into(),
                    tags: [("k".to_owned(), "v".to_owned())].into()
                },
                ResourceTags {
                    arn: "arn:b".into(),
                    tags: BTreeMap::new()
                },
            ]
        );
        let seen = seen.join().unwrap();
        assert_eq!(seen.len(), 3);
        let (headers, body) = &seen[0];
        assert_eq!(headers[":request-line"], "POST / HTTP/1.1");
        assert_eq!(headers["content-type"], CONTENT_TYPE);
        assert_eq!(headers["x-amz-target"], TARGET);
        assert_eq!(headers["x-amz-security-token"], "the-session-token");
        assert_eq!(headers["host"], url.trim_start_matches("http://"));
        let auth = &headers["authorization"];
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE1/")
                && auth.contains("/eu-west-1/tagging/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="),
            "{auth}"
        );
        assert_eq!(
            body,
            r#"{"TagFilters":[{"Key":"gitops:deployment","Values":["dev/x"]}],"ResourcesPerPage":100}"#
        );
        assert!(seen[1]
            .1
            .ends_with(r#""ResourcesPerPage":100,"PaginationToken":"p2"}"#));
        assert_eq!(seen[1].1, seen[2].1, "the failed page is asked again");
    }

    #[test]
    fn an_error_names_endpoint_status_and_aws_error_but_no_credential() {
        let (url, seen) = server(vec![(
            400,
            r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token the-session-token included in the request is invalid."}"#.into(),
        )]);
        let e = api(&url)
            .get_resources("gitops:deployment", "dev/x")
            .unwrap_err()
            .to_string();
        seen.join().unwrap();
        assert_eq!(
            e,
            format!(
                "AWS Resource Groups Tagging API {url}/ (eu-west-1): GetResources: HTTP 400: \
                 UnrecognizedClientException: The security token **** included in the request is invalid."
            )
        );
        let (url, seen) = server(vec![
            (429, "slow down".into()),
            (500, "{}".into()),
            (500, "{}".into()),
        ]);
        let e = api(&url).get_resources("k", "v").unwrap_err().to_string();
        seen.join().unwrap();
        assert!(e.ends_with("HTTP 500: {} (after 3 tries)"), "{e}");
    }
}
