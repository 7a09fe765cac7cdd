"""The files of ``janitor plan --out``: which form each gets, and their texts from one evaluation.

``.json`` is the saved plan ``janitor apply`` reads; ``.md`` the Markdown a person reviews.
Written together, the Markdown names the JSON file and the sha256 of its bytes, so an approval
names the very file that is applied (the run applying it records that hash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from janitor.errors import UsageError
from janitor.plans.markdown import render_markdown
from janitor.plans.saved import content_hash, parse_plan_document

Form = Literal["json", "markdown"]
_SUFFIXES: dict[str, Form] = {".json": "json", ".md": "markdown", ".markdown": "markdown"}


def output_forms(
    outs: tuple[Path, ...], out_format: str | None, policies: int
) -> list[tuple[Path, Form]]:
    """Each ``--out`` file with its form: ``--format``, else by extension (``-``: Markdown)."""
    if out_format is not None and len(outs) > 1:
        raise UsageError("--format applies to one --out file; with several, each extension says")
    forms: list[tuple[Path, Form]] = []
    for path in outs:
        form: Form | None
        if out_format in ("json", "markdown"):
            form = out_format  # type: ignore[assignment]
        elif str(path) == "-":
            form = "markdown"
        else:
            form = _SUFFIXES.get(path.suffix.lower())
        if form is None:
            raise UsageError(
                f"--out {path}: name it .json or .md, or say the form with --format json|markdown"
            )
        forms.append((path, form))
    if policies != 1 and any(form == "json" for _, form in forms):
        raise UsageError(
            f"a saved plan (.json) holds one policy, and {policies} are selected: "
            "name one with --policy NAME"
        )
    return forms


def render_outputs(
    documents: list[str], targets: list[tuple[Path, Form]]
) -> tuple[list[tuple[Path, str]], str | None]:
    """(path, text) for each target, and the hash of the JSON form when one is written.
    ``documents``: the saved-plan JSON of each policy (one when a JSON form is asked for)."""
    json_name: str | None = None
    plan_hash: str | None = None
    outputs: list[tuple[Path, str]] = []
    for path, form in targets:
        if form == "json":
            outputs.append((path, documents[0]))
            json_name = path.name if str(path) != "-" else None
            plan_hash = content_hash(documents[0].encode("utf-8"))
    if any(form == "markdown" for _, form in targets):
        markdown = "\n".join(
            render_markdown(parse_plan_document(doc), json_file=json_name, plan_hash=plan_hash)
            for doc in documents
        )
        outputs += [(path, markdown) for path, form in targets if form == "markdown"]
    return outputs, plan_hash
