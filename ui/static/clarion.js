// Progressive enhancement only: every page works without this file.
// "Copy" buttons next to code blocks (hidden until this script shows them).
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(source.innerText.trim());
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
});

// New campaign: show only the A/B weights of the chosen template (all of them without this script).
const templateSelect = document.querySelector("select[data-variants-for]");
if (templateSelect) {
  const showChosen = () => {
    let any = false;
    document.querySelectorAll(".variant-weights").forEach((fieldset) => {
      fieldset.hidden = fieldset.dataset.template !== templateSelect.value;
      any = any || !fieldset.hidden;
    });
    const winner = document.querySelector(".winner-test");
    if (winner) winner.hidden = !any;  // a winner test needs the template's variants
  };
  showChosen();
  templateSelect.addEventListener("change", showChosen);
}
