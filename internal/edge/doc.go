// Package edge moves traffic on many hosts at once: a leader-side
// Coordinator and an edge-side Server (one per node, in front of the
// node's proxy) that agree on numbered routing generations with a
// two-phase commit over HTTP.
//
// A generation is the whole routing of the cluster: for every service, the
// version that is live and the endpoints (node:port) that serve it. Edges
// hold only the last generation they committed, on local disk; the leader,
// which owns the release history, decides which generation is current.
//
// # The order (written down once; the code follows it)
//
//  1. The leader durably records its intent to switch to g = committed+1
//     (Log.Prepare) before any edge hears of it.
//  2. PREPARE(g, routes) to every edge, in parallel, bounded by
//     PrepareTimeout. Each edge checks g is newer than what it serves,
//     validates the routes, and health-probes every endpoint from its own
//     node; it keeps g as "prepared" and answers ready, or answers not
//     ready with the reason. Nothing switches.
//  3. Any not-ready answer, error or timeout: ABORT(g) to every edge (best
//     effort), the intent is dropped (Log.Abort), and the switch fails
//     naming the edges and reasons. No edge switched.
//  4. All ready: the leader durably records g as committed (Log.Commit).
//     This is the commit point; from here g is the truth and every edge
//     will end up on it.
//  5. COMMIT(g) to every edge in parallel. An edge that has g prepared
//     writes it to disk atomically (temp file, fsync, rename, fsync of the
//     directory), then installs it in its route table, then acks with its
//     clock's time. The leader records the spread of those times (skew).
//  6. An edge that did not ack is lagging: it keeps serving the previous
//     generation (whose versions the engine keeps warm) and its /ready
//     answers 503 once it has held a prepared generation unresolved for
//     longer than LagGrace, so the load balancer drains it. Converge (run
//     periodically by the leader) brings it back: it re-sends the latest
//     committed generation as a PREPARE and COMMIT to that edge alone.
//
// # Failure cases
//
//   - Edge not ready or unreachable at PREPARE: abort; no edge switched.
//   - Edge unreachable at COMMIT: the others switch; it lags, serving the
//     previous generation, until Converge reaches it.
//   - Edge restarts: it serves the generation on its disk at once. A
//     generation it had prepared is kept on disk too (beside the state
//     file), so it still counts as lagging after LagGrace and still
//     commits when the COMMIT comes; a COMMIT of a generation it never
//     prepared answers 409 and the leader converges it with a PREPARE.
//   - Leader dies after step 1 or 2 (intent, no commit): on restart
//     Recover aborts the intent on every edge; edges keep what they serve.
//   - Leader dies during step 5 (partial commit): the log says committed;
//     on restart Recover converges every edge that is behind. Either way
//     one generation ends up everywhere.
//   - A stale leader (or a replayed request) sending an old generation:
//     edges refuse any PREPARE not newer than what they serve.
//
// Security: every request but /ready carries "Authorization: Bearer
// <token>", compared in constant time; bodies are size-limited and decoded
// strictly, and routes are validated before anything probes them.
package edge
