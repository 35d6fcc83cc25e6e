"""Download and cache the CSQA data set, in the style of scikit-learn's fetchers."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CSQA_REMOTE", "RemoteFile", "fetch_csqa", "get_data_home"]


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file.

    Parameters
    ----------
    filename : str
        Name of the file in the cache.
    url : str
        Where to download it from.
    sha256 : str or None
        Expected SHA-256 hex digest; None when not recorded (then nothing is
        verified unless the caller passes one).
    """

    filename: str
    url: str
    sha256: str | None = None


#: CSQA's files on Zenodo: the dialogs (record 3268649) and the Wikidata JSON
#: dictionaries (record 4052427). Checksums are not recorded here yet (None):
#: pass ``checksums={filename: sha256}`` to :func:`fetch_csqa` to verify them.
CSQA_REMOTE: dict[str, tuple[RemoteFile, ...]] = {
    "dialogs": (RemoteFile("CSQA_v9.zip", "https://zenodo.org/records/3268649/files/CSQA_v9.zip"),),
    "wikidata": (
        RemoteFile(
            "wikidata_proc_json.zip",
            "https://zenodo.org/records/4052427/files/wikidata_proc_json.zip",
        ),
    ),
}


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Folder of the data cache, created if needed.

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        The folder. By default the ``SKTHEORY_DATA`` environment variable, or
        ``~/sktheory_data``.

    Returns
    -------
    pathlib.Path
        The (existing) folder.

    Examples
    --------
    >>> import tempfile
    >>> from sktheory.logical_form import get_data_home
    >>> with tempfile.TemporaryDirectory() as d:
    ...     get_data_home(d).is_dir()
    True
    """
    if data_home is None:
        data_home = os.environ.get("SKTHEORY_DATA", Path("~") / "sktheory_data")
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_csqa(
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    *,
    parts: tuple[str, ...] = ("dialogs", "wikidata"),
    checksums: Mapping[str, str] | None = None,
    urls: Mapping[str, str] | None = None,
    opener: Callable | None = None,
) -> dict[str, Path]:
    """Download (once) and cache CSQA's archives; return their local paths.

    Files are downloaded into ``<data_home>/csqa/`` under a temporary name and
    renamed once complete (and verified), so an interrupted download is never
    taken for a cached file. A file already in the cache is not downloaded
    again (its checksum is verified when one is known).

    Parameters
    ----------
    data_home : str or os.PathLike, optional
        Cache folder (see :func:`get_data_home`).
    download_if_missing : bool, default=True
        If False, raise instead of downloading a missing file.
    parts : tuple of str, default=("dialogs", "wikidata")
        Which of :data:`CSQA_REMOTE` to fetch.
    checksums : mapping of str to str, optional
        SHA-256 digests by file name; they override those of
        :data:`CSQA_REMOTE`.
    urls : mapping of str to str, optional
        Download addresses by file name (a mirror, or a ``file://`` URL);
        they override those of :data:`CSQA_REMOTE`.
    opener : callable, optional
        ``opener(url)`` returning a binary file-like object;
        :func:`urllib.request.urlopen` by default.

    Returns
    -------
    dict of str to pathlib.Path
        File name -> path of the cached archive (unpack it with
        :func:`shutil.unpack_archive`; read the dialogs with
        :func:`read_csqa` and the graph with
        :meth:`KnowledgeGraph.from_csqa_folder`).

    Raises
    ------
    ValueError
        If ``parts`` names an unknown part, or a file's SHA-256 differs from
        the expected one (the bad file is deleted).
    OSError
        If a file is missing and ``download_if_missing`` is False.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from sktheory.logical_form import fetch_csqa
    >>> with tempfile.TemporaryDirectory() as d:
    ...     src = pathlib.Path(d, "src.zip")
    ...     _ = src.write_bytes(b"data")
    ...     paths = fetch_csqa(d, parts=("dialogs",), urls={"CSQA_v9.zip": src.as_uri()})
    ...     paths["CSQA_v9.zip"].read_bytes()
    b'data'
    """
    unknown = set(parts) - set(CSQA_REMOTE)
    if unknown:
        raise ValueError(f"unknown CSQA parts {sorted(unknown)}; choose from {sorted(CSQA_REMOTE)}")
    checksums = dict(checksums or {})
    urls = dict(urls or {})
    folder = get_data_home(data_home) / "csqa"
    folder.mkdir(parents=True, exist_ok=True)
    open_url = opener or urllib.request.urlopen
    out: dict[str, Path] = {}
    for part in parts:
        for remote in CSQA_REMOTE[part]:
            path = folder / remote.filename
            expected = checksums.get(remote.filename, remote.sha256)
            if not path.exists():
                if not download_if_missing:
                    raise OSError(f"{path} is not in the cache and download_if_missing is False")
                url = urls.get(remote.filename, remote.url)
                partial = path.with_name(path.name + ".part")
                with open_url(url) as response, open(partial, "wb") as f:
                    shutil.copyfileobj(response, f, 1 << 20)
                _verify(partial, expected, url)
                partial.replace(path)
            else:
                _verify(path, expected, str(path))
            out[remote.filename] = path
    return out


def _verify(path: Path, expected: str | None, source: str) -> None:
    if expected is None:
        return
    got = _sha256(path)
    if got != expected.lower():
        path.unlink()
        raise ValueError(
            f"checksum mismatch for {source}: SHA-256 {got}, expected {expected}; "
            f"the file was deleted, fetch again or check the source"
        )
