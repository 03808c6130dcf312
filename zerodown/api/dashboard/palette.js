// One colour per revision, the same in the bar, the legend and the charts:
// the stable revision and the one being deployed get the two named colours,
// any other (an older revision still routed) a quieter one.

const OTHERS = ["var(--c-other-1)", "var(--c-other-2)", "var(--c-other-3)"];

// {revision number: "stable" | "new"} from the status document.
export function rolesOf(status) {
  const roles = {};
  if (!status) return roles;
  if (status.stable) roles[status.stable.revision] = "stable";
  const d = status.deployment;
  if (d && d.to && !["succeeded", "failed", "rolled_back", "aborted"].includes(d.phase)) {
    roles[d.to.revision] = d.kind === "rollback" ? "target" : d.strategy === "canary" ? "canary" : "new";
  }
  return roles;
}

export function colorOf(revision, roles) {
  const role = roles[revision];
  if (role === "stable") return "var(--c-stable)";
  if (role) return "var(--c-new)";
  return OTHERS[revision % OTHERS.length];
}
