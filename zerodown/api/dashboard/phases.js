// A deployment's phases as the page needs them (engine/lifecycle.py is the authority).

const TERMINAL = new Set(["succeeded", "failed", "rolled_back", "aborted"]);

export function ended(phase) {
  return TERMINAL.has(phase);
}

export function isActive(deployment) {
  return Boolean(deployment) && !ended(deployment.phase);
}

// An A/B test at its hold (reached: its step began) waits for a decision, promote (B wins)
// or abort (A stays): the controller refuses a resume there, and says so in the
// deployment's holds_for (engine/lifecycle.py holds_for).
export function holdsForDecision(deployment) {
  return isActive(deployment) && deployment.holds_for != null;
}
