"""Make `lamina` importable for doctests run from the repository root
(`pytest --doctest-modules lamina`)."""

import lamina  # noqa: F401
