"""Checks run on any page: axe-core's serious and critical findings, and
layout (no sideways scrolling, no button cut off)."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

_AXE = Axe()

# A box cut by the viewport or by an ancestor that clips (overflow other than
# visible), or a button whose own text does not fit. Calendar events are
# boxes sized by time: their text may end in an ellipsis by design (the full
# text is their accessible name and in their details).
_LAYOUT = """() => {
  const doc = document.documentElement;
  const out = {overflow: doc.scrollWidth - doc.clientWidth, clipped: []};
  const controls = document.querySelectorAll(
    'button, a[href], [role=button], [role=switch], [role=tab], input, select, textarea');
  for (const el of controls) {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden') continue;
    if (el.closest('[aria-hidden=true]') || el.id === 'token') continue;
    let why = '';
    if (r.left < -0.5 || r.right > doc.clientWidth + 0.5) why = 'viewport';
    for (let p = el.parentElement; p && !why && p !== doc; p = p.parentElement) {
      const ps = getComputedStyle(p);
      if ((ps.overflowX + ps.overflowY).replace(/visible/g, '') === '') continue;
      const pr = p.getBoundingClientRect();
      if (r.left < pr.left - 0.5 || r.right > pr.right + 0.5 ||
          r.top < pr.top - 0.5 || r.bottom > pr.bottom + 0.5) why = p.className || p.tagName;
    }
    if (!why && el.tagName === 'BUTTON' && !el.classList.contains('cal-event') &&
        el.scrollWidth > el.clientWidth + 1) why = 'its own text';
    if (why) out.clipped.push(
      ((el.getAttribute('aria-label') || el.innerText || el.id || el.tagName)
        .trim().slice(0, 50)) + ' cut by ' + String(why).slice(0, 60));
  }
  return out;
}"""


def settled(page) -> None:
    """Until no animation runs (a dialog fading in would read as low contrast)."""
    page.wait_for_function(
        "document.getAnimations().every(a => a.playState !== 'running')"
    )


def axe_serious(page) -> list[str]:
    """axe-core violations of impact serious or critical, one line each."""
    settled(page)
    results = _AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(n["target"][0] for n in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def layout_problems(page) -> list[str]:
    settled(page)
    found = page.evaluate(_LAYOUT)
    problems = list(found["clipped"])
    if found["overflow"] > 0:
        problems.append(f"page scrolls sideways by {found['overflow']}px")
    return problems
