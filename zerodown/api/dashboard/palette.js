import { ended } from "./phases.js";

// One colour per revision, the same in the bar, the legend and the charts:
// the stable revision and the one being deployed get the two named colours,
// any other (an older revision still routed) a quieter one.

// Five, so that the older revisions seen together within minutes (r2 and r5 after two
// quick deployments) rarely share one.
const OTHERS = [1, 2, 3, 4, 5].map((n) => `var(--c-other-${n})`);

// {revision number: "stable" | "canary" | "new" | ...} from the status document and the
// last deployment: a canary just aborted keeps its colour (and says "aborted") while
// its instances drain, rather than turning into some other revision.
export function rolesOf(status, last) {
  const roles = {};
  if (!status) return roles;
  const d = status.deployment;
  if (d && d.to && !ended(d.phase)) {
    roles[d.to.revision] = d.kind === "rollback" ? "target" : d.strategy === "canary" ? "canary" : "new";
  } else if (last && last.to && ended(last.phase)) {
    roles[last.to.revision] = last.phase.replace(/_/g, " ");
  }
  if (status.stable) roles[status.stable.revision] = "stable";
  return roles;
}

export function colorOf(revision, roles) {
  const role = roles[revision];
  if (role === "stable") return "var(--c-stable)";
  if (role) return "var(--c-new)";
  return OTHERS[revision % OTHERS.length];
}
