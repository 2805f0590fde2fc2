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
})();
