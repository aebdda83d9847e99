//! The order a check unit starts its ready steps in: the longest chain of dependent steps first.
//!
//! A step waiting on another's captures starts only when that one finishes, so the unit cannot
//! end before its longest chain has run link by link. Sent first, the chain's calls are the
//! first a busy or rate-limited service answers and the first through `--jobs`' bound; the
//! steps nothing waits on fill the time around them (list scheduling, longest path first).

use std::collections::BTreeMap;

use super::execution_plan::PlanStep;

/// The unit's step indexes, the step heading the longest chain of dependents first; steps of
/// equal length keep the runbook's order.
pub(super) fn longest_chain_first(steps: &[PlanStep<'_>]) -> Vec<usize> {
    let mut makers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, ps) in steps.iter().enumerate() {
        for (capture, _) in &ps.step.capture {
            makers.entry(capture.as_str()).or_default().push(i);
        }
    }
    // Who waits on each step: the steps needing one of its captures.
    let mut waiters: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, ps) in steps.iter().enumerate() {
        for need in &ps.step.needs {
            for &maker in makers.get(need.as_str()).into_iter().flatten() {
                if maker != i {
                    waiters[maker].push(i);
                }
            }
        }
    }
    let mut chain: Vec<Option<usize>> = vec![None; steps.len()];
    let mut visiting = vec![false; steps.len()];
    for i in 0..steps.len() {
        chain_length(i, &waiters, &mut chain, &mut visiting);
    }
    let mut order: Vec<usize> = (0..steps.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(chain[i].unwrap_or(1)));
    order
}

/// The number of steps in the longest chain starting at `i` (itself included). A cycle
/// (refused when the runbook loads) is cut where it closes.
fn chain_length(
    i: usize,
    waiters: &[Vec<usize>],
    chain: &mut [Option<usize>],
    visiting: &mut [bool],
) -> usize {
    if let Some(n) = chain[i] {
        return n;
    }
    if visiting[i] {
        return 0;
    }
    visiting[i] = true;
    let below = waiters[i]
        .iter()
        .map(|&w| chain_length(w, waiters, chain, visiting))
        .max()
        .unwrap_or(0);
    visiting[i] = false;
    chain[i] = Some(below + 1);
    below + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testkit;

    #[test]
    fn the_head_of_the_longest_chain_starts_first_and_equals_keep_their_order() {
        let steps = testkit::steps(&[
            ("a", &[], &[]),
            ("b", &[], &[]),
            ("lb", &["lb_arn"], &[]),
            ("tg", &["tg_arn"], &["lb_arn"]),
            ("health", &[], &["tg_arn"]),
            ("c", &["c_id"], &[]),
            ("d", &[], &["c_id"]),
        ]);
        let plan = testkit::plan_steps(&steps);
        let ids: Vec<&str> = longest_chain_first(&plan)
            .into_iter()
            .map(|i| plan[i].id.as_str())
            .collect();
        assert_eq!(ids, ["lb", "tg", "c", "a", "b", "health", "d"]);
    }

    #[test]
    fn a_capture_several_steps_make_waits_on_each_of_them() {
        let steps = testkit::steps(&[
            ("x.0", &["arn"], &[]),
            ("y", &[], &[]),
            ("x.1", &["arn"], &[]),
            ("z", &[], &["arn"]),
        ]);
        let plan = testkit::plan_steps(&steps);
        assert_eq!(longest_chain_first(&plan), [0, 2, 1, 3]);
    }
}
