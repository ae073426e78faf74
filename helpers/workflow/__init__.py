"""The workflow: resumable pipeline steps, the report command, forecasts, the turn-in zip."""
