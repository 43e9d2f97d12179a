//! Reading a server's `/metrics` page, as the rows that count what a real
//! `proxyhealth serve` did (checks, claims, agents' results) read it.

/// The `/metrics` text of the server at `base`, asked with its admin token.
pub(crate) async fn metrics_text(
    client: &reqwest::Client,
    base: &str,
    admin_token: &str,
) -> anyhow::Result<String> {
    Ok(client
        .get(format!("{base}/metrics"))
        .bearer_auth(admin_token)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}
