"""ament_python setup for cherry_classifier (plain pip works too, for training-only use)."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "cherry_classifier"
HERE = Path(__file__).resolve().parent


def share_tree(folder: str) -> list[tuple[str, list[str]]]:
    """Install every file below `folder` to share/<package>/<folder>, keeping the tree."""
    entries: dict[str, list[str]] = {}
    for path in sorted((HERE / folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(HERE)
            entries.setdefault(str(Path("share", PACKAGE, relative.parent)), []).append(
                str(relative)
            )
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "cherry_dev", "cherry_dev.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share_tree("launch"),
        *share_tree("config"),
        *share_tree("models"),
        *share_tree("training"),
        *share_tree("data"),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="cherry_classifier maintainers",
    maintainer_email="maintainers@cherry-classifier.dev",
    description="Cherry pit detector: camera topics in, clean/maybe/pit decisions out.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "classifier_node = cherry_classifier.node.main:main",
            "managed_classifier_node = cherry_classifier.node.main:managed_main",
            "cherry-synth = cherry_classifier.evaluation.synthetic:main",
            "cherry-train = cherry_classifier.training.train:main",
            "cherry-compare = cherry_classifier.training.compare:main",
            "cherry-bag-make = cherry_classifier.bags.make_bag:main",
            "cherry-eval = cherry_classifier.bags.evaluate:main",
            "cherry-replay = cherry_classifier.live.replay:main",
            "cherry-model = cherry_classifier.model_cli:main",
            "recorder_node = cherry_classifier.live.recorder:main",
        ],
    },
)
