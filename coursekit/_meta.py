"""Project metadata shared by the package, the notebooks and the tests."""

#: GitHub ``owner/name`` of the course repository (badges and the Colab install).
REPO = "coursekit-dl/intro-deep-learning"
#: The release, set here only: ``pyproject.toml`` and ``coursekit.__version__`` must agree
#: (tests/test_packaging.py checks it).
VERSION = "0.2.0"
#: The git tag that the Colab badges and the Colab install point at. A release pushes
#: this tag, so that a notebook opened from a badge installs the coursekit it was written for.
REF = f"v{VERSION}"

COLAB_BADGE_IMG = "https://colab.research.google.com/assets/colab-badge.svg"


def colab_url(path: str) -> str:
    """Return the Colab URL that opens the repository file ``path`` (e.g. ``notebooks/01_x.ipynb``)."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{REF}/{path}"


def pip_spec() -> str:
    """Return the pip requirement that installs coursekit from the repository (used on Colab)."""
    return f"coursekit @ git+https://github.com/{REPO}.git@{REF}"


def colab_install_line() -> str:
    """Return the notebooks' Colab install line: never touches a preinstalled package."""
    return f'%pip install -q --no-deps "{pip_spec()}"'
