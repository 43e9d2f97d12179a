//! What a check keeps of the certificate a proxy presented: its expiry.

use time::OffsetDateTime;

/// When the certificate `der` expires, if it parses as X.509.
pub(crate) fn not_after(der: &[u8]) -> Option<OffsetDateTime> {
    let (_rest, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(certificate.validity().not_after.to_datetime())
}
