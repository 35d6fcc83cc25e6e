"""Sphinx configuration of the sktheory documentation.

``make docs`` builds it with warnings as errors. The gallery runs the scripts in
``examples/`` at the size chosen by ``SKTHEORY_DOCS_SIZE`` (``smoke``, the
default, or ``full``); the API pages are generated from each module's
``__all__`` (see :func:`_write_api_index`), so a new public name gets a page
without editing this folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _api import write_api_index  # noqa: E402

import sktheory  # noqa: E402

project = "sktheory"
author = "sktheory developers"
copyright = "sktheory developers"
release = sktheory.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
root_doc = "index"
# Single backticks are literals, as in numpydoc docstrings (`n_features_in_`).
default_role = "literal"
# sphinx_gallery_conf holds functions, so Sphinx cannot pickle it to decide on
# incremental rebuilds; it rebuilds everything instead, which is what we want.
suppress_warnings = ["config.cache"]

# --- API reference -------------------------------------------------------------
write_api_index(HERE / "api.rst")
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Document a class's own and sktheory-inherited members only.

    Methods inherited from scikit-learn (``get_params``, ``set_*_request``,
    ``set_output``) and torch (``nn.Module``) are documented there, and their
    docstrings refer to labels of those projects' sites.
    """
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.split(".")[0] in {"sklearn", "torch", "builtins"}:
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)


# --- intersphinx, offline-safe -------------------------------------------------
# Sphinx reports an unreachable inventory with an untyped warning that
# ``suppress_warnings`` cannot silence, which ``-W`` would turn into a failed
# build on a machine without network. So each project is configured only when
# its inventory can be had: a cached copy in ``docs/_intersphinx/<name>.inv``
# (drop one there to build offline with links), or, only when
# ``SKTHEORY_DOCS_ONLINE=1`` asks for it, its host answering within two
# seconds. Otherwise the references render as plain text: by default the build
# makes no network connection at all (CI machines reach package registries
# only).
_INTERSPHINX = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
}


def _reachable(url: str) -> bool:
    if not os.environ.get("SKTHEORY_DOCS_ONLINE"):
        return False
    try:
        with socket.create_connection((urlparse(url).hostname, 443), timeout=2):
            return True
    except OSError:
        return False


intersphinx_mapping = {}
for _name, _url in _INTERSPHINX.items():
    _cached = HERE / "_intersphinx" / f"{_name}.inv"
    if _cached.is_file():
        intersphinx_mapping[_name] = (_url, str(_cached))
    elif _reachable(_url):
        intersphinx_mapping[_name] = (_url, None)
if len(intersphinx_mapping) < len(_INTERSPHINX):
    print(
        "intersphinx: no inventory for "
        + ", ".join(sorted(set(_INTERSPHINX) - set(intersphinx_mapping)))
        + " (offline; SKTHEORY_DOCS_ONLINE=1 fetches them); their references"
        + " render as plain text"
    )
intersphinx_timeout = 5

# --- gallery -------------------------------------------------------------------
# Each example keeps its command line (``--smoke``, ``--output DIR``); the
# gallery passes those arguments and collects the PNG files the script wrote,
# so the scripts need no gallery-specific code.
DOCS_SIZE = os.environ.get("SKTHEORY_DOCS_SIZE", "smoke")
if DOCS_SIZE not in {"smoke", "full"}:
    raise ValueError(f"SKTHEORY_DOCS_SIZE must be 'smoke' or 'full', got {DOCS_SIZE!r}")
GALLERY_OUTPUT = HERE / "_build" / "gallery_output"
shutil.rmtree(GALLERY_OUTPUT, ignore_errors=True)

# sphinx-gallery wants a header file in the examples folder; rather than add a
# docs-only file there, the gallery reads a folder of links to the scripts.
GALLERY_SRC = HERE / "_build" / "gallery_src"
GALLERY_HEADER = """\
Gallery
=======

One script per paper, each reproducing the paper's central figure at CPU
size. Every script also runs from the command line:
``python examples/plot_<paper>.py [--smoke] [--output DIR]``.

This site runs them at the size set by ``SKTHEORY_DOCS_SIZE`` when it is
built: ``smoke`` (the default; seconds per script, small problems, noisy
curves) or ``full`` (the figures committed in ``examples/figures/``, minutes).
"""
shutil.rmtree(GALLERY_SRC, ignore_errors=True)
GALLERY_SRC.mkdir(parents=True)
(GALLERY_SRC / "GALLERY_HEADER.rst").write_text(GALLERY_HEADER)
for _script in sorted((ROOT / "examples").glob("plot_*.py")):
    (GALLERY_SRC / _script.name).symlink_to(_script)


def _example_argv(gallery_conf, script_vars):
    out = GALLERY_OUTPUT / Path(script_vars["src_file"]).stem
    return ["--output", str(out)] + (["--smoke"] if DOCS_SIZE == "smoke" else [])


class _WrittenFigures:
    """Image scraper: the PNG files an example wrote to its ``--output`` folder."""

    def __init__(self):
        self.seen = set()

    def __repr__(self):  # sphinx-gallery hashes the configuration by repr
        return "_WrittenFigures()"

    def __call__(self, block, block_vars, gallery_conf):
        from sphinx_gallery.scrapers import figure_rst

        folder = GALLERY_OUTPUT / Path(block_vars["src_file"]).stem
        new = sorted(p for p in folder.glob("*.png") if p not in self.seen)
        targets = []
        for png, target in zip(new, block_vars["image_path_iterator"], strict=False):
            shutil.copyfile(png, target)
            self.seen.add(png)
            targets.append(target)
        return figure_rst(targets, gallery_conf["src_dir"])


sphinx_gallery_conf = {
    "examples_dirs": str(GALLERY_SRC),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "reset_argv": _example_argv,
    # Only the written files: the scripts save then close their figures.
    "image_scrapers": (_WrittenFigures(),),
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "show_memory": False,
    "plot_gallery": "True",
}

# --- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sktheory {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False
