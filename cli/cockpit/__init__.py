"""The operator's web cockpit and controls (see ``cli/cockpit/app.py`` and ``controls.py``)."""
