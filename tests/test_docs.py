"""The documentation stays true to the code.

- docs/configuration.md documents every field of every config dataclass, the registered ones
  included, with its real default, and no field that does not exist (a section may cover the
  fields it inherits unchanged by saying "every key of `Base`");
- every ```python block of a docs page runs (one fresh interpreter per page, in a temporary
  working directory holding a link to configs/), which covers the registry example of api.md;
- every ```yaml block is a valid config;
- every `$ vaekit ...` line of a ```console block that is followed by `vaekit: error: ...` gives
  exactly that error and exit code 2;
- every name in `vaekit.__all__` is documented in api.md, and every relative link resolves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import vaekit
from vaekit import cli
from vaekit.config import Config, DataConfig, EvalConfig, ObjectiveConfig, TrainConfig, parse_config
from vaekit.registry import LIKELIHOODS, MODELS, NETWORKS, PRIORS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATED = {"benchmarks.md"}  # written by bench/*.py
PAGES = sorted(p for p in DOCS.glob("*.md") if p.name not in GENERATED)
CONFIG_PAGE = DOCS / "configuration.md"


def code_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the fenced ```lang blocks of a Markdown text."""
    return re.findall(rf"^```{lang}[ \t]*\n(.*?)^```[ \t]*$", text, flags=re.M | re.S)


def link_configs(cwd: Path) -> None:
    (cwd / "configs").symlink_to(ROOT / "configs")


# ----------------------------------------------------------------------------- configuration.md


def config_classes() -> list[type]:
    """Every config dataclass a user can write: the fixed sections and each registered component's."""
    registered = [r.config_class(n) for r in (MODELS, NETWORKS, LIKELIHOODS, PRIORS) for n in r.names()]
    return [Config, DataConfig, ObjectiveConfig, TrainConfig, EvalConfig, *(c for c in registered if c is not None)]


def section(text: str, cls: type) -> str:
    """The part of the page under the one heading that names `cls` in backticks."""
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("#") and f"`{cls.__name__}`" in ln]
    assert len(starts) == 1, f"{CONFIG_PAGE.name} needs exactly one heading naming `{cls.__name__}`, found {len(starts)}"
    body = []
    for ln in lines[starts[0] + 1 :]:
        if ln.startswith("#"):
            break
        body.append(ln)
    return "\n".join(body)


def table_rows(text: str) -> dict[str, list[str]]:
    """key -> cells of the table rows that start with a `key` cell (escaped \\| stays in a cell)."""
    rows = {}
    for ln in text.splitlines():
        if ln.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", ln.strip().strip("|"))]
            rows[cells[0].strip("`")] = cells
    return rows


def shown(value) -> str | None:
    """How the page writes a default, as in config.yaml; None where the page gives prose."""
    if dataclasses.is_dataclass(value):
        return value.name if hasattr(type(value), "registry") else None  # a polymorphic section: its name
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)


def test_the_config_classes_include_the_registered_ones():
    names = {c.__name__ for c in config_classes()}
    assert {"MLPConfig", "ConvConfig", "BernoulliConfig", "GaussianConfig", "StandardNormalConfig", "VAEConfig"} <= names


def inherited(cls: type, text: str) -> set[str]:
    """Fields a section covers by saying "every key of `Base`": those of a base class of `cls`
    whose default `cls` keeps (a changed default needs its own row)."""
    named = set(re.findall(r"every\s+key\s+of\s+`(\w+)`", text, flags=re.I))
    defaults = cls()
    return {
        f.name
        for base in cls.__mro__[1:]
        if base.__name__ in named and dataclasses.is_dataclass(base)
        for f in dataclasses.fields(base)
        if f.init and getattr(defaults, f.name) == getattr(base(), f.name)
    }


@pytest.mark.parametrize("cls", config_classes(), ids=lambda c: c.__name__)
def test_configuration_page_documents_every_field_with_its_default(cls):
    text = section(CONFIG_PAGE.read_text(), cls)
    rows = table_rows(text)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    covered = set(rows) | inherited(cls, text)
    assert covered == set(fields) and set(rows) <= set(fields), (
        f"{cls.__name__}: undocumented {sorted(set(fields) - covered)}, documented but gone {sorted(set(rows) - set(fields))}"
    )
    defaults = cls()
    for name, cells in rows.items():
        assert len(cells) == 4, f"{cls.__name__}.{name}: a row needs key, type, default and meaning: {cells}"
        want = shown(getattr(defaults, name))
        if want is not None:
            assert cells[2].strip("`") == want, f"{cls.__name__}.{name}: the page says {cells[2]}, the code {want}"


# ----------------------------------------------------------------------------- runnable examples


@pytest.mark.parametrize("page", [p for p in PAGES if code_blocks(p.read_text(), "python")], ids=lambda p: p.name)
def test_python_examples_run(page, tmp_path):
    link_configs(tmp_path)
    code = "\n\n".join(code_blocks(page.read_text(), "python"))
    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"an example of {page.name} failed:\n{proc.stdout}\n{proc.stderr}"


def test_api_page_writes_a_new_family_in_under_40_lines():
    """The family of the contract's example (docs/architecture.md): its config and class, from the
    config's decorator to the end of the class, fit in under 40 lines; test_python_examples_run
    trains it."""
    block = next(b for b in code_blocks((DOCS / "api.md").read_text(), "python") if "MODELS.register(" in b)
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("@dataclass"))
    end = next(i for i, line in enumerate(lines) if line.startswith("config = "))
    family = [line for line in lines[start:end] if line.strip()]
    assert "def forward(self, batch) -> Terms:" in block and len(family) < 40, len(family)


def test_api_page_registers_and_trains_a_custom_component():
    code = "\n".join(code_blocks((DOCS / "api.md").read_text(), "python"))
    assert "LIKELIHOODS.register(" in code and "vaekit.train(" in code


@pytest.mark.parametrize("page", [*PAGES, ROOT / "README.md"], ids=lambda p: p.name)
def test_yaml_examples_are_valid_configs(page):
    for block in code_blocks(page.read_text(), "yaml"):
        parse_config(yaml.safe_load(block))


def error_examples() -> list:
    """(command, expected stderr line) for each documented `vaekit: error:` transcript."""
    found = []
    for page in PAGES:
        for block in code_blocks(page.read_text(), "console"):
            lines = block.splitlines()
            for cmd, out in zip(lines, lines[1:]):
                if cmd.startswith("$ vaekit ") and out.startswith("vaekit: error: "):
                    found.append(pytest.param(cmd[2:], out, id=f"{page.name}: {cmd[2:]}"))
    return found


@pytest.mark.parametrize("command, expected", error_examples())
def test_documented_errors_are_the_real_ones(command, expected, tmp_path, monkeypatch):
    link_configs(tmp_path)
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(shlex.split(command)[1:])
    assert code == 2
    assert err.getvalue().strip().splitlines()[-1] == expected


def test_every_public_name_is_in_the_api_page():
    text = (DOCS / "api.md").read_text()
    missing = [name for name in vaekit.__all__ if f"`{name}" not in text]
    assert not missing, f"api.md does not document {missing}"


# ----------------------------------------------------------------------------- links


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of a page."""
    out = set()
    for ln in page.read_text().splitlines():
        if ln.startswith("#"):
            title = ln.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


@pytest.mark.parametrize("page", [*PAGES, ROOT / "README.md"], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name} links to missing {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page.name} links to missing anchor {target}"
