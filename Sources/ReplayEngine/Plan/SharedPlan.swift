import Synchronization

/// One chunk's plan for the slaves of a shared batch (`SharedBatch`): the
/// first slave to apply the chunk plans it, and the others reuse that plan
/// when their tables have the same traits and their COPY threshold is the
/// same (slaves of one batch usually hold identical tables), instead of
/// each folding the same changes again.
final class SharedPlan: Sendable {
    private struct Made {
        var traits: [String: TableTraits]
        var copyThreshold: Int
        var plan: ApplyPlan
    }

    private let made = Mutex<Made?>(nil)

    /// The plan for these traits: the one already made for them, or `make()`'s.
    /// A slave that arrives while another plans waits for that plan rather
    /// than make the same one beside it.
    func plan(traits: [String: TableTraits], copyThreshold: Int, make: () -> ApplyPlan) -> ApplyPlan {
        made.withLock { made in
            if let made, made.copyThreshold == copyThreshold, made.traits == traits {
                return made.plan
            }
            let plan = make()
            if made == nil {
                made = Made(traits: traits, copyThreshold: copyThreshold, plan: plan)
            }
            return plan
        }
    }
}
