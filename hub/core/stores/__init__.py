"""Store adapters: the embedded SQLite file (`sqlite.py`) and MongoDB (`mongo.py`), each behind
`fronted.py` (users cached, usage buffered). `hub/bootstrap.py` picks one from the settings."""
