"""The documentation stays true to the repository: links resolve, nothing points outside it, and
every management command and every environment setting is documented somewhere."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) and ![alt](target); the target ends at the first space or closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _text(path: Path) -> str:
    # Code blocks are examples (URLs of a made-up portal, shell lines), not links.
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} +(.+?)\s*$", _text(path), re.M)}


def _links() -> list[tuple[Path, str]]:
    return [(doc, m.group(1)) for doc in DOCS for m in LINK.finditer(_text(doc))]


def test_the_readme_is_one_screen_and_docs_has_one_file_per_audience() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 160
    for name in ["operating", "operators-guide", "integrations", "schema", "performance", "development", "security"]:
        assert (ROOT / "docs" / f"{name}.md").is_file(), name
    assert "docs/img/" in readme and any((ROOT / "docs" / "img").glob("*.png"))


def test_there_are_links_to_check() -> None:
    # Guards the regex: a pattern that matched nothing would make the next test pass vacuously.
    assert len(_links()) > 20


@pytest.mark.parametrize("doc,target", _links(), ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else v)
def test_every_relative_link_resolves_inside_the_repository(doc: Path, target: str) -> None:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
        assert not re.search(r"github\.com/.*/shared/", target), "links to the team's shared files are not ours to give"
        return
    file_part, _, anchor = target.partition("#")
    resolved = (doc.parent / file_part).resolve() if file_part else doc
    assert resolved.is_relative_to(ROOT), f"{target} leaves the repository"
    assert resolved.exists(), f"{target} in {doc.name}: no such file"
    if anchor and resolved.suffix == ".md":
        assert anchor in _anchors(resolved), f"{target} in {doc.name}: no heading #{anchor} in {resolved.name}"


def test_nothing_points_at_the_shared_folder_outside_the_repository() -> None:
    for doc in DOCS:
        assert "../shared" not in doc.read_text(encoding="utf-8"), doc.name


def _all_docs_text() -> str:
    return "\n".join(doc.read_text(encoding="utf-8") for doc in DOCS)


def _management_commands() -> list[str]:
    folder = ROOT / "monitoring" / "management" / "commands"
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("command", _management_commands())
def test_every_management_command_is_documented(command: str) -> None:
    text = _all_docs_text()
    assert re.search(rf"(?:manage|`) ?{re.escape(command)}\b", text), f"{command} is not documented in README.md or docs/"


def _settings_read_from_the_environment() -> list[str]:
    """Every environment variable settings.py reads: os.environ.get / os.getenv / os.environ[...]
    and the env_* helpers, each with a literal name as first argument."""
    tree = ast.parse((ROOT / "leadsync_portal" / "settings.py").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = ast.unparse(node.func)
            if func in {"os.environ.get", "os.getenv", "os.environ.setdefault"} or re.fullmatch(r"env_\w+", func):
                names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
    return sorted(names)


def test_settings_are_found() -> None:
    found = _settings_read_from_the_environment()
    assert {"DATABASE_URL", "SECRET_KEY", "SELECTOR_SNAPSHOT_TTL", "METRICS_ALLOWED_IPS"} <= set(found)


@pytest.mark.parametrize("name", _settings_read_from_the_environment())
def test_every_setting_read_in_settings_py_is_documented(name: str) -> None:
    assert f"`{name}`" in _all_docs_text(), f"{name} is read in settings.py but not documented in README.md or docs/"


def test_the_lead_admin_search_help_names_every_field_the_search_reads(admin_client) -> None:
    """The search matches the last error too (get_search_results); the help under the box said
    only name, e-mail and company, so operators never tried an error text."""
    response = admin_client.get("/admin/monitoring/lead/")
    assert response.status_code == 200
    help_text = response.context["cl"].search_help_text
    for field in ["name", "e-mail", "company", "last error", "Twenty id", "lead id"]:
        assert field in help_text, field
    assert "last error" in response.content.decode()


def test_no_file_holds_merge_conflict_markers():
    """docs/development.md carried a merge's <<<<<<< / ======= / >>>>>>> lines for a stop, and
    every docs test still passed."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    marked = []
    for name in tracked:
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".gz", ".xlsx"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        marked += [f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1)
                   if re.match(r"(<{7}|>{7}) \S|={7}$", line)]
    assert marked == []
