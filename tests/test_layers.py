"""vaekit's layering: no import goes in a circle, and every import points down the table `ALLOWED`.

Imports are read from the source (AST), inside functions too: an import deferred into a function
still ties the two modules together, and a cycle hidden that way breaks as soon as the function's
module is imported first.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vaekit"

# What each part of vaekit may import. A part is a top-level module or subpackage of vaekit
# ("data" is vaekit/data/, "config" is vaekit/config.py; "vaekit" is the package's __init__.py,
# "__main__" its __main__.py). Imports within a part are free (the cycle test still covers them).
# Lowest first; a part imports only parts listed before it.

# The foundation: utilities, run files and the config sections; any layer above may use them.
FOUNDATION_TABLE: dict[str, set[str]] = {
    "errors": set(),  # the typed one-line errors
    "version": set(),
    "checks": {"errors"},  # one check per kind of number
    "yamlio": {"errors"},
    "registry": {"errors"},  # name -> class; imports no component, the components register themselves
    "seeding": {"errors", "checks"},
    "contract": {"errors"},  # what a model family is (Batch, Traits, Terms), for every layer above
    "ranges": {"errors", "checks"},
    "overrides": {"errors", "yamlio"},
    "files": {"errors", "yamlio"},  # run-directory I/O: atomic writes, JSON, text, appends
    "hub_fetch": {"errors"},  # hf://USER/REPO names, downloads from the Hugging Face Hub (load_run)
    "weights": {"errors", "files"},  # safetensors weights
    "sections": {"errors", "checks", "ranges", "registry"},  # config section classes components subclass
}
FOUNDATION = set(FOUNDATION_TABLE)

# The components register themselves when imported; none of them parses a config or knows a run.
COMPONENT_TABLE: dict[str, set[str]] = {
    "data": FOUNDATION,
    "nn": FOUNDATION,
    "distributions": FOUNDATION,
    "objectives": FOUNDATION | {"distributions"},
    "models": FOUNDATION | {"nn", "distributions", "objectives"},
    "components": {"data", "nn", "distributions", "models"},  # imports every built-in, so all are registered
    "config": FOUNDATION | {"components"},  # parsing picks section classes by registered name
}
COMPONENTS = FOUNDATION | set(COMPONENT_TABLE)

# What is done with models, each layer on those before it; the commands and the package on top.
WORK_TABLE: dict[str, set[str]] = {
    "run": COMPONENTS,  # the run directory and load_run
    "sample": COMPONENTS | {"run"},
    "evaluate": COMPONENTS | {"run", "sample"},
    "report": COMPONENTS | {"run", "sample", "evaluate"},
    "train": COMPONENTS | {"run", "sample", "evaluate", "report"},
    "leaderboard": COMPONENTS | {"run", "sample", "evaluate", "report", "train"},  # and the one-class protocol
    "hub_card": COMPONENTS | {"run", "sample"},  # the model card of a pushed run
    "hub": COMPONENTS | {"run", "sample", "hub_card"},  # vaekit push
    "export": COMPONENTS | {"run"},  # a run's encoder and decoder as ONNX or TorchScript files
    "explore": COMPONENTS | {"run", "sample", "evaluate", "report"},  # vaekit explore: the page and its JSON API
}
LIBRARY = COMPONENTS | set(WORK_TABLE)
TOP_TABLE: dict[str, set[str]] = {
    "text_commands": LIBRARY,  # what the commands do on a text run
    "commands": LIBRARY | {"text_commands"},
    "cli": LIBRARY | {"commands"},
    "__main__": {"cli"},
    "vaekit": LIBRARY,  # the public API; nothing inside vaekit imports it
}

ALLOWED: dict[str, set[str]] = {**FOUNDATION_TABLE, **COMPONENT_TABLE, **WORK_TABLE, **TOP_TABLE}


# ----------------------------------------------------------------------------- reading the imports


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted (a name imported from a module counts as the module)
    file: str  # the importing file, from the package's parent: 'vaekit/sample/ops.py'
    line: int

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def modules(package: Path) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its __init__.py)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(package: Path) -> list[Import]:
    """Every import of one module of the package by another, at any depth of the code."""
    known = modules(package)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    out = []
    for source, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package the module is in
                    anchor = source.split(".")[: len(source.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import name`: the submodule pkg.name where there is one, else pkg itself
                targets = [resolve(f"{base}.{a.name}") if f"{base}.{a.name}" in known else resolve(base)
                           for a in node.names]
            file = path.relative_to(package.parent).as_posix()
            out += [Import(source, t, file, node.lineno) for t in targets if t is not None and t != source]
    return list(dict.fromkeys(out))  # `from m import a, b` is one import of m


def graph(package: Path) -> dict[str, dict[str, Import]]:
    """source -> {target: the import}. Importing a.b.c runs a and a.b first, so it depends on them
    too, unless the importer is inside them (their __init__ is then already running)."""
    known = modules(package)
    edges: dict[str, dict[str, Import]] = defaultdict(dict)
    for imp in imports(package):
        parts = imp.target.split(".")
        for i in range(1, len(parts) + 1):
            target = ".".join(parts[:i])
            inside = imp.source == target or imp.source.startswith(target + ".")
            if target in known and (i == len(parts) or not inside):
                edges[imp.source].setdefault(target, imp)
    return edges


def cycles(package: Path) -> list[list[Import]]:
    """One import cycle per strongly connected group of modules, each as its chain of imports."""
    edges = graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(modules(package)):
        if v not in index:
            visit(v)
    return [_shortest_cycle(edges, set(g), g[0]) for g in groups]


def _shortest_cycle(edges: dict[str, dict[str, Import]], group: set[str], start: str) -> list[Import]:
    """The shortest chain of imports from `start` back to itself, within `group` (breadth first)."""
    came: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w, imp in sorted(edges.get(v, {}).items()):
                if w not in group or w in came:
                    continue
                came[w] = imp
                if w == start:
                    chain = [imp]
                    while chain[0].source != start:
                        chain.insert(0, came[chain[0].source])
                    return chain
                following.append(w)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group always has one


def part(module: str) -> str:
    """The part of the table a module belongs to: 'vaekit.data.load' -> 'data'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def upward_imports(package: Path, allowed: dict[str, set[str]]) -> list[str]:
    """One line per import the table does not allow, naming the file, the target and the rule."""
    problems = []
    for imp in imports(package):
        source, target = part(imp.source), part(imp.target)
        if source == target or source not in allowed or target in allowed.get(source, set()):
            continue
        problems.append(f"{imp.where()} imports {imp.target}, but {source} may not import {target}; move the code "
                        f"down a layer or the import up one (the layers: ALLOWED in tests/test_layers.py)")
    return problems


