"""Presentation layer of haowurank (service, dashboard): imports the library, holds no ranking logic.

Not installed by pip; run from the repository root, e.g. ``python -m apps.service``.
"""
