//! The embedded OAuth 2.1 authorization server (in progress).
