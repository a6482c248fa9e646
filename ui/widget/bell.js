// Clarion bell: a recipient's in-app inbox as a bell with an unread badge and a dropdown list.
// One tag, served by Clarion, no framework:
//   <script src="https://clarion.example.com/widget/bell.js" defer
//           data-recipient="user-1" data-token="<hex HMAC-SHA256 of the id, made by your backend>"></script>
// Optional: data-target="#css-selector" (where to put the bell; default: where the tag is).
// The list loads over the inbox API; new messages and counts arrive over Server-Sent Events,
// and EventSource's Last-Event-ID makes a reconnect replay whatever arrived meanwhile.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.dataset.recipient || !script.dataset.token) {
    console.error("Clarion bell: give the script tag data-recipient and data-token");
    return;
  }
  const origin = new URL(script.src, location.href).origin;
  const token = script.dataset.token;
  const inbox = `${origin}/v1/inbox/${encodeURIComponent(script.dataset.recipient)}`;
  const PAGE = 20;
  const messages = new Map(); // id -> message, as the API shapes it
  let counts = { unread: 0, unseen: 0 };
  let older = null; // the cursor of the next page, while there is one

  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // never innerHTML: messages are data, not markup
    return node;
  };

  function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${token}`, ...(options.body ? { "Content-Type": "application/json" } : {}) };
    return fetch(`${inbox}${path}`, { ...options, headers }).then((answer) => {
      if (!answer.ok) throw new Error(`Clarion bell: ${path} answered ${answer.status}`);
      return answer.json();
    });
  }

  // ---------- the parts ----------
  if (!document.querySelector(`link[href="${origin}/widget/bell.css"]`)) {
    const css = el("link");
    css.rel = "stylesheet";
    css.href = `${origin}/widget/bell.css`;
    document.head.appendChild(css);
  }
  const root = el("div", "clarion-bell");
  const button = el("button", "clarion-bell__button");
  button.type = "button";
  button.setAttribute("aria-haspopup", "true");
  button.setAttribute("aria-expanded", "false");
  button.innerHTML = // static markup of our own: the icon
    '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"/></svg>';
  const badge = el("span", "clarion-bell__badge");
  badge.hidden = true;
  badge.setAttribute("aria-hidden", "true");
  button.appendChild(badge);
  const panel = el("section", "clarion-bell__panel");
  panel.hidden = true;
  panel.setAttribute("aria-label", "Notifications");
  const head = el("header", "clarion-bell__head");
  const readAll = el("button", "clarion-bell__read-all", "Mark all read");
  readAll.type = "button";
  head.append(el("h2", "clarion-bell__heading", "Notifications"), readAll);
  const list = el("ul", "clarion-bell__list");
  const empty = el("p", "clarion-bell__empty", "You're all caught up.");
  const more = el("button", "clarion-bell__more", "Show older");
  more.type = "button";
  panel.append(head, list, empty, more);
  root.append(button, panel);
  const target = script.dataset.target && document.querySelector(script.dataset.target);
  if (target) target.appendChild(root);
  else script.parentNode.insertBefore(root, script);

  // ---------- drawing ----------
  const ago = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  function when(iso) {
    const minutes = Math.round((new Date(iso) - Date.now()) / 60000);
    if (Math.abs(minutes) < 60) return ago.format(minutes, "minute");
    if (Math.abs(minutes) < 1440) return ago.format(Math.round(minutes / 60), "hour");
    return ago.format(Math.round(minutes / 1440), "day");
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (_) {
      return null;
    }
  }

  function item(message) {
    const li = el("li", `clarion-bell__item${message.read ? "" : " clarion-bell__item--unread"}`);
    li.dataset.id = message.id;
    const link = el("a", "clarion-bell__link");
    const url = message.action_url && safeUrl(message.action_url);
    link.href = url || "#";
    const time = el("time", "clarion-bell__time", when(message.created_at));
    time.dateTime = message.created_at;
    link.append(el("strong", "clarion-bell__title", message.title), el("span", "clarion-bell__body", message.body), time);
    link.addEventListener("click", (event) => {
      if (!url) event.preventDefault();
      if (!message.read) change(message, { read: true }, true);
    });
    const toggle = el("button", "clarion-bell__action", message.read ? "Mark unread" : "Mark read");
    toggle.type = "button";
    toggle.addEventListener("click", () => change(message, { read: !message.read }));
    const archive = el("button", "clarion-bell__action", "Archive");
    archive.type = "button";
    archive.addEventListener("click", () => change(message, { archived: true }));
    const actions = el("div", "clarion-bell__actions");
    actions.append(toggle, archive);
    li.append(link, actions);
    return li;
  }

  function draw() {
    const shown = [...messages.values()].filter((m) => !m.archived).sort((a, b) => b.id - a.id);
    list.replaceChildren(...shown.map(item));
    empty.hidden = shown.length > 0;
    more.hidden = older === null;
    readAll.disabled = counts.unread === 0;
    badge.textContent = counts.unread > 99 ? "99+" : String(counts.unread);
    badge.hidden = counts.unread === 0;
    button.setAttribute("aria-label", counts.unread ? `Notifications, ${counts.unread} unread` : "Notifications");
  }

  // ---------- talking to Clarion ----------
  function change(message, changes, leaving = false) {
    Object.assign(message, changes, changes.read ? { seen: true } : {});
    draw();
    // keepalive: a click that follows the message's link still records the read.
    return api(`/messages/${message.id}`, { method: "PATCH", body: JSON.stringify(changes), keepalive: leaving })
      .then((changed) => { messages.set(changed.id, changed); draw(); })
      .catch(console.error);
  }

  function setCounts(next) {
    counts = next;
    draw();
  }

  function load(before) {
    return api(`/messages?limit=${PAGE}${before ? `&before=${before}` : ""}`).then((page) => {
      page.messages.forEach((m) => messages.set(m.id, m));
      older = page.next;
      setCounts(page.counts);
      return page;
    });
  }

  function markSeen() {
    if (counts.unseen > 0) api("/seen-all", { method: "POST" }).then(setCounts).catch(console.error);
  }

  function follow(after) {
    const stream = new EventSource(`${inbox}/stream?token=${encodeURIComponent(token)}&after=${after}`);
    stream.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      messages.set(message.id, message);
      draw();
      if (!panel.hidden) markSeen(); // it is in front of them already
      root.dispatchEvent(new CustomEvent("clarion:message", { detail: message, bubbles: true }));
    });
    stream.addEventListener("counts", (event) => setCounts(JSON.parse(event.data)));
  }

  function toggleOpen(open) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) markSeen();
  }

  button.addEventListener("click", () => toggleOpen(panel.hidden));
  more.addEventListener("click", () => load(older).catch(console.error));
  readAll.addEventListener("click", () => {
    messages.forEach((m) => { m.read = m.seen = true; });
    api("/read-all", { method: "POST" }).then(setCounts).catch(console.error);
  });
  // composedPath, not contains(): a click on an item's button redraws the list, detaching the target.
  document.addEventListener("click", (event) => { if (!event.composedPath().includes(root)) toggleOpen(false); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) { toggleOpen(false); button.focus(); }
  });

  draw();
  load(null)
    .then((page) => follow(page.messages.length ? page.messages[0].id : 0))
    .catch(console.error);
})();
