"""The controller manager's control loops, one module per controller (STYLE.md examples 1-3).

Each controller is a ``QueueController`` subclass: informer handlers turn objects into keys, workers
drain a work queue and call ``sync(key)``, which rebuilds the truth from listers, acts through the API
and raises to be retried with backoff. ``manager.py`` runs the enabled ones under leader election.
"""
