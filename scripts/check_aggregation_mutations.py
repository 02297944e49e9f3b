"""Each aggregation and naming rule is pinned by a test: break one rule at a time (in a copy of src),
run tests/test_aggregation.py, and list the tests that fail; a rule whose breaking fails no test is
reported as NONE.

    python scripts/check_aggregation_mutations.py ["rule name" ...]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MUTATIONS = {
 "same_as identity off": ("civic_ner/figures.py", "            if r.label == \"same_as\":\n                self._union(r.source, r.target)", "            pass"),
 "equal-value identity off": ("civic_ner/figures.py", "return self.identity(i) == self.identity(j) or (self.value[i] is not None and self.value[i] == self.value[j])", "return self.identity(i) == self.identity(j)"),
 "parts dropped everywhere (old rule)": ("civic_ner/figures.py", "return [n for n in numbers if not any(self.same(w, k) for w in self.wholes(n) for k in numbers if k != n)]", "return [n for n in numbers if not self.wholes(n)]"),
 "parts never left out": ("civic_ner/figures.py", "return [n for n in numbers if not any(self.same(w, k) for w in self.wholes(n) for k in numbers if k != n)]", "return list(numbers)"),
 "rates added": ("civic_ner/figures.py", "    before = text[max(0, span.start - 16) : span.start]\n", "    return False\n"),
 "rate cue crosses a figure": ("civic_ner/figures.py", "[^，。；,;、：:\\n\\d]{0,8}$", "[^，。；,;、：:\\n]{0,8}$"),
 "hedge outside span ignored": ("civic_ner/figures.py", "return value.approximate or hedged(self.text, span)", "return value.approximate"),
 "parenthetical detail added": ("civic_ner/figures.py", "out.append((j, i))", "pass"),
 "parenthetical of another unit": ("civic_ner/figures.py", "if self.spans[j].label == span.label and self._same_unit(i, j):", "if self.spans[j].label == span.label:"),
 "exact mention not preferred": ("civic_ner/figures.py", "elif self.approximate(kept[same]) and not self.approximate(n):", "elif False:"),
 "organizations by surface": ("civic_ner/aggregation.py", "out[k] = ((\"organization\", _org_key(orgs[name], source)), orgs[name].name)", "out[k] = ((\"organization\", name), name)"),
 "placeless names merged across documents": ("civic_ner/aggregation.py", "return f\"{org.name} @ {source}\" if org.local else org.name", "return org.name"),
 "alias table off": ("civic_ner/names.py", "    for short, full in ALIASES:\n        if body.endswith(short)", "    for short, full in ():\n        if body.endswith(short)"),
 "abbreviation within document off": ("civic_ner/names.py", "        if len(longer) == 1:", "        if False:"),
 "document place off": ("civic_ner/names.py", "    places = document_places(surfaces)", "    places = {}"),
}
only = sys.argv[1:]
for name, (path, old, new) in MUTATIONS.items():
    if only and name not in only:
        continue
    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(SRC, tmp / "src")
    f = tmp / "src" / path
    text = f.read_text()
    assert text.count(old) == 1, (name, text.count(old))
    f.write_text(text.replace(old, new))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf",
                        "--hypothesis-seed=0", str(ROOT / "tests" / "test_aggregation.py")],
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(tmp / "src")},
                       capture_output=True, text=True)
    failed = sorted({m.split("::")[1].split(" ")[0] for m in re.findall(r"FAILED (\S+)", r.stdout)})
    print(f"{name}: {len(failed)} failing -> {', '.join(failed) or 'NONE'}".encode().decode("unicode_escape"), flush=True)
    shutil.rmtree(tmp)
