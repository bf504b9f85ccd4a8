// Harmful text stays hidden until the analyst presses it (click, Enter or Space). While hidden, its
// accessible name is a label ("hidden item, press to reveal"), never the text.
function toggleHarmful(el) {
  const hide = !el.classList.contains("blurred");
  el.classList.toggle("blurred", hide);
  el.setAttribute("aria-pressed", hide ? "false" : "true");
  const inner = el.querySelector(".reveal-text");
  if (inner) inner.setAttribute("aria-hidden", hide ? "true" : "false");
  if (hide) {
    el.setAttribute("aria-label", el.dataset.label || "hidden item, press to reveal");
  } else {
    el.dataset.label = el.getAttribute("aria-label") || "";
    el.removeAttribute("aria-label");
  }
}
document.addEventListener("click", (e) => {
  const el = e.target.closest(".harmful");
  if (el) toggleHarmful(el);
});
document.addEventListener("keydown", (e) => {
  const el = e.target;
  if ((e.key === "Enter" || e.key === " ") && el.classList && el.classList.contains("harmful")) {
    e.preventDefault();
    toggleHarmful(el);
  }
});
// A decision form is sent once: a second press while the first is on its way does nothing (the
// server also refuses a second use of the form's one-time token).
document.addEventListener("submit", (e) => {
  const form = e.target;
  if (!form.hasAttribute("data-once")) return;
  if (form.dataset.sent) {
    e.preventDefault();
    return;
  }
  form.dataset.sent = "1";
});
