"""Column widths for a table that must fit a terminal: shrink what can shrink, never split a token.

Pure: the renderers (findings, explain, report, check-onprem) give each column its natural width (the
longest cell) and the narrowest it may get; long values are then ellipsised (``…``), never folded
mid-word ("UserPrincipal/Name"), and the full value stays in ``--format json``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ellipsis", "fit_table", "fit_widths"]


def ellipsis(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one ``…`` when anything was cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def fit_widths(natural: Sequence[int], minimum: Sequence[int], budget: int) -> list[int] | None:
    """Widths that sum to at most ``budget``: natural when they fit, else the shrinkable columns (natural above
    minimum) give up space in proportion to what they can give. None when even the minimums do not fit
    (the caller drops a column)."""
    nat = [max(0, n) for n in natural]
    low = [min(max(0, m), n) for m, n in zip(minimum, nat)]
    if sum(nat) <= budget:
        return nat
    if sum(low) > budget:
        return None
    spare = [n - m for n, m in zip(nat, low)]
    excess = sum(nat) - budget
    give = sum(spare)
    widths = [n - (s * excess) // give for n, s in zip(nat, spare)]
    over = sum(widths) - budget
    for i in sorted(range(len(widths)), key=lambda i: -(widths[i] - low[i])):  # rounding: the widest first
        if over <= 0:
            break
        take = min(over, widths[i] - low[i])
        widths[i] -= take
        over -= take
    return widths


def fit_table(headers: Sequence[str], rows: Sequence[Sequence[str]], minimum: Sequence[int], width: int, *,
              drop_order: Sequence[int] = (), per_column: int = 3, fixed: int = 1
              ) -> tuple[list[int], list[int], list[list[str]]]:
    """(columns kept, their widths, rows of kept cells ellipsised line by line) for a table ``width`` wide.

    ``minimum[i]``: the narrowest column ``i`` may get (its natural width when it must never shrink);
    ``drop_order``: columns left out, in this order, when even the minimums do not fit; ``per_column`` and
    ``fixed``: what borders and padding take (a rich box table: 3 per column + 1).
    """
    keep = list(range(len(headers)))
    natural = [max([len(headers[i])] + [len(line) for r in rows for line in str(r[i]).split("\n")])
               for i in range(len(headers))]
    drops = [d for d in drop_order if d < len(headers)]
    while True:
        widths = fit_widths([natural[i] for i in keep], [max(minimum[i], len(headers[i]) if minimum[i] else 0)
                                                        for i in keep], width - fixed - per_column * len(keep))
        if widths is not None or not drops:
            break
        keep.remove(drops.pop(0))
    if widths is None:  # nothing left to drop: the minimums, wider than the terminal
        widths = [minimum[i] or natural[i] for i in keep]
    cut = [["\n".join(ellipsis(line, w) for line in str(r[i]).split("\n")) for i, w in zip(keep, widths)]
           for r in rows]
    return keep, widths, cut
