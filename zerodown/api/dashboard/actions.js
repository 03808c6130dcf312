// The buttons that steer a deployment. Each opens an in-page confirmation dialog with
// an optional reason (kept in the event log) before it sends anything.

import { post } from "./api.js";
import { label, percent } from "./format.js";
import { holdsForDecision, isActive } from "./phases.js";

// Which phases each action applies to (engine/lifecycle.py's transitions).
const APPLIES = {
  pause: ["running", "promoting"],
  resume: ["paused"],
  promote: ["running", "paused"],
  "promote-full": ["running", "paused", "promoting"],
  abort: ["pending", "running", "paused", "promoting"],
};

function weightOf(status, revision) {
  const row = (status.traffic || []).find((t) => t.revision === `r${revision}`);
  return percent(row ? row.weight : 0);
}

// {title, text, button, input?, path, body(reason, input)} for an action on the state shown now.
function describe(action, status) {
  const d = status.deployment;
  const at = d ? `${label(d.to)} at ${weightOf(status, d.to.revision)}` : "";
  const on = (verb) => `deployments/${d.id}/${verb}`;
  switch (action) {
    case "pause":
      return { title: `Pause deployment ${d.id}?`, button: "Pause",
        text: `It stops after the step in progress; traffic stays as it is (${at}) until you resume. Background analysis keeps watching.`,
        path: on("pause"), body: (reason) => ({ reason }) };
    case "resume":
      return { title: `Resume deployment ${d.id}?`, button: "Resume",
        text: `It goes on from step ${Math.min(d.step, d.steps)} of ${d.steps}: ${d.step_text || "the next step"}.`,
        path: on("resume"), body: (reason) => ({ reason }) };
    case "promote":
      return { title: `Promote ${label(d.to)}?`, button: "Promote",
        text: holdsForDecision(d)
          ? `B wins the A/B test: ${label(d.to)} takes every user, then ${label(d.from)} drains and stops.`
          : "It goes past the current pause to the next step of the plan.",
        path: on("promote"), body: (reason) => ({ full: false, reason }) };
    case "promote-full":
      return { title: `Promote ${label(d.to)} fully?`, button: "Promote full",
        text: `Every remaining pause and analysis is skipped: all traffic moves to ${label(d.to)} now, then ${label(d.from)} is stopped.`,
        path: on("promote"), body: (reason) => ({ full: true, reason }) };
    case "abort":
      return { title: `Abort deployment ${d.id}?`, button: "Abort", danger: true,
        text: `All traffic goes back to ${label(d.from) || "the stable revision"} at once (${at} now); then ${label(d.to)}'s instances drain and stop.`,
        path: on("abort"), body: (reason) => ({ reason }) };
    case "rollback":
      return { title: "Roll back?", button: "Roll back", danger: true,
        input: { label: "Roll back to", placeholder: "the previous revision (or r3, v1)" },
        text: `${label(status.stable)} serves now. A rollback deploys the previous revision (or the one you name) in its place.`,
        path: "rollback", body: (reason, to) => ({ to: to || null, reason }) };
    case "deploy":
      return { title: "Deploy a version", button: "Deploy",
        input: { label: "Version", placeholder: "e.g. v4", required: true },
        text: `${label(status.stable) || "Nothing"} serves now. The version you name is deployed with the strategy in zerodown.yaml; this page follows it.`,
        path: "deployments", body: (reason, version) => ({ version, reason }) };
    default:
      throw new Error(`unknown action ${action}`);
  }
}

export function updateButtons(buttons, status, history) {
  const d = status && status.deployment;
  const phase = isActive(d) ? d.phase : null;
  for (const button of buttons) {
    const action = button.dataset.action;
    const idleAction = action === "rollback" || action === "deploy";
    const enabled = action === "deploy" ? Boolean(status) && !phase
      : action === "rollback" ? Boolean(status && status.stable) && !phase && (history || []).length > 1
        : Boolean(phase) && APPLIES[action].includes(phase)
          && !(action === "resume" && holdsForDecision(d));
    button.disabled = !enabled;
    // why resume is off at an A/B test's hold: the same words the controller refuses it with
    button.title = action === "resume" && holdsForDecision(d)
      ? "The A/B test holds for a decision: Promote makes B everyone's, Abort keeps A" : "";
    if (!status) { button.hidden = true; continue; }
    // A running deployment's buttons, or else deploy and rollback: never both sets at once.
    button.hidden = idleAction ? Boolean(phase) : !phase;
  }
}

export class Confirm {
  constructor(el, getStatus, onDone) {
    this.el = el;
    this.getStatus = getStatus;
    this.onDone = onDone;
    this.$ = (id) => el.querySelector(`#${id}`);
    this.$("confirm-cancel").addEventListener("click", () => el.close());
    this.$("confirm-form").addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
  }

  open(action) {
    const status = this.getStatus();
    if (!status) return;
    this.what = describe(action, status);
    this.$("confirm-title").textContent = this.what.title;
    this.$("confirm-text").textContent = this.what.text;
    const input = this.$("confirm-input");
    this.$("confirm-input-row").hidden = !this.what.input;
    this.$("confirm-input-label").textContent = this.what.input ? this.what.input.label : "";
    input.placeholder = this.what.input ? this.what.input.placeholder : "";
    input.required = Boolean(this.what.input && this.what.input.required);
    input.value = "";
    this.$("confirm-reason").value = "";
    this.$("confirm-error").hidden = true;
    const ok = this.$("confirm-ok");
    ok.textContent = this.what.button;
    ok.classList.toggle("danger", Boolean(this.what.danger));
    ok.disabled = false;
    this.el.showModal();
    (this.what.input ? input : this.$("confirm-reason")).focus();
  }

  async send() {
    const ok = this.$("confirm-ok");
    ok.disabled = true;
    const reason = this.$("confirm-reason").value.trim() || null;
    const value = this.$("confirm-input").value.trim() || null;
    try {
      const reply = await post(this.what.path, this.what.body(reason, value));
      this.el.close();
      this.onDone(`${this.what.button}: deployment ${reply.id}${reply.phase ? ` ${reply.phase.replace(/_/g, " ")}` : " accepted"}`);
    } catch (e) {
      const error = this.$("confirm-error");
      error.textContent = e.message;
      error.hidden = false;
      ok.disabled = false;
    }
  }
}
