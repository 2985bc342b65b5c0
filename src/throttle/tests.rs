//! Behaviour of [`super::Throttle`] on a simulated clock, and of
//! [`super::HashPermits`].

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn an_account_is_slowed_after_its_limit_with_doubling_delays() {
    let t = Throttle::new(ThrottleSettings::default());
    let t0 = Instant::now();
    // Each guess from another address: only the account counter matters.
    for n in 0..4 {
        assert_eq!(t.record_failure("alice", ip(n), t0), None);
        assert_eq!(t.check("alice", ip(99), t0), Ok(()));
    }
    assert_eq!(
        t.record_failure("alice", ip(4), t0),
        Some(RetryAfter(secs(1)))
    );
    assert_eq!(t.check("alice", ip(99), t0), Err(RetryAfter(secs(1))));
    assert_eq!(
        t.check("bob", ip(99), t0),
        Ok(()),
        "other accounts are untouched"
    );
    let mut now = t0;
    for (n, expect) in [2, 4, 8, 16, 30, 30].into_iter().enumerate() {
        now += secs(30);
        assert_eq!(t.check("alice", ip(99), now), Ok(()));
        let got = t.record_failure("alice", ip(10 + n as u32), now);
        assert_eq!(got, Some(RetryAfter(secs(expect))));
    }
}

#[test]
fn thirty_wrong_passwords_are_throttled_and_the_owner_gets_in_within_a_minute() {
    let t = Throttle::new(ThrottleSettings::default());
    let (me, t0) = (ip(1), Instant::now());
    let mut now = t0;
    let mut refused = 0;
    for _ in 0..30 {
        match t.check("alice", me, now) {
            Ok(()) => {
                t.record_failure("alice", me, now);
            }
            Err(_) => refused += 1,
        }
        now += Duration::from_millis(100);
    }
    assert!(refused >= 20, "only {refused} of 30 guesses were refused");
    let last = now;
    while t.check("alice", me, now).is_err() {
        now += Duration::from_millis(100);
    }
    assert!(now - last < secs(60), "the owner waited {:?}", now - last);
    t.record_success("alice");
    assert_eq!(t.check("alice", me, now), Ok(()));
    // The success cleared the account: the owner's next typo is not punished.
    assert_eq!(t.record_failure("alice", me, now), None);
}

#[test]
fn a_long_distributed_attack_never_locks_the_owner_out_for_more_than_max_delay() {
    let s = ThrottleSettings::default();
    let t = Throttle::new(s.clone());
    let t0 = Instant::now();
    let mut counted = 0;
    // Two hours of one guess per second, each from a fresh address.
    for sec in 0..7200u32 {
        let now = t0 + secs(u64::from(sec));
        if let Err(RetryAfter(wait)) = t.check("alice", ip(sec), now) {
            assert!(wait <= s.max_delay, "blocked for {wait:?}");
            continue;
        }
        counted += 1;
        if let Some(RetryAfter(wait)) = t.record_failure("alice", ip(sec), now) {
            assert!(wait <= s.max_delay, "blocked for {wait:?}");
        }
    }
    // About one guess per max_delay got through instead of 7200.
    assert!(
        (200..300).contains(&counted),
        "{counted} guesses were tried"
    );
}

#[test]
fn an_address_spraying_many_accounts_is_slowed_after_its_limit() {
    let t = Throttle::new(ThrottleSettings::default());
    let (sprayer, now) = (ip(7), Instant::now());
    for n in 0..19 {
        assert_eq!(t.record_failure(&format!("user{n}"), sprayer, now), None);
    }
    assert_eq!(
        t.record_failure("user19", sprayer, now),
        Some(RetryAfter(secs(1)))
    );
    assert_eq!(
        t.check("someone-else", sprayer, now),
        Err(RetryAfter(secs(1)))
    );
    assert_eq!(t.check("someone-else", ip(8), now), Ok(()));
}

#[test]
fn a_success_clears_the_account_but_not_the_address() {
    let t = Throttle::new(ThrottleSettings {
        account_limit: 2,
        address_limit: 3,
        ..ThrottleSettings::default()
    });
    let (a, now) = (ip(1), Instant::now());
    t.record_failure("alice", a, now);
    t.record_success("alice");
    assert_eq!(
        t.record_failure("alice", a, now),
        None,
        "account count restarted"
    );
    // The address has two failures; a third (any account) reaches its limit.
    assert!(t.record_failure("mallory", a, now).is_some());
}

