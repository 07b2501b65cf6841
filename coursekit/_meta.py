"""Project metadata shared by the package, the notebooks and the tests."""

#: GitHub ``owner/name`` of the course repository (badges and the Colab install).
REPO = "coursekit-dl/intro-deep-learning"
#: Branch or tag that the Colab badges and the Colab install point at.
REF = "main"

COLAB_BADGE_IMG = "https://colab.research.google.com/assets/colab-badge.svg"


def colab_url(path: str) -> str:
    """Return the Colab URL that opens the repository file ``path`` (e.g. ``notebooks/01_x.ipynb``)."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{REF}/{path}"


def pip_spec() -> str:
    """Return the pip requirement that installs coursekit from the repository (used on Colab)."""
    return f"coursekit @ git+https://github.com/{REPO}.git@{REF}"
