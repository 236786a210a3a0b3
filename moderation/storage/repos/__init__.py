"""One repository per kind of record, all sharing the unit of work (``storage.core``)."""
