//! The two facts the engine reads from an X.509 certificate's DER itself:
//! that the bytes have a certificate's shape, and when it expires.
//!
//! A reader of the few DER elements on the way to the validity (RFC 5280,
//! section 4.1), not a full parser: rustls and webpki parse and verify every
//! certificate they are given. A full X.509 parser (and its ASN.1 library)
//! cost more of a cold build than all of this.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// DER tags of the elements read.
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT`: the optional version of the to-be-signed certificate.
const VERSION: u8 = 0xa0;

/// Why bytes are not an X.509 certificate: what was wrong where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct NotCertificate(String);

/// The facts read from a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Validity {
    /// `notAfter`: the last moment the certificate is valid.
    pub(crate) not_after: OffsetDateTime,
}

/// Reads `der` as a certificate: its outer shape (the to-be-signed part, the
/// signature algorithm, the signature, nothing after) and the to-be-signed
/// part's fields up to the subject's public key, with the validity's times.
pub(crate) fn read(der: &[u8]) -> Result<Validity, NotCertificate> {
    let mut outer = Reader(der);
    let certificate = outer.expect(SEQUENCE, "the certificate")?;
    outer.end("the certificate")?;
    let mut certificate = Reader(certificate);
    let tbs = certificate.expect(SEQUENCE, "the to-be-signed certificate")?;
    certificate.expect(SEQUENCE, "the signature algorithm")?;
    certificate.expect(BIT_STRING, "the signature")?;
    certificate.end("the signature")?;

    let mut tbs = Reader(tbs);
    if tbs.0.first() == Some(&VERSION) {
        tbs.element("the version")?;
    }
    tbs.expect(INTEGER, "the serial number")?;
    tbs.expect(
        SEQUENCE,
        "the signature algorithm of the to-be-signed certificate",
    )?;
    tbs.expect(SEQUENCE, "the issuer")?;
    let validity = tbs.expect(SEQUENCE, "the validity")?;
    tbs.expect(SEQUENCE, "the subject")?;
    tbs.expect(SEQUENCE, "the subject's public key")?;

    let mut validity = Reader(validity);
    let (tag, not_before) = validity.element("notBefore")?;
    moment(tag, not_before, "notBefore")?;
    let (tag, not_after) = validity.element("notAfter")?;
    let not_after = moment(tag, not_after, "notAfter")?;
    validity.end("the validity")?;
    Ok(Validity { not_after })
}

/// DER elements one after the other in a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The next element's tag and content; `what` names it in errors.
    fn element(&mut self, what: &str) -> Result<(u8, &'a [u8]), NotCertificate> {
        let truncated = || NotCertificate(format!("{what} is cut short"));
        let [tag, first, rest @ ..] = self.0 else {
            return Err(truncated());
        };
        let (length, rest) = if *first < 0x80 {
            (usize::from(*first), rest)
        } else {
            // long form: the next `first & 0x7f` bytes hold the length; four
            // cover any certificate, and zero is BER's indefinite length
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err(NotCertificate(format!("{what} has an invalid DER length")));
            }
            let (digits, rest) = rest.split_at(count);
            let length = digits
                .iter()
                .fold(0usize, |length, digit| (length << 8) | usize::from(*digit));
            (length, rest)
        };
        if rest.len() < length {
            return Err(truncated());
        }
        let (content, after) = rest.split_at(length);
        self.0 = after;
        Ok((*tag, content))
    }

    /// The next element's content, which must have `tag`.
    fn expect(&mut self, tag: u8, what: &str) -> Result<&'a [u8], NotCertificate> {
        match self.element(what)? {
            (found, content) if found == tag => Ok(content),
            (found, _) => Err(NotCertificate(format!(
                "{what} has DER tag {found:#04x}, not {tag:#04x}"
            ))),
        }
    }

    /// Nothing may follow `what`.
    fn end(&self, what: &str) -> Result<(), NotCertificate> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(NotCertificate(format!(
                "{} bytes follow {what}",
                self.0.len()
            )))
        }
    }
}

/// A validity time: UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or
/// GeneralizedTime (`YYYYMMDDHHMMSSZ`), the two forms RFC 5280 allows.
fn moment(tag: u8, text: &[u8], what: &str) -> Result<OffsetDateTime, NotCertificate> {
    let invalid = || NotCertificate(format!("{what} is not a valid time"));
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let short = number(&text[..2]).ok_or_else(invalid)?;
            (
                if short < 50 {
                    2000 + short
                } else {
                    1900 + short
                },
                &text[2..],
            )
        }
        (GENERALIZED_TIME, 15) => (number(&text[..4]).ok_or_else(invalid)?, &text[4..]),
        _ => return Err(invalid()),
    };
    let [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map(|at| number(&rest[at..at + 2]));
    if rest[10] != b'Z' {
        return Err(invalid());
    }
    let field = |value: Option<u16>| value.and_then(|value| u8::try_from(value).ok());
    let month = field(month)
        .and_then(|month| Month::try_from(month).ok())
        .ok_or_else(invalid)?;
    let date = Date::from_calendar_date(i32::from(year), month, field(day).ok_or_else(invalid)?)
        .map_err(|_| invalid())?;
    let time = Time::from_hms(
        field(hour).ok_or_else(invalid)?,
        field(minute).ok_or_else(invalid)?,
        field(second).ok_or_else(invalid)?,
    )
    .map_err(|_| invalid())?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// ASCII decimal digits as a number; `None` for anything else.
fn number(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |value, digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u16::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn certificate_valid(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["proxy.test".to_owned()])
            .expect("certificate parameters");
        params.not_before = not_before;
        params.not_after = not_after;
        let key = rcgen::KeyPair::generate().expect("a key pair");
        params
            .self_signed(&key)
            .expect("a self-signed certificate")
            .der()
            .to_vec()
    }

    #[test]
    fn a_certificate_ending_before_2050_gives_its_utc_time_not_after() {
        let der = certificate_valid(
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-03-04 05:06:07 UTC),
        );
        assert_eq!(
            read(&der).map(|validity| validity.not_after),
            Ok(datetime!(2027-03-04 05:06:07 UTC))
        );
    }

    #[test]
    fn a_certificate_ending_after_2049_gives_its_generalized_time_not_after() {
        let der = certificate_valid(
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2101-12-31 23:59:59 UTC),
        );
        assert_eq!(
            read(&der).map(|validity| validity.not_after),
            Ok(datetime!(2101-12-31 23:59:59 UTC))
        );
    }

    #[test]
    fn a_certificate_cut_short_is_refused() {
        let der = certificate_valid(
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        assert_eq!(
            read(&der[..der.len() - 1]),
            Err(NotCertificate("the certificate is cut short".to_owned()))
        );
    }

    #[test]
    fn bytes_after_the_certificate_are_refused() {
        let mut der = certificate_valid(
            datetime!(2026-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        );
        der.push(0);
        assert_eq!(
            read(&der),
            Err(NotCertificate("1 bytes follow the certificate".to_owned()))
        );
    }

    #[test]
    fn an_element_that_is_not_a_sequence_is_refused() {
        // an empty OCTET STRING
        assert_eq!(
            read(&[0x04, 0x00]),
            Err(NotCertificate(
                "the certificate has DER tag 0x04, not 0x30".to_owned()
            ))
        );
    }

    #[test]
    fn text_that_is_not_der_is_refused() {
        assert_eq!(
            read(b"hello world"),
            Err(NotCertificate("the certificate is cut short".to_owned()))
        );
    }
}
