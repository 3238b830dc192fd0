// The queue's actions: confirmed, then POSTed with the X-Smtpd-Admin header the server requires
// (a page of another site cannot send it), with the browser's Basic credentials.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const { action, id } = button.dataset;
  if (!confirm(`${action} ${id}?`)) return;
  const reply = await fetch(`/api/envelope/${id}/${action}`, { method: "POST", headers: { "X-Smtpd-Admin": "1" } });
  if (!reply.ok) { alert(`${action} ${id}: ${reply.status} ${await reply.text()}`); return; }
  location.href = "/";
});
