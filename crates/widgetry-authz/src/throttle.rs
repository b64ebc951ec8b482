//! Lockouts and slow-downs for guesses: passwords, second-factor codes, e-mailed sign-in
//! codes. One policy, used by the authorization server's sign-in pages and by the sign-in
//! widget, over any store that has atomic counters ([`Counters`]).
//!
//! The rules, per kind of guess (a password and a second factor count apart, so knowing
//! the password buys no extra code guesses):
//! - **Per (account, address) pair** — [`ThrottleRules::pair_failures`] failures in
//!   [`ThrottleRules::window`], then a lockout of that pair alone, growing from
//!   [`ThrottleRules::first_lockout`] and doubling with each lockout within
//!   [`ThrottleRules::strike_memory`] up to [`ThrottleRules::max_lockout`]. Someone guessing
//!   from another network does not lock the owner out.
//! - **Per account and per address, across pairs** — after
//!   [`ThrottleRules::account_ceiling`] (or [`ThrottleRules::address_ceiling`]) guesses in a
//!   window, guesses from pairs that never signed in are slowed to one per
//!   [`ThrottleRules::slow_interval`] (never locked): a guesser spreading over many
//!   addresses, or spraying many accounts from one, is slowed down, while an address the
//!   account has signed in from before ("known", for [`ThrottleRules::known_for`]) passes
//!   untouched. So a ceiling cannot be used to lock a victim out.
//!
//! Every check counts first and then decides on the value the store returned from its
//! atomic add, so parallel guesses cannot slip in between a check and its count: of a burst
//! of 50 wrong passwords, exactly [`ThrottleRules::pair_failures`] are checked. Keys hold
//! hashes, never account names or addresses.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::store::{AuthzStore, BoxFuture, StoreResult};

/// Atomic counters with a fixed expiry, as the throttle needs them. Implemented for the
/// authorization store ([`StoreCounters`]) and by `widgetry` for its key-value stores.
pub trait Counters: Send + Sync + 'static {
    /// The live value at `key`.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<i64>>>;
    /// Atomically adds `by` and returns the new value; a missing or expired counter starts
    /// at 0 and lives for `ttl`, a live one keeps its expiry.
    fn add<'a>(&'a self, key: &'a str, by: i64, ttl: Duration) -> BoxFuture<'a, StoreResult<i64>>;
    /// Sets `key` to `value` for `ttl`.
    fn set<'a>(&'a self, key: &'a str, value: i64, ttl: Duration)
        -> BoxFuture<'a, StoreResult<()>>;
    /// Removes `key`.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>>;
}

/// [`Counters`] in an [`AuthzStore`].
#[derive(Clone)]
pub struct StoreCounters(pub Arc<dyn AuthzStore>);

impl std::fmt::Debug for StoreCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCounters")
    }
}

fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX / 2)
}

impl Counters for StoreCounters {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        self.0.counter(key, crate::now())
    }

    fn add<'a>(&'a self, key: &'a str, by: i64, ttl: Duration) -> BoxFuture<'a, StoreResult<i64>> {
        let now = crate::now();
        self.0.add_to_counter(key, by, now, now + ttl_secs(ttl))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.0.set_counter(key, value, crate::now() + ttl_secs(ttl))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        self.0.delete_counter(key)
    }
}

/// The numbers of the throttle (see the module documentation for how they combine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRules {
    /// Failures of one (account, address) pair in a window before it is locked (default 5).
    pub pair_failures: u32,
    /// The window in which failures and ceiling guesses are counted (default 15 minutes).
    pub window: Duration,
    /// The first lockout of a pair (default 1 minute); each further one within
    /// `strike_memory` doubles it.
    pub first_lockout: Duration,
    /// The longest lockout of a pair (default 15 minutes).
    pub max_lockout: Duration,
    /// How long a pair's lockouts are remembered for the doubling (default 24 hours).
    pub strike_memory: Duration,
    /// Guesses per account in a window, from pairs not known, before those are slowed
    /// (default 30).
    pub account_ceiling: u32,
    /// Guesses per address in a window, for accounts it is not known for, before those are
    /// slowed (default 100).
    pub address_ceiling: u32,
    /// Past a ceiling: one guess per this interval (default 10 seconds).
    pub slow_interval: Duration,
    /// How long a pair that signed in is known (default 30 days).
    pub known_for: Duration,
}

