"""UCF-101 action recognition: data, models, training, evaluation, the report.

The notebooks and the CLI (`python -m helpers <command>`) call the same functions. One
concern per subpackage:

- `helpers.data`: split files, download, video sources, the frame store, which frames a
  model reads (`sampling`), transforms, datasets; `helpers.data.synthetic`, the benchmark.
- `helpers.models`: the 2D and 3D ResNets, their checkpoint formats, fine-tuning.
- `helpers.training`: the trainer and the run folder it writes.
- `helpers.evaluation`: predictions files, metrics, statistics, fusion, temporal probes.
- `helpers.reporting`: the report's tables, prose, figures and PDF.
- `helpers.workflow`: the resumable pipeline, the `report` command, forecasts, the turn-in zip.
- `helpers.tools`: throughput benchmarks and the GPU node check.
- `helpers.utils`: atomic files, progress bars, devices, distributed training, argument types.

At the top level: `cli` (the commands), `config` (typed recipes and profiles), `paths`
(where files live), `errors` (the one exception shown to users as a sentence).
"""

__version__ = "0.1.0"
