// Progressive enhancement only: every page works without this file. Adds "Copy" and "Print" buttons
// next to the receipt code; the code itself stays selectable text.
(function () {
  "use strict";
  var slot = document.querySelector("[data-copy-target]");
  if (!slot) { return; }
  var target = document.getElementById(slot.getAttribute("data-copy-target"));
  function button(label, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    slot.appendChild(b);
    return b;
  }
  if (navigator.clipboard && target) {
    var copy = button(slot.getAttribute("data-copy-label"), function () {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        copy.textContent = slot.getAttribute("data-copied-label");
      });
    });
  }
  button(slot.getAttribute("data-print-label"), function () { window.print(); });
})();
