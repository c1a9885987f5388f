// Approve (each critical warning acknowledged by its code), reject, deploy: what the plan's
// status allows. The API decides; its refusals (four eyes, a moved active version) are shown.
import { deployControls } from "./canary.js";
import { h, replace, when } from "./dom.js";

const NAME_KEY = "smc.name";

function errorText(error) {
  const details = Array.isArray(error.details) ? error.details.map((d) => d.message || JSON.stringify(d)) : [];
  return [error.message, ...details].join(" · ");
}

function pendingControls(view, act) {
  const critical = view.model.warnings.filter((w) => w.severity === "critical");
  const needsName = view.ctx.auth.needsNames;
  const acks = critical.map((w) =>
    h("input", { type: "checkbox", class: "ack", name: "acknowledged", value: w.code, dataset: { code: w.code } }),
  );
  const approver = needsName
    ? h("input", { id: "approver", name: "approver", required: true, placeholder: "your name", value: localStorage.getItem(NAME_KEY) || "" })
    : null;
  const approve = h("button", { type: "submit", class: "primary", id: "approve" }, "Approve");
  const ready = () => {
    approve.disabled = acks.some((a) => !a.checked) || (approver && !approver.value.trim());
  };
  for (const input of [...acks, approver].filter(Boolean)) input.addEventListener("input", ready);
  ready();
  const reason = h("input", { id: "reject-reason", name: "reason", maxlength: 2000, placeholder: "why (optional)" });
  const submitApprove = (event) => {
    event.preventDefault();
    const body = { acknowledged_warnings: acks.filter((a) => a.checked).map((a) => a.value) };
    if (approver) {
      body.approved_by = approver.value.trim();
      localStorage.setItem(NAME_KEY, body.approved_by);
    }
    act("approve", body);
  };
  const submitReject = (event) => {
    event.preventDefault();
    const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
    if (approver) {
      if (!approver.value.trim()) {
        approver.reportValidity(); // who rejects is recorded: the name is needed here too
        return;
      }
      body.rejected_by = approver.value.trim();
    }
    act("reject", body);
  };
  return [
    h(
      "form",
      { id: "approve-form", onsubmit: submitApprove },
      critical.length
        ? h(
            "fieldset",
            { class: "acks" },
            h("legend", {}, `Critical warnings: acknowledge each one to approve (${critical.length})`),
            critical.map((w, i) => h("label", { class: "ack-line" }, acks[i], " ", h("code", {}, w.code), " ", w.message)),
          )
        : h("p", { class: "muted" }, "No critical warning: the plan can be approved as is."),
      approver ? h("label", {}, "Your name ", approver) : null,
      approve,
    ),
    h("form", { id: "reject-form", onsubmit: submitReject }, h("label", {}, "Reject ", reason), h("button", { type: "submit", id: "reject", class: "danger" }, "Reject")),
  ];
}

function record(plan) {
  const lines = [];
  if (plan.approved_by) lines.push(`Approved by ${plan.approved_by} at ${when(plan.approved_at)}`);
  if (plan.acknowledged_warnings?.length) lines.push(`acknowledging ${plan.acknowledged_warnings.join(", ")}`);
  if (plan.rejected_by) lines.push(`Rejected by ${plan.rejected_by} at ${when(plan.rejected_at)}${plan.rejection_reason ? `: ${plan.rejection_reason}` : ""}`);
  if (plan.deployed_at) lines.push(`Deployed at ${when(plan.deployed_at)}`);
  if (plan.superseded_by) lines.push(`Superseded by plan ${plan.superseded_by}`);
  return lines.length ? h("p", { id: "decision-record" }, lines.join(" · ")) : null;
}

export function renderDecision(panel, view) {
  const plan = view.plan;
  const message = h("p", { class: "message error", id: "decision-error", role: "alert", hidden: true });
  const act = async (action, body) => {
    message.hidden = true;
    for (const button of panel.querySelectorAll("button")) button.disabled = true;
    try {
      await view.ctx.api.post(`migration-plans/${encodeURIComponent(plan.id)}/${action}`, body);
      await view.refresh();
    } catch (error) {
      message.hidden = false;
      replace(message, errorText(error));
      for (const button of panel.querySelectorAll("button")) button.disabled = false;
    }
  };
  let controls = [];
  if (plan.status === "pending") controls = pendingControls(view, act);
  if (plan.status === "approved") {
    controls = [
      h(
        "p",
        {},
        `Deploy makes version ${plan.to_version} active for new sessions and marks the live sessions in scope; each migrates at its next message. `,
        "Below 100 % it is a canary: only that share of the sessions is marked, and it is widened from the deployment.",
      ),
      deployControls(plan, (body) => act("deploy", body)),
    ];
  }
  replace(panel, h("h3", {}, "Decision"), record(plan), controls, message);
}
