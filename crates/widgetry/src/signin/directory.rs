//! Who the users are: the [`Directory`] that checks credentials, and the [`CodeSender`]s
//! that deliver one-time codes to users without an authenticator.

use std::sync::Arc;

use crate::auth::BoxFuture;

/// A user as the directory knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Stable id.
    pub subject: String,
    /// Sign-in email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Whether the user enrolled a TOTP authenticator.
    pub has_totp: bool,
}

/// Where credentials are checked (the embedded authorization server's users, or yours).
pub trait Directory: Send + Sync + 'static {
    /// The account when `password` is right, `None` when it is wrong or unknown.
    fn check_password<'a>(
        &'a self,
        email: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<Option<Account>, String>>;
    /// Whether `code` is the account's current TOTP code.
    fn check_totp<'a>(
        &'a self,
        account: &'a Account,
        code: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>>;
}

/// Delivers one-time codes to users without TOTP.
pub trait CodeSender: Send + Sync + 'static {
    /// Sends `code` to `account`.
    fn send<'a>(&'a self, account: &'a Account, code: &'a str)
        -> BoxFuture<'a, Result<(), String>>;

    /// Whether codes reach the user's inbox (`false` for senders that only print them, so
    /// the widget says where to look instead of "we sent you a code").
    fn delivers(&self) -> bool {
        true
    }
}

/// Development sender: logs the code (never use in production).
#[derive(Debug, Default, Clone)]
pub struct ConsoleSender;

impl CodeSender for ConsoleSender {
    fn send<'a>(
        &'a self,
        account: &'a Account,
        code: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        eprintln!(
            "widgetry sign-in: verification code for {} is {code}",
            account.email
        );
        tracing::info!(email = %account.email, "sign-in verification code sent to the console");
        Box::pin(async { Ok(()) })
    }

    fn delivers(&self) -> bool {
        false
    }
}

/// Test sender: keeps the last code per email.
#[derive(Debug, Default, Clone)]
pub struct MemorySender {
    codes: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

impl MemorySender {
    /// The last code sent to `email`.
    pub fn last_code(&self, email: &str) -> Option<String> {
        self.codes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(email)
            .cloned()
    }
}

impl CodeSender for MemorySender {
    fn send<'a>(
        &'a self,
        account: &'a Account,
        code: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.codes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.email.clone(), code.to_string());
        Box::pin(async { Ok(()) })
    }
}
