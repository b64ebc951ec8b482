//! CPU accounting from /proc (Linux only; elsewhere every figure is absent): CPU time of
//! the server and load-generator threads, of the whole process, and of the machine, so a
//! report can say which side was saturated and whether something else was running.

use std::fs;
use std::sync::Mutex;
use std::time::Instant;

/// Kernel clock ticks per second for /proc times (USER_HZ; 100 on every common Linux).
const TICKS_PER_SEC: f64 = 100.0;

static THREADS: Mutex<Vec<(&'static str, u32)>> = Mutex::new(Vec::new());

/// Records the calling thread under `role` (call from a runtime's `on_thread_start`).
pub fn register(role: &'static str) {
    let Ok(link) = fs::read_link("/proc/thread-self") else {
        return;
    };
    let tid = link
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse::<u32>().ok());
    if let Some(tid) = tid {
        THREADS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((role, tid));
    }
}

/// utime + stime (ticks) from a /proc `stat` file.
fn stat_ticks(path: &str) -> Option<u64> {
    let s = fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn role_ticks(role: &str) -> Option<u64> {
    let threads = THREADS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut sum = None;
    for (r, tid) in threads {
        if r == role {
            if let Some(t) = stat_ticks(&format!("/proc/self/task/{tid}/stat")) {
                *sum.get_or_insert(0) += t;
            }
        }
    }
    sum
}

/// (busy, all) ticks of the whole machine from /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let s = fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let all: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((all - idle, all))
}

/// A point-in-time reading.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    server: Option<u64>,
    load: Option<u64>,
    process: Option<u64>,
    machine: Option<(u64, u64)>,
}

impl Snapshot {
    pub fn now() -> Self {
        Self {
            at: Instant::now(),
            server: role_ticks("server"),
            load: role_ticks("load"),
            process: stat_ticks("/proc/self/stat"),
            machine: machine_ticks(),
        }
    }
}

/// CPU use between two snapshots, each in percent of one core.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub server_pct: Option<f64>,
    pub load_pct: Option<f64>,
    /// Busy time of everything outside this process (other people's compiles, the
    /// hypervisor's steal), in percent of one core.
    pub other_pct: Option<f64>,
}

pub fn usage(a: &Snapshot, b: &Snapshot) -> Usage {
    let seconds = b.at.duration_since(a.at).as_secs_f64();
    let pct = |x: Option<u64>, y: Option<u64>| {
        Some((y?.saturating_sub(x?)) as f64 / TICKS_PER_SEC / seconds * 100.0)
    };
    let other_pct = (|| {
        let (b0, _) = a.machine?;
        let (b1, _) = b.machine?;
        let mine = b.process?.saturating_sub(a.process?);
        Some((b1.saturating_sub(b0)).saturating_sub(mine) as f64 / TICKS_PER_SEC / seconds * 100.0)
    })();
    Usage {
        server_pct: pct(a.server, b.server),
        load_pct: pct(a.load, b.load),
        other_pct,
    }
}
