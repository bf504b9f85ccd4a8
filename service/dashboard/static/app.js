// Harmful text stays blurred until the analyst clicks it (or presses Enter on it).
document.addEventListener("click", (e) => {
  const el = e.target.closest(".harmful");
  if (el) el.classList.toggle("blurred");
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && e.target.classList && e.target.classList.contains("harmful")) {
    e.target.classList.toggle("blurred");
  }
});
