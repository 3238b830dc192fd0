// The queue's actions: confirmed, then POSTed with the X-Smtpd-Admin header the server requires
// (a page of another site cannot send it), with the browser's Basic credentials. The URL is built
// on location.origin: a page opened as http://user:pass@host/ would otherwise resolve it with the
// credentials in it, which fetch refuses.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const { action, id } = button.dataset;
  if (!confirm(`${action} ${id}?`)) return;
  try {
    const reply = await fetch(new URL(`/api/envelope/${id}/${action}`, location.origin), {
      method: "POST", headers: { "X-Smtpd-Admin": "1" }, credentials: "same-origin" });
    if (!reply.ok) { alert(`${action} ${id}: ${reply.status} ${await reply.text()}`); return; }
    location.href = new URL("/", location.origin).href;
  } catch (error) {
    alert(`${action} ${id}: ${error}`);
  }
});
