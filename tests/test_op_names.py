"""No pass, printer or backend compares op names: what it needs to know of an op is in the op table.

The op table (`ebmc/ir/ops.py`) and the numpy lowerings (`backends/numpy/lowerings.py`, keyed by
op name) are where op names live; rewrite rules name ops in their patterns, which are data
(`pattern("neg", ...)`), not comparisons.
"""

from __future__ import annotations

import re
from pathlib import Path

import ebmc

ROOT = Path(ebmc.__file__).parent
ALLOWED = {ROOT / "ir" / "ops.py", ROOT / "backends" / "numpy" / "lowerings.py"}

# d["op"] == ..., op == "neg", b.op(x) == ..., op in ("add", "sub"), op.startswith(...), and the negations
COMPARISONS = re.compile(
    r"""\["op"\]\s*(==|!=|\bin\b|\bnot\s+in\b)"""
    r"""|\bop\s*(==|!=)\s*["']"""
    r"""|["']\s*(==|!=)\s*\w*\bop\b"""
    r"""|\.op\([^)]*\)\s*(==|!=|\bin\b|\bnot\s+in\b)"""
    r"""|\bop\s+(not\s+)?in\s+[(\[{]"""
    r"""|\bop\.(startswith|endswith)\("""
)


def comparisons(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if COMPARISONS.search(line)]


def test_the_pattern_finds_comparisons():
    for line in (
        'if d["op"] == "var":',
        'if b.op(y) == "neg":',
        'elif op in ("add", "sub"):',
        'if op == "tensordot" and len(hot) == 2:',
        'if self.g.nodes[n]["op"] not in LEAVES:',
        'if op.startswith("batch"):',
    ):
        assert comparisons(line), line
    for line in ('pattern("neg", X)', 'b.add("neg", x)', "if entry.leaf:", 'getattr(self, f"_print_{op}")'):
        assert not comparisons(line), line


def test_no_module_outside_the_op_table_and_the_lowerings_compares_op_names():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path in ALLOWED:
            continue
        found += [f"{path.relative_to(ROOT)}: {line}" for line in comparisons(path.read_text())]
    assert not found, "\n".join(found)
