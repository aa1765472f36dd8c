"""Pure data, no I/O: the resource registry, schemas, validation, defaulting, selectors and Status errors.

Everything above this layer (storage, apiserver, clients, components) may import it; it imports
nothing of navarch's except itself.
"""
