//! Deterministic loopback addresses for fleet members: 127.1.0.1, 127.1.0.2, …

use std::net::Ipv4Addr;

/// Usable last octets per /24 (1 to 254: `.0` and `.255` are skipped).
const PER_BLOCK: usize = 254;

/// The most proxies a fleet can address (127.1.0.1 up to 127.255.255.254).
pub const MAX_FLEET: usize = PER_BLOCK * 256 * 255;

/// The loopback address of the fleet member with global number `index`, counting from
/// 127.1.0.1 and skipping `.0` and `.255` in the last octet; `None` past [`MAX_FLEET`].
///
/// The whole of 127.0.0.0/8 reaches the loopback interface on Linux, so nothing has to
/// be configured; other systems (macOS) only answer on addresses added to `lo0`.
pub fn fleet_ip(index: usize) -> Option<Ipv4Addr> {
    if index >= MAX_FLEET {
        return None;
    }
    let last = index % PER_BLOCK + 1;
    let block = index / PER_BLOCK;
    let third = block % 256;
    let second = block / 256 + 1;
    Some(Ipv4Addr::new(
        127,
        u8::try_from(second).ok()?,
        u8::try_from(third).ok()?,
        u8::try_from(last).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_up_from_127_1_0_1_skipping_0_and_255() {
        assert_eq!(fleet_ip(0), Some(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(fleet_ip(253), Some(Ipv4Addr::new(127, 1, 0, 254)));
        assert_eq!(fleet_ip(254), Some(Ipv4Addr::new(127, 1, 1, 1)));
        assert_eq!(fleet_ip(254 * 256), Some(Ipv4Addr::new(127, 2, 0, 1)));
        assert_eq!(
            fleet_ip(MAX_FLEET - 1),
            Some(Ipv4Addr::new(127, 255, 255, 254))
        );
        assert_eq!(fleet_ip(MAX_FLEET), None);
    }

    #[test]
    fn the_first_ten_thousand_addresses_are_distinct() {
        let set: std::collections::HashSet<_> = (0..10_000).filter_map(fleet_ip).collect();
        assert_eq!(set.len(), 10_000);
    }
}