def show(chain: list[Import]) -> str:
    return " -> ".join([chain[0].source, *(f"{imp.target} ({imp.where()})" for imp in chain)])


# ----------------------------------------------------------------------------- vaekit itself


def test_no_module_of_vaekit_imports_in_a_circle():
    found = cycles(PACKAGE)
    assert not found, "import cycles in vaekit/:\n" + "\n".join(show(c) for c in found)


def test_every_import_points_down_the_layers():
    problems = upward_imports(PACKAGE, ALLOWED)
    assert not problems, "imports the layer table (ALLOWED in tests/test_layers.py) forbids:\n" + "\n".join(problems)


def test_every_part_of_vaekit_has_a_place_in_the_table():
    parts = {part(m) for m in modules(PACKAGE)}
    missing = sorted(parts - set(ALLOWED))
    assert not missing, (f"{', '.join(missing)} not in the layer table; add each to ALLOWED in tests/test_layers.py, "
                         "at the layer of what it imports")


def test_the_table_is_a_layering():
    """Each part may import only parts listed before it, so the table itself has no circle."""
    order = list(ALLOWED)
    for i, (name, may) in enumerate(ALLOWED.items()):
        later = sorted(may - set(order[:i]))
        assert not later, f"{name} may import {', '.join(later)}, listed after it (or not at all)"


def test_the_registry_holds_every_built_in_without_importing_one():
    """The registry is below the components; vaekit.config, which every import of vaekit runs,
    imports them all (through vaekit.components), so lookups by name find every built-in."""
    from vaekit import components, config
    from vaekit.registry import DATASETS, LIKELIHOODS, MODELS, NETWORKS, PRIORS, SAMPLERS

    assert "vaekit.components" in {i.target for i in imports(PACKAGE) if i.source == config.__name__}
    assert {part(i.target) for i in imports(PACKAGE) if i.source == components.__name__} == {
        "data", "distributions", "models", "nn"}
    assert {"vae", "iwae", "vqvae", "cvae", "ladder"} <= set(MODELS.names())
    assert {"bernoulli", "gaussian"} <= set(LIKELIHOODS.names()) and "standard_normal" in PRIORS
    assert {"mlp", "conv"} <= set(NETWORKS.names()) and {"digits", "mnist"} <= set(DATASETS.names())
    assert set(SAMPLERS.names()) == {"prior", "gmm"}


# ----------------------------------------------------------------------------- the checks can fail


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    package = write_package(tmp_path, {
        "__init__.py": "",
        "low.py": "def f():\n    from pkg.high import g\n",
        "high.py": "from pkg import low\n",
        "side.py": "from pkg.low import f\n",
    })
    (chain,) = cycles(package)
    assert {imp.source for imp in chain} == {"pkg.low", "pkg.high"}
    assert "pkg.high (pkg/low.py:2)" in show(chain)


def test_a_cycle_through_a_package_init_is_found(tmp_path):
    """pkg.other imports only the leaf pkg.sub.b, but that runs pkg/sub/__init__.py first, which
    imports pkg.other back."""
    package = write_package(tmp_path, {
        "__init__.py": "",
        "sub/__init__.py": "",
        "sub/b.py": "x = 1\n",
        "other.py": "from pkg.sub.b import x\n",
    })
    assert cycles(package) == []
    (package / "sub" / "__init__.py").write_text("from pkg.other import x\n")
    (chain,) = cycles(package)
    assert {imp.source for imp in chain} == {"pkg.sub", "pkg.other"}


def test_importing_the_top_package_from_inside_is_a_cycle(tmp_path):
    package = write_package(tmp_path, {"__init__.py": "from pkg.a import f\n__version__ = '1'\n",
                                       "a.py": "def f():\n    from pkg import __version__\n"})
    (chain,) = cycles(package)
    assert {imp.source for imp in chain} == {"pkg", "pkg.a"}


def test_an_upward_import_names_the_file_and_the_forbidden_target(tmp_path):
    package = write_package(tmp_path, {
        "__init__.py": "",
        "low.py": "import os\n",
        "mid/__init__.py": "from pkg import low\n",
        "mid/deep.py": "def f():\n    from pkg.high.top import g\n",
        "high/__init__.py": "",
        "high/top.py": "from pkg.mid.deep import f\n",
    })
    table = {"low": set(), "mid": {"low"}, "high": {"low", "mid"}}
    (problem,) = upward_imports(package, table)
    assert problem.startswith("pkg/mid/deep.py:2 imports pkg.high.top, but mid may not import high;")
