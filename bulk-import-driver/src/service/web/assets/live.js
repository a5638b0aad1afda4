// Live progress of a job page: the server sends the job's progress as server-sent events
// (GET /jobs/{id}/progress); each is shown as it comes. When the job ends, or the stream does,
// the page is loaded again to show what only a finished run has (files per leaf, the plan).
"use strict";
const FINAL = ["FINISHED", "FAILED", "REJECTED"];

function show(id, text) {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

function follow(box) {
  const source = new EventSource(box.dataset.events);
  const bar = document.getElementById("progress-bar");
  source.onmessage = (message) => {
    const p = JSON.parse(message.data);
    const status = document.getElementById("status");
    if (status) {
      status.textContent = p.status;
      status.dataset.status = p.status;
    }
    show("rows-written", p.rowsWritten.toLocaleString("en-GB"));
    show("rows-total", p.rowsTotal.toLocaleString("en-GB"));
    show("tasks", `${p.tasksDone} of ${p.tasksTotal}`);
    show("duration", p.duration);
    show("rows-per-second", Math.round(p.rowsPerSecond).toLocaleString("en-GB"));
    show("percent", `${p.rowsTotal > 0 ? Math.floor((100 * p.rowsWritten) / p.rowsTotal) : 0}%`);
    if (bar) {
      bar.max = Math.max(p.rowsTotal, 1);
      bar.value = p.rowsWritten;
    }
    box.dataset.updates = String(Number(box.dataset.updates || "0") + 1);
    if (FINAL.includes(p.status)) {
      source.close();
      setTimeout(() => location.reload(), 300);
    }
  };
  source.onerror = () => {
    source.close();
    setTimeout(() => location.reload(), 1000);
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("progress");
  if (box && box.dataset.live === "true") follow(box);
});
