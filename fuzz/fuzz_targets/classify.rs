//! Fuzzes the response classifier with arbitrary responses: it must never panic,
//! and what it keeps must stay within the report limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxyhealth_core::{ProbeOutcome, ProbeResponse, ReportLimits, Status, classify};

const CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/html; charset=utf-8"),
    Some("application/problem+json"),
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let flags = data[2];
    let response = ProbeResponse {
        status,
        content_type: CONTENT_TYPES[usize::from(flags % 5)].map(str::to_owned),
        build_version: (flags & 0x08 != 0).then(|| "v2.20.0".to_owned()),
        location: (flags & 0x10 != 0).then(|| String::from_utf8_lossy(&data[3..data.len().min(40)]).into_owned()),
        final_url: String::new(),
        body: data[3..].to_vec(),
        body_error: None,
    };
    let verdict = classify("http://127.0.0.1:1/healthz-report", &ProbeOutcome::Response(response));
    assert_ne!(verdict.status, Status::Unknown);
    assert_ne!(verdict.status, Status::Unregistered);
    let limits = ReportLimits::default();
    let kept = verdict.report.bounded(limits);
    assert!(kept.errors.len() <= limits.max_entries + 1);
    assert!(kept.warnings.len() <= limits.max_entries + 1);
    for entry in kept.errors.iter().chain(&kept.warnings) {
        assert!(entry.len() <= limits.max_entry_bytes + 64);
    }
});
