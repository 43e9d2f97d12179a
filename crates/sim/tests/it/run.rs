//! `run_sim`, the entry point of `proxyhealth sim`.

use proxyhealth_sim::{Mix, Shard, SimArgs, run_sim};
use std::time::Duration;

#[tokio::test]
async fn run_sim_writes_the_targets_of_its_shard_and_keeps_serving() {
    let dir = std::env::temp_dir().join(format!("sim-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let targets = dir.join("targets.tsv");
    let urls = dir.join("urls.txt");
    let args = SimArgs {
        count: 200,
        mix: Mix::BadDay,
        slow: Duration::from_millis(100),
        shard: Shard { index: 1, count: 2 },
        targets: targets.clone(),
        url_list: Some(urls.clone()),
        ..SimArgs::default()
    };
    let running = tokio::spawn(run_sim(args));
    let text = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(text) = std::fs::read_to_string(&targets)
                && text.lines().filter(|l| !l.starts_with('#')).count() == 100
                && urls.exists()
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("targets written");
    let first_ok = text
        .lines()
        .find(|l| l.ends_with("\tok\tok"))
        .and_then(|l| l.split('\t').next())
        .and_then(|url| url.strip_prefix("http://"))
        .expect("an ok proxy");
    let addr = first_ok.parse().expect("socket address");
    let answer = crate::client::get(addr, "/healthz-report")
        .await
        .expect("served");
    assert_eq!(answer.status, 200);
    assert!(!running.is_finished(), "run_sim serves until Ctrl-C");
    running.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
