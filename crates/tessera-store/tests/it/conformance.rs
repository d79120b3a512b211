//! Behaviour every backend must have.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tessera_store::*;

use crate::fixture::conformance;

conformance!(
    users_crud,
    groups_and_memberships,
    unit_of_work_rolls_back_when_dropped,
    not_before_only_rises,
    rotation_chain_and_reuse_detection,
    rotation_of_expired_and_unknown_tokens,
    concurrent_rotation_has_one_winner_and_revokes_the_family,
    group_commit_rotates_many_and_appends_the_log,
    group_commits_and_units_of_work_write_side_by_side,
    the_group_commit_answers_each_write_its_own,
    revoking_a_users_sessions,
    sessions_remember_where_an_api_saw_them,
    events_fan_out_by_stream_status,
    claim_lease_retry_and_acknowledge,
    claims_are_renewed_and_taken_back_by_their_worker,
    claims_by_delivery_method_and_stream,
    concurrent_claims_are_disjoint,
    received_sets_are_recorded_once,
    dpop_proofs_are_used_once_until_they_expire,
    concurrent_uses_of_a_proof_have_one_first,
    concurrent_reads_of_presented_tokens_answer_each_its_own,
    appending_an_event_wakes_waiting_workers,
    a_wake_before_waiting_is_not_lost,
);

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn new_user(id: &str) -> NewUser {
    NewUser {
        id: id.into(),
        username: format!("{id}@example.com"),
        email: Some(format!("{id}@example.com")),
        display_name: id.to_uppercase(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        created_at: T0,
    }
}

async fn with_users(s: &Arc<dyn Store>, ids: &[&str]) {
    let mut uow = s.begin().await.unwrap();
    for id in ids {
        uow.insert_user(&new_user(id)).await.unwrap();
    }
    uow.commit().await.unwrap();
}

async fn users_crud(s: Arc<dyn Store>) {
    with_users(&s, &["alice", "bob", "carol"]).await;
    let alice = s.user(&"alice".into()).await.unwrap();
    assert_eq!(alice.status, UserStatus::Enabled);
    assert_eq!(alice.risk, RiskLevel::None);
    assert_eq!(alice.created_at, T0);
    assert_eq!(
        s.user_by_username("bob@example.com").await.unwrap().id,
        "bob".into()
    );
    assert!(matches!(
        s.user(&"nobody".into()).await,
        Err(StoreError::NotFound("user"))
    ));
    assert!(matches!(
        s.user_by_username("nobody").await,
        Err(StoreError::NotFound("user"))
    ));

    // A taken username is a conflict, and the failed insert leaves nothing behind.
    let mut uow = s.begin().await.unwrap();
    let mut dup = new_user("alice2");
    dup.username = "alice@example.com".into();
    assert!(matches!(
        uow.insert_user(&dup).await,
        Err(StoreError::Conflict("user"))
    ));
    drop(uow);
    // Usernames compare case-insensitively and NFKC-normalised (hardening item 3): one account
    // whatever the case or width, and another spelling of a taken name is taken.
    for spelling in ["BOB@example.com", " Bob@Example.com ", "ｂｏｂ@example.com"] {
        assert_eq!(
            s.user_by_username(spelling).await.unwrap().id,
            "bob".into(),
            "{spelling}"
        );
    }
    let mut uow = s.begin().await.unwrap();
    let mut dup = new_user("bob2");
    dup.username = "BOB@EXAMPLE.COM".into();
    assert!(matches!(
        uow.insert_user(&dup).await,
        Err(StoreError::Conflict("user"))
    ));
    drop(uow);

    let mut uow = s.begin().await.unwrap();
    let later = T0.plus_ms(5_000);
    let changed = uow
        .update_user(
            &"alice".into(),
            &UserChange {
                status: Some(UserStatus::Disabled),
                risk: Some(RiskLevel::High),
                ..UserChange::default()
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(
        (changed.status, changed.risk, changed.changed_at),
        (UserStatus::Disabled, RiskLevel::High, later)
    );
    assert_eq!(
        changed.password_hash, alice.password_hash,
        "untouched fields stay"
    );
    let cleared = uow
        .update_user(
            &"alice".into(),
            &UserChange {
                password_hash: Some(None),
                ..UserChange::default()
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(cleared.password_hash, None);
    assert_eq!(cleared.status, UserStatus::Disabled);
    uow.commit().await.unwrap();
    assert_eq!(
        s.user(&"alice".into()).await.unwrap().status,
        UserStatus::Disabled
    );
    let mut uow = s.begin().await.unwrap();
    assert!(matches!(
        uow.update_user(&"ghost".into(), &UserChange::default(), later)
            .await,
        Err(StoreError::NotFound("user"))
    ));
    drop(uow);

    let page1 = s.list_users(None, 2).await.unwrap();
    let page2 = s.list_users(Some(&page1[1].id), 2).await.unwrap();
    let ids: Vec<_> = page1.iter().chain(&page2).map(|u| u.id.0.clone()).collect();
    assert_eq!(ids, ["alice", "bob", "carol"]);

    let mut uow = s.begin().await.unwrap();
    uow.delete_user(&"bob".into()).await.unwrap();
    uow.commit().await.unwrap();
    let mut uow = s.begin().await.unwrap();
    assert!(matches!(
        uow.delete_user(&"bob".into()).await,
        Err(StoreError::NotFound("user"))
    ));
    drop(uow);
    assert!(matches!(
        s.user(&"bob".into()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn groups_and_memberships(s: Arc<dyn Store>) {
    with_users(&s, &["alice", "bob"]).await;
    let mut uow = s.begin().await.unwrap();
    for g in ["engineering", "admins"] {
        uow.insert_group(&Group {
            id: g.into(),
            name: g.to_uppercase(),
            created_at: T0,
        })
        .await
        .unwrap();
    }
    assert!(
        uow.add_member(&"engineering".into(), &"alice".into())
            .await
            .unwrap()
    );
    assert!(
        !uow.add_member(&"engineering".into(), &"alice".into())
            .await
            .unwrap(),
        "already a member"
    );
    assert!(uow.add_member(&"admins".into(), &"alice".into()).await.unwrap());
    assert!(
        uow.add_member(&"engineering".into(), &"bob".into())
            .await
            .unwrap()
    );
    uow.commit().await.unwrap();

    // A failed operation poisons the unit of work: nothing of it is written.
    let mut uow = s.begin().await.unwrap();
    uow.add_member(&"admins".into(), &"bob".into()).await.unwrap();
    assert!(matches!(
        uow.add_member(&"engineering".into(), &"ghost".into()).await,
        Err(StoreError::MissingReference("group membership"))
    ));
    assert!(matches!(
        uow.add_member(&"admins".into(), &"bob".into()).await,
        Err(StoreError::Aborted)
    ));
    assert!(matches!(uow.commit().await, Err(StoreError::Aborted)));
    assert_eq!(
        s.groups_of(&"bob".into()).await.unwrap(),
        [GroupId::from("engineering")]
    );

    let mut uow = s.begin().await.unwrap();
    let same_name = Group {
        id: "eng2".into(),
        name: "ENGINEERING".into(),
        created_at: T0,
    };
    let dup = uow.insert_group(&same_name).await;
    assert!(matches!(dup, Err(StoreError::Conflict("group"))), "{dup:?}");
    drop(uow);

    assert_eq!(s.group(&"admins".into()).await.unwrap().name, "ADMINS");
    assert_eq!(
        s.groups_of(&"alice".into()).await.unwrap(),
        ["admins".into(), "engineering".into()]
    );
    assert_eq!(
        s.members_of(&"engineering".into()).await.unwrap(),
        ["alice".into(), "bob".into()]
    );

    let mut uow = s.begin().await.unwrap();
    assert!(
        uow.remove_member(&"admins".into(), &"alice".into())
            .await
            .unwrap()
    );
    assert!(
        !uow.remove_member(&"admins".into(), &"alice".into())
            .await
            .unwrap()
    );
    uow.delete_user(&"bob".into()).await.unwrap();
    uow.commit().await.unwrap();
    assert_eq!(
        s.groups_of(&"alice".into()).await.unwrap(),
        [GroupId::from("engineering")]
    );
    assert_eq!(
        s.members_of(&"engineering".into()).await.unwrap(),
        [UserId::from("alice")],
        "deleting a user removes memberships"
    );

    let names: Vec<String> = s.groups().await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["ADMINS", "ENGINEERING"]);
    let mut uow = s.begin().await.unwrap();
    uow.delete(tessera_store::Table::Groups, "engineering")
        .await
        .unwrap();
    uow.commit().await.unwrap();
    assert!(
        s.groups_of(&"alice".into()).await.unwrap().is_empty(),
        "deleting a group removes its memberships"
    );
    let mut uow = s.begin().await.unwrap();
    assert!(matches!(
        uow.delete(tessera_store::Table::Groups, "engineering").await,
        Err(StoreError::NotFound("group"))
    ));
}

async fn unit_of_work_rolls_back_when_dropped(s: Arc<dyn Store>) {
    stream(&s, "s1", StreamStatus::Enabled).await;
    let mut uow = s.begin().await.unwrap();
    uow.insert_user(&new_user("alice")).await.unwrap();
    uow.append_event(&event("account-disabled", "alice"))
        .await
        .unwrap();
    drop(uow);
    assert!(matches!(
        s.user(&"alice".into()).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.pending(&"s1".into()).await.unwrap(),
        0,
        "no event without its change"
    );

    let mut uow = s.begin().await.unwrap();
    uow.insert_user(&new_user("alice")).await.unwrap();
    uow.append_event(&event("account-enabled", "alice"))
        .await
        .unwrap();
    uow.commit().await.unwrap();
    assert!(s.user(&"alice".into()).await.is_ok());
    assert_eq!(
        s.pending(&"s1".into()).await.unwrap(),
        1,
        "the change and its event together"
    );
}

async fn not_before_only_rises(s: Arc<dyn Store>) {
    assert_eq!(s.not_before(SubjectKind::User, "alice").await.unwrap(), None);
    for (at, want) in [(T0, T0), (T0.plus_ms(10), T0.plus_ms(10)), (T0, T0.plus_ms(10))] {
        let mut uow = s.begin().await.unwrap();
        uow.set_not_before(SubjectKind::User, "alice", at).await.unwrap();
        uow.commit().await.unwrap();
        assert_eq!(
            s.not_before(SubjectKind::User, "alice").await.unwrap(),
            Some(want)
        );
    }
    assert_eq!(
        s.not_before(SubjectKind::Device, "alice").await.unwrap(),
        None,
        "kinds are separate"
    );
}

fn hash(n: u32) -> Vec<u8> {
    let mut h = vec![0u8; 32];
    h[..4].copy_from_slice(&n.to_be_bytes());
    h
}

async fn session(s: &Arc<dyn Store>, user: &str, id: &str, first: u32) -> Family {
    let new = NewSession {
        id: id.into(),
        user_id: user.into(),
        client_id: "desktop-app".into(),
        device_id: Some("laptop-1".into()),
        jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        browser_sid: None,
        created_at: T0,
    };
    let family = NewFamily {
        id: format!("fam-{id}").as_str().into(),
        token_hash: hash(first),
        expires_at: T0.plus_ms(86_400_000),
        grant: serde_json::json!({"scope": "openid"}),
    };
    s.start_session(&new, &family).await.unwrap()
}

fn rotate<'a>(presented: &'a [u8], next: &'a [u8], now: Timestamp) -> Rotate<'a> {
    Rotate {
        presented,
        next,
        now,
        expires_at: now.plus_ms(86_400_000),
    }
}

async fn rotation_chain_and_reuse_detection(s: Arc<dyn Store>) {
    with_users(&s, &["alice"]).await;
    let family = session(&s, "alice", "s1", 0).await;
    assert_eq!(family.generation, 0);
    assert_eq!(
        family.jkt.as_deref(),
        Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
    );
    assert_eq!(family.device_id.as_deref(), Some("laptop-1"));
    assert_eq!(family.grant["scope"], "openid");
    for n in 0..3u32 {
        let now = T0.plus_ms(i64::from(n + 1) * 1000);
        match s.rotate(&rotate(&hash(n), &hash(n + 1), now)).await.unwrap() {
            Rotation::Rotated(f) => {
                assert_eq!(f.generation, i64::from(n + 1));
                assert_eq!(f.rotated_at, now);
                assert_eq!(f.grant["scope"], "openid", "the grant survives rotation");
            }
            other => panic!("rotation {n}: {other:?}"),
        }
    }
    assert_eq!(s.family_by_token(&hash(3)).await.unwrap().generation, 3);
    let newest = s.presented_token(&hash(3), None).await.unwrap().unwrap();
    assert!(newest.current, "the newest token is current");
    assert_eq!(newest.family.id, family.id);
    assert_eq!(
        (
            newest.user_not_before,
            newest.session_not_before,
            newest.device_not_before
        ),
        (None, None, None)
    );
    let old = s.presented_token(&hash(1), None).await.unwrap().unwrap();
    assert!(!old.current, "a rotated-out token is not");
    // The same read brings the user's groups and both "not before" instants.
    let mut uow = s.begin().await.unwrap();
    for g in ["sales", "eng"] {
        uow.insert_group(&Group {
            id: g.into(),
            name: g.into(),
            created_at: T0,
        })
        .await
        .unwrap();
        uow.add_member(&g.into(), &"alice".into()).await.unwrap();
    }
    uow.set_not_before(SubjectKind::User, "alice", Timestamp(5))
        .await
        .unwrap();
    uow.set_not_before(SubjectKind::Session, "s1", Timestamp(7))
        .await
        .unwrap();
    uow.set_not_before(SubjectKind::Device, "laptop-1", Timestamp(9))
        .await
        .unwrap();
    uow.commit().await.unwrap();
    let seen = s.presented_token(&hash(3), None).await.unwrap().unwrap();
    assert_eq!(seen.groups, [GroupId::from("eng"), GroupId::from("sales")]);
    assert_eq!(seen.user_not_before, Some(Timestamp(5)));
    assert_eq!(seen.session_not_before, Some(Timestamp(7)));
    assert_eq!(seen.device_not_before, Some(Timestamp(9)));
    assert!(s.presented_token(b"never issued", None).await.unwrap().is_none());
    // With the key of a request's proof, the same read brings the device registered with it.
    assert!(seen.device.is_none(), "no key, no device");
    let laptop = crate::directory::device("laptop-1", "alice", "jkt-laptop");
    let mut uow = s.begin().await.unwrap();
    uow.insert_device(&laptop).await.unwrap();
    uow.commit().await.unwrap();
    let signed = s
        .presented_token(&hash(3), Some("jkt-laptop"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(signed.device, Some(laptop));
    assert_eq!(signed.user.as_ref().map(|u| u.id.0.as_str()), Some("alice"));
    let unknown_key = s
        .presented_token(&hash(3), Some("jkt-other"))
        .await
        .unwrap()
        .unwrap();
    assert!(unknown_key.device.is_none());
    assert_eq!(
        s.family_by_token(&hash(1)).await.unwrap().id,
        family.id,
        "old tokens still name their family"
    );

    // Presenting an already-rotated token is reuse: the whole family is revoked...
    let reused = s
        .rotate(&rotate(&hash(1), &hash(99), T0.plus_ms(9_000)))
        .await
        .unwrap();
    let Rotation::Reused(f) = reused else {
        panic!("{reused:?}")
    };
    assert_eq!(f.revoked_at, Some(T0.plus_ms(9_000)));
    assert_eq!(f.revoked_reason.as_deref(), Some("refresh token reuse"));
    // ...so even the current token no longer works.
    assert!(matches!(
        s.rotate(&rotate(&hash(3), &hash(100), T0.plus_ms(10_000)))
            .await
            .unwrap(),
        Rotation::Revoked(_)
    ));
    assert!(
        matches!(s.family_by_token(&hash(99)).await, Err(StoreError::NotFound(_))),
        "nothing was issued"
    );
}

async fn rotation_of_expired_and_unknown_tokens(s: Arc<dyn Store>) {
    with_users(&s, &["alice"]).await;
    session(&s, "alice", "s1", 0).await;
    assert_eq!(
        s.rotate(&rotate(&hash(7), &hash(8), T0)).await.unwrap(),
        Rotation::Unknown
    );
    let late = T0.plus_ms(86_400_001);
    assert!(matches!(
        s.rotate(&rotate(&hash(0), &hash(1), late)).await.unwrap(),
        Rotation::Expired(_)
    ));
    assert!(s.revoke_family(&"fam-s1".into(), "admin", T0).await.unwrap());
    assert!(
        !s.revoke_family(&"fam-s1".into(), "admin", T0).await.unwrap(),
        "already revoked"
    );
    let f = s.family_by_token(&hash(0)).await.unwrap();
    assert_eq!(f.revoked_reason.as_deref(), Some("admin"));
}

async fn concurrent_rotation_has_one_winner_and_revokes_the_family(s: Arc<dyn Store>) {
    with_users(&s, &["alice"]).await;
    session(&s, "alice", "s1", 0).await;
    let tasks: Vec<_> = (1..=16u32)
        .map(|n| {
            let s = s.clone();
            tokio::spawn(async move {
                s.rotate(&rotate(&hash(0), &hash(n), T0.plus_ms(1)))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let winners = outcomes
        .iter()
        .filter(|o| matches!(o, Rotation::Rotated(_)))
        .count();
    assert_eq!(winners, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        Rotation::Rotated(_) | Rotation::Reused(_) | Rotation::Revoked(_)
    )));
    assert!(
        s.family_by_token(&hash(0)).await.unwrap().revoked_at.is_some(),
        "a losing use revokes the family"
    );
}

async fn group_commit_rotates_many_and_appends_the_log(s: Arc<dyn Store>) {
    with_users(&s, &["alice", "bob"]).await;
    session(&s, "alice", "a1", 0).await;
    session(&s, "alice", "a2", 10).await;
    session(&s, "bob", "b1", 20).await;
    session(&s, "bob", "b2", 30).await;
    s.revoke_family(&"fam-b2".into(), "admin", T0).await.unwrap();
    let now = T0.plus_ms(1_000);
    let entry = |id: &str| SignInLog {
        id: id.into(),
        at: now,
        user_id: Some("alice".into()),
        client_id: Some("desktop-app".into()),
        ip: "192.0.2.1".into(),
        outcome: "success".into(),
        token_protection: "boundToDevice".into(),
        device_id: None,
        jkt: None,
        error: None,
        details: json!({"stage": "refresh_token"}).into(),
    };
    let (n0, n1, n2, n3, n4, n5) = (hash(1), hash(11), hash(21), hash(31), hash(12), hash(99));
    let (p0, p10, p20, p30) = (hash(0), hash(10), hash(20), hash(30));
    let rotations = [
        rotate(&p0, &n0, now),             // a1: swapped
        rotate(&p10, &n1, now),            // a2: one of these two is swapped,
        rotate(&p10, &n4, now),            // the database picks which
        rotate(&p20, &n2, now),            // b1: swapped
        rotate(&p30, &n3, now),            // b2: revoked
        rotate(b"never issued", &n5, now), // unknown
    ];
    let out = s
        .commit_group(&[entry("l1"), entry("l2")], &rotations)
        .await
        .unwrap();
    let generations: Vec<Option<i64>> = out.iter().map(|f| f.as_ref().map(|f| f.generation)).collect();
    assert_eq!(generations[0], Some(1));
    assert_eq!(generations[3], Some(1));
    assert_eq!(generations[4..], [None, None]);
    assert_eq!(out[0].as_ref().unwrap().id, "fam-a1".into());
    assert_eq!(out[3].as_ref().unwrap().id, "fam-b1".into());
    assert_eq!(out[0].as_ref().unwrap().rotated_at, now);
    let (won, lost) = match (&out[1], &out[2]) {
        (Some(_), None) => (&n1, &n4),
        (None, Some(_)) => (&n4, &n1),
        other => panic!("one use of a token rotates: {other:?}"),
    };
    // The new tokens are current; what was not swapped is left for `rotate` to explain.
    assert!(s.presented_token(&n0, None).await.unwrap().unwrap().current);
    assert!(s.presented_token(&n2, None).await.unwrap().unwrap().current);
    assert!(s.presented_token(won, None).await.unwrap().unwrap().current);
    assert!(s.presented_token(lost, None).await.unwrap().is_none());
    assert!(matches!(
        s.rotate(&rotate(&p10, lost, now)).await.unwrap(),
        Rotation::Reused(_)
    ));
    assert!(matches!(
        s.rotate(&rotate(&hash(30), &n3, now)).await.unwrap(),
        Rotation::Revoked(_)
    ));
    let logged = s
        .sign_ins(&SignInFilter {
            limit: 10,
            ..SignInFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(logged.len(), 2);
    // Nothing but rotations, or nothing but the log, is fine too.
    let again = s.commit_group(&[], &[rotate(&n0, &hash(2), now)]).await.unwrap();
    assert_eq!(again[0].as_ref().map(|f| f.generation), Some(2));
    s.commit_group(&[entry("l3")], &[]).await.unwrap();
    assert!(s.commit_group(&[], &[]).await.unwrap().is_empty());
}

/// The group-commit writer: writes handed over together are committed together and each is
/// answered; one that fails (a log entry whose id is taken) fails alone, not the batch it went
/// in, and a rotation's answer is its own family.
async fn the_group_commit_answers_each_write_its_own(s: Arc<dyn Store>) {
    with_users(&s, &["alice"]).await;
    for n in 0..20 {
        session(&s, "alice", &format!("s{n}"), n * 10).await;
    }
    let now = T0.plus_ms(1_000);
    let entry = |id: &str| SignInLog {
        id: id.into(),
        at: now,
        user_id: Some("alice".into()),
        client_id: Some("desktop-app".into()),
        ip: "192.0.2.1".into(),
        outcome: "success".into(),
        token_protection: "boundToDevice".into(),
        device_id: None,
        jkt: None,
        error: None,
        details: json!({"stage": "refresh_token"}).into(),
    };
    s.append_sign_in(&entry("taken")).await.unwrap();
    let writes = Arc::new(GroupCommit::new(s.clone()));
    // Everything is queued before anything is waited for, so most of it shares batches.
    let mut logged = Vec::new();
    for n in 0..40 {
        logged.push(writes.sign_in(entry(&format!("l{n}"))).await);
        if n == 20 {
            logged.push(writes.sign_in(entry("taken")).await);
        }
    }
    let rotations: Vec<_> = (0..20_u32)
        .map(|n| {
            let writes = writes.clone();
            tokio::spawn(async move {
                let (presented, next) = (hash(n * 10), hash(1_000 + n));
                let family = writes.rotate(&rotate(&presented, &next, now)).await.unwrap();
                (n, family)
            })
        })
        .collect();
    for committed in logged {
        committed.wait().await;
    }
    for rotation in rotations {
        let (n, family) = rotation.await.unwrap();
        let family = family.unwrap_or_else(|| panic!("rotation {n} was not swapped"));
        assert_eq!(
            (family.id.0.as_str(), family.generation),
            (format!("fam-s{n}").as_str(), 1)
        );
    }
    assert!(
        writes
            .rotate(&rotate(b"never issued", &hash(5_000), now))
            .await
            .unwrap()
            .is_none()
    );
    let all = SignInFilter {
        limit: 100,
        ..SignInFilter::default()
    };
    assert_eq!(
        s.sign_ins(&all).await.unwrap().len(),
        41,
        "40 new entries and the one taken before"
    );
}

/// Group commits and units of work of several writes, all at once: each waits its
/// turn at the database's writer and none fails for the other (on SQLite they are two
/// connections that take turns under one lock).
async fn group_commits_and_units_of_work_write_side_by_side(s: Arc<dyn Store>) {
    with_users(&s, &["alice"]).await;
    let mut tasks = Vec::new();
    for n in 0..8_i64 {
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            let s = store;
            for k in 0..20_i64 {
                let mut uow = s.begin().await.unwrap();
                let at = T0.plus_ms(n * 1_000 + k + 1);
                let change = UserChange {
                    display_name: Some(format!("Alice {n}.{k}")),
                    ..UserChange::default()
                };
                uow.update_user(&"alice".into(), &change, at).await.unwrap();
                uow.revoke_user_sessions(&"alice".into(), "side by side", at)
                    .await
                    .unwrap();
                uow.set_not_before(SubjectKind::Session, &format!("session-{n}"), at)
                    .await
                    .unwrap();
                uow.commit().await.unwrap();
            }
        }));
        let store = s.clone();
        tasks.push(tokio::spawn(async move {
            let s = store;
            for k in 0..20_i64 {
                let entry = SignInLog {
                    id: format!("log-{n}-{k}"),
                    at: T0,
                    user_id: Some("alice".into()),
                    client_id: None,
                    ip: "192.0.2.1".into(),
                    outcome: "success".into(),
                    token_protection: "notApplicable".into(),
                    device_id: None,
                    jkt: None,
                    error: None,
                    details: json!({"stage": "refresh_token"}).into(),
                };
                s.commit_group(
                    &[entry],
                    &[rotate(
                        b"never issued",
                        &hash(1_000 + u32::try_from(k).unwrap()),
                        T0,
                    )],
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let logged = s
        .sign_ins(&SignInFilter {
            limit: 1_000,
            ..SignInFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(logged.len(), 160);
    assert_eq!(
        s.not_before(SubjectKind::Session, "session-7").await.unwrap(),
        Some(T0.plus_ms(7_020))
    );
}

async fn revoking_a_users_sessions(s: Arc<dyn Store>) {
    with_users(&s, &["alice", "bob"]).await;
    session(&s, "alice", "a1", 0).await;
    session(&s, "alice", "a2", 10).await;
    session(&s, "bob", "b1", 20).await;
    let mut uow = s.begin().await.unwrap();
    assert_eq!(
        uow.revoke_user_sessions(&"alice".into(), "admin revoked all sessions", T0.plus_ms(5))
            .await
            .unwrap(),
        2
    );
    uow.commit().await.unwrap();
    for h in [0, 10] {
        assert_eq!(
            s.family_by_token(&hash(h)).await.unwrap().revoked_at,
            Some(T0.plus_ms(5))
        );
    }
    assert_eq!(s.family_by_token(&hash(20)).await.unwrap().revoked_at, None);
    assert_eq!(
        s.not_before(SubjectKind::User, "alice").await.unwrap(),
        Some(T0.plus_ms(5))
    );
}

async fn stream(s: &Arc<dyn Store>, id: &str, status: StreamStatus) {
    let mut uow = s.begin().await.unwrap();
    let config = json!({"delivery": {"method": "urn:ietf:rfc:8935"}});
    uow.put_stream(&id.into(), "receiver-1", status, &config, T0)
        .await
        .unwrap();
    uow.commit().await.unwrap();
}

fn event(kind: &str, user: &str) -> NewEvent {
    NewEvent {
        event_type: format!("https://schemas.openid.net/secevent/risc/event-type/{kind}"),
        subject: json!({"format": "opaque", "id": user}),
        payload: json!({"reason": "test"}),
        created_at: T0,
    }
}

async fn append(s: &Arc<dyn Store>, n: usize) -> Vec<EventId> {
    let mut uow = s.begin().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            uow.append_event(&event("account-disabled", &format!("u{i}")))
                .await
                .unwrap(),
        );
    }
    uow.commit().await.unwrap();
    ids
}

async fn events_fan_out_by_stream_status(s: Arc<dyn Store>) {
    stream(&s, "on", StreamStatus::Enabled).await;
    stream(&s, "paused", StreamStatus::Paused).await;
    stream(&s, "off", StreamStatus::Disabled).await;
    let ids = append(&s, 2).await;
    assert!(ids[0] < ids[1]);
    assert_eq!(s.pending(&"on".into()).await.unwrap(), 2);
    assert_eq!(
        s.pending(&"paused".into()).await.unwrap(),
        2,
        "a paused stream keeps events"
    );
    assert_eq!(
        s.pending(&"off".into()).await.unwrap(),
        0,
        "a disabled stream gets none"
    );

    let claimed = s.claim("w", 10, T0, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        claimed.len(),
        2,
        "only the enabled stream's deliveries are claimable"
    );
    assert!(claimed.iter().all(|c| c.stream_id.0 == "on"));
    assert_eq!(
        claimed[0].event_type,
        "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
    );
    assert_eq!(claimed[0].subject, json!({"format": "opaque", "id": "u0"}));
    assert_eq!(claimed[0].payload, json!({"reason": "test"}));

    let mut uow = s.begin().await.unwrap();
    uow.set_stream_status(&"paused".into(), StreamStatus::Enabled, None, T0)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    let resumed = s.claim("w", 10, T0, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        resumed.iter().map(|c| c.event_id).collect::<Vec<_>>(),
        ids,
        "resumed stream gets what it kept"
    );

    let mut uow = s.begin().await.unwrap();
    uow.set_stream_status(&"on".into(), StreamStatus::Disabled, None, T0)
        .await
        .unwrap();
    uow.commit().await.unwrap();
    let mut uow = s.begin().await.unwrap();
    assert!(matches!(
        uow.set_stream_status(&"nope".into(), StreamStatus::Enabled, None, T0)
            .await,
        Err(StoreError::NotFound("stream"))
    ));
    drop(uow);
    assert_eq!(
        s.pending(&"on".into()).await.unwrap(),
        0,
        "disabling drops undelivered events"
    );

    // Operators see the newest events first, with what each stream did with them: "on" and
    // "paused" acknowledged nothing before being disabled (which dropped "on"'s deliveries).
    let recent = s.recent_events(10).await.unwrap();
    assert_eq!(
        recent.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[1], ids[0]]
    );
    assert_eq!(recent[0].subject, r#"{"format":"opaque","id":"u1"}"#);
    assert_eq!((recent[0].delivered, recent[0].pending), (0, 1));
    assert_eq!(s.recent_events(1).await.unwrap().len(), 1);
}

/// Hardening item 14: a worker renews its own claims while it pushes; a restarted node takes
/// back the claims of its earlier workers at once; nobody else's claims move.
async fn claims_are_renewed_and_taken_back_by_their_worker(s: Arc<dyn Store>) {
    stream(&s, "s", StreamStatus::Enabled).await;
    stream(&s, "t", StreamStatus::Enabled).await;
    append(&s, 2).await;
    let lease = Duration::from_secs(30);
    let claimed = s
        .claim_from(ClaimScope::Stream(&"s".into()), "push-node1-aaa", 10, T0, lease)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let other = s
        .claim_from(
            ClaimScope::Stream(&"t".into()),
            "push-node2-bbb",
            10,
            T0,
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    assert_eq!(other.len(), 2);
    // A heartbeat at 20 s holds the claims to 50 s; another worker's name renews nothing.
    assert_eq!(
        s.extend_claims(
            &"s".into(),
            "push-node1-zzz",
            T0.plus_ms(50_000),
            T0.plus_ms(20_000)
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        s.extend_claims(
            &"s".into(),
            "push-node1-aaa",
            T0.plus_ms(50_000),
            T0.plus_ms(20_000)
        )
        .await
        .unwrap(),
        2
    );
    assert!(
        s.claim("x", 10, T0.plus_ms(40_000), lease)
            .await
            .unwrap()
            .is_empty(),
        "renewed"
    );
    // node1 restarts: its claims are free at once; node2's stay.
    assert_eq!(
        s.release_claims("push-node1-", T0.plus_ms(41_000)).await.unwrap(),
        2
    );
    let taken = s.claim("x", 10, T0.plus_ms(41_000), lease).await.unwrap();
    assert_eq!(taken.len(), 2);
    assert!(taken.iter().all(|d| d.stream_id.0 == "s"));
}

async fn claim_lease_retry_and_acknowledge(s: Arc<dyn Store>) {
    stream(&s, "s", StreamStatus::Enabled).await;
    let ids = append(&s, 1).await;
    let lease = Duration::from_secs(30);
    let first = s.claim("w1", 10, T0, lease).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);
    assert!(
        s.claim("w2", 10, T0.plus_ms(29_999), lease)
            .await
            .unwrap()
            .is_empty(),
        "leased to w1"
    );
    // w1 died: after the lease, another worker takes it over.
    let again = s.claim("w2", 10, T0.plus_ms(30_000), lease).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // The push failed: try again later.
    let next = T0.plus_ms(60_000);
    s.retry_later(&"s".into(), ids[0], next, "503 from receiver")
        .await
        .unwrap();
    assert!(
        s.claim("w2", 10, T0.plus_ms(59_999), lease)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let due = s.claim("w2", 10, next, lease).await.unwrap();
    assert_eq!(due[0].attempts, 3);
    assert!(s.acknowledge(&"s".into(), ids[0], next).await.unwrap());
    assert!(
        !s.acknowledge(&"s".into(), ids[0], next).await.unwrap(),
        "acknowledged once"
    );
    assert_eq!(s.pending(&"s".into()).await.unwrap(), 0);
    assert!(
        s.claim("w2", 10, T0.plus_ms(999_999), lease)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_claims_are_disjoint(s: Arc<dyn Store>) {
    stream(&s, "a", StreamStatus::Enabled).await;
    stream(&s, "b", StreamStatus::Enabled).await;
    append(&s, 100).await;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = s
                        .claim(&format!("w{w}"), 7, T0, Duration::from_secs(60))
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        break mine;
                    }
                    for d in batch {
                        s.acknowledge(&d.stream_id, d.event_id, T0).await.unwrap();
                        mine.push((d.stream_id.0, d.event_id.0));
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 200, "every delivery claimed");
    assert_eq!(unique.len(), 200, "none claimed twice");
}

async fn dpop_proofs_are_used_once_until_they_expire(s: Arc<dyn Store>) {
    assert!(s.first_proof_use(b"key-1", T0.plus_ms(60_000)).await.unwrap());
    assert!(
        !s.first_proof_use(b"key-1", T0.plus_ms(60_000)).await.unwrap(),
        "a replay"
    );
    assert!(s.first_proof_use(b"key-2", T0.plus_ms(1_000)).await.unwrap());
    assert_eq!(s.prune_proofs(T0.plus_ms(2_000)).await.unwrap(), 1);
    assert!(
        !s.first_proof_use(b"key-1", T0.plus_ms(60_000)).await.unwrap(),
        "kept until it expires"
    );
}

/// Sixteen proofs each used by eight requests at once (on PostgreSQL they are recorded in
/// batches, where one key can come twice in the same statement): one use of each is the first.
async fn concurrent_uses_of_a_proof_have_one_first(s: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..128u32)
        .map(|n| {
            let s = s.clone();
            let key = format!("proof-{}", n % 16);
            tokio::spawn(async move {
                let first = s
                    .first_proof_use(key.as_bytes(), T0.plus_ms(60_000))
                    .await
                    .unwrap();
                (key, first)
            })
        })
        .collect();
    let mut firsts = std::collections::HashMap::<String, u32>::new();
    for t in tasks {
        let (key, first) = t.await.unwrap();
        *firsts.entry(key).or_default() += u32::from(first);
    }
    assert_eq!(firsts.len(), 16);
    assert!(firsts.values().all(|&n| n == 1), "{firsts:?}");
}

/// Many reads at once, of live, old and unknown tokens, with and without a device's key (on
/// PostgreSQL they are read in batches): each is answered with its own token.
async fn concurrent_reads_of_presented_tokens_answer_each_its_own(s: Arc<dyn Store>) {
    with_users(&s, &["alice"]).await;
    for n in 0..8u32 {
        session(&s, "alice", &format!("s{n}"), n * 10).await;
        s.rotate(&rotate(&hash(n * 10), &hash(n * 10 + 1), T0.plus_ms(1)))
            .await
            .unwrap();
    }
    let laptop = crate::directory::device("laptop-1", "alice", "jkt-laptop");
    let mut uow = s.begin().await.unwrap();
    uow.insert_device(&laptop).await.unwrap();
    uow.commit().await.unwrap();
    let tasks: Vec<_> = (0..96u32)
        .map(|n| {
            let s = s.clone();
            // Sessions 0–7; the first or the current token; every third with the key; every
            // eleventh a token never issued.
            let (session, token) = (n % 8, n / 8 % 2);
            let presented = if n % 11 == 0 {
                hash(999)
            } else {
                hash(session * 10 + token)
            };
            let jkt = (n % 3 == 0).then_some("jkt-laptop");
            tokio::spawn(async move {
                let seen = s.presented_token(&presented, jkt).await.unwrap();
                (n, session, token, jkt.is_some(), seen)
            })
        })
        .collect();
    for t in tasks {
        let (n, session, token, keyed, seen) = t.await.unwrap();
        if n % 11 == 0 {
            assert!(seen.is_none(), "request {n}: never issued");
            continue;
        }
        let seen = seen.unwrap_or_else(|| panic!("request {n}: a token that was issued"));
        assert_eq!(seen.family.id.0, format!("fam-s{session}"), "request {n}");
        assert_eq!(seen.current, token == 1, "request {n}");
        assert_eq!(seen.device.is_some(), keyed, "request {n}");
        assert_eq!(seen.user.map(|u| u.id.0), Some("alice".to_owned()));
    }
}

async fn received_sets_are_recorded_once(s: Arc<dyn Store>) {
    assert!(s.first_receipt("https://api.example", "jti-1", T0).await.unwrap());
    assert!(!s.first_receipt("https://api.example", "jti-1", T0).await.unwrap());
    assert!(
        s.first_receipt("https://other.example", "jti-1", T0)
            .await
            .unwrap(),
        "scoped by issuer"
    );
    assert!(
        s.first_receipt("https://api.example", "jti-2", T0.plus_ms(5))
            .await
            .unwrap()
    );
    let received = s.received_sets(2).await.unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(
        (received[0].jti.as_str(), received[0].received_at),
        ("jti-2", T0.plus_ms(5))
    );
}

async fn appending_an_event_wakes_waiting_workers(s: Arc<dyn Store>) {
    stream(&s, "s", StreamStatus::Enabled).await;
    // Make sure the listener is in place, then wait in the background.
    s.wait_for_events(Duration::from_millis(10)).await.unwrap();
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            s.wait_for_events(Duration::from_secs(60)).await.unwrap();
            started.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    append(&s, 1).await;
    let waited = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("the waiter woke")
        .unwrap();
    assert!(
        waited < Duration::from_secs(30),
        "woken by the append, not the 60 s timeout"
    );
}

async fn a_wake_before_waiting_is_not_lost(s: Arc<dyn Store>) {
    stream(&s, "s", StreamStatus::Enabled).await;
    // A worker that is listening but busy (it found nothing a moment ago) when the event lands.
    s.wait_for_events(Duration::from_millis(10)).await.unwrap();
    append(&s, 1).await;
    let started = std::time::Instant::now();
    s.wait_for_events(Duration::from_secs(60)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the append's wake-up was kept for it"
    );
}

async fn claims_by_delivery_method_and_stream(s: Arc<dyn Store>) {
    stream(&s, "pushed", StreamStatus::Enabled).await;
    let mut uow = s.begin().await.unwrap();
    let poll = json!({"delivery": {"method": "urn:ietf:rfc:8936"}});
    for id in ["polled", "other"] {
        uow.put_stream(&id.into(), "receiver-1", StreamStatus::Enabled, &poll, T0)
            .await
            .unwrap();
    }
    uow.commit().await.unwrap();
    append(&s, 1).await;
    // An event for one stream only: a verification.
    let mut uow = s.begin().await.unwrap();
    let only = uow
        .append_stream_event(&"polled".into(), &event("verification", "polled"))
        .await
        .unwrap();
    uow.commit().await.unwrap();

    let lease = Duration::from_secs(30);
    let pushed = s.claim_from(ClaimScope::Push, "w", 10, T0, lease).await.unwrap();
    assert_eq!(
        pushed.iter().map(|c| c.stream_id.0.as_str()).collect::<Vec<_>>(),
        ["pushed"],
        "the push worker claims only push streams"
    );
    let polled = s
        .claim_from(ClaimScope::Stream(&"polled".into()), "w", 10, T0, lease)
        .await
        .unwrap();
    assert_eq!(polled.len(), 2, "the broadcast event and its own");
    assert!(polled.iter().all(|c| c.stream_id.0 == "polled"));
    assert_eq!(polled[1].event_id, only);
    assert_eq!(
        s.pending(&"other".into()).await.unwrap(),
        1,
        "not the other stream's event"
    );

    // Operators see each stream's backlog and why it is stuck.
    s.retry_later(
        &"pushed".into(),
        pushed[0].event_id,
        T0.plus_ms(1000),
        "the receiver answered 503",
    )
    .await
    .unwrap();
    let health = s.stream_health().await.unwrap();
    let of = |id: &str| health.iter().find(|h| h.stream.id.0 == id).unwrap();
    assert_eq!(
        (of("pushed").pending, of("pushed").last_error.as_deref()),
        (1, Some("the receiver answered 503"))
    );
    assert_eq!(
        (of("polled").pending, of("polled").oldest_pending_at),
        (2, Some(T0))
    );
    assert_eq!(
        (of("other").pending, of("other").last_error.as_deref()),
        (1, None)
    );
    assert_eq!(s.events_created().await.unwrap(), u64::try_from(only.0).unwrap());

    // A batch of acknowledgements is one statement; what was settled already is not counted.
    let batch: Vec<EventId> = polled.iter().map(|c| c.event_id).collect();
    assert_eq!(s.acknowledge_all(&"polled".into(), &batch, T0).await.unwrap(), 2);
    assert_eq!(s.acknowledge_all(&"polled".into(), &batch, T0).await.unwrap(), 0);
    assert_eq!(s.acknowledge_all(&"polled".into(), &[], T0).await.unwrap(), 0);
    assert_eq!(s.pending(&"polled".into()).await.unwrap(), 0);
    assert_eq!(
        s.pending(&"pushed".into()).await.unwrap(),
        1,
        "another stream's are untouched"
    );

    // Pruning takes acknowledged deliveries and events nobody waits for; never a pending one.
    assert!(s.first_receipt("https://peer.example", "j1", T0).await.unwrap());
    let gone = s.prune_outbox(T0.plus_ms(1)).await.unwrap();
    assert_eq!(
        gone,
        2 + 1,
        "polled's two deliveries and the received jti: {gone}"
    );
    assert_eq!(s.pending(&"pushed".into()).await.unwrap(), 1);
    assert_eq!(s.pending(&"other".into()).await.unwrap(), 1);
    assert!(
        s.first_receipt("https://peer.example", "j1", T0).await.unwrap(),
        "forgotten"
    );
    assert_eq!(
        s.prune_outbox(T0.plus_ms(1)).await.unwrap(),
        1,
        "only the jti just recorded"
    );

    // Paused with a reason; deleted with what it had.
    let mut uow = s.begin().await.unwrap();
    uow.set_stream_status(
        &"other".into(),
        StreamStatus::Paused,
        Some("endpoint failing"),
        T0,
    )
    .await
    .unwrap();
    uow.commit().await.unwrap();
    let other = s.stream(&"other".into()).await.unwrap();
    assert_eq!(
        (other.status, other.status_reason.as_deref()),
        (StreamStatus::Paused, Some("endpoint failing"))
    );
    let mut uow = s.begin().await.unwrap();
    uow.delete_stream(&"other".into()).await.unwrap();
    uow.commit().await.unwrap();
    assert!(matches!(
        s.stream(&"other".into()).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.pending(&"other".into()).await.unwrap(), 0);
    let mut uow = s.begin().await.unwrap();
    assert!(matches!(
        uow.delete_stream(&"other".into()).await,
        Err(StoreError::NotFound("stream"))
    ));
    drop(uow);
    // A stream still being pushed to is left out of the next claim.
    stream(&s, "slow", StreamStatus::Enabled).await;
    let mut uow = s.begin().await.unwrap();
    uow.append_event(&event("account-disabled", "u9")).await.unwrap();
    uow.commit().await.unwrap();
    let busy = [StreamId::from("pushed")];
    let others = s
        .claim_from(ClaimScope::PushExcept(&busy), "w", 10, T0, lease)
        .await
        .unwrap();
    assert_eq!(
        others.iter().map(|c| c.stream_id.0.as_str()).collect::<Vec<_>>(),
        ["slow"],
        "not the busy stream's new event"
    );
}

async fn sessions_remember_where_an_api_saw_them(s: Arc<dyn Store>) {
    with_users(&s, &["alice", "bob"]).await;
    session(&s, "alice", "s1", 0).await;
    session(&s, "alice", "s2", 10).await;
    session(&s, "bob", "s3", 20).await;
    let read = |h: u32| {
        let s = s.clone();
        async move {
            s.presented_token(&hash(h), None)
                .await
                .unwrap()
                .unwrap()
                .presented_ip
        }
    };
    assert_eq!(read(0).await, None);
    // One session...
    let s1 = SessionId("s1".into());
    assert_eq!(
        s.mark_presented(&"alice".into(), Some(&s1), "198.51.100.7")
            .await
            .unwrap(),
        1
    );
    assert_eq!(read(0).await.as_deref(), Some("198.51.100.7"));
    assert_eq!(read(10).await, None);
    // ...or, without one, every live session of the user, and no one else's.
    assert_eq!(
        s.mark_presented(&"alice".into(), None, "192.0.2.1")
            .await
            .unwrap(),
        2
    );
    assert_eq!(read(10).await.as_deref(), Some("192.0.2.1"));
    assert_eq!(read(20).await, None);
    // A session of another user is not marked through alice.
    let s3 = SessionId("s3".into());
    assert_eq!(
        s.mark_presented(&"alice".into(), Some(&s3), "192.0.2.1")
            .await
            .unwrap(),
        0
    );
    // Clearing needs the address still there: a newer report survives an older clear.
    s.clear_presented(&s1, "198.51.100.7").await.unwrap();
    assert_eq!(read(0).await.as_deref(), Some("192.0.2.1"));
    s.clear_presented(&s1, "192.0.2.1").await.unwrap();
    assert_eq!(read(0).await, None);
}
