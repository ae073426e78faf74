"""Every sentence of the report whose content depends on the run: its data, configs and
computed numbers. The fixed prose lives in the notebooks' markdown cells; the numbers come
from `helpers.evaluation.results`; the tables are in `helpers.reporting.tables`.

One module per job: `english` (lists, points, verdicts), `method_text` (the method section),
`answers` (the handout's questions 1, 2 and 4, the fusion result and the conclusion),
`motion_text` (question 3: the temporal probes and the 3D - 2D gain) and `head_text` (the
temporal head). `from helpers.reporting.prose import X` reaches every public name below.
"""

from helpers.reporting.prose.answers import (
    best_worst,
    ci_clusters,
    combining,
    conclusion,
    confusions,
    fusion_result,
    noise_rule,
    render_claims,
)
from helpers.reporting.prose.english import (
    MODEL_LABEL,
    NO_CONFUSIONS,
    below_top,
    gain_numbers,
    held_groups,
    mutual_pairs,
    name_list,
    ranked_ahead,
    scored,
    tie,
    verdict,
)
from helpers.reporting.prose.head_text import (
    NG_2015,
    NO_HEAD,
    head_guard,
    head_order,
    head_pairs,
    head_result,
)
from helpers.reporting.prose.method_text import intro, method_facts, provenance
from helpers.reporting.prose.motion_text import NO_PROBES, SOLVED, spatial_temporal

__all__ = [
    "MODEL_LABEL", "NG_2015", "NO_CONFUSIONS", "NO_HEAD", "NO_PROBES", "SOLVED", "below_top",
    "best_worst", "ci_clusters", "combining", "conclusion", "confusions", "fusion_result",
    "gain_numbers", "head_guard", "head_order", "head_pairs", "head_result", "held_groups",
    "intro", "method_facts", "mutual_pairs", "name_list", "noise_rule", "provenance",
    "ranked_ahead", "render_claims", "scored", "spatial_temporal", "tie", "verdict",
]
