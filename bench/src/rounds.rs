//! Interleaved rounds disturbed by other processes (someone's compile): which to leave
//! out, shared by the in-process and the wrk modes.

/// Which rounds to keep, given each scenario's per-round CPU share of other processes
/// (`other[scenario][round]`, percent of a core): every round where some scenario saw
/// more than `max_other` goes, when at least half of the rounds (and two) stay; then a
/// note is printed. `None` when all are kept, or too many are disturbed to leave out
/// (then a warning is printed).
pub fn kept_rounds(other: &[Vec<Option<f64>>], max_other: f64) -> Option<Vec<bool>> {
    let rounds = other.first().map_or(0, Vec::len);
    let clean: Vec<bool> = (0..rounds)
        .map(|i| other.iter().all(|s| s[i].is_none_or(|o| o <= max_other)))
        .collect();
    let kept = clean.iter().filter(|c| **c).count();
    if kept == rounds {
        return None;
    }
    let dropped: Vec<String> = (0..rounds)
        .filter(|i| !clean[*i])
        .map(|i| (i + 1).to_string())
        .collect();
    if kept < 2 || kept * 2 < rounds {
        println!(
            "warning: other processes used more than {max_other:.0}% of a core in rounds {}: too many to leave out; the figures are noisy",
            dropped.join(", ")
        );
        return None;
    }
    println!(
        "note: rounds {} left out (other processes used more than {max_other:.0}% of a core)",
        dropped.join(", ")
    );
    Some(clean)
}

/// The items of `rounds` whose `keep` flag is set.
pub fn keep<R>(rounds: Vec<R>, keep: &[bool]) -> Vec<R> {
    rounds
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(r, _)| r)
        .collect()
}
