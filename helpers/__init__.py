"""UCF-101 action recognition: data, models, training, fusion, metrics and the report.

The notebooks and the CLI (`python -m helpers ...`) call the same functions from here.
"""

__version__ = "0.1.0"
