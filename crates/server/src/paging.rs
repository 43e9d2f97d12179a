//! The paging parameters the list routes share (`limit`, `offset`), read and
//! refused one way: the parameter named, its value quoted, the range said.

use crate::error::ApiError;

/// `limit` as given (`default` when absent): a whole number from 1 to `max`.
pub(crate) fn limit(given: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(value) = given else {
        return Ok(default);
    };
    value
        .parse::<usize>()
        .ok()
        .filter(|limit| (1..=max).contains(limit))
        .ok_or_else(|| {
            ApiError::invalid_param(
                "limit",
                format!("invalid limit {value:?}: expected a whole number from 1 to {max}"),
            )
        })
}

/// `offset` as given (0 when absent): a whole number from 0.
pub(crate) fn offset(given: Option<&str>) -> Result<usize, ApiError> {
    let Some(value) = given else {
        return Ok(0);
    };
    value.parse::<usize>().map_err(|_| {
        ApiError::invalid_param(
            "offset",
            format!("invalid offset {value:?}: expected a whole number from 0"),
        )
    })
}
