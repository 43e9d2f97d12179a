//! The exact bytes the simulated proxies send, so tests can compare against them.

/// The build version every proxy-like kind announces in `X-Coder-Build-Version`.
pub const BUILD_VERSION: &str = "v2.20.0";

/// The `Content-Type` of a JSON answer, as Coder's `httpapi.Write` sets it.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The `Content-Type` of an HTML page, as Go's file server sets it.
pub const HTML_CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The report of a healthy proxy: Go encodes its nil slices as `null`.
pub const OK_BODY: &str = r#"{"errors":null,"warnings":null}"#;

/// The report of a healthy proxy whose primary runs another minor version.
pub const WARNINGS_BODY: &str = r#"{"errors":[],"warnings":["version mismatch: primary coderd (v2.21.0) != workspace proxy (v2.20.0)"]}"#;

/// The report of a proxy that cannot reach its primary coderd.
pub const ERRORS_BODY: &str = r#"{"errors":["failed to get build info: Get \"https://primary.example.com/api/v2/buildinfo\": dial tcp: connection refused"],"warnings":null}"#;

/// A Coder error envelope, sent with status 500.
pub const SERVER_ERROR_BODY: &str = r#"{"message":"Internal error fetching health report.","detail":"database is locked","validations":[{"field":"region","detail":"not ready"}]}"#;

/// The page a proxy's NotFound handler serves, with status 400.
pub const BAD_REQUEST_HTML: &str = "<!DOCTYPE html>\n<html>\n<head><title>Workspace Proxy</title></head>\n<body>\n<h1>Application not found</h1>\n<p>This is a workspace proxy; the page you asked for does not exist here.</p>\n<a href=\"https://primary.example.com\">Head to the Dashboard</a>\n</body>\n</html>\n";

/// The single-page-app shell a primary coderd serves for unknown paths, with status 200.
pub const PRIMARY_HTML: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Coder</title></head>\n<body>\n<div id=\"root\"></div>\n<script type=\"module\" src=\"/assets/index.js\"></script>\n</body>\n</html>\n";

/// The body of the plain-text kind (`text/plain`, status 200).
pub const NON_JSON_BODY: &str = "OK";

/// The body of the 404 every kind answers for a path other than `/healthz-report`.
pub const NOT_FOUND_BODY: &str = "404 page not found\n";
