"""The client-go equivalent: what every controller, the scheduler and the kubelet build on.

Reflectors list and watch through ``navarch.client`` into indexed caches shared per process
(``SharedInformerFactory``); event handlers only turn objects into keys for a ``WorkQueue``; a
controller's ``sync(key)`` reads listers, acts through the client and raises to be retried with
backoff. Expectations, controller references, leader election and the event recorder complete the
toolkit. Time comes from an injected ``Clock`` so tests run on fake time.

May import ``navarch.api`` and ``navarch.client``; never a component, never ``navarch.storage``.
"""