impl Default for ThrottleRules {
    fn default() -> Self {
        Self {
            pair_failures: 5,
            window: Duration::from_secs(15 * 60),
            first_lockout: Duration::from_secs(60),
            max_lockout: Duration::from_secs(15 * 60),
            strike_memory: Duration::from_secs(24 * 3600),
            account_ceiling: 30,
            address_ceiling: 100,
            slow_interval: Duration::from_secs(10),
            known_for: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl ThrottleRules {
    /// Checks the numbers; the message names the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.pair_failures == 0 || self.account_ceiling == 0 || self.address_ceiling == 0 {
            return Err(
                "pair_failures, account_ceiling and address_ceiling must be at least 1".into(),
            );
        }
        for (name, d) in [
            ("window", self.window),
            ("first_lockout", self.first_lockout),
            ("max_lockout", self.max_lockout),
            ("strike_memory", self.strike_memory),
            ("slow_interval", self.slow_interval),
            ("known_for", self.known_for),
        ] {
            if d.as_secs() == 0 {
                return Err(format!("{name} must be at least one second"));
            }
        }
        if self.first_lockout > self.max_lockout {
            return Err("first_lockout must not be longer than max_lockout".into());
        }
        Ok(())
    }

    /// The lockout after the `strike`-th (1-based) lockout of a pair.
    pub fn lockout(&self, strike: i64) -> Duration {
        let doublings = u32::try_from(strike.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first_lockout
            .saturating_mul(1u32 << doublings)
            .min(self.max_lockout)
    }
}

/// What a guess is: kinds are counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuessKind {
    /// A password.
    Password,
    /// A second-factor (TOTP) code.
    SecondFactor,
    /// A one-time code sent by e-mail.
    EmailCode,
}

impl GuessKind {
    fn tag(self) -> &'static str {
        match self {
            Self::Password => "pw",
            Self::SecondFactor => "2f",
            Self::EmailCode => "ec",
        }
    }
}

/// The throttle of one kind of guess (see the module documentation).
pub struct Throttle<C: ?Sized> {
    counters: Arc<C>,
    rules: ThrottleRules,
    kind: GuessKind,
}

impl<C: ?Sized> std::fmt::Debug for Throttle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("kind", &self.kind)
            .field("rules", &self.rules)
            .finish()
    }
}

/// A guess that may go ahead; hand it back to [`Throttle::failed`] or
/// [`Throttle::succeeded`] once checked.
#[derive(Debug)]
#[must_use = "report the outcome with Throttle::failed or Throttle::succeeded"]
pub struct Guess {
    pair: String,
    account: String,
    address: String,
    strikes: i64,
    count: i64,
    counted_ceilings: bool,
}

impl Guess {
    /// Failures of the pair left before it is locked, counting this guess as one.
    pub fn failures_left(&self, rules: &ThrottleRules) -> i64 {
        (i64::from(rules.pair_failures) - self.count).max(0)
    }
}

/// Whether a guess may be checked now.
#[derive(Debug)]
pub enum Admission {
    /// Check it, then report the outcome.
    Go(Guess),
    /// Not now: try again after this long.
    Wait(Duration),
}

/// A short hash of `parts` (for counter keys that must not hold names or addresses).
pub fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now_secs() -> i64 {
    crate::now()
}

