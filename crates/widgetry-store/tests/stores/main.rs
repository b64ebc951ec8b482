//! Integration tests of the stores against the real thing: files for SQLite, the
//! machine's PostgreSQL and Redis for the server backends (started when down).

mod kv;
mod migrate;
mod open;
mod outage;
mod pool;
mod private;
mod sessions;
mod sharing;
mod support;
mod tls;
