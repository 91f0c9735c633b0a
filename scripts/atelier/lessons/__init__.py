"""A lesson as data, offline: module folders, the semester pin, the node list, lint, UI-to-API conversion,
the new-module wizard.
"""
