//! The one order of every list of proxies the API answers (the admin list, the
//! refresh answer and `/api/v2/regions`): by name case-insensitively, then exactly.

use proxyhealth_core::Proxy;
use std::cmp::Ordering;

/// The order of every list: by name case-insensitively, then exactly.
pub(crate) fn by_name(a: &Proxy, b: &Proxy) -> Ordering {
    a.name
        .to_lowercase()
        .cmp(&b.name.to_lowercase())
        .then_with(|| a.name.cmp(&b.name))
}
