// A deployment's phases as the page needs them (engine/lifecycle.py is the authority).

const TERMINAL = new Set(["succeeded", "failed", "rolled_back", "aborted"]);

export function ended(phase) {
  return TERMINAL.has(phase);
}

export function isActive(deployment) {
  return Boolean(deployment) && !ended(deployment.phase);
}
