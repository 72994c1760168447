// Real-time activity: fetch the JSON endpoint every 15 s and replace the table body, without a
// page reload. Text goes in with textContent only, so sync-provided strings stay inert.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) {
    return;
  }
  var url = live.dataset.url;
  // 0: a fixed (custom) range does not change, so there is nothing to refresh.
  var interval = parseInt(live.dataset.interval, 10);
  if (isNaN(interval)) {
    interval = 15000;
  }
  var pauseButton = document.getElementById("pause");
  var status = document.getElementById("live-status");
  var paused = false;
  var timer = null;

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    td.textContent = text;
    return td;
  }
  function badge(code, label) {
    var td = document.createElement("td");
    var span = document.createElement("span");
    span.className = "badge badge-" + code;
    span.textContent = label;
    td.appendChild(span);
    return td;
  }
  function render(data) {
    var table = document.querySelector("#table-activity table");
    var tbody = table.querySelector("tbody");
    var headers = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    var columns = headers.length;
    // The same key roles the server gives these columns (monitoring.tables.portal.KEY_COLUMNS):
    // the phone layout shows them first.
    var roles = { 1: "name", 7: "status", 8: "error" };
    var fresh = document.createElement("tbody");
    data.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      tr.appendChild(cell(row.synced_at, "ts"));
      var lead = document.createElement("td");
      var link = document.createElement("a");
      link.href = row.lead_url;
      link.textContent = row.lead_name;
      lead.appendChild(link);
      tr.appendChild(lead);
      tr.appendChild(cell(row.email, "email"));
      tr.appendChild(cell(row.company_name));
      tr.appendChild(cell(row.segment_name));
      tr.appendChild(badge(row.sync_type, row.sync_type_label));
      tr.appendChild(badge(row.sync_direction, row.sync_direction_label));
      tr.appendChild(badge(row.sync_status, row.sync_status_label));
      tr.appendChild(cell(row.error_message));
      tr.appendChild(cell(row.fields_changed === null ? "—" : row.fields_changed, "json"));
      Array.prototype.forEach.call(tr.children, function (td, i) {
        td.dataset.label = headers[i] || "";
        if (roles[i]) {
          td.classList.add("key", "key-" + roles[i]);
        }
      });
      fresh.appendChild(tr);
    });
    if (!data.rows.length) {
      var tr = document.createElement("tr");
      var td = cell("No sync attempts in this range.");
      td.colSpan = columns;
      tr.appendChild(td);
      fresh.appendChild(tr);
    }
    tbody.replaceWith(fresh);
    var updated = document.getElementById("updated-at");
    updated.textContent = data.updated_at_display;
    updated.setAttribute("datetime", data.updated_at);
    document.getElementById("row-count").textContent =
      data.count + " attempt" + (data.count === 1 ? "" : "s");
    status.textContent = "";
  }
  function refresh() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(render)
      .catch(function (error) {
        status.textContent = "Refresh failed (" + error.message + "); retrying in 15 s.";
      });
  }
  function schedule() {
    if (!interval) {
      return;
    }
    timer = window.setInterval(function () {
      if (!paused) {
        refresh();
      }
    }, interval);
  }
  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    status.textContent = paused ? "Paused." : "";
    if (!paused) {
      refresh();
    }
  });
  window.leadsyncActivityRefresh = refresh; // lets the browser test trigger a refresh now
  schedule();
})();
