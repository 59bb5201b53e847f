//! What the crash tests check in LCS's record (the simulator's or the emulator's call log):
//! each change a run of their plan makes happened exactly once.

use refreshctl::sim::Call;

/// Which calls to count.
type Wanted = fn(&Call) -> bool;

pub fn count(calls: &[Call], wanted: Wanted) -> usize {
    calls.iter().filter(|call| wanted(call)).count()
}

/// One refresh, two update deployments, and two assets, each with one block list and one
/// commit: the plan of the crash tests (reprovision and one deploy), after `point`.
pub fn assert_each_change_once(calls: &[Call], point: &str) {
    let expected: [(&str, Wanted, usize); 5] = [
        (
            "refresh",
            |call| matches!(call, Call::StartRefresh { .. }),
            1,
        ),
        (
            "updates",
            |call| matches!(call, Call::ApplyUpdate { .. }),
            2,
        ),
        (
            "assets",
            |call| matches!(call, Call::CreateFileAsset { .. }),
            2,
        ),
        (
            "block lists",
            |call| matches!(call, Call::PutBlockList { .. }),
            2,
        ),
        (
            "commits",
            |call| matches!(call, Call::CommitFileAsset { .. }),
            2,
        ),
    ];
    for (what, wanted, times) in expected {
        assert_eq!(count(calls, wanted), times, "{point}: {what}");
    }
}
