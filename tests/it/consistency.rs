//! Consistent validation and termination across a three-node cluster
//! (issue 4, "What it must show"; docs/ARCHITECTURE.md invariant 2).
//!
//! * A token revoked on node A is inactive on B and C at once — access
//!   tokens by `jti`, refresh tokens with their whole family and the access
//!   tokens issued from it — in a loop of many tokens with no sleeps.
//! * A node cut off from any quorum answers 503, never a stale `active`; a
//!   follower that missed a revocation while stopped catches up (read-index)
//!   before it answers.
//!
//! Sessions ended on one node are in `logout.rs`; revocations racing
//! hundreds of concurrent introspections are in `linearizable.rs`.

use std::time::{Duration, Instant};

use tessera::clock::now;

use crate::flow::Browser;
use crate::harness::wait::until_some;
use crate::harness::{others, ALICE};
use crate::rp::{introspect, jwt_claims, refresh, revoke, userinfo, Seeded, DEMO, RP};
use crate::session::{demo_tokens, Via};

/// Every token set here has a refresh token.
const SCOPE: &str = "openid offline_access";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_on_one_node_is_seen_at_once_on_every_other_node() {
    let fx = Seeded::start(3, Duration::from_secs(15)).await;
    let (http, on) = (&fx.http, |n: u64| fx.on(n));
    let browser = Browser::new();

    let first = demo_tokens(&browser, http, Via::Login, (on(1), on(2)), SCOPE).await;

    // A live access token: every field of RFC 7662 §2.2 the issue lists.
    let at_claims = jwt_claims(&first.access);
    let v = introspect(http, on(3), DEMO, &first.access).await.active();
    for k in [
        "scope",
        "client_id",
        "username",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "nbf",
        "jti",
        "token_type",
        "sid",
    ] {
        assert!(
            !v[k].is_null(),
            "introspection of a live access token lacks `{k}`: {v}"
        );
    }
    assert_eq!(v["client_id"], "demo", "{v}");
    assert_eq!(v["username"], ALICE.0, "{v}");
    assert_eq!(v["iss"], on(1), "{v}");
    assert_eq!(v["sub"], at_claims["sub"], "{v}");
    assert_eq!(v["jti"], at_claims["jti"], "{v}");
    assert_eq!(v["sid"], at_claims["sid"], "{v}");
    let scopes: Vec<&str> = v["scope"].as_str().unwrap().split(' ').collect();
    assert!(
        scopes.contains(&"openid") && scopes.contains(&"offline_access"),
        "{v}"
    );
    let (exp, iat) = (v["exp"].as_u64().unwrap(), v["iat"].as_u64().unwrap());
    assert!(exp > now() && iat <= now() + 1 && iat < exp, "{v}");
    assert_eq!(
        v["token_type"].as_str().map(str::to_ascii_lowercase),
        Some("bearer".into()),
        "{v}"
    );
    // A live refresh token, on another node.
    let r = introspect(http, on(2), DEMO, first.refresh())
        .await
        .active();
    assert_eq!(
        (r["client_id"].as_str(), r["username"].as_str()),
        (Some("demo"), Some(ALICE.0)),
        "{r}"
    );
    assert_eq!(r["sub"], at_claims["sub"], "{r}");
    // Another client's refresh token is not shown to `rp`.
    introspect(http, on(1), RP, first.refresh())
        .await
        .inactive();

    // `rp` cannot revoke `demo`'s tokens: 200 (RFC 7009 §2.2) and no effect.
    revoke(http, on(2), RP, &first.access).await.ok();
    revoke(http, on(3), RP, first.refresh()).await.ok();
    introspect(http, on(1), DEMO, &first.access).await.active();
    introspect(http, on(2), DEMO, first.refresh())
        .await
        .active();
    userinfo(http, on(3), Some(&first.access)).await.ok();
    // Unknown tokens: 200, as RFC 7009 §2.2 says.
    for (n, t) in [(1, "no-such-token"), (2, "x"), (3, "a.b.c")] {
        revoke(http, on(n), DEMO, t).await.ok();
        introspect(http, on(n), DEMO, t).await.inactive();
    }

    // The loop: revoke on A, then B and C at once, no sleeps.
    let loop_started = Instant::now();
    const ROUNDS: u64 = 42;
    for i in 0..ROUNDS {
        let a = i % 3 + 1;
        let (b, cc) = others(a);
        let t = demo_tokens(&browser, http, Via::Session, (on(b), on(cc)), SCOPE).await;
        match i % 3 {
            // An access token by `jti`.
            0 => {
                let r = revoke(http, on(a), DEMO, &t.access).await;
                assert_eq!(r.ok(), serde_json::json!({}), "{}", r.what);
                let (x, y, u) = tokio::join!(
                    introspect(http, on(b), DEMO, &t.access),
                    introspect(http, on(cc), DEMO, &t.access),
                    userinfo(http, on(cc), Some(&t.access)),
                );
                x.inactive();
                y.inactive();
                u.oauth_error(401, "invalid_token");
                // The refresh token of the grant is not what was revoked.
                introspect(http, on(a), DEMO, t.refresh()).await.active();
            }
            // A refresh token: its family and the access token it came with.
            1 => {
                revoke(http, on(a), DEMO, t.refresh()).await.ok();
                let (g, x, y, z) = tokio::join!(
                    refresh(http, on(b), DEMO, t.refresh()),
                    introspect(http, on(cc), DEMO, &t.access),
                    introspect(http, on(b), DEMO, &t.access),
                    introspect(http, on(cc), DEMO, t.refresh()),
                );
                g.oauth_error(400, "invalid_grant");
                x.inactive();
                y.inactive();
                z.inactive();
            }
            // A rotated family: revoke the newest refresh token; every
            // access token of the family dies, and both refresh tokens.
            _ => {
                let rotated = refresh(http, on(b), DEMO, t.refresh()).await.tokens();
                introspect(http, on(cc), DEMO, &rotated.access)
                    .await
                    .active();
                revoke(http, on(a), DEMO, rotated.refresh()).await.ok();
                let (g1, g2, x0, x1, y0, y1) = tokio::join!(
                    refresh(http, on(cc), DEMO, rotated.refresh()),
                    refresh(http, on(b), DEMO, t.refresh()),
                    introspect(http, on(b), DEMO, &t.access),
                    introspect(http, on(b), DEMO, &rotated.access),
                    introspect(http, on(cc), DEMO, &t.access),
                    introspect(http, on(cc), DEMO, &rotated.access),
                );
                g1.oauth_error(400, "invalid_grant");
                g2.oauth_error(400, "invalid_grant");
                for x in [x0, x1, y0, y1] {
                    x.inactive();
                }
                userinfo(http, on(a), Some(&rotated.access))
                    .await
                    .oauth_error(401, "invalid_token");
            }
        }
    }
    // The first grant was never revoked by anyone allowed to.
    introspect(http, on(3), DEMO, &first.access).await.active();
    eprintln!(
        "revocation loop: {ROUNDS} rounds in {:?} (test {:?})",
        loop_started.elapsed(),
        fx.started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_without_quorum_answers_503_and_a_returning_follower_catches_up() {
    let fx = Seeded::start(3, Duration::from_secs(30)).await;
    let (c, http, on) = (&fx.c, &fx.http, |n: u64| fx.on(n));
    let browser = Browser::new();
    let live = demo_tokens(&browser, http, Via::Login, (on(1), on(1)), SCOPE).await;
    let doomed = demo_tokens(&browser, http, Via::Session, (on(2), on(3)), SCOPE).await;

    let leader = c.leader(1).await;
    let (f, lone) = others(leader);
    // The lone node has verified demo's secret and knows the token is live.
    for token in [&live.access, live.refresh()] {
        introspect(http, on(lone), DEMO, token).await.active();
    }

    // Cut `lone` off from any quorum: stop the leader and the other follower.
    c.signal(leader, libc::SIGSTOP);
    c.signal(f, libc::SIGSTOP);
    let cut = Instant::now();
    for token in [&live.access, live.refresh()] {
        introspect(http, on(lone), DEMO, token).await.unavailable();
    }
    let u = userinfo(http, on(lone), Some(&live.access)).await;
    assert_eq!(u.status, 503, "userinfo without quorum: {}", u.body);
    // A revocation cannot be acknowledged without a quorum.
    let r = revoke(http, on(lone), DEMO, &doomed.access).await;
    assert_ne!(
        r.status, 200,
        "revoke acknowledged without quorum: {}",
        r.body
    );
    eprintln!("partitioned answers took {:?}", cut.elapsed());

    c.signal(leader, libc::SIGCONT);
    c.signal(f, libc::SIGCONT);
    c.wait_all_ready().await;
    // After it rejoins, the lone node answers again, correctly.
    let what = format!("node {lone} to stop answering 503 after rejoining");
    let a = until_some(&what, Duration::from_secs(30), async || {
        let a = introspect(http, on(lone), DEMO, &live.access).await;
        if a.status == 503 {
            return None;
        }
        Some(a)
    })
    .await;
    a.active();

    // The opposite case: a follower misses revocations while stopped and
    // must catch up before its first answer.
    let t_access = demo_tokens(&browser, http, Via::Session, (on(1), on(2)), SCOPE).await;
    let t_refresh = demo_tokens(&browser, http, Via::Session, (on(2), on(3)), SCOPE).await;
    let leader = c.leader(lone).await;
    let (f, _) = others(leader);
    for token in [&t_access.access, &t_refresh.access, t_refresh.refresh()] {
        introspect(http, on(f), DEMO, token).await.active();
    }
    c.signal(f, libc::SIGSTOP);
    revoke(http, on(leader), DEMO, &t_access.access).await.ok();
    revoke(http, on(leader), DEMO, t_refresh.refresh())
        .await
        .ok();
    c.signal(f, libc::SIGCONT);
    let back = Instant::now();
    let (x, y, z, g) = tokio::join!(
        introspect(http, on(f), DEMO, &t_access.access),
        introspect(http, on(f), DEMO, &t_refresh.access),
        introspect(http, on(f), DEMO, t_refresh.refresh()),
        refresh(http, on(f), DEMO, t_refresh.refresh()),
    );
    eprintln!(
        "first answers of the returning follower took {:?}",
        back.elapsed()
    );
    x.inactive();
    y.inactive();
    z.inactive();
    g.oauth_error(400, "invalid_grant");
    // The token never revoked is still live there.
    introspect(http, on(f), DEMO, &live.access).await.active();
    eprintln!("partition test took {:?}", fx.started.elapsed());
}
