"""Only the package list lives here; everything else is in pyproject.toml.

templates/ and static/ stay at the top of the repository and ship inside the package as
connect_app/templates and connect_app/static (the mapping is `package-dir` in pyproject.toml).
pyproject.toml cannot add packages to a `find`, and a hand-written list would go stale whenever a
subpackage is added, so the list is found here and the two mapped folders are appended.
"""

from setuptools import find_namespace_packages, setup

setup(packages=[*find_namespace_packages(include=["connect_app*"]), "connect_app.templates", "connect_app.static"])
