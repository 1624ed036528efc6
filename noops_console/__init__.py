"""The noops web console: task pages and a JSON API over the deploy history, on Django (ASGI, served by uvicorn).

The deploy history is read and changed only through the history store's own code
(``plugins/plugin_utils/history/store.py``); the console's Django database holds only its users, sessions,
API tokens and audit log. Views stay thin over the functions in ``history.py`` and ``accounts.py``.
"""

import noops_cli  # noqa: F401  (puts the collection on sys.path, so ansible_collections.noops.platform imports)
