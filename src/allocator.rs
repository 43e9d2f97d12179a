//! Options of the binary's allocator, mimalloc (`src/main.rs`), that a
//! command sets for itself.

use libmimalloc_sys::{mi_option_set_default, mi_option_t};

/// mimalloc's `mi_option_purge_delay`: how long, in milliseconds, freed
/// memory waits before it is returned to the system (1,000 by default).
/// `libmimalloc-sys` names no constant for it; this is its place in the
/// `mi_option_t` enum of the mimalloc v3 it builds (`include/mimalloc.h`),
/// which `purge_delay_is_the_option_that_defaults_to_a_second` checks.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Makes mimalloc return the memory it frees to the system at once instead
/// of a second later, unless `MIMALLOC_PURGE_DELAY` says otherwise. For a
/// one-shot command (`check`) the peak is what operators see, and a sweep of
/// 10,000 proxies ends in under a second: with the default delay nothing it
/// frees is returned before it ends, so its peak is everything it has ever
/// allocated. Long-running commands keep the delay, which spares them
/// returning pages they would soon take again.
///
/// Call it before any other thread starts: mimalloc's options are plain
/// variables, not atomics.
#[allow(
    unsafe_code,
    reason = "mimalloc's options are set through its C interface"
)]
pub(crate) fn purge_freed_memory_at_once() {
    // SAFETY: `mi_option_set_default` stores two integers in mimalloc's table
    // of options (ignoring an option out of its range) and takes no pointer;
    // the caller runs it while the process has a single thread, so no
    // allocation reads the option as it is written.
    unsafe { mi_option_set_default(MI_OPTION_PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(
        unsafe_code,
        reason = "reads mimalloc's options through its C interface"
    )]
    fn purge_delay_is_the_option_that_defaults_to_a_second() {
        // SAFETY: `mi_option_get` reads an integer from mimalloc's table of
        // options; no other test sets an option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // 1,000 ms is the default of the purge delay alone among the
            // options: the index is the purge delay's.
            assert_eq!(get(), 1000);
        }
        purge_freed_memory_at_once();
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 0);
        }
    }
}
