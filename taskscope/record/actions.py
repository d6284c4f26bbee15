"""The envelope of an action's rows: the keys of their ``extra`` that the actions table
(``store.actions``) reads and the writers (``capture.actions``, remote task actions) write.
"""

from __future__ import annotations

#: The keys of an action row's ``extra`` (its envelope): what the actions table reads.
STATUS, PARENT, FIELDS, RESULT, ERROR, DURATION = (
    "action_status", "action_parent", "fields", "result", "error", "duration",
)
#: How every action row's ``extra`` begins (the writer puts ``action_status`` first): a
#: row of source ``action`` without it (say, a remote row cut to pieces) is left alone.
EVENT_MARK = f'{{"{STATUS}": '
