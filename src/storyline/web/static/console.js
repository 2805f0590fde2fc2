// storyline's console: progressive enhancement of server-rendered pages. Every page works without
// this file; with it, forms post in the background and live parts refresh without a reload.
// Nothing here builds markup from data: fragments come escaped from the server's templates and are
// parsed into an inert document (DOMParser runs no script), and messages are set with textContent.
"use strict";

(function () {
  const FETCHED = { "x-playground": "1" };
  const POLL_MS = 1000;

  function status(section, text) {
    let line = section.querySelector(".status");
    if (!line) {
      line = document.createElement("p");
      line.className = "status";
      line.setAttribute("role", "status");
      section.querySelector("form.say").after(line);
    }
    line.textContent = text;
  }

  async function failure(response) {
    try {
      const body = await response.json();
      return String(body.error || response.status);
    } catch (e) {
      return "HTTP " + response.status;
    }
  }

  async function post(section, url, fields) {
    const response = await fetch(url, {
      method: "POST", headers: FETCHED, body: new URLSearchParams(fields), credentials: "same-origin",
    });
    status(section, response.ok ? "" : await failure(response));
    refresh(section.querySelector(".transcript"));
  }

  // -- live transcripts ----------------------------------------------------------------------------

  function swap(list, html) {
    const parsed = new DOMParser().parseFromString("<ol>" + html + "</ol>", "text/html");
    const items = parsed.body.firstElementChild;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren(...Array.from(items.childNodes, (node) => document.importNode(node, true)));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  async function refresh(list) {
    if (list.dataset.busy) return;
    list.dataset.busy = "1";
    try {
      const url = "/playground/" + encodeURIComponent(list.dataset.platform) + "/transcript?since=" +
        encodeURIComponent(list.dataset.version || "");
      const response = await fetch(url, { headers: FETCHED, credentials: "same-origin", cache: "no-store" });
      if (response.status === 200) {
        list.dataset.version = response.headers.get("x-version") || "";
        swap(list, await response.text());
      }
    } catch (e) {
      // The server restarted or the network dropped: the next poll tries again.
    } finally {
      delete list.dataset.busy;
    }
  }

  function poll(lists) {
    lists.forEach((list) => { list.scrollTop = list.scrollHeight; });
    setInterval(() => {
      if (!document.hidden) lists.forEach(refresh);
    }, POLL_MS);
  }

  // -- forms ---------------------------------------------------------------------------------------

  function speaker(section) {
    const say = section.querySelector("form.say");
    const fields = {};
    ["user", "hook"].forEach((name) => {
      const input = say.elements.namedItem(name);
      if (input) fields[name] = input.value;
    });
    return fields;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    const section = form.closest("section.conversation");
    if (!section) return;
    if (form.classList.contains("say")) {
      event.preventDefault();
      post(section, form.action, new FormData(form));
    } else if (form.classList.contains("click")) {
      const fields = Object.assign(Object.fromEntries(new FormData(form)), speaker(section));
      if (form.target === "_blank") {
        // A link button: the browser opens the link (the server sends the click, then redirects there).
        Object.entries(speaker(section)).forEach(([name, value]) => {
          let input = form.elements.namedItem(name);
          if (!input) {
            input = document.createElement("input");
            input.type = "hidden";
            input.name = name;
            form.append(input);
          }
          input.value = value;
        });
        setTimeout(() => refresh(section.querySelector(".transcript")), 500);
        return;
      }
      event.preventDefault();
      post(section, form.action, fields);
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const lists = Array.from(document.querySelectorAll(".transcript[data-platform]"));
    if (lists.length) poll(lists);
  });
  // -- /runs/{guid} and /events: clicking a value copies its template path --------------------------

  function copied(button, path) {
    const status = document.querySelector(".copied");
    if (status) status.textContent = "Copied " + path;
    button.dataset.copied = "1";
  }

  function fallbackCopy(path) {
    const area = document.createElement("textarea");
    area.value = path;
    area.setAttribute("readonly", "");
    area.className = "sr-only";
    document.body.append(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* the status line still shows the path */ }
    area.remove();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-path]");
    if (!button) return;
    event.preventDefault();  // a path inside <summary> copies instead of folding
    const path = button.dataset.path;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(path).then(() => copied(button, path), () => { fallbackCopy(path); copied(button, path); });
    } else {
      fallbackCopy(path);
      copied(button, path);
    }
  });

  // -- /runs: new and changed runs arrive as server-sent events -----------------------------------

  function putRows(body, html) {
    const parsed = new DOMParser().parseFromString("<table><tbody>" + html + "</tbody></table>", "text/html");
    const rows = Array.from(parsed.querySelectorAll("tr[data-id]"));
    const fresh = [];
    rows.forEach((row) => {
      const node = document.importNode(row, true);
      const old = body.querySelector('tr[data-id="' + CSS.escape(row.dataset.id) + '"]');
      if (old) old.replaceWith(node); else fresh.push(node);
    });
    fresh.sort((a, b) => Number(b.dataset.id) - Number(a.dataset.id));
    body.prepend(...fresh);
    const empty = document.querySelector("p.empty");
    if (fresh.length && empty) empty.remove();
  }

  function follow(body) {
    const running = () => Array.from(body.querySelectorAll('tr[data-status="running"]'), (row) => row.dataset.id)
      .slice(0, 50).join(",");
    const params = new URLSearchParams({ after: body.dataset.after || "0", watch: running() });
    if (body.dataset.story) params.set("story", body.dataset.story);
    const source = new EventSource(body.dataset.stream + "?" + params.toString());
    source.addEventListener("runs", (event) => {
      if (event.lastEventId) body.dataset.after = event.lastEventId;
      putRows(body, event.data);
    });
    source.addEventListener("end", () => {
      source.close();
      follow(body);  // a fresh stream, watching the runs running now
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const body = document.querySelector("tbody[data-stream]");
    if (body && window.EventSource) follow(body);
  });
})();

