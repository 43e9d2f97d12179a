//! A replica that dies or stalls: a killed replica's proxies are taken over
//! within the documented bound once its leases run out; a replica paused past
//! its lease has its late results rejected (and counted) when it wakes, and no
//! status goes back in time.

use super::harness::{
    Fake, INTERVAL, Lease, Replica, TIMEOUT, TestDb, all_live, eventually, fleet, hits,
    live_leases, logs, replicas, result_ages, runtime_settings, settled, stored_results,
    views_show,
};
use proxyhealth_cluster::metrics::{REJECTED, TAKEOVERS};
use proxyhealth_core::Status;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_proxies_are_checked_again_within_the_take_over_bound() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let settings = runtime_settings(INTERVAL, TIMEOUT);
    // the documented bound: the lease runs out, the next poll claims, the
    // check runs to its timeout, the batch is written; plus one interval for
    // a proxy that was not due yet
    let bound = settings.takeover_bound(TIMEOUT) + INTERVAL;
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    // a check takes half a second, so every replica holds leases most of the time
    let names = ["k0", "k1", "k2", "k3", "k4", "k5"];
    let fakes = fleet(&running[0], &names, Duration::from_millis(500)).await;
    settled(&all, &fakes, Duration::from_secs(15)).await;

    // pick a replica holding leases: pause it, read its leases (so none is
    // written in between), then kill it
    let pool = db.pool().await;
    let (victim, orphans) = eventually(Duration::from_secs(20), "a replica holding leases", || {
        let pool = &pool;
        let running = &running;
        async move {
            let leases = live_leases(pool).await;
            let Some(holder) = leases
                .iter()
                .find_map(|l| running.iter().position(|r| r.pid() == l.pid))
            else {
                return Err(format!("no lease held: {leases:?}"));
            };
            running[holder].signal("STOP");
            let held: Vec<Lease> = live_leases(pool)
                .await
                .into_iter()
                .filter(|l| l.pid == running[holder].pid())
                .collect();
            if held.is_empty() {
                running[holder].signal("CONT");
                return Err("its leases were written before the pause".to_owned());
            }
            running[holder].signal("KILL");
            Ok((holder, held))
        }
    })
    .await
    .0;
    let killed_at = Instant::now();
    let before = hits(&fakes);
    let survivors: Vec<&Replica> = running
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, r)| r)
        .collect();
    let mut takeovers_before = 0.0;
    for replica in &survivors {
        takeovers_before += replica.metric(TAKEOVERS).await;
    }

    // every proxy: when it is requested again, and when a new result is stored
    let mut requested: BTreeMap<Uuid, Duration> = BTreeMap::new();
    let mut stored: BTreeMap<Uuid, Duration> = BTreeMap::new();
    let deadline = bound + Duration::from_secs(10);
    while stored.len() < fakes.len() && killed_at.elapsed() < deadline {
        let now = killed_at.elapsed();
        for (fake, before) in fakes.iter().zip(&before) {
            if fake.hits() > *before {
                requested.entry(fake.id).or_insert(now);
            }
        }
        for (id, age) in result_ages(&pool).await {
            if age < now.as_secs_f64() {
                stored.entry(id).or_insert(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let slowest = stored.values().max().copied().unwrap_or(deadline);
    eprintln!(
        "killed replica {} holding {} lease(s) ({:?} s left); requested again after {:?}; \
         stored again after {:?}; slowest {slowest:?}, bound {bound:?}",
        running[victim].label,
        orphans.len(),
        orphans.iter().map(|l| l.left).collect::<Vec<_>>(),
        requested,
        stored
    );
    assert_eq!(
        stored.len(),
        fakes.len(),
        "not every proxy was checked again within {deadline:?}: {stored:?}\n{}",
        logs(&survivors)
    );
    assert!(
        slowest <= bound,
        "a proxy was checked again only after {slowest:?}, beyond the documented {bound:?}: {stored:?}"
    );
    // the dead replica's leases were honoured until they ran out, then taken over
    for lease in &orphans {
        let again = requested.get(&lease.proxy_id).copied().unwrap_or(deadline);
        assert!(
            again.as_secs_f64() >= lease.left - 0.3,
            "proxy {} was claimed again after {again:?}, before its lease ran out ({} s)",
            lease.proxy_id,
            lease.left
        );
    }
    let orphaned = orphans.len() as f64;
    let (takeovers, _) = eventually(Duration::from_secs(5), "the take-overs counted", || {
        let survivors = &survivors;
        async move {
            let mut sum = 0.0;
            for replica in survivors {
                sum += replica.metric(TAKEOVERS).await;
            }
            let counted = sum - takeovers_before;
            if counted >= orphaned {
                Ok(counted)
            } else {
                Err(format!("{counted} counted"))
            }
        }
    })
    .await;
    let live_bound = settings.live_window() + settings.heartbeat * 2;
    all_live(&survivors, 2, live_bound).await;
    eprintln!("take-overs counted: {takeovers}; the survivors count 2 live");
    drop(running);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_lease_has_its_late_results_rejected_and_no_status_goes_back() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let settings = runtime_settings(INTERVAL, TIMEOUT);
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    // a check of "slow" takes 1.5 s (within the 2 s timeout): a replica that
    // claimed it is caught holding its lease
    let slow = Fake::create(&running[0], "slow", Duration::from_millis(1500)).await;
    let quick = Fake::create(&running[0], "quick", Duration::ZERO).await;
    let fakes = [slow, quick];
    settled(&all, &fakes, Duration::from_secs(15)).await;
    let mut rejected_before = Vec::new();
    for replica in &running {
        rejected_before.push(replica.metric(REJECTED).await);
    }

    // pause the replica checking "slow" while its request is in flight
    let slow = &fakes[0];
    let pool = db.pool().await;
    let (paused, lease) = eventually(Duration::from_secs(20), "a replica checking slow", || {
        let pool = &pool;
        let running = &running;
        async move {
            let holder = live_leases(pool)
                .await
                .into_iter()
                .filter(|l| l.proxy_id == slow.id)
                .find_map(|l| running.iter().position(|r| r.pid() == l.pid));
            let Some(holder) = holder else {
                return Err("nobody holds slow's lease".to_owned());
            };
            if slow.in_flight.load(Ordering::SeqCst) == 0 {
                return Err("no request in flight".to_owned());
            }
            running[holder].signal("STOP");
            let lease = live_leases(pool)
                .await
                .into_iter()
                .find(|l| l.proxy_id == slow.id && l.pid == running[holder].pid());
            match lease {
                Some(lease) if slow.in_flight.load(Ordering::SeqCst) > 0 => Ok((holder, lease)),
                _ => {
                    running[holder].signal("CONT");
                    Err("its check ended before the pause".to_owned())
                }
            }
        }
    })
    .await
    .0;
    let paused_at = Instant::now();
    // from now on "slow" fails: the paused replica's late result says ok
    slow.fail(true);
    let others: Vec<&Replica> = running
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != paused)
        .map(|(_, r)| r)
        .collect();
    let expected = |fake: &Fake| {
        if fake.name == "slow" {
            Status::Unhealthy
        } else {
            Status::Ok
        }
    };
    let took = views_show(
        &others,
        &fakes,
        expected,
        settings.lease + Duration::from_secs(15),
        "the others take slow over and show it unhealthy",
    )
    .await;
    let stored = stored_results(&pool).await;
    let (status, by, generation) = stored[&slow.id].clone();
    assert_eq!(status, "unhealthy");
    assert_ne!(by, lease.replica_id, "the paused replica wrote nothing");
    // stay paused past the lease and the live window
    let past = settings.lease.max(settings.live_window()) + Duration::from_secs(1);
    tokio::time::sleep(past.saturating_sub(paused_at.elapsed())).await;
    let paused_for = paused_at.elapsed();
    running[paused].signal("CONT");
    let resumed_at = Instant::now();

    // its late result is rejected and counted; no status goes back to ok
    let mut rejected = 0.0;
    let mut caught_up: Option<Duration> = None;
    while resumed_at.elapsed() < Duration::from_secs(6) {
        for replica in &others {
            let seen = replica.statuses().await;
            assert_eq!(
                seen.get("slow"),
                Some(&Status::Unhealthy),
                "{} went back in time\n{}",
                replica.label,
                logs(&all)
            );
        }
        let resumed = &running[paused];
        let seen = resumed.statuses().await.get("slow").copied();
        if seen == Some(Status::Unhealthy) {
            caught_up.get_or_insert(resumed_at.elapsed());
        } else if caught_up.is_some() {
            panic!(
                "the resumed replica went back to {seen:?} after showing unhealthy\n{}",
                logs(&all)
            );
        }
        let (status, _, newest) = stored_results(&pool).await[&slow.id].clone();
        assert_eq!(status, "unhealthy", "the stored result went back in time");
        assert!(newest >= generation, "the stored generation went back");
        rejected = resumed.metric(REJECTED).await - rejected_before[paused];
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "paused replica {} for {paused_for:?} (lease {:?} left {:.1} s); the others showed slow \
         unhealthy after {took:?}; after the resume: {rejected} result(s) rejected, its view \
         caught up after {caught_up:?}",
        running[paused].label, settings.lease, lease.left
    );
    assert!(
        rejected >= 1.0,
        "the paused replica's late result was not counted as rejected\n{}",
        running[paused].log()
    );
    assert!(
        caught_up.is_some(),
        "the resumed replica never showed slow unhealthy"
    );
    drop(running);
    db.drop_db().await;
}
