//! What a check keeps of the certificate a proxy presented: its expiry.

use crate::x509;
use time::OffsetDateTime;

/// When the certificate `der` expires, if it reads as X.509.
pub(crate) fn not_after(der: &[u8]) -> Option<OffsetDateTime> {
    x509::read(der).ok().map(|validity| validity.not_after)
}