#[test]
fn the_window_slides() {
    let t = Throttle::new(ThrottleSettings::default());
    let t0 = Instant::now();
    for n in 0..5 {
        t.record_failure("alice", ip(n), t0);
    }
    // 16 min later 14/15 of the 5 old failures still count: 4 + 1 = 5.
    assert!(t
        .record_failure("alice", ip(5), t0 + secs(16 * 60))
        .is_some());
    let u = Throttle::new(ThrottleSettings::default());
    for n in 0..5 {
        u.record_failure("alice", ip(n), t0);
    }
    // 22.5 min later half of them count: 2 + 1 = 3, under the limit.
    assert_eq!(u.record_failure("alice", ip(5), t0 + secs(1350)), None);
    // Two quiet windows later they are all forgotten.
    for n in 0..4 {
        assert_eq!(u.record_failure("alice", ip(n), t0 + secs(3600)), None);
    }
}

#[test]
fn memory_is_bounded_and_the_least_recent_key_goes_first() {
    let t = Throttle::new(ThrottleSettings {
        account_limit: 1,
        address_limit: 1,
        max_entries: 3,
        ..ThrottleSettings::default()
    });
    let now = Instant::now();
    for n in 0..10 {
        t.record_failure(&format!("user{n}"), ip(n), now);
    }
    assert_eq!(t.sizes(), (3, 3));
    assert!(t.check("user9", ip(50), now).is_err(), "the newest is kept");
    assert_eq!(t.check("user0", ip(50), now), Ok(()), "the oldest went");
    let long = "x".repeat(1 << 20);
    t.record_failure(&long, ip(60), now);
    assert!(t.check(&long, ip(61), now).is_err());
    assert_eq!(t.sizes(), (3, 3));
}

#[test]
fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
    let t = Throttle::new(ThrottleSettings {
        address_limit: 2,
        ..ThrottleSettings::default()
    });
    let now = Instant::now();
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(t.record_failure("a", v6("2001:db8:1:2::1"), now), None);
    assert!(t
        .record_failure("b", v6("2001:db8:1:2:ffff::9"), now)
        .is_some());
    assert_eq!(t.check("c", v6("2001:db8:1:3::1"), now), Ok(()));
    assert_eq!(t.record_failure("d", v6("::ffff:10.0.0.1"), now), None);
    assert!(t.check("e", ip(1), now).is_ok());
    assert!(t.record_failure("e", ip(1), now).is_some());
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    let cases = [(0, 1), (200, 1), (1000, 1), (1500, 2), (30_000, 30)];
    for (ms, s) in cases {
        assert_eq!(RetryAfter(Duration::from_millis(ms)).secs(), s, "{ms} ms");
    }
}

#[tokio::test]
async fn hash_permits_refuse_at_once_when_all_are_taken() {
    let permits = HashPermits::new(2);
    let a = permits.try_acquire().unwrap();
    let b = permits.clone().try_acquire().unwrap();
    assert_eq!(permits.available(), 0);
    assert_eq!(permits.try_acquire().err(), Some(Busy));
    drop(a);
    let c = permits.try_acquire().unwrap();
    // A permit held across an await frees its place when the task ends.
    let task = tokio::spawn(async move {
        tokio::task::yield_now().await;
        drop(b);
    });
    task.await.unwrap();
    assert_eq!(permits.available(), 1);
    drop(c);
    assert_eq!(permits.available(), 2);
    assert_eq!(HashPermits::new(0).available(), 1, "never a pool of zero");
}

#[test]
fn only_a_loopback_peer_may_name_the_client_address() {
    let a = |s: &str| s.parse::<IpAddr>().unwrap();
    let xff = Some("203.0.113.7, 10.0.0.1");
    assert_eq!(source_address(Some(a("127.0.0.1")), xff), a("203.0.113.7"));
    assert_eq!(source_address(Some(a("::1")), xff), a("203.0.113.7"));
    assert_eq!(
        source_address(Some(a("198.51.100.2")), xff),
        a("198.51.100.2")
    );
    assert_eq!(
        source_address(Some(a("127.0.0.1")), Some("junk")),
        a("127.0.0.1")
    );
    assert_eq!(source_address(Some(a("127.0.0.1")), None), a("127.0.0.1"));
    assert_eq!(source_address(None, xff), a("0.0.0.0"));
}