impl<C: Counters + ?Sized> Throttle<C> {
    /// A throttle for `kind` over `counters`.
    pub fn new(counters: Arc<C>, rules: ThrottleRules, kind: GuessKind) -> Self {
        Self {
            counters,
            rules,
            kind,
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &ThrottleRules {
        &self.rules
    }

    fn key(&self, what: &str, id: &str) -> String {
        format!("throttle:{}:{what}:{id}", self.kind.tag())
    }

    /// Asks whether `account` may be guessed from `address` now. Counts the guess before
    /// deciding; a store error is returned (callers refuse the guess: fail closed).
    pub async fn admit(&self, account: &str, address: &str) -> StoreResult<Admission> {
        let pair = digest(&[account, address]);
        let account_id = digest(&[account]);
        let address_id = digest(&[address]);
        let c = &*self.counters;
        let r = &self.rules;
        let now = now_secs();
        // A lockout in force: its value is when it ends.
        if let Some(until) = c.get(&self.key("lock", &pair)).await? {
            if until > now {
                return Ok(Admission::Wait(Duration::from_secs((until - now) as u64)));
            }
        }
        // Read the strikes after the lock: a lockout is written before its strike, so a
        // guess that sees a new strike also saw its lock, and one that saw the old strike
        // counts on the old (exhausted) counter below.
        let strikes = c.get(&self.key("strikes", &pair)).await?.unwrap_or(0);
        let count_key = self.key("count", &format!("{pair}.{strikes}"));
        let count = c.add(&count_key, 1, r.window).await?;
        if count > i64::from(r.pair_failures) {
            // Only a racing guess gets here: its lockout is being written.
            return Ok(Admission::Wait(r.lockout(strikes + 1)));
        }
        let known = c.get(&known_key(&pair)).await?.is_some();
        if !known {
            for (what, id, ceiling) in [
                ("account", &account_id, r.account_ceiling),
                ("address", &address_id, r.address_ceiling),
            ] {
                if let Some(wait) = self.over_ceiling(what, id, ceiling, now).await? {
                    // This guess was not made: give back what it counted.
                    c.add(&count_key, -1, r.window).await?;
                    if what == "address" {
                        c.add(&self.key("account", &account_id), -1, r.window)
                            .await?;
                    }
                    return Ok(Admission::Wait(wait));
                }
            }
        }
        Ok(Admission::Go(Guess {
            pair,
            account: account_id,
            address: address_id,
            strikes,
            count,
            counted_ceilings: !known,
        }))
    }

    /// Counts a guess against a ceiling; past it, admits one guess per slow interval.
    async fn over_ceiling(
        &self,
        what: &str,
        id: &str,
        ceiling: u32,
        now: i64,
    ) -> StoreResult<Option<Duration>> {
        let c = &*self.counters;
        let r = &self.rules;
        let key = self.key(what, id);
        let n = c.add(&key, 1, r.window).await?;
        if n <= i64::from(ceiling) {
            return Ok(None);
        }
        let interval = ttl_secs(r.slow_interval);
        let slot = now / interval;
        let taken = c
            .add(
                &self.key(&format!("{what}-slot"), &format!("{id}.{slot}")),
                1,
                r.slow_interval,
            )
            .await?;
        if taken == 1 {
            return Ok(None);
        }
        c.add(&key, -1, r.window).await?;
        Ok(Some(Duration::from_secs(
            ((slot + 1) * interval - now).max(1) as u64,
        )))
    }

    /// The guess was wrong. Returns the lockout that starts now, if this was the pair's
    /// last allowed failure.
    pub async fn failed(&self, guess: Guess) -> StoreResult<Option<Duration>> {
        let r = &self.rules;
        if guess.count < i64::from(r.pair_failures) {
            return Ok(None);
        }
        let c = &*self.counters;
        let strike = guess.strikes + 1;
        let lockout = r.lockout(strike);
        // The lock first, then the strike that moves later guesses to a fresh counter.
        c.set(
            &self.key("lock", &guess.pair),
            now_secs() + ttl_secs(lockout),
            lockout,
        )
        .await?;
        c.set(&self.key("strikes", &guess.pair), strike, r.strike_memory)
            .await?;
        Ok(Some(lockout))
    }

    /// The guess was right: the pair's failures are forgotten, and the guess is taken off
    /// the ceilings. With `remember`, the pair becomes known (pass it once the whole
    /// sign-in succeeded, not after a password that still needs its second factor).
    pub async fn succeeded(&self, guess: Guess, remember: bool) -> StoreResult<()> {
        let c = &*self.counters;
        let r = &self.rules;
        c.delete(&self.key("count", &format!("{}.{}", guess.pair, guess.strikes)))
            .await?;
        c.delete(&self.key("strikes", &guess.pair)).await?;
        if guess.counted_ceilings {
            c.add(&self.key("account", &guess.account), -1, r.window)
                .await?;
            c.add(&self.key("address", &guess.address), -1, r.window)
                .await?;
        }
        if remember {
            c.set(&known_key(&guess.pair), 1, r.known_for).await?;
        }
        Ok(())
    }
}

/// Known pairs are shared by every kind: the whole sign-in succeeded from there.
fn known_key(pair: &str) -> String {
    format!("throttle:known:{pair}")
}

/// Says how long to wait, in words ("45 seconds", "3 minutes").
pub fn wait_text(wait: Duration) -> String {
    let secs = wait.as_secs().max(1);
    if secs < 90 {
        format!("{secs} second{}", if secs == 1 { "" } else { "s" })
    } else {
        let m = secs.div_ceil(60);
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    }
}
