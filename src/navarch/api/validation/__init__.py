"""Validation of API objects: structural (schema-driven, what upstream's JSON decoder rejects or drops)
and semantic (upstream's per-kind rules, answered as 422 Invalid with field causes).

Pure functions over JSON-shaped dicts; imports only ``navarch.api``.
"""