// -- stories: live numbers on the graph (server-sent events) and the copy button ------------------
(function () {
  function plural(n) {
    return n + (n === 1 ? " event" : " events") + " in 24 h";
  }

  async function refreshRecent(section) {
    try {
      const response = await fetch(section.dataset.recent, { credentials: "same-origin", cache: "no-store" });
      if (response.status !== 200) return;
      const parsed = new DOMParser().parseFromString(await response.text(), "text/html");
      section.replaceChildren(...Array.from(parsed.body.childNodes, (node) => document.importNode(node, true)));
    } catch (e) {
      // The next pulse tries again.
    }
  }

  function live(graph) {
    const source = new EventSource(graph.dataset.live);
    let first = true;
    source.addEventListener("pulse", (event) => {
      let pulse;
      try { pulse = JSON.parse(event.data); } catch (e) { return; }
      Object.entries(pulse.actions || {}).forEach(([id, numbers]) => {
        const node = graph.querySelector('a[data-action="' + CSS.escape(id) + '"]');
        if (!node) return;
        const count = node.querySelector(".count");
        if (count) count.textContent = plural(Number(numbers.events));
        node.classList.toggle("failed", Boolean(numbers.failed));
      });
      graph.dataset.version = String(pulse.version);
      const recent = document.querySelector("[data-recent]");
      if (recent && !first) refreshRecent(recent);
      first = false;
    });
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    if (!field) return;
    const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, () => { field.select(); });
    } else {
      field.select();
      if (document.execCommand("copy")) done();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const graph = document.querySelector("svg.graph[data-live]");
    if (graph && window.EventSource) live(graph);
    const selected = graph && graph.querySelector("a.selected");
    if (selected && selected.scrollIntoView) selected.scrollIntoView({ block: "nearest", inline: "nearest" });
  });
})();
